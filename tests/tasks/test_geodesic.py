import math

import numpy as np
import pytest

from tinyrl.common.evaluate import eval_courses
from tinyrl.sim.course import Arena, Box, Course, Goal, Start
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.geodesic import _relax, distance_field
from tinyrl.tasks.progress import GeodesicDistance

OPEN = Course(
    arena=Arena(x=(-3, 3), y=(-1.5, 1.5), z=(0, 2.5)),
    start=Start(xyz=(-2.5, 0, 1)),
    goal=Goal(xyz=(2.5, 0, 1), radius_m=0.3),
)


def test_open_course_distance_is_close_to_straight_line():
    field = distance_field(OPEN, radius_m=0.07)
    points = np.array([[2.5, 0.0], [-2.5, 0.0], [0.0, 1.0]])
    straight = np.linalg.norm(points - [2.5, 0.0], axis=1)
    got = field.lookup(points)
    assert got[0] < 0.11
    # 8-neighbour paths overestimate straight lines by at most ~8 %.
    np.testing.assert_array_less(straight - 0.11, got)
    np.testing.assert_array_less(got, straight * 1.09 + 0.11)


def test_wall_forces_the_detour_through_its_gap():
    # Wall across x = 0 with a gap at y in [1.0, 1.5]: from (-1, -1) the way round is much longer.
    wall = Box(xyz=(0.0, -0.25, 1.25), half_extents_m=(0.05, 1.25, 1.25))
    field = distance_field(OPEN.model_copy(update={"obstacles": [wall]}), radius_m=0.07)
    behind = np.array([[-1.0, -1.0]])
    detour = np.hypot(1.0, 2.1) + np.hypot(2.5, 1.1)  # up to the gap's edge (y 1.0 + drone radius), then on
    straight = np.hypot(3.5, 1.0)
    got = field.lookup(behind)[0]
    assert got > 0.98 * detour > straight + 1.0
    assert got < 1.12 * detour
    # Inside the inflated wall the distance is still finite and sensible.
    inside = field.lookup(np.array([[0.0, -0.5]]))[0]
    assert np.isfinite(inside) and inside < 10


def _sweeps(dist, cell_m, update):
    """Reference: Bellman-Ford sweeps of dist[v] = min(dist[v], dist[u] + hop) over v in ``update``, plain loops."""
    hops = {(1, 0): cell_m[0], (0, 1): cell_m[1], (1, 1): math.hypot(*cell_m), (1, -1): math.hypot(*cell_m)}
    hops |= {(-dx, -dy): step for (dx, dy), step in hops.items()}
    nx, ny = dist.shape
    while True:
        best = dist.copy()
        for i, j in zip(*np.nonzero(update), strict=True):
            for (dx, dy), step in hops.items():
                if 0 <= i - dx < nx and 0 <= j - dy < ny:
                    best[i, j] = min(best[i, j], dist[i - dx, j - dy] + step)
        if np.array_equal(best, dist):
            return dist
        dist = best


@pytest.mark.parametrize("seed", range(6))
def test_relaxation_is_bellman_ford_to_the_bit(seed):
    rng = np.random.default_rng(seed)
    cell_m = rng.uniform(0.05, 0.15, size=2)
    dist = np.full((13, 9), np.inf)
    sources = rng.random(dist.shape) < 0.05
    dist[sources] = rng.uniform(0.0, 3.0, size=int(sources.sum()))
    dist[6, 4] = 0.0
    update = rng.random(dist.shape) < 0.7
    np.testing.assert_array_equal(_relax(dist.copy(), cell_m, update), _sweeps(dist.copy(), cell_m, update))


def test_compiled_lookup_equals_the_numpy_reference_to_the_bit():
    config = load_scenario("obstacle-course")
    courses = [c for level in ("easy", "medium", "hard") for c in eval_courses(config, 6, 0, level)] + [OPEN]
    field = GeodesicDistance(courses, len(courses), 0.1, 0.1)
    for slot, course in enumerate(courses):
        field.load(slot, course)
    rng = np.random.default_rng(3)
    rows = rng.integers(0, len(courses), 3000)
    # Inside and well outside the arenas (clamped to the border cells), on cell centres and edges.
    pos = np.stack([rng.uniform(-9, 9, 3000), rng.uniform(-7, 7, 3000), rng.uniform(0, 2.5, 3000)], -1)
    pos[:300, :2] = np.round(pos[:300, :2], 1)
    goal = rng.uniform(-3, 3, (3000, 3))
    want = field.distance_m_reference(rows, pos, goal)
    assert np.isfinite(want).any() and (want > 1.0).any()
    np.testing.assert_array_equal(field.distance_m(rows, pos, goal), want)
