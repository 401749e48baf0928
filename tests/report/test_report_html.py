"""`tinyrl report`: one self-contained HTML page whose every image decodes and shows something."""

import base64
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies" / "obstacle-course"
IMG = re.compile(r'<img [^>]*src="data:image/(png|gif);base64,([A-Za-z0-9+/=]+)"')


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinyrl", *args], capture_output=True, text=True, timeout=180)


def decode(data: str) -> list[np.ndarray]:
    """Every frame of an embedded PNG or GIF as RGB ``(H, W, 3)`` uint8."""
    from PIL import Image, ImageSequence

    with Image.open(io.BytesIO(base64.b64decode(data, validate=True))) as im:
        return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(im)]


def test_report_writes_self_contained_page_with_decodable_images(tmp_path):
    out = tmp_path / "sub" / "report.html"
    result = run("report", "--policy", str(POLICY), "--env", "obstacle-course", "-o", str(out), "--episodes", "12")
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # Self-contained: no file or network references besides the embedded images.
    assert not re.search(r'(src|href)="(?!data:image/(png|gif);base64,)', page)
    images = IMG.findall(page)
    # Trajectories x3, success rates, success vs difficulty, robustness, time to goal, quantization error,
    # HIL latency, learning curve; then the episode video.
    assert len(images) == page.count("<img ") == 11
    assert [kind for kind, _ in images] == ["png"] * 10 + ["gif"]
    for kind, data in images:
        frames = decode(data)
        assert len(frames) == 1 if kind == "png" else len(frames) > 10
        assert frames[0].shape[0] > 100 and frames[0].shape[1] > 100
        assert all(np.ptp(frame) > 100 for frame in frames), "a blank figure or frame"
    for text in (
        "teacher",
        "student",
        "int8",
        "Footprint",
        "int8 quantization error",
        "Success vs difficulty",
        "<h2>Robustness</h2>",
        "<h3>Robustness</h3>",
        "<tr><td>wind_x3</td><td>int8</td>",
        "HIL latency",
        "round trip p50",
        "Learning curve",
        "Episode video",
    ):
        assert text in page
    assert not list(out.parent.glob(".*.tmp")), "atomic write left a temporary file"


def test_report_of_teacher_only_folder(tmp_path):
    from tinyrl.report.evaluation import evaluate_policy_dir
    from tinyrl.report.html import figures, hil_note, render_html

    (tmp_path / "teacher.npz").write_bytes((POLICY / "teacher.npz").read_bytes())
    evaluation = evaluate_policy_dir(tmp_path, "obstacle-course", episodes=4, n_trajectories=2, difficulties=["easy"])
    assert list(evaluation.reports) == ["teacher"] and evaluation.quantization is None
    assert evaluation.hil_report is None and "No hil.json" in hil_note(evaluation)
    titles = [title for title, _, _ in figures(evaluation)]
    assert titles == ["Trajectories: teacher", "Success rates", "Success vs difficulty", "Robustness", "Time to goal"]
    assert [list(row) for row in evaluation.robustness.values()] == [["teacher"]] * 5
    page = render_html(evaluation)
    assert "No hil.json in the policy folder" in page and "<h3>HIL latency</h3>" not in page and "image/gif" not in page
    assert "<tr><td>mass_inertia_30</td><td>teacher</td>" in page


def test_report_on_a_course_file_replays_its_episodes():
    from tinyrl.report.evaluation import evaluate_policy_dir
    from tinyrl.report.html import figures

    handmade = ROOT / "envs" / "courses" / "handmade.json"
    evaluation = evaluate_policy_dir(
        POLICY, "obstacle-course", episodes=7, n_trajectories=7, difficulties=(), robustness=()
    )
    on_file = evaluate_policy_dir(
        POLICY, "obstacle-course", episodes=7, n_trajectories=7, difficulties=(), courses=handmade
    )
    assert len(on_file.courses) == 5 and on_file.courses != evaluation.courses[:5]
    assert on_file.by_difficulty == {} and "courses of handmade.json" in figures(on_file)[0][1]
    # The robustness conditions fly the course file too, its nominal row being the main evaluation.
    assert on_file.robustness["nominal"]["int8"] is on_file.reports["int8"]
    assert [e.course for e in on_file.robustness["wind_x3"]["int8"].episode_results] == [0, 1, 2, 3, 4, 0, 1]
    # Episode 6 flew course 6 % 5 = 1 with seed 6; the replay follows the same path.
    replay = on_file.replay("int8", 6)
    assert replay.course == on_file.courses[1]
    np.testing.assert_array_equal(replay.position_m, on_file.reports["int8"].trajectories[6])


@pytest.mark.parametrize("kind", ["missing", "empty", "garbage"])
def test_bad_policy_dir_is_one_line_error(tmp_path, kind):
    policy = tmp_path / "policy"
    if kind != "missing":
        policy.mkdir()
    if kind == "garbage":
        (policy / "teacher.npz").write_bytes(b"not a policy")
    out = tmp_path / "report.html"
    result = run("report", "--policy", str(policy), "--env", "obstacle-course", "-o", str(out), "--episodes", "2")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and str(policy) in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
