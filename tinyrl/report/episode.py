"""Record one episode of a policy for replay: positions, heading and the four horizontal ranges, step by step.

The episode is flown by the loop :func:`tinyrl.common.evaluate.evaluate` flies
(:func:`tinyrl.common.episodes.run_episodes`; domain randomization off, random stream ``seed``, course ``index`` of
the same list), so ``record_episode(policy, config, courses, j, seed + j)`` replays episode ``j`` of
``evaluate(policy, config, courses, seed=seed)``: same path, same outcome. Pass the whole list, not ``[courses[j]]``:
a reset draws its course from the episode's stream when the list holds more than one, so a one-course list gives the
episode different sensor noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tinyrl.common.episodes import EpisodeObserver, EpisodeStart, run_episodes
from tinyrl.common.policy import Policy, PolicyError
from tinyrl.sim.course import Course
from tinyrl.tasks.config import ScenarioConfig
from tinyrl.tasks.core import BatchedTask, StepResult

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
    recorder = ReplayRecorder()
    flight = run_episodes(
        policy, config, courses, [EpisodeStart(index, seed)], max_steps=max_steps, observers=[recorder]
    )
    return EpisodeRecording(
        course=courses[index],
        position_m=np.asarray(recorder.positions_m),
        yaw_rad=np.asarray(recorder.yaws_rad, dtype=np.float64),
        ranges_m=np.asarray(recorder.ranges_m, dtype=np.float64),
        max_range_m=float(recorder.max_range_m),
        dt_s=config.dt_s,
        outcome=flight.episodes[0].outcome,
    )


class ReplayRecorder(EpisodeObserver):
    """Position, heading and held multi-ranger readings of a one-episode flight: the start, then every step."""

    def __init__(self) -> None:
        self.positions_m: list[np.ndarray] = []
        self.yaws_rad: list[float] = []
        self.ranges_m: list[np.ndarray] = []
        self.max_range_m = 0.0
        self.slot = 0

    def _sample(self, task: BatchedTask) -> None:
        self.positions_m.append(task.drones.pos[self.slot].copy())
        self.yaws_rad.append(task.drones.euler[self.slot, 2])
        self.ranges_m.append(task.ranger.held()[self.slot])

    def episode_started(self, task: BatchedTask, slot: int, episode: int) -> None:
        """The start sample."""
        self.slot = slot
        self.max_range_m = task.ranger.config.max_range_m
        self._sample(task)

    def stepped(self, task: BatchedTask, result: StepResult, episode_of: np.ndarray) -> None:
        """One sample per policy step."""
        self._sample(task)
