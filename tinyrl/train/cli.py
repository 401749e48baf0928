"""``tinyrl train`` and ``tinyrl ship`` (and ``scripts/train.py``), thin over :mod:`tinyrl.train`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tinyrl.cli_options import EnvOption
from tinyrl.errors import Terminated

if TYPE_CHECKING:
    pass


def train_command(
    env: EnvOption = "obstacle-course",
    algo: Annotated[str | None, typer.Option(help="ppo, sac, td3 or dqn (default: the scenario's).")] = None,
    steps: Annotated[int | None, typer.Option(min=1, help="Env steps (default: the scenario's).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (default: the scenario's).")] = None,
    n_envs: Annotated[int | None, typer.Option("--n-envs", min=1, help="Drones simulated at once.")] = None,
    out: Annotated[Path, typer.Option(help="Runs folder.")] = Path("runs"),
    resume: Annotated[Path | None, typer.Option(help="Continue this run folder from its last checkpoint.")] = None,
    eval_episodes: Annotated[int, typer.Option(min=1, help="Final evaluation episodes (unseen courses).")] = 200,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Train a policy; writes runs/NAME/YYYYmmdd-HHMMSS/ (see tinyrl.train.run)."""
    from tinyrl.train.run import RunOptions
    from tinyrl.train.trainer import train

    options = RunOptions(
        env=env,
        algo=algo,
        steps=steps,
        seed=seed,
        n_envs=n_envs,
        out=out,
        resume=resume,
        final_eval_episodes=eval_episodes,
        progress=progress,
    )
    try:
        train(options)
    except KeyboardInterrupt as exc:
        sys.exit(143 if isinstance(exc, Terminated) else 130)


def ship_command(
    run_dir: Annotated[Path, typer.Argument(help="A finished run folder (runs/NAME/...).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Policy folder (default: policies/NAME).")
    ] = None,
) -> None:
    """Copy a run's best teacher into a policy folder and write its manifest.json."""
    from tinyrl.train.run import read_config
    from tinyrl.train.ship import ship

    dest = output or Path("policies") / read_config(run_dir).name
    ship(run_dir, dest)
    typer.echo(f"shipped {run_dir} → {dest}")
