"""The course generator's ``arena_walls`` option: a room around the arena that the range sensors see."""

import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from independent_path import find_free_path

from tinyrl.config import validate
from tinyrl.errors import ConfigError
from tinyrl.sim import geometry
from tinyrl.sim.course import MAX_OBSTACLES, Box, Course, load_courses
from tinyrl.sim.sensors import Kinematics, MultiRanger, MultiRangerConfig
from tinyrl.sim.world import World
from tinyrl.tasks import generator
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.generator import (
    DEFAULT_DIFFICULTIES,
    N_ARENA_WALLS,
    CourseGeneratorConfig,
    free_grid,
    generate_course,
    generate_courses,
)
from tinyrl.tasks.geodesic import distance_field

CONFIG = CourseGeneratorConfig(arena_walls=True)
RADIUS_M = CONFIG.collision_radius_m
# The independent free-path check's grid and margin (see test_generator.py).
CHECK_CELL_M = 0.0175
CHECK_MARGIN_M = 0.005


def _room(course: Course) -> list[Box]:
    """The arena walls: the generator puts them after the walls across, before the scattered obstacles."""
    boxes = [o for o in course.obstacles if isinstance(o, Box)]
    return [b for b in boxes if not course.arena.contains((b.xyz[0], b.xyz[1], course.arena.z[0]))]


def _hash(config: CourseGeneratorConfig, n: int = 20, seed: int = 2024) -> str:
    digest = hashlib.sha256()
    for level in sorted(config.difficulties):
        digest.update(json.dumps([c.to_dict() for c in generate_courses(config, level, n, seed)]).encode())
    return digest.hexdigest()[:16]


# Hashes of the first 20 courses (seed 2024) of every level, made by the generator before it had ``arena_walls``:
# with the option off (the default) every course stays bit for bit what it was.
HASHES_BEFORE_ARENA_WALLS = {
    "hover": "6f0e6266dc47ad45",
    "obstacle-course": "aea6ae62e8f14873",
    "source-seeking": "30ebe7f9d5835427",
    "source-seeking-paper": "30ebe7f9d5835427",  # its generator with arena_walls off: the same as source-seeking's
}


@pytest.mark.parametrize("env", sorted(HASHES_BEFORE_ARENA_WALLS))
def test_arena_walls_off_changes_no_course(env):
    config = load_scenario(env).course_generator
    if env == "source-seeking-paper":  # the paper's recipe may fly in rooms (see its course_generator)
        config = config.model_copy(update={"arena_walls": False})
    assert _hash(config) == HASHES_BEFORE_ARENA_WALLS[env]


def test_arena_walls_draw_no_random_numbers(monkeypatch):
    """With every first draw accepted, a walled course is the unwalled course plus the four walls."""
    monkeypatch.setattr(generator, "has_free_path", lambda *args, **kwargs: True)
    for level in DEFAULT_DIFFICULTIES:
        for seed in range(10):
            walled = generate_course(CONFIG, level, seed)
            plain = generate_course(CourseGeneratorConfig(), level, seed)
            room = _room(walled)
            assert len(room) == N_ARENA_WALLS
            assert walled.model_copy(update={"obstacles": [o for o in walled.obstacles if o not in room]}) == plain


@pytest.fixture(scope="module", params=sorted(DEFAULT_DIFFICULTIES))
def walled_courses(request):
    return request.param, generate_courses(CONFIG, request.param, 40, seed=7)


