"""Seeded obstacle-course generation, with a guaranteed collision-free path from start to goal.

A course comes from ``(config, difficulty, seed)`` alone, so any generated course can be regenerated, saved
and shared (see :mod:`tinyrl.sim.course` for the schema). Layout of a generated course:

- The arena is centred on the origin in x and y, floor at ``z = 0``; the drone flies along +x.
- The start sits ``start_margin_m`` from the -x end, the goal ``goal_margin_m`` from the +x end, both at
  ``flight_height_m`` with independent lateral (y) jitter. No obstacle comes within ``clear_zone_m`` of either.
- Walls run across the whole arena width (boxes), each with ``n_gaps`` gaps of ``gap_width_m`` at random
  positions; they are spread evenly between the start and goal zones.
- Pillars (upright cylinders) and yawed boxes are scattered at ``obstacle_density_per_m2``, all standing on
  the floor and reaching above the flight height, and kept off the walls so they cannot plug a gap.
- With ``arena_walls``, four more boxes of ``walls.thickness_m``, floor to arena top, enclose the arena: their
  inner faces lie on its edges (the arena keeps its size), and they close the corners. Range sensors see the
  room's edges, and the drone hits a wall where it would otherwise have left the arena.

Every course is checked with :func:`has_free_path`; a blocked draw is redrawn (``max_attempts``), and if all
draws fail the scattered obstacles nearest the start-goal line are removed until a path opens.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Annotated, Any

import numpy as np
import pydantic

from tinyrl.config import StrictModel
from tinyrl.errors import ConfigError
from tinyrl.sim import geometry
from tinyrl.sim.course import MAX_OBSTACLES, MAX_SIZE_M, Arena, Box, Course, Cylinder, Goal, Light, Start
from tinyrl.sim.params import DroneParams

PositiveFloat = pydantic.PositiveFloat
NonNegativeFloat = pydantic.NonNegativeFloat

# Generated numbers are rounded to this many decimals (0.1 mm, 0.1 mrad): files stay readable, and the
# path check runs on the rounded course, so rounding cannot break the guarantee.
_DECIMALS = 4


def _check_range(value: tuple[float, float]) -> tuple[float, float]:
    if value[0] > value[1]:
        raise ValueError(f"min {value[0]} must not exceed max {value[1]}")
    return value


Range = Annotated[tuple[NonNegativeFloat, NonNegativeFloat], pydantic.AfterValidator(_check_range)]
"""``(min, max)`` of a uniform draw; ``min == max`` fixes the value."""


class PillarConfig(StrictModel):
    """Upright cylinders standing on the floor."""

    weight: NonNegativeFloat = 1.0
    """Relative share of pillars among the scattered obstacles."""
    radius_m: Range = (0.05, 0.2)
    height_m: Range = (1.8, 2.5)


class BoxConfig(StrictModel):
    """Boxes standing on the floor, yawed uniformly about z."""

    weight: NonNegativeFloat = 1.0
    """Relative share of boxes among the scattered obstacles."""
    half_length_m: Range = (0.1, 0.4)
    half_width_m: Range = (0.05, 0.2)
    height_m: Range = (1.8, 2.5)


class WallConfig(StrictModel):
    """Walls across the arena (perpendicular to the start-goal axis), built from boxes, with gaps."""

    thickness_m: PositiveFloat = 0.1
    height_m: Range = (2.0, 2.5)
    keepout_m: NonNegativeFloat = 0.3
    """Free distance kept on each side of a wall (scattered obstacles stay out, so gaps stay open)."""


class DifficultyConfig(StrictModel):
    """What one named difficulty level sets."""

    arena_size_m: tuple[PositiveFloat, PositiveFloat, PositiveFloat]
    """Arena length along x (start to goal), width along y, height (m)."""
    obstacle_density_per_m2: NonNegativeFloat
    """Scattered obstacles (pillars and boxes) per m² of arena floor."""
    n_walls: pydantic.NonNegativeInt = 0
    gap_width_m: PositiveFloat = 0.8
    n_gaps: pydantic.PositiveInt = 1
    """Gaps per wall."""


#: Not a level name: ``tinyrl eval --difficulty mix`` means every level in turn.
MIX = "mix"

DEFAULT_DIFFICULTIES: dict[str, DifficultyConfig] = {
    "easy": DifficultyConfig(arena_size_m=(5.0, 3.0, 2.5), obstacle_density_per_m2=0.3, n_walls=0, gap_width_m=1.0),
    "medium": DifficultyConfig(arena_size_m=(6.0, 3.0, 2.5), obstacle_density_per_m2=0.6, n_walls=1, gap_width_m=0.8),
    "hard": DifficultyConfig(arena_size_m=(8.0, 4.0, 2.5), obstacle_density_per_m2=0.9, n_walls=2, gap_width_m=0.6),
}


class CourseGeneratorConfig(StrictModel):
    """Parameters of :func:`generate_course` (all lengths in m, angles in rad).

    Validated as the ``course_generator`` section of ``envs/NAME.yaml``; every field has a Crazyflie-scale
    default.
    """

    collision_radius_m: PositiveFloat = DroneParams().collision_radius_m
    """Drone radius used by the free-path check."""
    path_margin_m: NonNegativeFloat = 0.03
    """Extra clearance the free path must keep on top of the collision radius."""
    resolution_m: PositiveFloat = 0.05
    """Cell size of the free-path occupancy grid."""
    flight_height_m: PositiveFloat = 1.0
    """Height of start and goal."""
    start_margin_m: PositiveFloat = 0.5
    """Distance of the start from the -x end of the arena."""
    goal_margin_m: PositiveFloat = 0.5
    """Distance of the goal from the +x end of the arena."""
    lateral_jitter_m: NonNegativeFloat = 0.8
    """Start and goal y are drawn uniformly from ``±lateral_jitter_m`` (kept ``start_margin_m`` from the sides)."""
    start_yaw_jitter_rad: NonNegativeFloat = 0.0
    """Start yaw is drawn from ``±start_yaw_jitter_rad`` around +x."""
    goal_radius_m: PositiveFloat = 0.3
    clear_zone_m: NonNegativeFloat = 0.5
    """No obstacle surface comes closer than this to the start or the goal."""
    light: bool = False
    """Put a light at the goal (source seeking)."""
    light_intensity: PositiveFloat = 1.0
    pillars: PillarConfig = PillarConfig()
    boxes: BoxConfig = BoxConfig()
    walls: WallConfig = WallConfig()
    arena_walls: bool = False
    """Enclose the arena with four walls (a room) the range sensors see; see the module docstring. Needs
    ``start_margin_m``, ``goal_margin_m`` and half of every level's width to be at least ``clear_zone_m``."""
    max_attempts: pydantic.PositiveInt = 20
    """Draws per course before blocking obstacles are removed instead."""
    default_difficulty: str = "medium"
    difficulties: dict[str, DifficultyConfig] = pydantic.Field(default_factory=lambda: dict(DEFAULT_DIFFICULTIES))

    @pydantic.field_validator("difficulties")
    @classmethod
    def _check_difficulties(
        cls, value: dict[str, DifficultyConfig], info: pydantic.ValidationInfo
    ) -> dict[str, DifficultyConfig]:
        d = info.data
        if not value:
            raise ValueError("at least one difficulty is needed")
        if MIX in value:
            raise ValueError(f"{MIX!r} is reserved for a blend of the levels (tinyrl eval --difficulty {MIX})")
        if any(k not in d for k in ("collision_radius_m", "path_margin_m", "resolution_m", "walls")):
            return value  # an earlier field failed; that error is the one to report
        # A gap must leave at least one grid cell whose centre clears the inflated gap edges (see has_free_path).
        min_gap_m = 2 * (d["collision_radius_m"] + d["path_margin_m"] + d["resolution_m"]) + d["resolution_m"]
        for name, level in value.items():
            length_m, width_m, height_m = level.arena_size_m
            if max(level.arena_size_m) > MAX_SIZE_M:
                raise ValueError(f"{name}.arena_size_m {list(level.arena_size_m)}: each side at most {MAX_SIZE_M} m")
            n_obstacles = round(level.obstacle_density_per_m2 * length_m * width_m) + level.n_walls * (level.n_gaps + 1)
            n_obstacles += N_ARENA_WALLS if d.get("arena_walls", False) else 0
            if n_obstacles > MAX_OBSTACLES:
                raise ValueError(
                    f"{name}: {n_obstacles} obstacles per course (density x area + wall pieces + arena walls) is "
                    f"over the {MAX_OBSTACLES} a course may hold"
                )
            if level.gap_width_m < min_gap_m:
                raise ValueError(
                    f"{name}.gap_width_m {level.gap_width_m} is too narrow for the drone: need >= {min_gap_m:.3f}"
                )
            if level.n_walls and level.n_gaps * level.gap_width_m > width_m:
                raise ValueError(f"{name}: {level.n_gaps} gaps of {level.gap_width_m} m do not fit in {width_m} m")
            if d.get("flight_height_m", 0.0) >= height_m:
                raise ValueError(f"{name}.arena_size_m height {height_m} must exceed flight_height_m")
            span_m = length_m - d.get("start_margin_m", 0.0) - d.get("goal_margin_m", 0.0)
            walls_m = level.n_walls * (d["walls"].thickness_m + 2 * d["walls"].keepout_m)
            if span_m - 2 * d.get("clear_zone_m", 0.0) < walls_m or span_m <= 0:
                raise ValueError(
                    f"{name}.arena_size_m length {length_m} leaves no room for start, goal and {level.n_walls} wall(s)"
                )
        return value

    @pydantic.model_validator(mode="after")
    def _check_default(self) -> CourseGeneratorConfig:
        if self.default_difficulty not in self.difficulties:
            raise ValueError(
                f"default_difficulty {self.default_difficulty!r} is not one of {sorted(self.difficulties)}"
            )
        if self.arena_walls:
            # The start and goal keep start_margin_m / goal_margin_m from the arena's ends and at least
            # min(start_margin_m, half the width) from its sides: that is where the arena walls' faces are.
            ends = {"start_margin_m": self.start_margin_m, "goal_margin_m": self.goal_margin_m}
            ends.update({f"{k}.arena_size_m width / 2": v.arena_size_m[1] / 2 for k, v in self.difficulties.items()})
            for name, distance_m in ends.items():
                if distance_m < self.clear_zone_m:
                    raise ValueError(
                        f"arena_walls: {name} {distance_m} is less than clear_zone_m {self.clear_zone_m}, so the "
                        "walls would come too close to the start or goal"
                    )
        return self

    def level(self, difficulty: str | None) -> DifficultyConfig:
        """The named difficulty (``None``: ``default_difficulty``); unknown names raise :class:`ConfigError`."""
        name = self.default_difficulty if difficulty is None else difficulty
        if name not in self.difficulties:
            raise ConfigError(f"difficulty {name!r} is not one of {', '.join(sorted(self.difficulties))}")
        return self.difficulties[name]


