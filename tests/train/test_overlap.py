"""PPO with its update beside the next rollout: settled weights for callbacks, one run per seed."""

import sys
import threading

import numpy as np
import pytest
import torch
from scenario_support import tiny_scenario
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

from tinyrl.sim import threads as sim_threads
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.vec_env import TinyRLVecEnv
from tinyrl.train.algos import algo_arguments, algo_class
from tinyrl.train.overlap import MAX_IMPORTANCE_WEIGHT, OverlappedPPO, decouple
from tinyrl.train.run import make_model

ROLLOUT_STEPS = 16 * 8  # n_steps x drones


def hover_model(tmp_path, overlap: bool = True, seed: int = 0):
    hyper = {"n_steps": 16, "batch_size": 64, "n_epochs": 2, "overlap_update": overlap}
    config = load_scenario("hover", {"train": {"net_arch": [16, 16], "seed": seed, "hyperparameters": hyper}})
    env = TinyRLVecEnv(config, n_envs=8, seed=seed)
    return make_model(config, env, tmp_path)


def flat(policy) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in policy.parameters()])


class Spy(BaseCallback):
    """Records, per rollout, the weights that fly it and what callbacks see at its end."""

    def __init__(self, on_step=None) -> None:
        super().__init__()
        self.flown: list[torch.Tensor] = []
        self.settled: list[bool] = []
        self.hook = on_step
        self.step_in_rollout = 0

    def _on_rollout_start(self) -> None:
        self.step_in_rollout = 0

    def _on_step(self) -> bool:
        if self.step_in_rollout == 0:
            self.flown.append(flat(self.model.policy))
        self.step_in_rollout += 1
        if self.hook is not None:
            self.hook(self)
        return True

    def _on_rollout_end(self) -> None:
        model = self.model
        running = model._update is not None and model._update.is_alive()
        self.settled.append(not running and model.policy is model._learner)


def test_ppo_is_the_overlapped_class_and_takes_overlap_update():
    assert issubclass(algo_class("ppo"), OverlappedPPO)
    assert "overlap_update" in algo_arguments("ppo") and "n_epochs" in algo_arguments("ppo")
    assert "overlap_update" not in algo_arguments("sac")


def test_update_runs_on_another_thread_while_the_next_rollout_steps(tmp_path, monkeypatch):
    model = hover_model(tmp_path)
    next_rollout_stepped = threading.Event()
    seen: list[tuple[bool, bool]] = []
    original = PPO.train

    def waiting_train(view):
        off_main = threading.current_thread() is not threading.main_thread()
        # A sequential update would never see the next rollout step: fail rather than wait for it.
        seen.append((off_main, off_main and next_rollout_stepped.wait(timeout=120)))
        next_rollout_stepped.clear()
        original(view)

    def step(spy):
        if model._update is not None:
            next_rollout_stepped.set()

    monkeypatch.setattr(PPO, "train", waiting_train)
    model.learn(3 * ROLLOUT_STEPS, callback=Spy(step))
    # The last update has no next rollout beside it.
    assert seen[:-1] == [(True, True)] * (len(seen) - 1) and len(seen) == 3


def test_each_rollout_flies_the_weights_the_running_update_started_from(tmp_path, monkeypatch):
    model = hover_model(tmp_path)
    started: list[torch.Tensor] = []
    update_done = threading.Event()
    original = PPO.train

    def recording_train(view):
        started.append(flat(view.policy))
        original(view)
        update_done.set()

    after_update: list[torch.Tensor] = []

    def wait_for_the_update(spy):
        # Mid-rollout, once the update beside it has finished: the weights flying must still be the old ones.
        if spy.step_in_rollout == 3 and model._update is not None:
            assert update_done.wait(timeout=120)
            update_done.clear()
            after_update.append(flat(model.policy))

    monkeypatch.setattr(PPO, "train", recording_train)
    spy = Spy(wait_for_the_update)
    model.learn(4 * ROLLOUT_STEPS, callback=spy)
    assert len(spy.flown) == 4 and len(started) == 4 and len(after_update) == 3
    assert torch.equal(spy.flown[0], started[0])
    for k in range(1, 4):
        assert torch.equal(spy.flown[k], started[k - 1])  # a lag of one update...
        assert torch.equal(after_update[k - 1], started[k - 1])
        assert not torch.equal(spy.flown[k], started[k])  # ...not none
    assert spy.settled == [True] * 4
    assert torch.equal(flat(model.policy), flat(model._learner)) and model._update is None


