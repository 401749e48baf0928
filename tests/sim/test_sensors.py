from pathlib import Path

import numpy as np
import pytest

from tinyrl.config import validate
from tinyrl.errors import ConfigError
from tinyrl.sim.course import load_courses
from tinyrl.sim.sensors import (
    RANGER_NAMES,
    FlowDeck,
    FlowDeckConfig,
    Gyro,
    GyroConfig,
    Kinematics,
    LightSensor,
    LightSensorConfig,
    MultiRanger,
    MultiRangerConfig,
)
from tinyrl.sim.world import World

DATA = Path(__file__).parent.parent / "data" / "courses"
FRONT, BACK, LEFT, RIGHT, UP = range(5)
EXACT = {"noise_std_m": 0.0, "rate_hz": None}


def yaw_quat(yaw_rad):
    yaw = np.atleast_1d(np.asarray(yaw_rad, dtype=float))
    return np.stack([np.zeros_like(yaw), np.zeros_like(yaw), np.sin(yaw / 2), np.cos(yaw / 2)], axis=1)


@pytest.fixture(params=["analytic", "pybullet"])
def wall_world(request):
    # Slot 0 and 1: wall face at x = 1.0 (y in [-1.5, 1.5]); slot 2: a course with a light and no wall nearby.
    wall, (_, lit) = load_courses(DATA / "single_course.yaml")[0], load_courses(DATA / "two_courses.json")
    world = World(3, backend=request.param)
    world.set_course(0, wall)
    world.set_course(1, wall)
    world.set_course(2, lit)
    yield world
    world.close()


def kin_at(positions, yaws, velocities=None, rates=None):
    positions = np.asarray(positions, dtype=float)
    n = len(positions)
    return Kinematics(
        position_m=positions,
        quaternion_xyzw=yaw_quat(yaws),
        velocity_m_s=np.zeros((n, 3)) if velocities is None else np.asarray(velocities, dtype=float),
        angular_velocity_rad_s=np.zeros((n, 3)) if rates is None else np.asarray(rates, dtype=float),
    )


def test_ranger_reads_wall_exactly(wall_world):
    ranger = MultiRanger(3, 0.01, MultiRangerConfig(**EXACT))
    kin = kin_at([[0, 0, 1], [0, 0, 1], [1.0, 1.0, 1.0]], [0.0, 0.0, 0.0])
    rng = np.random.default_rng(0)
    ranger.reset(None, wall_world, kin, rng)
    out = ranger.step(wall_world, kin, rng)
    assert RANGER_NAMES == ("front", "back", "left", "right", "up")
    np.testing.assert_allclose(out[0], [1.0, 4.0, 4.0, 4.0, 4.0], atol=1e-3)
    assert out[0, UP] == 4.0 and out[0, BACK] == 4.0  # out of range reads exactly max_range_m


@pytest.mark.parametrize(("yaw", "side"), [(np.pi / 2, RIGHT), (-np.pi / 2, LEFT), (np.pi, BACK)])
def test_yawed_drone_sees_wall_on_the_correct_side(wall_world, yaw, side):
    ranger = MultiRanger(3, 0.01, MultiRangerConfig(**EXACT))
    kin = kin_at([[0, 0, 1], [0, 0, 1], [1.0, 1.0, 1.0]], [yaw, 0.0, 0.0])
    rng = np.random.default_rng(0)
    ranger.reset(None, wall_world, kin, rng)
    out = ranger.step(wall_world, kin, rng)
    expected = np.full(5, 4.0)
    expected[side] = 1.0
    np.testing.assert_allclose(out[0], expected, atol=1e-3)
    np.testing.assert_allclose(out[1], [1.0, 4.0, 4.0, 4.0, 4.0], atol=1e-3)  # the other drone is unaffected


def test_ranger_noise_statistics_and_out_of_range(wall_world):
    ranger = MultiRanger(3, 0.01, MultiRangerConfig(noise_std_m=0.02, rate_hz=None))
    kin = kin_at([[0, 0, 1], [0, 0, 1], [1.0, 1.0, 1.0]], [0.0, 0.0, 0.0])
    rng = np.random.default_rng(1)
    ranger.reset(None, wall_world, kin, rng)
    front = np.array([ranger.step(wall_world, kin, rng)[:, FRONT] for _ in range(400)])
    assert abs(front[:, :2].mean() - 1.0) < 0.005
    assert 0.015 < front[:, :2].std() < 0.025
    up = ranger.step(wall_world, kin, rng)[:, UP]
    np.testing.assert_array_equal(up, 4.0)  # no noise on "nothing in range"