# ----------------------------------------------------------------------------------------------------------
# Free-path check
# ----------------------------------------------------------------------------------------------------------


def _fill_runs(free: np.ndarray, reached: np.ndarray) -> np.ndarray:
    """Spread ``reached`` along each run of free cells in the rows of ``free`` (both ``(rows, cols)``)."""
    rows, cols = free.shape
    flat = free.ravel()
    # A run starts at a free cell whose left neighbour is blocked or outside the row.
    starts = flat.copy()
    starts[1:] &= ~flat[:-1]
    starts[::cols] = flat[::cols]
    run_id = np.cumsum(starts) - 1
    run_reached = np.zeros(int(run_id[-1]) + 1 if flat.any() else 0, dtype=bool)
    run_reached[run_id[reached.ravel() & flat]] = True
    return (flat & run_reached[np.maximum(run_id, 0)]).reshape(rows, cols)


def _connected(free: np.ndarray, a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether cells ``a`` and ``b`` of the bool grid ``free`` are joined by 4-connected free cells.

    Flood fill by whole runs: alternately spread the reached set along row runs and column runs. Each pass
    is a few vectorized operations, and the number of passes is the number of turns the path needs, not its
    length in cells (NumPy has no BFS, and a Python BFS over ~10^4 cells costs ~10 ms).
    """
    if not (free[a] and free[b]):
        return False
    free_t = np.ascontiguousarray(free.T)
    reached = np.zeros_like(free)
    reached[a] = True
    while True:
        grown = _fill_runs(free, reached)
        grown = _fill_runs(free_t, np.ascontiguousarray(grown.T)).T
        if grown[b]:
            return True
        if np.array_equal(grown, reached):
            return False
        reached = np.ascontiguousarray(grown)


def free_grid(
    course: Course,
    radius_m: float,
    margin_m: float = 0.0,
    resolution_m: float = 0.05,
    z_band_m: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Occupancy grid of the arena floor plan: which cells a drone can use at every height of a band.

    A cell is free when, at every sampled height of the band, the distance from its centre to the nearest
    obstacle is at least ``radius_m + margin_m + slack``. The slack is the farthest a point of a grid path
    (a hop to a neighbouring centre, or from start/goal to its cell's centre, at any height of the band) can
    be from a sample; clearance changes by at most as much as the point moves, so a grid path guarantees a
    continuous path that keeps ``radius_m + margin_m`` from every obstacle. The floor is not an obstacle.

    Args:
        course: Any course (generated or hand-made).
        radius_m: Drone collision radius (m).
        margin_m: Extra clearance (m).
        resolution_m: Largest cell size (m); cells shrink slightly so they tile the arena exactly.
        z_band_m: Heights (m) the drone may need; default from start height to goal height.

    Returns:
        ``(free, x_m, y_m)``: bool ``(nx, ny)`` grid (x index first) and the cell-centre coordinates
        ``(nx,)``, ``(ny,)``.
    """
    arena = course.arena
    nx = max(1, math.ceil((arena.x[1] - arena.x[0]) / resolution_m))
    ny = max(1, math.ceil((arena.y[1] - arena.y[0]) / resolution_m))
    cell_x, cell_y = (arena.x[1] - arena.x[0]) / nx, (arena.y[1] - arena.y[0]) / ny
    x_m = arena.x[0] + (np.arange(nx) + 0.5) * cell_x
    y_m = arena.y[0] + (np.arange(ny) + 0.5) * cell_y
    z_lo, z_hi = z_band_m if z_band_m is not None else sorted((course.start.xyz[2], course.goal.xyz[2]))
    n_z = 1 if z_hi <= z_lo else math.ceil((z_hi - z_lo) / resolution_m) + 1
    z_m = np.linspace(z_lo, z_hi, n_z)
    dz = (z_hi - z_lo) / (n_z - 1) if n_z > 1 else 0.0
    # Farthest a path point gets from its nearest sample: half a cell diagonal across, half a level up or down.
    slack_m = math.sqrt((cell_x / 2) ** 2 + (cell_y / 2) ** 2 + (dz / 2) ** 2)
    reach_m = radius_m + margin_m + slack_m
    # Only cells near an obstacle can be blocked, so each obstacle is tested against the cells of its own
    # footprint box grown by reach_m (~30x fewer cell-obstacle pairs than the whole grid against every
    # obstacle). geometry.clearance measures a point against one slot's obstacles: slot k holds the k-th
    # cylinder and the k-th box, and each cell is queried in the slot of the obstacle whose window it is in.
    cyls = [o for o in course.obstacles if isinstance(o, Cylinder)]
    boxes = [o for o in course.obstacles if isinstance(o, Box)]
    packed = geometry.PackedObstacles(max(len(cyls), len(boxes), 1))
    for k in range(max(len(cyls), len(boxes))):
        packed.set_course(k, course.model_copy(update={"obstacles": [*cyls[k : k + 1], *boxes[k : k + 1]]}))
    cells, slots = [], []
    slotted: list[tuple[int, Cylinder | Box]] = [*enumerate(cyls), *enumerate(boxes)]
    for k, ob in slotted:
        if isinstance(ob, Cylinder):
            half_x = half_y = ob.radius_m
        else:  # axis-aligned extent of the yawed footprint
            c, s = abs(math.cos(ob.yaw_rad)), abs(math.sin(ob.yaw_rad))
            half_x = ob.half_extents_m[0] * c + ob.half_extents_m[1] * s
            half_y = ob.half_extents_m[0] * s + ob.half_extents_m[1] * c
        i = _index_range(ob.xyz[0], half_x + reach_m, x_m[0], cell_x, nx)
        j = _index_range(ob.xyz[1], half_y + reach_m, y_m[0], cell_y, ny)
        if i.size and j.size:
            cells.append((i[:, None] * ny + j[None, :]).ravel())
            slots.append(np.full(i.size * j.size, k, dtype=np.intp))
    free = np.ones(nx * ny, dtype=bool)
    if cells:
        cell = np.concatenate(cells)
        slot = np.concatenate(slots)
        points = np.empty((cell.size, 3))
        points[:, 0], points[:, 1] = x_m[cell // ny], y_m[cell % ny]
        for z in z_m:
            points[:, 2] = z
            free[cell[geometry.clearance(packed, slot, points) < reach_m]] = False
    return free.reshape(nx, ny), x_m, y_m


def _index_range(centre_m: float, half_m: float, first_m: float, cell_m: float, n: int) -> np.ndarray:
    """Indices of the cell centres ``first_m + i * cell_m`` (``0 <= i < n``) within ``centre_m ± half_m``."""
    lo = max(0, math.ceil((centre_m - half_m - first_m) / cell_m))
    hi = min(n - 1, math.floor((centre_m + half_m - first_m) / cell_m))
    return np.arange(lo, hi + 1)


def _cell_of(xyz: Sequence[float], x_m: np.ndarray, y_m: np.ndarray) -> tuple[int, int]:
    """Index of the grid cell containing the point (cell centres ``x_m``, ``y_m`` evenly spaced)."""
    i = int(np.argmin(np.abs(x_m - xyz[0])))
    j = int(np.argmin(np.abs(y_m - xyz[1])))
    return i, j


def has_free_path(
    course: Course,
    radius_m: float,
    margin_m: float = 0.0,
    resolution_m: float = 0.05,
    z_band_m: tuple[float, float] | None = None,
) -> bool:
    """Whether a drone of ``radius_m`` can fly from start to goal without touching an obstacle.

    Conservative: ``True`` guarantees a path inside the arena (x, y) that keeps ``radius_m + margin_m`` from
    every obstacle at every height of the band; ``False`` can also mean a passage narrower than about one
    grid cell more than needed. See :func:`free_grid` for the grid and its guarantee. Cost (5 cm cells): ~0.7 ms
    for a 6 m × 3 m arena with 13 obstacles, ~1.7 ms for 8 m × 4 m with 33.

    Args:
        course: Any course (generated or hand-made).
        radius_m: Drone collision radius (m).
        margin_m: Extra clearance (m).
        resolution_m: Grid cell size (m).
        z_band_m: Heights (m) the path may use and must clear; default from start height to goal height.

    Returns:
        Whether the start cell and the goal centre's cell are connected through free cells.
    """
    free, x_m, y_m = free_grid(course, radius_m, margin_m, resolution_m, z_band_m)
    return _connected(free, _cell_of(course.start.xyz, x_m, y_m), _cell_of(course.goal.xyz, x_m, y_m))


# ----------------------------------------------------------------------------------------------------------
# Generation
# ----------------------------------------------------------------------------------------------------------


def _r(value: float) -> float:
    return round(float(value), _DECIMALS)


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], size: int | None = None) -> Any:
    return rng.uniform(bounds[0], bounds[1], size)


