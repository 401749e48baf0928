"""Geodesic distance to the goal around obstacles, for reward shaping.

Rewarding progress in straight-line distance makes a wall between drone and goal a trap: every way around
it first moves the drone away. Progress along the shortest obstacle-free path has no such trap. The
distance field is privileged simulator knowledge: used in the reward and in the critic's training inputs
(:mod:`tinyrl.tasks.critic`), never in what the policy observes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from tinyrl.sim.course import Course
from tinyrl.tasks.generator import free_grid


@dataclass(frozen=True)
class DistanceField:
    """Shortest-path distance (m) to the goal on a floor-plan grid.

    Attributes:
        distance_m: ``(nx, ny)`` distance from each cell centre to the goal; cells inside inflated obstacles
            hold their nearest free cell's distance plus the hop, unreachable cells a large finite value.
        origin_m: ``(2,)`` centre of cell ``(0, 0)``.
        cell_m: ``(2,)`` cell size in x and y.
    """

    distance_m: np.ndarray
    origin_m: np.ndarray
    cell_m: np.ndarray

    def lookup(self, xy_m: np.ndarray) -> np.ndarray:
        """Distance (m) at points ``(M, 2)``, from the nearest cell (points outside clamp to the border)."""
        idx = np.rint((xy_m - self.origin_m) / self.cell_m).astype(np.intp)
        nx, ny = self.distance_m.shape
        return self.distance_m[np.clip(idx[:, 0], 0, nx - 1), np.clip(idx[:, 1], 0, ny - 1)]


def _relax(dist: np.ndarray, cell_m: np.ndarray, update: np.ndarray) -> np.ndarray:
    """Distances ``dist`` relaxed over 8-neighbour hops into the cells of ``update`` until nothing improves.

    The fixed point of ``dist[v] = min(dist[v], dist[u] + hop(u, v))`` for ``v`` in ``update``: cells outside
    ``update`` keep their distance and only relay it. Dijkstra from a virtual source whose edge to each finite cell
    weighs that cell's distance: every distance is one float addition onto a neighbour's, as in Bellman-Ford sweeps,
    and float addition is monotonic, so the result is the same to the bit, in ~1/3 of the time.
    """
    nx, ny = dist.shape
    cells = np.arange(nx * ny).reshape(nx, ny)
    into_update = update.ravel()
    diagonal_m = math.hypot(*cell_m)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    for (dx, dy), step_m in (((1, 0), cell_m[0]), ((0, 1), cell_m[1]), ((1, 1), diagonal_m), ((1, -1), diagonal_m)):
        for sx, sy in ((dx, dy), (-dx, -dy)):
            src = cells[max(-sx, 0) : nx - max(sx, 0), max(-sy, 0) : ny - max(sy, 0)].ravel()
            dst = cells[max(sx, 0) : nx - max(-sx, 0), max(sy, 0) : ny - max(-sy, 0)].ravel()
            keep = into_update[dst]
            rows.append(src[keep])
            cols.append(dst[keep])
            weights.append(np.full(int(keep.sum()), step_m))
    flat = dist.ravel()
    finite = np.flatnonzero(np.isfinite(flat))
    source = nx * ny
    rows.append(np.full(finite.size, source))
    cols.append(finite)
    weights.append(flat[finite])  # explicit zeros stay edges in a sparse csgraph
    graph = csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(source + 1, source + 1)
    )
    return dijkstra(graph, indices=source)[:source].reshape(nx, ny)


def distance_field(course: Course, radius_m: float, resolution_m: float = 0.1) -> DistanceField:
    """The goal's geodesic distance field for a drone of ``radius_m`` at start/goal height.

    Args:
        course: Any course.
        radius_m: Drone collision radius (m); obstacles are inflated by it.
        resolution_m: Grid cell size (m).
    """
    free, x_m, y_m = free_grid(course, radius_m, 0.0, resolution_m)
    cell_m = np.array(
        [x_m[1] - x_m[0] if len(x_m) > 1 else resolution_m, y_m[1] - y_m[0] if len(y_m) > 1 else resolution_m]
    )
    origin_m = np.array([x_m[0], y_m[0]])
    dist = np.full(free.shape, np.inf)
    gi = int(np.clip(np.rint((course.goal.xyz[0] - origin_m[0]) / cell_m[0]), 0, free.shape[0] - 1))
    gj = int(np.clip(np.rint((course.goal.xyz[1] - origin_m[1]) / cell_m[1]), 0, free.shape[1] - 1))
    dist[gi, gj] = 0.0
    dist = _relax(dist, cell_m, free)
    # Cells inside inflated obstacles: distance of the way out, so a drone grazing an obstacle still sees
    # a sensible value (they never relay distance back into free space).
    dist = _relax(dist, cell_m, ~free)
    finite = dist[np.isfinite(dist)]
    dist[~np.isfinite(dist)] = (finite.max() if finite.size else 0.0) + 10.0
    return DistanceField(dist.astype(np.float32), origin_m, cell_m)


# id(course) -> (course, radius, resolution, field). Holding the course keeps its id from being reused; courses
# are immutable, so a field computed once stays right for every task and evaluation in the process.
_CACHE: dict[int, tuple[Course, float, float, DistanceField]] = {}
_CACHE_LIMIT = 20_000


def cached_distance_field(course: Course, radius_m: float, resolution_m: float = 0.1) -> DistanceField:
    """:func:`distance_field`, computed once per course object per process (pools and evaluation sets repeat)."""
    hit = _CACHE.get(id(course))
    if hit is not None and hit[0] is course and hit[1] == radius_m and hit[2] == resolution_m:
        return hit[3]
    field = distance_field(course, radius_m, resolution_m)
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[id(course)] = (course, radius_m, resolution_m, field)
    return field