def test_ranger_zero_order_hold_at_10_hz(wall_world):
    dt = 0.01
    ranger = MultiRanger(3, dt, MultiRangerConfig(noise_std_m=0.0, rate_hz=10.0))
    rng = np.random.default_rng(0)
    x0 = np.array([0.0, -0.5, 1.0])
    kin = kin_at(np.c_[x0, [0, 0, 1], [1, 1, 1]], [0, 0, 0])
    ranger.reset(None, wall_world, kin, rng)
    readings = []
    for k in range(1, 36):
        x = x0 + 0.5 * k * dt  # flying at 0.5 m/s towards the wall
        readings.append(ranger.step(wall_world, kin_at(np.c_[x, [0, 0, 1], [1, 1, 1]], [0, 0, 0]), rng)[:2, FRONT])
    readings = np.array(readings)
    for k in range(1, 36):
        sample_k = (k // 10) * 10  # last sample: at reset (k = 0) or every 10 steps
        np.testing.assert_allclose(readings[k - 1], 1.0 - x0[:2] - 0.5 * sample_k * dt, atol=1e-3, err_msg=f"step {k}")


@pytest.mark.parametrize("latency", [0, 3])
def test_latency_delays_by_configured_steps(wall_world, latency):
    ranger = MultiRanger(3, 0.01, MultiRangerConfig(noise_std_m=0.0, rate_hz=None, latency_steps=latency))
    rng = np.random.default_rng(0)

    def kin(k):
        return kin_at([[0.01 * k, 0, 1], [0, 0, 1], [1.0, 1.0, 1.0]], [0, 0, 0])

    ranger.reset(None, wall_world, kin(0), rng)
    for k in range(1, 10):
        front = ranger.step(wall_world, kin(k), rng)[0, FRONT]
        assert front == pytest.approx(1.0 - 0.01 * max(k - latency, 0), abs=1e-3), k


def test_reset_subset_refills_only_those_drones(wall_world):
    ranger = MultiRanger(3, 0.01, MultiRangerConfig(noise_std_m=0.0, rate_hz=10.0, latency_steps=2))
    rng = np.random.default_rng(0)
    ranger.reset(None, wall_world, kin_at([[0, 0, 1], [0, 0, 1], [1.0, 1.0, 1.0]], [0, 0, 0]), rng)
    moved = kin_at([[0.5, 0, 1], [0.5, 0, 1], [1.0, 1.0, 1.0]], [0, 0, 0])
    ranger.reset([1], wall_world, moved, rng)
    out = ranger.step(wall_world, moved, rng)
    assert out[0, FRONT] == pytest.approx(1.0, abs=1e-3)  # still holding its old sample, through its delay
    assert out[1, FRONT] == pytest.approx(0.5, abs=1e-3)  # fresh sample, no stale delay-line contents


def test_noise_is_deterministic_for_a_seed(wall_world):
    kin = kin_at([[0, 0, 1], [0, 0, 1], [1.0, 1.0, 1.0]], [0.3, 0.0, 1.0])

    def run(seed):
        ranger = MultiRanger(3, 0.01, MultiRangerConfig(rate_hz=None))
        rng = np.random.default_rng(seed)
        ranger.reset(None, wall_world, kin, rng)
        return np.array([ranger.step(wall_world, kin, rng) for _ in range(5)])

    np.testing.assert_array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))


