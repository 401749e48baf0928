"""Task rules: what makes an episode of each task a success, and where its goal is.

A scenario's ``task`` picks one rule from :data:`TASK_RULES`, once; the batched task then asks it without
knowing which task it flies. A new task is a new entry there (and in
:data:`~tinyrl.tasks.config.TaskName`), not a new branch in the task.

* Hover (:class:`HoverRule`): the goal is the start point (after any start jitter); an episode succeeds when
  the drone stays within ``hover_tolerance_m`` of it from ``hover_settle_s`` on until the time limit; being
  near the goal never ends an episode early.
* Reaching tasks, obstacle course and source seeking (:class:`ReachRule`): the goal is the course's; an episode
  succeeds, and ends, as soon as the drone is within the goal's radius.

Collisions and leaving the arena end every task's episode and are never a success.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np

from tinyrl.sim.course import Course

if TYPE_CHECKING:
    from tinyrl.tasks.config import ScenarioConfig


class TaskRule(Protocol):
    """The task-specific part of N drones' episodes; it may keep per-drone state between steps."""

    #: The goal is the course's goal, so progress may be measured along the course's geodesic distance field.
    goal_is_course_goal: bool

    def goal_m(self, course: Course, start_m: np.ndarray) -> np.ndarray:
        """The goal ``(3,)`` (m, world) of an episode on ``course`` starting at ``start_m`` ``(3,)``."""
        ...

    def reset(self, rows: np.ndarray) -> None:
        """Drones ``rows`` start new episodes."""
        ...

    def judge(
        self,
        steps: np.ndarray,
        goal_distance_m: np.ndarray,
        goal_radius_m: np.ndarray,
        timeout: np.ndarray,
        failed: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """After a step of all N drones: ``(success, reached)``, both ``(N,)`` bool; ``reached`` ends the episode.

        Args:
            steps: ``(N,)`` policy steps flown this episode, this one included.
            goal_distance_m: ``(N,)`` straight-line distance to the goal (m).
            goal_radius_m: ``(N,)`` radius of each course's goal (m).
            timeout: ``(N,)`` the episode has reached its step limit.
            failed: ``(N,)`` the drone collided or left the arena.
        """
        ...


class HoverRule:
    """Hover at the start point: success is staying within tolerance from the settle time to the time limit.

    Args:
        config: The scenario (``hover_tolerance_m``, ``hover_settle_s``, ``dt_s``).
        n: Number of drones.
    """

    goal_is_course_goal = False

    def __init__(self, config: ScenarioConfig, n: int) -> None:
        self.tolerance_m = config.hover_tolerance_m
        self.settle_s = config.hover_settle_s
        self.dt_s = config.dt_s
        #: ``(N,)`` largest distance from the hover point since the settle time, this episode (m).
        self.max_deviation_m: np.ndarray = np.zeros(n)

    def goal_m(self, course: Course, start_m: np.ndarray) -> np.ndarray:
        """The start point itself."""
        return start_m

    def reset(self, rows: np.ndarray) -> None:
        """Forget the episode's deviation."""
        self.max_deviation_m[rows] = 0.0

    def judge(
        self,
        steps: np.ndarray,
        goal_distance_m: np.ndarray,
        goal_radius_m: np.ndarray,
        timeout: np.ndarray,
        failed: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Success at the time limit if the deviation never exceeded the tolerance once settled; never reached."""
        settled = steps * self.dt_s >= self.settle_s
        self.max_deviation_m = np.where(
            settled, np.maximum(self.max_deviation_m, goal_distance_m), self.max_deviation_m
        )
        success = timeout & (self.max_deviation_m <= self.tolerance_m) & ~failed
        return success, np.zeros(len(steps), dtype=bool)


class ReachRule:
    """Reach the course's goal: success, ending the episode, on entering the goal's radius.

    Args:
        config: The scenario (unused: the goal and its radius come with each course).
        n: Number of drones.
    """

    goal_is_course_goal = True

    def __init__(self, config: ScenarioConfig, n: int) -> None:
        del config, n  # stateless: the registry builds every rule the same way

    def goal_m(self, course: Course, start_m: np.ndarray) -> np.ndarray:
        """The course's goal."""
        return np.asarray(course.goal.xyz, dtype=float)

    def reset(self, rows: np.ndarray) -> None:
        """Nothing to forget."""

    def judge(
        self,
        steps: np.ndarray,
        goal_distance_m: np.ndarray,
        goal_radius_m: np.ndarray,
        timeout: np.ndarray,
        failed: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Reached (and a success) within the goal radius, unless the same step failed."""
        reached = (goal_distance_m <= goal_radius_m) & ~failed
        return reached, reached


#: Rule of each ``task``, built with the scenario and the number of drones.
TASK_RULES: dict[str, Callable[[ScenarioConfig, int], TaskRule]] = {
    "hover": HoverRule,
    "obstacle-course": ReachRule,
    "source-seeking": ReachRule,
}


def task_rule(config: ScenarioConfig, n: int) -> TaskRule:
    """The rule of ``config.task`` for ``n`` drones.

    Raises:
        ValueError: No rule for that task.
    """
    try:
        make = TASK_RULES[config.task]
    except KeyError:
        raise ValueError(f"no task rule for task {config.task!r}; known: {sorted(TASK_RULES)}") from None
    return make(config, n)
