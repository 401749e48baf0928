"""``tinyrl report``, thin over :func:`tinyrl.report.html.write_report` (imports only typer until it runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tinyrl.cli_options import EnvOption


def report_command(
    policy_dir: Annotated[
        Path,
        typer.Option(
            "--policy", help="Policy folder with teacher.npz / student.keras / policy_int8.tflite and manifest.json."
        ),
    ] = Path("policies/obstacle-course"),
    env: EnvOption = "obstacle-course",
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML page to write.")] = Path("report.html"),
    episodes: Annotated[int, typer.Option(min=1, help="Episodes per policy (unseen courses).")] = 100,
    seed: Annotated[int, typer.Option(help="Base seed; episode j uses seed + j.")] = 0,
    trajectories: Annotated[int, typer.Option(min=0, help="Trajectories drawn per policy.")] = 8,
    export_report: Annotated[
        Path | None,
        typer.Option(help="A `tinyrl export` report.json (default: the policy folder's report.json if present)."),
    ] = None,
) -> None:
    """Evaluate teacher, float student and int8 on the same unseen courses; write one self-contained HTML page."""
    from tinyrl.report.html import write_report

    path = write_report(policy_dir, output, env, episodes, seed, trajectories, export_report)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
