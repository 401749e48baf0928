import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import tinyrl  # noqa: F401  (registers the ids)
from tinyrl.errors import ConfigError
from tinyrl.sim.course import Arena, Box, Course, Goal, Light, Start
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.env import TinyRLEnv
from tinyrl.tasks.vec_env import TinyRLVecEnv

SMALL_POOL = {"course_pool_size": 20}
FEATURE_WIDTHS = {"ranges": 4, "height": 1, "flow": 2, "yaw_rate": 1, "goal": 4, "geofence": 4, "prev_action": 4}


def scenario(name, **overrides):
    return load_scenario(name, {**SMALL_POOL, **overrides})


@pytest.mark.parametrize("name", ["hover", "obstacle-course", "source-seeking"])
@pytest.mark.parametrize("mode", ["continuous", "discrete"])
def test_env_checkers_pass(name, mode):
    env = TinyRLEnv(scenario(name, action={"mode": mode}))
    check_env(env, skip_render_check=True)
    sb3_check_env(env)
    expected = gym.spaces.Discrete(3) if mode == "discrete" else gym.spaces.Box(-1, 1, (4,), np.float32)
    assert env.action_space == expected


@pytest.mark.parametrize("gym_id", ["tinyrl/Hover-v0", "tinyrl/ObstacleCourse-v0", "tinyrl/SourceSeeking-v0"])
def test_registered_ids_make(gym_id):
    env = gym.make(
        gym_id,
        config=scenario(
            gym_id.split("/")[1]
            .removesuffix("-v0")
            .lower()
            .replace("obstaclecourse", "obstacle-course")
            .replace("sourceseeking", "source-seeking")
        ),
    )
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    env.close()


def rollout_single(config, seed, actions):
    env = TinyRLEnv(config)
    obs, _ = env.reset(seed=seed)
    out_obs, out_rew = [obs], []
    for a in actions:
        obs, r, term, trunc, _ = env.step(a)
        out_obs.append(obs)
        out_rew.append(r)
        if term or trunc:
            break
    return np.array(out_obs), np.array(out_rew, dtype=np.float32)


@pytest.mark.parametrize("name", ["obstacle-course", "source-seeking"])
def test_single_env_equals_vector_slot(name):
    # Under a curriculum slot k's level depends on the slot count (tests/tasks/test_curriculum.py): one pool here.
    config = scenario(name, curriculum=None)
    n, base, steps = 6, 100, 60
    rng = np.random.default_rng(0)
    vec = TinyRLVecEnv(config, n_envs=n, seed=base)
    if config.action.mode == "discrete":
        actions = rng.integers(0, 3, (steps, n))
    else:
        actions = rng.uniform(-1, 1, (steps, n, 4)).astype(np.float32)
    obs = [vec.reset()]
    rewards, dones = [], []
    for t in range(steps):
        o, r, d, infos = vec.step(actions[t])
        # The single env ends at the terminal observation; compare that, not the auto-reset one.
        o = o.copy()
        for i in np.flatnonzero(d):
            o[i] = infos[i]["terminal_observation"]
        obs.append(o)
        rewards.append(r)
        dones.append(d)
    obs, rewards, dones = np.array(obs), np.array(rewards), np.array(dones)
    for k in (0, 3, 5):
        first_done = np.flatnonzero(dones[:, k])
        end = first_done[0] + 1 if first_done.size else steps
        single_obs, single_rew = rollout_single(config, base + k, actions[:end, k])
        np.testing.assert_array_equal(single_obs, obs[: end + 1, k])
        np.testing.assert_array_equal(single_rew, rewards[:end, k])


def test_same_seed_same_episode_and_different_seed_differs():
    config = scenario("obstacle-course")
    actions = np.random.default_rng(1).uniform(-1, 1, (40, 4))
    a = rollout_single(config, 7, actions)
    b = rollout_single(config, 7, actions)
    c = rollout_single(config, 8, actions)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0][: len(c[0])], c[0][: len(a[0])])


def straight_pilot(obs, config):
    """Fly at the goal: yaw toward it, forward at 0.6 m/s, hold 1 m."""
    names = list(config.observation.features)
    offset = sum(FEATURE_WIDTHS[f] for f in names[: names.index("goal")])
    cos, sin = obs[offset], obs[offset + 1]
    bearing = np.arctan2(sin, cos)
    lo, hi = config.action.z_range_m
    z_action = 2 * (1.0 - lo) / (hi - lo) - 1
    return np.array([0.6 * max(cos, 0), 0.0, np.clip(bearing * 2 / np.pi, -1, 1), z_action], dtype=np.float32)


