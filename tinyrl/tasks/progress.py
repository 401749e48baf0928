"""The distance to the goal that the progress reward is paid on: straight line, or geodesic around obstacles.

The task picks one measure, once (``reward.progress_metric``; geodesic only where the goal is the course's,
:attr:`~tinyrl.tasks.rules.TaskRule.goal_is_course_goal`), loads each slot's course into it at reset and asks
it for all drones at every step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numba import njit

from tinyrl.sim.course import Course
from tinyrl.tasks.geodesic import cached_distance_field


class GoalDistance(Protocol):
    """Distance (m) from drones to their goals, per slot of a batch."""

    def load(self, slot: int, course: Course) -> None:
        """Slot ``slot`` now flies ``course``."""
        ...

    def distance_m(self, rows: np.ndarray, pos_m: np.ndarray, goal_m: np.ndarray) -> np.ndarray:
        """Distance ``(M,)`` of slots ``rows`` at ``pos_m`` ``(M, 3)`` to their goals ``goal_m`` ``(M, 3)``."""
        ...


class StraightDistance:
    """Straight-line distance: needs nothing from the course."""

    def load(self, slot: int, course: Course) -> None:
        """Nothing to load."""

    def distance_m(self, rows: np.ndarray, pos_m: np.ndarray, goal_m: np.ndarray) -> np.ndarray:
        """See :meth:`GoalDistance.distance_m`."""
        return np.linalg.norm(goal_m - pos_m, axis=1)


class GeodesicDistance:
    """Geodesic distance in the floor plan (:mod:`tinyrl.tasks.geodesic`) plus the height difference.

    Each slot's course field is copied into one padded grid per slot, so the per-step lookup is a single
    gather for all drones.

    Args:
        courses: Every course the slots may fly (sizes the padded grids).
        n: Number of slots.
        radius_m: Drone collision radius (m); obstacles are inflated by it.
        resolution_m: Grid cell size (m).
    """

    def __init__(self, courses: Sequence[Course], n: int, radius_m: float, resolution_m: float) -> None:
        self.radius_m, self.resolution_m = radius_m, resolution_m
        shape = [max(math.ceil((c.arena.x[1] - c.arena.x[0]) / resolution_m), 1) for c in courses]
        shape_y = [max(math.ceil((c.arena.y[1] - c.arena.y[0]) / resolution_m), 1) for c in courses]
        self.field_m = np.zeros((n, max(shape), max(shape_y)), dtype=np.float32)
        self.field_shape = np.ones((n, 2), dtype=np.intp)
        self.field_origin_m = np.zeros((n, 2))
        self.field_cell_m = np.ones((n, 2))

    def load(self, slot: int, course: Course) -> None:
        """Copy ``course``'s distance field into ``slot`` (computed once per course)."""
        field = cached_distance_field(course, self.radius_m, self.resolution_m)
        nx, ny = field.distance_m.shape
        self.field_m[slot, :nx, :ny] = field.distance_m
        self.field_shape[slot] = (nx, ny)
        self.field_origin_m[slot] = field.origin_m
        self.field_cell_m[slot] = field.cell_m

    def distance_m(self, rows: np.ndarray, pos_m: np.ndarray, goal_m: np.ndarray) -> np.ndarray:
        """See :meth:`GoalDistance.distance_m` (compiled: the same numbers as :meth:`distance_m_reference`)."""
        pos = np.ascontiguousarray(pos_m, dtype=float)
        goal = np.ascontiguousarray(goal_m, dtype=float)
        out = np.empty(pos.shape[0])
        grid = (self.field_m, self.field_shape, self.field_origin_m, self.field_cell_m)
        _bilinear_distances(*grid, np.asarray(rows, dtype=np.intp), pos, goal, out)
        return out

    def distance_m_reference(self, rows: np.ndarray, pos_m: np.ndarray, goal_m: np.ndarray) -> np.ndarray:
        """:meth:`distance_m` in NumPy, the reference the compiled lookup repeats operation by operation."""
        # Bilinear between cell centres: nearest-cell lookup would pay progress in 10 cm jumps.
        u = np.clip((pos_m[:, :2] - self.field_origin_m[rows]) / self.field_cell_m[rows], 0, self.field_shape[rows] - 1)
        i0 = np.minimum(np.floor(u).astype(np.intp), np.maximum(self.field_shape[rows] - 2, 0))
        i1 = np.minimum(i0 + 1, self.field_shape[rows] - 1)
        w = u - i0
        f = self.field_m
        floor_m = (
            f[rows, i0[:, 0], i0[:, 1]] * (1 - w[:, 0]) * (1 - w[:, 1])
            + f[rows, i1[:, 0], i0[:, 1]] * w[:, 0] * (1 - w[:, 1])
            + f[rows, i0[:, 0], i1[:, 1]] * (1 - w[:, 0]) * w[:, 1]
            + f[rows, i1[:, 0], i1[:, 1]] * w[:, 0] * w[:, 1]
        )
        return floor_m + np.abs(goal_m[:, 2] - pos_m[:, 2])


@njit(cache=True, nogil=True)
def _bilinear_distances(
    field_m: np.ndarray,
    shape: np.ndarray,
    origin_m: np.ndarray,
    cell_m: np.ndarray,
    rows: np.ndarray,
    pos_m: np.ndarray,
    goal_m: np.ndarray,
    out: np.ndarray,
) -> None:
    """:meth:`GeodesicDistance.distance_m_reference` drone by drone, into ``out`` ``(M,)``.

    The same float64 operations in the same order (``fastmath`` off), in one pass over the drones instead of a dozen
    NumPy temporaries: the critic's inputs ask for six lookups a step.
    """
    for m in range(rows.shape[0]):
        r = rows[m]
        nx, ny = shape[r, 0], shape[r, 1]
        ux = min(max((pos_m[m, 0] - origin_m[r, 0]) / cell_m[r, 0], 0.0), float(nx - 1))
        uy = min(max((pos_m[m, 1] - origin_m[r, 1]) / cell_m[r, 1], 0.0), float(ny - 1))
        ix0 = min(int(np.floor(ux)), max(nx - 2, 0))
        iy0 = min(int(np.floor(uy)), max(ny - 2, 0))
        ix1, iy1 = min(ix0 + 1, nx - 1), min(iy0 + 1, ny - 1)
        wx, wy = ux - ix0, uy - iy0
        floor_m = (
            np.float64(field_m[r, ix0, iy0]) * (1 - wx) * (1 - wy)
            + np.float64(field_m[r, ix1, iy0]) * wx * (1 - wy)
            + np.float64(field_m[r, ix0, iy1]) * (1 - wx) * wy
            + np.float64(field_m[r, ix1, iy1]) * wx * wy
        )
        out[m] = floor_m + abs(goal_m[m, 2] - pos_m[m, 2])
