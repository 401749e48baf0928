"""Observation features: what the policy sees, built only from what a real Crazyflie can sense.

Each feature is a named entry of :data:`FEATURES` (width and a function of :class:`SensorFrame`); a
scenario lists the features it uses in ``observation.features`` and the observation is their
concatenation, in that order, as float32. This vector is exactly what the exported MCU policy receives, so
every entry is documented with its units and scaling.

Frames: "heading frame" is the world frame turned by the drone's yaw (x forward, y left, z up) — the frame
of the hover setpoint's vx, vy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tinyrl.tasks.actions import action_map

if TYPE_CHECKING:  # for annotations only: the config module imports this one to check feature names
    from tinyrl.tasks.config import ScenarioConfig

#: Every feature lies in [-OBS_LIMIT, OBS_LIMIT] (the observation space's bounds).
OBS_LIMIT = 2.0
#: Features that read the light sensors (the task only simulates them when one of these is observed).
LIGHT_FEATURES = frozenset({"light", "light_bearing", "light_side", "light_trend"})
#: Added to the total light reading before its log (intensity units: a unit light about 10 m away), so the noise of
#: a dark reading does not swing the log.
LIGHT_LOG_FLOOR = 0.01
#: ``trail`` divides its offset by this (m): 2 m behind reads 1.0.
TRAIL_SCALE_M = 2.0
#: ``light_trend`` is the log reading's lead over its low-passed copy times this: flying at 0.5 m/s towards a light
#: 3 m away, with a 1 s time constant, the lead is about 0.33 and the feature reads 0.67.
LIGHT_TREND_GAIN = 2.0


@dataclass
class SensorFrame:
    """One policy step of sensor readings for N drones (all arrays have N rows).

    Attributes:
        ranges_m: ``(N, 5)`` multi-ranger front, back, left, right, up (m; ``max_range_m`` = nothing seen).
        flow: ``(N, 3)`` flow deck: down range (m), vx, vy (m/s, heading frame).
        gyro_rad_s: ``(N, 3)`` body rates (rad/s).
        light: ``(N, S)`` light sensor readings (intensity units).
        goal_heading_m: ``(N, 3)`` goal minus the positioning system's (noisy) estimate of the drone, in the
            heading frame (m).
        prev_action: ``(N, A)`` the previous policy action as fed back (continuous: in [-1, 1]; discrete:
            one-hot).
        action_ema: ``(N, A)`` exponential moving average of the fed-back actions (time constant
            ``observation.action_ema_tau_s``): a memory of where the drone has been heading.
        geofence_m: ``(N, 4)`` distance from the estimated position to the arena's edge (the geofence a
            positioning system knows) along heading-frame front, back, left, right (m).
        ranges_ema: ``(N, 4)`` exponential moving average of ``ranges_m[:, :4]`` (m; time constant
            ``observation.ranges_ema_tau_s``): what the rangers saw a moment ago.
        light_log_ema: ``(N,)`` exponential moving average of :func:`light_log` of ``light`` (time constant
            ``observation.light_ema_tau_s``): how bright it was a moment ago.
        trail_m: ``(N, 2)`` exponential moving average of the estimated horizontal position (world frame, time
            constant ``observation.trail_tau_s``) minus the estimate now, in the heading frame (m): where the drone
            has been lately. Averaged in the world frame, it survives the drone turning, which a body-frame memory
            such as ``action_ema`` does not.
        panorama_m: ``(N, S)`` the farthest recent horizontal range in each of ``observation.panorama_sectors``
            heading-frame sectors, sector 0 ahead, counter-clockwise (m; :mod:`tinyrl.tasks.panorama`).
    """

    ranges_m: np.ndarray
    flow: np.ndarray
    gyro_rad_s: np.ndarray
    light: np.ndarray
    goal_heading_m: np.ndarray
    prev_action: np.ndarray
    geofence_m: np.ndarray
    action_ema: np.ndarray
    ranges_ema: np.ndarray
    light_log_ema: np.ndarray
    trail_m: np.ndarray
    panorama_m: np.ndarray


@dataclass(frozen=True)
class Feature:
    """A block of the observation vector."""

    width: Callable[[ScenarioConfig], int]
    compute: Callable[[SensorFrame, ScenarioConfig], np.ndarray]
    doc: str


def _ranges(f: SensorFrame, c: ScenarioConfig) -> np.ndarray:
    return f.ranges_m[:, :4] / c.sensors.multiranger.max_range_m


def _up_range(f: SensorFrame, c: ScenarioConfig) -> np.ndarray:
    return f.ranges_m[:, 4:5] / c.sensors.multiranger.max_range_m


def _height(f: SensorFrame, c: ScenarioConfig) -> np.ndarray:
    return f.flow[:, 0:1] / c.observation.height_scale_m


def _flow(f: SensorFrame, c: ScenarioConfig) -> np.ndarray:
    return np.clip(f.flow[:, 1:3] / c.action.max_speed_m_s, -2.0, 2.0)


def _yaw_rate(f: SensorFrame, c: ScenarioConfig) -> np.ndarray:
    return np.clip(f.gyro_rad_s[:, 2:3] / np.radians(c.action.max_yaw_rate_deg_s), -2.0, 2.0)


def _goal(f: SensorFrame, c: ScenarioConfig) -> np.ndarray:
    g = f.goal_heading_m
    dist_xy = np.hypot(g[:, 0], g[:, 1])
    safe = np.maximum(dist_xy, 1e-9)
    return np.stack(
        (
            np.where(dist_xy > 1e-9, g[:, 0] / safe, 1.0),
            np.where(dist_xy > 1e-9, g[:, 1] / safe, 0.0),
            np.minimum(dist_xy / c.observation.max_goal_distance_m, 1.0),
            np.clip(g[:, 2] / c.observation.height_scale_m, -1.0, 1.0),
        ),
        axis=1,
    )


def _hover_error(f: SensorFrame, c: ScenarioConfig) -> np.ndarray:
    return np.clip(f.goal_heading_m, -1.0, 1.0)


def _light(f: SensorFrame, c: ScenarioConfig) -> np.ndarray:
    total = np.maximum(f.light.sum(axis=1), 0.0)
    left, right = f.light[:, 0], f.light[:, -1]
    return np.stack((total / (1.0 + total), np.clip((left - right) / (total + 1e-3), -1.0, 1.0)), axis=1)


def _light_side(f: SensorFrame, c: ScenarioConfig) -> np.ndarray:
    return _light(f, c)[:, 1:]


def light_log(light: np.ndarray) -> np.ndarray:
    """``(N,)`` ``log(total + LIGHT_LOG_FLOOR)`` of the light readings ``(N, S)``, a negative total read as 0."""
    return np.log(np.maximum(light.sum(axis=1), 0.0) + LIGHT_LOG_FLOOR)


def _light_trend(f: SensorFrame, c: ScenarioConfig) -> np.ndarray:
    lead = light_log(f.light) - f.light_log_ema
    return np.clip(LIGHT_TREND_GAIN * lead, -1.0, 1.0)[:, None]


def light_normals_xy(c: ScenarioConfig) -> np.ndarray:
    """``(S, 2)`` unit facing directions of the light sensors in the body x-y plane (``sensors.light.normals``)."""
    # ScenarioConfig guarantees normals when light_bearing is observed.
    n_xy = np.asarray(c.sensors.light.normals, dtype=float)[:, :2]
    return n_xy / np.maximum(np.linalg.norm(n_xy, axis=1, keepdims=True), 1e-12)


def _light_bearing(f: SensorFrame, c: ScenarioConfig) -> np.ndarray:
    n_xy = light_normals_xy(c)
    readings = np.maximum(f.light, 0.0)
    total = readings.sum(axis=1)
    # Each photodiode votes for its facing direction with its reading (a cosine response): the sum points at the
    # light, all around when the diodes cover the circle. The +1e-3 keeps a dark reading near (0, 0), not noise.
    v = readings @ n_xy
    unit = v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-3)
    return np.concatenate(((total / (1.0 + total))[:, None], unit), axis=1)


def _geofence(f: SensorFrame, c: ScenarioConfig) -> np.ndarray:
    return np.clip(f.geofence_m / c.sensors.multiranger.max_range_m, 0.0, 1.0)


def _prev_action(f: SensorFrame, c: ScenarioConfig) -> np.ndarray:
    return f.prev_action


def _action_ema(f: SensorFrame, c: ScenarioConfig) -> np.ndarray:
    return f.action_ema


def _ranges_near(f: SensorFrame, c: ScenarioConfig) -> np.ndarray:
    return np.clip(1.0 - f.ranges_m[:, :4] / c.observation.near_range_m, 0.0, 1.0)


def _ranges_ema(f: SensorFrame, c: ScenarioConfig) -> np.ndarray:
    return f.ranges_ema / c.sensors.multiranger.max_range_m


def _trail(f: SensorFrame, c: ScenarioConfig) -> np.ndarray:
    return np.clip(f.trail_m / TRAIL_SCALE_M, -OBS_LIMIT, OBS_LIMIT)


def _panorama(f: SensorFrame, c: ScenarioConfig) -> np.ndarray:
    return f.panorama_m / c.sensors.multiranger.max_range_m


def ema_alpha(rate_hz: float, tau_s: float) -> float:
    """Weight of the newest sample in ``ema += alpha * (x - ema)`` at ``rate_hz`` for time constant ``tau_s``."""
    return 1.0 - math.exp(-1.0 / (rate_hz * tau_s))


def action_width(c: ScenarioConfig) -> int:
    """Width of the fed-back action: 4 continuous values, or one-hot over the discrete set (its action map's)."""
    return action_map(c.action).width


FEATURES: dict[str, Feature] = {
    "ranges": Feature(
        lambda c: 4, _ranges, "front, back, left, right multi-ranger distance / max_range_m, in [0, 1] (1 = nothing)"
    ),
    "up_range": Feature(lambda c: 1, _up_range, "up multi-ranger distance / max_range_m, in [0, 1]"),
    "height": Feature(lambda c: 1, _height, "flow-deck down range / observation.height_scale_m"),
    "flow": Feature(lambda c: 2, _flow, "flow-deck vx, vy (heading frame) / action.max_speed_m_s, clipped to ±2"),
    "yaw_rate": Feature(lambda c: 1, _yaw_rate, "gyro yaw rate / action.max_yaw_rate_deg_s (in rad/s), clipped ±2"),
    "goal": Feature(
        lambda c: 4,
        _goal,
        "goal bearing cos, sin (heading frame), horizontal distance / max_goal_distance_m (clipped to 1), "
        "height difference / height_scale_m (clipped ±1); from the onboard positioning system, with noise",
    ),
    "hover_error": Feature(
        lambda c: 3, _hover_error, "hover point minus estimated position, heading frame (m), clipped to ±1"
    ),
    "light": Feature(
        lambda c: 2,
        _light,
        "light: total intensity I/(1+I) in [0, 1), and (left - right) / total in [-1, 1]",
    ),
    "light_side": Feature(
        lambda c: 1,
        _light_side,
        "light: (first - last reading) / total in [-1, 1] (left minus right for a pair facing apart): the light's "
        "side, the second entry of the light feature",
    ),
    "light_trend": Feature(
        lambda c: 1,
        _light_trend,
        f"light: log(total + {LIGHT_LOG_FLOOR}) minus its low-passed copy (time constant "
        f"observation.light_ema_tau_s) times {LIGHT_TREND_GAIN}, clipped to [-1, 1]: > 0 while it gets brighter",
    ),
    "light_bearing": Feature(
        lambda c: 3,
        _light_bearing,
        "light: total intensity I/(1+I) in [0, 1), and the bearing of the light (body frame) as the unit vector "
        "sum(reading_i * normal_i) / |sum| (x forward, y left; near 0 in the dark); needs photodiode normals",
    ),
    "prev_action": Feature(action_width, _prev_action, "the previous action (continuous [-1, 1], or one-hot)"),
    "action_ema": Feature(
        action_width,
        _action_ema,
        "exponential moving average of the fed-back actions, time constant observation.action_ema_tau_s "
        "(continuous [-1, 1], or the one-hot's average): a memory of the recent course",
    ),
    "ranges_ema": Feature(
        lambda c: 4,
        _ranges_ema,
        "exponential moving average of the front, back, left, right ranges (time constant "
        "observation.ranges_ema_tau_s) / max_range_m: what the rangers saw a moment ago",
    ),
    "ranges_near": Feature(
        lambda c: 4,
        _ranges_near,
        "closeness of the front, back, left, right obstacles: 1 - range / observation.near_range_m, clipped to "
        "[0, 1] (the ranges feature divides by max_range_m, so its last decimetres are a few hundredths of its span)",
    ),
    "geofence": Feature(
        lambda c: 4,
        _geofence,
        "distance to the arena edge (geofence, from the positioning system) front, back, left, right "
        "(heading frame) / multiranger max_range_m, in [0, 1]",
    ),
    "trail": Feature(
        lambda c: 2,
        _trail,
        "exponential moving average of the estimated horizontal position (world frame, time constant "
        f"observation.trail_tau_s) minus the estimate now, heading frame x, y / {TRAIL_SCALE_M} m, clipped ±2: "
        "where the drone has been lately, whichever way it has turned since",
    ),
    "panorama": Feature(
        lambda c: c.observation.panorama_sectors,
        _panorama,
        "the farthest horizontal range seen lately in each of observation.panorama_sectors sectors around the "
        "drone (kept in the world frame, fading at observation.panorama_fade_m_s, read in the heading frame: "
        "sector 0 ahead, counter-clockwise) / max_range_m, in [0, 1]: where it could see through, as it spins",
    ),
}


def observation_size(config: ScenarioConfig) -> int:
    """Length of the observation vector of ``config``."""
    return sum(FEATURES[name].width(config) for name in config.observation.features)


def observation_layout(config: ScenarioConfig) -> list[tuple[str, int, str]]:
    """``(feature, width, description)`` in observation order, for documentation and the C export."""
    return [(name, FEATURES[name].width(config), FEATURES[name].doc) for name in config.observation.features]


def build_observation(frame: SensorFrame, config: ScenarioConfig) -> np.ndarray:
    """The observation ``(N, observation_size)`` float32 from one frame of sensor readings."""
    parts = [FEATURES[name].compute(frame, config) for name in config.observation.features]
    # The clip only guards the space's bounds (e.g. a 4 m height reads 2.0); features are scaled to stay inside.
    return np.clip(np.concatenate(parts, axis=1), -OBS_LIMIT, OBS_LIMIT).astype(np.float32)