def fly(course, **overrides):
    config = scenario("obstacle-course", randomization={"enabled": False}, **overrides)
    env = TinyRLEnv(config, courses=[course])
    obs, _ = env.reset(seed=0)
    for _ in range(config.max_episode_steps):
        obs, _, term, trunc, info = env.step(straight_pilot(obs, config))
        if term or trunc:
            return info, term, trunc
    raise AssertionError("episode did not end")


OPEN = Course(
    arena=Arena(x=(-1, 5), y=(-2, 2), z=(0, 2.5)),
    start=Start(xyz=(0, 0, 1)),
    goal=Goal(xyz=(4, 0.5, 1), radius_m=0.3),
)


def test_straight_at_the_goal_succeeds_on_an_open_course():
    info, term, trunc = fly(OPEN)
    assert term and not trunc
    assert info["is_success"] and not info["collision"]
    assert 3.7 < info["path_length_m"] < 4.5  # 4.03 m to the goal centre, minus its 0.3 m radius
    assert 4.0 < info["time_s"] < 15.0


def test_straight_at_the_goal_collides_with_a_wall():
    wall = Box(xyz=(2, 0, 1.25), half_extents_m=(0.05, 1.9, 1.25))
    info, term, _ = fly(OPEN.model_copy(update={"obstacles": [wall]}))
    assert term and info["collision"] and not info["is_success"]
    assert info["path_length_m"] < 2.5


def test_leaving_the_arena_ends_the_episode():
    env = TinyRLEnv(scenario("obstacle-course", randomization={"enabled": False}), courses=[OPEN])
    env.reset(seed=0)
    for _ in range(400):
        _, reward, term, trunc, info = env.step(np.array([-1, 0, 0, 0], dtype=np.float32))  # backwards
        if term or trunc:
            break
    assert term and info["left_arena"] and not info["is_success"] and reward < -5


def test_vector_env_auto_resets_and_reports_outcomes():
    vec = TinyRLVecEnv(scenario("obstacle-course"), n_envs=8, seed=0)
    vec.reset()
    finished = []
    for _ in range(300):
        _, _, done, infos = vec.step(np.tile([[-1, 0, 0, 0]], (8, 1)).astype(np.float32))
        finished += [infos[i] for i in np.flatnonzero(done)]
    assert len(finished) >= 8
    assert all("terminal_observation" in i and "is_success" in i for i in finished)


def test_unknown_feature_and_bad_rates_fail_clearly(tmp_path):
    with pytest.raises(ConfigError, match="unknown"):
        load_scenario("obstacle-course", {"observation": {"features": ["ranges", "lidar"]}})
    with pytest.raises(ConfigError, match="policy_rate_hz 33"):
        load_scenario("obstacle-course", {"policy_rate_hz": 33})
    with pytest.raises(ConfigError, match="unknown env 'nope'"):
        load_scenario("nope")


def test_geofence_feature_reads_the_arena_edges():
    features = ["ranges", "height", "flow", "yaw_rate", "goal", "geofence", "prev_action"]
    config = scenario(
        "obstacle-course",
        randomization={"enabled": False},
        observation={"goal_noise_std_m": 0.0, "features": features},
    )
    names = list(config.observation.features)
    offset = sum(FEATURE_WIDTHS[f] for f in names[: names.index("geofence")])
    env = TinyRLEnv(config, courses=[OPEN])  # arena x [-1, 5], y [-2, 2]; start (0, 0) facing +x
    obs, _ = env.reset(seed=0)
    max_range = config.sensors.multiranger.max_range_m
    np.testing.assert_allclose(obs[offset : offset + 4], np.clip([5, 1, 2, 2], 0, max_range) / max_range, atol=1e-6)


