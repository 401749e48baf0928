"""Courses that cannot be flown fairly, found before they are flown or shown.

A start inside an obstacle makes every episode a collision; a start already at the goal makes every episode of a
reaching task a success. Hand-made and shared course files are checked; generated ones are fine by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tinyrl.errors import ConfigError
from tinyrl.sim import geometry
from tinyrl.sim.course import Course, load_courses
from tinyrl.tasks.config import ScenarioConfig

#: The task whose success is holding the start point, so its goal is the start.
HOLD_TASK = "hover"

#: Problems listed in one error before the rest are counted.
_SHOWN = 3


def course_problems(course: Course, radius_m: float, reaching: bool = True) -> list[str]:
    """What makes ``course`` unfair for a drone of ``radius_m`` (m): empty when it is fine.

    ``reaching``: success means reaching the goal (not holding the start, as hovering does), so a start at the
    goal is a problem.
    """
    problems = []
    packed = geometry.PackedObstacles(1)
    packed.set_course(0, course)
    start = np.asarray(course.start.xyz, dtype=float)
    clearance_m = float(geometry.clearance(packed, np.zeros(1, dtype=np.intp), start[None, :])[0])
    if clearance_m < radius_m:
        problems.append(f"the start is inside an obstacle (clearance {clearance_m:.3f} m < drone radius {radius_m} m)")
    to_goal_m = float(np.linalg.norm(start - np.asarray(course.goal.xyz, dtype=float)))
    if reaching and to_goal_m <= course.goal.radius_m:
        problems.append(f"the start is already at the goal ({to_goal_m:.3f} m <= goal radius {course.goal.radius_m} m)")
    return problems


def check_courses(courses: Sequence[Course], config: ScenarioConfig, source: str) -> None:
    """Raise :class:`ConfigError` naming the courses of ``source`` that :func:`course_problems` finds unfair.

    A scenario whose success is holding the start (``task: hover``) may start at its goal.
    """
    radius_m = config.drone.drone.collision_radius_m
    reaching = config.task != HOLD_TASK
    found = [(i, p) for i, course in enumerate(courses) for p in course_problems(course, radius_m, reaching)]
    if found:
        shown = "; ".join(f"course {i}: {p}" for i, p in found[:_SHOWN])
        more = f" (and {len(found) - _SHOWN} more)" if len(found) > _SHOWN else ""
        raise ConfigError(f"{source}: {shown}{more}")


def load_flyable_courses(path: str | Path, config: ScenarioConfig) -> list[Course]:
    """Load a course file and refuse it if any course is unfair for ``config``'s drone (:func:`check_courses`)."""
    courses = load_courses(path)
    check_courses(courses, config, str(path))
    return courses
