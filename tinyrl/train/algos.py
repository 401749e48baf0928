"""SB3 algorithms by name, with defaults measured to learn fast on 2 cores with the batched env."""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np

from tinyrl.common.policy import Activation, Head, MlpPolicy, PolicyError
from tinyrl.errors import ConfigError
from tinyrl.tasks.config import ScenarioConfig

#: Defaults per algorithm; ``train.hyperparameters`` in the scenario YAML and flags override them.
#: PPO: large batches from many drones and few epochs keep the learner off the simulator's core
#: (docs/design.md, "Training").
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
#: Hyperparameters that may be a schedule: ``"lin_X"`` (RL Zoo's spelling) decays linearly from X to 0 over the run.
SCHEDULED = ("learning_rate", "clip_range")
CONTINUOUS_ONLY = {"sac", "td3"}
DISCRETE_ONLY = {"dqn"}


def algo_class(name: str) -> Any:
    """The SB3 class for ``name`` (imported lazily: torch is slow to import)."""
    import stable_baselines3 as sb3

    from tinyrl.train.split_gradient import SplitGradientPPO

    classes = {"ppo": SplitGradientPPO, "sac": sb3.SAC, "td3": sb3.TD3, "dqn": sb3.DQN}
    if name not in classes:
        raise ConfigError(f"unknown algorithm {name!r}; choose one of {', '.join(classes)}")
    return classes[name]


#: Constructor arguments TinyRL sets itself: a scenario cannot override them through ``train.hyperparameters``.
_RESERVED = {"policy", "env", "policy_kwargs", "seed", "device", "tensorboard_log", "verbose", "_init_setup_model"}