def test_same_seed_same_weights_and_the_lag_changes_them(tmp_path):
    runs = []
    for overlap in (True, True, False):
        model = hover_model(tmp_path, overlap=overlap)
        model.learn(4 * ROLLOUT_STEPS)
        runs.append(flat(model.policy))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_without_overlap_it_is_sb3_ppo_to_the_bit(tmp_path):
    ours = hover_model(tmp_path, overlap=False)
    ours.learn(3 * ROLLOUT_STEPS)
    plain = hover_model(tmp_path, overlap=False)
    theirs = PPO(
        plain.policy_class,
        plain.env,
        n_steps=16,
        batch_size=64,
        n_epochs=2,
        seed=0,
        device="cpu",
        policy_kwargs=plain.policy_kwargs,
        **{k: getattr(plain, k) for k in ("gamma", "gae_lambda", "ent_coef")},
        learning_rate=plain.learning_rate,
        clip_range=plain.clip_range,
    )
    theirs.learn(3 * ROLLOUT_STEPS)
    assert torch.equal(flat(ours.policy), flat(theirs.policy))


def test_an_error_in_the_update_reaches_the_caller(tmp_path, monkeypatch):
    model = hover_model(tmp_path)

    def failing_train(view):
        raise RuntimeError("update failed")

    monkeypatch.setattr(PPO, "train", failing_train)
    with pytest.raises(RuntimeError, match="update failed"):
        model.learn(3 * ROLLOUT_STEPS)
    assert model._update is None


def test_interrupt_mid_rollout_leaves_the_settled_learner_to_save(tmp_path):
    model = hover_model(tmp_path)
    learner = model.policy

    def interrupt(spy):
        if len(spy.flown) == 2 and spy.step_in_rollout == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model.learn(4 * ROLLOUT_STEPS, callback=Spy(interrupt))
    assert model._update is None and model.policy is learner
    model.save(tmp_path / "m.zip")
    loaded = OverlappedPPO.load(tmp_path / "m.zip", env=model.env, device="cpu")
    assert loaded.overlap_update and torch.equal(flat(loaded.policy), flat(learner))
    loaded.learn(2 * ROLLOUT_STEPS, reset_num_timesteps=False)  # a loaded model trains on


def test_an_overlapped_run_checkpoints_at_rollout_ends_and_resumes_after_ctrl_c(tmp_path):
    from test_train import checkpoint_steps_of, train_with_fault

    hyper = {"n_steps": 64, "batch_size": 256, "overlap_update": True}
    env = tiny_scenario(tmp_path, eval_every_steps=2048, checkpoint_every_steps=512, hyperparameters=hyper)
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "tinyrl", "train", "--eval-episodes", "2", "--no-progress"]
    interrupted = train_with_fault([*cmd, "--env", str(env), "--out", str(runs)], "sigint@1536", tmp_path)
    assert interrupted.returncode == 130, interrupted.stderr[-3000:]
    (run_dir,) = (runs / "obstacle-course").iterdir()
    # Due every 512 steps, written when each rollout of 1,024 ends; Ctrl-C's own save at 1,536.
    assert checkpoint_steps_of(run_dir) == [1024, 1536]
    resumed = train_with_fault([*cmd, "--resume", str(run_dir)], None, tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "resuming from step_000000001536.zip at 1,536 steps" in resumed.stdout


def test_decouple_centres_the_ratio_on_the_learner_and_weights_the_advantages(tmp_path):
    flown_by = hover_model(tmp_path, overlap=False)
    flown_by.learn(ROLLOUT_STEPS)  # fills the rollout buffer, then moves the weights once
    learner = flown_by.policy
    buffer = flown_by.rollout_buffer
    flown_log_prob, advantages = buffer.log_probs.copy(), buffer.advantages.copy()
    decouple(learner, buffer)
    obs = torch.as_tensor(flown_by.rollout_buffer.observations.reshape(ROLLOUT_STEPS, -1))
    actions = torch.as_tensor(flown_by.rollout_buffer.actions.reshape(ROLLOUT_STEPS, -1))
    with torch.no_grad():
        _, expected, _ = learner.evaluate_actions(obs, actions)
    np.testing.assert_allclose(buffer.log_probs.ravel(), expected.numpy(), rtol=1e-6, atol=1e-6)
    weight = np.minimum(np.exp(buffer.log_probs - flown_log_prob), MAX_IMPORTANCE_WEIGHT)
    assert not np.allclose(weight, 1.0)  # the update did move the policy
    np.testing.assert_allclose(buffer.advantages, advantages * weight, rtol=1e-5)


@pytest.mark.parametrize("overlap", [True, False])
def test_an_overlapped_update_keeps_a_core_from_the_simulator(tmp_path, monkeypatch, overlap):
    monkeypatch.delenv(sim_threads.ENV_VAR, raising=False)
    monkeypatch.setattr(sim_threads, "_usable_cores", lambda: 2)
    model = hover_model(tmp_path, overlap=overlap)
    seen: set[int] = set()
    model.learn(2 * ROLLOUT_STEPS, callback=Spy(lambda spy: seen.add(sim_threads.sim_threads())))
    assert seen == ({1} if overlap else {2})
    assert sim_threads.sim_threads() == 2
