"""PPO's MLP policy with an asymmetric critic: the critic sees extra, privileged inputs, the actor does not.

The training env appends the scenario's critic inputs (:mod:`tinyrl.tasks.critic`) after the observation; the
actor's network reads only the first ``actor_inputs`` columns, so the policy that is exported and flies has the
scenario's observation as its input and nothing the drone cannot sense.
"""

from __future__ import annotations

from typing import Any

import torch
from stable_baselines3.common.policies import ActorCriticPolicy


class LeadingColumns(torch.nn.Module):
    """Keeps the first ``n`` columns of a ``(batch, features)`` input."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x[:, :n]``."""
        return x[:, : self.n]


class AsymmetricActorCriticPolicy(ActorCriticPolicy):
    """:class:`ActorCriticPolicy` whose actor sees the first ``actor_inputs`` observation columns, its critic all.

    Args:
        actor_inputs: Number of leading observation columns the actor reads (the scenario's observation size).
        *args, **kwargs: As :class:`ActorCriticPolicy` (``net_arch``, ``activation_fn``, ...).
    """

    def __init__(self, *args: Any, actor_inputs: int, **kwargs: Any) -> None:
        self.actor_inputs = actor_inputs  # read by _build_mlp_extractor, which the parent's __init__ calls
        super().__init__(*args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        super()._build_mlp_extractor()
        if not 0 < self.actor_inputs < self.features_dim:
            raise ValueError(f"actor_inputs must be in 1..{self.features_dim - 1}, got {self.actor_inputs}")
        layers = list(self.mlp_extractor.policy_net)
        first = layers[0]
        assert isinstance(first, torch.nn.Linear)
        # The critic keeps SB3's network; the actor's first layer is narrowed to the columns it may read.
        narrowed = torch.nn.Linear(self.actor_inputs, first.out_features)
        self.mlp_extractor.policy_net = torch.nn.Sequential(LeadingColumns(self.actor_inputs), narrowed, *layers[1:])

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "actor_inputs": self.actor_inputs}
