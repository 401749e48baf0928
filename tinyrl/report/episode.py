"""Record one episode of a policy for replay: positions, heading and the four horizontal ranges, step by step.

The episode is flown exactly as :func:`tinyrl.common.evaluate.evaluate` flies one (domain randomization off, random
stream ``seed``, course ``index`` of the same list), so ``record_episode(policy, config, courses, j, seed + j)``
replays episode ``j`` of ``evaluate(policy, config, courses, seed=seed)``: same path, same outcome. Pass the whole
list, not ``[courses[j]]``: a reset draws its course from the episode's stream when the list holds more than one,
so a one-course list gives the episode different sensor noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tinyrl.common.evaluate import outcome_of
from tinyrl.common.policy import Policy, PolicyError
from tinyrl.sim.course import Course
from tinyrl.tasks.config import ScenarioConfig
from tinyrl.tasks.core import BatchedTask

__all__ = ["EpisodeRecording", "record_episode"]


@dataclass(frozen=True)
class EpisodeRecording:
    """One flown episode, sampled every policy step (``T`` steps, ``T + 1`` samples with the start).

    Attributes:
        course: The course flown.
        position_m: ``(T + 1, 3)`` drone positions (m, world frame).
        yaw_rad: ``(T + 1,)`` headings (rad).
        ranges_m: ``(T + 1, 5)`` multi-ranger readings front, back, left, right, up (m), as the drone held them.
        max_range_m: Range reading that means "nothing in range" (m).
        dt_s: Policy period (s).
        outcome: ``success``, ``collision``, ``left_arena``, ``timeout``, or ``stopped`` when ``max_steps`` cut it.
    """

    course: Course
    position_m: np.ndarray
    yaw_rad: np.ndarray
    ranges_m: np.ndarray
    max_range_m: float
    dt_s: float
    outcome: str

    @property
    def time_s(self) -> float:
        """Flight time (s)."""
        return (len(self.position_m) - 1) * self.dt_s


def record_episode(
    policy: Policy,
    config: ScenarioConfig,
    courses: Sequence[Course],
    index: int = 0,
    seed: int = 0,
    max_steps: int | None = None,
) -> EpisodeRecording:
    """Fly ``policy`` once through ``courses[index]`` and keep what a replay needs.

    Args:
        policy: The policy.
        config: The scenario.
        courses: The course list the episode belongs to (as given to ``evaluate``).
        index: Which course of the list to fly.
        seed: The episode's random stream (sensor noise).
        max_steps: Stop after this many policy steps (default: the scenario's episode limit).

    Raises:
        PolicyError: The policy does not take this scenario's observations, ``index`` is not in the list, or
            ``max_steps`` < 1.
    """
    if max_steps is not None and max_steps < 1:
        raise PolicyError(f"max_steps must be at least 1, got {max_steps}")
    if not 0 <= index < len(courses):
        raise PolicyError(f"course index {index} is out of range: the list has {len(courses)} course(s)")
    task = BatchedTask(config, 1, courses, randomize=False)
    try:
        if policy.obs_dim != task.obs_dim:
            raise PolicyError(
                f"the policy takes {policy.obs_dim} observations but scenario {config.name} gives {task.obs_dim}: "
                "play it with the --env it was trained on"
            )
        task.seed_slots([0], [seed])
        obs = task.reset_slots([0], [index])
        positions, yaws, ranges = [task.drones.pos[0].copy()], [task.drones.euler[0, 2]], [task.ranger.held()[0]]
        limit = config.max_episode_steps if max_steps is None else max_steps
        outcome = "stopped"
        for _ in range(limit):
            result = task.step(policy.act(obs))
            obs = result.obs.copy()
            positions.append(task.drones.pos[0].copy())
            yaws.append(task.drones.euler[0, 2])
            ranges.append(task.ranger.held()[0])
            if result.terminated[0] or result.truncated[0]:
                outcome = outcome_of(result, 0)
                break
        max_range_m = task.ranger.config.max_range_m
    finally:
        task.close()
    return EpisodeRecording(
        course=courses[index],
        position_m=np.asarray(positions),
        yaw_rad=np.asarray(yaws, dtype=np.float64),
        ranges_m=np.asarray(ranges, dtype=np.float64),
        max_range_m=float(max_range_m),
        dt_s=task.dt_s,
        outcome=outcome,
    )
