import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from independent_path import distance_to_obstacles, find_free_path

from tinyrl.config import validate
from tinyrl.errors import ConfigError
from tinyrl.sim import geometry
from tinyrl.sim.course import Box, Course, Cylinder, load_courses
from tinyrl.tasks import generator
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.generator import (
    DEFAULT_DIFFICULTIES,
    CourseGeneratorConfig,
    free_grid,
    generate_course,
    generate_courses,
    has_free_path,
)

CONFIG = CourseGeneratorConfig()
RADIUS_M = CONFIG.collision_radius_m
N_SEEDS = 1000

# The free-path guarantee is checked with tests/tasks/independent_path.py, which shares no code with the generator:
# a path keeping RADIUS_M + CHECK_MARGIN_M on its own grid of CHECK_CELL_M cells. The generator promises a path
# keeping RADIUS_M + path_margin_m; any such path crosses grid cells whose centres keep CHECK_MARGIN_M plus a cell
# diagonal more than the drone needs, which the check's grid counts as free, so it finds a path whenever the promise
# holds (the margin relation is asserted in test_independent_check_resolves_the_promised_margin).
CHECK_CELL_M = 0.0175
CHECK_MARGIN_M = 0.005
N_CHECKED = 100  # courses per difficulty (~50 ms each); the other properties are checked on all N_SEEDS


def _blocked(courses: list[Course], radius_m: float = RADIUS_M) -> list[int]:
    """Indices of the courses the independent check finds no free path in."""
    return [i for i, c in enumerate(courses) if find_free_path(c, radius_m, CHECK_MARGIN_M, CHECK_CELL_M) is None]


@pytest.fixture(scope="module", params=sorted(DEFAULT_DIFFICULTIES))
def course_set(request):
    """1,000 courses per difficulty (one seed each, from one set seed): ~1-3 ms a course."""
    return request.param, generate_courses(CONFIG, request.param, N_SEEDS, seed=2024)


def test_every_generated_course_has_a_free_path(course_set):
    difficulty, courses = course_set
    assert len(courses) == N_SEEDS
    blocked = _blocked(courses[:N_CHECKED])
    assert blocked == [], f"{difficulty}: courses without a free path: {blocked[:10]}"


def test_independent_check_resolves_the_promised_margin():
    """The check's grid is fine enough for the margin the generator promises (see CHECK_CELL_M)."""
    assert CHECK_MARGIN_M + math.sqrt(2) * CHECK_CELL_M <= CONFIG.path_margin_m


def _crowded_config() -> CourseGeneratorConfig:
    """So dense that random draws are nearly always blocked; one draw, then the generator must open a path."""
    level = DEFAULT_DIFFICULTIES["medium"].model_copy(update={"obstacle_density_per_m2": 6.0})
    return CourseGeneratorConfig(max_attempts=1, difficulties={"crowded": level}, default_difficulty="crowded")


def _thin_drone_check(course: Course, radius_m: float, margin_m: float = 0.0, *args, **kwargs) -> bool:
    """The generator's path check, for a drone 1 cm across instead of the real one."""
    return has_free_path(course, 0.005, 0.0, *args, **kwargs)


@pytest.mark.parametrize(
    "broken_check",
    [pytest.param(lambda *args, **kwargs: True, id="no-path-check"), pytest.param(_thin_drone_check, id="thin-drone")],
)
def test_independent_check_catches_a_generator_with_a_broken_path_check(monkeypatch, broken_check):
    """A generator whose own path check is broken ships blocked courses, and the independent check finds them."""
    config = _crowded_config()
    assert _blocked(generate_courses(config, "crowded", 20, seed=0)) == []
    monkeypatch.setattr(generator, "has_free_path", broken_check)
    blocked = _blocked(generate_courses(config, "crowded", 20, seed=0))
    assert blocked, "the independent check passed every course of a generator that no longer checks its paths"


