"""Robustness of a policy folder: its policies flown under every condition of ``tinyrl eval --robustness``.

Each policy flies :data:`tinyrl.train.robustness.CONDITIONS` on the report's own courses and seeds, so the
``nominal`` row is the report's main evaluation of that policy (reused, not flown again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tinyrl.common.evaluate import EvalReport, check_randomize
from tinyrl.common.policy import Policy, PolicyError
from tinyrl.sim.course import Course
from tinyrl.tasks.config import ScenarioConfig
from tinyrl.train.robustness import CONDITIONS, Condition, robustness_reports, robustness_rows

__all__ = ["ROBUSTNESS_POLICIES", "robustness_by_condition", "robustness_flat_rows", "robustness_policies"]

#: Rows of a policy folder flown under the conditions by default: what training made and what the drone flies
#: (the float student sits between them; add it by name).
ROBUSTNESS_POLICIES = ("teacher", "int8")


def robustness_policies(
    present: Sequence[str], config: ScenarioConfig, names: Sequence[str] | None = None
) -> tuple[str, ...]:
    """The rows of a folder to fly under the conditions.

    ``names`` (each must be present), or by default those of :data:`ROBUSTNESS_POLICIES` present when the scenario
    trains with randomization (none when it does not).

    Raises:
        PolicyError: A named row the folder does not hold.
        ConfigError: Named rows for a scenario without randomization.
    """
    if names is None:
        return tuple(n for n in ROBUSTNESS_POLICIES if n in present) if config.randomization.enabled else ()
    if names:
        check_randomize(config, "robustness")
    missing = [n for n in names if n not in present]
    if missing:
        raise PolicyError(f"robustness: no {missing[0]!r} policy in the folder (have {', '.join(present)})")
    return tuple(names)


def robustness_by_condition(
    policies: Mapping[str, Policy],
    config: ScenarioConfig,
    courses: Sequence[Course],
    episodes: int,
    seed: int = 0,
    known: Mapping[str, EvalReport] | None = None,
    conditions: Sequence[Condition] = CONDITIONS,
) -> dict[str, dict[str, EvalReport]]:
    """Fly every policy under every condition on ``courses`` (episode ``j``: course ``j % len``, seed ``seed + j``).

    Args:
        policies: Row name → policy.
        config: The scenario (with randomization).
        courses: The courses flown.
        episodes: Episodes per policy and condition.
        seed: Base seed.
        known: Row name → its nominal evaluation on these courses and seeds, reused as the ``nominal`` row.
        conditions: The conditions, in display order.

    Returns:
        Condition name → row name → evaluation (empty without policies).

    Raises:
        ConfigError: The scenario trains without randomization.
    """
    out: dict[str, dict[str, EvalReport]] = {}
    for name, policy in policies.items():
        reuse = {"nominal": known[name]} if known and name in known else None
        reports = robustness_reports(
            policy, config, episodes, seed, courses=courses, conditions=conditions, known=reuse
        )
        for condition, report in reports.items():
            out.setdefault(condition, {})[name] = report
    return out


def robustness_flat_rows(
    by_condition: Mapping[str, Mapping[str, EvalReport]], config: ScenarioConfig
) -> list[dict[str, Any]]:
    """One row per condition and policy, for plots and tables.

    Each row: ``name`` plus the keys of :func:`tinyrl.train.robustness.robustness_rows` (``condition``,
    ``success_rate``, ``success_ci95``, ...); conditions in order, policies in order within each.
    """
    names = list(dict.fromkeys(n for row in by_condition.values() for n in row))
    per_policy = {
        name: robustness_rows({c: row[name] for c, row in by_condition.items() if name in row}, config)
        for name in names
    }
    order = {c: i for i, c in enumerate(by_condition)}
    rows = [{"name": name, **row} for name in names for row in per_policy[name]]
    return sorted(rows, key=lambda r: order[r["condition"]])  # stable: policies keep their order
