"""Scenarios as data: ``envs/NAME.yaml`` validated into :class:`ScenarioConfig`.

A scenario file holds everything about a task: the course generator, sensors and their noise, the policy
rate, episode length, action scaling, reward weights, domain randomization and training defaults. ``--env
NAME`` means ``envs/NAME.yaml`` (the working directory's ``envs/`` first, then the checkout's); a path to
any YAML file works too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic

from tinyrl.config import StrictModel, read_data_file, validate
from tinyrl.errors import ConfigError
from tinyrl.sim.params import QuadrotorConfig
from tinyrl.sim.sensors import FlowDeckConfig, GyroConfig, LightSensorConfig, MultiRangerConfig
from tinyrl.tasks.critic import CRITIC_FEATURES
from tinyrl.tasks.curriculum import CurriculumStage, check_stages
from tinyrl.tasks.features import FEATURES
from tinyrl.tasks.generator import MIX, CourseGeneratorConfig
from tinyrl.tasks.replay import CourseReplayConfig

Positive = Annotated[float, pydantic.Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, pydantic.Field(ge=0, allow_inf_nan=False)]
Fraction = Annotated[float, pydantic.Field(ge=0, lt=1, allow_inf_nan=False)]

#: Where ``--env NAME`` looks for ``NAME.yaml``: the working directory first (users add their own), then the
#: checkout's ``envs/``.
ENV_DIRS = (Path("envs"), Path(__file__).resolve().parents[2] / "envs")

TaskName = Literal["hover", "obstacle-course", "source-seeking"]


def _ordered(value: tuple[float, float]) -> tuple[float, float]:
    if value[0] > value[1]:
        raise ValueError(f"min {value[0]} must not exceed max {value[1]}")
    return value


Range = Annotated[tuple[float, float], pydantic.AfterValidator(_ordered)]
IntRange = Annotated[tuple[int, int], pydantic.AfterValidator(_ordered)]


class DiscreteAction(StrictModel):
    """One entry of a discrete action set: a hover setpoint with the height held."""

    vx_m_s: float = 0.0
    vy_m_s: float = 0.0
    yaw_rate_deg_s: float = 0.0


class ActionConfig(StrictModel):
    """How a policy output maps to the hover setpoint (body vx, vy m/s, yaw rate deg/s, z m)."""

    mode: Literal["continuous", "discrete"] = "continuous"
    """``continuous``: four numbers in [-1, 1]; ``discrete``: an index into ``discrete_actions``."""
    max_speed_m_s: Positive = 1.0
    """vx and vy at ±1."""
    max_yaw_rate_deg_s: Positive = 90.0
    """Yaw rate at ±1 (positive turns left, counter-clockwise seen from above)."""
    z_range_m: Range = (0.3, 2.0)
    """Height setpoint at -1 and +1."""
    discrete_actions: dict[str, DiscreteAction] = {
        "forward": DiscreteAction(vx_m_s=0.5),
        "rotate_left": DiscreteAction(yaw_rate_deg_s=60.0),
        "rotate_right": DiscreteAction(yaw_rate_deg_s=-60.0),
    }
    """Discrete mode: named setpoints (order is the action index); height holds the start height."""


class ObservationConfig(StrictModel):
    """What the policy sees: named features (see :mod:`tinyrl.tasks.features`), concatenated in order."""

    features: tuple[str, ...]
    goal_noise_std_m: NonNegative = 0.05
    """Noise of the onboard positioning system that gives the goal's position relative to the drone."""
    max_goal_distance_m: Positive = 8.0
    """Goal distances are divided by this and clipped to 1."""
    height_scale_m: Positive = 2.0
    """Heights are divided by this."""
    max_latency_steps: Annotated[int, pydantic.Field(ge=0, le=20)] = 2
    """Longest observation delay the randomization may draw (sizes the delay line)."""
    action_ema_tau_s: Positive = 1.0
    """Time constant (s) of the ``action_ema`` feature's low-pass over past actions."""
    ranges_ema_tau_s: Positive = 0.5
    """Time constant (s) of the ``ranges_ema`` feature's low-pass over past horizontal ranges."""
    near_range_m: Positive = 0.4
    """Range (m) below which the ``ranges_near`` feature rises from 0 (it reads 1 at a range of 0)."""
    light_ema_tau_s: Positive = 1.0
    """Time constant (s) of the ``light_trend`` feature's low-pass over the log of the total light reading."""
    trail_tau_s: Positive = 3.0
    """Time constant (s) of the ``trail`` feature's low-pass over the estimated horizontal position."""
    panorama_sectors: Annotated[int, pydantic.Field(ge=4, le=32)] = 8
    """Sectors of the ``panorama`` feature (each 360 / n degrees; at least 4, so no two rangers share one)."""
    panorama_fade_m_s: Positive = 1.0
    """How fast (m/s) a ``panorama`` sector forgets the farthest reading it holds."""


