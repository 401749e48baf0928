"""Policy artefacts on disk, whatever stage made them, each loaded as a :class:`Policy`.

The teacher (``teacher.npz``), the float student (``student.keras``) and the int8 student (``policy_int8.tflite``).

TensorFlow loads only when a ``.keras`` file is read (:mod:`tinyrl.compress.student` imports it lazily).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tinyrl.common.policy import TEACHER_FILE, MlpPolicy, Policy, PolicyError
from tinyrl.compress.student import STUDENT_FILE, load_int8_policy, load_student, student_to_mlp


def _load_npz(path: Path) -> Policy:
    return MlpPolicy.load(path)


def _load_keras(path: Path) -> Policy:
    # The float student, run as a NumPy MlpPolicy (fast, batch-size independent); TensorFlow loads only here.
    return student_to_mlp(load_student(path))


def _load_tflite(path: Path) -> Policy:
    # The int8 student, run bit-exact with TFLite Micro; its head comes from the sidecar JSON.
    return load_int8_policy(path)


#: Artefact suffix → loader: the teacher (``.npz``), the float student (``.keras``), the int8 student (``.tflite``).
LOADERS: dict[str, Callable[[Path], Policy]] = {".npz": _load_npz, ".keras": _load_keras, ".tflite": _load_tflite}
#: The int8 model in a policy folder.
INT8_FILE = "policy_int8.tflite"
#: A policy folder's artefacts by the name comparisons and reports give them, in display order.
ARTEFACTS: dict[str, str] = {"teacher": TEACHER_FILE, "student": STUDENT_FILE, "int8": INT8_FILE}
#: In a policy folder, the artefact ``tinyrl eval`` picks when none is named, in order of preference.
FOLDER_ARTEFACTS = tuple(ARTEFACTS.values())


def resolve_tflite(policy: Path) -> Path:
    """``policy/policy_int8.tflite`` for a policy folder, or ``policy`` itself for a ``.tflite`` file.

    Raises:
        PolicyError: No int8 model there.
    """
    path = policy / INT8_FILE if policy.is_dir() else policy
    if not path.is_file() or path.suffix != ".tflite":
        raise PolicyError(f"{policy}: no int8 policy (expected a .tflite file or a folder with {INT8_FILE})")
    return path


def load_policy(path: str | Path) -> Policy:
    """Load a policy folder (``policies/NAME``: its teacher) or a single artefact (by suffix).

    Raises:
        PolicyError: Missing path, unknown suffix, or a malformed file.
    """
    path = Path(path)
    if path.is_dir():
        for name in FOLDER_ARTEFACTS:
            if (path / name).is_file():
                return load_policy(path / name)
        raise PolicyError(f"{path}: no policy artefact found (looked for {', '.join(FOLDER_ARTEFACTS)})")
    if not path.exists():
        raise PolicyError(f"{path}: file not found")
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise PolicyError(f"{path}: unknown policy file type {path.suffix!r}; known: {', '.join(sorted(LOADERS))}")
    return loader(path)
