"""The ``tinyrl`` command line. Each command is a thin wrapper over a library function."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from tinyrl.errors import TinyRLError

app = typer.Typer(
    name="tinyrl",
    help="Reinforcement learning for nano drones: simulate, train, shrink, export to a Cortex-M4.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Reinforcement learning for nano drones: simulate, train, shrink, export to a Cortex-M4."""


@app.command()
def version() -> None:
    """Print the TinyRL version."""
    from tinyrl import __version__

    typer.echo(__version__)


def main() -> None:
    """Entry point of the ``tinyrl`` console script and of ``python -m tinyrl``."""
    try:
        app()
    except TinyRLError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