def test_independent_check_on_hand_made_courses():
    """The independent check itself: open, walled, gapped, fenced courses, with the answers known by construction."""
    wall = {"type": "box", "xyz": [0, 0, 1], "half_extents_m": [0.05, 2.0, 1.0], "yaw_rad": 0.3}
    fence = [{"type": "cylinder", "xyz": [0, y, 1], "radius_m": 0.1, "height_m": 2} for y in np.arange(-1.5, 1.6, 0.25)]
    sparse = [{"type": "cylinder", "xyz": [0, y, 1], "radius_m": 0.1, "height_m": 2} for y in np.arange(-1.5, 1.6, 0.5)]
    free = [_course(), _course(_wall_piece(-1.5, 0.2), _wall_piece(0.8, 1.5)), _course(*sparse)]
    blocked = [
        _course(_wall_piece(-1.5, 1.5)),
        _course(_wall_piece(-1.5, 0.2), _wall_piece(0.3, 1.5)),
        _course(wall),
        _course(*fence),
        _course({"type": "cylinder", "xyz": [-2.5, 0, 1], "radius_m": 0.2, "height_m": 2}),
    ]
    assert _blocked(free) == [] and _blocked(blocked) == list(range(len(blocked)))
    # Through the 0.6 m gap at y in [0.2, 0.8]: the path crosses the wall's plane inside the gap.
    path = find_free_path(free[1], RADIUS_M, CHECK_MARGIN_M, CHECK_CELL_M)
    assert path is not None
    crossing = path[np.argmin(np.abs(path[:, 0]))]
    assert 0.2 + RADIUS_M <= crossing[1] <= 0.8 - RADIUS_M


def test_independent_distances_by_hand():
    """Distances the check measures, worked out by hand: a pillar, a box yawed a quarter turn, one yawed 30 degrees."""
    yaw = math.pi / 6
    course = _course(
        {"type": "cylinder", "xyz": [-1, 0, 1], "radius_m": 0.2, "height_m": 2},
        {"type": "box", "xyz": [1, 0, 0.5], "half_extents_m": [0.5, 0.1, 0.5], "yaw_rad": math.pi / 2},
        {"type": "box", "xyz": [1, -1.2, 0.5], "half_extents_m": [0.5, 0.1, 0.5], "yaw_rad": yaw},
    )
    points = np.array(
        [
            [-1, 0.5, 1.0],  # 0.3 m beside the pillar
            [-1, 0.0, 2.4],  # 0.4 m above it
            [-1, 0.05, 1.0],  # inside it, 0.15 m from its side
            [1.5, 0.0, 0.5],  # the quarter-turned box is 0.2 m wide along x now: 0.4 m beyond its face
            [1.0, 0.8, 0.5],  # and 1 m long along y: 0.3 m past its end
            [1.3, 0.8, 1.4],  # off an edge: 0.2 m in x, 0.3 m in y, 0.4 m in z
            [1 + 0.8 * math.cos(yaw), -1.2 + 0.8 * math.sin(yaw), 0.5],  # 0.3 m past the 30-degree box's end
        ]
    )
    expected = [0.3, 0.4, -0.15, 0.4, 0.3, math.sqrt(0.2**2 + 0.3**2 + 0.4**2), 0.3]
    np.testing.assert_allclose(distance_to_obstacles(course, points), expected, atol=1e-12)


def test_generated_courses_are_valid(course_set):
    difficulty, courses = course_set
    level = CONFIG.difficulties[difficulty]
    area_m2 = level.arena_size_m[0] * level.arena_size_m[1]
    packed = geometry.PackedObstacles(len(courses))
    for i, course in enumerate(courses):
        assert Course.from_dict(course.to_dict()) == course  # passes schema validation, round-trips
        packed.set_course(i, course)
    ends = {"start": np.array([c.start.xyz for c in courses]), "goal": np.array([c.goal.xyz for c in courses])}
    for name, xyz in ends.items():
        # Not inside an obstacle, and the clear zone holds (float32 geometry: allow 1 mm).
        assert (geometry.clearance(packed, None, xyz) >= CONFIG.clear_zone_m - 1e-3).all(), name
    n_obstacles = np.array([len(c.obstacles) for c in courses])
    assert n_obstacles.mean() >= 0.9 * round(level.obstacle_density_per_m2 * area_m2)
    assert all(c.arena.x[1] - c.arena.x[0] == level.arena_size_m[0] for c in courses)
    assert all(c.light is None for c in courses)


def test_same_seed_gives_identical_course():
    for difficulty in DEFAULT_DIFFICULTIES:
        a = generate_course(CONFIG, difficulty, seed=11)
        b = generate_course(CONFIG, difficulty, seed=11)
        assert a == b and a.to_dict() == b.to_dict()


def test_different_seeds_give_different_courses():
    courses = [generate_course(CONFIG, "medium", seed=s) for s in range(20)]
    assert len({json.dumps(c.to_dict()) for c in courses}) == 20


