"""Helpers for the scale-out tests: tiny scenarios and search spaces."""

from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]


def tiny_scenario(tmp_path: Path, **train) -> Path:
    """The obstacle course with a 20-course pool, 16 drones and a few thousand steps."""
    data = yaml.safe_load((ROOT / "envs" / "obstacle-course.yaml").read_text())
    data["course_pool_size"] = 20
    data["train"] = {
        **data["train"],
        "n_envs": 16,
        "steps": 2048,
        "eval_every_steps": 1024,
        "eval_episodes": 4,
        "checkpoint_every_steps": 1024,
        "net_arch": [32, 32],
        "hyperparameters": {"n_steps": 64, "batch_size": 256},
        **train,
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


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
