"""Success rate against course difficulty: each policy flown on unseen courses of every generator level.

Level ``L`` uses the courses ``tinyrl eval`` would generate at that level (:func:`tinyrl.common.evaluate.eval_courses`
with the same seed scheme: episode ``j`` flies course ``j`` with seed ``seed + j``), so the scenario's own level
gives exactly the numbers of the main evaluation, which is reused rather than flown again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tinyrl.common.evaluate import EvalReport, eval_courses, evaluate
from tinyrl.common.policy import Policy
from tinyrl.tasks.config import ScenarioConfig

__all__ = ["difficulty_rows", "own_difficulty", "success_by_difficulty"]


def own_difficulty(config: ScenarioConfig) -> str:
    """The level the scenario trains and evaluates on (``difficulty``, else the generator's default)."""
    return config.difficulty or config.course_generator.default_difficulty


def success_by_difficulty(
    policies: Mapping[str, Policy],
    config: ScenarioConfig,
    episodes: int = 100,
    seed: int = 0,
    difficulties: Sequence[str] | None = None,
    known: Mapping[str, EvalReport] | None = None,
) -> dict[str, dict[str, EvalReport]]:
    """Fly every policy on ``episodes`` unseen courses of each difficulty.

    Args:
        policies: Row name → policy (e.g. teacher, student, int8).
        config: The scenario; its course generator defines the levels.
        episodes: Episodes (and courses) per policy and level.
        seed: Base seed of the courses and episodes, as ``tinyrl eval --seed``.
        difficulties: Levels to fly, in plot order (default: every level of the generator, in its order).
        known: Reports of these policies already flown on the scenario's own level with the same
            ``episodes`` and ``seed``; reused instead of flying them again.

    Returns:
        Level → row name → evaluation, one entry per level.

    Raises:
        ConfigError: An unknown level.
    """
    levels = list(config.course_generator.difficulties) if difficulties is None else list(difficulties)
    for level in levels:
        config.course_generator.level(level)  # fail before flying anything
    own = own_difficulty(config)
    out: dict[str, dict[str, EvalReport]] = {}
    for level in levels:
        courses = eval_courses(config, episodes, seed, level)
        row: dict[str, EvalReport] = {}
        for name, policy in policies.items():
            reuse = (known or {}).get(name) if level == own else None
            if reuse is not None and reuse.episodes == episodes:
                row[name] = reuse
            else:
                row[name] = evaluate(policy, config, courses, episodes, seed)
        out[level] = row
    return out


def difficulty_rows(by_difficulty: Mapping[str, Mapping[str, EvalReport]]) -> list[dict[str, Any]]:
    """Flat rows ``{"difficulty", "name", "episodes", "success_rate", "success_ci95"}`` for plots and tables."""
    return [
        {
            "difficulty": level,
            "name": name,
            "episodes": report.episodes,
            "success_rate": report.success_rate,
            "success_ci95": report.success_ci95,
        }
        for level, row in by_difficulty.items()
        for name, report in row.items()
    ]
