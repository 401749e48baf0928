"""Closed-loop evaluation: success rate (with a 95 % interval), collisions, timeouts, per-course results.

Episode ``j`` flies course ``j % len(courses)`` with the random stream ``seed + j``, whatever slot of the
batch it lands in, so results are the same for a seed at any batch size. Domain randomization is off (the
nominal drone) unless ``randomize`` turns the scenario's training randomization on, drawn from the same stream.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from rich.progress import Progress, TaskID

from tinyrl.common.episodes import Episode, EpisodeObserver, numbered_starts, run_episodes
from tinyrl.common.policy import Policy
from tinyrl.errors import ConfigError
from tinyrl.sim.course import Course
from tinyrl.tasks.config import ScenarioConfig
from tinyrl.tasks.core import BatchedTask, StepResult
from tinyrl.tasks.generator import MIX, generate_course

#: Evaluation courses come from generator seeds far from the training pool's, so they are unseen.
EVAL_COURSE_SEED_OFFSET = 1_000_000


@dataclass
class EvalReport:
    """Aggregates over episodes; ``to_dict`` is what ``tinyrl eval --json`` writes."""

    episodes: int
    success_rate: float
    success_ci95: tuple[float, float]
    collision_rate: float
    timeout_rate: float
    left_arena_rate: float
    mean_time_to_goal_s: float | None
    mean_path_length_m: float
    mean_reward: float
    per_course: list[dict[str, Any]]
    episode_results: list[Episode] = field(repr=False)
    trajectories: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (no trajectories)."""
        out = asdict(self)
        out.pop("trajectories")
        out["episode_results"] = [asdict(e) for e in self.episode_results]
        return out


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a success rate (well behaved at 0 % and 100 %)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # Exact ends at 0 % and 100 % (the formula lands a rounding error short of them).
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return (lo, hi)


def eval_levels(config: ScenarioConfig, difficulty: str | None = None) -> tuple[str, ...]:
    """Generator levels of an evaluation: the named one, the scenario's own (``None``), or all of them (``mix``).

    Raises:
        ConfigError: An unknown level.
    """
    generator = config.course_generator
    if difficulty == MIX:
        return tuple(generator.difficulties)
    name = config.difficulty if difficulty is None else difficulty
    generator.level(name)
    return (name or generator.default_difficulty,)


def eval_difficulty(config: ScenarioConfig, difficulty: str | None = None) -> str:
    """The name an evaluation records for ``difficulty``: the level, or ``mix``."""
    return MIX if difficulty == MIX else eval_levels(config, difficulty)[0]


