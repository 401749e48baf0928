import json
import os
import signal
import subprocess
import sys
import zipfile

import matplotlib.image
import numpy as np
import pytest
import yaml
from scenario_support import ROOT, leaning_mlp, ship_run, tiny_scenario

from tinyrl.common.evaluate import evaluate, wilson_interval
from tinyrl.common.policy import MlpPolicy, PolicyError
from tinyrl.compress.artefacts import load_policy
from tinyrl.errors import ConfigError
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.features import observation_size
from tinyrl.train.run import RunOptions, checkpoint_steps, checkpoints, effective_config, resolve_config


def run_train(*args, cwd, timeout=600):
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def test_tiny_training_end_to_end_and_eval(tmp_path):
    env = tiny_scenario(tmp_path)
    out = run_train(
        "--env", str(env), "--out", str(tmp_path / "runs"), "--eval-episodes", "6", "--seed", "3", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "obstacle-course").iterdir()
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["train"]["seed"] == 3 and config["train"]["steps"] == 4096
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["steps"] >= 4096 and metrics["evaluation"]["episodes"] == 6
    assert 0.0 <= metrics["evaluation"]["success_rate"] <= 1.0
    assert [e["steps"] for e in metrics["learning_curve"]] == sorted(e["steps"] for e in metrics["learning_curve"])
    assert (run_dir / "best" / "teacher.npz").is_file() and (run_dir / "teacher.npz").is_file()
    assert list((run_dir / "tb").rglob("events.out.tfevents.*"))
    image = matplotlib.image.imread(run_dir / "trajectories.png")
    assert image.shape[0] > 100 and image.std() > 0
    ckpts = checkpoints(run_dir)
    assert 1 <= len(ckpts) <= 3
    for ckpt in ckpts:
        assert zipfile.ZipFile(ckpt).testzip() is None

    manifest = ship_run(run_dir, tmp_path / "policy")
    assert manifest["teacher"]["seed"] == 3 and manifest["teacher"]["steps"] >= 4096
    assert "scripts/train.py" in manifest["teacher"]["commands"][0]
    assert str(tmp_path) not in json.dumps(manifest)  # no folder of this machine in a shipped artefact
    assert manifest["teacher"]["evaluation_unseen_courses"]["episodes"] == 6
    assert (tmp_path / "policy" / "teacher.npz").is_file()

    policy = load_policy(run_dir / "teacher.npz")
    assert policy.obs_dim == observation_size(load_scenario(env))
    cmd = [sys.executable, "-m", "tinyrl", "eval", str(run_dir), "--env", str(env), "--episodes", "5", "--seed", "1"]
    first = subprocess.run([*cmd, "--json", "/dev/stdout"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    result = json.loads(first.stdout.strip().splitlines()[-1])
    assert str(tmp_path) not in first.stdout.strip().splitlines()[-1]
    assert result["episodes"] == 5 and {"success_rate", "collision_rate", "timeout_rate"} <= result.keys()
    again = subprocess.run([*cmd, "--json", str(tmp_path / "e.json")], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0
    saved = json.loads((tmp_path / "e.json").read_text())
    assert saved["episode_results"] == result["episode_results"]  # deterministic for a seed


def train_with_fault(
    cmd: list[str], fault: str | None, cwd, extra_env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run a training command with ``$TINYRL_FAULT`` set to ``fault`` (or unset), lines wide enough for paths."""
    env = {k: v for k, v in os.environ.items() if k != "TINYRL_FAULT"}
    env = {**env, "COLUMNS": "400", **({"TINYRL_FAULT": fault} if fault else {}), **(extra_env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=cwd, env=env)


def checkpoint_steps_of(run_dir) -> list[int]:
    return [checkpoint_steps(p) for p in checkpoints(run_dir)]


def test_sigkill_after_a_checkpoint_then_resume_continues_from_it(tmp_path):
    # Checkpoints every 1,024 steps; the fault kills the process right after the one at 2,048 is written.
    env = tiny_scenario(tmp_path, eval_every_steps=1_000_000, checkpoint_every_steps=1024)
    runs = tmp_path / "runs"
    cmd = [sys.executable, str(ROOT / "scripts" / "train.py"), "--eval-episodes", "2", "--no-progress"]
    killed = train_with_fault([*cmd, "--env", str(env), "--out", str(runs)], "kill@2048", tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    (run_dir,) = (runs / "obstacle-course").iterdir()
    assert checkpoint_steps_of(run_dir) == [1024, 2048]
    for ckpt in checkpoints(run_dir):
        assert zipfile.ZipFile(ckpt).testzip() is None
    state = json.loads((run_dir / "state.json").read_text())
    assert state["num_timesteps"] == 2048 and not state["finished"]
    assert not (run_dir / "metrics.json").exists()
    at_kill = checkpoints(run_dir)[-1].read_bytes()

    resumed = train_with_fault([*cmd, "--resume", str(run_dir)], None, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from step_000000002048.zip at 2,048 steps" in resumed.stdout, resumed.stdout
    state = json.loads((run_dir / "state.json").read_text())
    assert state["finished"] and state["num_timesteps"] == 4096 and len(state["commands"]) == 2
    # Continued from 2,048, not redone from an earlier checkpoint: that one is untouched.
    assert checkpoint_steps_of(run_dir) == [2048, 3072, 4096]
    assert checkpoints(run_dir)[0].read_bytes() == at_kill
    assert not list((run_dir / "checkpoints").glob(".*tmp*"))


def test_ctrl_c_saves_a_checkpoint_exits_130_and_resume_continues_from_it(tmp_path):
    # The interrupt lands between two periodic checkpoints (1,024 and 2,048): only Ctrl-C's own save holds 1,536.
    env = tiny_scenario(tmp_path, eval_every_steps=1_000_000, checkpoint_every_steps=1024)
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "tinyrl", "train", "--eval-episodes", "2", "--no-progress"]
    interrupted = train_with_fault([*cmd, "--env", str(env), "--out", str(runs)], "sigint@1536", tmp_path)
    assert interrupted.returncode == 130, interrupted.stderr[-3000:]
    (run_dir,) = (runs / "obstacle-course").iterdir()
    saved = run_dir / "checkpoints" / "step_000000001536.zip"
    assert f"interrupted: saved {saved}; continue with --resume {run_dir}" in interrupted.stdout
    assert checkpoint_steps_of(run_dir) == [1024, 1536]
    assert zipfile.ZipFile(saved).testzip() is None
    state = json.loads((run_dir / "state.json").read_text())
    assert state["num_timesteps"] == 1536 and not state["finished"]
    assert state["last_checkpoint"] == "checkpoints/step_000000001536.zip"
    assert not (run_dir / "metrics.json").exists()

    # The variable may stay set: a run resumed at the fault's step is left alone.
    resumed = train_with_fault([*cmd, "--resume", str(run_dir)], "sigint@1536", tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "resuming from step_000000001536.zip at 1,536 steps" in resumed.stdout, resumed.stdout
    state = json.loads((run_dir / "state.json").read_text())
    # From 1,536, PPO's rollouts of 1,024 steps end at 2,560, 3,584 and 4,608.
    assert state["finished"] and state["num_timesteps"] == 4608
    assert checkpoint_steps_of(run_dir) == [3072, 4096, 4608]


def test_flags_override_and_bad_algo_is_clear():
    config = effective_config(RunOptions(env="obstacle-course", steps=123, seed=9, n_envs=7))
    assert (config.train.steps, config.train.seed, config.train.n_envs) == (123, 9, 7)
    with pytest.raises(ConfigError, match="dqn needs discrete actions"):
        effective_config(RunOptions(env="obstacle-course", algo="dqn"))
    with pytest.raises(ConfigError, match=r"train\.algo"):
        effective_config(RunOptions(env="obstacle-course", algo="a3c"))


def test_switching_algo_keeps_the_settings_it_takes_and_names_the_rest():
    # obstacle-course is tuned for PPO: hyperparameters {ent_coef: 0.003, n_steps: 64, batch_size: 4096,
    # learning_rate: ..., gamma: ..., gradient_processes: 2}, policy_kwargs {log_std_init: -0.5}, and critic_features
    # for PPO's critic. SAC
    # and TD3 take an n_steps and a batch_size too, but as an n-step return and a replay sample, not a rollout and its
    # minibatch; every one of them takes a learning rate and a discount.
    same, left_out = resolve_config(RunOptions(env="obstacle-course", algo="ppo"))
    assert left_out == [] and same == effective_config(RunOptions(env="obstacle-course"))
    assert same.train.critic_features
    shared = {key: same.train.hyperparameters[key] for key in ("learning_rate", "gamma")}
    ppo_only = [
        "train.hyperparameters.n_steps",
        "train.hyperparameters.batch_size",
        "train.hyperparameters.gradient_processes",
    ]
    sac, left_out = resolve_config(RunOptions(env="obstacle-course", algo="sac"))
    assert left_out == [*ppo_only, "train.critic_features"]
    assert sac.train.hyperparameters == {"ent_coef": 0.003, **shared}
    assert sac.train.policy_kwargs == {"log_std_init": -0.5} and sac.train.critic_features == ()
    td3, left_out = resolve_config(RunOptions(env="obstacle-course", algo="td3"))
    assert left_out == [
        "train.hyperparameters.ent_coef",
        *ppo_only,
        "train.policy_kwargs.log_std_init",
        "train.critic_features",
    ]
    assert td3.train.hyperparameters == shared and td3.train.policy_kwargs == {}
    dqn, left_out = resolve_config(RunOptions(env="source-seeking", algo="dqn"))
    assert left_out == ["train.hyperparameters.ent_coef"] and dqn.train.hyperparameters == {"learning_rate": "lin_3e-4"}


def test_policy_npz_roundtrip_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    policy = MlpPolicy(
        (rng.normal(size=(8, 5)).astype(np.float32), rng.normal(size=(3, 8)).astype(np.float32)),
        (np.zeros(8, np.float32), np.ones(3, np.float32)),
        "relu",
        "argmax",
    )
    policy.save(tmp_path / "p.npz", {"note": "x"})
    loaded = load_policy(tmp_path / "p.npz")
    obs = rng.normal(size=(20, 5)).astype(np.float32)
    np.testing.assert_array_equal(loaded.act(obs), policy.act(obs))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(PolicyError, match="not a TinyRL policy"):
        load_policy(tmp_path / "bad.npz")
    with pytest.raises(PolicyError, match=r"unknown policy file type"):
        load_policy(tmp_path / "p.onnx") if (tmp_path / "p.onnx").write_text("x") else None
    with pytest.raises(PolicyError, match="no policy artefact"):
        load_policy(tmp_path / "empty_dir") if (tmp_path / "empty_dir").mkdir() is None else None
    # A policy of NaN weights would fly nowhere and, compared with NaN, look successful: refused at load.
    broken = MlpPolicy((policy.weights[0], np.full((3, 8), np.nan, np.float32)), policy.biases, "relu", "argmax")
    broken.save(tmp_path / "nan.npz", {})
    with pytest.raises(PolicyError, match=r"nan\.npz: w1 holds non-finite values"):
        load_policy(tmp_path / "nan.npz")


def test_evaluation_is_deterministic_and_batch_independent():
    config = load_scenario("obstacle-course", {"course_pool_size": 10})
    policy = leaning_mlp(forward=0.5)
    a = evaluate(policy, config, episodes=6, seed=4, batch=6)
    b = evaluate(policy, config, episodes=6, seed=4, batch=2)
    assert [e.__dict__ for e in a.episode_results] == [e.__dict__ for e in b.episode_results]
    assert a.episodes == 6 and 0 <= a.success_rate <= 1


def test_wilson_interval():
    lo, hi = wilson_interval(95, 100)
    assert 0.88 < lo < 0.9 and 0.97 < hi < 0.99
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0


def test_discrete_ppo_teacher_exports_an_argmax_head():
    import torch
    from stable_baselines3 import PPO

    from tinyrl.tasks.vec_env import TinyRLVecEnv
    from tinyrl.train.algos import mlp_from_sb3

    vec = TinyRLVecEnv(load_scenario("source-seeking", {"course_pool_size": 5}), n_envs=2, seed=0)
    model = PPO("MlpPolicy", vec, policy_kwargs={"net_arch": [8], "activation_fn": torch.nn.ReLU}, device="cpu")
    obs = np.random.default_rng(0).normal(size=(64, vec.observation_space.shape[0])).astype(np.float32)
    mlp = mlp_from_sb3(model)
    assert mlp.head == "argmax"
    np.testing.assert_array_equal(mlp.act(obs), model.predict(obs, deterministic=True)[0])


def test_linear_schedules_survive_a_checkpoint_and_bad_ones_are_clear(tmp_path):
    from stable_baselines3 import PPO

    from tinyrl.tasks.vec_env import TinyRLVecEnv
    from tinyrl.train.algos import resolve_schedules
    from tinyrl.train.run import make_model

    config = effective_config(RunOptions(env="hover", n_envs=2))
    hyper = {"learning_rate": "lin_0.001", "clip_range": 0.3, "n_steps": 8, "batch_size": 16}
    config = config.model_copy(update={"train": config.train.model_copy(update={"hyperparameters": hyper})})
    env = TinyRLVecEnv(config, n_envs=2, seed=0)
    model = make_model(config, env, tmp_path)
    assert model.lr_schedule(1.0) == pytest.approx(1e-3) and model.lr_schedule(0.25) == pytest.approx(2.5e-4)
    model.save(tmp_path / "m.zip")
    loaded = PPO.load(tmp_path / "m.zip", env=env, device="cpu")
    assert loaded.lr_schedule(0.5) == pytest.approx(5e-4)
    env.close()
    for bad in ("lin_", "lin_-1", "cos_0.1", "fast"):
        with pytest.raises(ConfigError, match="learning_rate"):
            resolve_schedules({"learning_rate": bad})
    with pytest.raises(ConfigError, match="ent_coef"):
        resolve_schedules({"ent_coef": "lin_0.01"})
    assert resolve_schedules({"ent_coef": "auto"}) == {"ent_coef": "auto"}  # SAC's own string option


def test_argmax_preference_names_discrete_actions_only():
    from tinyrl.train.algos import argmax_offsets

    with pytest.raises(ConfigError, match="unknown action turn_around; the scenario's discrete actions: forward"):
        load_scenario("source-seeking", {"train": {"argmax_preference": {"turn_around": 0.1}}})
    with pytest.raises(ConfigError, match="only discrete actions"):
        load_scenario("obstacle-course", {"train": {"argmax_preference": {"forward": 0.1}}})
    with pytest.raises(ConfigError, match="argmax_preference"):
        load_scenario("source-seeking", {"train": {"argmax_preference": {"forward": float("nan")}}})
    config = load_scenario("source-seeking", {"train": {"argmax_preference": {"rotate_right": -0.5}}})
    np.testing.assert_array_equal(argmax_offsets(config), [0.0, 0.0, -0.5])  # forward, rotate_left, rotate_right