def algo_arguments(name: str) -> set[str]:
    """Hyperparameters the SB3 class of ``name`` takes (what ``train.hyperparameters`` may hold).

    A subclass's own arguments and, where it passes ``**kwargs`` on, its base classes'.
    """
    named: set[str] = set()
    for cls in algo_class(name).__mro__:
        if "__init__" not in vars(cls):
            continue
        parameters = inspect.signature(vars(cls)["__init__"]).parameters.values()
        named |= {p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            break
    return named - _RESERVED - {"self"}


#: Hyperparameters PPO and the off-policy algorithms both take, with another meaning: PPO's ``n_steps`` is each drone's
#: rollout and its ``batch_size`` a minibatch of that rollout; theirs are the n-step return and the replay sample.
FAMILY_MEANING = frozenset({"n_steps", "batch_size"})


def carried_arguments(from_name: str, to_name: str) -> set[str]:
    """Hyperparameters set for ``from_name`` that keep their meaning for ``to_name`` (which takes them)."""
    same_family = (from_name in OFF_POLICY) == (to_name in OFF_POLICY)
    return algo_arguments(to_name) - (set() if same_family else FAMILY_MEANING)


def policy_arguments(name: str) -> set[str]:
    """Arguments the MLP policy of ``name`` takes (what ``train.policy_kwargs`` may hold)."""
    policy = algo_class(name).policy_aliases["MlpPolicy"]
    return set(inspect.signature(policy.__init__).parameters) - {"self", "observation_space", "action_space"}


def check_algo(name: str, action_mode: str) -> None:
    """Fail early when an algorithm cannot drive the scenario's action space."""
    if name in CONTINUOUS_ONLY and action_mode != "continuous":
        raise ConfigError(f"{name} needs continuous actions; this scenario's action.mode is {action_mode}")
    if name in DISCRETE_ONLY and action_mode != "discrete":
        raise ConfigError(f"{name} needs discrete actions; this scenario's action.mode is {action_mode}")


def check_hyperparameters(name: str, hyperparameters: dict[str, Any]) -> None:
    """Fail before anything is written when ``train.hyperparameters`` names an argument ``name``'s SB3 class lacks."""
    accepted = algo_arguments(name)
    unknown = sorted(set(hyperparameters) - accepted)
    if unknown:
        raise ConfigError(
            f"train.hyperparameters: {', '.join(unknown)} is not a {name} hyperparameter; known: "
            f"{', '.join(sorted(accepted))}"
        )


class LinearSchedule:
    """SB3 schedule from ``start`` (at the first step) to 0 (at the last); a class, so checkpoints can store it."""

    def __init__(self, start: float) -> None:
        self.start = start

    def __call__(self, progress_remaining: float) -> float:
        """Value at ``progress_remaining`` (1 at the start of training, 0 at the end)."""
        return self.start * progress_remaining

    def __repr__(self) -> str:
        return f"lin_{self.start!r}"


def resolve_schedules(hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """``hyperparameters`` with every ``"lin_X"`` string of :data:`SCHEDULED` keys turned into a schedule.

    Other strings (SAC's ``ent_coef: auto``) pass through to SB3 unchanged.

    Raises:
        ConfigError: a :data:`SCHEDULED` string that is not ``lin_`` and a finite number > 0, or a ``lin_``
            schedule on another key.
    """
    out = dict(hyperparameters)
    for key, value in hyperparameters.items():
        if not isinstance(value, str) or (key not in SCHEDULED and not value.startswith("lin_")):
            continue
        if key not in SCHEDULED:
            raise ConfigError(f"train.hyperparameters.{key}: a schedule ({value!r}) is only allowed for {SCHEDULED}")
        try:
            start = float(value.removeprefix("lin_")) if value.startswith("lin_") else math.nan
        except ValueError:
            start = math.nan
        if not (math.isfinite(start) and start > 0):
            raise ConfigError(f"train.hyperparameters.{key}: expected a number or 'lin_X' with X > 0, got {value!r}")
        out[key] = LinearSchedule(start)
    return out


def argmax_offsets(config: ScenarioConfig) -> np.ndarray | None:
    """Each discrete action's ``train.argmax_preference`` (0 where unnamed), ``None`` when the scenario names none.

    Returns:
        ``(A,)`` float32 in the order of ``action.discrete_actions``, or ``None``.
    """
    preference = config.train.argmax_preference
    if not preference:
        return None
    return np.array([preference.get(name, 0.0) for name in config.action.discrete_actions], dtype=np.float32)


def mlp_from_sb3(model: Any, output_offsets: np.ndarray | None = None) -> MlpPolicy:
    """The deterministic path of an SB3 PPO/A2C, SAC, TD3 or DQN MLP policy as an :class:`MlpPolicy`.

    ``output_offsets`` ``(A,)`` (see :func:`argmax_offsets`) is added to the output layer's bias of an argmax head:
    the policy then picks ``argmax(outputs + offsets)`` wherever it runs, in float, int8 and on the MCU.
    """
    import torch

    policy = model.policy
    name = type(model).__name__.lower()
    head: Head
    if name == "dqn":
        modules, head = [policy.q_net.q_net], "argmax"
    elif name == "sac":
        modules, head = [policy.actor.latent_pi, policy.actor.mu], "tanh"
    elif name == "td3":
        modules, head = [policy.actor.mu], "tanh"
    else:
        # PPO/A2C: the action net gives the Gaussian mean (continuous) or the logits (discrete).
        discrete = hasattr(model.action_space, "n")
        modules, head = [policy.mlp_extractor.policy_net, policy.action_net], "argmax" if discrete else "clip"
    linears = [layer for module in modules for layer in module.modules() if isinstance(layer, torch.nn.Linear)]
    activations: dict[type, Activation] = {torch.nn.ReLU: "relu", torch.nn.Tanh: "tanh"}
    activation_fn = getattr(policy, "activation_fn", torch.nn.ReLU)
    if activation_fn not in activations:
        raise PolicyError(f"hidden activation {activation_fn.__name__} is not supported; use ReLU or Tanh")
    activation = activations[activation_fn]
    with torch.no_grad():
        weights = tuple(lin.weight.detach().cpu().numpy().astype(np.float32) for lin in linears)
        biases = tuple(lin.bias.detach().cpu().numpy().astype(np.float32) for lin in linears)
    if output_offsets is not None:
        if head != "argmax" or output_offsets.shape != biases[-1].shape:
            raise PolicyError(
                f"output offsets {output_offsets.shape} fit an argmax head of {biases[-1].shape[0]} actions only"
            )
        biases = (*biases[:-1], (biases[-1] + output_offsets).astype(np.float32))
    return MlpPolicy(weights, biases, activation, head)
