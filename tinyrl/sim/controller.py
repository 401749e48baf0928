"""The Crazyflie inner loop (firmware ``controller_pid``), stage by stage, vectorized over N drones.

hover setpoint → height PID (100 Hz) → velocity PIDs (100 Hz) → attitude PIDs (500 Hz) → rate PIDs (500 Hz)
→ int16 outputs → legacy quad-X mixer → thrust map (battery-compensated thrust request) → saturation shift → motor
PWM → rotor-speed commands. The arithmetic follows crazyflie-firmware's ``pid.c``, ``position_controller_pid.c``,
``attitude_pid_controller.c``, ``controller_pid.c``, ``power_distribution_quadrotor.c`` and the stabilizer's
battery compensation (``motors.c``), checked against recordings of those files (``tests/data``,
``scripts/record_firmware_controller.py``). Like the firmware, the loops run on a shared tick counter: at 500 Hz
physics the position loop runs on every 5th physics step and each loop holds its output in between.

Units are the firmware's (degrees, deg/s, 16-bit PWM); the drone state is read in SI units. Angles and rates are in
the body FLU convention: positive pitch tilts the nose down. The firmware keeps pitch with the opposite sign (its
legacy convention); every pitch quantity here is the negative of the firmware's, and the mixer takes that into
account, so motor commands are the firmware's exactly.

Modes (``setpoints`` shape (N, 4)); switching modes reinitializes the PIDs, as the firmware does:
    ``hover``: body-frame vx, vy in m/s, yaw rate in deg/s (positive counter-clockwise seen from above, as in the
    firmware's ``setpoint_t.attitudeRate.yaw``), absolute height z in m (the generic commander's hover packet).
    ``level``: what the supervisor flies 500 ms after the last setpoint (``supervisorOverrideSetpoint``): level
    attitude, no yaw rate, the setpoint's height held.
    ``off``: the null setpoint the supervisor sends 2 s after the last one: motors stopped.
    ``rates``: collective thrust in N, roll, pitch, yaw body rates in deg/s (a TinyRL mode for tests and tools: it
    feeds the rate loop directly).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinyrl.sim.dynamics import RigidBodyState
from tinyrl.sim.params import ControllerParams, PidGains, QuadrotorConfig
from tinyrl.sim.rotation import quat_to_euler

#: Largest int16 magnitude the rate loop outputs (``saturateSignedInt16`` avoids INT16_MIN).
INT16_LIMIT = 32767.0
#: Full-scale motor command, ``UINT16_MAX``.
PWM_FULL_SCALE = 65535.0
#: Motor requests 0 .. this - 1 have a precomputed duty ratio: thrust at most 65535 plus the mixer's largest
#: roll, pitch and yaw shares (16383 + 16383 + 32767) stays below it.
REQUEST_TABLE_SIZE = 131072

# Columns of CascadeController.held: what the loops hold between runs.
HELD_ATTITUDE, HELD_RATE, HELD_VZ, HELD_THRUST = slice(0, 3), slice(3, 6), 6, 7
HELD_RATE_OUT, HELD_REQUEST, HELD_PWM, HELD_RPM = slice(8, 11), slice(11, 15), slice(15, 19), slice(19, 23)
N_HELD = 23

# Fields of a bank's per-drone PID state (N, 4, K): integral, previous measurement, two D-filter delays.
_INTEG, _PREV, _D1, _D2 = range(4)


def lpf2p_coefficients(sample_rate_hz: float, cutoff_hz: float) -> tuple[float, float, float, float, float]:
    """The firmware's second-order Butterworth low-pass (``filter.c`` ``lpf2pSetCutoffFreq``): b0, b1, b2, a1, a2."""
    ohm = math.tan(math.pi / (sample_rate_hz / cutoff_hz))
    c = 1.0 + 2.0 * math.cos(math.pi / 4.0) * ohm + ohm * ohm
    b0 = ohm * ohm / c
    return b0, 2.0 * b0, b0, 2.0 * (ohm * ohm - 1.0) / c, (1.0 - 2.0 * math.cos(math.pi / 4.0) * ohm + ohm * ohm) / c


def wrap_once_deg(angle: np.ndarray) -> np.ndarray:
    """``pid.c``'s yaw wrap: one turn added or removed outside ±180 deg (arrays of any shape)."""
    return np.where(angle > 180.0, angle - 360.0, np.where(angle < -180.0, angle + 360.0, angle))


