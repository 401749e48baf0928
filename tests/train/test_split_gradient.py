"""PPO's update split over two processes: SB3's gradient and logged losses, one run per seed, a helper that ends."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from scenario_support import ROOT, tiny_scenario
from stable_baselines3 import PPO

from tinyrl.errors import ConfigError
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.vec_env import TinyRLVecEnv
from tinyrl.train.algos import algo_arguments
from tinyrl.train.run import make_model
from tinyrl.train.split_gradient import SplitGradientPPO
from tinyrl.workers import WorkerError

ROLLOUT_STEPS = 16 * 8  # n_steps x drones


def hover_model(tmp_path, gradient_processes: int = 2, seed: int = 0, **hyper):
    hyper = {"n_steps": 16, "batch_size": 64, "n_epochs": 2, "gradient_processes": gradient_processes, **hyper}
    config = load_scenario("hover", {"train": {"net_arch": [16, 16], "seed": seed, "hyperparameters": hyper}})
    env = TinyRLVecEnv(config, n_envs=8, seed=seed)
    return make_model(config, env, tmp_path)


def flat(policy) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in policy.parameters()])


def gradients_of_one_update(model, train) -> list[torch.Tensor]:
    """The clipped gradient of every minibatch of one update, taken where the optimizer would step (it does not)."""
    seen: list[torch.Tensor] = []
    optimizer = model.policy.optimizer
    step = optimizer.step
    params = list(model.policy.parameters())
    optimizer.step = lambda *a, **k: seen.append(torch.cat([p.grad.flatten().clone() for p in params]))
    try:
        np.random.seed(123)  # the buffer's minibatch order
        train(model)
    finally:
        optimizer.step = step
    return seen


@pytest.mark.parametrize("batch_size", [64, 37])  # 37: odd halves and a last minibatch of 17 rows
def test_split_gradient_is_sb3s_gradient_and_log_of_each_minibatch(tmp_path, batch_size):
    model = hover_model(tmp_path, gradient_processes=1, batch_size=batch_size, ent_coef=0.01, clip_range_vf=0.3)
    model.learn(ROLLOUT_STEPS)  # a full rollout buffer
    with torch.no_grad():  # moved away from the weights that flew, so the ratios clip and the critic's values too
        for p in model.policy.parameters():
            p.add_(0.3 * torch.randn_like(p))
    sb3 = gradients_of_one_update(model, PPO.train)
    sb3_log = dict(model.logger.name_to_value)
    model.gradient_processes = 2
    try:
        split = gradients_of_one_update(model, SplitGradientPPO.train)
    finally:
        model.stop_helper()
    split_log = dict(model.logger.name_to_value)
    assert len(split) == len(sb3) == 2 * -(-ROLLOUT_STEPS // batch_size)
    for ours, theirs in zip(split, sb3, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert 0 < sb3_log["train/clip_fraction"] < 1
    for key in ("entropy_loss", "policy_gradient_loss", "value_loss", "approx_kl", "clip_fraction", "loss"):
        assert split_log[f"train/{key}"] == pytest.approx(sb3_log[f"train/{key}"], rel=1e-5, abs=1e-7), key


def test_same_seed_same_run_and_the_helper_ends_with_learn(tmp_path):
    runs = []
    for k in range(2):
        model = hover_model(tmp_path / str(k))
        model.learn(3 * ROLLOUT_STEPS)
        assert model._splitter is None
        runs.append(flat(model.policy))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], flat(hover_model(tmp_path / "other", seed=1).policy))


def test_a_dead_helper_is_an_error_not_a_hang(tmp_path):
    model = hover_model(tmp_path)

    def kill_the_helper_then_update(self):
        self._splitter._process.kill()
        self._splitter._process.join()
        SplitGradientPPO.train(self)

    model.train = kill_the_helper_then_update.__get__(model)
    with pytest.raises(WorkerError, match=r"gradient worker (died|is gone)"):
        model.learn(2 * ROLLOUT_STEPS)
    assert model._splitter is None


def test_a_saved_model_keeps_its_setting_and_trains_on(tmp_path):
    model = hover_model(tmp_path)
    model.learn(ROLLOUT_STEPS)
    model.save(tmp_path / "m.zip")
    loaded = SplitGradientPPO.load(tmp_path / "m.zip", env=model.env, device="cpu")
    assert loaded.gradient_processes == 2 and torch.equal(flat(loaded.policy), flat(model.policy))
    loaded.learn(ROLLOUT_STEPS, reset_num_timesteps=False)


def test_gradient_processes_is_a_ppo_hyperparameter_checked_up_front(tmp_path):
    assert "gradient_processes" in algo_arguments("ppo") and "gradient_processes" not in algo_arguments("sac")
    with pytest.raises(ConfigError, match="gradient_processes must be 1 or 2"):
        hover_model(tmp_path, gradient_processes=3)
    with pytest.raises(ConfigError, match="pick one"):
        hover_model(tmp_path, overlap_update=True)


def test_bench_update_times_both_settings_and_prints_their_ratio(tmp_path):
    hyper = {"n_steps": 32, "batch_size": 128}
    env = tiny_scenario(tmp_path, "hover", hyperparameters=hyper, net_arch=[16, 16])
    cmd = [sys.executable, str(ROOT / "scripts" / "bench_update.py"), "--env", str(env), "--repeats", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = done.stdout.strip().splitlines()
    out = json.loads(line)
    assert out["bench"] == "ppo_update" and out["rollout_rows"] == 32 * 16 and out["batch_size"] == 128
    assert out["one_process_s"] > 0 and out["two_processes_s"] > 0
    assert out["speedup"] == pytest.approx(out["one_process_s"] / out["two_processes_s"], rel=1e-2)


def test_a_killed_split_run_takes_its_helper_along_and_resumes(tmp_path):
    from reaper import run_reaped
    from test_train import checkpoint_steps_of, train_with_fault

    hyper = {"n_steps": 64, "batch_size": 256, "gradient_processes": 2}
    env = tiny_scenario(tmp_path, eval_every_steps=1_000_000, checkpoint_every_steps=1024, hyperparameters=hyper)
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "tinyrl", "train", "--eval-episodes", "2", "--no-progress"]
    fault_env = {**os.environ, "TINYRL_FAULT": "kill@2048", "COLUMNS": "400"}
    cmd_killed = [*cmd, "--env", str(env), "--out", str(runs)]
    done, report = run_reaped(cmd_killed, tmp_path / "reaper.json", env=fault_env, cwd=tmp_path, timeout=600)
    assert report["returncode"] == -signal.SIGKILL, done.stderr[-3000:]
    # Killed by the kernel with its parent, not left running ("leaked").
    assert [p["fate"] for p in report["leftovers"] if p["comm"] == "tinyrl-grad"] == [f"signal {signal.SIGKILL}"]
    (run_dir,) = (runs / "obstacle-course").iterdir()
    assert checkpoint_steps_of(run_dir) == [1024, 2048]
    resumed = train_with_fault([*cmd, "--resume", str(run_dir)], None, tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "resuming from step_000000002048.zip at 2,048 steps" in resumed.stdout
