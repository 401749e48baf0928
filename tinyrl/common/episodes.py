"""The closed-loop episode loop every stage flies a policy with: evaluation, report episodes and HIL.

:func:`run_episodes` flies a list of episodes, each a course of the list and a random stream
(:class:`EpisodeStart`), on a batch of drones: a slot whose episode ends starts the next one, so an episode's
result does not depend on the slot it lands in or on the batch size. Callers extend it through two typed points,
never through branches in the loop:

* an :class:`EpisodeObserver` sees every episode start, every step (with the task and its
  :class:`~tinyrl.tasks.core.StepResult`) and every episode end: trajectories, range readings, progress bars, or a
  policy that keeps per-episode state (the HIL link's setpoint watchdog);
* ``controller_mode`` names what the drones' controller flies the next actions in (``"hover"``, or what the
  firmware supervisor substitutes when setpoints stop coming: ``"level"``, ``"off"``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tinyrl.common.policy import Policy, PolicyError
from tinyrl.sim.course import Course
from tinyrl.tasks.config import ScenarioConfig
from tinyrl.tasks.core import BatchedTask, StepResult
from tinyrl.tasks.features import observation_size

__all__ = [
    "Episode",
    "EpisodeObserver",
    "EpisodeStart",
    "Flight",
    "check_obs_dim",
    "hover_mode",
    "numbered_starts",
    "outcome_of",
    "run_episodes",
]


@dataclass
class Episode:
    """One flown episode."""

    course: int
    seed: int
    outcome: str  # "success", "collision", "left_arena", "timeout", or "stopped" (cut by max_steps)
    time_s: float
    path_length_m: float
    reward: float


@dataclass(frozen=True)
class EpisodeStart:
    """Where an episode starts: which course of the list it flies, and the seed of its random stream."""

    course: int
    seed: int


@dataclass(frozen=True)
class Flight:
    """What :func:`run_episodes` returns, in episode order: each episode's result and its number of policy steps."""

    episodes: list[Episode]
    steps: list[int]


class EpisodeObserver:
    """Called by :func:`run_episodes` at every episode start, step and end; override what you need (no-ops here)."""

    def episode_started(self, task: BatchedTask, slot: int, episode: int) -> None:
        """Episode ``episode`` was just reset into ``slot`` (before the policy acts on its first observation)."""

    def stepped(self, task: BatchedTask, result: StepResult, episode_of: np.ndarray) -> None:
        """Every drone flew one policy period; ``episode_of`` ``(N,)`` is each slot's episode (-1: idle slot).

        Called before finished episodes are replaced, so ``task`` still holds their last state.
        """

    def episode_finished(self, episode: int, result: Episode, steps: int) -> None:
        """Episode ``episode`` ended after ``steps`` policy steps."""


def hover_mode() -> str:
    """The controller mode of a drone that receives every setpoint: ``"hover"``."""
    return "hover"


def numbered_starts(episodes: int, n_courses: int, seed: int) -> list[EpisodeStart]:
    """How evaluation numbers episodes: episode ``j`` flies course ``j % n_courses`` with the stream ``seed + j``."""
    return [EpisodeStart(j % n_courses, seed + j) for j in range(episodes)]


def outcome_of(result: StepResult, slot: int) -> str:
    """How the finished episode in ``slot`` of a step ended: success, collision, left_arena or timeout."""
    if result.is_success[slot]:
        return "success"
    if result.collision[slot]:
        return "collision"
    if result.left_arena[slot]:
        return "left_arena"
    return "timeout"


def check_obs_dim(policy: Policy, config: ScenarioConfig) -> None:
    """Raise :class:`PolicyError` unless ``policy`` takes the observations ``config`` gives (its width)."""
    size = observation_size(config)
    if policy.obs_dim != size:
        raise PolicyError(
            f"the policy takes {policy.obs_dim} observations but scenario {config.name} gives {size}: "
            "use the --env the policy was trained on"
        )


def run_episodes(
    policy: Policy,
    config: ScenarioConfig,
    courses: Sequence[Course],
    starts: Sequence[EpisodeStart],
    *,
    batch: int = 1,
    randomize: bool = False,
    max_steps: int | None = None,
    observers: Sequence[EpisodeObserver] = (),
    controller_mode: Callable[[], str] = hover_mode,
) -> Flight:
    """Fly ``policy`` through ``starts`` on ``min(batch, len(starts))`` drones and return every episode's result.

    Each step the policy acts on all drones' observations ``(N, obs_dim)`` at once (idle slots included, so a
    drone's action never depends on how many episodes are left), then the drones fly the actions in
    ``controller_mode()``.

    Args:
        policy: The policy.
        config: The scenario.
        courses: The course list; ``EpisodeStart.course`` indexes it.
        starts: The episodes, in order: slots take them first come, first served.
        batch: Drones flown at once.
        randomize: The scenario's training domain randomization on, drawn from each episode's stream.
        max_steps: Cut an episode after this many policy steps (outcome ``stopped``); the scenario's own time limit
            still applies.
        observers: Called at every episode start, step and end, in this order.
        controller_mode: Asked after every ``policy.act`` for the mode to fly those actions in.

    Raises:
        PolicyError: The policy does not take the scenario's observations.
        ValueError: No episodes, or ``max_steps`` < 1.
    """
    if not starts:
        raise ValueError("no episodes to fly")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")
    check_obs_dim(policy, config)
    n = min(batch, len(starts))
    task = BatchedTask(config, n, courses, randomize=randomize)
    episode_of = np.full(n, -1)
    reward_sum = np.zeros(n)
    results: list[Episode | None] = [None] * len(starts)
    steps: list[int] = [0] * len(starts)
    obs = np.zeros((n, task.obs_dim), dtype=np.float32)
    next_episode = 0

    def start(slots: np.ndarray) -> None:
        nonlocal next_episode
        for slot in slots:
            if next_episode >= len(starts):
                episode_of[slot] = -1
                continue
            j = next_episode
            next_episode += 1
            episode_of[slot] = j
            task.seed_slots([slot], [starts[j].seed])
            obs[slot] = task.reset_slots([slot], [starts[j].course])[0]
            reward_sum[slot] = 0.0
            for observer in observers:
                observer.episode_started(task, int(slot), j)

    try:
        start(np.arange(n))
        while (episode_of >= 0).any():
            actions = policy.act(obs)
            result = task.step(actions, controller_mode=controller_mode())
            obs = result.obs.copy()
            reward_sum += result.reward
            for observer in observers:
                observer.stepped(task, result, episode_of)
            ended = result.terminated | result.truncated
            cut = ended if max_steps is None else ended | (task.steps >= max_steps)
            done = np.flatnonzero(cut & (episode_of >= 0))
            for slot in done:
                j = int(episode_of[slot])
                episode = Episode(
                    course=starts[j].course,
                    seed=starts[j].seed,
                    outcome=outcome_of(result, slot) if ended[slot] else "stopped",
                    time_s=float(result.time_s[slot]),
                    path_length_m=float(result.path_length_m[slot]),
                    reward=float(reward_sum[slot]),
                )
                results[j], steps[j] = episode, int(task.steps[slot])
                for observer in observers:
                    observer.episode_finished(j, episode, steps[j])
            start(done)
    finally:
        task.close()
    return Flight([e for e in results if e is not None], steps)