def _wall_boxes(
    rng: np.random.Generator, cfg: CourseGeneratorConfig, level: DifficultyConfig, arena: Arena, wall_x: float
) -> list[Box]:
    """Boxes of one wall across the arena at ``x = wall_x``, leaving ``level.n_gaps`` random gaps."""
    y0, y1 = arena.y
    gaps_m = level.n_gaps * level.gap_width_m
    # Split the solid length (width minus gaps) at n_gaps uniform points: the gaps sit between the pieces.
    solid_m = (y1 - y0) - gaps_m
    cuts = np.sort(rng.uniform(0.0, solid_m, level.n_gaps))
    pieces = np.diff(np.concatenate(([0.0], cuts, [solid_m])))
    height_m = _uniform(rng, cfg.walls.height_m)
    boxes = []
    y = y0
    for piece_m in pieces:
        # Slivers thinner than the wall are dropped: the gap simply widens or reaches the arena edge.
        if piece_m >= cfg.walls.thickness_m:
            half = (_r(cfg.walls.thickness_m / 2), _r(piece_m / 2), _r(height_m / 2))
            boxes.append(Box(xyz=(_r(wall_x), _r(y + piece_m / 2), half[2]), half_extents_m=half, yaw_rad=0.0))
        y += piece_m + level.gap_width_m
    return boxes