def cap_angle_deg(angle: np.ndarray) -> np.ndarray:
    """``controller_pid.c``'s ``capAngle``: into [-180, 180] deg by whole turns."""
    out = np.asarray(angle, dtype=float).copy()
    while np.any(out > 180.0):
        out = np.where(out > 180.0, out - 360.0, out)
    while np.any(out < -180.0):
        out = np.where(out < -180.0, out + 360.0, out)
    return out


def saturate_int16(x: np.ndarray) -> np.ndarray:
    """``saturateSignedInt16``: clip to ±32767, then truncate toward zero (float array of integer values)."""
    return np.trunc(np.minimum(np.maximum(x, -INT16_LIMIT), INT16_LIMIT))


class PidBank:
    """K independent firmware PIDs (``pid.c``) for N drones; inputs and outputs are (N, K).

    The derivative acts on the measurement (no kick on setpoint steps), optionally low-passed; the integral is
    clipped to ``±i_limit``; the output to ``±output_limit`` where that is non-zero. ``wrap`` marks yaw-angle
    axes, whose error and measurement delta are wrapped into ±180 deg.
    """

    def __init__(
        self,
        n: int,
        gains: Sequence[PidGains],
        dt_s: float,
        output_limit: Sequence[float] | None = None,
        wrap: Sequence[bool] | None = None,
        state: np.ndarray | None = None,
    ) -> None:
        k = len(gains)
        self.kp = np.array([g.kp for g in gains])
        self.ki = np.array([g.ki for g in gains])
        self.kd = np.array([g.kd for g in gains])
        self.kff = np.array([g.kff for g in gains])
        self.i_limit = np.array([g.i_limit for g in gains])
        self.output_limit = np.zeros(k) if output_limit is None else np.asarray(output_limit, dtype=float)
        self.wrap = np.zeros(k, dtype=bool) if wrap is None else np.asarray(wrap, dtype=bool)
        self.filter_on = np.array([g.d_filter_hz > 0.0 for g in gains])
        #: Biquad coefficients (5, K): b0, b1, b2, a1, a2 (zeros where the filter is off).
        self.filter = np.zeros((5, k))
        for j, g in enumerate(gains):
            if g.d_filter_hz > 0.0:
                self.filter[:, j] = lpf2p_coefficients(1.0 / dt_s, g.d_filter_hz)
        self.dt_s = dt_s
        #: Per-drone state (N, 4, K): integral, previous measurement, D-filter delays 1 and 2 (may be a view).
        self.state = np.zeros((n, 4, k)) if state is None else state

    @property
    def integral(self) -> np.ndarray:
        """Integrators (N, K), a view."""
        return self.state[:, _INTEG]

    def update(self, desired: np.ndarray, measured: np.ndarray) -> np.ndarray:
        """Advance one loop period toward ``desired`` (N, K) from ``measured`` (N, K); return the outputs (N, K)."""
        s = self.state
        error = desired - measured
        delta = -(measured - s[:, _PREV])
        if self.wrap.any():
            error = np.where(self.wrap, wrap_once_deg(error), error)
            delta = np.where(self.wrap, wrap_once_deg(delta), delta)
        deriv = delta / self.dt_s
        if self.filter_on.any():
            deriv = np.where(self.filter_on, self._lowpass(deriv), deriv)
        deriv = np.where(np.isnan(deriv), 0.0, deriv)
        s[:, _INTEG] += error * self.dt_s
        limited = self.i_limit != 0.0
        s[:, _INTEG] = np.where(
            limited, np.minimum(np.maximum(s[:, _INTEG], -self.i_limit), self.i_limit), s[:, _INTEG]
        )
        output = ((self.kp * error + self.kd * deriv) + self.ki * s[:, _INTEG]) + self.kff * desired
        bounded = self.output_limit != 0.0
        output = np.where(bounded, np.minimum(np.maximum(output, -self.output_limit), self.output_limit), output)
        s[:, _PREV] = measured
        return output

    def _lowpass(self, sample: np.ndarray) -> np.ndarray:
        # lpf2pApply; only called when some axis filters, and only those axes' results are kept.
        b0, b1, b2, a1, a2 = self.filter
        s = self.state
        d0 = sample - s[:, _D1] * a1 - s[:, _D2] * a2
        d0 = np.where(np.isfinite(d0), d0, sample)
        out = d0 * b0 + s[:, _D1] * b1 + s[:, _D2] * b2
        s[:, _D2] = np.where(self.filter_on, s[:, _D1], s[:, _D2])
        s[:, _D1] = np.where(self.filter_on, d0, s[:, _D1])
        return out

    def reset(self, indices: Any, measured: np.ndarray | float = 0.0) -> None:
        """``pidReset`` + ``filterReset`` of drones ``indices``: integrals and filters cleared, measurement held."""
        self.state[indices] = 0.0
        self.state[indices, _PREV] = measured


