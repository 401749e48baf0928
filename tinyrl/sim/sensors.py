"""Crazyflie sensors for N drones at once: multi-ranger, flow deck, gyro and light sensor.

Every sensor follows the same pipeline per drone: sample the truth at the sensor's own rate (``rate_hz``,
zero-order hold in between; ``None`` samples every step), add Gaussian noise from the caller's noise
source (:mod:`tinyrl.sim.noise`), then delay by ``latency_steps`` calls of :meth:`step` through a ring buffer.
``dt_s`` is how often the caller calls :meth:`step` (a policy step or a physics step, the caller's choice),
and it is also the unit of the latency.

Drone ``i`` flies slot ``i`` of the :class:`~tinyrl.sim.world.World`. State comes in as plain arrays
(:class:`Kinematics`), so the sensors do not depend on the flight model's classes. On episode reset, call
:meth:`reset` with the drones that restart: their hold value and delay line are filled with a fresh sample,
so a new episode never sees the previous one's readings.

Range readings are in metres; a ray that hits nothing within range reads exactly ``max_range_m`` (no
noise), and noisy readings are clipped to ``[0, max_range_m]``: farther always means larger, which is what
a policy wants (the firmware's ≥ 8 m "no target" codes would be outliers to a network).
"""

from __future__ import annotations

from typing import Annotated, NamedTuple

import numpy as np
import pydantic

from tinyrl.config import StrictModel
from tinyrl.sim.noise import Noise, as_noise
from tinyrl.sim.rotation import quat_to_rotmat, world_to_heading_xy
from tinyrl.sim.world import World

NonNegative = Annotated[float, pydantic.Field(ge=0, allow_inf_nan=False)]
PositiveF = Annotated[float, pydantic.Field(gt=0, allow_inf_nan=False)]
Steps = Annotated[int, pydantic.Field(ge=0, le=1000)]

#: VL53L1x useful range on the multi-ranger and flow decks (m).
VL53L1_MAX_RANGE_M = 4.0
#: Multi-ranger output order and body-frame directions (front = +x, left = +y, up = +z).
RANGER_NAMES = ("front", "back", "left", "right", "up")
RANGER_DIRECTIONS_BODY = np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0], [0, 0, 1.0]])
# Countdown slack: a sample due at k * dt must not slip a step because of float round-off.
_DUE_TOL_S = 1e-9


class Kinematics(NamedTuple):
    """Drone state as arrays, world frame; only the fields a sensor reads must be given.

    Attributes:
        position_m: ``(N, 3)`` position.
        quaternion_xyzw: ``(N, 4)`` body-to-world attitude, PyBullet order.
        velocity_m_s: ``(N, 3)`` linear velocity, world frame.
        angular_velocity_rad_s: ``(N, 3)`` body rates, body frame.
    """

    position_m: np.ndarray
    quaternion_xyzw: np.ndarray | None = None
    velocity_m_s: np.ndarray | None = None
    angular_velocity_rad_s: np.ndarray | None = None


def _need(array: np.ndarray | None, name: str) -> np.ndarray:
    if array is None:
        raise ValueError(f"this sensor needs Kinematics.{name}")
    return np.asarray(array, dtype=float)


class _Channel:
    """Sample-and-hold at ``rate_hz`` followed by a ``latency_steps`` delay line, for N drones."""

    def __init__(self, n: int, width: int, dt_s: float, rate_hz: float | None, latency_steps: int, random_phase: bool):
        if dt_s <= 0:
            raise ValueError(f"dt_s must be positive, got {dt_s}")
        self.n, self.dt_s = n, dt_s
        self.period_s = None if rate_hz is None else 1.0 / rate_hz
        self.random_phase = random_phase
        self.countdown_s = np.zeros(n)
        self.held = np.zeros((n, width))
        self.delay = np.zeros((latency_steps + 1, n, width))
        self.head = 0

    def due(self) -> np.ndarray:
        """Advance the clocks by one step; indices of the drones that sample now."""
        if self.period_s is None:
            return np.arange(self.n)
        self.countdown_s -= self.dt_s
        rows = np.flatnonzero(self.countdown_s <= _DUE_TOL_S)
        # max(.., 0): a sensor faster than the step rate samples every step without drifting off.
        self.countdown_s[rows] = np.maximum(self.countdown_s[rows] + self.period_s, 0.0)
        return rows

    def push(self) -> np.ndarray:
        """Write this step's held values into the delay line; return those of ``latency_steps`` ago."""
        length = self.delay.shape[0]
        self.delay[self.head] = self.held
        self.head = (self.head + 1) % length
        return self.delay[self.head % length].copy() if length > 1 else self.held.copy()

    def reset(self, rows: np.ndarray, values: np.ndarray, noise: Noise) -> None:
        """Fill the hold and the whole delay line of ``rows`` with ``values``; restart their sample clock."""
        self.held[rows] = values
        self.delay[:, rows] = values
        if self.period_s is not None:
            phase = noise.uniform(rows) * self.period_s if self.random_phase else self.period_s
            self.countdown_s[rows] = phase


