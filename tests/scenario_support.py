"""Tiny training scenarios and seeded random policies shared by the training and scale-out tests."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tinyrl.common.policy import MlpPolicy
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.features import observation_size

ROOT = Path(__file__).parents[1]


def ship_run(run_dir: Path, dest: Path) -> dict[str, Any]:
    """``tinyrl ship RUN -o DEST`` in a process of its own; returns the manifest it wrote."""
    shipped = subprocess.run(
        [sys.executable, "-m", "tinyrl", "ship", str(run_dir), "-o", str(dest)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shipped.returncode == 0, shipped.stderr[-2000:]
    return json.loads((dest / "manifest.json").read_text())


def tiny_scenario(tmp_path: Path, name: str = "obstacle-course", **train) -> Path:
    """``envs/NAME.yaml`` with a 20-course pool, 16 drones, a few thousand steps and one learner; ``train`` overrides
    more."""
    data = yaml.safe_load((ROOT / "envs" / f"{name}.yaml").read_text())
    data["course_pool_size"] = 20
    data["train"] = {
        **data["train"],
        "n_envs": 16,
        "steps": 4096,
        "eval_every_steps": 2048,
        "eval_episodes": 4,
        "checkpoint_every_steps": 1024,
        "learners": 1,
        "hyperparameters": {"n_steps": 64, "batch_size": 256} if data["train"]["algo"] == "ppo" else {},
        **train,
    }
    path = tmp_path / f"{name}-tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def shifted_hover(tmp_path: Path, **train) -> Path:
    """The tiny hover scenario (32 drones) with its height range shifted, so that holding the start must be learned.

    In the shipped scenario an untrained network (outputs near 0) already commands the start height; here output 0
    means 1.15 m, 15 cm above the start and outside the 10 cm tolerance. ``train`` overrides more.
    """
    hyper = {"n_steps": 128, "batch_size": 512}
    path = tiny_scenario(tmp_path, "hover", **{"n_envs": 32, "eval_episodes": 8, "hyperparameters": hyper, **train})
    data = yaml.safe_load(path.read_text())
    data["action"]["z_range_m"] = [0.3, 2.0]
    data["hover_tolerance_m"] = 0.1
    path.write_text(yaml.safe_dump(data))
    return path


def leaning_mlp(obs_dim: int | None = None, seed: int = 1, forward: float = 0.6) -> MlpPolicy:
    """A seeded random 16-unit MLP whose vx leans ``forward``, so episodes end in a mix of outcomes.

    ``obs_dim`` defaults to the obstacle course's observation size.
    """
    if obs_dim is None:
        obs_dim = observation_size(load_scenario("obstacle-course"))
    rng = np.random.default_rng(seed)
    return MlpPolicy(
        (rng.normal(size=(16, obs_dim)).astype(np.float32) * 0.3, rng.normal(size=(4, 16)).astype(np.float32) * 0.3),
        (np.zeros(16, np.float32), np.array([forward, 0, 0, 0], np.float32)),
    )
