"""Task rules (tinyrl.tasks.rules): goal and success per task, chosen from a registry keyed by the scenario's task."""

import typing

import numpy as np
import pytest

from tinyrl.sim.course import Arena, Course, Goal, Start
from tinyrl.tasks import rules
from tinyrl.tasks.config import TaskName, load_scenario
from tinyrl.tasks.core import BatchedTask
from tinyrl.tasks.rules import TASK_RULES, HoverRule, ReachRule, task_rule

COURSE = Course(
    arena=Arena(x=(-3, 3), y=(-3, 3), z=(0, 2.5)),
    start=Start(xyz=(0, 0, 1)),
    goal=Goal(xyz=(2, 1, 1.2), radius_m=0.3),
)
NO = np.zeros(3, dtype=bool)


def test_every_task_of_the_config_has_a_rule():
    assert set(TASK_RULES) == set(typing.get_args(TaskName))
    assert isinstance(task_rule(load_scenario("hover"), 2), HoverRule)
    assert isinstance(task_rule(load_scenario("obstacle-course"), 2), ReachRule)
    assert isinstance(task_rule(load_scenario("source-seeking"), 2), ReachRule)


def test_a_task_without_a_rule_fails_naming_the_known_ones():
    config = load_scenario("hover").model_copy(update={"task": "orbit"})
    with pytest.raises(ValueError, match=r"no task rule for task 'orbit'; known: \['hover'"):
        task_rule(config, 1)


def test_hover_goal_is_the_start_point_and_reaching_goal_is_the_course_goal():
    start = np.array([0.05, -0.02, 1.03])  # jittered start
    np.testing.assert_array_equal(task_rule(load_scenario("hover"), 1).goal_m(COURSE, start), start)
    np.testing.assert_array_equal(task_rule(load_scenario("obstacle-course"), 1).goal_m(COURSE, start), [2, 1, 1.2])
    assert not HoverRule.goal_is_course_goal and ReachRule.goal_is_course_goal


def test_hover_succeeds_at_the_time_limit_only_within_tolerance_after_settling():
    config = load_scenario("hover", {"hover_tolerance_m": 0.05, "hover_settle_s": 1.0, "policy_rate_hz": 25.0})
    rule = task_rule(config, 3)
    radius = np.full(3, 0.3)
    # Before settling (step 10 = 0.4 s) a large deviation does not count; from step 25 (1.0 s) it does.
    for step in range(1, 50):
        dist = np.array([0.5 if step == 10 else 0.01, 0.01, 0.08 if step == 30 else 0.01])
        success, reached = rule.judge(np.full(3, step), dist, radius, NO, NO)
        assert not success.any() and not reached.any()
    success, reached = rule.judge(np.full(3, 50), np.full(3, 0.01), radius, np.ones(3, bool), np.array([0, 1, 0], bool))
    assert success.tolist() == [True, False, False]  # drone 1 failed this step, drone 2 strayed after settling
    assert not reached.any()  # a hover never ends early
    rule.reset(np.array([2]))
    success, _ = rule.judge(np.full(3, 50), np.full(3, 0.01), radius, np.ones(3, bool), NO)
    assert success.tolist() == [True, True, True]  # a new episode forgets the old deviation


def test_reaching_succeeds_and_ends_inside_the_goal_radius_unless_it_failed():
    rule = task_rule(load_scenario("source-seeking"), 3)
    dist = np.array([0.29, 0.29, 0.31])
    success, reached = rule.judge(np.full(3, 5), dist, np.full(3, 0.3), NO, np.array([0, 1, 0], bool))
    assert success.tolist() == reached.tolist() == [True, False, False]


def test_the_task_takes_success_from_its_rule(monkeypatch):
    class AfterThreeSteps(ReachRule):
        def judge(self, steps, goal_distance_m, goal_radius_m, timeout, failed):
            done = steps >= 3
            return done, done

    monkeypatch.setitem(rules.TASK_RULES, "obstacle-course", AfterThreeSteps)
    task = BatchedTask(load_scenario("obstacle-course", {"randomization": {"enabled": False}}), 2, courses=[COURSE])
    task.reset_slots([0, 1])
    hold = np.tile(task.actions.at_start(np.ones(1)), (2, 1))
    outcomes = [task.step(hold) for _ in range(3)]
    assert [r.is_success.tolist() for r in outcomes] == [[False, False], [False, False], [True, True]]
    assert outcomes[-1].terminated.all()
    task.close()