class _Sensor:
    """Shared plumbing: subclasses list their channels and implement ``_sample(channel, rows, world, kin, noise)``."""

    channels: list[_Channel]

    def _sample(self, k: int, rows: np.ndarray, world: World, kin: Kinematics, noise: Noise) -> np.ndarray:
        raise NotImplementedError

    def step(self, world: World, kin: Kinematics, rng: Noise | np.random.Generator) -> np.ndarray:
        """Advance one step of ``dt_s`` and return the delayed readings of all N drones, ``(N, width)``."""
        noise = as_noise(rng)
        out = []
        for k, ch in enumerate(self.channels):
            rows = ch.due()
            if rows.size:
                ch.held[rows] = self._sample(k, rows, world, kin, noise)
            out.append(ch.push())
        return out[0] if len(out) == 1 else np.concatenate(out, axis=1)

    def held(self) -> np.ndarray:
        """The latest sampled values ``(N, width)``, without advancing.

        Right after :meth:`reset` of a drone this fills its whole delay line, so it is that drone's reading.
        """
        out = [ch.held for ch in self.channels]
        return (out[0] if len(out) == 1 else np.concatenate(out, axis=1)).copy()

    def reset(self, rows: np.ndarray | None, world: World, kin: Kinematics, rng: Noise | np.random.Generator) -> None:
        """Restart ``rows`` (drone indices; ``None`` for all): fresh sample into hold and delay line."""
        noise = as_noise(rng)
        for k, ch in enumerate(self.channels):
            r = np.arange(ch.n) if rows is None else np.asarray(rows, dtype=np.intp).reshape(-1)
            if r.size:
                ch.reset(r, self._sample(k, r, world, kin, noise), noise)


def _noisy_range(dist_m: np.ndarray, max_range_m: float, std_m: float, noise: Noise, rows: np.ndarray) -> np.ndarray:
    """Add noise to in-range distances ``(M, R)``; out-of-range stays exactly ``max_range_m``."""
    if std_m > 0:
        noisy = dist_m + std_m * noise.normal(rows, dist_m.shape[1:])
        dist_m = np.where(dist_m >= max_range_m, max_range_m, np.clip(noisy, 0.0, max_range_m))
    return dist_m


class MultiRangerConfig(StrictModel):
    """Multi-ranger deck: five VL53L1x ToF sensors, front/back/left/right/up."""

    max_range_m: PositiveF = VL53L1_MAX_RANGE_M
    """Out-of-range reading, and the range limit (m)."""
    rate_hz: PositiveF | None = 10.0
    """Sample rate; zero-order hold in between (``None``: every step)."""
    noise_std_m: NonNegative = 0.01
    """Gaussian noise on in-range readings (m)."""
    latency_steps: Steps = 0
    """Delay in calls of ``step``."""
    mount_offset_m: NonNegative = 0.0
    """Distance from the drone's centre to each sensor along its axis, subtracted from readings (m)."""
    random_phase: bool = False
    """Start each episode at a random point of the sample period instead of just after a sample."""
    fov_deg: Annotated[float, pydantic.Field(ge=0, lt=180)] = 27.0
    """Full field of view of each ToF sensor (VL53L1x: 27°); the reading is the nearest target in it."""
    rays_per_sensor: Annotated[int, pydantic.Field(ge=1, le=33)] = 5
    """Rays fanned across the field of view (horizontal fan; the up sensor fans about body x)."""


def fan_directions(fov_deg: float, rays: int) -> np.ndarray:
    """Body-frame ray directions ``(5, rays, 3)``: each ranger's axis fanned across its field of view."""
    angles = np.radians(np.linspace(-fov_deg / 2, fov_deg / 2, rays)) if rays > 1 else np.zeros(1)
    c, s = np.cos(angles), np.sin(angles)
    out = np.empty((5, len(angles), 3))
    for k, axis in enumerate(RANGER_DIRECTIONS_BODY[:4]):
        # Rotate the horizontal axis about body z.
        out[k] = np.stack((c * axis[0] - s * axis[1], s * axis[0] + c * axis[1], np.zeros_like(c)), axis=1)
    out[4] = np.stack((np.zeros_like(c), s, c), axis=1)  # up, fanned about body x
    return out