#: Boxes ``arena_walls`` adds to a course.
N_ARENA_WALLS = 4


def _arena_wall_boxes(arena: Arena, thickness_m: float) -> list[Box]:
    """Four walls ``thickness_m`` thick (m), floor to arena top, inner faces on the arena's edges.

    The walls at the x ends reach ``thickness_m`` past the sides so the corners are closed.
    """
    (x0, x1), (y0, y1), (_, z1) = arena.x, arena.y, arena.z
    t = thickness_m
    half_z = _r(z1 / 2)
    ends = [
        Box(xyz=(_r(x), _r((y0 + y1) / 2), half_z), half_extents_m=(_r(t / 2), _r((y1 - y0) / 2 + t), half_z))
        for x in (x0 - t / 2, x1 + t / 2)
    ]
    sides = [
        Box(xyz=(_r((x0 + x1) / 2), _r(y), half_z), half_extents_m=(_r((x1 - x0) / 2), _r(t / 2), half_z))
        for y in (y0 - t / 2, y1 + t / 2)
    ]
    return [*ends, *sides]


def _scattered(
    rng: np.random.Generator,
    cfg: CourseGeneratorConfig,
    level: DifficultyConfig,
    arena: Arena,
    keep_clear_xy: np.ndarray,
    wall_x: np.ndarray,
) -> list[Cylinder | Box]:
    """Pillars and boxes at the level's density, outside the start/goal zones and off the walls.

    Args:
        rng: Random source.
        cfg: Generator configuration.
        level: Difficulty level.
        arena: The course's arena.
        keep_clear_xy: ``(P, 2)`` points (m) no obstacle may come within ``clear_zone_m`` of.
        wall_x: ``(W,)`` x of the walls (m).
    """
    area_m2 = (arena.x[1] - arena.x[0]) * (arena.y[1] - arena.y[0])
    n = round(level.obstacle_density_per_m2 * area_m2)
    total_weight = cfg.pillars.weight + cfg.boxes.weight
    if n == 0 or total_weight == 0:
        return []
    is_pillar = rng.random(n) < cfg.pillars.weight / total_weight
    radius = _uniform(rng, cfg.pillars.radius_m, n)
    half_len = _uniform(rng, cfg.boxes.half_length_m, n)
    half_wid = _uniform(rng, cfg.boxes.half_width_m, n)
    yaw = rng.uniform(0.0, math.pi, n)  # a box is symmetric under half turns
    height = np.where(is_pillar, _uniform(rng, cfg.pillars.height_m, n), _uniform(rng, cfg.boxes.height_m, n))
    # Bounding circle of each footprint: placement tests use it (conservative, and the same for both shapes).
    bound = np.where(is_pillar, radius, np.hypot(half_len, half_wid))
    xy = np.full((n, 2), np.nan)
    # Rejection sampling, all pending obstacles at once; an obstacle that finds no place is dropped.
    for _ in range(50):
        pending = np.flatnonzero(np.isnan(xy[:, 0]))
        if pending.size == 0:
            break
        cand = np.stack((_uniform(rng, arena.x, pending.size), _uniform(rng, arena.y, pending.size)), axis=1)
        b = bound[pending]
        dist = np.linalg.norm(cand[:, None, :] - keep_clear_xy[None, :, :], axis=2)
        ok = (dist - b[:, None] >= cfg.clear_zone_m).all(axis=1)
        if wall_x.size:
            wall_gap = np.abs(cand[:, :1] - wall_x[None, :]) - cfg.walls.thickness_m / 2 - b[:, None]
            ok &= (wall_gap >= cfg.walls.keepout_m).all(axis=1)
        xy[pending[ok]] = cand[ok]
    out: list[Cylinder | Box] = []
    for k in np.flatnonzero(~np.isnan(xy[:, 0])):
        centre = (_r(xy[k, 0]), _r(xy[k, 1]), _r(height[k] / 2))
        if is_pillar[k]:
            out.append(Cylinder(xyz=centre, radius_m=_r(radius[k]), height_m=2 * centre[2]))
        else:
            half = (_r(half_len[k]), _r(half_wid[k]), centre[2])
            out.append(Box(xyz=centre, half_extents_m=half, yaw_rad=_r(yaw[k])))
    return out


