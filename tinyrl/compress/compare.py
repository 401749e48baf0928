"""Teacher vs float student vs int8 student: size, action agreement and closed-loop success, side by side.

Agreement is measured on observations from *teacher* rollouts on unseen courses with domain randomization on (the
states the teacher visits, which the students were not trained on). Success is measured with
:func:`tinyrl.common.evaluate.evaluate` on the same unseen courses and episode seeds for all three, so the rows differ
only by the policy. The result is merged into ``POLICY_DIR/manifest.json`` under ``"compression"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyrl.common.policy import MlpPolicy, Policy, PolicyError
from tinyrl.compress.artefacts import ARTEFACTS
from tinyrl.tasks.config import ScenarioConfig

__all__ = ["ARTEFACTS", "Row", "compare"]

#: Seed offset of the agreement rollouts (kept apart from distillation and evaluation streams).
AGREEMENT_SEED_OFFSET = 3_000_000


@dataclass
class Row:
    """One line of the comparison."""

    name: str
    artefact: str
    parameters: int
    bytes: int
    """float32 bytes for float policies; int8 weights + int32 biases for int8."""
    agreement: dict[str, float]
    success_rate: float
    success_ci95: tuple[float, float]
    collision_rate: float
    timeout_rate: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {**self.__dict__, "success_ci95": list(self.success_ci95)}


def _size(policy: Policy) -> tuple[int, int]:
    from tinyrl.compress.student import Int8Policy

    if isinstance(policy, Int8Policy):
        return policy.n_parameters, policy.model.parameter_bytes
    if isinstance(policy, MlpPolicy):
        return policy.n_parameters, 4 * policy.n_parameters
    raise PolicyError(f"cannot size a {type(policy).__name__}")


def compare(
    policy_dir: str | Path,
    config: ScenarioConfig,
    *,
    episodes: int = 200,
    seed: int = 0,
    agreement_steps: int = 20_000,
    progress: bool = False,
) -> dict[str, Any]:
    """Compare the teacher, float student and int8 student found in ``policy_dir``.

    Args:
        policy_dir: Folder with ``teacher.npz``, ``student.keras`` and ``policy_int8.tflite`` (missing ones are
            skipped, the teacher is required).
        config: The scenario.
        episodes: Closed-loop episodes per policy (unseen courses; episode ``j`` uses seed ``seed + j``).
        seed: Base seed of the evaluation and of the agreement rollouts.
        agreement_steps: Teacher-rollout observations to compare actions on.
        progress: Show progress bars.

    Returns:
        ``{"env", "episodes", "seed", "agreement_samples", "rows": [Row.to_dict(), ...]}``.

    Raises:
        PolicyError: No teacher in the folder, or an artefact that does not fit the scenario.
    """
    from tinyrl.common.evaluate import eval_courses, evaluate
    from tinyrl.compress.artefacts import load_policy
    from tinyrl.compress.distill import action_agreement, check_policy_fits, collect_rollouts

    folder = Path(policy_dir)
    if not folder.is_dir():
        raise PolicyError(f"{folder}: not a policy folder")
    if not (folder / ARTEFACTS["teacher"]).is_file():
        raise PolicyError(f"{folder}: no {ARTEFACTS['teacher']} to compare against")
    policies = {name: load_policy(folder / file) for name, file in ARTEFACTS.items() if (folder / file).is_file()}
    teacher = policies["teacher"]
    for name, policy in policies.items():
        check_policy_fits(policy, config, name)
    discrete = config.action.mode == "discrete"
    randomized = config.model_copy(update={"randomization": config.randomization.model_copy(update={"enabled": True})})
    n_courses = max(1, min(episodes, 200))
    obs, labels, _ = collect_rollouts(
        randomized,
        agreement_steps,
        actor=teacher,
        labeler=teacher,
        seed=AGREEMENT_SEED_OFFSET + seed,
        courses=eval_courses(config, n_courses, seed),
    )
    assert labels is not None
    courses = eval_courses(config, episodes, seed)
    rows = []
    for name, policy in policies.items():
        params, size = _size(policy)
        report = evaluate(policy, config, courses, episodes, seed=seed, progress=progress)
        rows.append(
            Row(
                name=name,
                artefact=ARTEFACTS[name],
                parameters=params,
                bytes=size,
                agreement=action_agreement(np.asarray(policy.act(obs)), labels, discrete),
                success_rate=report.success_rate,
                success_ci95=report.success_ci95,
                collision_rate=report.collision_rate,
                timeout_rate=report.timeout_rate,
            ).to_dict()
        )
    return {"env": config.name, "episodes": episodes, "seed": seed, "agreement_samples": len(obs), "rows": rows}
