import numpy as np
import pytest

from tinyrl.errors import ConfigError
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.core import BatchedTask, course_pool
from tinyrl.tasks.replay import CourseReplay, CourseReplayConfig
from tinyrl.tasks.vec_env import TinyRLVecEnv

BACKWARDS = np.array([-1.0, 0.0, 0.0, 0.0], dtype=np.float32)  # out of the arena behind the start: a failure


def test_a_score_is_the_average_failure_of_its_course_and_starts_at_the_first_flight():
    replay = CourseReplay(4, CourseReplayConfig(share=1.0, score_alpha=0.5))
    replay.record(np.array([2]), np.array([False]))
    assert replay.failure.tolist() == [0.0, 0.0, 1.0, 0.0] and replay.flights.tolist() == [0, 0, 1, 0]
    replay.record(np.array([2, 1, 2]), np.array([True, True, True]))
    assert replay.failure.tolist() == [0.0, 0.0, 0.25, 0.0]  # 1 → 0.5 → 0.25
    assert replay.flights.tolist() == [0, 1, 3, 0]


def test_replayed_draws_follow_the_failure_scores_within_the_slot_range():
    replay = CourseReplay(10, CourseReplayConfig(share=1.0))
    replay.failure[[2, 5, 6, 8]] = [1.0, 0.8, 0.2, 1.0]  # 2 and 8 lie outside the range drawn from
    rng = np.random.default_rng(0)
    counts = np.bincount([replay.draw(rng, 4, 8) for _ in range(20_000)], minlength=10)
    assert set(np.flatnonzero(counts)) == {5, 6}, "only failed courses of the range are replayed"
    assert counts[5] / counts[6] == pytest.approx(4.0, rel=0.1)


def test_the_uniform_share_reaches_every_course_and_nothing_failed_means_uniform():
    replay = CourseReplay(10, CourseReplayConfig(share=0.5))
    rng = np.random.default_rng(1)
    counts = np.bincount([replay.draw(rng, 3, 9) for _ in range(6_000)], minlength=10)
    assert counts[:3].sum() == 0 and counts[9] == 0
    assert counts[3:9].min() > 800, "no score yet: every draw is uniform"
    replay.failure[4] = 1.0
    counts = np.bincount([replay.draw(rng, 3, 9) for _ in range(6_000)], minlength=10)
    assert counts[4] / 6_000 == pytest.approx(0.5 + 0.5 / 6, abs=0.03)
    assert counts[[3, 5, 6, 7, 8]].min() > 350, "half the draws stay uniform"


def test_the_random_stream_does_not_depend_on_the_scores():
    failed, fresh = CourseReplay(10, CourseReplayConfig()), CourseReplay(10, CourseReplayConfig())
    failed.failure[7] = 1.0
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(50):
        failed.draw(a, 0, 10)
        fresh.draw(b, 0, 10)
    assert a.random() == b.random()


def replay_task(seed, share=1.0, n=4):
    config = load_scenario(
        "obstacle-course",
        {"course_pool_size": 12, "curriculum": None, "course_replay": {"share": share, "score_alpha": 1.0}},
    )
    return config, TinyRLVecEnv(config, n_envs=n, seed=seed)


def fly(vec, action, steps):
    """Course index of every slot at each step, flying ``action`` throughout."""
    flown = []
    for _ in range(steps):
        vec.step(np.tile(action, (vec.num_envs, 1)))
        flown.append(vec.task.course_index.copy())
    return np.array(flown)


def test_training_replays_the_courses_it_failed_and_the_run_is_deterministic_per_seed():
    _, vec = replay_task(0)
    vec.reset()
    first = vec.task.course_index.copy()
    fly(vec, BACKWARDS, 40)  # every flight fails: each course flown is scored 1
    replay = vec.task.replay
    assert replay is not None and replay.flights.sum() >= 3 * vec.num_envs
    failed = set(np.flatnonzero(replay.failure > 0))
    assert set(first) <= failed and failed == set(np.flatnonzero(replay.flights)), "only flown courses score"
    again = replay_task(0)[1]
    again.reset()
    np.testing.assert_array_equal(again.task.course_index, first)
    np.testing.assert_array_equal(fly(again, BACKWARDS, 40)[-1], vec.task.course_index)
    assert len(failed) < 12, "with share 1, a failed course is replayed rather than a new one drawn"
    vec.close()
    again.close()


def test_replay_draws_no_new_courses_once_every_flown_course_is_failed():
    _, vec = replay_task(2)
    vec.reset()
    first = set(vec.task.course_index.tolist())
    flown = fly(vec, BACKWARDS, 60)
    assert set(flown.ravel().tolist()) == first
    vec.close()


def test_evaluation_courses_and_scenarios_without_replay_keep_uniform_draws():
    config, vec = replay_task(0)
    assert BatchedTask(config, 2, courses=course_pool(config)[:3]).replay is None
    plain = load_scenario("obstacle-course", {"course_pool_size": 12, "curriculum": None, "course_replay": None})
    assert BatchedTask(plain, 2).replay is None
    # share 0 consumes the stream differently but draws uniformly: every course comes round.
    _, uniform = replay_task(5, share=0.0, n=8)
    uniform.reset()
    assert len(set(fly(uniform, BACKWARDS, 120).ravel().tolist())) == 12
    vec.close()
    uniform.close()


@pytest.mark.parametrize(
    ("replay", "message"),
    [
        ({"share": 1.5}, r"course_replay\.share"),
        ({"score_alpha": 0}, r"course_replay\.score_alpha"),
        ({"shares": 0.5}, r"course_replay"),
    ],
)
def test_bad_course_replay_fails_in_one_line(replay, message):
    with pytest.raises(ConfigError, match=message) as err:
        load_scenario("obstacle-course", {"course_replay": replay})
    assert "\n" not in str(err.value)
