"""A free-path check for obstacle courses that shares no code with the generator's (``tinyrl.tasks.generator``).

Its own point-to-obstacle distances (upright cylinders, yawed boxes), its own occupancy grid over the arena floor
plan at the start height, its own breadth-first search over 8-connected cells, and a final check of the path it found
by sampling points densely along it. Used by the generator tests to verify the generator's free-path guarantee
rather than to re-run the generator's own check.

A cell is free when its centre keeps ``radius_m + margin_m + cell diagonal / 2`` from every obstacle: every point of
a segment between neighbouring centres (straight or diagonal) is within half a cell diagonal of one of its ends, so
the polyline through free centres keeps ``radius_m + margin_m``. A blocked answer can also mean a passage that only
a finer grid resolves; the generator keeps an extra few centimetres (its own grid slack), which this grid resolves
at the resolution and margin the tests use (see ``test_generator.py``).
"""

from __future__ import annotations

import math

import numpy as np

from tinyrl.sim.course import Box, Course, Cylinder

__all__ = ["distance_to_obstacles", "find_free_path"]

# Eight neighbours on the grid: (di, dj).
_STEPS = [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if di or dj]


def _cylinder_distance(ob: Cylinder, points: np.ndarray) -> np.ndarray:
    """Signed distance (m) from ``(N, 3)`` points to an upright cylinder (negative inside)."""
    radial = np.hypot(points[:, 0] - ob.xyz[0], points[:, 1] - ob.xyz[1]) - ob.radius_m
    vertical = np.abs(points[:, 2] - ob.xyz[2]) - ob.height_m / 2
    outside = np.hypot(np.maximum(radial, 0.0), np.maximum(vertical, 0.0))
    return outside + np.minimum(np.maximum(radial, vertical), 0.0)


def _box_distance(ob: Box, points: np.ndarray) -> np.ndarray:
    """Signed distance (m) from ``(N, 3)`` points to a box yawed about z (negative inside)."""
    d = points - np.asarray(ob.xyz)
    c, s = math.cos(ob.yaw_rad), math.sin(ob.yaw_rad)
    # Into the box's own axes: rotate by -yaw about z.
    local = np.stack((c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]), axis=1)
    q = np.abs(local) - np.asarray(ob.half_extents_m)
    return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0)


def distance_to_obstacles(course: Course, points: np.ndarray) -> np.ndarray:
    """Distance (m) from each of ``(N, 3)`` points to the nearest obstacle surface (negative inside; inf if none)."""
    nearest = np.full(len(points), np.inf)
    for ob in course.obstacles:
        d = _cylinder_distance(ob, points) if isinstance(ob, Cylinder) else _box_distance(ob, points)
        nearest = np.minimum(nearest, d)
    return nearest


def _footprint_radius_m(ob: Cylinder | Box) -> float:
    """Radius (m) of a vertical cylinder about the obstacle's centre that holds its floor plan."""
    return ob.radius_m if isinstance(ob, Cylinder) else math.hypot(ob.half_extents_m[0], ob.half_extents_m[1])


