"""Loading and validating configuration data (YAML/JSON) into typed models.

Every file a user hands us goes through :func:`validate`, so a bad field fails with one message that
names the file, the field and the problem, never with a traceback from deep inside the simulator.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from tinyrl.errors import ConfigError

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


class StrictModel(pydantic.BaseModel):
    """Base for configuration models: unknown keys are errors (a typo must not pass silently)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


def _field_path(loc: tuple[int | str, ...], union_tags: Collection[str] = ()) -> str:
    """Turn a pydantic location like ``("obstacles", 2, "radius_m")`` into ``obstacles[2].radius_m``.

    A discriminated union adds its tag right after the list index (``obstacles[2].cylinder.radius_m``); the
    user never wrote that, so tags named in ``union_tags`` are dropped in that position.
    """
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in union_tags and i > 0 and isinstance(loc[i - 1], int):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


def validate(model: type[ModelT], data: Any, source: str, union_tags: Collection[str] = ()) -> ModelT:
    """Validate ``data`` into ``model``, raising :class:`ConfigError` with a one-line reason.

    Args:
        model: The pydantic model class to build.
        data: Parsed YAML/JSON content.
        source: What the data came from (a path), used as the message prefix.
        union_tags: Discriminator values of tagged unions in ``model``, left out of field paths.

    Returns:
        The validated model instance.
    """
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = _field_path(tuple(first["loc"]), union_tags)
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise ConfigError(f"{source}: {where}: {first['msg']}{more}") from None


def read_data_file(path: str | Path) -> Any:
    """Parse a YAML or JSON file (by suffix; YAML otherwise), with clear errors for missing or bad syntax."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None


def load_model(model: type[ModelT], path: str | Path) -> ModelT:
    """Read a YAML/JSON file and validate it into ``model``."""
    return validate(model, read_data_file(path), str(path))
