"""Helpers for the scale-out tests: tiny scenarios and search spaces."""

from pathlib import Path

import yaml
from scenario_support import tiny_scenario as shared_tiny_scenario


def tiny_scenario(tmp_path: Path, **train) -> Path:
    """The tiny obstacle course of the training tests, with 2,048 steps and a 32x32 network by default."""
    return shared_tiny_scenario(tmp_path, **{"steps": 2048, "eval_every_steps": 1024, "net_arch": [32, 32], **train})


def write_space(tmp_path: Path, params: dict, **extra) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({"params": params, **extra}))
    return path


#: Seeds and a learning rate, no early stopping before the budget ends (grace beyond the last evaluation).
SEED_SPACE = {
    "train.seed": {"type": "int", "low": 0, "high": 50},
    "train.hyperparameters.learning_rate": {"type": "loguniform", "low": 1.0e-4, "high": 1.0e-3},
    "train.net_arch": {"type": "choice", "values": [[16, 16], [32, 32]]},
}
NO_EARLY_STOP = {"scheduler": {"grace_evaluations": 100}}
