"""Command-line options shared by several ``tinyrl`` commands, so they read and behave the same everywhere."""

from typing import Annotated

import typer

#: ``--env NAME``: a scenario, ``envs/NAME.yaml``, or a path to a YAML file.
EnvOption = Annotated[str, typer.Option(help="Scenario: envs/NAME.yaml, or a YAML path.")]
