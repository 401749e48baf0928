import json
import subprocess
import sys

import matplotlib.image
import numpy as np

from tinyrl.report.demo import default_course, fly_demo
from tinyrl.sim.course import Box


def test_demo_flies_the_packaged_course(tmp_path):
    result, traj = fly_demo(seed=0, out_dir=tmp_path, progress=False)
    assert result.outcome == "success"
    assert result.min_clearance_m > 0
    assert np.linalg.norm(traj[-1] - np.asarray(default_course().goal.xyz)) <= default_course().goal.radius_m
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["outcome"] == "success"
    image = matplotlib.image.imread(tmp_path / "trajectory.png")
    assert image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0


def test_demo_is_deterministic_for_a_seed():
    _, a = fly_demo(seed=3, seconds=3.0, progress=False)
    _, b = fly_demo(seed=3, seconds=3.0, progress=False)
    np.testing.assert_array_equal(a, b)


def test_a_wall_across_the_course_stops_the_demo():
    course = default_course()
    wall = Box(xyz=(2.0, 0.0, 1.25), half_extents_m=(0.05, 1.5, 1.25))
    blocked = course.model_copy(update={"obstacles": [wall]})
    result, _ = fly_demo(blocked, seconds=15.0, progress=False)
    assert result.outcome in ("collision", "timeout", "left_arena")


def test_demo_command_writes_outputs(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "tinyrl", "demo", "--out", str(tmp_path), "--seed", "0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "outcome: success" in out.stdout
    assert json.loads((tmp_path / "summary.json").read_text())["outcome"] == "success"
