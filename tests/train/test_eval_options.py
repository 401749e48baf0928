"""``tinyrl eval --difficulty`` and ``--randomize``: which courses, which drone, and the JSON they write."""

import json
import subprocess
import sys

import pytest
from scenario_support import ROOT, leaning_mlp

from tinyrl.common.evaluate import EVAL_COURSE_SEED_OFFSET, eval_courses, evaluate
from tinyrl.compress.artefacts import load_policy
from tinyrl.errors import ConfigError
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.core import course_pool
from tinyrl.tasks.features import observation_size
from tinyrl.tasks.generator import generate_courses

POLICY = ROOT / "policies" / "obstacle-course"
EPISODES = 6


@pytest.fixture(scope="module")
def config():
    return load_scenario("obstacle-course")


@pytest.fixture(scope="module")
def teacher():
    return load_policy(POLICY / "teacher.npz")


def run_eval(*args):
    cmd = [sys.executable, "-m", "tinyrl", "eval", str(POLICY), "--episodes", str(EPISODES), "--json", "/dev/stdout"]
    out = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("level", ["easy", "medium", "hard"])
def test_difficulty_courses_are_the_generators_level_and_unseen(config, level):
    courses = eval_courses(config, 8, 3, level)
    assert courses == generate_courses(config.course_generator, level, 8, EVAL_COURSE_SEED_OFFSET + 3)
    size = config.course_generator.difficulties[level].arena_size_m
    assert all(c.arena.x[1] - c.arena.x[0] == pytest.approx(size[0]) for c in courses)
    pool = course_pool(config, size=50, difficulty=level)  # course i of a set depends only on (seed, i)
    assert not set(map(str, courses)) & set(map(str, pool))
    assert eval_courses(config, 3, 3, level, start=5) == courses[5:]


def test_mix_takes_the_levels_in_turn(config):
    mix = eval_courses(config, 7, 2, "mix")
    levels = ("easy", "medium", "hard")
    per_level = {level: eval_courses(config, 3, 2, level) for level in levels}
    assert mix == [per_level[levels[i % 3]][i // 3] for i in range(7)]
    assert eval_courses(config, 4, 2, "mix", start=3) == mix[3:]
    with pytest.raises(ConfigError, match="difficulty 'insane'"):
        eval_courses(config, 2, 0, "insane")


def test_eval_difficulty_flies_that_levels_courses_and_records_it(config, teacher):
    hard = run_eval("--difficulty", "hard", "--seed", "4")
    courses = generate_courses(config.course_generator, "hard", EPISODES, EVAL_COURSE_SEED_OFFSET + 4)
    direct = evaluate(teacher, config, courses, EPISODES, seed=4)
    assert hard["difficulty"] == "hard" and hard["randomize"] is False
    assert hard["episode_results"] == [e.__dict__ for e in direct.episode_results]
    # Without the flag: the scenario's own level, the numbers evaluate() gives by default.
    default = run_eval("--seed", "4")
    assert default["difficulty"] == "medium" and default["randomize"] is False
    assert {"policy", "env", "seed", "episodes", "success_rate", "success_ci95", "per_course"} <= default.keys()
    assert default["episode_results"] == [
        e.__dict__ for e in evaluate(teacher, config, None, EPISODES, 4).episode_results
    ]
    assert default["episode_results"] != hard["episode_results"]


def test_randomize_changes_outcomes_and_is_deterministic_per_seed(config, teacher):
    nominal = evaluate(teacher, config, episodes=EPISODES, seed=7)
    randomized = evaluate(teacher, config, episodes=EPISODES, seed=7, randomize=True)
    again = evaluate(teacher, config, episodes=EPISODES, seed=7, randomize=True, batch=2)
    assert [e.__dict__ for e in randomized.episode_results] == [e.__dict__ for e in again.episode_results]
    changed = [
        (a.reward, a.time_s) != (b.reward, b.time_s)
        for a, b in zip(nominal.episode_results, randomized.episode_results, strict=True)
    ]
    assert all(changed), "every episode flies another drone, wind and sensor noise"
    assert [e.course for e in randomized.episode_results] == [e.course for e in nominal.episode_results]
    first, second = run_eval("--randomize", "--seed", "7"), run_eval("--randomize", "--seed", "7")
    assert first == second and first["randomize"] is True
    assert first["episode_results"] == [e.__dict__ for e in randomized.episode_results]


def test_bad_eval_options_fail_in_one_line():
    cmd = [sys.executable, "-m", "tinyrl", "eval", str(POLICY), "--episodes", "2"]
    for args, message in (
        (["--difficulty", "insane"], "difficulty 'insane' is not one of"),
        (["--difficulty", "hard", "--courses", "envs/courses/handmade.json"], "cannot be combined with --courses"),
    ):
        out = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert out.returncode == 2 and message in out.stderr and out.stderr.count("error:") == 1
    still = load_scenario("hover", {"randomization": {"enabled": False}})
    with pytest.raises(ConfigError, match="--randomize: scenario hover trains without domain randomization"):
        evaluate(leaning_mlp(observation_size(still)), still, episodes=1, randomize=True)


def test_reserved_mix_level_name_fails_clearly():
    levels = {"mix": {"arena_size_m": [5, 3, 2.5], "obstacle_density_per_m2": 0.1}}
    with pytest.raises(ConfigError, match="'mix' is reserved"):
        load_scenario("obstacle-course", {"course_generator": {"difficulties": levels}})


def test_validation_flies_train_eval_difficulty_courses():
    from tinyrl.train.run import VALIDATION_SEED
    from tinyrl.train.trainer import validation_courses

    hard = load_scenario("obstacle-course", overrides={"train": {"eval_difficulty": "hard", "eval_episodes": 4}})
    courses = validation_courses(hard)
    assert [c.to_dict() for c in courses] == [
        c.to_dict() for c in eval_courses(hard, 4, VALIDATION_SEED, difficulty="hard")
    ]
    default = load_scenario("obstacle-course", overrides={"train": {"eval_episodes": 4}})
    assert [c.to_dict() for c in validation_courses(default)] != [c.to_dict() for c in courses]
    with pytest.raises(ConfigError, match=r"train\.eval_difficulty: difficulty 'insane'"):
        load_scenario("obstacle-course", overrides={"train": {"eval_difficulty": "insane"}})


def test_episode_shorter_than_a_few_policy_steps_is_refused():
    # A 0-step hover episode used to end at once and count as a success.
    with pytest.raises(ConfigError, match=r"episode_s 0\.1 is 2 policy steps at 25\.0 Hz; an episode needs at least 5"):
        load_scenario("hover", {"episode_s": 0.1})
    assert load_scenario("hover", {"episode_s": 0.2}).max_episode_steps == 5
