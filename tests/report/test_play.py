"""`tinyrl play`: an episode as an animated GIF that decodes, moves, and is the same for the same seed."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies" / "obstacle-course"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tinyrl", *args], capture_output=True, text=True, timeout=180, cwd=ROOT
    )


def gif_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as im:
        assert im.format == "GIF"
        return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(im)]


def test_play_writes_a_deterministic_animated_gif(tmp_path):
    outs = [tmp_path / "a.gif", tmp_path / "sub" / "b.gif"]
    for out in outs:
        result = run("play", "--env", "obstacle-course", "--policy", str(POLICY), "--max-steps", "30", "-o", str(out))
        assert result.returncode == 0, result.stderr
        assert "stopped after 3.00 s" in result.stdout  # 30 steps at 10 Hz, cut by --max-steps
    assert outs[0].read_bytes() == outs[1].read_bytes(), "same seed, different GIF"
    frames = gif_frames(outs[0])
    assert len(frames) == 31  # 31 samples (30 steps at 10 Hz) at 10 fps in real time: every one
    assert frames[0].shape[0] > 100 and frames[0].shape[1] > 100
    assert np.ptp(frames[0]) > 100, "a blank frame"
    assert any(not np.array_equal(frames[0], f) for f in frames[1:]), "the drone never moves"
    assert not list(tmp_path.rglob(".*.tmp")), "atomic write left a temporary file"


def test_recording_replays_the_evaluated_episode():
    from tinyrl.common.evaluate import eval_courses, evaluate
    from tinyrl.compress.artefacts import load_policy
    from tinyrl.report.episode import record_episode
    from tinyrl.tasks.config import load_scenario

    config = load_scenario("obstacle-course")
    policy = load_policy(POLICY / "teacher.npz")
    courses = eval_courses(config, 3, seed=5)
    report = evaluate(policy, config, courses, episodes=3, seed=5, record_trajectories=3)
    for j in range(3):
        rec = record_episode(policy, config, courses, j, seed=5 + j)
        assert rec.outcome == report.episode_results[j].outcome
        np.testing.assert_array_equal(rec.position_m, report.trajectories[j])
        assert rec.yaw_rad.shape == (len(rec.position_m),) and rec.ranges_m.shape == (len(rec.position_m), 5)
        assert ((rec.ranges_m >= 0) & (rec.ranges_m <= rec.max_range_m)).all()


def test_frame_steps_play_in_real_time_and_end_on_the_last_sample():
    from tinyrl.report.video import frame_steps

    steps = frame_steps(101, dt_s=0.04, fps=10)
    assert steps[0] == 0 and steps[-1] == 100 and set(np.diff(steps)) == {2}  # 25 Hz at 10 fps
    assert list(frame_steps(7, dt_s=0.04, fps=10, speed=2)) == [0, 5, 6]
    assert list(frame_steps(1, dt_s=0.04, fps=10)) == [0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "out.mp4"], "can only write .gif"),
        (["--courses", "envs/courses/handmade.json", "--index", "99"], "out of range"),
        (["--courses", "envs/courses/handmade.json", "--difficulty", "hard"], "cannot be combined"),
        (["--difficulty", "insane"], "difficulty 'insane'"),
        (["--env", "hover"], "use the --env the policy was trained on"),
        (["--policy", "no/such/policy"], "not found"),
    ],
)
def test_bad_input_is_one_line_error(tmp_path, args, message):
    if "-o" not in args:
        args = [*args, "-o", str(tmp_path / "out.gif")]
    result = run("play", "--policy", str(POLICY), *args) if "--policy" not in args else run("play", *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
    assert not list(tmp_path.iterdir()), "nothing is written on bad input"