class MultiRanger(_Sensor):
    """Ranges (m) along body +x, -x, +y, -y, +z (:data:`RANGER_NAMES`): ``step`` returns ``(N, 5)``."""

    def __init__(self, n: int, dt_s: float, config: MultiRangerConfig | None = None) -> None:
        self.config = config or MultiRangerConfig()
        c = self.config
        self.channels = [_Channel(n, 5, dt_s, c.rate_hz, c.latency_steps, c.random_phase)]
        self.rays_body = fan_directions(c.fov_deg, c.rays_per_sensor).reshape(-1, 3)  # (5 * rays, 3)

    def _sample(self, k: int, rows: np.ndarray, world: World, kin: Kinematics, noise: Noise) -> np.ndarray:
        c = self.config
        pos = _need(kin.position_m, "position_m")[rows]
        rot = quat_to_rotmat(_need(kin.quaternion_xyzw, "quaternion_xyzw")[rows], normalize=True)
        dirs = np.einsum("nij,rj->nri", rot, self.rays_body)  # (M, 5 * rays, 3) world frame
        dist = world.ray_distances(pos[:, None, :], dirs, c.max_range_m, slots=rows)
        dist = dist.reshape(len(rows), 5, -1).min(axis=2)
        if c.mount_offset_m:
            dist = np.where(dist >= c.max_range_m, c.max_range_m, np.maximum(dist - c.mount_offset_m, 0.0))
        return _noisy_range(dist, c.max_range_m, c.noise_std_m, noise, rows)


class FlowDeckConfig(StrictModel):
    """Flow deck v2: down-facing VL53L1x ToF plus PMW3901 optical flow, fused into a velocity."""

    max_range_m: PositiveF = VL53L1_MAX_RANGE_M
    """Out-of-range reading of the down ranger, and its limit (m)."""
    range_rate_hz: PositiveF | None = 40.0
    """Down-ranger sample rate (the firmware's zranger task runs every 25 ms)."""
    range_noise_std_m: NonNegative = 0.005
    """Gaussian noise on the down range (m)."""
    velocity_rate_hz: PositiveF | None = 100.0
    """Flow velocity sample rate."""
    velocity_noise_std_m_s: NonNegative = 0.05
    """Gaussian noise on each horizontal velocity component (m/s)."""
    latency_steps: Steps = 0
    """Delay in calls of ``step``."""


class FlowDeck(_Sensor):
    """``step`` returns ``(N, 3)``: down range (m, along body -z), then vx, vy (m/s) in the heading frame.

    The heading frame is the world frame turned by the drone's yaw (x forward, y left, level), which is the
    frame of the hover setpoint's ``vx, vy``.
    """

    def __init__(self, n: int, dt_s: float, config: FlowDeckConfig | None = None) -> None:
        self.config = config or FlowDeckConfig()
        c = self.config
        self.channels = [
            _Channel(n, 1, dt_s, c.range_rate_hz, c.latency_steps, False),
            _Channel(n, 2, dt_s, c.velocity_rate_hz, c.latency_steps, False),
        ]

    def _sample(self, k: int, rows: np.ndarray, world: World, kin: Kinematics, noise: Noise) -> np.ndarray:
        c = self.config
        rot = quat_to_rotmat(_need(kin.quaternion_xyzw, "quaternion_xyzw")[rows], normalize=True)
        if k == 0:
            pos = _need(kin.position_m, "position_m")[rows]
            down = -rot[:, None, :, 2]  # body -z in world, (M, 1, 3)
            dist = world.ray_distances(pos[:, None, :], down, c.max_range_m, slots=rows)
            return _noisy_range(dist, c.max_range_m, c.range_noise_std_m, noise, rows)
        vel = _need(kin.velocity_m_s, "velocity_m_s")[rows]
        yaw = np.arctan2(rot[:, 1, 0], rot[:, 0, 0])
        cos, sin = np.cos(yaw), np.sin(yaw)
        v = world_to_heading_xy(vel[:, 0], vel[:, 1], cos, sin)
        if c.velocity_noise_std_m_s > 0:
            v = v + c.velocity_noise_std_m_s * noise.normal(rows, (2,))
        return v


class GyroConfig(StrictModel):
    """BMI088 gyro: body rates with white noise and a per-episode constant bias."""

    rate_hz: PositiveF | None = None
    """Sample rate (``None``: every step; the real gyro runs at 1 kHz)."""
    noise_std_rad_s: NonNegative = 0.005
    """White noise on each axis (rad/s)."""
    bias_std_rad_s: NonNegative = 0.005
    """Std of the bias drawn per drone and axis at each reset (rad/s)."""
    latency_steps: Steps = 0
    """Delay in calls of ``step``."""


