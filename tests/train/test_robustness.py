"""``tinyrl eval --robustness``: named randomization conditions flown on the same courses and seeds."""

import json
import subprocess
import sys

import pytest
import yaml
from scenario_support import ROOT

from tinyrl.common.evaluate import evaluate
from tinyrl.compress.artefacts import load_policy
from tinyrl.errors import ConfigError
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.features import observation_size
from tinyrl.train.robustness import (
    CONDITIONS,
    condition_config,
    robustness_reports,
    robustness_rows,
    robustness_table,
    select_conditions,
)

POLICY = ROOT / "policies" / "obstacle-course"
EPISODES = 6
ROW_KEYS = {
    "condition",
    "description",
    "episodes",
    "success_rate",
    "success_ci95",
    "collision_rate",
    "timeout_rate",
    "left_arena_rate",
    "mean_time_to_goal_s",
    "success_vs_nominal",
    "randomization",
}
#: Condition → the randomization fields it must fly, given the obstacle course's (wind 0.004 N, gusts 0.003 N).
EXPECTED_CHANGES = {
    "nominal": {},
    "randomized": {},
    "mass_inertia_30": {"mass_rel": 0.3, "inertia_rel": 0.3},
    "sensor_noise_x3_latency": {"sensor_noise_scale": (2.0, 3.0), "latency_steps": (1, 2)},
    "wind_x3": {"wind_n": 0.012, "gust_n": 0.009},
}


@pytest.fixture(scope="module")
def config():
    return load_scenario("obstacle-course")


@pytest.fixture(scope="module")
def teacher():
    return load_policy(POLICY / "teacher.npz")


def test_each_condition_changes_only_what_it_names(config):
    assert [c.name for c in CONDITIONS] == list(EXPECTED_CHANGES)
    base = config.randomization.model_dump()
    for condition in CONDITIONS:
        flown = condition_config(config, condition)
        changed = {k: v for k, v in flown.randomization.model_dump().items() if v != base[k]}
        assert changed == {k: pytest.approx(v) for k, v in EXPECTED_CHANGES[condition.name].items()}, condition.name
        assert flown.model_dump(exclude={"randomization"}) == config.model_dump(exclude={"randomization"})
    assert select_conditions(["wind_x3", "nominal"]) == (CONDITIONS[4], CONDITIONS[0])
    with pytest.raises(ConfigError, match="unknown robustness condition 'storm'; known: nominal, randomized"):
        select_conditions(["nominal", "storm"])


def test_latency_condition_grows_a_short_delay_line(teacher):
    short = load_scenario("obstacle-course", {"observation": {"max_latency_steps": 1}})
    noisy = condition_config(short, select_conditions(["sensor_noise_x3_latency"])[0])
    assert noisy.observation.max_latency_steps == 2 and noisy.randomization.latency_steps == (1, 2)
    assert observation_size(noisy) == observation_size(short) == teacher.obs_dim  # only the buffer grows
    report = evaluate(teacher, noisy, episodes=2, randomize=True)
    assert report.episodes == 2


def test_table_is_deterministic_per_seed_and_rows_are_the_evaluations(config, teacher):
    reports = robustness_reports(teacher, config, EPISODES, seed=5)
    again = robustness_reports(teacher, config, EPISODES, seed=5)
    assert list(reports) == list(EXPECTED_CHANGES)
    for name, report in reports.items():
        assert report.to_dict() == again[name].to_dict(), name
    # The first two rows are exactly tinyrl eval and tinyrl eval --randomize on the same seeds.
    nominal = evaluate(teacher, config, episodes=EPISODES, seed=5)
    randomized = evaluate(teacher, config, episodes=EPISODES, seed=5, randomize=True)
    assert reports["nominal"].to_dict() == nominal.to_dict()
    assert reports["randomized"].to_dict() == randomized.to_dict()
    # Every changed condition flies other episodes than the training randomization, on the same courses.
    for name in ("mass_inertia_30", "sensor_noise_x3_latency", "wind_x3"):
        pairs = zip(randomized.episode_results, reports[name].episode_results, strict=True)
        assert all(a.course == b.course and a.seed == b.seed for a, b in pairs)
        assert [(e.reward, e.time_s) for e in reports[name].episode_results] != [
            (e.reward, e.time_s) for e in randomized.episode_results
        ], name
    rows = robustness_rows(reports, config)
    assert [r["condition"] for r in rows] == list(EXPECTED_CHANGES)
    for row in rows:
        assert set(row) == ROW_KEYS
        lo, hi = row["success_ci95"]
        assert 0 <= lo <= row["success_rate"] <= hi <= 1 and row["episodes"] == EPISODES
        rates = ("success_rate", "collision_rate", "timeout_rate", "left_arena_rate")
        assert sum(row[k] for k in rates) == pytest.approx(1.0)
        assert row["success_vs_nominal"] == pytest.approx(row["success_rate"] - rows[0]["success_rate"])
    assert rows[0]["randomization"] is None and rows[4]["randomization"]["wind_n"] == pytest.approx(0.012)
    json.dumps(rows)  # JSON-ready
    known = robustness_reports(teacher, config, EPISODES, seed=5, known={"nominal": nominal})
    assert known["nominal"] is nominal, "a known nominal report is flown again"