def eval_courses(
    config: ScenarioConfig, n: int, seed: int = 0, difficulty: str | None = None, start: int = 0
) -> list[Course]:
    """``n`` generated courses that training never sees: courses ``start`` to ``start + n - 1`` of the set.

    Course ``i`` of level ``L`` is course ``i`` of ``generate_courses(generator, L, ..., 1_000_000 + seed)``, a
    generator seed no training pool or validation set uses. ``mix`` takes the levels in turn: course ``i`` is course
    ``i // len(levels)`` of level ``levels[i % len(levels)]`` (for the obstacle course a third each of easy, medium
    and hard), so a mix holds the very courses of the per-level sets.

    Args:
        config: The scenario.
        n: Number of courses.
        seed: Seed of the set; course ``i`` depends only on ``(seed, i)`` and the difficulty.
        difficulty: A level of the scenario's generator, ``mix``, or ``None`` for the scenario's own
            (``config.difficulty``).
        start: Index of the first course.

    Raises:
        ConfigError: An unknown level.
    """
    levels = eval_levels(config, difficulty)
    k = len(levels)
    # As tinyrl.tasks.generator.iter_courses: course i of a level comes from child i of the set's SeedSequence.
    children = np.random.SeedSequence(EVAL_COURSE_SEED_OFFSET + seed).spawn(-(-(start + n) // k))
    return [generate_course(config.course_generator, levels[i % k], children[i // k]) for i in range(start, start + n)]


def check_randomize(config: ScenarioConfig, option: str = "--randomize") -> None:
    """Raise :class:`ConfigError` when a randomized evaluation is asked of a scenario that trains without it.

    ``option`` names what asked for it at the start of the one-line message (``--randomize``, ``--robustness``).
    """
    if not config.randomization.enabled:
        raise ConfigError(
            f"{option}: scenario {config.name} trains without domain randomization (randomization.enabled: false)"
        )


def evaluate(
    policy: Policy,
    config: ScenarioConfig,
    courses: Sequence[Course] | None = None,
    episodes: int = 200,
    seed: int = 0,
    batch: int = 256,
    record_trajectories: int = 0,
    progress: bool = False,
    difficulty: str | None = None,
    randomize: bool = False,
) -> EvalReport:
    """Fly ``episodes`` episodes and summarize them.

    Args:
        policy: The policy to fly.
        config: The scenario.
        courses: Courses (episode ``j`` flies ``courses[j % len]``); ``episodes`` unseen generated ones if None.
        episodes: Number of episodes.
        seed: Base seed: episode ``j`` uses ``seed + j``.
        batch: Drones flown at once.
        record_trajectories: Keep the positions ``(T, 3)`` of the first this many episodes.
        progress: Show a progress bar.
        difficulty: Level of the generated courses (see :func:`eval_courses`); only when ``courses`` is None.
        randomize: The scenario's training domain randomization on (episode ``j`` draws it from ``seed + j``).

    Raises:
        ConfigError: An unknown level, or ``randomize`` for a scenario without randomization.
        PolicyError: The policy does not fit the scenario's observations.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    if randomize:
        check_randomize(config)
    courses = list(courses) if courses is not None else eval_courses(config, episodes, seed, difficulty)
    recorder = PositionRecorder(record_trajectories)
    with Progress(disable=not progress, transient=True) as bar:
        counter = ProgressCounter(bar, bar.add_task(f"evaluating {episodes} episodes", total=episodes))
        flight = run_episodes(
            policy,
            config,
            courses,
            numbered_starts(episodes, len(courses), seed),
            batch=batch,
            randomize=randomize,
            observers=(recorder, counter),
        )
    return summarize(flight.episodes, recorder.trajectories())


class PositionRecorder(EpisodeObserver):
    """Keeps the positions ``(T + 1, 3)`` (m) of episodes ``0 .. limit - 1``: the start, then one per policy step."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._positions: dict[int, list[np.ndarray]] = {}

    def episode_started(self, task: BatchedTask, slot: int, episode: int) -> None:
        """Start recording ``episode`` if it is one of the first ``limit``."""
        if episode < self.limit:
            self._positions[episode] = [task.drones.pos[slot].copy()]

    def stepped(self, task: BatchedTask, result: StepResult, episode_of: np.ndarray) -> None:
        """Append the position of every recorded episode in flight."""
        for slot, j in enumerate(episode_of):
            if j in self._positions:
                self._positions[j].append(task.drones.pos[slot].copy())

    def trajectories(self) -> dict[int, np.ndarray]:
        """Episode → positions ``(T + 1, 3)`` (m)."""
        return {j: np.asarray(t) for j, t in self._positions.items()}


class ProgressCounter(EpisodeObserver):
    """Advances a progress bar by one per finished episode."""

    def __init__(self, bar: Progress, task_id: TaskID) -> None:
        self.bar, self.task_id = bar, task_id

    def episode_finished(self, episode: int, result: Episode, steps: int) -> None:
        """One more episode done."""
        self.bar.advance(self.task_id)


def summarize(results: list[Episode], trajectories: dict[int, np.ndarray] | None = None) -> EvalReport:
    """Aggregate episode results into an :class:`EvalReport`."""
    n = len(results)
    outcomes = np.array([e.outcome for e in results])
    success = outcomes == "success"
    by_course: dict[int, list[Episode]] = {}
    for e in results:
        by_course.setdefault(e.course, []).append(e)
    per_course = [
        {
            "course": c,
            "episodes": len(eps),
            "success_rate": float(np.mean([e.outcome == "success" for e in eps])),
            "outcomes": sorted({e.outcome for e in eps}),
        }
        for c, eps in sorted(by_course.items())
    ]
    times = [e.time_s for e in results if e.outcome == "success"]
    return EvalReport(
        episodes=n,
        success_rate=float(success.mean()),
        success_ci95=wilson_interval(int(success.sum()), n),
        collision_rate=float(np.mean(outcomes == "collision")),
        timeout_rate=float(np.mean(outcomes == "timeout")),
        left_arena_rate=float(np.mean(outcomes == "left_arena")),
        mean_time_to_goal_s=float(np.mean(times)) if times else None,
        mean_path_length_m=float(np.mean([e.path_length_m for e in results])),
        mean_reward=float(np.mean([e.reward for e in results])),
        per_course=per_course,
        episode_results=results,
        trajectories=trajectories or {},
    )