def test_arena_walls_close_the_room_at_every_bearing(walled_courses):
    """From anywhere inside, a horizontal ray in any direction hits a wall no farther than the arena's edge."""
    _, courses = walled_courses
    bearings = np.linspace(0.0, 2 * math.pi, 720, endpoint=False)
    directions = np.stack((np.cos(bearings), np.sin(bearings), np.zeros_like(bearings)), axis=1)
    for course in courses:
        walls = _room(course)
        assert len(walls) == N_ARENA_WALLS
        packed = geometry.PackedObstacles(1)
        packed.set_course(0, course.model_copy(update={"obstacles": walls}))
        a = course.arena
        for xy in [course.start.xyz[:2], course.goal.xyz[:2], (a.x[0] + 0.01, a.y[1] - 0.01)]:
            origin = np.array([xy[0], xy[1], course.start.xyz[2]])
            # Distance along each ray to the arena's edge (the ray leaves the x slab or the y slab).
            with np.errstate(divide="ignore"):
                to_x = np.where(directions[:, 0] > 0, a.x[1] - xy[0], xy[0] - a.x[0]) / np.abs(directions[:, 0])
                to_y = np.where(directions[:, 1] > 0, a.y[1] - xy[1], xy[1] - a.y[0]) / np.abs(directions[:, 1])
            to_edge_m = np.minimum(to_x, to_y)
            hit_m = geometry.ray_distances(
                packed, np.zeros(1, dtype=np.intp), origin[None, None], directions[None], 50.0
            )
            np.testing.assert_allclose(hit_m[0], to_edge_m, atol=1e-3)
        assert all(b.xyz[2] + b.half_extents_m[2] >= a.z[1] - 1e-6 and b.xyz[2] == b.half_extents_m[2] for b in walls)


def test_start_and_goal_stay_reachable_and_clear(walled_courses):
    level, courses = walled_courses
    assert all(len(_room(c)) == N_ARENA_WALLS for c in courses)  # kept: no path was opened by removing them
    blocked = [i for i, c in enumerate(courses) if find_free_path(c, RADIUS_M, CHECK_MARGIN_M, CHECK_CELL_M) is None]
    assert blocked == [], f"{level}: courses without a free path: {blocked}"
    packed = geometry.PackedObstacles(len(courses))
    for i, course in enumerate(courses):
        assert Course.from_dict(course.to_dict()) == course
        packed.set_course(i, course)
    for name in ("start", "goal"):
        xyz = np.array([getattr(c, name).xyz for c in courses])
        assert (geometry.clearance(packed, None, xyz) >= CONFIG.clear_zone_m - 1e-3).all(), name


def _empty(arena_walls: bool) -> CourseGeneratorConfig:
    """The easy level without scattered obstacles: the arena walls are the course's only obstacles."""
    empty = DEFAULT_DIFFICULTIES["easy"].model_copy(update={"obstacle_density_per_m2": 0.0})
    return CourseGeneratorConfig(arena_walls=arena_walls, difficulties={"empty": empty}, default_difficulty="empty")


def test_rangers_see_the_arena_walls():
    """At the start, turned to face the -x end, the rangers read the distances to the room's walls."""
    walled, plain = generate_course(_empty(True), seed=5), generate_course(_empty(False), seed=5)
    exact = MultiRangerConfig(noise_std_m=0.0, rate_hz=None, rays_per_sensor=1)
    world = World(2, backend="analytic")
    world.set_course(0, walled)
    world.set_course(1, plain)
    ranger = MultiRanger(2, 0.01, exact)
    x, y, z = walled.start.xyz
    yaw = math.pi  # body +x along world -x, body +y (left) along world -y
    kin = Kinematics(
        position_m=np.array([[x, y, z], [x, y, z]]),
        quaternion_xyzw=np.array([[0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)]] * 2),
    )
    rng = np.random.default_rng(0)
    ranger.reset(None, world, kin, rng)
    ranges_m = ranger.step(world, kin, rng)
    a, far_m = walled.arena, exact.max_range_m
    # front, back, left, right, up
    expected = [x - a.x[0], min(a.x[1] - x, far_m), y - a.y[0], a.y[1] - y, far_m]
    np.testing.assert_allclose(ranges_m[0], expected, atol=1e-3)
    assert ranges_m[0, 0] == pytest.approx(CONFIG.start_margin_m, abs=1e-3)
    np.testing.assert_allclose(ranges_m[1], far_m)  # without the option nothing is in range
    world.close()