def test_flow_deck_range_and_velocity(wall_world):
    deck = FlowDeck(3, 0.01, FlowDeckConfig(range_noise_std_m=0.0, velocity_noise_std_m_s=0.0))
    roll = np.deg2rad(30.0)
    kin = Kinematics(
        position_m=np.array([[0.0, 0, 1.2], [-0.5, 0, 1.0], [1.0, 1.0, 5.0]]),
        quaternion_xyzw=np.array(
            [[0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4)], [np.sin(roll / 2), 0, 0, np.cos(roll / 2)], [0, 0, 0, 1]]
        ),
        velocity_m_s=np.array([[0.0, 1.0, 0.0], [0.3, 0.0, 0.0], [0, 0, 0]]),
    )
    rng = np.random.default_rng(0)
    deck.reset(None, wall_world, kin, rng)
    out = deck.step(wall_world, kin, rng)
    np.testing.assert_allclose(out[:, 0], [1.2, 1.0 / np.cos(roll), 4.0], atol=1e-3)  # tilted ray, out of range
    # Yawed 90°: world +y velocity is forward in the heading frame.
    np.testing.assert_allclose(out[0, 1:], [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(out[1, 1:], [0.3, 0.0], atol=1e-12)


def test_flow_deck_rates():
    with World(1) as world:
        deck = FlowDeck(1, 0.005, FlowDeckConfig(range_noise_std_m=0.0, velocity_noise_std_m_s=0.0))
        rng = np.random.default_rng(0)
        changes_range, changes_vel, prev = 0, 0, None
        for k in range(200):  # one second at 200 Hz
            kin = Kinematics(np.array([[0, 0, 1.0 + 0.01 * k]]), yaw_quat([0.0]), np.array([[0.01 * k, 0, 0]]))
            if k == 0:
                deck.reset(None, world, kin, rng)
                continue
            out = deck.step(world, kin, rng)[0]
            if prev is not None:
                changes_range += out[0] != prev[0]
                changes_vel += out[1] != prev[1]
            prev = out
    assert changes_range == 39  # 40 Hz, the first update lands in the first step compared
    assert changes_vel == 99  # 100 Hz


def test_gyro_bias_noise_and_reset():
    with World(2) as world:
        rates = np.array([[0.1, -0.2, 0.3], [0.0, 0.0, 0.0]])
        kin = Kinematics(np.zeros((2, 3)), yaw_quat([0, 0]), np.zeros((2, 3)), rates)
        exact = Gyro(2, 0.001, GyroConfig(noise_std_rad_s=0.0, bias_std_rad_s=0.0))
        rng = np.random.default_rng(0)
        exact.reset(None, world, kin, rng)
        np.testing.assert_array_equal(exact.step(world, kin, rng), rates)

        gyro = Gyro(2, 0.001, GyroConfig(noise_std_rad_s=0.01, bias_std_rad_s=0.05))
        gyro.reset(None, world, kin, rng)
        mean = np.mean([gyro.step(world, kin, rng) for _ in range(2000)], axis=0)
        np.testing.assert_allclose(mean - rates, gyro.bias_rad_s, atol=1e-3)
        assert np.abs(gyro.bias_rad_s).max() > 0.005
        old = gyro.bias_rad_s.copy()
        gyro.reset([1], world, kin, rng)
        np.testing.assert_array_equal(gyro.bias_rad_s[0], old[0])
        assert not np.array_equal(gyro.bias_rad_s[1], old[1])


def test_light_inverse_square(wall_world):
    sensor = LightSensor(3, 0.01, LightSensorConfig(noise_std=0.0, offsets_m=[(0, 0, 0), (0.1, 0, 0)]))
    # Slot 2's light: (4.5, 4.5, 1.0), intensity 2.5. Drone 1 m from it, facing it along +y.
    kin = kin_at([[0, 0, 1], [0, 0, 1], [4.5, 3.5, 1.0]], [0, 0, np.pi / 2])
    rng = np.random.default_rng(0)
    sensor.reset(None, wall_world, kin, rng)
    out = sensor.step(wall_world, kin, rng)
    np.testing.assert_allclose(out[2], [2.5 / (1.0 + 0.01), 2.5 / (0.81 + 0.01)])
    np.testing.assert_array_equal(out[:2], 0.0)  # no light in those courses


def test_configs_validate_with_field_names():
    with pytest.raises(ConfigError, match=r"sensors.yaml: noise_std_m: Input should be greater than or equal to 0"):
        validate(MultiRangerConfig, {"noise_std_m": -0.1}, "sensors.yaml")
    with pytest.raises(ConfigError, match="latency_steps"):
        validate(GyroConfig, {"latency_steps": -1}, "sensors.yaml")
    assert MultiRangerConfig().max_range_m == 4.0 and MultiRangerConfig().rate_hz == 10.0


def test_missing_state_field_is_a_clear_error():
    with World(1) as world:
        gyro = Gyro(1, 0.01)
        with pytest.raises(ValueError, match="angular_velocity_rad_s"):
            gyro.reset(None, world, Kinematics(np.zeros((1, 3))), np.random.default_rng(0))


def test_per_drone_noise_makes_a_batch_slot_replay_a_single_drone():
    from tinyrl.sim.noise import PerDroneNoise

    wall, (_, lit) = load_courses(DATA / "single_course.yaml")[0], load_courses(DATA / "two_courses.json")
    pos = np.array([[0.0, 0.1, 1.0], [0.2, -0.3, 1.2], [0.5, 0.0, 0.8]])
    yaws = np.array([0.1, -0.4, 1.0])

    def readings(courses, slots, seeds):
        n = len(slots)
        world = World(n)
        for i, course in enumerate(courses):
            world.set_course(i, course)
        sensors = [
            MultiRanger(n, 0.05, MultiRangerConfig(random_phase=True)),
            FlowDeck(n, 0.05),
            Gyro(n, 0.05),
            LightSensor(n, 0.05, LightSensorConfig(offsets_m=((0.05, 0.02, 0), (0.05, -0.02, 0)))),
        ]
        noise = PerDroneNoise([np.random.default_rng(s) for s in seeds])
        kin = kin_at(pos[slots], yaws[slots], [[0.1, 0, 0]] * n, [[0, 0, 0.2]] * n)
        for s in sensors:
            s.reset(None, world, kin, noise)
        out = [np.concatenate([s.step(world, kin, noise) for s in sensors], axis=1) for _ in range(7)]
        return np.stack(out)  # (steps, n, width)

    batch = readings([wall, lit, wall], [0, 1, 2], [10, 11, 12])
    alone = readings([lit], [1], [11])
    np.testing.assert_array_equal(batch[:, 1], alone[:, 0])
    assert not np.array_equal(batch[:, 0], batch[:, 2])  # same course, different noise streams


@pytest.mark.parametrize(("fov_deg", "seen"), [(27.0, True), (0.0, False), (10.0, False)])
def test_tof_field_of_view_sees_an_off_axis_pillar(fov_deg, seen):
    from tinyrl.sim.course import Arena, Course, Cylinder, Goal, Start

    # A thin pillar 1 m away, 10 degrees left of the front axis: inside a 27 degree cone, outside 10 degrees.
    angle = np.radians(10.0)
    pillar = Cylinder(xyz=(np.cos(angle), np.sin(angle), 1.0), radius_m=0.02, height_m=2.0)
    course = Course(
        arena=Arena(x=(-3, 3), y=(-3, 3), z=(0, 3)),
        start=Start(xyz=(0, 0, 1)),
        goal=Goal(xyz=(2, 0, 1), radius_m=0.3),
        obstacles=[pillar],
    )
    world = World(1)
    world.set_course(0, course)
    ranger = MultiRanger(1, 0.1, MultiRangerConfig(noise_std_m=0.0, rate_hz=None, fov_deg=fov_deg, rays_per_sensor=9))
    kin = kin_at([[0.0, 0.0, 1.0]], [0.0])
    ranger.reset(None, world, kin, np.random.default_rng(0))
    front = ranger.step(world, kin, np.random.default_rng(0))[0, FRONT]
    if seen:
        assert 0.95 < front < 1.0
    else:
        assert front == MultiRangerConfig().max_range_m


def test_directional_light_sensors_tell_left_from_right():
    from tinyrl.sim.course import Arena, Course, Goal, Light, Start

    course = Course(
        arena=Arena(x=(-5, 5), y=(-5, 5), z=(0, 3)),
        start=Start(xyz=(0, 0, 1)),
        goal=Goal(xyz=(3, 3, 1), radius_m=0.3),
        light=Light(xyz=(3.0, 3.0, 1.0), intensity=1.0),
    )
    world = World(1)
    world.set_course(0, course)
    config = LightSensorConfig(
        offsets_m=((0.04, 0.04, 0), (0.04, -0.04, 0)), normals=((1, 1, 0), (1, -1, 0)), noise_std=0.0
    )
    sensor = LightSensor(1, 0.1, config)
    rng = np.random.default_rng(0)
    kin = kin_at([[0.0, 0.0, 1.0]], [0.0])  # light 45 degrees to the left, 4.2 m away
    sensor.reset(None, world, kin, rng)
    left, right = sensor.step(world, kin, rng)[0]
    assert left > 0.04 and right < 1e-3 * left  # the right photodiode faces 90 degrees away from the light
    kin = kin_at([[0.0, 0.0, 1.0]], [np.pi / 2])  # turned left: now the light is 45 degrees to the right
    sensor.reset(None, world, kin, rng)
    left, right = sensor.step(world, kin, rng)[0]
    assert right > 0.04 and left < 1e-3 * right
