from pathlib import Path

import numpy as np
import pytest

from tinyrl.sim.course import Course, load_courses
from tinyrl.sim.world import World, benchmark_rays, random_course

DATA = Path(__file__).parent.parent / "data" / "courses"
BACKENDS = ["analytic", "pybullet"]


@pytest.fixture(scope="module")
def wall_course() -> Course:
    # Box face at x = 1.0, spanning y in [-1.5, 1.5], z in [0, 3].
    return load_courses(DATA / "single_course.yaml")[0]


@pytest.fixture(params=BACKENDS)
def world(request):
    w = World(3, backend=request.param)
    yield w
    w.close()


def rays(origin, directions):
    d = np.asarray(directions, dtype=float)[None]
    return np.broadcast_to(np.asarray(origin, dtype=float), d.shape), d


def test_wall_and_floor_and_nothing(world, wall_course):
    world.set_course(1, wall_course)
    o, d = rays([0.0, 0.0, 1.0], [[1, 0, 0], [-1, 0, 0], [0, 0, 1], [0, 0, -1], [1, 0, 1]])
    dist = world.ray_distances(o, d, 4.0, slots=[1])
    np.testing.assert_allclose(dist[0], [1.0, 4.0, 4.0, 1.0, np.sqrt(2.0)], atol=1e-3)


def test_slots_hold_different_courses(world, wall_course):
    world.set_course(0, wall_course)  # slot 1 stays empty
    shifted = wall_course.model_copy(
        update={"obstacles": [wall_course.obstacles[0].model_copy(update={"xyz": (2.1, 0.0, 1.5)})]}
    )
    world.set_course(2, shifted)
    o = np.tile([[[0.0, 0.0, 1.0]]], (3, 1, 1))
    d = np.tile([[[1.0, 0.0, 0.0]]], (3, 1, 1))
    np.testing.assert_allclose(world.ray_distances(o, d, 4.0)[:, 0], [1.0, 4.0, 2.0], atol=1e-3)
    # Re-coursing a slot removes the old obstacles.
    world.set_course(0, shifted)
    world.set_course(2, None)
    np.testing.assert_allclose(world.ray_distances(o, d, 4.0)[:, 0], [2.0, 4.0, 4.0], atol=1e-3)


def test_shared_origin_shape(world, wall_course):
    world.set_course(0, wall_course)
    d = np.array([[[1.0, 0, 0], [0, 1.0, 0]]])
    shared = world.ray_distances(np.array([[[0.0, 0, 1]]]), d, 4.0, slots=[0])
    full = world.ray_distances(np.array([[[0.0, 0, 1], [0.0, 0, 1]]]), d, 4.0, slots=[0])
    np.testing.assert_allclose(shared, full)


def test_collisions(world, wall_course):
    for slot in range(3):
        world.set_course(slot, wall_course)
    # inside the wall, 3 cm from its face (radius 5 cm), 30 cm away
    positions = np.array([[1.1, 0.0, 1.0], [0.97, 0.0, 1.0], [0.7, 0.0, 1.0]])
    np.testing.assert_array_equal(world.collisions(positions, 0.05), [True, True, False])
    # The floor is not an obstacle.
    assert not world.collisions(np.array([[0.0, 0.0, 0.01]]), 0.05, slots=[0])[0]


def test_outside_arena(world, wall_course):
    world.set_course(0, wall_course)
    world.set_course(1, wall_course)
    positions = np.array([[0.0, 0.0, 1.0], [4.5, 0.0, 1.0], [0.0, 0.0, 99.0]])
    # Slot 2 is empty: no arena, never outside.
    np.testing.assert_array_equal(world.outside_arena(positions), [False, True, False])


def test_clearance(wall_course):
    with World(1) as world:
        world.set_course(0, wall_course)
        np.testing.assert_allclose(world.clearance(np.array([[0.5, 0.0, 1.0], [1.1, 0.0, 1.0]])[:1]), [0.5], atol=1e-6)
        assert world.clearance(np.array([[1.1, 0.0, 1.0]]))[0] == pytest.approx(-0.1, abs=1e-6)