def motor_thrust_n(pwm: np.ndarray, params: ControllerParams) -> np.ndarray:
    """Thrust (N) a motor makes at duty ratio ``pwm`` (0..65535) on the battery: the motor's voltage-thrust fit."""
    c0, c1, c2, c3 = params.vmotor_to_thrust
    v = pwm / PWM_FULL_SCALE * params.battery_voltage_v
    return np.maximum(((c0 + c1 * v) + c2 * v * v) + c3 * v * v * v, 0.0)


def compensate_battery(request: np.ndarray, params: ControllerParams) -> np.ndarray:
    """``motorsCompensateBatteryVoltage``: thrust requests (int32 values) → duty ratios (int32 values, uncapped).

    A request is a thrust of ``request / 65535 · thrust_max_n``; the duty ratio is the motor voltage that makes it
    (the inverse of the cubic voltage-thrust fit, in closed form as the firmware has it) over the battery voltage.
    Requests below ``thrust_min_n`` give 0 (motor off).
    """
    c0, c1, c2, c3 = params.vmotor_to_thrust
    thrust = request / PWM_FULL_SCALE * params.thrust_max_n
    p = -c2 / (3.0 * c3)
    q = p * p * p + (c2 * c1 - 3.0 * c3 * (c0 - thrust)) / (6.0 * c3 * c3)
    r = c1 / (3.0 * c3)
    qrp = np.sqrt(q * q + (r - p * p) * (r - p * p) * (r - p * p))
    voltage = (np.cbrt(q + qrp) + np.cbrt(q - qrp)) + p
    ratio = np.trunc(PWM_FULL_SCALE * (voltage / params.battery_voltage_v))
    if params.battery_voltage_v < 2.0:  # the firmware's guard against a broken voltage reading
        return np.zeros_like(ratio)
    return np.where(thrust < params.thrust_min_n, 0.0, ratio)


def legacy_mixer(thrust_pwm: np.ndarray, rate_out: np.ndarray) -> np.ndarray:
    """``powerDistributionLegacy``: thrust (N,) and int16 rate outputs (N, 3; FLU roll, pitch, yaw) → motor requests.

    Returns (N, 4) int32 values. The firmware halves roll and pitch into int16 (truncating), negates the yaw output,
    and sums in float; its pitch is the negative of ours. Zero thrust stops the motors (``controller_pid.c``).
    """
    r = np.trunc(rate_out[:, 0] / 2.0)
    p = np.trunc(-rate_out[:, 1] / 2.0)
    yaw = -rate_out[:, 2]
    t = thrust_pwm
    request = np.stack([((t - r) + p) + yaw, ((t - r) - p) - yaw, ((t + r) - p) + yaw, ((t + r) + p) - yaw], axis=1)
    return np.where((t > 0.0)[:, None], np.trunc(request), 0.0)


def pwm_to_rpm(pwm: np.ndarray, params: ControllerParams, nominal_kf: float) -> np.ndarray:
    """Rotor-speed commands (rpm) for motor duty ratios ``pwm`` (any shape, 0..65535) under ``params.thrust_map``.

    ``battery_compensated``: the speed at which a nominal rotor (``nominal_kf`` N/rpm²) makes the motor's thrust at
    that duty ratio; ``linear``: the linear PWM → rpm fit (0 at zero duty).
    """
    if params.thrust_map == "battery_compensated":
        return np.sqrt(motor_thrust_n(pwm, params) / nominal_kf)
    return np.where(pwm > 0.0, params.pwm_to_rpm_scale * pwm + params.pwm_to_rpm_offset, 0.0)


def cap_motors(ratio: np.ndarray, idle_pwm: float = 0.0) -> np.ndarray:
    """``powerDistributionCap``: shift all four down by the excess of the highest over 65535, floor at idle (N, 4)."""
    highest = np.maximum(ratio.max(axis=1, keepdims=True), 0.0)
    reduction = np.where(highest > PWM_FULL_SCALE, highest - PWM_FULL_SCALE, 0.0)
    return np.maximum(ratio - reduction, idle_pwm)