def _draw(
    rng: np.random.Generator, cfg: CourseGeneratorConfig, level: DifficultyConfig
) -> tuple[Course, list[Box], list[Cylinder | Box]]:
    """One random course (not yet checked); returns it with its wall boxes and scattered obstacles."""
    length_m, width_m, height_m = level.arena_size_m
    arena = Arena(x=(-length_m / 2, length_m / 2), y=(-width_m / 2, width_m / 2), z=(0.0, height_m))
    z = cfg.flight_height_m
    y_max = max(0.0, width_m / 2 - cfg.start_margin_m)
    jitter = min(cfg.lateral_jitter_m, y_max)
    start_xy = (arena.x[0] + cfg.start_margin_m, rng.uniform(-jitter, jitter))
    goal_xy = (arena.x[1] - cfg.goal_margin_m, rng.uniform(-jitter, jitter))
    yaw = rng.uniform(-cfg.start_yaw_jitter_rad, cfg.start_yaw_jitter_rad)
    start = Start(xyz=(_r(start_xy[0]), _r(start_xy[1]), _r(z)), yaw_rad=_r(yaw))
    goal = Goal(xyz=(_r(goal_xy[0]), _r(goal_xy[1]), _r(z)), radius_m=cfg.goal_radius_m)
    # Walls: one per equal slice of the stretch between the start and goal zones, jittered inside the slice.
    lo = start.xyz[0] + cfg.clear_zone_m + cfg.walls.keepout_m + cfg.walls.thickness_m / 2
    hi = goal.xyz[0] - cfg.clear_zone_m - cfg.walls.keepout_m - cfg.walls.thickness_m / 2
    slice_m = (hi - lo) / max(level.n_walls, 1)
    wall_x = lo + slice_m * (np.arange(level.n_walls) + 0.5 + rng.uniform(-0.25, 0.25, level.n_walls))
    walls = [box for x in wall_x for box in _wall_boxes(rng, cfg, level, arena, float(x))]
    if cfg.arena_walls:  # no random numbers drawn: the rest of the course is the one without them
        walls += _arena_wall_boxes(arena, cfg.walls.thickness_m)
    keep_clear = np.array([start.xyz[:2], goal.xyz[:2]])
    scattered = _scattered(rng, cfg, level, arena, keep_clear, wall_x)
    light = Light(xyz=goal.xyz, intensity=cfg.light_intensity) if cfg.light else None
    course = Course(arena=arena, start=start, goal=goal, obstacles=[*walls, *scattered], light=light)
    return course, walls, scattered