def test_wind_x3_grounds_a_policy_that_only_handles_light_wind():
    # The hover teacher holds its point within 5 cm in calm air; a light steady wind (up to 1 mN, nothing else
    # randomized) already costs it episodes, and three times that wind costs it most of the rest.
    light_wind = {
        **dict.fromkeys(("mass_rel", "inertia_rel", "kf_rel", "km_rel", "motor_tau_rel", "start_yaw_rad"), 0.0),
        "sensor_noise_scale": (1.0, 1.0),
        "latency_steps": (0, 0),
        "wind_n": 0.001,
        "gust_n": 0.0,
    }
    hover = load_scenario("hover", {"randomization": light_wind})
    policy = load_policy(ROOT / "policies" / "hover" / "teacher.npz")
    rows = {r["condition"]: r for r in robustness_table(policy, hover, 24, seed=0)}
    assert rows["nominal"]["success_rate"] == 1.0
    assert rows["wind_x3"]["success_rate"] <= rows["randomized"]["success_rate"] - 0.25 < 0.75
    assert rows == {r["condition"]: r for r in robustness_table(policy, hover, 24, seed=0)}


def run_eval(*args, policy=POLICY):
    cmd = [sys.executable, "-m", "tinyrl", "eval", str(policy), "--episodes", str(EPISODES), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_cli_prints_the_table_and_adds_robustness_to_the_json(config, teacher, tmp_path):
    out = tmp_path / "robust.json"
    result = run_eval("--robustness", "--seed", "5", "--json", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    for condition in EXPECTED_CHANGES:
        assert condition in result.stdout
    data = json.loads(out.read_text())
    # tinyrl eval's keys, as a nominal eval writes them, plus the robustness rows.
    plain = run_eval("--seed", "5", "--json", "/dev/stdout")
    assert plain.returncode == 0, plain.stderr[-2000:]
    nominal = json.loads(plain.stdout.strip().splitlines()[-1])
    assert {k: v for k, v in data.items() if k != "robustness"} == nominal
    assert data["randomize"] is False and data["difficulty"] == "medium"
    assert data["robustness"] == json.loads(json.dumps(robustness_table(teacher, config, EPISODES, seed=5)))


def test_cli_robustness_errors_are_one_line(tmp_path):
    still = yaml.safe_load((ROOT / "envs" / "obstacle-course.yaml").read_text())
    still["randomization"]["enabled"] = False
    env = tmp_path / "still.yaml"
    env.write_text(yaml.safe_dump(still))
    for args, message in (
        (["--env", str(env)], "--robustness: scenario obstacle-course trains without domain randomization"),
        (["--randomize"], "--robustness flies its own conditions"),
        (["--backend", "ray"], "--robustness runs locally"),
        (["--difficulty", "insane"], "difficulty 'insane' is not one of"),
    ):
        result = run_eval("--robustness", *args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), result.stderr
        assert message in lines[0]
    with pytest.raises(ConfigError, match="--robustness: scenario obstacle-course trains without"):
        robustness_table(load_policy(POLICY), load_scenario(env), 1)
