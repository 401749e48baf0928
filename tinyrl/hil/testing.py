"""A stand-in int8 policy for HIL benchmarks when no trained one is shipped.

``scripts/bench_hil.py`` uses it then (and says so in its output); the HIL tests fly the shipped policy and fail
without it.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

__all__ = ["calibration_observations", "random_int8_policy"]


def calibration_observations(env: str, n: int = 32, steps: int = 8, seed: int = 123) -> np.ndarray:
    """Observations of ``env`` on ``n`` evaluation courses: the resets plus ``steps`` steps of a zero action."""
    from tinyrl.common.evaluate import eval_courses
    from tinyrl.tasks.config import load_scenario
    from tinyrl.tasks.core import BatchedTask

    config = load_scenario(env)
    task = BatchedTask(config, n, eval_courses(config, n, seed=seed), randomize=False)
    rows = [task.reset_slots(np.arange(n), np.arange(n))]
    for _ in range(steps):
        rows.append(task.step(np.zeros((n, task.action_dim))).obs.copy())
    task.close()
    return np.concatenate(rows).astype(np.float32)


def random_int8_policy(
    folder: Path, env: str = "obstacle-course", arch: tuple[int, ...] = (32, 32), seed: int = 7
) -> Path:
    """Quantize an untrained ``clip``-head student of ``env`` into ``folder/policy_int8.tflite`` (+ sidecar).

    Calibrated on real observations of the scenario, so its int8 grid is realistic; it flies badly, which keeps
    episodes short. Needs TensorFlow.

    Returns:
        ``folder``.
    """
    from tinyrl.compress.artefacts import INT8_FILE
    from tinyrl.compress.quantize import quantize_keras_mlp
    from tinyrl.compress.student import build_student, sidecar_path

    folder.mkdir(parents=True, exist_ok=True)
    obs = calibration_observations(env)
    student = build_student(obs.shape[1], 4, arch, "clip", seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = quantize_keras_mlp(student, obs, folder / INT8_FILE)
    sidecar_path(path).write_text(json.dumps({"head": "clip", "note": "untrained stand-in (tinyrl.hil.testing)"}))
    return folder
