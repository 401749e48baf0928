"""A run of several learners (``train.learners``): each trained as a run of its own, the best on fresh courses kept."""

import json
import subprocess
import sys

import numpy as np
import pytest
from scenario_support import ROOT, ship_run, tiny_scenario
from test_train import train_with_fault

from tinyrl.common.evaluate import eval_courses, evaluate
from tinyrl.common.policy import MlpPolicy
from tinyrl.errors import ConfigError
from tinyrl.tasks.config import load_scenario
from tinyrl.train import run as runs
from tinyrl.train.trainer import train


def train_cmd(*args: str, fault: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(ROOT / "scripts" / "train.py"), "--eval-episodes", "4", "--no-progress", *args]
    return train_with_fault(cmd, fault, ROOT)


def same_weights(a: MlpPolicy, b: MlpPolicy) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.weights + a.biases, b.weights + b.biases, strict=True))


def test_the_run_keeps_the_learner_that_flies_best_on_the_selection_courses(tmp_path):
    # Three tiny hover learners: after 2,048 steps some hold the hover point and some do not (here: the first does
    # not, the other two do, so neither the first, the last nor any but the first of equals passes for the best).
    env = tiny_scenario(tmp_path, "hover", learners=3, selection_episodes=16, steps=2048)
    done = train_cmd("--env", str(env), "--out", str(tmp_path / "runs"), "--seed", "0")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "hover").iterdir()
    state = runs.load_state(run_dir)
    config = load_scenario(env)
    seeds = [e["seed"] for e in state.learners]
    assert seeds == [runs.learner_seed(0, k) for k in range(3)] and seeds[0] == 0 and len(set(seeds)) == 3

    # Each learner's recorded score is its best teacher flown again on the selection courses, not the validation's.
    courses = eval_courses(config, 16, runs.SELECTION_SEED)
    scores = []
    for entry in state.learners:
        folder = run_dir / entry["folder"]
        assert runs.read_config(folder).train.seed == entry["seed"] and runs.load_state(folder).finished
        report = evaluate(MlpPolicy.load(runs.shipped_teacher(folder)), config, courses, 16, seed=runs.SELECTION_SEED)
        assert entry["selection_success"] == report.success_rate
        scores.append(report.success_rate)
    kept = scores.index(max(scores))  # the first of equals
    assert [e["kept"] for e in state.learners] == [k == kept for k in range(3)]
    kept_dir = runs.learner_dir(run_dir, kept)
    assert same_weights(
        MlpPolicy.load(run_dir / "best" / "teacher.npz"), MlpPolicy.load(runs.shipped_teacher(kept_dir))
    )
    assert same_weights(MlpPolicy.load(run_dir / "teacher.npz"), MlpPolicy.load(kept_dir / "teacher.npz"))

    # The run's steps and learning curve cover every learner, one after another.
    assert state.finished and state.num_timesteps == sum(e["steps"] for e in state.learners)
    curve = json.loads((run_dir / "metrics.json").read_text())["learning_curve"]
    learners = [e["learner"] for e in curve]
    assert learners == sorted(learners) and set(learners) == {0, 1, 2}
    assert [e["steps"] for e in curve] == sorted(e["steps"] for e in curve)
    manifest = ship_run(run_dir, tmp_path / "policy")
    assert manifest["teacher"]["learners"] == state.learners


def test_an_interrupted_run_of_learners_resumes_the_learner_it_stopped_in(tmp_path):
    env = tiny_scenario(tmp_path, "hover", learners=2, selection_episodes=4, steps=2048, checkpoint_every_steps=512)
    stopped = train_cmd("--env", str(env), "--out", str(tmp_path / "runs"), fault="sigint@1024")
    assert stopped.returncode == 130, stopped.stdout[-3000:] + stopped.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "hover").iterdir()
    assert f"continues with --resume {run_dir}" in stopped.stdout
    first = runs.learner_dir(run_dir, 0)
    assert not runs.load_state(first).finished and not runs.learner_dir(run_dir, 1).exists()

    resumed = train_cmd("--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "resuming from step_000000001024.zip" in resumed.stdout
    assert len(runs.load_state(first).commands) == 2  # the first learner went on where it stopped
    assert len(runs.load_state(runs.learner_dir(run_dir, 1)).commands) == 1
    state = runs.load_state(run_dir)
    assert state.finished and len(state.learners) == 2 and len(state.commands) == 2


def test_learners_of_neighbouring_seeds_do_not_share_seeds_and_sweeps_refuse_them(tmp_path):
    of = {seed: {runs.learner_seed(seed, k) for k in range(8)} for seed in range(4)}
    assert all(of[a].isdisjoint(of[b]) for a in of for b in of if a < b)
    env = tiny_scenario(tmp_path, "hover", learners=2)
    options = runs.RunOptions(env=str(env), out=tmp_path / "runs", on_evaluation=lambda *_: None)
    with pytest.raises(ConfigError, match="learners"):
        train(options)
    assert not (tmp_path / "runs").exists()
