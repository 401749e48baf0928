import json
import math
from pathlib import Path

import pytest

from tinyrl.errors import ConfigError
from tinyrl.sim.course import Box, Course, Cylinder, course_bounds, courses_from_data, load_courses, save_courses

DATA = Path(__file__).parent.parent / "data" / "courses"


def test_load_fixture_courses():
    courses = load_courses(DATA / "two_courses.json")
    assert len(courses) == 2
    first, second = courses
    assert isinstance(first.obstacles[0], Cylinder) and isinstance(first.obstacles[1], Box)
    assert first.obstacles[1].yaw_rad == 0.4
    assert first.light is None
    assert second.light is not None and second.light.intensity == 2.5
    assert second.start.yaw_rad == math.pi / 4


def test_single_course_yaml():
    (course,) = load_courses(DATA / "single_course.yaml")
    assert course.obstacles[0].xyz == (1.1, 0.0, 1.5)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_round_trip_is_exact(tmp_path, suffix):
    courses = load_courses(DATA / "two_courses.json")
    # Floats that are not short decimals must survive too.
    odd = courses[0].model_copy(update={"start": courses[0].start.model_copy(update={"yaw_rad": 0.1 + 0.2})})
    courses = [odd, courses[1]]
    path = tmp_path / f"out{suffix}"
    save_courses(path, courses)
    again = load_courses(path)
    assert again == courses
    assert [c.to_dict() for c in again] == [c.to_dict() for c in courses]
    assert again[0].start.yaw_rad == 0.1 + 0.2


def test_save_single_course_bare(tmp_path):
    course = load_courses(DATA / "two_courses.json")[1]
    save_courses(tmp_path / "one.json", course)
    data = json.loads((tmp_path / "one.json").read_text())
    assert "courses" not in data and data["light"]["intensity"] == 2.5
    assert Course.from_dict(data) == course


def test_to_dict_omits_missing_light():
    course = load_courses(DATA / "two_courses.json")[0]
    assert "light" not in course.to_dict()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bad_syntax.json", "bad_syntax.json: invalid JSON at line 2"),
        ("missing_field.json", "missing_field.json: courses[0].goal.radius_m: Field required"),
        (
            "negative_radius.json",
            "negative_radius.json: courses[0].obstacles[1].radius_m: Input should be greater than 0",
        ),
        ("unknown_type.json", "unknown_type.json: obstacles[0]: Input tag 'sphere'"),
        ("goal_outside.json", "goal_outside.json: goal: goal xyz [3.5, 0.0, 1.0] is outside the arena"),
    ],
)
def test_malformed_files_name_the_field(name, expected):
    with pytest.raises(ConfigError) as info:
        load_courses(DATA / name)
    message = str(info.value)
    assert message.startswith(str(DATA / name)[: -len(name)])
    assert expected in message, message
    assert "\n" not in message


GOOD = {
    "arena": {"x": [-3, 3], "y": [-2, 2], "z": [0, 2.5]},
    "start": {"xyz": [-2.5, 0, 1]},
    "goal": {"xyz": [2.5, 0, 1], "radius_m": 0.3},
}


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"arena": {"x": [3, -3], "y": [-2, 2], "z": [0, 2.5]}}, "arena.x: min 3.0 must be less than max -3.0"),
        ({"start": {"xyz": [0, 0]}}, "start.xyz[2]: Field required"),
        ({"start": {"xyz": [0, 0, "1"]}}, "start.xyz[2]: Input should be a valid number"),
        ({"start": {"xyz": [0, 0, float("nan")]}}, "start.xyz[2]: Input should be a finite number"),
        ({"start": {"xyz": [0, 9, 1]}}, "start: start xyz [0.0, 9.0, 1.0] is outside the arena"),
        ({"goal": {"xyz": [0, 0, 1], "radius_m": 0}}, "goal.radius_m: Input should be greater than 0"),
        (
            {"obstacles": [{"type": "box", "xyz": [0, 0, 1], "half_extents_m": [1, -1, 1]}]},
            "obstacles[0].half_extents_m[1]",
        ),
        ({"obstacles": [{"xyz": [0, 0, 1], "radius_m": 1, "height_m": 1}]}, "obstacles[0]: Unable to extract tag"),
        (
            {"obstacles": [{"type": "cylinder", "xyz": [0, 0, 1], "radius_m": 1}]},
            "obstacles[0].height_m: Field required",
        ),
        ({"light": {"xyz": [0, 0, 1], "intensity": -1}}, "light.intensity: Input should be greater than 0"),
        ({"wind": 3}, "wind: Extra inputs are not permitted"),
        # Limits that keep a hostile file from allocating terabytes or looping for hours.
        ({"arena": {"x": [-1e6, 1e6], "y": [-2, 2], "z": [0, 2.5]}}, "arena.x[0]: Input should be greater than"),
        ({"arena": {"x": [-300, 300], "y": [-2, 2], "z": [0, 2.5]}}, "arena.x: spans 600.0 m, over the 100.0 m limit"),
        (
            {"obstacles": [{"type": "cylinder", "xyz": [0, 0, 1], "radius_m": 1e9, "height_m": 1}]},
            "obstacles[0].radius_m: Input should be less than or equal to 100",
        ),
        (
            {"obstacles": [{"type": "cylinder", "xyz": [0, 0, 1], "radius_m": 0.1, "height_m": 1}] * 5001},
            "obstacles: List should have at most 5000 items",
        ),
    ],
)
def test_field_errors(patch, expected):
    with pytest.raises(ConfigError) as info:
        Course.from_dict({**GOOD, **patch}, "c.json")
    assert str(info.value).startswith("c.json: ")
    assert expected in str(info.value), str(info.value)


def test_top_level_must_be_object():
    with pytest.raises(ConfigError, match=r"x\.json: <root>"):
        courses_from_data([1, 2], "x.json")
    with pytest.raises(ConfigError, match="courses: List should have at least 1 item"):
        courses_from_data({"courses": []}, "x.json")


def test_course_bounds_cover_obstacles():
    course = load_courses(DATA / "two_courses.json")[0]
    lo, hi = course_bounds(course)
    assert lo.tolist() == [-3.0, -2.0, 0.0] and hi.tolist() == [3.0, 2.0, 2.5]