def _distance_to_segment(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance (m) from each of ``(N, 2)`` points to the segment ``a``-``b``."""
    ab = b - a
    t = np.clip((points - a) @ ab / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


def _open_path(course: Course, walls: list[Box], scattered: list[Cylinder | Box], free_path: Any) -> Course:
    """Remove the fewest scattered obstacles nearest the start-goal line that opens a path.

    Removing obstacles never closes a path, so the count to remove is found by bisection (a handful of path
    checks). If even the walls alone block (cannot happen with a valid config), they go too.
    """
    a, b = np.asarray(course.start.xyz[:2]), np.asarray(course.goal.xyz[:2])
    centres = np.array([o.xyz[:2] for o in scattered]).reshape(-1, 2)
    order = np.argsort(_distance_to_segment(centres, a, b), kind="stable")

    def keeping(k_removed: int) -> Course:
        kept = sorted(order[k_removed:])
        return course.model_copy(update={"obstacles": [*walls, *(scattered[i] for i in kept)]})

    if not free_path(keeping(len(scattered))):
        return course.model_copy(update={"obstacles": []})
    lo, hi = 0, len(scattered)  # free_path(keeping(hi)) holds; find the smallest such count
    while lo < hi:
        mid = (lo + hi) // 2
        if free_path(keeping(mid)):
            hi = mid
        else:
            lo = mid + 1
    return keeping(hi)


def generate_course(
    config: CourseGeneratorConfig, difficulty: str | None = None, seed: int | np.random.SeedSequence = 0
) -> Course:
    """Make one course from a seed; the same arguments always give the identical course.

    Args:
        config: Generator parameters.
        difficulty: Name of a level in ``config.difficulties``; ``None`` for ``config.default_difficulty``.
        seed: Integer seed or a ``SeedSequence`` (what :func:`generate_courses` passes for course ``i``).

    Returns:
        A valid course whose start and goal are joined by a free path (checked with :func:`has_free_path`
        for ``config.collision_radius_m + config.path_margin_m`` at flight height).

    Raises:
        ConfigError: Unknown difficulty.
    """
    level = config.level(difficulty)
    rng = np.random.default_rng(seed)

    def free_path(course: Course) -> bool:
        return has_free_path(course, config.collision_radius_m, config.path_margin_m, config.resolution_m)

    for _ in range(config.max_attempts):
        course, walls, scattered = _draw(rng, config, level)
        if free_path(course):
            return course
    return _open_path(course, walls, scattered, free_path)


def iter_courses(
    config: CourseGeneratorConfig, difficulty: str | None = None, n: int = 1, seed: int = 0
) -> Iterator[Course]:
    """Yield ``n`` courses; course ``i`` depends on ``(config, difficulty, seed, i)`` only, not on ``n``."""
    if n < 0:
        raise ConfigError(f"n must be >= 0, got {n}")
    config.level(difficulty)  # fail before the first course, not after a long wait
    # spawn(n) gives child i the spawn key (i,), so the first k children are the same for every n >= k.
    for child in np.random.SeedSequence(seed).spawn(n):
        yield generate_course(config, difficulty, child)


def generate_courses(
    config: CourseGeneratorConfig, difficulty: str | None = None, n: int = 1, seed: int = 0
) -> list[Course]:
    """A set of ``n`` courses (see :func:`iter_courses`); course ``i`` is the same for every ``n > i``."""
    return list(iter_courses(config, difficulty, n, seed))
