"""The panorama feature keeps what the spinning rangers saw, where it is, whichever way the drone turns."""

from __future__ import annotations

import numpy as np

from tinyrl.sim.course import Arena, Box, Course, Goal, Start
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.env import TinyRLEnv
from tinyrl.tasks.features import observation_layout
from tinyrl.tasks.panorama import panorama_in_heading, panorama_start, panorama_update

FRONT_BACK_LEFT_RIGHT = np.array([[1.0, 2.0, 3.0, 4.0]])


def test_each_ranger_fills_the_world_sector_its_beam_points_into():
    # Facing world +y (yaw 90 degrees): front looks along +y (sector 2 of 8), left along -x (4), back -y (6),
    # right +x (0).
    world = panorama_start(FRONT_BACK_LEFT_RIGHT, np.array([0.5 * np.pi]), sectors=8)
    np.testing.assert_array_equal(world, [[4.0, 0, 1.0, 0, 3.0, 0, 2.0, 0]])


def test_the_heading_frame_read_out_turns_with_the_drone():
    world = panorama_start(FRONT_BACK_LEFT_RIGHT, np.array([0.5 * np.pi]), sectors=8)
    # Read at the same yaw: ahead, left, behind, right hold front, left, back, right.
    np.testing.assert_allclose(panorama_in_heading(world, np.array([0.5 * np.pi]))[0, ::2], [1.0, 3.0, 2.0, 4.0])
    # Turned a quarter to the left: what was ahead now lies to the right (sector 6), left is now ahead.
    turned = panorama_in_heading(world, np.array([np.pi]))[0]
    np.testing.assert_allclose(turned[::2], [3.0, 2.0, 4.0, 1.0])
    # Half a sector on, each read-out sector lies halfway between two world sectors.
    half = panorama_in_heading(world, np.array([0.5 * np.pi + np.pi / 8]))[0]
    np.testing.assert_allclose(half[0], 0.5 * (1.0 + 0.0))


def test_a_sector_keeps_its_farthest_reading_fading_at_its_rate():
    world = panorama_start(np.array([[4.0, 1.0, 1.0, 1.0]]), np.zeros(1), sectors=4)
    for _ in range(10):  # a wall 1 m ahead now, where 4 m were free: the sector forgets the 4 m at 0.1 m a step
        world = panorama_update(world, np.array([[1.0, 1.0, 1.0, 1.0]]), np.zeros(1), fade_m=0.1)
    np.testing.assert_allclose(world[0, 0], 3.0)
    world = panorama_update(world, np.array([[3.5, 1.0, 1.0, 1.0]]), np.zeros(1), fade_m=0.1)
    np.testing.assert_allclose(world[0], [3.5, 1.0, 1.0, 1.0])  # a farther reading takes over at once


def test_the_env_keeps_a_wall_where_it_is_while_the_drone_turns():
    """A wall 1 m to the drone's left: after a quarter turn to the left the panorama holds it ahead and what lay
    ahead at the start (free) on the right, each read as the world panorama turned by the drone's yaw."""
    config = load_scenario(
        "obstacle-course",
        {
            "randomization": {"enabled": False, "latency_steps": [0, 0]},
            "observation": {"features": ["ranges", "panorama"], "goal_noise_std_m": 0.0, "max_latency_steps": 0},
            "sensors": {"multiranger": {"noise_std_m": 0.0, "random_phase": False}},
        },
    )
    assert [(name, width) for name, width, _ in observation_layout(config)] == [("ranges", 4), ("panorama", 8)]
    wall = Box(xyz=(1.0, 1.05, 1.0), half_extents_m=(3.0, 0.05, 1.0))
    course = Course(
        arena=Arena(x=(-1, 5), y=(-2, 2), z=(0, 2.5)),
        start=Start(xyz=(0, 0, 1)),
        goal=Goal(xyz=(4, -0.5, 1), radius_m=0.3),
        obstacles=[wall],
    )
    env = TinyRLEnv(config, courses=[course])
    obs, _ = env.reset(seed=0)
    ranges, panorama = obs[:4], obs[4:]
    # Sectors 0, 2, 4, 6 (ahead, left, behind, right) hold front, left, back, right; the others are not seen yet.
    np.testing.assert_allclose(panorama[::2], ranges[[0, 2, 1, 3]])
    np.testing.assert_array_equal(panorama[1::2], 0.0)
    assert ranges[2] < 0.3 and ranges[0] == 1.0
    task = env.task
    for _ in range(40):
        obs, *_ = env.step(np.array([0.0, 0.0, 1.0, 0.0], np.float32))  # full yaw rate to the left
        yaw = float(task.drones.euler[0, 2])
        want = panorama_in_heading(task.panorama_m[:1], np.array([yaw]))[0] / config.sensors.multiranger.max_range_m
        np.testing.assert_allclose(obs[4:], want, rtol=1e-5, atol=1e-6)
        if yaw > np.radians(80.0):
            break
    assert np.radians(80.0) < yaw < np.radians(100.0)
    assert obs[4] < 0.45  # the wall, now ahead
    assert obs[4 + 6] > 0.8  # the free way that lay ahead, now on the right
