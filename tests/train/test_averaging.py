"""``train.average_from``: a run ships the mean of its last validation snapshots, and a crash loses none of them."""

import itertools
import json
import signal
import sys

import numpy as np
import pytest
from scenario_support import ROOT, ship_run, tiny_scenario
from test_train import train_with_fault

from tinyrl.common.evaluate import eval_courses, evaluate
from tinyrl.common.policy import MlpPolicy, PolicyError
from tinyrl.tasks.config import load_scenario
from tinyrl.train import averaging
from tinyrl.train import run as runs

TRAIN = [sys.executable, str(ROOT / "scripts" / "train.py"), "--eval-episodes", "4", "--no-progress"]


def averaging_scenario(tmp_path, average_from=0.5):
    # Hover, 16 drones, rollouts of 1,024 steps: a validation snapshot and a checkpoint every 1,024 of 4,096 steps.
    return tiny_scenario(tmp_path, "hover", eval_every_steps=1024, average_from=average_from)


def test_the_mean_of_policies_is_taken_weight_by_weight_and_refuses_unlike_ones():
    rng = np.random.default_rng(0)

    def mlp(sizes, head="clip"):
        weights = tuple(rng.normal(size=(o, i)).astype(np.float32) for i, o in itertools.pairwise(sizes))
        return MlpPolicy(weights, tuple(rng.normal(size=w.shape[0]).astype(np.float32) for w in weights), head=head)

    policies = [mlp([5, 8, 2]) for _ in range(3)]
    mean = averaging.average_policies(policies)
    for i in range(2):
        expected_w = (policies[0].weights[i].astype(np.float64) + policies[1].weights[i] + policies[2].weights[i]) / 3
        expected_b = (policies[0].biases[i].astype(np.float64) + policies[1].biases[i] + policies[2].biases[i]) / 3
        assert np.array_equal(mean.weights[i], expected_w.astype(np.float32))
        assert np.array_equal(mean.biases[i], expected_b.astype(np.float32))
    assert averaging.average_policies(policies[:1]).weights[0].tobytes() == policies[0].weights[0].tobytes()
    with pytest.raises(PolicyError, match="cannot average"):
        averaging.average_policies([policies[0], mlp([5, 9, 2])])
    with pytest.raises(PolicyError, match="cannot average"):
        averaging.average_policies([policies[0], mlp([5, 8, 2], head="tanh")])
    with pytest.raises(PolicyError, match="no policies"):
        averaging.average_policies([])


def test_a_run_that_averages_ships_the_mean_of_its_snapshots_from_average_from_on(tmp_path):
    env = averaging_scenario(tmp_path)
    done = train_with_fault([*TRAIN, "--env", str(env), "--out", str(tmp_path / "runs")], None, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "hover").iterdir()
    state = runs.load_state(run_dir)
    # Snapshots from half of the 4,096 steps on: those validated at 2,048, 3,072 and 4,096, none before.
    assert [e["steps"] for e in state.evaluations] == [1024, 2048, 3072, 4096]
    kept = averaging.kept_snapshots(run_dir, 0)
    assert [n for n, _ in kept] == [2048, 3072, 4096]
    assert state.average["from_steps"] == 2048 and state.average["snapshot_steps"] == [2048, 3072, 4096]

    shipped = MlpPolicy.load(runs.shipped_teacher(run_dir))
    assert runs.shipped_teacher(run_dir) == runs.average_teacher_path(run_dir)
    mean = averaging.average_policies([MlpPolicy.load(p) for _, p in kept])
    for a, b in zip(shipped.weights + shipped.biases, mean.weights + mean.biases, strict=True):
        assert np.array_equal(a, b)
    # The mean is another policy than any snapshot, and it is the one validated, evaluated and shipped.
    assert not np.array_equal(shipped.weights[0], MlpPolicy.load(kept[-1][1]).weights[0])
    config = load_scenario(env)
    validation = eval_courses(config, 4, runs.VALIDATION_SEED, config.train.eval_difficulty)
    report = evaluate(shipped, config, validation, 4, seed=runs.VALIDATION_SEED)
    assert state.average["validation_success_rate"] == report.success_rate
    metrics = json.loads((run_dir / "metrics.json").read_text())
    final = evaluate(shipped, config, eval_courses(config, 4, 0), 4, seed=0)
    assert metrics["evaluation"]["mean_reward"] == pytest.approx(final.mean_reward, abs=1e-9)
    manifest = ship_run(run_dir, tmp_path / "policy")
    assert manifest["teacher"]["average"] == state.average
    assert (tmp_path / "policy" / "teacher.npz").read_bytes() == runs.average_teacher_path(run_dir).read_bytes()


def test_a_run_killed_right_after_a_checkpoint_keeps_that_steps_snapshot_for_its_mean(tmp_path):
    # The kill lands after the checkpoint at 2,048 and before that step's validation is handed over: the resumed
    # run continues from 2,048 and never takes that snapshot again, so it must already be on disk.
    env = averaging_scenario(tmp_path, average_from=0.25)
    killed = train_with_fault([*TRAIN, "--env", str(env), "--out", str(tmp_path / "runs")], "kill@2048", tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "hover").iterdir()
    assert [n for n, _ in averaging.kept_snapshots(run_dir, 0)] == [1024, 2048]

    resumed = train_with_fault([*TRAIN, "--resume", str(run_dir)], None, tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    state = runs.load_state(run_dir)
    assert state.finished and state.average["snapshot_steps"] == [1024, 2048, 3072, 4096]


def test_average_from_is_a_fraction_of_the_steps(tmp_path):
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(Exception, match="average_from"):
            load_scenario(averaging_scenario(tmp_path, average_from=bad))
    assert averaging.average_from_steps(load_scenario(averaging_scenario(tmp_path, average_from=0.3))) == 1229
    assert averaging.average_from_steps(load_scenario(ROOT / "envs" / "hover.yaml")) is None
