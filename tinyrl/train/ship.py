"""Ship a finished run as a policy folder: ``policies/NAME/`` with the teacher and a manifest.

``manifest.json`` records how the teacher was trained (commands, seed, steps, wall time) and its
evaluation on unseen courses; later stages (distillation, int8) add their own sections to it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tinyrl.common.paths import portable_path
from tinyrl.common.policy import TEACHER_FILE, MlpPolicy
from tinyrl.errors import ConfigError
from tinyrl.io import atomic_write_bytes
from tinyrl.train import run as runs


def read_manifest(folder: Path) -> dict[str, Any]:
    """The folder's ``manifest.json`` (empty if none).

    Raises:
        ConfigError: The file is not a JSON object.
    """
    path = folder / "manifest.json"
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a manifest ({exc})") from None
    if not isinstance(manifest, dict):
        raise ConfigError(f"{path}: not a manifest (a JSON object is expected)")
    return manifest


def update_manifest(folder: str | Path, key: str, value: Any) -> Path:
    """Set one top-level section of ``manifest.json``, keeping the others (atomic write); returns its path.

    Raises:
        ConfigError: An existing ``manifest.json`` is not a JSON object.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    manifest[key] = value
    path = folder / "manifest.json"
    atomic_write_bytes(path, runs.json_bytes(manifest))
    return path


def portable_command(command: str) -> str:
    """``command`` as a manifest records it: no folder of the machine that trained it.

    Each absolute path becomes :func:`~tinyrl.common.paths.portable_path`'s form (an output folder does not change
    the result, and a scenario file is shipped as ``config.yaml``).
    """
    out = []
    for token in command.split(" "):
        flag, eq, value = token.partition("=") if token.startswith("--") else ("", "", token)
        out.append(f"{flag}{eq}{portable_path(value)}")
    return " ".join(out)


def ship(run_dir: Path, dest: Path) -> Path:
    """Copy a finished run's chosen teacher and config into ``dest`` and write its manifest.

    Everything is read and checked before anything is written, so a failure leaves ``dest`` as it was.

    Raises:
        ConfigError: The run has not finished, one of its files is malformed, or ``dest`` holds a malformed
            ``manifest.json``.
    """
    metrics_path = run_dir / "metrics.json"
    state = runs.load_state(run_dir)
    if not state.finished or not metrics_path.is_file():
        raise ConfigError(f"{run_dir}: the run has not finished (finish it with tinyrl train --resume {run_dir})")
    try:
        metrics = json.loads(metrics_path.read_text())
        recorded = {k: metrics[k] for k in ("steps", "wall_time_s", "learning_curve", "evaluation")}
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{metrics_path}: not a run's metrics ({type(exc).__name__}: {exc})") from None
    config = runs.read_config(run_dir)
    teacher = runs.shipped_teacher(run_dir)
    MlpPolicy.load(teacher)  # a damaged teacher fails here, not after dest was changed
    manifest = read_manifest(dest)
    dest.mkdir(parents=True, exist_ok=True)
    partial = dest / f".{TEACHER_FILE}.tmp"
    shutil.copyfile(teacher, partial)
    partial.replace(dest / TEACHER_FILE)
    runs.write_config(dest, config)
    evaluation = dict(recorded["evaluation"])
    evaluation.pop("episode_results", None)
    manifest["teacher"] = {
        "artefact": TEACHER_FILE,
        "run": run_dir.name,
        "commands": [portable_command(c) for c in state.commands],
        "algo": config.train.algo,
        "net_arch": list(config.train.net_arch),
        "seed": config.train.seed,
        "steps": recorded["steps"],
        "wall_time_s": recorded["wall_time_s"],
        "learning_curve": recorded["learning_curve"],
        "evaluation_unseen_courses": evaluation,
    }
    if state.average:  # the teacher is the mean of these snapshots (train.average_from)
        manifest["teacher"]["average"] = state.average
    if state.learners:  # which of the run's learners this teacher is, and how the others flew
        manifest["teacher"]["learners"] = state.learners
    atomic_write_bytes(dest / "manifest.json", runs.json_bytes(manifest))
    return dest