class Gyro(_Sensor):
    """``step`` returns body rates ``(N, 3)`` in rad/s, plus bias and noise."""

    def __init__(self, n: int, dt_s: float, config: GyroConfig | None = None) -> None:
        self.config = config or GyroConfig()
        c = self.config
        self.bias_rad_s = np.zeros((n, 3))
        self.channels = [_Channel(n, 3, dt_s, c.rate_hz, c.latency_steps, False)]

    def reset(self, rows: np.ndarray | None, world: World, kin: Kinematics, rng: Noise | np.random.Generator) -> None:
        """Draw a new bias for ``rows`` (``None``: all), then refill their buffers."""
        noise = as_noise(rng)
        r = np.arange(len(self.bias_rad_s)) if rows is None else np.asarray(rows, dtype=np.intp).reshape(-1)
        if self.config.bias_std_rad_s > 0:
            self.bias_rad_s[r] = self.config.bias_std_rad_s * noise.normal(r, (3,))
        super().reset(r, world, kin, noise)

    def _sample(self, k: int, rows: np.ndarray, world: World, kin: Kinematics, noise: Noise) -> np.ndarray:
        rates = _need(kin.angular_velocity_rad_s, "angular_velocity_rad_s")[rows] + self.bias_rad_s[rows]
        if self.config.noise_std_rad_s > 0:
            rates = rates + self.config.noise_std_rad_s * noise.normal(rows, (3,))
        return rates


class LightSensorConfig(StrictModel):
    """Light sensors on the drone, reading ``intensity / (d² + eps)`` from the course's light.

    With ``normals`` a sensor is a photodiode facing that way: its reading is scaled by the cosine of the
    angle between its normal and the light (zero from behind), which is what makes two sensors facing apart
    tell left from right at a distance.
    """

    offsets_m: tuple[tuple[float, float, float], ...] = ((0.0, 0.0, 0.0),)
    """Sensor positions in the body frame (m); one output column each (two apart give a gradient)."""
    normals: tuple[tuple[float, float, float], ...] | None = None
    """Facing direction of each sensor in the body frame (any length); ``None``: omnidirectional."""
    eps_m2: PositiveF = 0.01
    """Added to the squared distance so the reading stays finite at the light (m²)."""
    noise_std: NonNegative = 0.01
    """Gaussian noise on each reading (intensity units)."""
    rate_hz: PositiveF | None = None
    """Sample rate (``None``: every step)."""
    latency_steps: Steps = 0
    """Delay in calls of ``step``."""


class LightSensor(_Sensor):
    """``step`` returns ``(N, S)`` readings, one per configured offset; a course without light reads 0 (+ noise)."""

    def __init__(self, n: int, dt_s: float, config: LightSensorConfig | None = None) -> None:
        self.config = config or LightSensorConfig()
        c = self.config
        self.offsets_body_m = np.asarray(c.offsets_m, dtype=float).reshape(-1, 3)
        self.normals_body = None
        if c.normals is not None:
            normals = np.asarray(c.normals, dtype=float).reshape(-1, 3)
            if normals.shape != self.offsets_body_m.shape or not np.all(np.linalg.norm(normals, axis=1) > 0):
                raise ValueError("light sensor normals need one non-zero vector per offset")
            self.normals_body = normals / np.linalg.norm(normals, axis=1, keepdims=True)
        self.channels = [_Channel(n, len(self.offsets_body_m), dt_s, c.rate_hz, c.latency_steps, False)]

    def _sample(self, k: int, rows: np.ndarray, world: World, kin: Kinematics, noise: Noise) -> np.ndarray:
        c = self.config
        pos = _need(kin.position_m, "position_m")[rows]
        rot = None
        if np.any(self.offsets_body_m) or self.normals_body is not None:
            rot = quat_to_rotmat(_need(kin.quaternion_xyzw, "quaternion_xyzw")[rows], normalize=True)
        if rot is not None and np.any(self.offsets_body_m):
            sensors = pos[:, None, :] + np.einsum("nij,sj->nsi", rot, self.offsets_body_m)
        else:
            sensors = np.broadcast_to(pos[:, None, :], (len(rows), len(self.offsets_body_m), 3))
        to_light = world.light_xyz_m[rows][:, None, :] - sensors
        d2 = np.square(to_light).sum(axis=-1)
        reading = world.light_intensity[rows][:, None] / (d2 + c.eps_m2)
        if rot is not None and self.normals_body is not None:
            normals = np.einsum("nij,sj->nsi", rot, self.normals_body)
            cos = np.einsum("nsi,nsi->ns", normals, to_light) / np.sqrt(np.maximum(d2, 1e-12))
            reading = reading * np.maximum(cos, 0.0)
        if c.noise_std > 0:
            reading = reading + c.noise_std * noise.normal(rows, reading.shape[1:])
        return reading
