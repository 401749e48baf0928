"""Unfair courses (start inside an obstacle, start at the goal) are refused before they are flown, and shown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tinyrl.errors import ConfigError
from tinyrl.sim.course import Course, save_courses
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.course_checks import check_courses, course_problems, load_flyable_courses

ROOT = Path(__file__).resolve().parents[2]
BASE = {
    "arena": {"x": [-3, 3], "y": [-2, 2], "z": [0, 2.5]},
    "start": {"xyz": [-2.5, 0, 1]},
    "goal": {"xyz": [2.5, 0, 1], "radius_m": 0.3},
}
PILLAR_AT_START = {"type": "cylinder", "xyz": [-2.5, 0.05, 1], "radius_m": 0.2, "height_m": 2}


def course(**patch: object) -> Course:
    return Course.from_dict({**BASE, **patch})


def test_a_fair_course_has_no_problems():
    assert course_problems(course(), 0.07) == []


def test_a_start_inside_an_obstacle_is_a_problem():
    (problem,) = course_problems(course(obstacles=[PILLAR_AT_START]), 0.07)
    assert "the start is inside an obstacle" in problem


def test_a_start_grazing_an_obstacle_counts_with_the_drone_radius():
    near = {"type": "cylinder", "xyz": [-2.5, 0.25, 1], "radius_m": 0.2, "height_m": 2}  # 5 cm from the start
    assert course_problems(course(obstacles=[near]), 0.04) == []
    assert "inside an obstacle" in course_problems(course(obstacles=[near]), 0.07)[0]


def test_a_start_at_the_goal_is_a_problem_except_for_hovering():
    at_goal = course(goal={"xyz": [-2.4, 0, 1], "radius_m": 0.3})
    assert "already at the goal" in course_problems(at_goal, 0.07)[0]
    assert course_problems(at_goal, 0.07, reaching=False) == []
    check_courses([at_goal], load_scenario("hover"), "h.json")  # a hover goal is its start
    with pytest.raises(ConfigError, match=r"o\.json: course 0: the start is already at the goal"):
        check_courses([at_goal], load_scenario("obstacle-course"), "o.json")


def test_the_error_names_the_file_and_the_courses(tmp_path):
    path = tmp_path / "bad.json"
    save_courses(path, [course(), course(obstacles=[PILLAR_AT_START]), *[course(obstacles=[PILLAR_AT_START])] * 4])
    with pytest.raises(ConfigError) as info:
        load_flyable_courses(path, load_scenario("obstacle-course"))
    message = str(info.value)
    assert message.startswith(f"{path}: course 1: the start is inside an obstacle")
    assert "course 3" in message and "(and 2 more)" in message and "course 0" not in message


def test_the_handmade_courses_are_fair():
    load_flyable_courses(ROOT / "envs" / "courses" / "handmade.json", load_scenario("obstacle-course"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    # A wide terminal keeps rich from wrapping table cells; the timeout is a hang guard only.
    env = {**os.environ, "COLUMNS": "400"}
    return subprocess.run(
        [sys.executable, "-m", "tinyrl", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=env,
        timeout=600,
    )


def test_eval_refuses_and_courses_show_flags_an_unfair_course(tmp_path):
    path = tmp_path / "inside.json"
    path.write_text(json.dumps({**BASE, "obstacles": [PILLAR_AT_START]}))
    flown = run("eval", "policies/obstacle-course", "--courses", str(path), "--episodes", "2")
    assert flown.returncode == 2 and "course 0: the start is inside an obstacle" in flown.stderr
    assert flown.stdout == ""  # nothing flown
    shown = run("courses", "show", str(path))
    assert shown.returncode == 0
    assert "the start is inside an obstacle" in shown.stdout
    assert "1 course(s) cannot be flown fairly" in " ".join(shown.stderr.split())
