import json
import os
import signal
import sys

import pytest
from reaper import run_reaped
from rich.console import Console
from scenario_support import ROOT, leaning_mlp, tiny_scenario

from tinyrl.common.evaluate import eval_courses
from tinyrl.tasks.config import load_scenario
from tinyrl.train.background import BackgroundEvaluator, InlineEvaluator, Snapshot
from tinyrl.train.run import RunOptions
from tinyrl.train.trainer import train
from tinyrl.workers import WorkerError


def test_background_evaluations_equal_inline_ones(tmp_path):
    """The worker process gives the learning curve and best policy that evaluating in place gives."""
    env = tiny_scenario(tmp_path, steps=6144, eval_every_steps=1024, eval_episodes=6)
    runs = {}
    for background in (True, False):
        options = RunOptions(
            env=str(env),
            run_dir=tmp_path / f"bg-{background}",
            progress=False,
            background_eval=background,
            final_eval_episodes=4,
        )
        runs[background] = train(options, Console(quiet=True))
    curves = {}
    for background, run_dir in runs.items():
        state = json.loads((run_dir / "state.json").read_text())
        curves[background] = [(e["steps"], e["success_rate"], e["collision_rate"]) for e in state["evaluations"]]
    assert len(curves[True]) == 6 and [c[0] for c in curves[True]] == sorted(c[0] for c in curves[True])
    assert curves[True] == curves[False]
    assert (runs[True] / "best" / "teacher.npz").read_bytes() == (runs[False] / "best" / "teacher.npz").read_bytes()
    assert (runs[True] / "teacher.npz").read_bytes() == (runs[False] / "teacher.npz").read_bytes()


def test_reports_come_back_in_order_and_match_inline():
    config = load_scenario("obstacle-course")
    courses = eval_courses(config, 3, seed=7)
    snapshots = [Snapshot(k, float(k), leaning_mlp(seed=k)) for k in range(4)]
    inline = InlineEvaluator(config, courses, seed=5)
    background = BackgroundEvaluator(config, courses, seed=5)
    try:
        for s in snapshots:  # more than MAX_PENDING: submit waits for room, keeping what arrived
            background.submit(s)
            inline.submit(s)
        got = background.drain()
    finally:
        background.close()
    want = inline.drain()
    assert [s.steps for s, _ in got] == [0, 1, 2, 3]
    assert [r.episode_results for _, r in got] == [r.episode_results for _, r in want]


def test_a_failing_evaluation_raises_in_the_trainer():
    config = load_scenario("obstacle-course")
    background = BackgroundEvaluator(config, eval_courses(config, 2, seed=0), seed=0)
    try:
        background.submit(Snapshot(1, 0.0, leaning_mlp(obs_dim=5)))  # the scenario gives more observations
        with pytest.raises(WorkerError, match="takes 5 observations"):
            background.drain()
    finally:
        background.close()


def test_the_worker_dies_with_a_killed_trainer_even_mid_evaluation(tmp_path):
    """SIGKILL runs none of the trainer's code; the kernel's parent-death signal takes the busy worker along."""
    code = (
        "import os, signal\n"
        "from scenario_support import leaning_mlp\n"
        "from tinyrl.common.evaluate import eval_courses\n"
        "from tinyrl.tasks.config import load_scenario\n"
        "from tinyrl.train.background import BackgroundEvaluator, Snapshot\n"
        "if __name__ == '__main__':\n"
        "    c = load_scenario('obstacle-course')\n"
        "    e = BackgroundEvaluator(c, eval_courses(c, 4), 0)\n"
        "    e.submit(Snapshot(1, 0.0, leaning_mlp()))\n"
        "    e.drain()\n"  # the worker is up and serving
        "    e.submit(Snapshot(2, 0.0, leaning_mlp()))\n"  # and now busy with this one
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    script = tmp_path / "trainer.py"
    script.write_text(code)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    done, report = run_reaped([sys.executable, str(script)], tmp_path / "reaper.json", env=env, timeout=600)
    assert report["returncode"] == -signal.SIGKILL, done.stderr[-2000:]
    # Killed by the kernel, not stopped by the reaper ("leaked") nor ended on its own after the evaluation ("exit 0").
    assert [p["fate"] for p in report["leftovers"] if p["comm"] == "tinyrl-eval"] == [f"signal {signal.SIGKILL}"]
