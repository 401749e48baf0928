"""Obstacle courses as data: the JSON schema, loading with one-line errors, and exact saving.

A course file holds one course or ``{"courses": [...]}``::

    {"arena": {"x": [-3, 3], "y": [-2, 2], "z": [0, 2.5]},
     "start": {"xyz": [-2.5, 0, 1], "yaw_rad": 0},
     "goal": {"xyz": [2.5, 0, 1], "radius_m": 0.3},
     "obstacles": [{"type": "cylinder", "xyz": [0, 0.5, 1], "radius_m": 0.2, "height_m": 2},
                   {"type": "box", "xyz": [1, -1, 0.5], "half_extents_m": [0.3, 0.1, 0.5], "yaw_rad": 0.4}],
     "light": {"xyz": [2.5, 0, 1], "intensity": 1}}

Conventions (all SI, world frame, z up, floor at z = 0):

- Every obstacle's ``xyz`` is its geometric centre. A cylinder stands upright (axis along world z) and spans
  ``z - height_m / 2`` to ``z + height_m / 2``; a pillar on the floor therefore has ``z = height_m / 2``.
  One rule for every shape, and it is what PyBullet's ``basePosition`` means too.
- A box is yawed about world z by ``yaw_rad``; ``half_extents_m`` are along its own axes before the yaw.
- The arena is where the drone may fly (the task ends an episode outside it). It is not geometry: only the
  floor and the obstacles block rays and collide. Build walls or a ceiling from boxes if a course needs them (the
  generator's ``arena_walls`` builds the four walls).
- ``light`` is only used by source seeking; its ``intensity`` is in arbitrary units at 1 m.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pydantic
import pydantic_core
import yaml

from tinyrl.config import StrictModel, read_data_file, validate
from tinyrl.errors import ConfigError
from tinyrl.io import atomic_write_text

#: Limits of a course, far beyond any indoor flight, that keep a hostile file from allocating or looping forever:
#: every coordinate within ±MAX_COORDINATE_M, every size up to MAX_SIZE_M, at most MAX_OBSTACLES obstacles.
MAX_COORDINATE_M = 1000.0
MAX_SIZE_M = 100.0
MAX_OBSTACLES = 5000

# strict: "1.0" is a typo in a course file, not a number; ints are still accepted as floats.
Finite = Annotated[float, pydantic.Field(strict=True, allow_inf_nan=False, ge=-MAX_COORDINATE_M, le=MAX_COORDINATE_M)]
Positive = Annotated[float, pydantic.Field(strict=True, allow_inf_nan=False, gt=0, le=MAX_SIZE_M)]
Angle = Annotated[float, pydantic.Field(strict=True, allow_inf_nan=False)]
Vec3 = tuple[Finite, Finite, Finite]
Interval = tuple[Finite, Finite]

OBSTACLE_TYPES = ("cylinder", "box")


def _check_interval(value: Interval) -> Interval:
    if not value[0] < value[1]:
        raise pydantic_core.PydanticCustomError(
            "interval", "min {lo} must be less than max {hi}", {"lo": value[0], "hi": value[1]}
        )
    if value[1] - value[0] > MAX_SIZE_M:
        raise pydantic_core.PydanticCustomError(
            "interval", "spans {size} m, over the {limit} m limit", {"size": value[1] - value[0], "limit": MAX_SIZE_M}
        )
    return value


OrderedInterval = Annotated[Interval, pydantic.AfterValidator(_check_interval)]


class Arena(StrictModel):
    """Axis-aligned flight volume in metres: ``[min, max]`` per axis."""

    x: OrderedInterval
    y: OrderedInterval
    z: OrderedInterval

    def contains(self, xyz: Sequence[float]) -> bool:
        """Whether a point (m) lies inside the arena, borders included."""
        return all(lo <= v <= hi for v, (lo, hi) in zip(xyz, (self.x, self.y, self.z), strict=True))


class Start(StrictModel):
    """Where and how the drone starts: position (m) and heading (rad, about world z)."""

    xyz: Vec3
    yaw_rad: Angle = 0.0


class Goal(StrictModel):
    """The goal: a sphere of ``radius_m`` around ``xyz`` (m)."""

    xyz: Vec3
    radius_m: Positive


class Cylinder(StrictModel):
    """Upright cylinder; ``xyz`` is the centre of its body (not of its base)."""

    type: Literal["cylinder"] = "cylinder"
    xyz: Vec3
    radius_m: Positive
    height_m: Positive


class Box(StrictModel):
    """Box yawed about world z; ``xyz`` is its centre, ``half_extents_m`` along its own axes."""

    type: Literal["box"] = "box"
    xyz: Vec3
    half_extents_m: tuple[Positive, Positive, Positive]
    yaw_rad: Angle = 0.0


Obstacle = Annotated[Cylinder | Box, pydantic.Field(discriminator="type")]


class Light(StrictModel):
    """Point light for source seeking: position (m) and intensity (arbitrary units at 1 m)."""

    xyz: Vec3
    intensity: Annotated[float, pydantic.Field(strict=True, allow_inf_nan=False, gt=0)]


def _inside_arena(name: str, xyz: Vec3, info: pydantic.ValidationInfo) -> None:
    arena = info.data.get("arena")
    if arena is not None and not arena.contains(xyz):
        raise pydantic_core.PydanticCustomError(
            "outside_arena",
            "{name} xyz {xyz} is outside the arena x {x}, y {y}, z {z}",
            {"name": name, "xyz": list(xyz), "x": list(arena.x), "y": list(arena.y), "z": list(arena.z)},
        )


class Course(StrictModel):
    """One obstacle course (see the module docstring for the conventions)."""

    arena: Arena
    start: Start
    goal: Goal
    obstacles: list[Obstacle] = pydantic.Field(default_factory=list, max_length=MAX_OBSTACLES)
    light: Light | None = None

    # Field validators (not a model validator) so the error names ``start``/``goal`` instead of the course.
    @pydantic.field_validator("start", "goal")
    @classmethod
    def _inside(cls, value: Start | Goal, info: pydantic.ValidationInfo) -> Start | Goal:
        _inside_arena(str(info.field_name), value.xyz, info)
        return value

    @classmethod
    def from_dict(cls, data: Any, source: str = "<course>") -> Course:
        """Validate a parsed course; raises :class:`ConfigError` ``"source: field: problem"``."""
        return _validate(cls, data, source)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (lists, floats); ``from_dict(to_dict())`` gives an equal course."""
        return self.model_dump(mode="json", exclude_none=True)


