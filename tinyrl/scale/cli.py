"""``tinyrl sweep``, thin over :func:`tinyrl.scale.sweep.run_sweep` (imports only typer until it runs)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from tinyrl.cli_options import EnvOption
from tinyrl.errors import ConfigError

Backend = Literal["local", "ray"]
BackendOption = Annotated[
    str,
    typer.Option(
        help="local: start a Ray instance on this machine and stop it after; ray: join the cluster at --address."
    ),
]
AddressOption = Annotated[
    str | None, typer.Option(help="HOST:PORT of a running Ray cluster (`ray start --head`); implies --backend ray.")
]


def resolve_address(backend: str, address: str | None) -> str | None:
    """``None`` for a local Ray instance, else the cluster address (``auto``: ``RAY_ADDRESS`` or this host's).

    Raises:
        ConfigError: Unknown backend.
    """
    if backend not in ("local", "ray"):
        raise ConfigError(f"--backend must be local or ray, got {backend!r}")
    if address is not None:
        return address
    return "auto" if backend == "ray" else None


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
