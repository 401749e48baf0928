"""PPO's update with every minibatch's gradient split over two processes, the machine's two cores.

While the drones fly, the simulator's compiled kernels use both cores; during PPO's update (about a third of a run
on the obstacle course) SB3 leaves one idle, and torch's own threads do not speed up matrices this small (a
4,096-row minibatch of the 128-wide teacher: no faster on two threads, measured). With ``gradient_processes=2`` a
helper process holds a copy of the policy and computes the gradient of the second half of each minibatch's rows
while this process computes the first; their sum goes through SB3's gradient clipping and Adam step here.

The loss is SB3's, term by term, over the whole minibatch: advantages are normalised over all its rows, and each
half's sums are divided by the whole minibatch's size, so the summed gradient is the whole minibatch's gradient up
to float rounding (a run is not bit for bit the one-process run) and the logged losses are whole-minibatch means.
Rows are halved in order and the halves summed in one order: same seed, same machine, same run.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import torch
import torch.multiprocessing  # registers the pickling that puts tensors in shared memory, for the pipe
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.preprocessing import get_action_dim, get_obs_shape
from stable_baselines3.common.type_aliases import RolloutBufferSamples
from stable_baselines3.common.utils import explained_variance
from torch.nn.utils import parameters_to_vector

from tinyrl import workers
from tinyrl.errors import ConfigError
from tinyrl.train.overlap import OverlappedPPO

#: A minibatch's fields, in the order of SB3's ``RolloutBufferSamples``; advantages are normalised before splitting.
FIELDS = RolloutBufferSamples._fields


@dataclass(frozen=True)
class LossTerms:
    """PPO's loss settings for one update, and the whole minibatch's size that each part's sums are divided by."""

    clip_range: float
    clip_range_vf: float | None
    ent_coef: float
    vf_coef: float
    batch_rows: int
    discrete: bool