def test_action_ema_feature_remembers_the_recent_actions():
    config = scenario(
        "obstacle-course",
        randomization={"enabled": False, "latency_steps": [0, 0]},
        observation={"features": ["action_ema", "ranges"], "action_ema_tau_s": 0.5, "max_latency_steps": 0},
    )
    env = TinyRLEnv(config, courses=[OPEN])
    obs, _ = env.reset(seed=0)
    z_action = obs[3]
    np.testing.assert_allclose(obs[:3], 0.0, atol=1e-7)  # starts at the hover action, as prev_action does
    alpha = 1.0 - np.exp(-1.0 / (config.policy_rate_hz * 0.5))
    want = np.array([0.0, 0.0, 0.0, z_action], dtype=np.float64)
    for k, vy in enumerate([1.0, 1.0, 1.0, -1.0, 3.0]):  # 3.0: the fed-back action is clipped to 1 first
        action = np.array([0.2, vy, 0.0, z_action], dtype=np.float32)
        obs, *_ = env.step(action)
        want += alpha * (np.clip(action, -1, 1) - want)
        np.testing.assert_allclose(obs[:4], want, atol=1e-6, err_msg=f"step {k}")
    assert 0.0 < obs[1] < 1.0  # a blend of left and right, leaning to the recent side


def test_ranges_ema_feature_lags_the_rangers_toward_a_wall():
    config = scenario(
        "obstacle-course",
        randomization={"enabled": False, "latency_steps": [0, 0]},
        observation={"features": ["ranges", "ranges_ema"], "ranges_ema_tau_s": 0.3, "max_latency_steps": 0},
    )
    wall = Box(xyz=(2.5, 0, 1.25), half_extents_m=(0.05, 1.9, 1.25))
    env = TinyRLEnv(config, courses=[OPEN.model_copy(update={"obstacles": [wall]})])
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs[4:], obs[:4])  # starts from the first reading
    alpha = 1.0 - np.exp(-1.0 / (config.policy_rate_hz * 0.3))
    want = obs[:4].astype(np.float64)
    for _ in range(25):  # 1 s towards the wall: the front range falls, its average trails above it
        obs, *_ = env.step(np.array([1.0, 0, 0, 0], dtype=np.float32))
        want += alpha * (obs[:4] - want)
        np.testing.assert_allclose(obs[4:], want, atol=1e-6)
    assert obs[4] > obs[0] + 0.02


def test_ranges_near_feature_spans_its_range_where_the_ranges_feature_spans_a_sliver():
    config = scenario(
        "obstacle-course",
        randomization={"enabled": False, "latency_steps": [0, 0]},
        observation={"features": ["ranges", "ranges_near"], "near_range_m": 0.5, "max_latency_steps": 0},
    )
    max_range_m = config.sensors.multiranger.max_range_m
    wall = Box(xyz=(2.5, 0, 1.25), half_extents_m=(0.05, 1.9, 1.25))
    env = TinyRLEnv(config, courses=[OPEN.model_copy(update={"obstacles": [wall]})])
    obs, _ = env.reset(seed=0)
    near_front = []
    for _ in range(60):  # towards the wall until the drone hits it
        ranges_m = obs[:4].astype(np.float64) * max_range_m
        np.testing.assert_allclose(obs[4:], np.clip(1.0 - ranges_m / 0.5, 0.0, 1.0), atol=1e-6)
        near_front.append((float(ranges_m[0]), float(obs[4])))
        obs, _, terminated, truncated, _ = env.step(np.array([0.5, 0, 0, 0], dtype=np.float32))
        if terminated or truncated:
            break
    assert all(near == 0.0 for range_m, near in near_front if range_m >= 0.5)
    closest_m, closest_near = min(near_front)
    assert closest_m < 0.25 and closest_near > 0.5  # the last decimetres fill half the feature's span


def test_trail_feature_points_where_the_drone_has_been_whichever_way_it_turned():
    """A world-frame average of the position, read in the heading frame: behind after flying ahead, beside after
    a quarter turn on the spot."""
    config = scenario(
        "obstacle-course",
        randomization={"enabled": False, "latency_steps": [0, 0]},
        observation={"features": ["trail"], "trail_tau_s": 1.0, "goal_noise_std_m": 0.0, "max_latency_steps": 0},
        action={"max_yaw_rate_deg_s": 90.0},  # a full-rate turn of 1 s is a quarter turn
    )
    env = TinyRLEnv(config, courses=[OPEN])
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, 0.0)  # starts where the drone does
    drones = env.task.drones
    alpha = 1.0 - np.exp(-1.0 / config.policy_rate_hz)
    trail_xy = drones.pos[0, :2].copy()
    forward, turn_left = [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]
    steps_per_s = round(config.policy_rate_hz)
    for k, action in enumerate([forward] * steps_per_s + [turn_left] * steps_per_s):
        obs, *_ = env.step(np.array(action, dtype=np.float32))
        trail_xy += alpha * (drones.pos[0, :2] - trail_xy)
        behind = trail_xy - drones.pos[0, :2]
        cos, sin = np.cos(drones.euler[0, 2]), np.sin(drones.euler[0, 2])
        want = np.array([cos * behind[0] + sin * behind[1], -sin * behind[0] + cos * behind[1]]) / 2.0
        np.testing.assert_allclose(obs, want, atol=1e-5, err_msg=f"step {k}")
        if k == steps_per_s - 1:
            assert obs[0] < -0.2 and abs(obs[1]) < 0.05  # 1 s ahead: the trail lies behind
    assert np.degrees(drones.euler[0, 2]) > 60.0
    assert obs[1] > 0.1 and obs[1] > abs(obs[0])  # turned left: where it came from is now on its left