class SensorsConfig(StrictModel):
    """The drone's sensors (see :mod:`tinyrl.sim.sensors`)."""

    multiranger: MultiRangerConfig = MultiRangerConfig()
    flow: FlowDeckConfig = FlowDeckConfig()
    gyro: GyroConfig = GyroConfig()
    light: LightSensorConfig = LightSensorConfig(offsets_m=((0.03, 0.03, 0.0), (0.03, -0.03, 0.0)))


class RewardConfig(StrictModel):
    """Reward weights; terminal terms are paid once, the rest every policy step."""

    progress: float = 1.0
    """Per metre the distance to the goal shrinks."""
    progress_metric: Literal["euclidean", "geodesic"] = "euclidean"
    """``geodesic``: distance along the shortest obstacle-free path (no reward traps behind walls)."""
    geodesic_resolution_m: Positive = 0.1
    """Grid cell of the geodesic distance field."""
    success: float = 10.0
    collision: float = -10.0
    """Hitting an obstacle or the floor."""
    leave_arena: float = -10.0
    time: float = -0.01
    """Per step, so dawdling costs."""
    action_rate: float = 0.0
    """Times the squared change of the (scaled) action per step; makes flight smooth."""
    yaw_rate: float = 0.0
    """Times the commanded yaw rate's magnitude (rad/s), per step: a price on turning, against spinning on the spot."""
    hover_error: float = 0.0
    """Per metre of distance from the hover point, per step (hover task)."""
    proximity: float = 0.0
    """Times ``max(0, 1 - range / proximity_range_m)`` summed over the horizontal rangers, per step."""
    proximity_range_m: Positive = 0.5


class RandomizationConfig(StrictModel):
    """Per-episode domain randomization; ``enabled: false`` (and evaluation) turns it all off."""

    enabled: bool = True
    mass_rel: Fraction = 0.1
    """Mass drawn uniformly within ±this fraction."""
    inertia_rel: Fraction = 0.1
    kf_rel: Fraction = 0.05
    km_rel: Fraction = 0.05
    motor_tau_rel: Fraction = 0.2
    sensor_noise_scale: Range = (0.5, 1.5)
    """Each drone's sensor noise is scaled by a factor drawn from this range."""
    latency_steps: IntRange = (0, 1)
    """Observation delay in policy steps, drawn per episode."""
    start_xy_m: NonNegative = 0.1
    """Start position jitter in x and y (m)."""
    start_z_m: NonNegative = 0.05
    start_yaw_rad: NonNegative = 0.3
    wind_n: NonNegative = 0.004
    """Steady wind force drawn per episode, up to this magnitude (N; 0.004 N is ~1.5 % of the weight)."""
    gust_n: NonNegative = 0.003
    """Random gusts: a force of up to this magnitude that changes every ``gust_period_s``."""
    gust_period_s: Positive = 1.0


