"""The compiled ray cast and clearance (tinyrl/sim/fast_geometry.py) against the NumPy reference, bit for bit."""

import numpy as np
import pytest

from tinyrl.common.evaluate import eval_courses
from tinyrl.sim import geometry
from tinyrl.sim.course import Arena, Box, Course, Cylinder, Goal, Start
from tinyrl.tasks.config import load_scenario


def _random_course(rng: np.random.Generator) -> Course:
    """Yawed boxes and cylinders anywhere in a 6 x 4 m arena, some of them thin, flat or on the floor."""
    obstacles = []
    for _ in range(int(rng.integers(0, 12))):
        xyz = (rng.uniform(-3, 3), rng.uniform(-2, 2), rng.uniform(0, 2))
        if rng.random() < 0.5:
            obstacles.append(Cylinder(xyz=xyz, radius_m=rng.uniform(0.01, 0.5), height_m=rng.uniform(0.01, 3)))
        else:
            half = tuple(rng.uniform(0.005, 1.0, 3))
            obstacles.append(Box(xyz=xyz, half_extents_m=half, yaw_rad=rng.uniform(-np.pi, np.pi)))
    return Course(
        arena=Arena(x=(-3, 3), y=(-2, 2), z=(0, 2.5)),
        start=Start(xyz=(-2.5, 0, 1)),
        goal=Goal(xyz=(2.5, 0, 1), radius_m=0.3),
        obstacles=obstacles,
    )


def _rays(rng: np.random.Generator, m: int, r: int, shared: bool) -> tuple[np.ndarray, np.ndarray]:
    """Origins ``(m, 1 or r, 3)`` and directions ``(m, r, 3)``: horizontal, straight down, straight up, any."""
    origins = np.stack([rng.uniform(-3.5, 3.5, m), rng.uniform(-2.5, 2.5, m), rng.uniform(-0.1, 2.5, m)], -1)
    origins = origins[:, None, :] if shared else origins[:, None, :] + rng.normal(0, 0.05, (m, r, 3))
    directions = rng.normal(size=(m, r, 3))
    directions[:, 0, 2] = 0.0
    directions[:, 1] = (0.0, 0.0, -1.0)
    directions[:, 2] = (0.0, 0.0, 1.0)
    directions[:, 3, 1] = 0.0
    return origins, directions


def _packed_courses(rng: np.random.Generator) -> tuple[list[Course], geometry.PackedObstacles]:
    """Generated courses of every level and random ones, one per slot, then an empty slot (only the floor)."""
    config = load_scenario("obstacle-course")
    courses = [c for level in config.course_generator.difficulties for c in eval_courses(config, 20, 0, level)]
    courses += [_random_course(rng) for _ in range(60)]
    packed = geometry.PackedObstacles(len(courses) + 1)
    for slot, course in enumerate(courses):
        packed.set_course(slot, course)
    packed.set_course(len(courses), None)
    return courses, packed


@pytest.mark.parametrize("shared", [True, False], ids=["shared-origin", "own-origins"])
def test_compiled_ray_cast_equals_numpy_to_the_bit(shared):
    rng = np.random.default_rng(7)
    courses, packed = _packed_courses(rng)
    for _ in range(10):
        slots = rng.integers(0, len(courses) + 1, 300)
        origins, directions = _rays(rng, len(slots), 6, shared)
        want = geometry.ray_distances(packed, slots, origins, directions, 4.0, backend="numpy")
        got = geometry.ray_distances(packed, slots, origins, directions, 4.0, backend="numba")
        assert 0 < np.count_nonzero(want < 4.0) < want.size  # the rays hit things and miss things
        np.testing.assert_array_equal(got, want)
    every = geometry.ray_distances(packed, None, *_rays(rng, len(courses) + 1, 6, shared), 4.0, backend="numba")
    assert every.shape == (len(courses) + 1, 6)


def test_compiled_clearance_equals_numpy_to_the_bit():
    rng = np.random.default_rng(11)
    courses, packed = _packed_courses(rng)
    for _ in range(10):
        slots = rng.integers(0, len(courses) + 1, 2000)
        points = np.stack([rng.uniform(-3.5, 3.5, 2000), rng.uniform(-2.5, 2.5, 2000), rng.uniform(-0.1, 2.5, 2000)])
        points = points.T
        want = geometry.clearance(packed, slots, points, backend="numpy")
        got = geometry.clearance(packed, slots, points, backend="numba")
        finite = np.isfinite(want)
        assert (want[finite] < 0).any() and (want[finite] > 0).any()  # points inside obstacles and outside
        assert np.isinf(want[slots == len(courses)]).all()
        np.testing.assert_array_equal(got, want)
    every = np.zeros((len(courses) + 1, 3))
    np.testing.assert_array_equal(
        geometry.clearance(packed, None, every, backend="numba"), geometry.clearance(packed, None, every, "numpy")
    )


def test_auto_casts_with_the_compiled_loop():
    assert geometry.RAY_BACKEND == "numba"
    with pytest.raises(ValueError, match="backend"):
        geometry.ray_distances(geometry.PackedObstacles(1), None, np.zeros((1, 1, 3)), np.ones((1, 1, 3)), 4, "magic")
