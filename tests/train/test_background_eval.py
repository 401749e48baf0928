import json
import subprocess
import sys
import time

import pytest
from rich.console import Console
from scenario_support import leaning_mlp, tiny_scenario

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


def test_the_worker_exits_when_the_trainer_is_killed(tmp_path):
    code = (
        "import os, sys\n"
        "from tinyrl.tasks.config import load_scenario\n"
        "from tinyrl.train.background import BackgroundEvaluator\n"
        "from tinyrl.common.evaluate import eval_courses\n"
        "if __name__ == '__main__':\n"
        "    c = load_scenario('obstacle-course')\n"
        "    e = BackgroundEvaluator(c, eval_courses(c, 1), 0)\n"
        "    print(e._process.pid, flush=True)\n"
        "    os.kill(os.getpid(), 9)\n"
    )
    script = tmp_path / "trainer.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == -9, out.stderr[-2000:]
    worker = int(out.stdout.split()[0])
    deadline = time.time() + 60
    while time.time() < deadline and _alive(worker):
        time.sleep(0.2)
    assert not _alive(worker), "the evaluation worker outlived its trainer"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"  # a zombie has exited; only its parent may reap it
    except FileNotFoundError:
        return False
