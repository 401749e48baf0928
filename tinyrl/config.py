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

#: Largest data file read (bytes): far above any scenario or course set, far below what takes minutes to parse.
MAX_DATA_FILE_BYTES = 16 * 2**20
#: Most YAML nodes a document may expand to once its aliases are resolved (a scenario has a few hundred, a
#: thousand-course file a few hundred thousand); nested aliases can otherwise turn a kilobyte into gigabytes.
MAX_YAML_NODES = 2_000_000


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


def _expanded_nodes(root: yaml.Node, limit: int) -> int:
    """Nodes of ``root`` with every alias expanded, counted without expanding (stops counting past ``limit``).

    Raises:
        ValueError: A recursive alias (a node that contains itself).
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            children = _children(node)
            sizes[key] = min(limit + 1, 1 + sum(sizes[id(c)] for c in children))
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise ValueError("a recursive alias (a node that contains itself)")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML safely: no Python objects, and no alias bombs (the expanded size is checked before building).

    Raises:
        ConfigError: Aliases that would expand past :data:`MAX_YAML_NODES` nodes, or a recursive alias.
        yaml.YAMLError: Bad syntax.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            n = _expanded_nodes(node, MAX_YAML_NODES)
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        if n > MAX_YAML_NODES:
            raise ConfigError(
                f"{source}: its aliases expand to more than {MAX_YAML_NODES:,} YAML nodes; refusing to build it"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_data_file(path: str | Path) -> Any:
    """Parse a YAML or JSON file (by suffix; YAML otherwise), with clear errors for missing or bad syntax.

    Files over :data:`MAX_DATA_FILE_BYTES` and YAML whose aliases expand past :data:`MAX_YAML_NODES` are refused
    before they are parsed or expanded.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_DATA_FILE_BYTES:
            raise ConfigError(
                f"{path}: {size / 2**20:.1f} MB is over the {MAX_DATA_FILE_BYTES // 2**20} MB limit for data files"
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return parse_yaml(text, str(path))
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