def test_free_grid_and_geodesic_see_the_walls():
    course = generate_course(CONFIG, "easy", seed=3)
    free, _, _ = free_grid(course, RADIUS_M)
    # The drone cannot hug the arena's edge any more: the outermost cells are inside the inflated walls.
    assert not free[0].any() and not free[-1].any() and not free[:, 0].any() and not free[:, -1].any()
    plain, _, _ = free_grid(course.model_copy(update={"obstacles": []}), RADIUS_M)
    assert plain.all()
    field = distance_field(course, RADIUS_M)
    start_m = float(field.lookup(np.array([course.start.xyz[:2]]))[0])
    straight_m = math.dist(course.start.xyz[:2], course.goal.xyz[:2])
    assert straight_m - 0.2 <= start_m <= 2 * straight_m  # reachable: a path's length, not the unreachable filler


def test_obstacle_limit_counts_the_arena_walls():
    # Density x area = MAX_OBSTACLES - 2 scattered obstacles fit alone but not with four arena walls.
    width_m, length_m = 20.0, 50.0
    level = {"arena_size_m": [length_m, width_m, 2.5], "obstacle_density_per_m2": (MAX_OBSTACLES - 2) / 1000}
    data = {"difficulties": {"dense": level}, "default_difficulty": "dense"}
    validate(CourseGeneratorConfig, data, "gen.yaml")
    with pytest.raises(ConfigError, match="arena walls"):
        validate(CourseGeneratorConfig, {**data, "arena_walls": True}, "gen.yaml")


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"start_margin_m": 0.3}, "start_margin_m 0.3"),
        ({"goal_margin_m": 0.3}, "goal_margin_m 0.3"),
        (
            {
                "difficulties": {"narrow": {"arena_size_m": [5, 0.8, 2.5], "obstacle_density_per_m2": 0}},
                "default_difficulty": "narrow",
            },
            "narrow.arena_size_m width / 2 0.4",
        ),
    ],
)
def test_arena_walls_too_close_to_start_or_goal_are_refused(data, named):
    validate(CourseGeneratorConfig, data, "gen.yaml")  # a valid config without the walls
    with pytest.raises(ConfigError, match="arena_walls") as info:
        validate(CourseGeneratorConfig, {**data, "arena_walls": True}, "gen.yaml")
    assert named in str(info.value)


def test_cli_generate_and_show_walled_courses(tmp_path):
    """``tinyrl courses generate / show`` of a scenario in a room: the paper's recipe (``arena_walls: true``)."""
    scenario = (Path(__file__).parents[2] / "envs" / "source-seeking-paper.yaml").read_text()
    (tmp_path / "envs").mkdir()
    room = tmp_path / "envs" / "room.yaml"
    room.write_text(scenario)
    out, png = tmp_path / "courses.json", tmp_path / "courses.png"
    run = [sys.executable, "-m", "tinyrl", "courses"]
    args = ["--env", "room", "--n", "4", "--seed", "7", "--difficulty", "easy", "-o", str(out)]
    gen = subprocess.run([*run, "generate", *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert gen.returncode == 0, gen.stderr
    config = load_scenario(room).course_generator
    assert config.arena_walls
    courses = load_courses(out)
    assert courses == generate_courses(config, "easy", 4, seed=7)
    assert all(len(_room(c)) == N_ARENA_WALLS for c in courses)
    show = subprocess.run(
        [*run, "show", str(out), "--plot", str(png)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert show.returncode == 0, show.stderr
    assert "yes" in show.stdout and " no " not in show.stdout
    assert png.stat().st_size > 10_000


def test_plot_shows_the_arena_walls():
    from tinyrl.common.plots import draw_course, pyplot

    plt = pyplot()
    course = generate_course(_empty(True), seed=1)
    fig, ax = plt.subplots()
    draw_course(ax, course, margin_m=0.0)
    thickness_m = CONFIG.walls.thickness_m
    np.testing.assert_allclose(ax.get_xlim(), (course.arena.x[0] - thickness_m, course.arena.x[1] + thickness_m))
    np.testing.assert_allclose(ax.get_ylim(), (course.arena.y[0] - thickness_m, course.arena.y[1] + thickness_m))
    plt.close(fig)
