"""The critic's privileged inputs: the geodesic way to the goal, appended only for training."""

import math

import numpy as np
import pytest

from tinyrl.errors import ConfigError
from tinyrl.sim.course import Arena, Box, Course, Goal, Start
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.core import BatchedTask
from tinyrl.tasks.critic import critic_size
from tinyrl.tasks.features import observation_size
from tinyrl.tasks.vec_env import TinyRLVecEnv

OPEN = Course(
    arena=Arena(x=(-3, 3), y=(-1.5, 1.5), z=(0, 2.5)),
    start=Start(xyz=(-2.5, 0, 1)),
    goal=Goal(xyz=(2.5, 0, 1), radius_m=0.3),
)
# A wall across x = 0 whose only gap is at y in [1.0, 1.5].
WALL = Box(xyz=(0.0, -0.25, 1.25), half_extents_m=(0.05, 1.25, 1.25))


def critic_inputs_at(course: Course) -> np.ndarray:
    """``(3,)`` critic inputs of a nominal drone at ``course``'s start."""
    config = load_scenario("obstacle-course", {"course_pool_size": 5})
    assert config.train.critic_features == ("geodesic_distance", "geodesic_direction")
    task = BatchedTask(config, 1, [course], randomize=False)
    task.reset_slots([0], [0])
    out = task.critic_observation(np.array([0]))[0]
    task.close()
    return out


@pytest.mark.parametrize("yaw_rad", [0.0, math.pi / 2])
def test_open_course_inputs_are_the_straight_way_in_the_heading_frame(yaw_rad):
    course = OPEN.model_copy(update={"start": Start(xyz=(-2.5, 0, 1), yaw_rad=yaw_rad)})
    distance, forward, left = critic_inputs_at(course)
    assert distance * 8.0 == pytest.approx(5.0, abs=0.15)  # observation.max_goal_distance_m = 8
    # The goal lies along world +x: straight ahead at yaw 0, on the right (heading -y) at yaw 90 deg.
    expected = np.array((1.0, 0.0) if yaw_rad == 0.0 else (0.0, -1.0))
    assert math.hypot(forward, left) == pytest.approx(1.0, abs=1e-4)
    # Within 15 deg: the field's 8-neighbour paths bend a straight line slightly.
    assert np.dot((forward, left), expected) > math.cos(math.radians(15))


def test_behind_a_wall_the_direction_leads_to_the_gap_not_the_goal():
    course = OPEN.model_copy(update={"obstacles": [WALL], "start": Start(xyz=(-1.0, -1.0, 1))})
    distance, forward, left = critic_inputs_at(course)
    straight_m = math.hypot(3.5, 1.0)
    assert distance * 8.0 > straight_m + 1.0  # the way round through the gap
    # The goal is ahead and barely left (bearing 16 deg); the gap is mostly to the left (y 1.0-1.5 at x 0).
    assert left > 0.8 and 0.0 < forward < 0.6


def test_vec_env_appends_critic_inputs_only_for_training():
    config = load_scenario("obstacle-course", {"course_pool_size": 5, "episode_s": 0.5})
    k = observation_size(config)
    plain = TinyRLVecEnv(config, n_envs=3, seed=0)
    train = TinyRLVecEnv(config, n_envs=3, seed=0, critic_inputs=True)
    assert plain.observation_space.shape == (k,)
    assert train.observation_space.shape == (k + critic_size(config),) == (k + 3,)
    obs_p, obs_t = plain.reset(), train.reset()
    np.testing.assert_array_equal(obs_t[:, :k], obs_p)  # the actor's part is the plain observation
    np.testing.assert_array_equal(obs_t[:, k:], train.task.critic_observation(np.arange(3)))
    actions = np.zeros((3, 4), dtype=np.float32)
    for _ in range(config.max_episode_steps):  # the last step ends every flight (timeout)
        obs_p, _, done_p, infos_p = plain.step(actions)
        obs_t, _, done_t, infos_t = train.step(actions)
        np.testing.assert_array_equal(obs_t[:, :k], obs_p)
    assert done_t.all() and done_p.all()
    for info_p, info_t in zip(infos_p, infos_t, strict=True):
        assert info_t["terminal_observation"].shape == (k + 3,)
        np.testing.assert_array_equal(info_t["terminal_observation"][:k], info_p["terminal_observation"])
    plain.close()
    train.close()


def test_bad_critic_features_are_refused():
    with pytest.raises(ConfigError, match="critic_features: unknown"):
        load_scenario("obstacle-course", {"train": {"critic_features": ["geodesic"]}})
    with pytest.raises(ConfigError, match="only PPO"):
        load_scenario("obstacle-course", {"train": {"algo": "sac", "critic_features": ["geodesic_distance"]}})
    hover = load_scenario("hover", {"train": {"critic_features": ["geodesic_distance"]}})
    with pytest.raises(ConfigError, match="not a course's goal"):
        BatchedTask(hover, 1)
