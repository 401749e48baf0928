"""Crazyflie 2.x flight-model and inner-controller parameters as data, plus their per-drone array form.

``DroneParams`` is the physical model of one drone and ``ControllerParams`` the firmware PID cascade; both are
frozen, validated models loaded from YAML (defaults in ``tinyrl/data/crazyflie2.yaml``). ``DroneParamArrays`` holds
one value per drone for a batch, so domain randomization can change drone ``i`` on reset without rebuilding
anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pydantic

from tinyrl.config import StrictModel, load_model
from tinyrl.errors import ConfigError

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "data" / "crazyflie2.yaml"

PositiveFloat = pydantic.PositiveFloat
NonNegativeFloat = pydantic.NonNegativeFloat


class DroneParams(StrictModel):
    """Physical model of one Crazyflie 2.x (SI units; public system identification values).

    ``arm_m`` is the distance from the centre of mass to each motor axis; motors sit on the diagonals of an X,
    so each roll/pitch lever arm is ``arm_m / sqrt(2)``. Drag is linear in body-frame velocity and scales with
    rotor speed (rotor/blade-flapping drag), given at hover rotor speed. Ground effect multiplies each propeller's
    thrust by ``1 + ground_effect_coeff * (prop_radius_m / (4 h))**2`` at propeller height ``h`` above ``z = 0``,
    capped at ``ground_effect_max_ratio``.
    """

    mass_kg: PositiveFloat = 0.027
    arm_m: PositiveFloat = 0.0397
    kf_n_per_rpm2: PositiveFloat = 3.16e-10
    km_nm_per_rpm2: PositiveFloat = 7.94e-12
    ixx_kg_m2: PositiveFloat = 1.4e-5
    iyy_kg_m2: PositiveFloat = 1.4e-5
    izz_kg_m2: PositiveFloat = 2.17e-5
    thrust_to_weight: float = pydantic.Field(default=2.25, gt=1.0)
    min_rpm: NonNegativeFloat = 0.0
    # Brushed 7x16 mm motors with 45 mm props: published step responses rise in a few tens of ms.
    motor_tau_s: PositiveFloat = 0.03
    drag_xy_n_s_per_m: NonNegativeFloat = 0.0056
    drag_z_n_s_per_m: NonNegativeFloat = 0.0062
    prop_radius_m: PositiveFloat = 0.0231
    ground_effect_coeff: NonNegativeFloat = 11.37
    ground_effect_max_ratio: float = pydantic.Field(default=1.5, ge=1.0)
    collision_radius_m: PositiveFloat = 0.07
    gravity_mps2: PositiveFloat = 9.81

    @property
    def weight_n(self) -> float:
        """Weight in N."""
        return self.mass_kg * self.gravity_mps2

    @property
    def hover_rpm(self) -> float:
        """Rotor speed (rpm) at which four motors carry the weight, out of ground effect."""
        return math.sqrt(self.weight_n / (4.0 * self.kf_n_per_rpm2))

    @property
    def max_rpm(self) -> float:
        """Top rotor speed (rpm), derived from the thrust-to-weight ratio."""
        return self.hover_rpm * math.sqrt(self.thrust_to_weight)

    @pydantic.model_validator(mode="after")
    def _check_rpm_range(self) -> DroneParams:
        if self.min_rpm >= self.hover_rpm:
            raise ValueError(f"min_rpm {self.min_rpm} must be below hover rpm {self.hover_rpm:.0f}")
        return self


class PidGains(StrictModel):
    """One firmware PID (``pid.c``): ``out = kp e + kd d(-measured)/dt + ki ∫e dt + kff desired``.

    The derivative acts on the measurement, low-passed by the firmware's 2nd-order Butterworth at ``d_filter_hz``
    (0: off); the integral is clipped to ``±i_limit`` (0: unlimited).
    """

    kp: NonNegativeFloat
    ki: NonNegativeFloat = 0.0
    kd: NonNegativeFloat = 0.0
    kff: float = 0.0
    i_limit: NonNegativeFloat = 5000.0
    d_filter_hz: NonNegativeFloat = 0.0


ThrustMap = Literal["battery_compensated", "linear"]

# crazyflie-firmware platform_defaults_cf2.h, CONFIG_CRAZYFLIE_21_PLUS: thrust (N) of one motor = c0 + c1 v + c2 v²
# + c3 v³ at motor voltage v.
_CF21_PLUS_VMOTOR_TO_THRUST = (-0.02476537915958403, 0.06523793527519485, -0.026792504967750107, 0.006776789303971145)


class ControllerParams(StrictModel):
    """The Crazyflie PID cascade and motor command path, in firmware units (degrees, deg/s, m/s, 16-bit PWM).

    Defaults are crazyflie-firmware's cf2 platform defaults (``platform_defaults.h``, ``platform_defaults_cf2.h``,
    ``position_controller_pid.c``; commit 2a18fc29). Angles follow the body FLU convention (positive pitch tilts
    the nose down and accelerates forward); the firmware's inverted pitch sign is absorbed in the mixer. Loop rates
    must divide the physics rate.

    ``thrust_map`` picks how a motor command becomes thrust:
        ``battery_compensated`` (the CF2 default, ``CONFIG_ENABLE_THRUST_BAT_COMPENSATED``): a command is a thrust
        request of ``cmd / 65535 · thrust_max_n`` per motor; the firmware turns it into the duty ratio that makes
        that thrust at ``battery_voltage_v`` by inverting the cubic voltage-thrust fit ``vmotor_to_thrust``, and
        the motor makes ``vmotor_to_thrust(ratio · battery_voltage_v)``. Requests under ``thrust_min_n`` stop the
        motor.
        ``linear``: the duty ratio maps linearly to rotor speed, ``rpm = pwm_to_rpm_scale · pwm +
        pwm_to_rpm_offset`` (Förster 2015, for a Crazyflie 2.0 without compensation; set ``thrust_base_pwm``
        to the drone's hover command, 38750 for the default drone).
    """

    position_rate_hz: PositiveFloat = 100.0
    attitude_rate_hz: PositiveFloat = 500.0
    roll_rate: PidGains = PidGains(kp=250.0, ki=500.0, kd=2.5, i_limit=33.3)
    pitch_rate: PidGains = PidGains(kp=250.0, ki=500.0, kd=2.5, i_limit=33.3)
    yaw_rate: PidGains = PidGains(kp=120.0, ki=16.7, kd=0.0, i_limit=166.7)
    roll: PidGains = PidGains(kp=6.0, ki=3.0, kd=0.0, i_limit=20.0)
    pitch: PidGains = PidGains(kp=6.0, ki=3.0, kd=0.0, i_limit=20.0)
    yaw: PidGains = PidGains(kp=6.0, ki=1.0, kd=0.35, i_limit=360.0)
    vel_x: PidGains = PidGains(kp=25.0, ki=1.0, d_filter_hz=20.0)
    vel_y: PidGains = PidGains(kp=25.0, ki=1.0, d_filter_hz=20.0)
    vel_z: PidGains = PidGains(kp=25.0, ki=15.0, d_filter_hz=20.0)
    pos_z: PidGains = PidGains(kp=2.0, ki=0.5, d_filter_hz=20.0)
    # Attitude setpoints are clipped to the tilt limit; the velocity PIDs' outputs to the limit times the overhead.
    tilt_limit_deg: float = pydantic.Field(default=20.0, gt=0.0, lt=90.0)
    tilt_limit_overhead: float = pydantic.Field(default=1.1, ge=1.0)
    # The height PID's output limit: the firmware's max(zVelMax, 0.5) · velMaxOverhead = max(1.0, 0.5) · 1.1.
    vz_limit_mps: PositiveFloat = 1.1
    thrust_scale_pwm: PositiveFloat = 1000.0
    # Feed-forward thrust command, about the hover command of a 27 g drone under the battery-compensated map.
    thrust_base_pwm: PositiveFloat = 36000.0
    thrust_min_pwm: NonNegativeFloat = 20000.0
    # Motor floor after the saturation shift (CONFIG_MOTORS_DEFAULT_IDLE_THRUST when arming is required; else 0).
    idle_thrust_pwm: pydantic.NonNegativeInt = 0
    thrust_map: ThrustMap = "battery_compensated"
    thrust_max_n: PositiveFloat = 0.12
    thrust_min_n: NonNegativeFloat = 0.012817578393224994
    vmotor_to_thrust: tuple[float, float, float, float] = _CF21_PLUS_VMOTOR_TO_THRUST
    battery_voltage_v: float = pydantic.Field(default=3.8, ge=2.0, le=4.35)
    pwm_to_rpm_scale: PositiveFloat = 0.2685
    pwm_to_rpm_offset: float = 4070.3

    @pydantic.field_validator("vmotor_to_thrust")
    @classmethod
    def _check_cubic(cls, value: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        if value[3] == 0.0:
            raise ValueError("the cubic coefficient must be non-zero (the firmware inverts the cubic in closed form)")
        return value


class QuadrotorConfig(StrictModel):
    """A complete flight model: the drone, its inner controller and the physics rate."""

    drone: DroneParams = DroneParams()
    controller: ControllerParams = ControllerParams()
    physics_rate_hz: PositiveFloat = 500.0

    @pydantic.model_validator(mode="after")
    def _check_rates(self) -> QuadrotorConfig:
        for name in ("position_rate_hz", "attitude_rate_hz"):
            rate = getattr(self.controller, name)
            ratio = self.physics_rate_hz / rate
            if rate > self.physics_rate_hz or abs(ratio - round(ratio)) > 1e-9:
                raise ValueError(f"controller.{name} {rate} must divide physics_rate_hz {self.physics_rate_hz}")
        return self


def load_quadrotor_config(path: str | Path | None = None) -> QuadrotorConfig:
    """Load a flight model YAML/JSON file (the packaged Crazyflie 2.x defaults if ``path`` is None).

    Raises:
        ConfigError: The file is missing or malformed; the message names the field.
    """
    return load_model(QuadrotorConfig, DEFAULT_MODEL_PATH if path is None else path)


def load_drone_params(path: str | Path | None = None) -> DroneParams:
    """Load the ``drone`` section of a flight model file (see :func:`load_quadrotor_config`)."""
    return load_quadrotor_config(path).drone


def load_controller_params(path: str | Path | None = None) -> ControllerParams:
    """Load the ``controller`` section of a flight model file (see :func:`load_quadrotor_config`)."""
    return load_quadrotor_config(path).controller


class DroneParamArrays:
    """Per-drone copies of every :class:`DroneParams` field, each an array of shape (N,), plus derived arrays.

    Attributes have the field names (``mass_kg``, ``motor_tau_s``...). Derived, kept in sync by :meth:`assign`
    and :meth:`update`: ``inertia`` (N, 3) diagonal in kg·m², ``inv_inertia`` (N, 3), ``hover_rpm`` and
    ``max_rpm`` (N,), ``lever_m`` (N,) = arm / sqrt(2).
    """

    FIELDS: tuple[str, ...] = tuple(DroneParams.model_fields)

    # One (N,) array per DroneParams field (set by name in __init__; a test checks the two lists agree).
    mass_kg: np.ndarray
    arm_m: np.ndarray
    kf_n_per_rpm2: np.ndarray
    km_nm_per_rpm2: np.ndarray
    ixx_kg_m2: np.ndarray
    iyy_kg_m2: np.ndarray
    izz_kg_m2: np.ndarray
    thrust_to_weight: np.ndarray
    min_rpm: np.ndarray
    motor_tau_s: np.ndarray
    drag_xy_n_s_per_m: np.ndarray
    drag_z_n_s_per_m: np.ndarray
    prop_radius_m: np.ndarray
    ground_effect_coeff: np.ndarray
    ground_effect_max_ratio: np.ndarray
    collision_radius_m: np.ndarray
    gravity_mps2: np.ndarray

    def __init__(self, n: int, params: DroneParams | None = None) -> None:
        params = params or DroneParams()
        self.n = n
        for name in self.FIELDS:
            setattr(self, name, np.full(n, float(getattr(params, name))))
        self.inertia = np.empty((n, 3))
        self.inv_inertia = np.empty((n, 3))
        self.hover_rpm = np.empty(n)
        self.max_rpm = np.empty(n)
        self.lever_m = np.empty(n)
        self._derive(slice(None))

    def assign(self, indices: Any, params: DroneParams | Sequence[DroneParams]) -> None:
        """Give drones ``indices`` the values of one ``params`` or of one ``params`` each."""
        idx = np.atleast_1d(np.arange(self.n)[indices])
        many = [params] * len(idx) if isinstance(params, DroneParams) else list(params)
        if len(many) != len(idx):
            raise ValueError(f"got {len(many)} parameter sets for {len(idx)} drones")
        for name in self.FIELDS:
            getattr(self, name)[idx] = [getattr(p, name) for p in many]
        self._derive(idx)

    def update(self, indices: Any, **values: Any) -> None:
        """Set fields for drones ``indices`` from scalars or arrays (fast path for domain randomization).

        Raises:
            ConfigError: An unknown field name or a non-positive value where a positive one is required.
        """
        idx = np.atleast_1d(np.arange(self.n)[indices])
        for name, value in values.items():
            if name not in self.FIELDS:
                raise ConfigError(f"DroneParamArrays.update: {name}: unknown field")
            value = np.broadcast_to(np.asarray(value, dtype=float), idx.shape)
            lower, strict = _LOWER_BOUNDS.get(name, (0.0, True))
            if np.any(value <= lower) if strict else np.any(value < lower):
                raise ConfigError(f"DroneParamArrays.update: {name}: must be {'>' if strict else '>='} {lower}")
            getattr(self, name)[idx] = value
        self._derive(idx)

    def params_of(self, i: int) -> DroneParams:
        """Return drone ``i``'s parameters as a validated :class:`DroneParams`."""
        return DroneParams(**{name: float(getattr(self, name)[i]) for name in self.FIELDS})

    def _derive(self, idx: Any) -> None:
        self.inertia[idx] = np.stack([self.ixx_kg_m2[idx], self.iyy_kg_m2[idx], self.izz_kg_m2[idx]], axis=-1)
        self.inv_inertia[idx] = 1.0 / self.inertia[idx]
        self.hover_rpm[idx] = np.sqrt(self.mass_kg[idx] * self.gravity_mps2[idx] / (4.0 * self.kf_n_per_rpm2[idx]))
        self.max_rpm[idx] = self.hover_rpm[idx] * np.sqrt(self.thrust_to_weight[idx])
        self.lever_m[idx] = self.arm_m[idx] / math.sqrt(2.0)


# (bound, strict) per field; fields not listed must be > 0. Mirrors the pydantic constraints above.
_LOWER_BOUNDS = {
    "min_rpm": (0.0, False),
    "drag_xy_n_s_per_m": (0.0, False),
    "drag_z_n_s_per_m": (0.0, False),
    "ground_effect_coeff": (0.0, False),
    "ground_effect_max_ratio": (1.0, False),
    "thrust_to_weight": (1.0, True),
}
