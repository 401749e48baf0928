"""Each off-policy algorithm trains through ``tinyrl train --algo`` (PPO: ``test_train.py``, ``test_learning.py``).

A smoke run of 1,024 steps on a shipped scenario, whose own ``train`` settings were set for PPO: ``--algo`` keeps
those the new algorithm takes and leaves out (and names) the rest. No learning is asked for, only that the
artefacts load as policies that act in the scenario's action space, and that the final teacher is the final
checkpoint's own deterministic policy.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from scenario_support import ROOT, tiny_scenario

from tinyrl.compress.artefacts import load_policy
from tinyrl.tasks.vec_env import TinyRLVecEnv
from tinyrl.train.algos import algo_class
from tinyrl.train.run import checkpoints, read_config

#: A small replay buffer that starts learning within the budget (no batch_size: set in a PPO scenario, it is left out).
OFF_POLICY = {"buffer_size": 4096, "learning_starts": 256, "train_freq": 1, "gradient_steps": 1}
DRONES = 8


@pytest.mark.parametrize(
    ("algo", "scenario", "left_out"),
    [
        # PPO's rollout length and minibatch (n_steps, batch_size) mean something else to an off-policy algorithm;
        # gradient_processes is PPO's own.
        (
            "sac",
            "obstacle-course",
            [
                "train.hyperparameters.n_steps",
                "train.hyperparameters.batch_size",
                "train.hyperparameters.gradient_processes",
                "train.critic_features",
            ],
        ),
        (
            "td3",
            "obstacle-course",
            [
                "train.hyperparameters.ent_coef",
                "train.hyperparameters.n_steps",
                "train.hyperparameters.batch_size",
                "train.hyperparameters.gradient_processes",
                "train.policy_kwargs.log_std_init",
                "train.critic_features",
            ],
        ),
        ("dqn", "source-seeking", ["train.hyperparameters.ent_coef"]),
    ],
)
def test_algo_smoke_run_yields_policies_that_act(tmp_path, algo, scenario, left_out):
    shipped = yaml.safe_load((ROOT / "envs" / f"{scenario}.yaml").read_text())["train"]
    hyper = {**shipped.get("hyperparameters", {}), **OFF_POLICY}
    env = tiny_scenario(
        tmp_path, scenario, steps=1024, eval_every_steps=512, checkpoint_every_steps=512, hyperparameters=hyper
    )
    cmd = ["--env", str(env), "--algo", algo, "--out", str(tmp_path / "runs"), "--eval-episodes", "2"]
    out = subprocess.run(
        [sys.executable, "-m", "tinyrl", "train", *cmd, "--no-progress"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    # One line names what was left out, in the scenario file's order: compare the names, not their order.
    head, tail = f"--algo {algo} leaves out ", ": set for the scenario's algorithm"
    notes = [line for line in out.stdout.splitlines() if line.startswith(head) and line.endswith(tail)]
    assert [sorted(n.removeprefix(head).removesuffix(tail).split(", ")) for n in notes] == (
        [sorted(left_out)] if left_out else []
    ), out.stdout
    (run_dir,) = (tmp_path / "runs" / scenario).iterdir()
    config = read_config(run_dir)
    assert config.train.algo == algo
    recorded = [f"train.{k}.{name}" for k in ("hyperparameters", "policy_kwargs") for name in getattr(config.train, k)]
    assert not set(left_out) & set(recorded)
    assert {f"train.hyperparameters.{k}" for k in hyper} - set(left_out) <= set(recorded)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["algo"] == algo and metrics["steps"] == 1024
    assert [e["steps"] for e in metrics["learning_curve"]] == [512, 1024]
    ckpt = checkpoints(run_dir)[-1]
    assert ckpt.with_name(ckpt.name.replace(".zip", ".replay.pkl")).is_file()  # resumable off-policy

    vec = TinyRLVecEnv(config, n_envs=DRONES, seed=5)
    space = vec.action_space
    discrete = config.action.mode == "discrete"
    assert discrete == (algo == "dqn")
    model = algo_class(algo).load(ckpt, device="cpu")
    obs = vec.reset()
    for _ in range(5):  # a few closed-loop steps, so the observations are not only the starts
        for path in (run_dir / "teacher.npz", run_dir / "best" / "teacher.npz"):
            policy = load_policy(path)
            assert policy.obs_dim == vec.observation_space.shape[0]
            actions = policy.act(obs)
            if discrete:
                assert actions.shape == (DRONES,) and np.issubdtype(actions.dtype, np.integer)
                assert actions.min() >= 0 and actions.max() < space.n
            else:
                assert actions.shape == (DRONES, *space.shape)
                assert np.all(actions >= space.low) and np.all(actions <= space.high)
        final = load_policy(run_dir / "teacher.npz").act(obs)
        expected, _ = model.predict(obs, deterministic=True)
        if discrete:
            np.testing.assert_array_equal(final, expected)
        else:
            np.testing.assert_allclose(final, expected, atol=1e-5)
        obs, _, _, _ = vec.step(final)
    vec.close()


def test_argmax_preference_is_part_of_every_policy_the_run_validates_and_ships(tmp_path):
    """``train.argmax_preference`` sits in the output bias of the final and the best teacher: both pick
    ``argmax(Q + offsets)`` of a checkpoint's Q-network, not SB3's own greedy action."""
    import torch

    shipped = yaml.safe_load((ROOT / "envs" / "source-seeking-paper.yaml").read_text())["train"]
    hyper = {**shipped["hyperparameters"], **OFF_POLICY, "batch_size": 64}
    preference = {"rotate_left": 0.5}
    env = tiny_scenario(
        tmp_path,
        "source-seeking-paper",
        steps=1024,
        eval_every_steps=512,
        checkpoint_every_steps=512,
        hyperparameters=hyper,
        argmax_preference=preference,
    )
    cmd = ["--env", str(env), "--out", str(tmp_path / "runs"), "--eval-episodes", "2", "--no-progress"]
    out = subprocess.run(
        [sys.executable, "-m", "tinyrl", "train", *cmd], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "source-seeking-paper").iterdir()
    config = read_config(run_dir)
    assert config.train.argmax_preference == preference
    offsets = np.array([preference.get(name, 0.0) for name in config.action.discrete_actions], dtype=np.float32)
    vec = TinyRLVecEnv(config, n_envs=DRONES, seed=5)
    obs = np.concatenate([vec.reset(), *(vec.step(np.zeros(DRONES, dtype=np.int64))[0] for _ in range(4))])
    vec.close()
    q_values = []  # of each kept checkpoint, the last one's last
    for ckpt in checkpoints(run_dir):
        with torch.no_grad():
            q_values.append(algo_class("dqn").load(ckpt, device="cpu").q_net(torch.as_tensor(obs)).numpy())
    final = load_policy(run_dir / "teacher.npz")
    np.testing.assert_allclose(final.forward(obs), q_values[-1] + offsets, atol=1e-5)
    np.testing.assert_array_equal(final.act(obs), np.argmax(q_values[-1] + offsets, axis=1))
    assert (np.argmax(q_values[-1], axis=1) != final.act(obs)).any()  # the preference changes some decisions here
    best = load_policy(run_dir / "best" / "teacher.npz").forward(obs)  # the validated pick: some checkpoint's
    assert any(np.allclose(best, q + offsets, atol=1e-5) for q in q_values)