class CourseSet(StrictModel):
    """Several courses in one file: ``{"courses": [...]}``."""

    courses: list[Course] = pydantic.Field(min_length=1)


def _validate(model: type[StrictModel], data: Any, source: str) -> Any:
    return validate(model, data, source, union_tags=OBSTACLE_TYPES)


def courses_from_data(data: Any, source: str = "<courses>") -> list[Course]:
    """Validate parsed file content: one course, or ``{"courses": [...]}``.

    Args:
        data: Parsed JSON/YAML content.
        source: Name for error messages (usually the path).

    Returns:
        The courses, in file order.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: <root>: expected an object (one course or {{'courses': [...]}})")
    if "courses" in data:
        return list(_validate(CourseSet, data, source).courses)
    return [_validate(Course, data, source)]


def load_courses(path: str | Path) -> list[Course]:
    """Read a course file (JSON, or YAML by suffix); malformed files raise one :class:`ConfigError`."""
    return courses_from_data(read_data_file(path), str(path))


def save_courses(path: str | Path, courses: Sequence[Course] | Course) -> None:
    """Write courses atomically as ``{"courses": [...]}`` (a single :class:`Course` is written bare).

    JSON floats are written with ``repr`` so loading gives back exactly the same numbers; a ``.yaml``/``.yml``
    suffix writes YAML instead.
    """
    path = Path(path)
    data = courses.to_dict() if isinstance(courses, Course) else {"courses": [c.to_dict() for c in courses]}
    if path.suffix.lower() in (".yaml", ".yml"):
        text = yaml.safe_dump(data, sort_keys=False)
    else:
        text = json.dumps(data, indent=2) + "\n"
    atomic_write_text(path, text)


def course_bounds(course: Course) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box (m) holding the arena and every obstacle: ``(lo (3,), hi (3,))``."""
    lo = np.array([course.arena.x[0], course.arena.y[0], min(course.arena.z[0], 0.0)])
    hi = np.array([course.arena.x[1], course.arena.y[1], course.arena.z[1]])
    for ob in course.obstacles:
        c = np.asarray(ob.xyz)
        if isinstance(ob, Cylinder):
            half = np.array([ob.radius_m, ob.radius_m, ob.height_m / 2])
        else:
            # A yawed box's footprint fits inside the circle through its corners.
            r = float(np.hypot(ob.half_extents_m[0], ob.half_extents_m[1]))
            half = np.array([r, r, ob.half_extents_m[2]])
        lo = np.minimum(lo, c - half)
        hi = np.maximum(hi, c + half)
    return lo, hi