def test_course_i_does_not_depend_on_n():
    few = generate_courses(CONFIG, "hard", 3, seed=5)
    many = generate_courses(CONFIG, "hard", 12, seed=5)
    assert many[:3] == few
    assert generate_courses(CONFIG, "hard", 3, seed=6) != few
    # Course i is reproducible on its own from the set seed.
    assert generate_course(CONFIG, "hard", np.random.SeedSequence(5).spawn(3)[2]) == few[2]


def test_default_difficulty_and_unknown_difficulty():
    assert generate_course(CONFIG, None, seed=3) == generate_course(CONFIG, "medium", seed=3)
    with pytest.raises(ConfigError, match="'insane' is not one of easy, hard, medium"):
        generate_course(CONFIG, "insane", seed=0)


def test_light_at_goal():
    config = CourseGeneratorConfig(light=True, light_intensity=2.0)
    course = generate_course(config, "easy", seed=1)
    assert course.light is not None and course.light.xyz == course.goal.xyz and course.light.intensity == 2.0


def test_walls_have_gaps_of_the_configured_width():
    course = generate_course(CONFIG, "hard", seed=4)
    walls = [o for o in course.obstacles if isinstance(o, Box) and o.half_extents_m[0] == CONFIG.walls.thickness_m / 2]
    xs = sorted({w.xyz[0] for w in walls})
    assert len(xs) == CONFIG.difficulties["hard"].n_walls
    for x in xs:
        pieces = sorted(
            (w.xyz[1] - w.half_extents_m[1], w.xyz[1] + w.half_extents_m[1]) for w in walls if w.xyz[0] == x
        )
        edges = [course.arena.y[0], *[v for p in pieces for v in p], course.arena.y[1]]
        openings = [hi - lo for lo, hi in zip(edges[::2], edges[1::2], strict=True) if hi - lo > 1e-6]
        assert openings and min(openings) >= CONFIG.difficulties["hard"].gap_width_m - 1e-3


def test_crowded_course_falls_back_to_removing_obstacles():
    courses = generate_courses(_crowded_config(), "crowded", 20, seed=0)
    assert _blocked(courses) == []
    assert min(len(c.obstacles) for c in courses) > 0


# -- has_free_path on hand-made courses --------------------------------------------------------------------

ARENA = {"x": [-3, 3], "y": [-1.5, 1.5], "z": [0, 2.5]}


def _course(*obstacles, start_z=1.0, goal_z=1.0):
    return Course.from_dict(
        {
            "arena": ARENA,
            "start": {"xyz": [-2.5, 0, start_z]},
            "goal": {"xyz": [2.5, 0, goal_z], "radius_m": 0.3},
            "obstacles": list(obstacles),
        }
    )


def _wall_piece(y_lo, y_hi, x=0.0, height=2.0):
    return {
        "type": "box",
        "xyz": [x, (y_lo + y_hi) / 2, height / 2],
        "half_extents_m": [0.05, (y_hi - y_lo) / 2, height / 2],
    }


def test_full_wall_blocks_and_a_gap_opens():
    assert has_free_path(_course(), RADIUS_M)
    assert not has_free_path(_course(_wall_piece(-1.5, 1.5)), RADIUS_M)
    # A 0.6 m gap at y in [0.2, 0.8].
    assert has_free_path(_course(_wall_piece(-1.5, 0.2), _wall_piece(0.8, 1.5)), RADIUS_M)
    # A 0.1 m gap is narrower than the drone.
    assert not has_free_path(_course(_wall_piece(-1.5, 0.2), _wall_piece(0.3, 1.5)), RADIUS_M)


def test_yawed_wall_and_cylinder_fence():
    # A wall yawed 0.3 rad long enough to span the arena still blocks.
    wall = {"type": "box", "xyz": [0, 0, 1], "half_extents_m": [0.05, 2.0, 1.0], "yaw_rad": 0.3}
    assert not has_free_path(_course(wall), RADIUS_M)
    # Pillars 0.25 m apart (surface to surface 0.05 m) block; 0.5 m apart do not.
    fence = [{"type": "cylinder", "xyz": [0, y, 1], "radius_m": 0.1, "height_m": 2} for y in np.arange(-1.5, 1.6, 0.25)]
    assert not has_free_path(_course(*fence), RADIUS_M)
    sparse = [{"type": "cylinder", "xyz": [0, y, 1], "radius_m": 0.1, "height_m": 2} for y in np.arange(-1.5, 1.6, 0.5)]
    assert has_free_path(_course(*sparse), RADIUS_M)


