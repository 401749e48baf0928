"""The report's robustness table: teacher and int8 under every condition, on the report's own courses and seeds."""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tinyrl.common.policy import PolicyError
from tinyrl.errors import ConfigError
from tinyrl.report.evaluation import evaluate_policy_dir
from tinyrl.report.html import figures, render_html, robustness_note, robustness_table_rows
from tinyrl.report.plots import plot_robustness
from tinyrl.report.robustness import robustness_flat_rows
from tinyrl.tasks.config import load_scenario
from tinyrl.train.robustness import CONDITIONS, robustness_table

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies" / "obstacle-course"
EPISODES = 5
NAMES = [c.name for c in CONDITIONS]


@pytest.fixture(scope="module")
def evaluation():
    return evaluate_policy_dir(POLICY, "obstacle-course", EPISODES, seed=2, n_trajectories=0, difficulties=())


def test_teacher_and_int8_fly_every_condition_on_the_reports_courses(evaluation):
    assert list(evaluation.robustness) == NAMES
    assert all(list(row) == ["teacher", "int8"] for row in evaluation.robustness.values())
    for name in ("teacher", "int8"):
        assert evaluation.robustness["nominal"][name] is evaluation.reports[name], "nominal flown twice"
    # The rows are tinyrl eval --robustness's for the same policy, courses and seeds.
    teacher = robustness_table(evaluation.policies["teacher"], evaluation.config, EPISODES, seed=2)
    flat = robustness_flat_rows(evaluation.robustness, evaluation.config)
    assert [(r["condition"], r["name"]) for r in flat] == [(c, n) for c in NAMES for n in ("teacher", "int8")]
    assert [{k: v for k, v in r.items() if k != "name"} for r in flat if r["name"] == "teacher"] == teacher
    table = robustness_table_rows(evaluation)
    assert [(r["condition"], r["policy"]) for r in table] == [(r["condition"], r["name"]) for r in flat]
    assert table[0]["vs nominal"] == "+0.0 pt" and "(" in table[0]["success (95 % CI)"]
    assert "The teacher and int8 flown under each condition" in robustness_note(evaluation)


def test_robustness_figure_decodes_and_shows_bars(evaluation):
    titles = [title for title, _, _ in figures(evaluation)]
    assert titles.index("Robustness") == titles.index("Success rates") + 1  # no difficulty sweep here
    png = dict((title, data) for title, _, data in figures(evaluation))["Robustness"]
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.width > 300 and im.height > 150
        assert np.ptp(np.asarray(im.convert("L"))) > 100, "a blank figure"
    with pytest.raises(ConfigError, match="no robustness rows"):
        plot_robustness([])


def test_skipped_or_impossible_robustness_says_why(tmp_path):
    skipped = evaluate_policy_dir(POLICY, "obstacle-course", 2, n_trajectories=0, difficulties=(), robustness=())
    assert skipped.robustness == {} and "Robustness" not in [t for t, _, _ in figures(skipped)]
    assert "--no-robustness" in robustness_note(skipped) and "<h2>Robustness</h2>" in render_html(skipped)
    still = load_scenario("obstacle-course", {"randomization": {"enabled": False}})
    calm = evaluate_policy_dir(POLICY, still, 2, n_trajectories=0, difficulties=())
    assert calm.robustness == {} and "trains without domain randomization" in robustness_note(calm)
    with pytest.raises(ConfigError, match="robustness: scenario obstacle-course trains without domain randomization"):
        evaluate_policy_dir(POLICY, still, 2, difficulties=(), robustness=["teacher"])
    (tmp_path / "teacher.npz").write_bytes((POLICY / "teacher.npz").read_bytes())
    with pytest.raises(PolicyError, match="robustness: no 'int8' policy in the folder"):
        evaluate_policy_dir(tmp_path, "obstacle-course", 2, difficulties=(), robustness=["int8"])


def test_report_cli_can_leave_robustness_out(tmp_path):
    out = tmp_path / "report.html"
    cmd = [sys.executable, "-m", "tinyrl", "report", "--policy", str(POLICY), "-o", str(out), "--episodes", "2"]
    result = subprocess.run([*cmd, "--no-robustness", "--no-video"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    page = out.read_text()
    assert "Robustness conditions not flown" in page and "<h3>Robustness</h3>" not in page