def _free_cells(
    course: Course, clearance_m: float, cell_m: float, z_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(free (nx, ny), x_m (nx,), y_m (ny,))``: cells whose centre at height ``z_m`` keeps ``clearance_m``.

    Each obstacle is measured against the cells of the square that holds its floor plan grown by ``clearance_m``
    only: no cell outside it can come closer.
    """
    arena = course.arena
    nx = math.ceil((arena.x[1] - arena.x[0]) / cell_m)
    ny = math.ceil((arena.y[1] - arena.y[0]) / cell_m)
    x_m = arena.x[0] + (np.arange(nx) + 0.5) * (arena.x[1] - arena.x[0]) / nx
    y_m = arena.y[0] + (np.arange(ny) + 0.5) * (arena.y[1] - arena.y[0]) / ny
    free = np.ones((nx, ny), dtype=bool)
    for ob in course.obstacles:
        reach_m = _footprint_radius_m(ob) + clearance_m
        i = np.flatnonzero(np.abs(x_m - ob.xyz[0]) <= reach_m)
        j = np.flatnonzero(np.abs(y_m - ob.xyz[1]) <= reach_m)
        if not (i.size and j.size):
            continue
        gx, gy = np.meshgrid(x_m[i], y_m[j], indexing="ij")
        centres = np.stack((gx.ravel(), gy.ravel(), np.full(gx.size, z_m)), axis=1)
        d = _cylinder_distance(ob, centres) if isinstance(ob, Cylinder) else _box_distance(ob, centres)
        free[i[0] : i[-1] + 1, j[0] : j[-1] + 1] &= (d >= clearance_m).reshape(i.size, j.size)
    return free, x_m, y_m


def _bfs(free: np.ndarray, start: tuple[int, int], goal: tuple[int, int]) -> list[tuple[int, int]] | None:
    """Cells of a shortest 8-connected path through ``free`` from ``start`` to ``goal``, or ``None``.

    Breadth first, one whole frontier per NumPy pass, on a copy of the grid padded with blocked cells (so a
    neighbour index never leaves it).
    """
    if not (free[start] and free[goal]):
        return None
    padded = np.zeros((free.shape[0] + 2, free.shape[1] + 2), dtype=bool)
    padded[1:-1, 1:-1] = free
    width = padded.shape[1]
    open_cell = padded.ravel()
    came_from = np.full(open_cell.size, -1, dtype=np.int64)  # flat index of the cell each cell was reached from
    first = (start[0] + 1) * width + start[1] + 1
    last = (goal[0] + 1) * width + goal[1] + 1
    came_from[first] = first
    offsets = [di * width + dj for di, dj in _STEPS]
    frontier = np.array([first], dtype=np.int64)
    while frontier.size and came_from[last] < 0:
        reached = []
        for offset in offsets:
            cand = frontier + offset
            new = open_cell[cand] & (came_from[cand] < 0)
            came_from[cand[new]] = frontier[new]
            reached.append(cand[new])
        frontier = np.unique(np.concatenate(reached))
    if came_from[last] < 0:
        return None
    path = [last]
    while path[-1] != first:
        path.append(int(came_from[path[-1]]))
    return [(flat // width - 1, flat % width - 1) for flat in reversed(path)]


def find_free_path(
    course: Course, radius_m: float, margin_m: float, cell_m: float, sample_m: float = 0.005
) -> np.ndarray | None:
    """A start-to-goal polyline at the start height that keeps ``radius_m + margin_m`` from every obstacle.

    The path found on the grid is checked again point by point, every ``sample_m`` along it; a point that comes
    closer raises ``AssertionError`` (the grid's reasoning would be wrong).

    Args:
        course: A course whose start and goal are at the same height.
        radius_m: Drone collision radius (m).
        margin_m: Clearance kept on top of it (m).
        cell_m: Largest grid cell size (m).
        sample_m: Spacing of the points checked along the path (m).

    Returns:
        ``(K, 3)`` vertices (m) from start to goal, or ``None`` if the grid has no free path.
    """
    z_m = course.start.xyz[2]
    assert course.goal.xyz[2] == z_m, "start and goal heights differ: this check flies one height"
    arena = course.arena
    half_diagonal_m = (
        math.hypot(
            (arena.x[1] - arena.x[0]) / math.ceil((arena.x[1] - arena.x[0]) / cell_m),
            (arena.y[1] - arena.y[0]) / math.ceil((arena.y[1] - arena.y[0]) / cell_m),
        )
        / 2
    )
    free, x_m, y_m = _free_cells(course, radius_m + margin_m + half_diagonal_m, cell_m, z_m)

    def cell(xyz: tuple[float, float, float]) -> tuple[int, int]:
        return int(np.abs(x_m - xyz[0]).argmin()), int(np.abs(y_m - xyz[1]).argmin())

    cells = _bfs(free, cell(course.start.xyz), cell(course.goal.xyz))
    if cells is None:
        return None
    vertices = np.array(
        [course.start.xyz, *((x_m[i], y_m[j], z_m) for i, j in cells), course.goal.xyz], dtype=np.float64
    )
    seg = np.diff(vertices, axis=0)
    n = max(1, math.ceil(float(np.linalg.norm(seg, axis=1).max()) / sample_m))
    t = np.linspace(0.0, 1.0, n + 1)
    points = (vertices[:-1, None, :] + t[None, :, None] * seg[:, None, :]).reshape(-1, 3)
    closest_m = float(distance_to_obstacles(course, points).min())
    assert closest_m >= radius_m + margin_m, f"path point {closest_m:.4f} m from an obstacle"
    inside = (
        (points[:, 0] >= arena.x[0])
        & (points[:, 0] <= arena.x[1])
        & (points[:, 1] >= arena.y[0])
        & (points[:, 1] <= arena.y[1])
    )
    assert inside.all(), "path leaves the arena"
    return vertices