class TrainConfig(StrictModel):
    """Training defaults (flags of ``scripts/train.py`` override them)."""

    algo: Literal["ppo", "sac", "td3", "dqn"] = "ppo"
    steps: Annotated[int, pydantic.Field(gt=0)] = 2_000_000
    n_envs: Annotated[int, pydantic.Field(gt=0)] = 256
    seed: int = 0
    net_arch: tuple[Annotated[int, pydantic.Field(gt=0)], ...] = (64, 64)
    hyperparameters: dict[str, Any] = {}
    """Passed to the SB3 algorithm as keyword arguments.

    PPO also takes ``gradient_processes`` (2: each minibatch's gradient over two processes, tinyrl.train.split_gradient)
    and ``overlap_update`` (tinyrl.train.overlap).
    """
    policy_kwargs: dict[str, Any] = {}
    """Passed to the SB3 policy, e.g. ``log_std_init`` (initial exploration noise of PPO)."""
    eval_every_steps: Annotated[int, pydantic.Field(gt=0)] = 200_000
    eval_episodes: Annotated[int, pydantic.Field(gt=0)] = 100
    eval_difficulty: str | None = None
    """Generator level of the validation courses that pick the best checkpoint, or ``mix`` (every level in turn);
    ``None``: the scenario's ``difficulty``."""
    average_from: Annotated[float, pydantic.Field(ge=0.0, lt=1.0)] | None = None
    """Ship the mean of the policy's validation snapshots (one every ``eval_every_steps``, and the final one) from
    this fraction of ``steps`` on, rather than the best of them (:mod:`tinyrl.train.averaging`); ``None``: the
    best validated snapshot."""
    checkpoint_every_steps: Annotated[int, pydantic.Field(gt=0)] = 200_000
    argmax_preference: dict[str, Annotated[float, pydantic.Field(allow_inf_nan=False)]] = {}
    """Discrete actions: added to the named action's output before the argmax, in the units of the outputs (a DQN's
    Q-values: the reward's), e.g. ``{forward: 0.01}``: another action must beat it by more than that to be picked.
    Part of every policy that is validated, shipped and exported (the output layer's bias), not of the training
    updates."""
    learners: Annotated[int, pydantic.Field(ge=1)] = 1
    """Independent learners trained one after another, the first from ``seed``, the others from seeds derived from
    it; the run keeps the one whose best validated policy flies best on ``selection_episodes`` unseen courses of
    their own (neither the training pool's, the validation's nor ``tinyrl eval``'s). Runs of one config differ by
    several points from seed to seed: more learners buy a better worst case with training time."""
    selection_episodes: Annotated[int, pydantic.Field(gt=0)] = 1000
    """Courses (of ``eval_difficulty``) that pick among the ``learners``."""
    critic_features: tuple[str, ...] = ()
    """Simulator knowledge only PPO's critic sees in training (see :mod:`tinyrl.tasks.critic`), e.g.
    ``[geodesic_distance, geodesic_direction]``; the actor, which is exported, sees only ``observation``."""


#: Fewest policy steps an episode may last: shorter ones end before a policy can act (and a 0-step hover episode
#: would count as a success).
MIN_EPISODE_STEPS = 5


class ScenarioConfig(StrictModel):
    """One scenario: ``envs/NAME.yaml``."""

    name: str
    task: TaskName
    gym_id: str
    """Gymnasium id registered on ``import tinyrl`` (bump ``-vN`` when dynamics or reward change)."""
    policy_rate_hz: Positive = 25.0
    episode_s: Positive = 30.0
    difficulty: str | None = None
    """Generator level of evaluation and validation, and of training without a ``curriculum``; ``None``: the
    generator's default."""
    curriculum: tuple[CurriculumStage, ...] | None = None
    """Training courses as a difficulty mix by training progress (see :mod:`tinyrl.tasks.curriculum`), e.g.
    ``[{progress: 0, weights: {easy: 1}}, {progress: 0.3, weights: {easy: 0.2, medium: 0.5, hard: 0.3}}]``;
    ``None``: every slot trains on ``difficulty``."""
    course_pool_size: Annotated[int, pydantic.Field(gt=0)] = 2000
    """Training draws its courses from this many generated ones (generation is too slow for every reset); with a
    ``curriculum``, this many per level."""
    course_pool_seed: int = 0
    """Seed of the training course pool; evaluation uses other seeds, so its courses are unseen."""
    course_replay: CourseReplayConfig | None = None
    """Training replays the pool's courses it fails more often (see :mod:`tinyrl.tasks.replay`); ``None``: every
    draw is uniform within the slot's level."""
    hover_tolerance_m: Positive = 0.05
    """Hover: success when the drone stays within this distance of the hover point from ``hover_settle_s`` on."""
    hover_settle_s: NonNegative = 1.0
    """Hover: time allowed to settle (e.g. after a gust at the start) before the tolerance applies."""
    drone: QuadrotorConfig = QuadrotorConfig()
    action: ActionConfig = ActionConfig()
    observation: ObservationConfig
    sensors: SensorsConfig = SensorsConfig()
    reward: RewardConfig = RewardConfig()
    randomization: RandomizationConfig = RandomizationConfig()
    course_generator: CourseGeneratorConfig = CourseGeneratorConfig()
    train: TrainConfig = TrainConfig()

    @pydantic.model_validator(mode="after")
    def _check(self) -> ScenarioConfig:
        unknown = [f for f in self.observation.features if f not in FEATURES]
        if unknown:
            raise ValueError(f"observation.features: unknown {unknown}; known: {sorted(FEATURES)}")
        unknown = [f for f in self.train.critic_features if f not in CRITIC_FEATURES]
        if unknown:
            raise ValueError(f"train.critic_features: unknown {unknown}; known: {sorted(CRITIC_FEATURES)}")
        if self.train.critic_features and self.train.algo != "ppo":
            raise ValueError(f"train.critic_features: only PPO's critic takes them, not {self.train.algo.upper()}'s")
        if self.train.argmax_preference:
            if self.action.mode != "discrete":
                raise ValueError("train.argmax_preference: only discrete actions are picked by an argmax")
            unknown = sorted(set(self.train.argmax_preference) - set(self.action.discrete_actions))
            if unknown:
                raise ValueError(
                    f"train.argmax_preference: unknown action {', '.join(unknown)}; the scenario's discrete actions: "
                    f"{', '.join(self.action.discrete_actions)}"
                )
        if "light_bearing" in self.observation.features and self.sensors.light.normals is None:
            raise ValueError("observation.features: light_bearing needs sensors.light.normals (photodiode directions)")
        ratio = self.drone.physics_rate_hz / self.policy_rate_hz
        if abs(ratio - round(ratio)) > 1e-9 or ratio < 1:
            raise ValueError(
                f"policy_rate_hz {self.policy_rate_hz} must divide the physics rate {self.drone.physics_rate_hz}"
            )
        if self.max_episode_steps < MIN_EPISODE_STEPS:
            raise ValueError(
                f"episode_s {self.episode_s} is {self.max_episode_steps} policy steps at {self.policy_rate_hz} Hz; "
                f"an episode needs at least {MIN_EPISODE_STEPS}"
            )
        self.course_generator.level(self.difficulty)
        if self.train.eval_difficulty not in (None, MIX):
            try:
                self.course_generator.level(self.train.eval_difficulty)
            except ConfigError as exc:
                raise ValueError(f"train.eval_difficulty: {exc}") from None
        if self.curriculum is not None:
            try:
                check_stages(self.curriculum, list(self.course_generator.difficulties))
            except ValueError as exc:
                raise ValueError(f"curriculum: {exc}") from None
        if self.randomization.latency_steps[1] > self.observation.max_latency_steps:
            raise ValueError("randomization.latency_steps exceeds observation.max_latency_steps")
        return self

    @property
    def dt_s(self) -> float:
        """Policy period (s)."""
        return 1.0 / self.policy_rate_hz

    @property
    def max_episode_steps(self) -> int:
        """Policy steps per episode before truncation."""
        return round(self.episode_s * self.policy_rate_hz)