def test_bad_inputs():
    with pytest.raises(ValueError, match="backend"):
        World(1, backend="magic")
    with World(2) as world, pytest.raises(ValueError, match="slots="):
        world.ray_distances(np.zeros((1, 1, 3)), np.ones((1, 1, 3)), 4.0)


def _random_setup(seed: int, n_slots: int = 8, n_rays: int = 64):
    rng = np.random.default_rng(seed)
    courses = [random_course(rng, n_obstacles=12) for _ in range(n_slots)]
    origins = rng.uniform([-2.5, -2.5, 0.05], [2.5, 2.5, 3.5], (n_slots, n_rays, 3))
    directions = rng.normal(size=(n_slots, n_rays, 3))
    return courses, origins, directions


def test_backends_agree_on_random_rays():
    courses, o, d = _random_setup(seed=1)
    n, r = o.shape[:2]
    with World(n, backend="analytic") as fast, World(n, backend="pybullet") as ref:
        for i, c in enumerate(courses):
            fast.set_course(i, c)
            ref.set_course(i, c)
        a = fast.ray_distances(o, d, 4.0)
        b = ref.ray_distances(o, d, 4.0)
        slots = np.repeat(np.arange(n), r)
        inside = fast.clearance(o.reshape(-1, 3), slots).reshape(n, r) < 0.0
        # Rays that graze an edge flip between hit and miss under a 1 mm nudge; PyBullet's 1 mm collision
        # margin decides those differently, so compare only rays whose answer is stable.
        stable = np.ones_like(a, dtype=bool)
        for shift in np.eye(3) * 1e-3:
            for sign in (-1, 1):
                stable &= np.abs(fast.ray_distances(o + sign * shift, d, 4.0) - a) < 5e-3
    keep = stable & ~inside
    assert keep.mean() > 0.8
    hits = keep & (a < 4.0)
    assert hits.sum() > 100 and (keep & (a == 4.0)).sum() > 20  # both hits and misses are compared
    err = np.abs(a - b)[keep]
    # PyBullet inflates shapes by its ~1 mm margin (up to a few mm along an oblique ray).
    assert np.mean(err < 1e-3) > 0.98, np.sort(err)[-10:]
    assert err.max() < 5e-3, np.sort(err)[-10:]


def test_backends_agree_on_collisions():
    courses, o, _ = _random_setup(seed=2, n_rays=100)
    n = len(courses)
    positions = o.reshape(-1, 3)
    slots = np.repeat(np.arange(n), o.shape[1])
    with World(n, backend="analytic") as fast, World(n, backend="pybullet") as ref:
        for i, c in enumerate(courses):
            fast.set_course(i, c)
            ref.set_course(i, c)
        a = fast.collisions(positions, 0.1, slots)
        b = ref.collisions(positions, 0.1, slots)
        clear = fast.clearance(positions, slots)
    decisive = np.abs(clear - 0.1) > 3e-3
    assert a[decisive].sum() > 20 and (~a[decisive]).sum() > 20
    np.testing.assert_array_equal(a[decisive], b[decisive])


@pytest.mark.parametrize("backend", BACKENDS)
def test_benchmark_runs(backend):
    result = benchmark_rays(n_drones=4, n_rays=5, n_obstacles=5, backend=backend, repeats=2)
    assert set(result) == {"us_per_ray", "us_per_collision", "ms_per_set_course"}
    assert all(v > 0 for v in result.values())


def test_many_rays_are_chunked():
    # More rays than PyBullet takes per rayTestBatch call.
    with World(1, backend="pybullet") as world:
        d = np.tile([[[0.0, 0.0, -1.0]]], (1, 20000, 1))
        o = np.tile([[[0.0, 0.0, 1.5]]], (1, 20000, 1))
        np.testing.assert_allclose(world.ray_distances(o, d, 4.0), 1.5, atol=1e-6)
