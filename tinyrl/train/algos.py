"""SB3 algorithms by name, with defaults measured to learn fast on 2 cores with the batched env."""

from __future__ import annotations

from typing import Any

from tinyrl.errors import ConfigError

#: Defaults per algorithm; ``train.hyperparameters`` in the scenario YAML and flags override them.
#: PPO: large batches from many drones and few epochs keep the learner off the simulator's core
#: (DESIGN.md: 256 envs x 32 steps, batch 8,192, 4 epochs, 1 torch thread).
DEFAULTS: dict[str, dict[str, Any]] = {
    "ppo": {
        "n_steps": 32,
        "batch_size": 2048,
        "n_epochs": 4,
        "learning_rate": 3e-4,
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "clip_range": 0.2,
        "ent_coef": 0.0,
    },
    "sac": {
        "buffer_size": 1_000_000,
        "batch_size": 512,
        "learning_starts": 10_000,
        "train_freq": 1,
        "gradient_steps": 1,
    },
    "td3": {
        "buffer_size": 1_000_000,
        "batch_size": 512,
        "learning_starts": 10_000,
        "train_freq": 1,
        "gradient_steps": 1,
    },
    "dqn": {
        "buffer_size": 500_000,
        "batch_size": 256,
        "learning_starts": 10_000,
        "train_freq": 4,
        "gradient_steps": 4,
        "target_update_interval": 2_000,
        "exploration_fraction": 0.2,
        "exploration_final_eps": 0.02,
        "learning_rate": 5e-4,
        "gamma": 0.99,
    },
}
OFF_POLICY = {"sac", "td3", "dqn"}
CONTINUOUS_ONLY = {"sac", "td3"}
DISCRETE_ONLY = {"dqn"}


def algo_class(name: str) -> Any:
    """The SB3 class for ``name`` (imported lazily: torch is slow to import)."""
    import stable_baselines3 as sb3

    classes = {"ppo": sb3.PPO, "sac": sb3.SAC, "td3": sb3.TD3, "dqn": sb3.DQN}
    if name not in classes:
        raise ConfigError(f"unknown algorithm {name!r}; choose one of {', '.join(classes)}")
    return classes[name]


def check_algo(name: str, action_mode: str) -> None:
    """Fail early when an algorithm cannot drive the scenario's action space."""
    if name in CONTINUOUS_ONLY and action_mode != "continuous":
        raise ConfigError(f"{name} needs continuous actions; this scenario's action.mode is {action_mode}")
    if name in DISCRETE_ONLY and action_mode != "discrete":
        raise ConfigError(f"{name} needs discrete actions; this scenario's action.mode is {action_mode}")
