"""``tinyrl sweep``, thin over :func:`tinyrl.scale.sweep.run_sweep` (imports only typer until it runs)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from tinyrl.cli_options import EnvOption
from tinyrl.errors import TinyRLError

BackendOption = Annotated[
    str,
    typer.Option(
        help="local: a Ray instance on this machine, started and stopped by the command; ray: join --address "
        "(or $RAY_ADDRESS; else start one here). The trials run on Ray either way."
    ),
]
AddressOption = Annotated[
    str | None, typer.Option(help="HOST:PORT of a running Ray cluster (`ray start --head`); implies --backend ray.")
]


def sweep_command(
    env: EnvOption = "obstacle-course",
    trials: Annotated[int, typer.Option(min=1, help="Trials to run (configs sampled by Optuna).")] = 8,
    space: Annotated[
        Path | None, typer.Option(help="Search space YAML (default: envs/sweeps/NAME.yaml, then default.yaml).")
    ] = None,
    backend: BackendOption = "local",
    address: AddressOption = None,
    max_concurrent: Annotated[
        int | None, typer.Option("--max-concurrent", min=1, help="Trials at once (default: one per CPU).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Sweeps folder.")] = Path("runs/sweeps"),
    resume: Annotated[Path | None, typer.Option(help="Continue this sweep folder (after Ctrl-C).")] = None,
    eval_episodes: Annotated[int, typer.Option(min=1, help="Final evaluation episodes per trial.")] = 200,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Sweep hyperparameters and seeds with Ray Tune; each trial is a tinyrl train run (see tinyrl.scale.sweep)."""
    from tinyrl.scale.cluster import resolve_address
    from tinyrl.scale.sweep import SweepOptions, run_sweep

    options = SweepOptions(
        env=env,
        trials=trials,
        space=space,
        address=resolve_address(backend, address),
        max_concurrent=max_concurrent,
        out=out,
        resume=resume,
        final_eval_episodes=eval_episodes,
        progress=progress,
    )
    result = run_sweep(options)
    if not result.complete:
        sys.exit(130)
    if result.recommended is None:
        errors = sorted({r["error"] for r in result.rows if r["error"]})
        raise TinyRLError(
            f"every trial of {result.sweep_dir} failed, so nothing is recommended (first error: "
            f"{errors[0] if errors else 'none recorded'}; each trial's in results.csv)"
        )
