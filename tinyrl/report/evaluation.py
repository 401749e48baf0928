"""Teacher vs float student vs int8 student of one policy folder, flown on the same unseen courses and seeds.

:func:`evaluate_policy_dir` loads whichever of the three artefacts the folder holds, flies each with
:func:`tinyrl.common.evaluate.evaluate` on one set of unseen courses (episode ``j``: course ``j % n``, seed
``seed + j``, so rows differ only by the policy), records a few trajectories, and measures the int8 quantization
error on the observations the float student saw in closed loop. It only reads artefacts; nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyrl.common.evaluate import EvalReport, eval_courses, evaluate
from tinyrl.common.policy import MlpPolicy, Policy, PolicyError
from tinyrl.compress.artefacts import ARTEFACTS, FOLDER_ARTEFACTS, load_policy
from tinyrl.report.difficulty import success_by_difficulty
from tinyrl.report.episode import EpisodeRecording, record_episode
from tinyrl.report.hil import HIL_FILE
from tinyrl.report.robustness import robustness_by_condition, robustness_policies
from tinyrl.sim.course import Course
from tinyrl.tasks.config import ScenarioConfig, load_scenario
from tinyrl.tasks.course_checks import load_flyable_courses

__all__ = ["ARTEFACTS", "PolicyDirEvaluation", "QuantizationError", "evaluate_policy_dir", "footprint_rows"]

#: Most observation rows kept for the quantization-error histogram.
MAX_RECORDED_OBS = 20_000


@dataclass
class QuantizationError:
    """``|int8 − float student|`` on closed-loop observations of the float student.

    Attributes:
        abs_diff: ``(N, out_dim)`` absolute differences: of actions for continuous heads, of logits for argmax.
        quantity: ``"action"`` or ``"logit"``, what ``abs_diff`` measures.
        action_agreement: Fraction of rows whose discrete action matches (argmax heads); None for continuous.
    """

    abs_diff: np.ndarray
    quantity: str
    action_agreement: float | None = None

    def summary(self) -> dict[str, float]:
        """Mean, 99th percentile and maximum of the absolute difference, and the share within 0.05."""
        d = self.abs_diff.ravel()
        out = {
            "mean_abs_diff": float(d.mean()),
            "p99_abs_diff": float(np.percentile(d, 99)),
            "max_abs_diff": float(d.max()),
            "within_0.05": float(np.mean(d <= 0.05)),
        }
        if self.action_agreement is not None:
            out["action_agreement"] = self.action_agreement
        return out


@dataclass
class PolicyDirEvaluation:
    """Everything a report shows about one policy folder.

    Attributes:
        policy_dir: The folder.
        env: Scenario name.
        seed: Base seed of the episodes and of the course set.
        courses: The courses flown (episode ``j`` flew ``courses[j % len]``): unseen generated ones or a file's.
        reports: Row name (``teacher``, ``student``, ``int8``) → evaluation, for the artefacts present.
        policies: Row name → the loaded policy.
        quantization: int8 vs float student error, when both are present.
        manifest: ``manifest.json`` of the folder (empty if absent).
        export_report: A ``tinyrl export`` ``report.json``, if one was found or given.
        by_difficulty: Course difficulty → row name → evaluation on unseen courses of that level (empty if skipped).
        hil_report: A ``tinyrl hil --json`` report (``hil.json``), if one was found or given.
        config: The scenario flown.
        course_file: The course file flown instead of unseen generated courses, if one was given.
        robustness: Robustness condition → row name → evaluation on ``courses`` with the same seeds (the
            ``nominal`` entries are ``reports``'); empty if skipped (see :mod:`tinyrl.report.robustness`).
    """

    policy_dir: Path
    env: str
    seed: int
    courses: list[Course]
    reports: dict[str, EvalReport]
    policies: dict[str, Policy] = field(repr=False)
    quantization: QuantizationError | None = None
    manifest: dict[str, Any] = field(default_factory=dict, repr=False)
    export_report: dict[str, Any] | None = field(default=None, repr=False)
    by_difficulty: dict[str, dict[str, EvalReport]] = field(default_factory=dict, repr=False)
    hil_report: dict[str, Any] | None = field(default=None, repr=False)
    config: ScenarioConfig | None = field(default=None, repr=False)
    course_file: Path | None = None
    robustness: dict[str, dict[str, EvalReport]] = field(default_factory=dict, repr=False)

    def describe_courses(self) -> str:
        """Where the courses come from, for captions: ``unseen courses`` or the course file."""
        return "unseen courses" if self.course_file is None else f"courses of {self.course_file.name}"

    def flights(self, name: str) -> list[tuple[Course, np.ndarray, str]]:
        """``(course, trajectory, outcome)`` of the recorded episodes of row ``name`` (for ``plot_flights``)."""
        report = self.reports[name]
        return [
            (self.courses[j % len(self.courses)], traj, report.episode_results[j].outcome)
            for j, traj in sorted(report.trajectories.items())
        ]

    def replay(self, name: str, index: int = 0, max_steps: int | None = None) -> EpisodeRecording:
        """Fly episode ``index`` of row ``name`` again, recording it for a video (same path and outcome).

        Raises:
            PolicyError: No such row or episode.
        """
        if name not in self.policies:
            raise PolicyError(f"no {name!r} policy in {self.policy_dir} (have {', '.join(self.policies)})")
        config = self.config if self.config is not None else load_scenario(self.env)
        course = index % len(self.courses)  # as evaluate: episode j flies course j % len
        return record_episode(self.policies[name], config, self.courses, course, self.seed + index, max_steps)


class _Recorder:
    """A :class:`Policy` that passes through to ``policy`` and keeps (up to ``limit``) observations it saw."""

    def __init__(self, policy: Policy, limit: int) -> None:
        self.policy, self.limit = policy, limit
        self.obs_dim = policy.obs_dim
        self.rows: list[np.ndarray] = []
        self.count = 0

    def act(self, obs: np.ndarray) -> np.ndarray:
        if self.count < self.limit:
            keep = np.array(obs[: self.limit - self.count], dtype=np.float32, copy=True)
            self.rows.append(keep)
            self.count += len(keep)
        return self.policy.act(obs)

    def observations(self) -> np.ndarray:
        return np.concatenate(self.rows) if self.rows else np.zeros((0, self.obs_dim), np.float32)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PolicyError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: expected a JSON object")
    return data


def quantization_error(student: Policy, int8: Policy, obs: np.ndarray) -> QuantizationError:
    """Compare the int8 and float students on observations ``(N, obs_dim)``."""
    forward_s, forward_q = getattr(student, "forward", None), getattr(int8, "forward", None)
    if forward_s is None or forward_q is None:
        raise PolicyError("both students need a forward() to compare their outputs")
    head = getattr(student, "head", "clip")
    if head == "argmax":
        ys, yq = forward_s(obs), forward_q(obs)
        agreement = float(np.mean(np.argmax(ys, axis=1) == np.argmax(yq, axis=1)))
        return QuantizationError(np.abs(yq - ys), "logit", agreement)
    return QuantizationError(np.abs(int8.act(obs) - student.act(obs)), "action")


def footprint_rows(evaluation: PolicyDirEvaluation) -> list[dict[str, Any]]:
    """Per artefact: parameters, weight + bias bytes, file size (and the export report's numbers for int8)."""
    from tinyrl.compress.student import Int8Policy

    rows = []
    for name, policy in evaluation.policies.items():
        if isinstance(policy, Int8Policy):
            params, nbytes = policy.n_parameters, policy.model.parameter_bytes
        elif isinstance(policy, MlpPolicy):
            params, nbytes = policy.n_parameters, 4 * policy.n_parameters
        else:  # pragma: no cover - every loader returns one of the two
            params, nbytes = 0, 0
        path = evaluation.policy_dir / ARTEFACTS[name]
        rows.append(
            {
                "name": name,
                "artefact": ARTEFACTS[name],
                "layers": "→".join(str(n) for n in _layer_sizes(policy)),
                "parameters": params,
                "parameter_bytes": nbytes,
                "dtype": "int8 (int32 bias)" if isinstance(policy, Int8Policy) else "float32",
                "file_bytes": path.stat().st_size if path.is_file() else None,
            }
        )
    return rows


def _layer_sizes(policy: Policy) -> list[int]:
    sizes = getattr(policy, "layer_sizes", None)
    if sizes is not None:
        return list(sizes)
    model = getattr(policy, "model", None)
    layers = getattr(model, "layers", None) or []
    if not layers:
        return [policy.obs_dim]
    return [policy.obs_dim, *(int(layer.weights.shape[0]) for layer in layers)]


def evaluate_policy_dir(
    policy_dir: str | Path,
    env: str | ScenarioConfig = "obstacle-course",
    episodes: int = 100,
    seed: int = 0,
    n_trajectories: int = 8,
    export_report: str | Path | None = None,
    difficulties: Sequence[str] | None = None,
    hil_report: str | Path | None = None,
    courses: str | Path | None = None,
    robustness: Sequence[str] | None = None,
) -> PolicyDirEvaluation:
    """Fly the folder's teacher, float student and int8 student on the same unseen courses and seeds.

    Args:
        policy_dir: A policy folder (``policies/NAME``) with any of ``teacher.npz``, ``student.keras``,
            ``policy_int8.tflite``; ``manifest.json`` is read if present.
        env: Scenario name (``envs/NAME.yaml``), YAML path, or a loaded config.
        episodes: Episodes per policy (also the number of unseen courses).
        seed: Base seed: episode ``j`` uses ``seed + j``; the courses come from ``seed`` too.
        n_trajectories: Trajectories recorded per policy (the first episodes).
        export_report: A ``tinyrl export`` ``report.json``; by default ``POLICY_DIR/report.json`` if it exists.
        difficulties: Course difficulties to fly each policy on too (``episodes`` each; default: every level of
            the scenario's generator; ``()`` skips them).
        hil_report: A ``tinyrl hil --json`` report; by default ``POLICY_DIR/hil.json`` if it exists.
        courses: A course file to fly instead of unseen generated courses (episode ``j``: course ``j % len``, as
            ``tinyrl eval --courses``); the difficulty sweep still flies generated ones.
        robustness: Rows (``teacher``, ``student``, ``int8``) to fly under every robustness condition on the same
            courses and seeds (``episodes`` each); default: teacher and int8 when the scenario trains with
            randomization; ``()`` skips them.

    Raises:
        PolicyError: The folder is missing or holds none of the artefacts, or one is malformed, or ``robustness``
            names a row it does not hold.
        ConfigError: An unknown difficulty, or ``robustness`` rows for a scenario without randomization.
    """
    policy_dir = Path(policy_dir)
    if not policy_dir.is_dir():
        raise PolicyError(
            f"{policy_dir}: not a policy folder (expected a directory with {', '.join(FOLDER_ARTEFACTS)})"
        )
    present = {name: policy_dir / art for name, art in ARTEFACTS.items() if (policy_dir / art).is_file()}
    if not present:
        raise PolicyError(f"{policy_dir}: no policy artefact found (looked for {', '.join(FOLDER_ARTEFACTS)})")
    if episodes < 1:
        raise PolicyError(f"episodes must be at least 1, got {episodes}")
    config = env if isinstance(env, ScenarioConfig) else load_scenario(env)
    robust_names = robustness_policies(list(present), config, robustness)  # fail before flying anything
    policies = {name: load_policy(path) for name, path in present.items()}
    course_list = load_flyable_courses(courses, config) if courses is not None else eval_courses(config, episodes, seed)
    reports: dict[str, EvalReport] = {}
    recorded = np.zeros((0, 0), np.float32)
    for name, policy in policies.items():
        flown: Policy = policy
        if name == "student" and "int8" in policies:
            flown = _Recorder(policy, MAX_RECORDED_OBS)
        reports[name] = evaluate(flown, config, course_list, episodes, seed, record_trajectories=n_trajectories)
        if isinstance(flown, _Recorder):
            recorded = flown.observations()
    quant = None
    if len(recorded):
        quant = quantization_error(policies["student"], policies["int8"], recorded)
    manifest_path = policy_dir / "manifest.json"
    manifest = _read_json(manifest_path) if manifest_path.is_file() else {}
    export = _optional_json(policy_dir / "report.json", export_report, "export report")
    hil = _optional_json(policy_dir / HIL_FILE, hil_report, "HIL report")
    known = reports if courses is None else None
    levels = success_by_difficulty(policies, config, episodes, seed, difficulties, known=known)
    course_file = Path(courses) if courses is not None else None
    robust = robustness_by_condition(
        {n: policies[n] for n in robust_names}, config, course_list, episodes, seed, known=reports
    )
    return PolicyDirEvaluation(
        policy_dir,
        config.name,
        seed,
        course_list,
        reports,
        policies,
        quant,
        manifest,
        export,
        levels,
        hil,
        config,
        course_file,
        robust,
    )


def _optional_json(default: Path, given: str | Path | None, what: str) -> dict[str, Any] | None:
    """``given`` (which must exist) or else ``default`` (if it exists), read as a JSON object."""
    path = Path(given) if given is not None else default
    if given is not None and not path.is_file():
        raise PolicyError(f"{path}: {what} not found")
    return _read_json(path) if path.is_file() else None