@dataclass(frozen=True)
class PartStats:
    """A part's share of the whole minibatch's logged means (sums over its rows over the minibatch's size)."""

    policy_loss: float
    value_loss: float
    entropy_loss: float
    clip_fraction: float
    approx_kl: float

    def __add__(self, other: PartStats) -> PartStats:
        return PartStats(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


def part_loss(
    policy: ActorCriticPolicy, rows: RolloutBufferSamples, terms: LossTerms
) -> tuple[torch.Tensor, PartStats]:
    """SB3's PPO loss restricted to ``rows``, each sum over them divided by ``terms.batch_rows``.

    The parts' losses (and so their gradients) add up to SB3's loss of the whole minibatch.
    """
    actions = rows.actions.long().flatten() if terms.discrete else rows.actions
    values, log_prob, entropy = policy.evaluate_actions(rows.observations, actions)
    values = values.flatten()
    n = terms.batch_rows
    ratio = torch.exp(log_prob - rows.old_log_prob)
    clipped_ratio = torch.clamp(ratio, 1 - terms.clip_range, 1 + terms.clip_range)
    policy_loss = -torch.min(rows.advantages * ratio, rows.advantages * clipped_ratio).sum() / n
    if terms.clip_range_vf is None:
        values_pred = values
    else:
        values_pred = rows.old_values + torch.clamp(values - rows.old_values, -terms.clip_range_vf, terms.clip_range_vf)
    value_loss = ((rows.returns - values_pred) ** 2).sum() / n
    # Without an analytical entropy, SB3 estimates it by the negative log-probability.
    entropy_loss = -(entropy if entropy is not None else -log_prob).sum() / n
    loss = policy_loss + terms.ent_coef * entropy_loss + terms.vf_coef * value_loss
    with torch.no_grad():
        log_ratio = log_prob - rows.old_log_prob
        stats = PartStats(
            policy_loss=policy_loss.item(),
            value_loss=value_loss.item(),
            entropy_loss=entropy_loss.item(),
            clip_fraction=((torch.abs(ratio - 1) > terms.clip_range).float().sum() / n).item(),
            approx_kl=(((torch.exp(log_ratio) - 1) - log_ratio).sum() / n).item(),
        )
    return loss, stats


def _grads(policy: torch.nn.Module) -> list[torch.Tensor]:
    """Every parameter's gradient, zeros where a part did not reach it."""
    return [torch.zeros_like(p) if p.grad is None else p.grad for p in policy.parameters()]


def _unused_schedule(progress_remaining: float) -> float:
    """The helper's policy never steps an optimizer; SB3's constructor still wants a learning rate."""
    return 0.0


class _Helper:
    """The helper process's side: its policy copy, and the shared rows, weights and gradient it works in."""

    def __init__(self, policy_class: type[ActorCriticPolicy], kwargs: dict[str, Any], shared: dict[str, Any]) -> None:
        self.policy, self.shared = policy_class(**kwargs), shared
        self.policy.set_training_mode(True)

    def gradient(self, n_rows: int, terms: LossTerms) -> PartStats:
        params = list(self.policy.parameters())
        torch.nn.utils.vector_to_parameters(self.shared["weights"], params)
        rows = RolloutBufferSamples(*(self.shared[name][:n_rows] for name in FIELDS))
        loss, stats = part_loss(self.policy, rows, terms)
        self.policy.zero_grad(set_to_none=True)
        loss.backward()
        torch.cat([g.reshape(-1) for g in _grads(self.policy)], out=self.shared["gradient"])
        return stats


def _serve(conn: Connection) -> None:
    torch.set_num_threads(1)
    helper: _Helper | None = None

    def handle(message: tuple[Any, ...]) -> Any:
        nonlocal helper
        if message[0] == "setup":
            helper = _Helper(*message[1:])
            return None
        assert helper is not None, "the gradient helper got work before its setup"
        return helper.gradient(*message[1:])

    workers.serve(conn, handle)


class GradientSplitter:
    """Computes each minibatch's gradient with a helper process: this process the first half, the helper the rest.

    Args:
        policy: The learner (on the CPU); the helper builds a copy of it and gets its weights before each minibatch.
        batch_size: Rows of the largest minibatch.
    """

    def __init__(self, policy: ActorCriticPolicy, batch_size: int) -> None:
        n_weights = sum(p.numel() for p in policy.parameters())
        self._helper_rows = batch_size // 2
        # SB3's rollout buffer hands out float32 rows of these widths.
        widths = {
            "observations": get_obs_shape(policy.observation_space),
            "actions": (get_action_dim(policy.action_space),),
        }
        self._shared: dict[str, torch.Tensor] = {
            "weights": torch.zeros(n_weights).share_memory_(),
            "gradient": torch.zeros(n_weights).share_memory_(),
            **{name: torch.zeros((self._helper_rows, *widths.get(name, ()))).share_memory_() for name in FIELDS},
        }
        self._conn, self._process = workers.spawn(_serve, (), "tinyrl-grad")
        # The helper builds its own copy (its weights arrive before each minibatch): a learner that has flown holds
        # its last action distribution, a torch graph that cannot be pickled or copied. Its reply is awaited at the
        # first minibatch, so the helper starts up while the first rollout flies.
        kwargs = {**policy._get_constructor_parameters(), "lr_schedule": _unused_schedule}
        self._send(("setup", type(policy), kwargs, self._shared))
        self._setting_up = True

    def _send(self, message: Any) -> None:
        workers.send(self._conn, self._process, "gradient", message)

    def _receive(self) -> Any:
        return workers.receive(self._conn, self._process, "gradient")

    def gradient(self, policy: ActorCriticPolicy, rows: RolloutBufferSamples, terms: LossTerms) -> PartStats:
        """Fill ``policy``'s ``.grad`` with the whole minibatch's gradient; returns the minibatch's logged means."""
        if self._setting_up:
            self._receive()
            self._setting_up = False
        params = list(policy.parameters())
        n = len(rows.advantages)
        mine = n - n // 2
        helper_rows = n - mine
        if helper_rows > self._helper_rows:
            raise ValueError(f"a minibatch of {n} rows is larger than the {2 * self._helper_rows} this splitter took")
        self._shared["weights"].copy_(parameters_to_vector(params))
        for name, value in zip(FIELDS, rows, strict=True):
            self._shared[name][:helper_rows].copy_(value[mine:])
        if helper_rows:
            self._send(("gradient", helper_rows, terms))
        loss, stats = part_loss(policy, RolloutBufferSamples(*(value[:mine] for value in rows)), terms)
        policy.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if not helper_rows:
            return stats
        helper_stats: PartStats = self._receive()
        offset = 0
        for p, g in zip(params, _grads(policy), strict=True):
            helper_grad = self._shared["gradient"][offset : offset + p.numel()].view_as(p)
            p.grad = g + helper_grad
            offset += p.numel()
        return stats + helper_stats

    def close(self) -> None:
        """Stop the helper process."""
        workers.stop(self._conn, self._process)


def _normalised(advantages: torch.Tensor, normalize: bool) -> torch.Tensor:
    """SB3's per-minibatch advantage normalisation (none for a single row)."""
    if normalize and len(advantages) > 1:
        return (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    return advantages


class SplitGradientPPO(OverlappedPPO):
    """:class:`OverlappedPPO` whose update splits each minibatch's gradient over ``gradient_processes`` processes.

    Args:
        gradient_processes: 1 (SB3's update, in this process) or 2 (this process and a helper, see the module).
        *args, **kwargs: As :class:`OverlappedPPO`.
    """

    def __init__(self, *args: Any, gradient_processes: int = 1, **kwargs: Any) -> None:
        if gradient_processes not in (1, 2):
            raise ConfigError(f"gradient_processes must be 1 or 2, got {gradient_processes}")
        self.gradient_processes = gradient_processes
        self._splitter: GradientSplitter | None = None
        super().__init__(*args, **kwargs)
        self._check_split()

    def _check_split(self) -> None:
        """Fail early on what a split update cannot do (a loaded model is checked when it learns)."""
        if self.gradient_processes == 1:
            return
        if self.overlap_update:
            raise ConfigError("gradient_processes: 2 and overlap_update: true both want the second core; pick one")
        if self.device.type != "cpu":
            raise ConfigError(f"gradient_processes: 2 splits the update over CPU cores; this model is on {self.device}")
        if self.observation_space is not None and not isinstance(self.observation_space, spaces.Box):
            raise ConfigError("gradient_processes: 2 needs a flat (Box) observation; this env's is a dict or discrete")

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_splitter"]

    def learn(self, *args: Any, **kwargs: Any) -> SplitGradientPPO:
        """SB3's ``learn``; the helper process lives as long as it."""
        self._check_split()
        if self.gradient_processes > 1:
            self._helper()  # started before the first rollout, so its imports overlap the drones' flight
        try:
            super().learn(*args, **kwargs)
        finally:
            self.stop_helper()
        return self

    def _helper(self) -> GradientSplitter:
        """The running helper, started if there is none."""
        if self._splitter is None:
            self._splitter = GradientSplitter(self.policy, self.batch_size)
        return self._splitter

    def stop_helper(self) -> None:
        """Stop the helper process, if one runs (the next update starts another)."""
        if self._splitter is not None:
            self._splitter.close()
            self._splitter = None

    def train(self) -> None:
        """SB3's PPO update; with two processes each minibatch's gradient comes from :class:`GradientSplitter`."""
        if self.gradient_processes == 1:
            super().train()
            return
        splitter = self._helper()
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip_range = float(self.clip_range(self._current_progress_remaining))  # type: ignore[operator]
        clip_range_vf = None
        if self.clip_range_vf is not None:
            clip_range_vf = float(self.clip_range_vf(self._current_progress_remaining))  # type: ignore[operator]
        logged: list[PartStats] = []
        approx_kl: list[float] = []
        loss = float("nan")
        for epoch in range(self.n_epochs):
            approx_kl = []
            stop = False
            for data in self.rollout_buffer.get(self.batch_size):
                rows = data._replace(advantages=_normalised(data.advantages, self.normalize_advantage))
                terms = LossTerms(
                    clip_range=clip_range,
                    clip_range_vf=clip_range_vf,
                    ent_coef=float(self.ent_coef),
                    vf_coef=float(self.vf_coef),
                    batch_rows=len(rows.advantages),
                    discrete=isinstance(self.action_space, spaces.Discrete),
                )
                stats = splitter.gradient(self.policy, rows, terms)
                logged.append(stats)
                approx_kl.append(stats.approx_kl)
                loss = stats.policy_loss + terms.ent_coef * stats.entropy_loss + terms.vf_coef * stats.value_loss
                if self.target_kl is not None and stats.approx_kl > 1.5 * self.target_kl:
                    stop = True
                    if self.verbose >= 1:
                        print(f"Early stopping at step {epoch} due to reaching max kl: {stats.approx_kl:.2f}")
                    break
                torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()
            self._n_updates += 1
            if stop:
                break
        self._record(logged, approx_kl, loss, clip_range, clip_range_vf)

    def _record(
        self, logged: list[PartStats], approx_kl: list[float], loss: float, clip_range: float, clip_range_vf: Any
    ) -> None:
        """SB3's update log, under SB3's keys."""
        values, returns = self.rollout_buffer.values.flatten(), self.rollout_buffer.returns.flatten()
        self.logger.record("train/entropy_loss", np.mean([s.entropy_loss for s in logged]))
        self.logger.record("train/policy_gradient_loss", np.mean([s.policy_loss for s in logged]))
        self.logger.record("train/value_loss", np.mean([s.value_loss for s in logged]))
        self.logger.record("train/approx_kl", np.mean(approx_kl))
        self.logger.record("train/clip_fraction", np.mean([s.clip_fraction for s in logged]))
        self.logger.record("train/loss", loss)
        self.logger.record("train/explained_variance", explained_variance(values, returns))
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", torch.exp(self.policy.log_std).mean().item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/clip_range", clip_range)
        if clip_range_vf is not None:
            self.logger.record("train/clip_range_vf", clip_range_vf)
