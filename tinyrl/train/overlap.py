"""PPO whose update can run beside the next rollout, so the simulator and the learner each have a core.

SB3's PPO alternates: the drones fly a rollout, then the learner updates on it while the simulator waits (about a
third of a run on the obstacle course). With ``overlap_update`` the update of rollout k runs on a second thread while
rollout k+1 is flown by a copy of the weights the update started from: a policy lag of one update. Each update
first centres PPO's trust region on the weights it starts from (:func:`decouple`): with the lagging policy's own
log-probabilities as PPO's reference, the clipped ratio would start away from 1 and clip much of every rollout. The
flying copy is swapped only between rollouts, so a run's numbers do not depend on thread timing: same seed, same
machine, same run.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.vec_env import VecEnv

from tinyrl.sim.threads import reserve_core

#: Largest importance weight of a sample flown by the previous weights (see :func:`decouple`).
MAX_IMPORTANCE_WEIGHT = 2.0


def decouple(learner: ActorCriticPolicy, buffer: RolloutBuffer) -> None:
    """Centre PPO's trust region on ``learner`` for a rollout another policy flew (decoupled PPO).

    The rollout's stored log-probabilities become ``learner``'s, so PPO's clipped ratio starts at 1 and limits the
    step from the weights the update starts at, not from the older ones that flew; each advantage is weighted by
    ``pi_learner / pi_flown`` (at most :data:`MAX_IMPORTANCE_WEIGHT`), the correction for having sampled from the
    older policy (Hilton et al. 2022, "Batch size-invariance for policy optimization"). The returns (the critic's
    targets) are left as they are.

    Args:
        learner: The policy the update starts from.
        buffer: A full rollout, not yet read by ``get``: ``observations`` ``(T, N, ...)``, ``actions`` ``(T, N, A)``,
            ``log_probs`` and ``advantages`` ``(T, N)``.
    """
    obs = torch.as_tensor(buffer.observations.reshape(buffer.buffer_size * buffer.n_envs, -1))
    actions = torch.as_tensor(buffer.actions.reshape(buffer.buffer_size * buffer.n_envs, -1))
    if isinstance(learner.action_space, spaces.Discrete):
        actions = actions.long().flatten()
    with torch.no_grad():
        _, log_prob, _ = learner.evaluate_actions(obs, actions)
    learner_log_prob = log_prob.numpy().reshape(buffer.log_probs.shape).astype(buffer.log_probs.dtype)
    weight = np.minimum(np.exp(learner_log_prob - buffer.log_probs), MAX_IMPORTANCE_WEIGHT)
    buffer.advantages *= weight.astype(buffer.advantages.dtype)
    buffer.log_probs[...] = learner_log_prob


class _JoinBeforeRolloutEnd:
    """``callback`` whose ``on_rollout_end`` waits for the update first: callbacks then see settled weights."""

    def __init__(self, callback: BaseCallback, join: Any) -> None:
        self._callback, self._join = callback, join

    def __getattr__(self, name: str) -> Any:
        return getattr(self._callback, name)

    def on_rollout_end(self) -> None:
        self._join()
        self._callback.on_rollout_end()


class OverlappedPPO(PPO):
    """SB3's PPO; with ``overlap_update=True`` each update runs during the next rollout (a lag of one update).

    Everything a callback sees at ``on_rollout_end`` (and a saved model) is settled: the update is joined first and
    ``policy`` is the learner. During a rollout ``policy`` is the flying copy, so callbacks must not save or copy the
    model in ``on_step`` (``tinyrl.train.trainer`` defers that to the rollout's end when :attr:`overlap_update`).
    """

    def __init__(self, *args: Any, overlap_update: bool = False, **kwargs: Any) -> None:
        self.overlap_update = overlap_update
        self._learner: ActorCriticPolicy | None = None
        self._actor: ActorCriticPolicy | None = None
        self._spare: RolloutBuffer | None = None
        self._update: threading.Thread | None = None
        self._update_view: OverlappedPPO | None = None
        self._update_error: BaseException | None = None
        super().__init__(*args, **kwargs)

    def _excluded_save_params(self) -> list[str]:
        own = ["_learner", "_actor", "_spare", "_update", "_update_view", "_update_error"]
        return [*super()._excluded_save_params(), *own]

    def collect_rollouts(
        self, env: VecEnv, callback: BaseCallback, rollout_buffer: RolloutBuffer, n_rollout_steps: int
    ) -> bool:
        """SB3's rollout, flown by the weights the running update started from (the learner's before any update)."""
        if not self.overlap_update:
            return super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps)
        self._learner = self.policy
        if self._actor is not None and self._update is not None:
            self.policy = self._actor
        joining: Any = _JoinBeforeRolloutEnd(callback, self.finish_update)
        try:
            return super().collect_rollouts(env, joining, rollout_buffer, n_rollout_steps)
        finally:
            self.finish_update()

    def train(self) -> None:
        """Start the update on the rollout just collected (on a second thread when overlapping)."""
        if not self.overlap_update:
            super().train()
            return
        self.finish_update()
        learner = self.policy
        if self._actor is None:
            self._actor = copy.deepcopy(learner)
        self._actor.load_state_dict(learner.state_dict())
        self._actor.set_training_mode(False)
        view = copy.copy(self)  # the update's own counters; the next rollout fills the other buffer meanwhile
        view.rollout_buffer = self.rollout_buffer
        if self._spare is None:
            self._spare = copy.deepcopy(self.rollout_buffer)
        self.rollout_buffer, self._spare = self._spare, self.rollout_buffer
        self._update_view, self._update_error = view, None
        self._update = threading.Thread(target=self._run_update, args=(view,), name="ppo-update", daemon=True)
        self._update.start()

    def _run_update(self, view: OverlappedPPO) -> None:
        try:
            decouple(view.policy, view.rollout_buffer)
            PPO.train(view)
        except BaseException as exc:  # re-raised in the main thread by finish_update
            self._update_error = exc

    def finish_update(self) -> None:
        """Wait for a running update, take its counters and make ``policy`` the learner again; re-raise its error."""
        thread, self._update = self._update, None
        if thread is not None:
            try:
                thread.join()
            except BaseException:  # Ctrl-C while waiting: the weights must still settle before anyone saves them
                thread.join()
                raise
            finally:
                if self._update_view is not None:
                    self._n_updates = self._update_view._n_updates
                    self._update_view = None
        if self._learner is not None:
            self.policy = self._learner
        if self._update_error is not None:
            error, self._update_error = self._update_error, None
            raise error

    def learn(self, *args: Any, **kwargs: Any) -> OverlappedPPO:
        """SB3's ``learn``; returns once the last update has finished. Overlapping, the update keeps a core."""
        with reserve_core() if self.overlap_update else contextlib.nullcontext():
            try:
                super().learn(*args, **kwargs)
            finally:
                self.finish_update()
        return self