def available_envs(env_dirs: Sequence[Path] = ENV_DIRS) -> list[str]:
    """Names of the scenarios found in ``env_dirs``."""
    return sorted({p.stem for d in env_dirs if d.is_dir() for p in d.glob("*.yaml")})


def resolve_env_path(env: str | Path, env_dirs: Sequence[Path] = ENV_DIRS) -> Path:
    """``NAME`` → ``envs/NAME.yaml``; a path (with a slash or a YAML suffix) is taken as is.

    Raises:
        ConfigError: No such scenario; the message lists the available ones.
    """
    env = str(env)
    if env.endswith((".yaml", ".yml")) or "/" in env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"{path}: file not found")
        return path
    for d in env_dirs:
        if (d / f"{env}.yaml").is_file():
            return d / f"{env}.yaml"
    raise ConfigError(f"unknown env {env!r}; available: {', '.join(available_envs(env_dirs)) or 'none'}")


def scenario_from_data(data: Any, source: str) -> ScenarioConfig:
    """Validate parsed YAML into a :class:`ScenarioConfig` (one-line :class:`ConfigError` on problems)."""
    return validate(ScenarioConfig, data, source)


def load_scenario(env: str | Path | ScenarioConfig, overrides: dict[str, Any] | None = None) -> ScenarioConfig:
    """Load a scenario by name or path; ``overrides`` are deep-merged into the file's data before validation.

    Args:
        env: Scenario name (``envs/NAME.yaml``), a YAML path, or an already loaded config (returned as is
            unless ``overrides`` are given).
        overrides: Nested dict of values to replace, e.g. ``{"randomization": {"enabled": False}}``.
    """
    if isinstance(env, ScenarioConfig):
        data, source = env.model_dump(), f"<{env.name}>"
    else:
        path = resolve_env_path(env)
        data, source = read_data_file(path), str(path)
    if overrides:
        data = deep_merge(data, overrides)
    elif isinstance(env, ScenarioConfig):
        return env
    return scenario_from_data(data, source)


def deep_merge(base: Any, extra: dict[str, Any]) -> Any:
    """``base`` with ``extra`` merged in, recursively where both hold a dict; neither input is modified.

    A value of ``extra`` replaces ``base``'s unless both are dicts; a ``base`` that is not a dict is replaced whole.
    """
    if not isinstance(base, dict):
        return extra
    out = dict(base)
    for key, value in extra.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
