import itertools

import numpy as np
import pytest

from tinyrl.errors import ConfigError
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.core import course_pool
from tinyrl.tasks.curriculum import CurriculumStage, slot_difficulties, slot_levels, stage_at
from tinyrl.tasks.vec_env import TinyRLVecEnv

STAGES = (
    CurriculumStage(progress=0.0, weights={"easy": 1.0}),
    CurriculumStage(progress=0.3, weights={"easy": 0.2, "medium": 0.5, "hard": 0.3}),
    CurriculumStage(progress=0.7, weights={"easy": 0.0, "hard": 1.0}),
)
CURRICULUM = [s.model_dump() for s in STAGES]
MIXED_10 = ("easy",) * 2 + ("medium",) * 5 + ("hard",) * 3


@pytest.mark.parametrize(
    ("progress", "expected"),
    [
        (-0.1, ("easy",) * 10),
        (0.0, ("easy",) * 10),
        (0.2999, ("easy",) * 10),
        (0.3, MIXED_10),  # a stage starts exactly at its progress
        (0.5, MIXED_10),
        (0.6999, MIXED_10),
        (0.7, ("hard",) * 10),
        (1.0, ("hard",) * 10),
        (1.5, ("hard",) * 10),
    ],
)
def test_which_level_each_slot_draws_at_a_progress(progress, expected):
    assert slot_difficulties(STAGES, progress, 10) == expected


def test_slot_shares_are_exact_to_the_nearest_slot_and_zero_shares_get_none():
    levels = slot_levels({"easy": 0.2, "medium": 0.5, "hard": 0.3}, 256)
    # Slot k takes the level whose cumulative share holds (k + 0.5) / 256: boundaries at 0.2 and 0.7.
    assert (levels.count("easy"), levels.count("medium"), levels.count("hard")) == (51, 128, 77)
    assert levels == tuple(sorted(levels, key=["easy", "medium", "hard"].index)), "contiguous, in the written order"
    assert slot_levels({"easy": 0.0, "hard": 2.0}, 3) == ("hard",) * 3
    assert slot_levels({"easy": 1.0, "hard": 1.0}, 1) == ("hard",)  # 0.5 sits on the boundary: the later level
    assert slot_levels({"easy": 1.0, "medium": 1.0, "hard": 1.0}, 3) == ("easy", "medium", "hard")
    assert stage_at(STAGES, 0.31) is STAGES[1]


@pytest.mark.parametrize(
    ("curriculum", "message"),
    [
        ([{"progress": 0.1, "weights": {"easy": 1}}], "first stage must start at progress 0"),
        (
            [{"progress": 0, "weights": {"easy": 1}}, {"progress": 0, "weights": {"hard": 1}}],
            "progress must rise strictly",
        ),
        ([{"progress": 0, "weights": {"easy": 1, "insane": 1}}], "unknown difficulty insane"),
        ([{"progress": 0, "weights": {"easy": 0}}], r"curriculum\[0\]\.weights: .*positive share"),
        ([{"progress": 0, "weights": {"easy": -1}}], r"curriculum\[0\]\.weights\.easy"),
        ([{"progress": 1.0, "weights": {"easy": 1}}], r"curriculum\[0\]\.progress"),
        ([{"progress": 0, "wieghts": {"easy": 1}}], r"curriculum\[0\]"),
        ([], "needs at least one stage"),
    ],
)
def test_bad_curriculum_fails_in_one_line(curriculum, message):
    with pytest.raises(ConfigError, match=message) as err:
        load_scenario("obstacle-course", {"curriculum": curriculum})
    assert "\n" not in str(err.value)


def curriculum_env(seed, n=8):
    config = load_scenario("obstacle-course", {"course_pool_size": 12, "curriculum": CURRICULUM})
    return config, TinyRLVecEnv(config, n_envs=n, seed=seed)


