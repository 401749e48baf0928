"""The batched task: N drones, each flying its own course, stepped together in one process.

Both the Gymnasium env (N = 1) and the SB3 vector env run this same code, so an episode in the single env
and in slot ``k`` of the vector env are identical for the same seed: every random draw of slot ``k`` —
course choice, domain randomization, sensor noise, wind — comes from slot ``k``'s own generator.

What differs between scenarios is chosen once, when the task is built: the task's rule (goal and success,
:mod:`tinyrl.tasks.rules`), the action map (setpoints and fed-back action, :mod:`tinyrl.tasks.actions`) and the
distance progress is paid on (:mod:`tinyrl.tasks.progress`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tinyrl.errors import ConfigError
from tinyrl.sim.course import Course
from tinyrl.sim.drone import Quadrotors
from tinyrl.sim.noise import PerDroneNoise
from tinyrl.sim.rotation import world_to_heading_xy
from tinyrl.sim.sensors import FlowDeck, Gyro, Kinematics, LightSensor, MultiRanger
from tinyrl.sim.world import World
from tinyrl.tasks.actions import action_map
from tinyrl.tasks.config import ScenarioConfig
from tinyrl.tasks.critic import CriticFrame, critic_observation
from tinyrl.tasks.curriculum import curriculum_levels, slot_difficulties
from tinyrl.tasks.features import (
    LIGHT_FEATURES,
    SensorFrame,
    build_observation,
    ema_alpha,
    light_log,
    observation_size,
)
from tinyrl.tasks.generator import CourseGeneratorConfig, generate_courses
from tinyrl.tasks.panorama import panorama_in_heading, panorama_start, panorama_update
from tinyrl.tasks.progress import GeodesicDistance, GoalDistance, StraightDistance
from tinyrl.tasks.replay import CourseReplay
from tinyrl.tasks.rules import task_rule

# Below this height the drone has hit the floor.
FLOOR_CRASH_M = 0.03


@lru_cache(maxsize=8)
def _pool(generator_json: str, difficulty: str | None, size: int, seed: int) -> tuple[Course, ...]:
    # Keyed by the config's JSON: pydantic models holding dicts are not hashable.
    generator = CourseGeneratorConfig.model_validate_json(generator_json)
    return tuple(generate_courses(generator, difficulty, size, seed))


def course_pool(
    config: ScenarioConfig, seed: int | None = None, size: int | None = None, difficulty: str | None = None
) -> tuple[Course, ...]:
    """The scenario's generated courses (cached per process): training uses ``course_pool_seed``.

    Args:
        config: The scenario.
        seed: Pool seed; ``config.course_pool_seed`` if None.
        size: Number of courses; ``config.course_pool_size`` if None.
        difficulty: Generator level; ``config.difficulty`` if None.
    """
    seed = config.course_pool_seed if seed is None else seed
    level = config.difficulty if difficulty is None else difficulty
    return _pool(config.course_generator.model_dump_json(), level, size or config.course_pool_size, seed)


def training_courses(config: ScenarioConfig) -> tuple[tuple[Course, ...], dict[str, tuple[int, int]]]:
    """The training pool and, with a ``curriculum``, each level's ``(start, stop)`` range in it.

    Without a curriculum: :func:`course_pool` and no ranges. With one: the pools of every level the curriculum
    uses, one after the other in the generator's order, each of ``course_pool_size`` courses.
    """
    if config.curriculum is None:
        return course_pool(config), {}
    courses: list[Course] = []
    ranges: dict[str, tuple[int, int]] = {}
    for level in curriculum_levels(config.curriculum, list(config.course_generator.difficulties)):
        pool = course_pool(config, difficulty=level)
        ranges[level] = (len(courses), len(courses) + len(pool))
        courses.extend(pool)
    return tuple(courses), ranges


@dataclass
class StepResult:
    """What :meth:`BatchedTask.step` returns, one row per drone."""

    obs: np.ndarray  # (N, obs_dim) float32
    reward: np.ndarray  # (N,) float32
    terminated: np.ndarray  # (N,) bool
    truncated: np.ndarray  # (N,) bool
    is_success: np.ndarray  # (N,) bool
    collision: np.ndarray  # (N,) bool
    left_arena: np.ndarray  # (N,) bool
    path_length_m: np.ndarray  # (N,)
    time_s: np.ndarray  # (N,)


class BatchedTask:
    """N drones flying a scenario. Slots are reset explicitly (the vector env auto-resets finished ones).

    Args:
        config: The scenario.
        n: Number of drones.
        courses: Courses to draw from; the scenario's generated training pool if None (with the scenario's
            ``curriculum``, if any: see :meth:`set_progress`; with its ``course_replay``, failed courses more often).
        randomize: Domain randomization on (default: ``config.randomization.enabled``); off for evaluation.
    """

    def __init__(
        self,
        config: ScenarioConfig,
        n: int,
        courses: Sequence[Course] | None = None,
        randomize: bool | None = None,
    ) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.config, self.n = config, n
        self.level_ranges: dict[str, tuple[int, int]]
        if courses is not None:
            self.courses, self.level_ranges = tuple(courses), {}
        else:
            self.courses, self.level_ranges = training_courses(config)
        if not self.courses:
            raise ValueError("no courses to fly")
        # Slot i draws its next course from courses[start:stop] of its (start, stop): all of them, or its level's.
        self.slot_range = [(0, len(self.courses))] * n
        self.slot_level: tuple[str, ...] = ()
        self.set_progress(0.0)
        #: Failure scores of the training pool's courses (:mod:`tinyrl.tasks.replay`); None: uniform draws.
        self.replay = (
            CourseReplay(len(self.courses), config.course_replay)
            if courses is None and config.course_replay is not None
            else None
        )
        self.randomize = config.randomization.enabled if randomize is None else randomize
        self.dt_s = config.dt_s
        self.drones = Quadrotors(n, config.drone, policy_rate_hz=config.policy_rate_hz)
        self.nominal = config.drone.drone
        self.world = World(n)
        s = config.sensors
        self.ranger = MultiRanger(n, self.dt_s, s.multiranger)
        self.flow = FlowDeck(n, self.dt_s, s.flow)
        self.gyro = Gyro(n, self.dt_s, s.gyro)
        self.uses_light = not LIGHT_FEATURES.isdisjoint(config.observation.features)
        self.light = LightSensor(n, self.dt_s, s.light)
        self.rngs = [np.random.default_rng(i) for i in range(n)]
        self.noise = PerDroneNoise(self.rngs)
        self.obs_dim = observation_size(config)
        #: Goal and success of the scenario's task (:mod:`tinyrl.tasks.rules`).
        self.rule = task_rule(config, n)
        #: Actions → setpoints and fed-back actions (:mod:`tinyrl.tasks.actions`).
        self.actions = action_map(config.action)
        self.action_dim = self.actions.width
        #: Actions are indices ``(N,)`` rather than ``(N, 4)`` numbers (callers check what a policy returns).
        self.discrete = self.actions.discrete
        self.course_index = np.zeros(n, dtype=np.int64)
        self.goal_m = np.zeros((n, 3))
        self.goal_radius_m = np.ones(n)
        self.hover_z_m = np.ones(n)
        self.steps = np.zeros(n, dtype=np.int64)
        self.path_length_m = np.zeros(n)
        self.prev_dist_m = np.zeros(n)
        self.prev_action = np.zeros((n, self.action_dim))
        self.action_ema = np.zeros((n, self.action_dim))
        self.action_ema_alpha = ema_alpha(config.policy_rate_hz, config.observation.action_ema_tau_s)
        self.ranges_ema_m = np.zeros((n, 4))
        self.ranges_ema_alpha = ema_alpha(config.policy_rate_hz, config.observation.ranges_ema_tau_s)
        #: Only light_trend reads the average: other scenarios skip its log on every step.
        self.tracks_light_log = "light_trend" in config.observation.features
        self.light_log_ema = np.zeros(n)
        self.light_ema_alpha = ema_alpha(config.policy_rate_hz, config.observation.light_ema_tau_s)
        self.trail_xy_m = np.zeros((n, 2))
        self.trail_alpha = ema_alpha(config.policy_rate_hz, config.observation.trail_tau_s)
        #: Only the panorama feature reads it: other scenarios skip its update on every step.
        self.tracks_panorama = "panorama" in config.observation.features
        self.panorama_m = np.zeros((n, config.observation.panorama_sectors))
        self.panorama_fade_m = config.observation.panorama_fade_m_s / config.policy_rate_hz
        self.latency = np.zeros(n, dtype=np.int64)
        self.obs_delay: np.ndarray = np.zeros(
            (config.observation.max_latency_steps + 1, n, self.obs_dim), dtype=np.float32
        )
        self.wind_n = np.zeros((n, 3))
        self.gust_n = np.zeros((n, 3))
        self.gust_countdown_s = np.zeros(n)
        self.radius_m = self.nominal.collision_radius_m
        self.geodesic = config.reward.progress_metric == "geodesic" and self.rule.goal_is_course_goal
        #: The distance progress is paid on (:mod:`tinyrl.tasks.progress`).
        self.progress: GoalDistance = (
            GeodesicDistance(self.courses, n, self.radius_m, config.reward.geodesic_resolution_m)
            if self.geodesic
            else StraightDistance()
        )
        #: Geodesic field of the critic's inputs (:mod:`tinyrl.tasks.critic`): progress's own when it is geodesic.
        self.critic_field: GoalDistance | None = None
        if config.train.critic_features:
            if not self.rule.goal_is_course_goal:
                raise ConfigError(f"train.critic_features: the {config.task} task's goal is not a course's goal")
            self.critic_field = (
                self.progress
                if self.geodesic
                else GeodesicDistance(self.courses, n, self.radius_m, config.reward.geodesic_resolution_m)
            )

    # ------------------------------------------------------------------ seeding and reset
    def set_progress(self, progress: float) -> None:
        """Training progress (fraction of ``train.steps`` done): with a curriculum, each slot's next level.

        A slot takes its new level at its next reset. Without a curriculum (or with given courses) nothing changes.
        """
        if not self.level_ranges or self.config.curriculum is None:
            return
        self.slot_level = slot_difficulties(self.config.curriculum, progress, self.n)
        self.slot_range = [self.level_ranges[level] for level in self.slot_level]

    def seed_slots(self, slots: Sequence[int], seeds: Sequence[int]) -> None:
        """Restart the random streams of ``slots`` from ``seeds`` (applied at their next reset)."""
        for i, seed in zip(slots, seeds, strict=True):
            self.rngs[i] = np.random.default_rng(seed)

    def reset_slots(
        self, slots: Sequence[int] | np.ndarray, course_indices: Sequence[int] | np.ndarray | None = None
    ) -> np.ndarray:
        """Start new episodes in ``slots``; returns their first observations ``(len(slots), obs_dim)``.

        Args:
            slots: Drone indices.
            course_indices: Which of ``courses`` each slot flies (evaluation); drawn at random if None.
        """
        idx = np.asarray(slots, dtype=np.intp).reshape(-1)
        r = self.config.randomization
        start_pos = np.zeros((len(idx), 3))
        start_yaw = np.zeros(len(idx))
        drawn: list[dict[str, float]] = []  # each slot's physical parameters, set for all slots at once below
        for j, i in enumerate(idx):
            rng = self.rngs[i]
            first, stop = self.slot_range[i]
            if self.replay is not None:
                k = self.replay.draw(rng, first, stop)
            else:
                k = first + int(rng.integers(stop - first))
            if course_indices is not None:
                k = int(course_indices[j])
            course = self.courses[k]
            self.course_index[i] = k
            self.world.set_course(int(i), course)
            self.goal_radius_m[i] = course.goal.radius_m
            start_pos[j] = course.start.xyz
            start_yaw[j] = course.start.yaw_rad
            if self.randomize:
                start_pos[j] += rng.uniform(-1, 1, 3) * (r.start_xy_m, r.start_xy_m, r.start_z_m)
                start_yaw[j] += rng.uniform(-1, 1) * r.start_yaw_rad
                drawn.append(self._randomize_drone(int(i), rng))
            else:
                self.noise.scale[i] = 1.0
                self.latency[i] = 0
                self.wind_n[i] = 0.0
            self.goal_m[i] = self.rule.goal_m(course, start_pos[j])
            self.hover_z_m[i] = start_pos[j, 2]
            self.progress.load(int(i), course)
            if self.critic_field is not None and self.critic_field is not self.progress:
                self.critic_field.load(int(i), course)
        if drawn:
            self.drones.update_params(idx, **{name: [d[name] for d in drawn] for name in drawn[0]})
        else:
            self.drones.set_params(idx, self.nominal)
        self.gust_n[idx] = 0.0
        self.gust_countdown_s[idx] = 0.0
        self.drones.external_force_n[idx] = self.wind_n[idx]
        self.drones.reset(idx, start_pos, start_yaw)
        self.rule.reset(idx)
        self.steps[idx] = 0
        self.path_length_m[idx] = 0.0
        self.prev_dist_m[idx] = self.progress.distance_m(idx, start_pos, self.goal_m[idx])
        self.prev_action[idx] = self.actions.at_start(start_pos[:, 2])
        self.action_ema[idx] = self.prev_action[idx]
        kin = self._kinematics()
        for sensor in self._sensors():
            sensor.reset(idx, self.world, kin, self.noise)
        obs = self._observe(idx, advance=False)
        self.obs_delay[:, idx] = obs
        return obs

    def _randomize_drone(self, i: int, rng: np.random.Generator) -> dict[str, float]:
        """Draw drone ``i``'s randomized sensors and wind; returns its physical parameters (set by the caller)."""
        r, p = self.config.randomization, self.nominal

        def jitter(rel: float) -> float:
            return 1.0 + rel * float(rng.uniform(-1, 1))

        inertia = jitter(r.inertia_rel)
        params = {
            "mass_kg": p.mass_kg * jitter(r.mass_rel),
            "ixx_kg_m2": p.ixx_kg_m2 * inertia,
            "iyy_kg_m2": p.iyy_kg_m2 * inertia,
            "izz_kg_m2": p.izz_kg_m2 * inertia,
            "kf_n_per_rpm2": p.kf_n_per_rpm2 * jitter(r.kf_rel),
            "km_nm_per_rpm2": p.km_nm_per_rpm2 * jitter(r.km_rel),
            "motor_tau_s": p.motor_tau_s * jitter(r.motor_tau_rel),
        }
        self.noise.scale[i] = rng.uniform(*r.sensor_noise_scale)
        self.latency[i] = rng.integers(r.latency_steps[0], r.latency_steps[1] + 1)
        self.wind_n[i] = _random_horizontal(rng, r.wind_n)
        return params

    # ------------------------------------------------------------------ stepping
    def setpoints(self, actions: np.ndarray) -> np.ndarray:
        """Hover setpoints ``(N, 4)`` (vx, vy m/s, yaw rate deg/s, z m) from policy actions."""
        return self.actions.setpoints(actions, self.hover_z_m)

    def step(
        self,
        actions: np.ndarray,
        controller_mode: str = "hover",
        *,
        chunks: int = 1,
        after_chunk: Callable[[], None] | None = None,
    ) -> StepResult:
        """Advance every drone by one policy period with ``actions`` (``(N, 4)`` or ``(N,)`` indices).

        ``controller_mode`` is what the drones' controller flies the setpoints in: ``"hover"``, or what the
        supervisor's setpoint watchdog substitutes (``"level"``, ``"off"``; :mod:`tinyrl.sim.supervisor`).
        ``chunks`` splits the period's physics into that many equal parts and calls ``after_chunk`` after each
        (the virtual Crazyflie logs its state in between); the result is bit for bit that of one part.
        """
        per_period = self.drones.physics_steps_per_policy
        if chunks < 1 or per_period % chunks:
            raise ValueError(f"chunks must divide the {per_period} physics steps of a policy period, got {chunks}")
        cfg, rw = self.config, self.config.reward
        setpoints = self.setpoints(actions)
        fed_back = self.actions.fed_back(actions, self.n)
        if self.randomize and cfg.randomization.gust_n > 0:
            self._update_gusts()
        before = self.drones.pos.copy()
        for _ in range(chunks):
            self.drones.step(setpoints, mode=controller_mode, n_physics_steps=per_period // chunks)
            if after_chunk is not None:
                after_chunk()
        pos = self.drones.pos
        self.steps += 1
        self.path_length_m += np.linalg.norm(pos - before, axis=1)
        all_rows = np.arange(self.n)

        collision = self.world.collisions(pos, self.radius_m) | (pos[:, 2] < FLOOR_CRASH_M)
        left = self.world.outside_arena(pos) & ~collision
        dist = np.linalg.norm(self.goal_m - pos, axis=1)
        shaped = self.progress.distance_m(all_rows, pos, self.goal_m)
        timeout = self.steps >= cfg.max_episode_steps
        success, reached = self.rule.judge(self.steps, dist, self.goal_radius_m, timeout, collision | left)
        terminated = collision | left | reached
        truncated = timeout & ~terminated
        if self.replay is not None:
            done = np.flatnonzero(terminated | truncated)
            self.replay.record(self.course_index[done], success[done])

        reward = rw.progress * (self.prev_dist_m - shaped) + rw.time
        reward += rw.hover_error * dist
        if rw.action_rate:
            reward += rw.action_rate * np.square(fed_back - self.prev_action).sum(axis=1)
        if rw.yaw_rate:
            reward += rw.yaw_rate * np.radians(np.abs(setpoints[:, 2]))
        self.prev_dist_m = shaped
        self.prev_action[:] = fed_back
        self.action_ema += self.action_ema_alpha * (fed_back - self.action_ema)

        fresh = self._observe(all_rows, advance=True)
        if rw.proximity:
            near = np.clip(1.0 - self._last_ranges[:, :4] / rw.proximity_range_m, 0.0, 1.0)
            reward += rw.proximity * near.sum(axis=1)
        reward += np.where(success, rw.success, 0.0)
        reward += np.where(collision, rw.collision, 0.0) + np.where(left, rw.leave_arena, 0.0)
        obs = self._delayed(fresh)
        return StepResult(
            obs=obs,
            reward=reward.astype(np.float32),
            terminated=terminated,
            truncated=truncated,
            is_success=success,
            collision=collision,
            left_arena=left,
            path_length_m=self.path_length_m.copy(),
            time_s=self.steps * self.dt_s,
        )

    def _update_gusts(self) -> None:
        self.gust_countdown_s -= self.dt_s
        due = np.flatnonzero(self.gust_countdown_s <= 1e-9)
        r = self.config.randomization
        for i in due:
            self.gust_n[i] = _random_horizontal(self.rngs[i], r.gust_n)
            self.gust_countdown_s[i] += r.gust_period_s
        if len(due):
            self.drones.external_force_n[due] = self.wind_n[due] + self.gust_n[due]

    # ------------------------------------------------------------------ observations
    def _sensors(self) -> list:
        sensors = [self.ranger, self.flow, self.gyro]
        return [*sensors, self.light] if self.uses_light else sensors

    def _kinematics(self) -> Kinematics:
        d = self.drones
        return Kinematics(d.pos, d.quat, d.vel, d.omega)

    def _observe(self, rows: np.ndarray, advance: bool) -> np.ndarray:
        """Observations of ``rows``; ``advance`` steps every drone's sensors by one policy period first.

        A reset only reads the fresh readings of its own drones, so it never draws another drone's noise.
        """
        kin = self._kinematics()
        sensors = self._sensors()
        if advance:
            readings = [sensor.step(self.world, kin, self.noise)[rows] for sensor in sensors]
        else:
            readings = [sensor.held()[rows] for sensor in sensors]
        ranges, flow, gyro = readings[:3]
        light = readings[3] if self.uses_light else np.zeros((len(rows), 2))
        if advance:
            self._last_ranges = ranges
            self.ranges_ema_m[rows] += self.ranges_ema_alpha * (ranges[:, :4] - self.ranges_ema_m[rows])
        else:  # a new episode starts the averages from its first readings
            self.ranges_ema_m[rows] = ranges[:, :4]
        if self.tracks_light_log:
            log_now = light_log(light)
            if advance:
                self.light_log_ema[rows] += self.light_ema_alpha * (log_now - self.light_log_ema[rows])
            else:
                self.light_log_ema[rows] = log_now
        pos = self.drones.pos[rows]
        yaw = self.drones.euler[rows, 2]
        noise_std = self.config.observation.goal_noise_std_m
        est = pos + noise_std * self.noise.normal(rows, (3,)) if noise_std else pos
        rel = self.goal_m[rows] - est
        cos, sin = np.cos(yaw), np.sin(yaw)
        goal_heading = np.column_stack((world_to_heading_xy(rel[:, 0], rel[:, 1], cos, sin), rel[:, 2]))
        geofence = _box_exit_distances(est[:, :2], cos, sin, self.world.arena_lo_m[rows], self.world.arena_hi_m[rows])
        if advance:
            self.trail_xy_m[rows] += self.trail_alpha * (est[:, :2] - self.trail_xy_m[rows])
        else:  # a new episode's trail starts where the drone does
            self.trail_xy_m[rows] = est[:, :2]
        behind = self.trail_xy_m[rows] - est[:, :2]
        trail = world_to_heading_xy(behind[:, 0], behind[:, 1], cos, sin)
        panorama = self.panorama_m[rows]
        if self.tracks_panorama:
            if advance:
                world = panorama_update(panorama, ranges[:, :4], yaw, self.panorama_fade_m)
            else:  # a new episode knows only its first readings
                world = panorama_start(ranges[:, :4], yaw, self.panorama_m.shape[1])
            self.panorama_m[rows] = world
            panorama = panorama_in_heading(world, yaw)
        frame = SensorFrame(
            ranges,
            flow,
            gyro,
            light,
            goal_heading,
            self.prev_action[rows],
            geofence,
            self.action_ema[rows],
            self.ranges_ema_m[rows],
            self.light_log_ema[rows],
            trail,
            panorama,
        )
        return build_observation(frame, self.config)

    def critic_observation(self, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), critic_size)`` critic inputs of ``rows`` now, from the true state (no delay, no noise)."""
        if self.critic_field is None:
            raise ValueError(f"scenario {self.config.name} has no train.critic_features")
        d = self.drones
        frame = CriticFrame(self.critic_field, rows, d.pos[rows], self.goal_m[rows], d.euler[rows, 2])
        return critic_observation(frame, self.config)

    def _delayed(self, fresh: np.ndarray) -> np.ndarray:
        """Push this step's observations into the delay line; each drone reads its own latency back."""
        self.obs_delay = np.roll(self.obs_delay, 1, axis=0)
        self.obs_delay[0] = fresh
        return self.obs_delay[self.latency, np.arange(self.n)]

    def close(self) -> None:
        """Release the world."""
        self.world.close()


def _random_horizontal(rng: np.random.Generator, magnitude_n: float) -> np.ndarray:
    """A horizontal force of random direction and magnitude up to ``magnitude_n``."""
    if magnitude_n <= 0:
        return np.zeros(3)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    size = rng.uniform(0.0, magnitude_n)
    return np.array([size * math.cos(angle), size * math.sin(angle), 0.0])


def _box_exit_distances(
    xy_m: np.ndarray, cos: np.ndarray, sin: np.ndarray, lo_m: np.ndarray, hi_m: np.ndarray
) -> np.ndarray:
    """Distance (m) from points ``(M, 2)`` to the edge of their boxes along heading front, back, left, right.

    Points outside their box read 0.
    """
    dirs = np.stack(
        (np.stack((cos, sin), 1), np.stack((-cos, -sin), 1), np.stack((-sin, cos), 1), np.stack((sin, -cos), 1)), 1
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(dirs > 0, hi_m[:, None, :2], lo_m[:, None, :2])
        t = (bound - xy_m[:, None, :]) / dirs
    t = np.where(np.abs(dirs) > 1e-12, t, np.inf).min(axis=2)
    return np.maximum(t, 0.0)