def test_height_band_matters():
    low_wall = _wall_piece(-1.5, 1.5, height=0.5)  # top at 0.5 m
    assert has_free_path(_course(low_wall), RADIUS_M)  # flown over at 1 m
    assert not has_free_path(_course(low_wall), RADIUS_M, z_band_m=(0.3, 1.0))
    # Start low and goal high: the drone would have to pass the wall's height, so the whole band must clear.
    assert not has_free_path(_course(low_wall, start_z=0.4, goal_z=1.0), RADIUS_M)


def test_start_inside_obstacle_has_no_path():
    pillar = {"type": "cylinder", "xyz": [-2.5, 0, 1], "radius_m": 0.2, "height_m": 2}
    assert not has_free_path(_course(pillar), RADIUS_M)


def test_free_grid_matches_brute_force_clearance():
    # The windowed grid must equal testing every cell against every obstacle.
    for seed in range(5):
        course = generate_course(CONFIG, "hard", seed=seed)
        free, x_m, y_m = free_grid(course, RADIUS_M, 0.03)
        gx, gy = np.meshgrid(x_m, y_m, indexing="ij")
        points = np.stack((gx.ravel(), gy.ravel(), np.full(gx.size, course.start.xyz[2])), axis=1)
        packed = geometry.PackedObstacles(1)
        packed.set_course(0, course)
        clear = geometry.clearance(packed, np.zeros(len(points), dtype=np.intp), points)
        slack = math.hypot(x_m[1] - x_m[0], y_m[1] - y_m[0]) / 2
        expected = (clear >= RADIUS_M + 0.03 + slack).reshape(free.shape)
        assert np.array_equal(free, expected)
        assert {type(o) for o in course.obstacles} == {Box, Cylinder}


# -- configuration ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"pillars": {"radius_m": [0.3, 0.1]}}, "pillars.radius_m"),
        ({"pillars": {"radius": [0.1, 0.2]}}, "pillars.radius"),
        ({"goal_radius_m": -1}, "goal_radius_m"),
        (
            {"difficulties": {"hard": {"arena_size_m": [8, 4, 2.5], "obstacle_density_per_m2": 1, "gap_width_m": 0.2}}},
            "hard.gap_width_m",
        ),
        (
            {"difficulties": {"x": {"arena_size_m": [8, 4], "obstacle_density_per_m2": 1}}},
            "difficulties.x.arena_size_m",
        ),
        ({"default_difficulty": "extreme"}, "default_difficulty"),
    ],
)
def test_bad_config_names_the_field(data, field):
    with pytest.raises(ConfigError) as info:
        validate(CourseGeneratorConfig, data, "gen.yaml")
    assert str(info.value).startswith("gen.yaml: ") and field in str(info.value), str(info.value)


# -- command line -------------------------------------------------------------------------------------------


def _tinyrl(*args, cwd):
    return subprocess.run([sys.executable, "-m", "tinyrl", *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_cli_generate_and_show(tmp_path):
    out = tmp_path / "courses.json"
    run = _tinyrl(
        "courses",
        "generate",
        "--env",
        "obstacle-course",
        "--n",
        "25",
        "--seed",
        "7",
        "-o",
        str(out),
        "--difficulty",
        "hard",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    courses = load_courses(out)
    assert courses == generate_courses(load_scenario("obstacle-course").course_generator, "hard", 25, seed=7)
    png = tmp_path / "courses.png"
    show = _tinyrl("courses", "show", str(out), "--plot", str(png), "--max-plots", "6", cwd=tmp_path)
    assert show.returncode == 0, show.stderr
    assert "24" in show.stdout and "yes" in show.stdout and " no " not in show.stdout
    assert png.stat().st_size > 10_000


def test_cli_env_errors(tmp_path):
    (tmp_path / "envs").mkdir()
    scenario = (Path(__file__).parents[2] / "envs" / "obstacle-course.yaml").read_text()
    (tmp_path / "envs" / "custom.yaml").write_text(
        scenario.replace("course_generator:\n", "course_generator:\n  gap: 1\n")
    )
    bad = _tinyrl("courses", "generate", "--env", "custom", "-o", "x.json", cwd=tmp_path)
    assert bad.returncode == 2 and "course_generator.gap: Extra inputs are not permitted" in bad.stderr
    unknown = _tinyrl("courses", "generate", "--env", "nope", "-o", "x.json", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown env 'nope'; available:" in unknown.stderr
    assert "custom" in unknown.stderr and "obstacle-course" in unknown.stderr
    assert not (tmp_path / "x.json").exists()