@pytest.mark.parametrize(("light_x_m", "sign"), [(4.5, 1.0), (-0.9, -1.0)])
def test_light_trend_feature_is_positive_flying_towards_the_light_and_negative_away(light_x_m, sign):
    """The log reading's lead over its low-passed copy: 0 at the start, then its sign says brighter or dimmer."""
    config = scenario(
        "source-seeking-paper",
        randomization={"enabled": False},
        observation={"features": ["light_trend", "light_side"]},
        sensors={"light": {"offsets_m": [[0, 0, 0]] * 2, "normals": None, "noise_std": 0.0}},
    )
    course = OPEN.model_copy(update={"light": Light(xyz=(light_x_m, 0.0, 1.0), intensity=1.0)})
    env = TinyRLEnv(config, courses=[course])
    obs, _ = env.reset(seed=0)
    assert obs[0] == 0.0  # the average starts from the first reading
    forward = 0
    for _ in range(50):  # 2 s of forward flight
        obs, *_ = env.step(forward)
    assert sign * obs[0] > 0.1
    assert obs[1] == 0.0  # two sensors at one point, no normals: no side


@pytest.mark.parametrize(("light_xy", "bearing"), [((3.0, 0.0), (1, 0)), ((-0.9, 0.0), (-1, 0)), ((0.0, 1.9), (0, 1))])
def test_light_bearing_feature_points_at_the_light_all_around(light_xy, bearing):
    """Four photodiodes facing the diagonals: the bearing feature points at the light, behind the drone too."""
    diag = [[1, 1, 0], [1, -1, 0], [-1, 1, 0], [-1, -1, 0]]
    config = scenario(
        "source-seeking",
        randomization={"enabled": False},
        observation={"features": ["light_bearing", "ranges"]},
        sensors={"light": {"offsets_m": [[0, 0, 0]] * 4, "normals": diag, "noise_std": 0.0}},
    )
    course = OPEN.model_copy(update={"light": Light(xyz=(*light_xy, 1.0), intensity=1.0)})
    obs, _ = TinyRLEnv(config, courses=[course]).reset(seed=0)
    assert 0.0 < obs[0] < 1.0
    np.testing.assert_allclose(obs[1:3], bearing, atol=0.02)
    with pytest.raises(ConfigError, match=r"light_bearing needs sensors\.light\.normals"):
        scenario("source-seeking", observation={"features": ["light_bearing"]}, sensors={"light": {"normals": None}})


@pytest.mark.parametrize("mode", ["continuous", "discrete"])
def test_yaw_rate_reward_prices_the_commanded_turn(mode):
    def rewards(weight, action):
        config = scenario(
            "obstacle-course", action={"mode": mode}, randomization={"enabled": False}, reward={"yaw_rate": weight}
        )
        env = TinyRLEnv(config, courses=[OPEN])
        env.reset(seed=0)
        return np.array([env.step(action)[1] for _ in range(20)])

    if mode == "continuous":
        turn, straight = np.array([0, 0, -0.5, 0], np.float32), np.zeros(4, np.float32)
        rate_deg_s = 0.5 * scenario("obstacle-course").action.max_yaw_rate_deg_s
    else:
        turn, straight, rate_deg_s = 2, 0, 60.0  # rotate_right, forward
    priced = rewards(-0.02, turn) - rewards(0.0, turn)
    np.testing.assert_allclose(priced, -0.02 * np.radians(rate_deg_s), rtol=1e-6)
    np.testing.assert_array_equal(rewards(-0.02, straight), rewards(0.0, straight))
