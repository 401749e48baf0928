"""Robustness evaluation: one policy flown under named changes of the scenario's domain randomization.

:data:`CONDITIONS` is the table of conditions: the nominal drone (as ``tinyrl eval``), the scenario's own training
randomization (as ``tinyrl eval --randomize``), and harder variants of it (mass and inertia ±30 %, sensor noise
×2–3 with 1–2 policy steps of observation latency, wind and gusts ×3). Every condition flies the same courses with
the same per-episode streams (episode ``j``: course ``j % n``, seed ``seed + j``, as
:func:`tinyrl.common.evaluate.evaluate`); a randomized condition draws the same random numbers as ``randomized`` at
each reset, only scaled to its own ranges, so rows differ by the condition, not by luck of the draw.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.progress import Progress

from tinyrl.common.evaluate import EvalReport, check_randomize, eval_courses, evaluate
from tinyrl.common.policy import Policy
from tinyrl.errors import ConfigError
from tinyrl.sim.course import Course
from tinyrl.tasks.config import RandomizationConfig, ScenarioConfig, load_scenario

__all__ = [
    "CONDITIONS",
    "Condition",
    "condition_config",
    "robustness_reports",
    "robustness_rows",
    "robustness_table",
    "select_conditions",
]


def _unchanged(_: RandomizationConfig) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Condition:
    """One row of the robustness table.

    Attributes:
        name: Short identifier (JSON key, table row, bar label).
        description: What the condition flies, in words.
        randomize: Domain randomization on (off: the nominal drone, and ``change`` is not used).
        change: Scenario randomization → the fields of ``randomization:`` to replace (empty: unchanged).
    """

    name: str
    description: str
    randomize: bool
    change: Callable[[RandomizationConfig], dict[str, Any]] = field(default=_unchanged, repr=False)


#: The conditions of ``tinyrl eval --robustness`` and of the report's robustness table, in display order.
CONDITIONS: tuple[Condition, ...] = (
    Condition("nominal", "randomization off: the nominal drone, as tinyrl eval", False),
    Condition("randomized", "the scenario's training randomization, as tinyrl eval --randomize", True),
    Condition(
        "mass_inertia_30",
        "training randomization, with mass and inertia within ±30 %",
        True,
        lambda r: {"mass_rel": 0.3, "inertia_rel": 0.3},
    ),
    Condition(
        "sensor_noise_x3_latency",
        "training randomization, with sensor noise ×2–3 and 1–2 policy steps of observation latency",
        True,
        lambda r: {"sensor_noise_scale": (2.0, 3.0), "latency_steps": (1, 2)},
    ),
    Condition(
        "wind_x3",
        "training randomization, with steady wind and gusts ×3",
        True,
        lambda r: {"wind_n": 3 * r.wind_n, "gust_n": 3 * r.gust_n},
    ),
)


def select_conditions(names: Sequence[str] | None = None) -> tuple[Condition, ...]:
    """The conditions called ``names``, in that order (``None``: all of :data:`CONDITIONS`).

    Raises:
        ConfigError: An unknown name.
    """
    if names is None:
        return CONDITIONS
    known = {c.name: c for c in CONDITIONS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown robustness condition {unknown[0]!r}; known: {', '.join(known)}")
    return tuple(known[n] for n in names)


def condition_config(config: ScenarioConfig, condition: Condition) -> ScenarioConfig:
    """``config`` with ``condition``'s randomization (validated again; ``config`` itself when nothing changes).

    The observation delay line grows to the condition's longest latency when the scenario's
    ``observation.max_latency_steps`` is shorter; it only sizes a buffer, so the policy's inputs stay the same.
    """
    changes = condition.change(config.randomization) if condition.randomize else {}
    if not changes:
        return config
    longest = changes.get("latency_steps", config.randomization.latency_steps)[1]
    overrides = {
        "randomization": changes,
        "observation": {"max_latency_steps": max(config.observation.max_latency_steps, longest)},
    }
    return load_scenario(config, overrides)


def robustness_reports(
    policy: Policy,
    config: ScenarioConfig,
    episodes: int = 200,
    seed: int = 0,
    difficulty: str | None = None,
    courses: Sequence[Course] | None = None,
    conditions: Sequence[Condition] = CONDITIONS,
    known: Mapping[str, EvalReport] | None = None,
    progress: bool = False,
) -> dict[str, EvalReport]:
    """Fly ``policy`` under each condition on the same courses and per-episode seeds.

    Args:
        policy: The policy to fly.
        config: The scenario; its ``randomization`` is what the randomized conditions change.
        episodes: Episodes per condition.
        seed: Base seed: episode ``j`` uses ``seed + j`` (and the unseen courses come from ``seed``).
        difficulty: Level of the unseen generated courses (see :func:`tinyrl.common.evaluate.eval_courses`).
        courses: Courses to fly instead of unseen generated ones (episode ``j``: ``courses[j % len]``).
        conditions: The conditions, in row order.
        known: Condition name → a report of this policy already flown with these courses, episodes and seeds
            (e.g. the nominal evaluation of a report); reused instead of flying it again.
        progress: Show a progress bar over the conditions.

    Returns:
        Condition name → evaluation, in the order of ``conditions``.

    Raises:
        ConfigError: A randomized condition for a scenario without randomization, or an unknown level.
        PolicyError: The policy does not fit the scenario's observations.
    """
    if any(c.randomize for c in conditions):
        check_randomize(config, "--robustness")
    course_list = list(courses) if courses is not None else eval_courses(config, episodes, seed, difficulty)
    out: dict[str, EvalReport] = {}
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("robustness", total=len(conditions))
        for condition in conditions:
            bar.update(task, description=f"robustness: {condition.name} ({episodes} episodes)")
            reuse = (known or {}).get(condition.name)
            if reuse is not None and reuse.episodes == episodes:
                out[condition.name] = reuse
            else:
                flown = condition_config(config, condition)
                out[condition.name] = evaluate(
                    policy, flown, course_list, episodes, seed, randomize=condition.randomize
                )
            bar.advance(task)
    return out


def robustness_rows(
    reports: Mapping[str, EvalReport], config: ScenarioConfig, conditions: Sequence[Condition] = CONDITIONS
) -> list[dict[str, Any]]:
    """JSON-ready rows, one per condition of ``reports`` in the order of ``conditions``.

    Each row: ``condition``, ``description``, ``episodes``, ``success_rate``, ``success_ci95`` ``[lo, hi]`` (95 %
    Wilson), ``collision_rate``, ``timeout_rate``, ``left_arena_rate``, ``mean_time_to_goal_s`` (null without a
    success), ``success_vs_nominal`` (success rate minus the nominal row's; null without one; rates in [0, 1]) and
    ``randomization`` (the randomization flown, as in the scenario YAML; null for the nominal drone).
    """
    nominal = reports.get("nominal")
    rows = []
    for condition in conditions:
        report = reports.get(condition.name)
        if report is None:
            continue
        flown = condition_config(config, condition).randomization if condition.randomize else None
        rows.append(
            {
                "condition": condition.name,
                "description": condition.description,
                "episodes": report.episodes,
                "success_rate": report.success_rate,
                "success_ci95": list(report.success_ci95),
                "collision_rate": report.collision_rate,
                "timeout_rate": report.timeout_rate,
                "left_arena_rate": report.left_arena_rate,
                "mean_time_to_goal_s": report.mean_time_to_goal_s,
                "success_vs_nominal": None if nominal is None else report.success_rate - nominal.success_rate,
                "randomization": None if flown is None else flown.model_dump(mode="json"),
            }
        )
    return rows


def robustness_table(
    policy: Policy,
    config: ScenarioConfig,
    episodes: int = 200,
    seed: int = 0,
    difficulty: str | None = None,
    courses: Sequence[Course] | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Fly ``policy`` under every condition of :data:`CONDITIONS`: one row per condition (see :func:`robustness_rows`).

    Arguments as :func:`robustness_reports`.

    Raises:
        ConfigError: A scenario without randomization, or an unknown level.
        PolicyError: The policy does not fit the scenario's observations.
    """
    reports = robustness_reports(policy, config, episodes, seed, difficulty, courses, progress=progress)
    return robustness_rows(reports, config)