class CascadeController:
    """Crazyflie PID cascade for N drones; :meth:`update` once per physics step returns rotor-speed commands.

    Attributes (held between loop runs, as the firmware holds them):
        attitude_des_deg: Roll, pitch, yaw setpoints (N, 3), deg (``attitudeDesired``).
        rate_des_dps: Body-rate setpoints (N, 3), deg/s (``rateDesired``).
        vz_des_mps: Climb-rate setpoint of the height loop (N,), m/s.
        thrust_pwm: Collective thrust command (N,), PWM (``actuatorThrust``).
        rate_out: Rate-loop outputs after int16 saturation (N, 3): roll, pitch, yaw.
        motor_request: Mixer outputs (N, 4), int32 values (``motorThrustUncapped``).
        motor_pwm: Motor duty ratios after battery compensation and the saturation shift (N, 4), 0..65535.
        rpm_cmd: Rotor-speed commands (N, 4), rpm.
    """

    def __init__(self, n: int, config: QuadrotorConfig) -> None:
        c = config.controller
        self.params = c
        self.n = n
        self.position_every = round(config.physics_rate_hz / c.position_rate_hz)
        self.attitude_every = round(config.physics_rate_hz / c.attitude_rate_hz)
        self._attitude_dt_s = 1.0 / c.attitude_rate_hz
        position_dt_s = 1.0 / c.position_rate_hz
        tilt_out = c.tilt_limit_deg * c.tilt_limit_overhead
        #: State of every PID (N, bank, field, axis): banks height, velocity, attitude, rate (see :class:`PidBank`).
        self.pid_state = np.zeros((n, 4, 4, 3))
        self._height_pid = PidBank(
            n, [c.pos_z], position_dt_s, output_limit=[c.vz_limit_mps], state=self.pid_state[:, 0, :, :1]
        )
        self._velocity_pid = PidBank(
            n,
            [c.vel_x, c.vel_y, c.vel_z],
            position_dt_s,
            output_limit=[tilt_out, tilt_out, (PWM_FULL_SCALE // 2) / c.thrust_scale_pwm],
            state=self.pid_state[:, 1],
        )
        self._attitude_pid = PidBank(
            n, [c.roll, c.pitch, c.yaw], self._attitude_dt_s, wrap=[False, False, True], state=self.pid_state[:, 2]
        )
        self._rate_pid = PidBank(
            n, [c.roll_rate, c.pitch_rate, c.yaw_rate], self._attitude_dt_s, state=self.pid_state[:, 3]
        )
        # The firmware does not know the true (randomized) drone: it maps motor voltage to speed with the nominal one.
        self._nominal_kf = config.drone.kf_n_per_rpm2
        #: Everything the loops hold between runs (N, :data:`N_HELD`); the named attributes are views into it.
        self.held = np.zeros((n, N_HELD))
        self.attitude_des_deg = self.held[:, HELD_ATTITUDE]
        self.rate_des_dps = self.held[:, HELD_RATE]
        self.vz_des_mps = self.held[:, HELD_VZ]
        self.thrust_pwm = self.held[:, HELD_THRUST]
        self.rate_out = self.held[:, HELD_RATE_OUT]
        self.motor_request = self.held[:, HELD_REQUEST]
        self.motor_pwm = self.held[:, HELD_PWM]
        self.rpm_cmd = self.held[:, HELD_RPM]
        self.thrust_pwm[:] = c.thrust_base_pwm
        self.tick = 0
        self._modes: dict[str, Callable[[RigidBodyState, np.ndarray, np.ndarray, bool, bool], None]] = {
            "hover": self._hover,
            "level": self._level,
            "off": self._off,
            "rates": self._rates,
        }
        self._mode: str | None = None
        self._request_to_pwm: Callable[[np.ndarray], np.ndarray] = {
            "battery_compensated": lambda request: compensate_battery(request, c),
            "linear": lambda request: request,
        }[c.thrust_map]
        self._build_motor_tables()
        self._set_hover_motors(slice(None))

    @property
    def modes(self) -> tuple[str, ...]:
        """Names of the setpoint modes."""
        return tuple(self._modes)

    def reset(self, indices: Any, euler_rad: np.ndarray, pos_m: np.ndarray) -> None:
        """Start drones ``indices`` in a hover: the firmware's reinitialization, yaw setpoint at the current yaw.

        Position and attitude PIDs hold the current measurement (no derivative kick), velocity and rate PIDs
        hold zero; integrals and filters are cleared; the attitude setpoint is the current attitude; thrust and
        motors start at the base thrust.

        Args:
            indices: Which drones.
            euler_rad: Their roll, pitch, yaw (k, 3), rad.
            pos_m: Their positions (k, 3), m.
        """
        euler_deg = np.degrees(np.asarray(euler_rad, dtype=float))
        self._reinitialize(indices, euler_deg, np.asarray(pos_m, dtype=float))
        self.attitude_des_deg[indices, 2] = euler_deg[:, 2]
        self.rate_des_dps[indices] = 0.0
        self.vz_des_mps[indices] = 0.0
        self.thrust_pwm[indices] = self.params.thrust_base_pwm
        self.rate_out[indices] = 0.0
        self._set_hover_motors(indices)

    def _reinitialize(self, indices: Any, euler_deg: np.ndarray, pos_m: np.ndarray) -> None:
        # controllerPidReinitialize: what a change of setpoint mode resets.
        self._height_pid.reset(indices, pos_m[:, 2:3])
        self._velocity_pid.reset(indices, 0.0)
        self._attitude_pid.reset(indices, euler_deg)
        self._rate_pid.reset(indices, 0.0)
        self.attitude_des_deg[indices, :2] = euler_deg[:, :2]

    def enter_mode(self, mode: str, state: RigidBodyState) -> None:
        """Switch every drone to setpoint ``mode``; a change reinitializes the PIDs, as ``controller_pid.c`` does.

        Raises:
            ValueError: Unknown mode.
        """
        if mode not in self._modes:
            raise ValueError(f"unknown controller mode {mode!r}; expected one of {self.modes}")
        if self._mode is not None and mode != self._mode:
            self._reinitialize(slice(None), np.degrees(quat_to_euler(state.quat)), state.pos)
        self._mode = mode

    def _build_motor_tables(self) -> None:
        # Requests and duty ratios are integers, so the thrust map is exact as two tables: request -> duty ratio
        # and duty ratio -> rotor speed, computed once by the formulas (compensate_battery, pwm_to_rpm).
        #: Duty ratio of motor requests 0 .. REQUEST_TABLE_SIZE - 1 (negative requests read entry 0).
        self.ratio_table = self._request_to_pwm(np.arange(REQUEST_TABLE_SIZE, dtype=float))
        #: Rotor-speed command (rpm) of duty ratios 0 .. 65535.
        self.rpm_table = pwm_to_rpm(np.arange(int(PWM_FULL_SCALE) + 1, dtype=float), self.params, self._nominal_kf)

    def _motors(self, request: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Duty ratios and rotor-speed commands (N, 4) for motor requests (N, 4), through the tables."""
        inside = request < REQUEST_TABLE_SIZE
        index = np.clip(request, 0, REQUEST_TABLE_SIZE - 1).astype(np.int64)
        ratio = self.ratio_table[index]
        if not inside.all():  # only a thrust command above full scale gets here
            ratio = np.where(inside, ratio, self._request_to_pwm(request))
        pwm = cap_motors(ratio, self.params.idle_thrust_pwm)
        return pwm, self.rpm_table[pwm.astype(np.int64)]

    def _set_hover_motors(self, indices: Any) -> None:
        # Until the first attitude-loop run the motors hold the base thrust, as after take-off.
        base = np.full((1, 4), self.params.thrust_base_pwm)
        self.motor_request[indices] = base
        pwm, rpm = self._motors(base)
        self.motor_pwm[indices] = pwm
        self.rpm_cmd[indices] = rpm

    def update(self, state: RigidBodyState, setpoints: np.ndarray, mode: str = "hover") -> np.ndarray:
        """Run one physics tick of the cascade and return rotor-speed commands (N, 4) in rpm.

        Args:
            state: Current drone states (true state; the firmware's estimator is assumed perfect).
            setpoints: (N, 4) in the units of ``mode`` (see the module docstring).
            mode: A name from :attr:`modes`.

        Raises:
            ValueError: Unknown mode.
        """
        self.enter_mode(mode, state)
        fly = self._modes[mode]
        run_position = self.tick % self.position_every == 0
        run_attitude = self.tick % self.attitude_every == 0
        if run_position or run_attitude:
            euler_deg = np.degrees(quat_to_euler(state.quat))
            fly(state, euler_deg, setpoints, run_position, run_attitude)
        if run_attitude:
            self._rates_to_motors(state)
        self.tick += 1
        return self.rpm_cmd

    def _hover(
        self, state: RigidBodyState, euler_deg: np.ndarray, sp: np.ndarray, run_position: bool, run_attitude: bool
    ) -> None:
        c = self.params
        if run_attitude:  # a yaw-rate setpoint moves the yaw setpoint
            self.attitude_des_deg[:, 2] = cap_angle_deg(self.attitude_des_deg[:, 2] + sp[:, 2] * self._attitude_dt_s)
        if run_position:
            self.vz_des_mps[:] = self._height_pid.update(sp[:, 3:4], state.pos[:, 2:3])[:, 0]
            yaw = euler_deg[:, 2] * math.pi / 180.0
            cos_yaw, sin_yaw = np.cos(yaw), np.sin(yaw)
            vx, vy = state.vel[:, 0], state.vel[:, 1]
            body_v = np.stack([vx * cos_yaw + vy * sin_yaw, -vx * sin_yaw + vy * cos_yaw, state.vel[:, 2]], axis=1)
            desired = np.stack([sp[:, 0], sp[:, 1], self.vz_des_mps], axis=1)
            out = self._velocity_pid.update(desired, body_v)
            # Forward velocity needs nose-down (+pitch in FLU); leftward velocity needs left-down (-roll).
            tilt = c.tilt_limit_deg
            self.attitude_des_deg[:, 0] = np.minimum(np.maximum(-out[:, 1], -tilt), tilt)
            self.attitude_des_deg[:, 1] = np.minimum(np.maximum(out[:, 0], -tilt), tilt)
            thrust = out[:, 2] * c.thrust_scale_pwm + c.thrust_base_pwm
            thrust = np.maximum(thrust, c.thrust_min_pwm)
            self.thrust_pwm[:] = np.minimum(np.maximum(thrust, 0.0), PWM_FULL_SCALE)
        if run_attitude:
            self.rate_des_dps[:] = self._attitude_pid.update(self.attitude_des_deg, euler_deg)

    def _level(
        self, state: RigidBodyState, euler_deg: np.ndarray, sp: np.ndarray, run_position: bool, run_attitude: bool
    ) -> None:
        # supervisorOverrideSetpoint's level-out: x, y disabled, roll and pitch 0, yaw rate 0, height held. The
        # velocity loop still runs on the stale velocity setpoint; its attitude is overwritten.
        held = sp.copy()
        held[:, 2] = 0.0
        self._hover(state, euler_deg, held, run_position, False)
        if run_attitude:
            self.attitude_des_deg[:, :2] = 0.0
            self.rate_des_dps[:] = self._attitude_pid.update(self.attitude_des_deg, euler_deg)

    def _off(
        self, state: RigidBodyState, euler_deg: np.ndarray, sp: np.ndarray, run_position: bool, run_attitude: bool
    ) -> None:
        # The null setpoint: zero thrust; controller_pid.c then zeroes the outputs and reinitializes every tick.
        self.thrust_pwm[:] = 0.0
        self._reinitialize(slice(None), euler_deg, state.pos)
        self.attitude_des_deg[:, 2] = euler_deg[:, 2]
        self.rate_des_dps[:] = 0.0

    def _rates(
        self, state: RigidBodyState, euler_deg: np.ndarray, sp: np.ndarray, run_position: bool, run_attitude: bool
    ) -> None:
        self.thrust_pwm[:] = self.collective_to_pwm(sp[:, 0])
        self.rate_des_dps[:] = sp[:, 1:4]
        # Track the current attitude so a switch back to hover starts from where the drone is.
        self.attitude_des_deg[:] = euler_deg
        self.attitude_des_deg[:, :2] = 0.0

    def collective_to_pwm(self, thrust_n: np.ndarray) -> np.ndarray:
        """Thrust command (PWM) that asks for a collective thrust ``thrust_n`` (N,) N from the nominal drone."""
        c = self.params
        per_motor_n = np.maximum(thrust_n, 0.0) / 4.0
        if c.thrust_map == "battery_compensated":
            pwm = per_motor_n / c.thrust_max_n * PWM_FULL_SCALE
        else:
            pwm = (np.sqrt(per_motor_n / self._nominal_kf) - c.pwm_to_rpm_offset) / c.pwm_to_rpm_scale
        return np.minimum(np.maximum(pwm, 0.0), PWM_FULL_SCALE)

    def _rates_to_motors(self, state: RigidBodyState) -> None:
        out = self._rate_pid.update(self.rate_des_dps, np.degrees(state.omega))
        self.rate_out[:] = np.where((self.thrust_pwm > 0.0)[:, None], saturate_int16(out), 0.0)
        self.motor_request[:] = legacy_mixer(self.thrust_pwm, self.rate_out)
        self.motor_pwm[:], self.rpm_cmd[:] = self._motors(self.motor_request)
