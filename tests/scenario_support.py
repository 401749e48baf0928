"""Tiny training scenarios shared by the training and scale-out tests."""

from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]


def tiny_scenario(tmp_path: Path, name: str = "obstacle-course", **train) -> Path:
    """``envs/NAME.yaml`` with a 20-course pool, 16 drones and a few thousand steps; ``train`` overrides more."""
    data = yaml.safe_load((ROOT / "envs" / f"{name}.yaml").read_text())
    data["course_pool_size"] = 20
    data["train"] = {
        **data["train"],
        "n_envs": 16,
        "steps": 4096,
        "eval_every_steps": 2048,
        "eval_episodes": 4,
        "checkpoint_every_steps": 1024,
        "hyperparameters": {"n_steps": 64, "batch_size": 256} if data["train"]["algo"] == "ppo" else {},
        **train,
    }
    path = tmp_path / f"{name}-tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
