"""The one closed-loop episode loop: its extension points, and the observation-width check every caller gets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import serial
from scenario_support import leaning_mlp

from tinyrl.common.episodes import EpisodeObserver, EpisodeStart, numbered_starts, run_episodes
from tinyrl.common.evaluate import eval_courses, evaluate
from tinyrl.common.policy import MlpPolicy, PolicyError
from tinyrl.compress.student import load_int8_policy
from tinyrl.hil.bridge import fly_episodes
from tinyrl.hil.link import HilLink
from tinyrl.report.episode import record_episode
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.core import BatchedTask, StepResult
from tinyrl.tasks.features import observation_size

ROOT = Path(__file__).resolve().parents[2]


def still_policy(obs_dim: int) -> MlpPolicy:
    """All-zero actions: no speed, no yaw rate, the middle of the height range."""
    return MlpPolicy((np.zeros((4, obs_dim), np.float32),), (np.zeros(4, np.float32),))


def test_controller_mode_hook_flies_every_step_in_that_mode() -> None:
    """Motors off from the first step: the drone falls to the floor; in hover it holds until max_steps cuts it."""
    config = load_scenario("obstacle-course")
    courses = eval_courses(config, 1, seed=3)
    policy = still_policy(observation_size(config))
    start = [EpisodeStart(0, 3)]
    held = run_episodes(policy, config, courses, start, max_steps=40)
    dropped = run_episodes(policy, config, courses, start, max_steps=40, controller_mode=lambda: "off")
    assert held.episodes[0].outcome == "stopped" and held.steps == [40]
    assert dropped.episodes[0].outcome == "collision" and dropped.steps[0] < 40


class Log(EpisodeObserver):
    """Every call the loop makes, with what the task holds at that moment."""

    def __init__(self, courses: list, policy: CountingPolicy) -> None:
        self.courses, self.policy = courses, policy
        self.events: list[tuple] = []

    def episode_started(self, task: BatchedTask, slot: int, episode: int) -> None:
        at_start = np.allclose(task.drones.pos[slot], self.courses[int(task.course_index[slot])].start.xyz)
        self.events.append(("start", episode, slot, self.policy.calls, at_start))

    def stepped(self, task: BatchedTask, result: StepResult, episode_of: np.ndarray) -> None:
        self.events.append(("step", tuple(int(j) for j in episode_of), tuple(int(s) for s in task.steps)))

    def episode_finished(self, episode: int, result: object, steps: int) -> None:
        self.events.append(("end", episode, steps))


class CountingPolicy:
    """A real MLP policy that counts its ``act`` calls."""

    def __init__(self, policy: MlpPolicy) -> None:
        self.policy, self.calls = policy, 0
        self.obs_dim = policy.obs_dim

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.calls += 1
        return self.policy.act(obs)


def test_observers_see_each_start_after_its_reset_every_step_and_each_end() -> None:
    config = load_scenario("obstacle-course")
    courses = eval_courses(config, 2, seed=1)
    policy = CountingPolicy(leaning_mlp(observation_size(config)))
    log = Log(courses, policy)
    flight = run_episodes(policy, config, courses, numbered_starts(5, 2, seed=1), batch=2, observers=[log])
    starts = [e for e in log.events if e[0] == "start"]
    assert [e[1] for e in starts] == [0, 1, 2, 3, 4]
    assert all(e[4] for e in starts), "an episode starts at its course's start: the hook runs after the reset"
    for e in starts:  # the loop acts once per step: a start that saw k steps comes before the (k + 1)-th act
        assert e[3] == sum(f[0] == "step" for f in log.events[: log.events.index(e)]), "starts before the next act"
    for episode in range(5):
        first = log.events.index(next(e for e in starts if e[1] == episode))
        end = log.events.index(("end", episode, flight.steps[episode]))
        steps_seen = [e for e in log.events[first:end] if e[0] == "step" and episode in e[1]]
        assert len(steps_seen) == flight.steps[episode] > 0, "one step call per policy step of the episode"
        slot = steps_seen[0][1].index(episode)
        assert [e[2][slot] for e in steps_seen] == list(range(1, flight.steps[episode] + 1))
    assert sum(e[0] == "step" for e in log.events) == policy.calls


def test_wrong_observation_width_names_both_widths_and_the_env_to_use() -> None:
    """Evaluation, report episodes and HIL all stop at the loop's one check, before flying or sending anything."""
    config = load_scenario("obstacle-course")
    hover = load_scenario("hover")
    courses = eval_courses(hover, 1)
    wide = observation_size(config)
    assert wide != observation_size(hover)
    message = (
        f"the policy takes {wide} observations but scenario hover gives {observation_size(hover)}: "
        "use the --env the policy was trained on"
    )
    with pytest.raises(PolicyError, match=message):
        evaluate(leaning_mlp(wide), hover, courses, episodes=1)
    with pytest.raises(PolicyError, match=message):
        record_episode(leaning_mlp(wide), hover, courses)
    int8 = load_int8_policy(ROOT / "policies" / "obstacle-course" / "policy_int8.tflite")
    assert int8.obs_dim == wide
    port = serial.serial_for_url("loop://", timeout=0)
    link = HilLink(port)
    try:
        with pytest.raises(PolicyError, match=message):
            fly_episodes(link, int8, hover, courses, episodes=1)
        assert port.in_waiting == 0, "nothing was sent to the device"
    finally:
        link.close()
