"""Success vs difficulty: each policy on unseen courses of every generator level, with Wilson intervals."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tinyrl.common.evaluate import eval_courses, evaluate
from tinyrl.compress.artefacts import load_policy
from tinyrl.errors import ConfigError
from tinyrl.report.difficulty import difficulty_rows, own_difficulty, success_by_difficulty
from tinyrl.report.plots import plot_success_by_difficulty
from tinyrl.tasks.config import load_scenario

POLICY = Path(__file__).resolve().parents[2] / "policies" / "obstacle-course"
EPISODES = 6


@pytest.fixture(scope="module")
def config():
    return load_scenario("obstacle-course")


@pytest.fixture(scope="module")
def teacher():
    return load_policy(POLICY / "teacher.npz")


def test_one_entry_per_difficulty_with_rates_and_intervals(config, teacher):
    known = {"teacher": evaluate(teacher, config, episodes=EPISODES, seed=1)}
    out = success_by_difficulty({"teacher": teacher}, config, EPISODES, seed=1, known=known)
    assert list(out) == ["easy", "medium", "hard"] and own_difficulty(config) == "medium"
    assert out["medium"]["teacher"] is known["teacher"], "the scenario's own level is flown again"
    for row in out.values():
        r = row["teacher"]
        lo, hi = r.success_ci95
        assert r.episodes == EPISODES and 0.0 <= lo <= r.success_rate <= hi <= 1.0
    # Each level flies the courses `tinyrl eval` generates at that level, with its seeds.
    hard = evaluate(teacher, config, eval_courses(config, EPISODES, 1, "hard"), EPISODES, seed=1)
    assert [e.outcome for e in out["hard"]["teacher"].episode_results] == [e.outcome for e in hard.episode_results]
    rows = difficulty_rows(out)
    assert [(r["difficulty"], r["name"]) for r in rows] == [(d, "teacher") for d in ("easy", "medium", "hard")]


def test_levels_generate_their_own_arenas(config):
    length = {d: eval_courses(config, 2, 0, d)[0].arena for d in ("easy", "hard")}
    assert length["easy"].x[1] - length["easy"].x[0] == pytest.approx(5.0)
    assert length["hard"].x[1] - length["hard"].x[0] == pytest.approx(8.0)
    # The default is the scenario's own level, the courses every other evaluation flies.
    assert eval_courses(config, 2, 0) == eval_courses(config, 2, 0, "medium")


def test_unknown_difficulty_fails_before_flying(config, teacher):
    with pytest.raises(ConfigError, match="difficulty 'insane'"):
        success_by_difficulty({"teacher": teacher}, config, EPISODES, difficulties=["easy", "insane"])


def test_plot_draws_every_level_and_policy():
    rows = [
        {
            "difficulty": d,
            "name": n,
            "episodes": 10,
            "success_rate": s,
            "success_ci95": (max(s - 0.2, 0), min(s + 0.2, 1)),
        }
        for d, base in (("easy", 0.9), ("hard", 0.3))
        for n, s in (("teacher", base), ("int8", base - 0.1))
    ]
    with Image.open(io.BytesIO(plot_success_by_difficulty(rows))) as im:
        assert im.format == "PNG" and im.width > 300 and np.ptp(np.asarray(im.convert("L"))) > 100
    with pytest.raises(ConfigError):
        plot_success_by_difficulty([])