def flown_courses(seed):
    """(progress, slot levels, course index of every slot) after each step of a run that crosses every stage."""
    _, vec = curriculum_env(seed)
    vec.reset()
    out = []
    for step in range(240):
        progress = step / 200
        vec.set_progress(progress)
        vec.step(np.tile([[-1.0, 0.3, 0.0, 0.0]], (8, 1)).astype(np.float32))  # backwards: out of the arena
        out.append((progress, vec.task.slot_level, vec.task.course_index.copy()))
    vec.close()
    return out


def test_slots_fly_their_levels_pool_and_the_run_is_deterministic_per_seed():
    config, vec = curriculum_env(0)
    task = vec.task
    pools = {level: course_pool(config, difficulty=level) for level in ("easy", "medium", "hard")}
    assert task.courses == (*pools["easy"], *pools["medium"], *pools["hard"])
    assert task.level_ranges == {"easy": (0, 12), "medium": (12, 24), "hard": (24, 36)}
    assert pools["easy"] != pools["hard"] and pools["easy"][0].arena.x[1] - pools["easy"][0].arena.x[0] == 5.0

    first = flown_courses(0)
    for (p, levels, courses), (q, again, same) in zip(first, flown_courses(0), strict=True):
        assert p == q and levels == again and np.array_equal(courses, same)
    assert any(not np.array_equal(a[2], b[2]) for a, b in zip(first, flown_courses(1), strict=True))
    resets = 0
    for (_, _, before), (progress, levels, after) in itertools.pairwise(first):
        assert levels == slot_difficulties(config.curriculum, progress, 8)
        for slot in np.flatnonzero(before != after):  # a slot that reset flies its level's pool
            lo, hi = task.level_ranges[levels[slot]]
            assert lo <= after[slot] < hi
            resets += 1
    assert resets >= 16
    seen = {task.courses[k].arena.x[1] * 2 for _, _, ks in first for k in ks}
    assert seen == {5.0, 6.0, 8.0}, "easy, medium and hard arenas were all flown"


def test_a_slot_changes_level_at_its_next_reset_only():
    _, vec = curriculum_env(3, n=4)
    vec.reset()
    easy_courses = vec.task.course_index.copy()
    assert (easy_courses < 12).all()
    vec.set_progress(0.9)
    assert vec.task.slot_level == ("hard",) * 4
    np.testing.assert_array_equal(vec.task.course_index, easy_courses)
    vec.task.reset_slots([2])
    assert 24 <= vec.task.course_index[2] < 36 and (vec.task.course_index[[0, 1, 3]] < 12).all()
    vec.close()


def test_without_curriculum_the_pool_and_draws_are_the_scenarios_own():
    config = load_scenario("obstacle-course", {"course_pool_size": 12, "curriculum": None})
    vec = TinyRLVecEnv(config, n_envs=4, seed=0)
    assert vec.task.courses == course_pool(config) and vec.task.level_ranges == {}
    vec.set_progress(0.5)
    assert vec.task.slot_range == [(0, 12)] * 4
    vec.close()


def test_the_trainer_feeds_progress_to_the_env_at_each_rollout_start():
    from stable_baselines3 import PPO

    from tinyrl.train.trainer import progress_callback

    stages = [{"progress": 0.0, "weights": {"easy": 1}}, {"progress": 0.5, "weights": {"hard": 1}}]
    config = load_scenario("obstacle-course", {"course_pool_size": 4, "curriculum": stages})
    vec = TinyRLVecEnv(config, n_envs=4, seed=0)
    assert vec.task.slot_level == ("easy",) * 4
    model = PPO("MlpPolicy", vec, n_steps=8, batch_size=32, n_epochs=1, policy_kwargs={"net_arch": [8]}, seed=0)
    model.learn(64, callback=progress_callback(vec, 64))  # rollouts start at 0 and 32 steps of 64
    assert vec.task.slot_level == ("hard",) * 4
    vec.close()
