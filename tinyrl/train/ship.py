"""Ship a finished run as a policy folder: ``policies/NAME/`` with the teacher and a manifest.

``manifest.json`` records how the teacher was trained (commands, seed, steps, wall time) and its
evaluation on unseen courses; later stages (distillation, int8) add their own sections to it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from tinyrl.errors import ConfigError
from tinyrl.io import atomic_write_bytes
from tinyrl.train import run as runs


def read_manifest(folder: Path) -> dict[str, Any]:
    """The folder's ``manifest.json`` (empty if none)."""
    path = folder / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def update_manifest(folder: Path, key: str, value: Any) -> None:
    """Set one top-level section of ``manifest.json``, keeping the others (atomic write)."""
    manifest = read_manifest(folder)
    manifest[key] = value
    atomic_write_bytes(folder / "manifest.json", runs.json_bytes(manifest))


#: The checkout this package runs from: paths inside it are recorded relative to it.
_REPO_ROOT = Path(__file__).resolve().parents[2]


def portable_command(command: str) -> str:
    """``command`` as a manifest records it: no folder of the machine that trained it.

    Absolute paths inside the checkout become relative to it; others become ``<name>`` (an output folder does not
    change the result, and a scenario file is shipped as ``config.yaml``).
    """
    out = []
    for token in command.split(" "):
        flag, eq, value = token.partition("=") if token.startswith("--") else ("", "", token)
        if value.startswith("/"):
            path = PurePosixPath(value)
            inside = path.is_relative_to(_REPO_ROOT.as_posix())
            value = path.relative_to(_REPO_ROOT.as_posix()).as_posix() if inside else f"<{path.name or 'root'}>"
        out.append(f"{flag}{eq}{value}")
    return " ".join(out)


def ship(run_dir: Path, dest: Path) -> Path:
    """Copy a finished run's chosen teacher and config into ``dest`` and write its manifest.

    Raises:
        ConfigError: The run has not finished (no ``metrics.json``).
    """
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        raise ConfigError(f"{run_dir}: the run has not finished (no metrics.json)")
    metrics = json.loads(metrics_path.read_text())
    state = runs.load_state(run_dir)
    config = runs.read_config(run_dir)
    best = run_dir / "best" / "teacher.npz"
    teacher = best if best.is_file() else run_dir / "teacher.npz"
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(teacher, dest / ".teacher.npz.tmp")
    (dest / ".teacher.npz.tmp").replace(dest / "teacher.npz")
    runs.write_config(dest, config)
    evaluation = dict(metrics["evaluation"])
    evaluation.pop("episode_results", None)
    update_manifest(
        dest,
        "teacher",
        {
            "artefact": "teacher.npz",
            "run": run_dir.name,
            "commands": [portable_command(c) for c in state.commands],
            "algo": config.train.algo,
            "net_arch": list(config.train.net_arch),
            "seed": config.train.seed,
            "steps": metrics["steps"],
            "wall_time_s": metrics["wall_time_s"],
            "learning_curve": metrics["learning_curve"],
            "evaluation_unseen_courses": evaluation,
        },
    )
    return dest
