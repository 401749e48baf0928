"""Action maps (tinyrl.tasks.actions): policy actions → hover setpoints, and the action fed back to the policy."""

import typing

import gymnasium as gym
import numpy as np
import pytest

from tinyrl.tasks.actions import ACTION_MAPS, ContinuousActions, DiscreteActions, action_map
from tinyrl.tasks.config import ActionConfig, DiscreteAction

CONTINUOUS = ActionConfig(max_speed_m_s=0.8, max_yaw_rate_deg_s=120.0, z_range_m=(0.4, 2.0))
DISCRETE = ActionConfig(
    mode="discrete",
    discrete_actions={
        "forward": DiscreteAction(vx_m_s=0.5),
        "left": DiscreteAction(vy_m_s=0.3, yaw_rate_deg_s=20.0),
        "turn": DiscreteAction(yaw_rate_deg_s=-60.0),
        "stop": DiscreteAction(),
    },
)


def test_every_action_mode_of_the_config_has_a_map():
    modes = typing.get_args(ActionConfig.model_fields["mode"].annotation)
    assert set(ACTION_MAPS) == set(modes)
    assert isinstance(action_map(CONTINUOUS), ContinuousActions)
    assert isinstance(action_map(DISCRETE), DiscreteActions)


def test_continuous_actions_scale_to_the_limits_and_clip_beyond():
    actions = action_map(CONTINUOUS)
    got = actions.setpoints(np.array([[1.0, -0.5, 0.25, -1.0], [3.0, -2.0, -7.0, 5.0]]), np.ones(2))
    np.testing.assert_allclose(got, [[0.8, -0.4, 30.0, 0.4], [0.8, -0.8, -120.0, 2.0]])
    np.testing.assert_array_equal(actions.fed_back(np.array([[3.0, -2.0, 0.5, 5.0]]), 1), [[1.0, -1.0, 0.5, 1.0]])
    assert actions.width == 4 and actions.space() == gym.spaces.Box(-1, 1, (4,), np.float32)
    assert not actions.discrete


def test_continuous_start_feedback_is_the_action_that_holds_the_start_height():
    actions = action_map(CONTINUOUS)
    start_z = np.array([0.4, 1.0, 2.0, 3.0])  # the last is above the range: the action saturates
    held = actions.at_start(start_z)
    np.testing.assert_array_equal(held[:, :3], 0.0)
    np.testing.assert_allclose(actions.setpoints(held, start_z)[:, 3], [0.4, 1.0, 2.0, 2.0])


def test_discrete_actions_index_the_table_at_the_held_height_and_feed_back_one_hot():
    actions = action_map(DISCRETE)
    hold_z = np.array([1.0, 1.2, 0.9])
    np.testing.assert_array_equal(
        actions.setpoints(np.array([1, 3, 2]), hold_z), [[0.0, 0.3, 20.0, 1.0], [0, 0, 0, 1.2], [0, 0, -60.0, 0.9]]
    )
    np.testing.assert_array_equal(actions.fed_back(np.array([1, 3, 2]), 3), np.eye(4)[[1, 3, 2]])
    np.testing.assert_array_equal(actions.at_start(hold_z), np.zeros((3, 4)))
    assert actions.width == 4 and actions.space() == gym.spaces.Discrete(4)
    assert actions.discrete


@pytest.mark.parametrize(("config", "actions"), [(CONTINUOUS, np.zeros((3, 4))), (DISCRETE, np.zeros(3, int))])
def test_actions_for_another_number_of_drones_are_refused(config, actions):
    with pytest.raises(ValueError, match="reshape"):
        action_map(config).setpoints(actions, np.ones(2))
