"""Compiled (numba) policy period: firmware PID cascade, motors and rigid-body dynamics of N drones in one call.

:func:`policy_period` is the loop of :meth:`tinyrl.sim.drone.Quadrotors.step` (``controller.update`` →
``step_motors`` → ``dynamics.step`` for every physics step) written per drone: the outer loop runs over drones,
the inner loop over physics steps; each drone's rigid-body state stays in registers for the whole policy period.
Each stage is a small compiled function inlined into the kernel: :func:`_position_loop` (100 Hz),
:func:`_attitude_loop` or :func:`_rates_setpoint`, :func:`_rate_loop`, :func:`_mixer` and :func:`_thrust_map`
(500 Hz), then :func:`_motor_lag` and :func:`_rigid_body_step` every physics step. The NumPy modules
(:mod:`~tinyrl.sim.controller`, :mod:`~tinyrl.sim.motors`, :mod:`~tinyrl.sim.dynamics`) remain the reference; this
file repeats their arithmetic operation by operation (same formulas, same evaluation order, ``fastmath`` off), so
trajectories agree with NumPy to rounding — bit for bit on this machine, though that is not promised: NumPy's
``einsum`` sums in a SIMD-width dependent order. A drone's result never depends on the batch it is in, since
nothing is shared between iterations of the drone loop.

The kernel's inputs come in four structures, NamedTuples passed as plain tuples: :class:`FlightArrays`, the
arrays it advances in place; :class:`BodyModel`, the step settings and per-drone physical parameters;
:class:`CascadeParams`, the controller's scalar settings (plain values, so passing them to the stages costs
nothing); and :class:`CascadeTables`, its gains and thrust-map tables. Controller state lives in the arrays of
:class:`~tinyrl.sim.controller.CascadeController` (``pid_state``: every PID's integral, previous measurement and
filter delays; ``held``: setpoints, thrust, int16 outputs, motor requests, PWM and rotor-speed commands), so
resetting a subset of drones works the same with either backend.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from tinyrl.sim import motors
from tinyrl.sim.controller import (
    HELD_ATTITUDE,
    HELD_PWM,
    HELD_RATE,
    HELD_RATE_OUT,
    HELD_REQUEST,
    HELD_RPM,
    HELD_THRUST,
    HELD_VZ,
    INT16_LIMIT,
    PWM_FULL_SCALE,
    REQUEST_TABLE_SIZE,
    CascadeController,
)
from tinyrl.sim.dynamics import RigidBodyState
from tinyrl.sim.params import DroneParamArrays

HOVER, RATES = 0, 1
#: Controller modes this kernel implements, by the names of :attr:`CascadeController.modes`.
MODES = {"hover": HOVER, "rates": RATES}

# Fields of the PID gain table (bank, field, axis) built by :func:`gain_table`.
_KP, _KI, _KD, _KFF, _ILIM, _OLIM, _DT, _B0, _B1, _B2, _A1, _A2, _FILTER, _WRAP = range(14)
# Banks, and fields of the PID state (N, bank, field, axis), as in CascadeController.pid_state.
_HEIGHT, _VELOCITY, _ATTITUDE, _RATE = 0, 1, 2, 3
_INTEG, _PREV, _D1, _D2 = 0, 1, 2, 3

# First columns of CascadeController.held.
_H_ATT, _H_RATE, _H_VZ, _H_THRUST = HELD_ATTITUDE.start, HELD_RATE.start, HELD_VZ, HELD_THRUST
_H_OUT, _H_REQ, _H_PWM, _H_RPM = HELD_RATE_OUT.start, HELD_REQUEST.start, HELD_PWM.start, HELD_RPM.start

_MXY = motors.MOTOR_XY.copy()
_YAW = motors.YAW_SIGN.copy()
# np.degrees / np.radians multiply by these constants.
_RAD2DEG = 180.0 / math.pi
_DEG2RAD = math.pi / 180.0
_PWM_FULL = PWM_FULL_SCALE
_INT16 = INT16_LIMIT
_REQUEST_TABLE_SIZE = REQUEST_TABLE_SIZE
# np.sinc's stand-in for 0 (it evaluates sin(pi x) / (pi x) at x = 1e-20 there).
_SINC_ZERO = math.pi * 1.0e-20


class FlightArrays(NamedTuple):
    """The arrays :func:`policy_period` advances in place: the ones the NumPy backend updates (N drones)."""

    pos_m: np.ndarray  # (N, 3) world, m
    vel_mps: np.ndarray  # (N, 3) world, m/s
    quat: np.ndarray  # (N, 4) xyzw, body to world
    omega_rps: np.ndarray  # (N, 3) body, rad/s
    rpm: np.ndarray  # (N, 4) rotor speeds, rpm
    pid_state: np.ndarray  # (N, 4 banks, 4 fields, 3 axes): CascadeController.pid_state
    held: np.ndarray  # (N, N_HELD): CascadeController.held


class BodyModel(NamedTuple):
    """Motor and rigid-body model of N drones: step settings, then per-drone parameters (N,) unless noted."""

    dt_s: float
    drag: bool
    ground_effect: bool
    mass_kg: np.ndarray
    gravity_mps2: np.ndarray
    kf_n_per_rpm2: np.ndarray
    km_nm_per_rpm2: np.ndarray
    lever_m: np.ndarray
    inertia_kg_m2: np.ndarray  # (N, 3) diagonal
    inv_inertia: np.ndarray  # (N, 3), 1 / (kg m²)
    hover_rpm: np.ndarray
    min_rpm: np.ndarray
    max_rpm: np.ndarray
    lag_factor: np.ndarray  # per physics step, from motors.lag_factor
    drag_xy_n_s_per_m: np.ndarray
    drag_z_n_s_per_m: np.ndarray
    prop_radius_m: np.ndarray
    ground_effect_coeff: np.ndarray
    ground_effect_max_ratio: np.ndarray


class CascadeParams(NamedTuple):
    """The scalar settings of a :class:`~tinyrl.sim.controller.CascadeController` that the kernel reads."""

    position_every: int  # physics steps per position-loop run
    attitude_every: int  # physics steps per attitude/rate-loop run
    attitude_dt_s: float
    tilt_limit_deg: float
    thrust_scale_pwm: float  # PWM per unit of the climb-rate PID's output
    thrust_base_pwm: float
    thrust_min_pwm: float
    idle_thrust_pwm: float
    linear_thrust_map: bool  # ControllerParams.thrust_map == "linear"
    thrust_max_n: float
    thrust_min_n: float
    vmotor_to_thrust: tuple[float, float, float, float]  # N at motor voltage v: c0 + c1 v + c2 v² + c3 v³
    battery_voltage_v: float
    pwm_to_rpm_scale: float  # rpm per PWM
    pwm_to_rpm_offset: float  # rpm
    nominal_kf_n_per_rpm2: float


class CascadeTables(NamedTuple):
    """The arrays of a :class:`~tinyrl.sim.controller.CascadeController` that the kernel reads."""

    gains: np.ndarray  # (4 banks, 14 fields, 3 axes) from gain_table
    ratio_table: np.ndarray  # (REQUEST_TABLE_SIZE,) duty ratio of each motor request
    rpm_table: np.ndarray  # (65536,) rotor-speed command (rpm) of each duty ratio


class _Drone(NamedTuple):
    # One drone's parameters, loaded once per policy period so they stay in registers.
    mass_kg: float
    gravity_mps2: float
    kf_n_per_rpm2: float
    km_nm_per_rpm2: float
    lever_m: float
    inertia_kg_m2: tuple[float, float, float]
    inv_inertia: tuple[float, float, float]
    min_rpm: float
    max_rpm: float
    lag_factor: float
    drag_xy_n_s_per_m: float
    drag_z_n_s_per_m: float
    four_hover_rpm: float
    prop_radius_m: float
    ground_effect_coeff: float
    ground_effect_max_ratio: float
    motor_x_m: tuple[float, float, float, float]  # MOTOR_XY[:, 0] * lever
    motor_y_m: tuple[float, float, float, float]  # MOTOR_XY[:, 1] * lever


def gain_table(controller: CascadeController) -> np.ndarray:
    """Gains of a ``CascadeController``'s PID banks: (4 banks, 14 fields, 3 axes), fields as ``_KP``... above."""
    banks = (controller._height_pid, controller._velocity_pid, controller._attitude_pid, controller._rate_pid)
    table = np.zeros((4, 14, 3))
    for b, pid in enumerate(banks):
        k = pid.kp.shape[0]
        table[b, _KP, :k] = pid.kp
        table[b, _KI, :k] = pid.ki
        table[b, _KD, :k] = pid.kd
        table[b, _KFF, :k] = pid.kff
        table[b, _ILIM, :k] = pid.i_limit
        table[b, _OLIM, :k] = pid.output_limit
        table[b, _DT, :] = pid.dt_s
        table[b, _B0 : _A2 + 1, :k] = pid.filter
        table[b, _FILTER, :k] = pid.filter_on
        table[b, _WRAP, :k] = pid.wrap
    return table


def cascade_params(controller: CascadeController) -> tuple:
    """:class:`CascadeParams` of ``controller`` (fixed after its init), as the plain tuple the kernel takes."""
    c = controller.params
    c0, c1, c2, c3 = (float(v) for v in c.vmotor_to_thrust)
    params = CascadeParams(
        position_every=int(controller.position_every),
        attitude_every=int(controller.attitude_every),
        attitude_dt_s=float(controller._attitude_dt_s),
        tilt_limit_deg=float(c.tilt_limit_deg),
        thrust_scale_pwm=float(c.thrust_scale_pwm),
        thrust_base_pwm=float(c.thrust_base_pwm),
        thrust_min_pwm=float(c.thrust_min_pwm),
        idle_thrust_pwm=float(c.idle_thrust_pwm),
        linear_thrust_map=c.thrust_map == "linear",
        thrust_max_n=float(c.thrust_max_n),
        thrust_min_n=float(c.thrust_min_n),
        vmotor_to_thrust=(c0, c1, c2, c3),
        battery_voltage_v=float(c.battery_voltage_v),
        pwm_to_rpm_scale=float(c.pwm_to_rpm_scale),
        pwm_to_rpm_offset=float(c.pwm_to_rpm_offset),
        nominal_kf_n_per_rpm2=float(controller._nominal_kf),
    )
    return tuple(params)


def cascade_tables(controller: CascadeController) -> tuple:
    """:class:`CascadeTables` of ``controller`` (fixed after its init), as the plain tuple the kernel takes."""
    tables = CascadeTables(
        gains=gain_table(controller), ratio_table=controller.ratio_table, rpm_table=controller.rpm_table
    )
    return tuple(tables)


def body_model(params: DroneParamArrays, dt_s: float, drag: bool, ground_effect: bool) -> tuple:
    """:class:`BodyModel` for physics steps of ``dt_s`` s (``params``' arrays, not copies), as the kernel's plain tuple.

    Built every policy period, so as a tuple directly, in the field order of :class:`BodyModel` (a NamedTuple costs
    ~1 us more to build).
    """
    p = params
    return (
        float(dt_s),
        bool(drag),
        bool(ground_effect),
        p.mass_kg,
        p.gravity_mps2,
        p.kf_n_per_rpm2,
        p.km_nm_per_rpm2,
        p.lever_m,
        p.inertia,
        p.inv_inertia,
        p.hover_rpm,
        p.min_rpm,
        p.max_rpm,
        # NumPy's expm1 and libm's differ in the last bit: computed here, with the reference's function.
        motors.lag_factor(p.motor_tau_s, dt_s),
        p.drag_xy_n_s_per_m,
        p.drag_z_n_s_per_m,
        p.prop_radius_m,
        p.ground_effect_coeff,
        p.ground_effect_max_ratio,
    )


def flight_arrays(state: RigidBodyState, controller: CascadeController) -> tuple:
    """:class:`FlightArrays` of ``state`` and ``controller`` (the arrays, not copies), as the kernel's plain tuple."""
    return (state.pos, state.vel, state.quat, state.omega, state.rpm, controller.pid_state, controller.held)


# ---------------------------------------------------------------------------------------------------- scalar helpers
@njit(cache=True, error_model="numpy", inline="always")
def _clip(x, low, high):
    # np.minimum(np.maximum(x, low), high), NaN passing through as in NumPy.
    if x < low:
        x = low
    if x > high:
        x = high
    return x


@njit(cache=True, error_model="numpy", inline="always")
def _wrap_once(angle):
    # controller.wrap_once_deg
    if angle > 180.0:
        return angle - 360.0
    if angle < -180.0:
        return angle + 360.0
    return angle


@njit(cache=True, error_model="numpy", inline="always")
def _cap_angle(angle):
    # controller.cap_angle_deg
    while angle > 180.0:
        angle -= 360.0
    while angle < -180.0:
        angle += 360.0
    return angle


@njit(cache=True, error_model="numpy", inline="always")
def _saturate_int16(x):
    return np.trunc(_clip(x, -_INT16, _INT16))


# ------------------------------------------------------------------------------------------------------- controller
# The stages take the controller settings ``cp`` (CascadeParams), the gain table ``gains`` (4 banks, 14 fields, 3 axes),
# and one drone's PID state ``st`` (4 banks, 4 fields, 3 axes) and held row ``h`` (N_HELD,), which they update.
@njit(cache=True, error_model="numpy", inline="always")
def _pid(g, b, a, st, desired, measured):
    """One ``PidBank.update`` of bank ``b``, axis ``a``: gains ``g`` (bank, field, axis), state ``st`` of one drone.

    ``st`` is (bank, field, axis), updated in place; returns the PID output in the bank's units.
    """
    error = desired - measured
    delta = -(measured - st[b, _PREV, a])
    if g[b, _WRAP, a] != 0.0:
        error = _wrap_once(error)
        delta = _wrap_once(delta)
    dt = g[b, _DT, a]
    deriv = delta / dt
    if g[b, _FILTER, a] != 0.0:
        d1, d2 = st[b, _D1, a], st[b, _D2, a]
        d0 = (deriv - d1 * g[b, _A1, a]) - d2 * g[b, _A2, a]
        if not math.isfinite(d0):
            d0 = deriv
        deriv = (d0 * g[b, _B0, a] + d1 * g[b, _B1, a]) + d2 * g[b, _B2, a]
        st[b, _D2, a] = d1
        st[b, _D1, a] = d0
    if math.isnan(deriv):
        deriv = 0.0
    integ = st[b, _INTEG, a] + error * dt
    limit = g[b, _ILIM, a]
    if limit != 0.0:
        integ = _clip(integ, -limit, limit)
    st[b, _INTEG, a] = integ
    out = ((g[b, _KP, a] * error + g[b, _KD, a] * deriv) + g[b, _KI, a] * integ) + g[b, _KFF, a] * desired
    limit = g[b, _OLIM, a]
    if limit != 0.0:
        out = _clip(out, -limit, limit)
    st[b, _PREV, a] = measured
    return out


@njit(cache=True, error_model="numpy", inline="always")
def _euler_deg(quat):
    """Roll, pitch, yaw (deg) of an xyzw quaternion (4-tuple): ``rotation.quat_to_euler`` then ``np.degrees``."""
    qx, qy, qz, qw = quat
    roll = math.atan2(2.0 * (qw * qx + qy * qz), 1.0 - 2.0 * (qx * qx + qy * qy)) * _RAD2DEG
    pitch = math.asin(_clip(2.0 * (qw * qy - qz * qx), -1.0, 1.0)) * _RAD2DEG
    yaw = math.atan2(2.0 * (qw * qz + qx * qy), 1.0 - 2.0 * (qy * qy + qz * qz)) * _RAD2DEG
    return roll, pitch, yaw


@njit(cache=True, error_model="numpy", inline="always")
def _position_loop(cp, gains, st, h, sp, yaw_deg, vel, z_m):
    """``positionController`` + ``velocityController`` (100 Hz) of one drone, hover mode.

    ``sp`` the hover setpoint (4,): body vx, vy (m/s), yaw rate (deg/s), height (m); ``vel`` world velocity
    (3-tuple, m/s); ``z_m`` height. Writes climb rate (m/s), roll and pitch setpoints (deg) and thrust (PWM) to the
    held row ``h``; ``st`` is the drone's PID state (bank, field, axis).
    """
    vx, vy, vz = vel
    vz_des = _pid(gains, _HEIGHT, 0, st, sp[3], z_m)
    h[_H_VZ] = vz_des
    yaw = yaw_deg * math.pi / 180.0
    cos_yaw, sin_yaw = math.cos(yaw), math.sin(yaw)
    bvx = vx * cos_yaw + vy * sin_yaw
    bvy = -vx * sin_yaw + vy * cos_yaw
    ox = _pid(gains, _VELOCITY, 0, st, sp[0], bvx)
    oy = _pid(gains, _VELOCITY, 1, st, sp[1], bvy)
    oz = _pid(gains, _VELOCITY, 2, st, vz_des, vz)
    # Forward velocity needs nose-down (+pitch in FLU); leftward velocity needs left-down (-roll).
    tilt = cp.tilt_limit_deg
    h[_H_ATT + 0] = _clip(-oy, -tilt, tilt)
    h[_H_ATT + 1] = _clip(ox, -tilt, tilt)
    thrust = oz * cp.thrust_scale_pwm + cp.thrust_base_pwm
    thrust = max(thrust, cp.thrust_min_pwm)
    h[_H_THRUST] = _clip(thrust, 0.0, _PWM_FULL)


@njit(cache=True, error_model="numpy", inline="always")
def _attitude_loop(cp, gains, st, h, yaw_rate_dps, euler_deg):
    """``attitudeControllerCorrectAttitudePID`` (500 Hz) of one drone, hover mode.

    Moves the held yaw setpoint by ``yaw_rate_dps`` (deg/s) over one attitude period, then runs the attitude PIDs
    from the held roll, pitch, yaw setpoints (deg) and the measured ``euler_deg`` (3-tuple, deg); writes the body
    rate setpoints (deg/s) to ``h``.
    """
    roll, pitch, yaw = euler_deg
    h[_H_ATT + 2] = _cap_angle(h[_H_ATT + 2] + yaw_rate_dps * cp.attitude_dt_s)
    h[_H_RATE + 0] = _pid(gains, _ATTITUDE, 0, st, h[_H_ATT + 0], roll)
    h[_H_RATE + 1] = _pid(gains, _ATTITUDE, 1, st, h[_H_ATT + 1], pitch)
    h[_H_RATE + 2] = _pid(gains, _ATTITUDE, 2, st, h[_H_ATT + 2], yaw)


@njit(cache=True, error_model="numpy", inline="always")
def _rates_setpoint(cp, h, sp, yaw_deg):
    """``CascadeController._rates`` of one drone: collective thrust (N) → PWM, body rates (deg/s) → ``h``.

    ``sp`` the rates setpoint (4,): thrust in N, roll, pitch, yaw rates in deg/s; the yaw setpoint tracks the
    measured ``yaw_deg`` so a switch back to hover starts from the current heading.
    """
    per_motor = max(sp[0], 0.0) / 4.0
    if cp.linear_thrust_map:
        pwm = (math.sqrt(per_motor / cp.nominal_kf_n_per_rpm2) - cp.pwm_to_rpm_offset) / cp.pwm_to_rpm_scale
    else:
        pwm = per_motor / cp.thrust_max_n * _PWM_FULL
    h[_H_THRUST] = _clip(pwm, 0.0, _PWM_FULL)
    h[_H_RATE + 0], h[_H_RATE + 1], h[_H_RATE + 2] = sp[1], sp[2], sp[3]
    h[_H_ATT + 0], h[_H_ATT + 1], h[_H_ATT + 2] = 0.0, 0.0, yaw_deg


@njit(cache=True, error_model="numpy", inline="always")
def _rate_loop(gains, st, h, omega):
    """``attitudeControllerCorrectRatePID`` (500 Hz) of one drone: int16 outputs of the rate PIDs into ``h``.

    ``omega`` body rates (3-tuple, rad/s) against the held rate setpoints (deg/s); zero thrust zeroes the outputs,
    as ``controller_pid.c`` does.
    """
    wx, wy, wz = omega
    h[_H_OUT + 0] = _saturate_int16(_pid(gains, _RATE, 0, st, h[_H_RATE + 0], wx * _RAD2DEG))
    h[_H_OUT + 1] = _saturate_int16(_pid(gains, _RATE, 1, st, h[_H_RATE + 1], wy * _RAD2DEG))
    h[_H_OUT + 2] = _saturate_int16(_pid(gains, _RATE, 2, st, h[_H_RATE + 2], wz * _RAD2DEG))
    if h[_H_THRUST] <= 0.0:
        h[_H_OUT + 0], h[_H_OUT + 1], h[_H_OUT + 2] = 0.0, 0.0, 0.0


@njit(cache=True, error_model="numpy", inline="always")
def _mixer(h):
    """``powerDistributionLegacy`` of one drone: held thrust (PWM) and int16 outputs → 4 motor requests in ``h``."""
    r = np.trunc(h[_H_OUT + 0] / 2.0)
    p = np.trunc(-h[_H_OUT + 1] / 2.0)
    yaw = -h[_H_OUT + 2]
    t = h[_H_THRUST]
    h[_H_REQ + 0] = np.trunc(((t - r) + p) + yaw)
    h[_H_REQ + 1] = np.trunc(((t - r) - p) - yaw)
    h[_H_REQ + 2] = np.trunc(((t + r) - p) + yaw)
    h[_H_REQ + 3] = np.trunc(((t + r) + p) - yaw)
    if t <= 0.0:  # zero thrust stops the motors
        for m in range(4):
            h[_H_REQ + m] = 0.0


@njit(cache=True, error_model="numpy", inline="always")
def _request_to_pwm(request, cp):
    """``controller.compensate_battery`` (or the identity for the linear map) of one motor request (PWM units)."""
    if cp.linear_thrust_map:
        return request
    c0, c1, c2, c3 = cp.vmotor_to_thrust
    vbat = cp.battery_voltage_v
    thrust = request / _PWM_FULL * cp.thrust_max_n
    p = -c2 / (3.0 * c3)
    q = p * p * p + (c2 * c1 - 3.0 * c3 * (c0 - thrust)) / (6.0 * c3 * c3)
    r = c1 / (3.0 * c3)
    qrp = math.sqrt(q * q + (r - p * p) * (r - p * p) * (r - p * p))
    voltage = (np.cbrt(q + qrp) + np.cbrt(q - qrp)) + p
    ratio = np.trunc(_PWM_FULL * (voltage / vbat))
    if vbat < 2.0 or thrust < cp.thrust_min_n:
        return 0.0
    return ratio


@njit(cache=True, error_model="numpy", inline="always")
def _thrust_map(cp, ratio_table, rpm_table, h):
    """Thrust map and ``powerDistributionCap`` of one drone: held motor requests → duty ratios (PWM) → rpm commands.

    Reads ``CascadeController``'s tables ``ratio_table`` (REQUEST_TABLE_SIZE,) and ``rpm_table`` (65536,), exact
    for integer requests; writes duty ratios and rotor-speed commands (rpm) to ``h``.
    """
    highest = 0.0
    for m in range(4):
        request = h[_H_REQ + m]
        # Above the table only with a thrust command over full scale: then the formula.
        inside = request < _REQUEST_TABLE_SIZE
        ratio = ratio_table[int(max(request, 0.0))] if inside else _request_to_pwm(request, cp)
        h[_H_PWM + m] = ratio
        highest = max(highest, ratio)
    reduction = highest - _PWM_FULL if highest > _PWM_FULL else 0.0
    for m in range(4):
        pwm = max(h[_H_PWM + m] - reduction, cp.idle_thrust_pwm)
        h[_H_PWM + m] = pwm
        h[_H_RPM + m] = rpm_table[int(pwm)]


# ------------------------------------------------------------------------------------------- motors and rigid body
@njit(cache=True, error_model="numpy", inline="always")
def _load_drone(body, i):
    """Drone ``i``'s parameters from ``body`` (a :class:`BodyModel`), with its motor offsets (m)."""
    lever = body.lever_m[i]
    return _Drone(
        body.mass_kg[i],
        body.gravity_mps2[i],
        body.kf_n_per_rpm2[i],
        body.km_nm_per_rpm2[i],
        lever,
        (body.inertia_kg_m2[i, 0], body.inertia_kg_m2[i, 1], body.inertia_kg_m2[i, 2]),
        (body.inv_inertia[i, 0], body.inv_inertia[i, 1], body.inv_inertia[i, 2]),
        body.min_rpm[i],
        body.max_rpm[i],
        body.lag_factor[i],
        body.drag_xy_n_s_per_m[i],
        body.drag_z_n_s_per_m[i],
        4.0 * body.hover_rpm[i],
        body.prop_radius_m[i],
        body.ground_effect_coeff[i],
        body.ground_effect_max_ratio[i],
        (_MXY[0, 0] * lever, _MXY[1, 0] * lever, _MXY[2, 0] * lever, _MXY[3, 0] * lever),
        (_MXY[0, 1] * lever, _MXY[1, 1] * lever, _MXY[2, 1] * lever, _MXY[3, 1] * lever),
    )


@njit(cache=True, error_model="numpy", inline="always")
def _motor_lag(rpm, rpm_cmd, d):
    """``motors.update_rpm`` of one drone: rotor speeds (4-tuple, rpm) one step toward the clipped commands."""
    r0, r1, r2, r3 = rpm
    lo, hi, factor = d.min_rpm, d.max_rpm, d.lag_factor
    r0 += (_clip(rpm_cmd[0], lo, hi) - r0) * factor
    r1 += (_clip(rpm_cmd[1], lo, hi) - r1) * factor
    r2 += (_clip(rpm_cmd[2], lo, hi) - r2) * factor
    r3 += (_clip(rpm_cmd[3], lo, hi) - r3) * factor
    return r0, r1, r2, r3


@njit(cache=True, error_model="numpy", inline="always")
def _rotation_matrix(quat):
    """``rotation.quat_to_rotmat`` of an xyzw quaternion (4-tuple): the 9 entries R00, R01, ... R22, row-major."""
    qx, qy, qz, qw = quat
    xx, yy, zz = qx * qx, qy * qy, qz * qz
    xy, xz, yz = qx * qy, qx * qz, qy * qz
    qwx, qwy, qwz = qw * qx, qw * qy, qw * qz
    return (
        1.0 - 2.0 * (yy + zz),
        2.0 * (xy - qwz),
        2.0 * (xz + qwy),
        2.0 * (xy + qwz),
        1.0 - 2.0 * (xx + zz),
        2.0 * (yz - qwx),
        2.0 * (xz - qwy),
        2.0 * (yz + qwx),
        1.0 - 2.0 * (xx + yy),
    )


@njit(cache=True, error_model="numpy", inline="always")
def _rotor_thrusts(rpm, z_m, r20, r21, d, ground_effect):
    """``motors.thrusts`` times ``dynamics.ground_effect_ratio``: the 4 rotor thrusts (N) of one drone.

    ``rpm`` rotor speeds (4-tuple); ``z_m`` height; ``r20``, ``r21`` the rotation matrix's z row (world z of body
    x and y), which places each propeller's height.
    """
    r0, r1, r2, r3 = rpm
    kf = d.kf_n_per_rpm2
    t0 = kf * r0 * r0
    t1 = kf * r1 * r1
    t2 = kf * r2 * r2
    t3 = kf * r3 * r3
    if ground_effect:
        mx0, mx1, mx2, mx3 = d.motor_x_m
        my0, my1, my2, my3 = d.motor_y_m
        radius, coeff, cap = d.prop_radius_m, d.ground_effect_coeff, d.ground_effect_max_ratio
        h0 = max(z_m + r20 * mx0 + r21 * my0, 1e-6)
        h1 = max(z_m + r20 * mx1 + r21 * my1, 1e-6)
        h2 = max(z_m + r20 * mx2 + r21 * my2, 1e-6)
        h3 = max(z_m + r20 * mx3 + r21 * my3, 1e-6)
        q0 = radius / (4.0 * h0)
        q1 = radius / (4.0 * h1)
        q2 = radius / (4.0 * h2)
        q3 = radius / (4.0 * h3)
        t0 *= min(1.0 + coeff * (q0 * q0), cap)
        t1 *= min(1.0 + coeff * (q1 * q1), cap)
        t2 *= min(1.0 + coeff * (q2 * q2), cap)
        t3 *= min(1.0 + coeff * (q3 * q3), cap)
    return t0, t1, t2, t3


@njit(cache=True, error_model="numpy", inline="always")
def _body_torques(thrust_n, rpm, d):
    """``motors.body_torques`` of one drone: body torque (3-tuple, N m) of rotor thrusts (N) and speeds (rpm)."""
    t0, t1, t2, t3 = thrust_n
    r0, r1, r2, r3 = rpm
    lever = d.lever_m
    # Row sums run left to right, as NumPy's do for 4 columns.
    tqx = lever * (((t0 * _MXY[0, 1] + t1 * _MXY[1, 1]) + t2 * _MXY[2, 1]) + t3 * _MXY[3, 1])
    tqy = -lever * (((t0 * _MXY[0, 0] + t1 * _MXY[1, 0]) + t2 * _MXY[2, 0]) + t3 * _MXY[3, 0])
    tqz = d.km_nm_per_rpm2 * (((r0 * r0 * _YAW[0] + r1 * r1 * _YAW[1]) + r2 * r2 * _YAW[2]) + r3 * r3 * _YAW[3])
    return tqx, tqy, tqz


@njit(cache=True, error_model="numpy", inline="always")
def _acceleration(rot, vel, thrust_n, rpm, force_n, d, drag):
    """World acceleration (3-tuple, m/s²) of one drone: rotor thrust and drag, gravity, external force.

    ``rot`` the 9 rotation-matrix entries, ``vel`` world velocity (m/s), ``thrust_n`` rotor thrusts (N), ``rpm``
    rotor speeds, ``force_n`` the world external force (3-tuple, N).
    """
    r00, r01, r02, r10, r11, r12, r20, r21, r22 = rot
    t0, t1, t2, t3 = thrust_n
    fx = 0.0
    fy = 0.0
    fz = ((t0 + t1) + t2) + t3
    if drag:
        # Rotor drag grows with rotor speed; coefficients are given at hover speed.
        vx, vy, vz = vel
        vbx = (r00 * vx + r10 * vy) + r20 * vz
        vby = (r01 * vx + r11 * vy) + r21 * vz
        vbz = (r02 * vx + r12 * vy) + r22 * vz
        speed_ratio = (((rpm[0] + rpm[1]) + rpm[2]) + rpm[3]) / d.four_hover_rpm
        fx -= d.drag_xy_n_s_per_m * speed_ratio * vbx
        fy -= d.drag_xy_n_s_per_m * speed_ratio * vby
        fz -= d.drag_z_n_s_per_m * speed_ratio * vbz
    m = d.mass_kg
    # einsum("nij,nj->ni") sums terms 0 and 2 first (two SIMD lanes), then term 1.
    ax = ((r00 * fx + r02 * fz) + r01 * fy) / m
    ay = ((r10 * fx + r12 * fz) + r11 * fy) / m
    az = ((r20 * fx + r22 * fz) + r21 * fy) / m
    az -= d.gravity_mps2
    ax += force_n[0] / m
    ay += force_n[1] / m
    az += force_n[2] / m
    return ax, ay, az


@njit(cache=True, error_model="numpy", inline="always")
def _rotate_quat(quat, omega, dt):
    """An xyzw quaternion (4-tuple) turned by body rates ``omega`` (rad/s) for ``dt`` s: q ⊗ exp(omega dt / 2)."""
    qx, qy, qz, qw = quat
    wx, wy, wz = omega
    rate = math.sqrt((wx * wx + wz * wz) + wy * wy)
    half_angle = 0.5 * rate * dt
    # np.sinc's formula; the result is normalized.
    xs = half_angle / math.pi
    ys = math.pi * xs if xs != 0.0 else _SINC_ZERO
    k = 0.5 * dt * (math.sin(ys) / ys)
    bx, by, bz, bw = wx * k, wy * k, wz * k, math.cos(half_angle)
    nx = qw * bx + qx * bw + qy * bz - qz * by
    ny = qw * by - qx * bz + qy * bw + qz * bx
    nz = qw * bz + qx * by - qy * bx + qz * bw
    nw = qw * bw - qx * bx - qy * by - qz * bz
    norm = math.sqrt((nx * nx + nz * nz) + (ny * ny + nw * nw))
    return nx / norm, ny / norm, nz / norm, nw / norm


@njit(cache=True, error_model="numpy", inline="always")
def _rigid_body_step(pos, vel, quat, omega, rpm, force_n, d, dt, drag, ground_effect):
    """``dynamics.step`` of one drone over ``dt`` s (semi-implicit Euler): new (pos, vel, quat, omega) tuples.

    ``pos`` (m), ``vel`` (m/s) world 3-tuples; ``quat`` xyzw 4-tuple; ``omega`` body rates (3-tuple, rad/s);
    ``rpm`` rotor speeds held over the step; ``force_n`` world external force (3-tuple, N).
    """
    rot = _rotation_matrix(quat)
    thrust_n = _rotor_thrusts(rpm, pos[2], rot[6], rot[7], d, ground_effect)
    tqx, tqy, tqz = _body_torques(thrust_n, rpm, d)
    ax, ay, az = _acceleration(rot, vel, thrust_n, rpm, force_n, d, drag)
    wx, wy, wz = omega
    ix, iy, iz = d.inertia_kg_m2
    jx, jy, jz = d.inv_inertia
    # omega x (I omega)
    hx, hy, hz = ix * wx, iy * wy, iz * wz
    gx = wy * hz - wz * hy
    gy = wz * hx - wx * hz
    gz = wx * hy - wy * hx
    wx += (tqx - gx) * jx * dt
    wy += (tqy - gy) * jy * dt
    wz += (tqz - gz) * jz * dt
    vx, vy, vz = vel
    vx += ax * dt
    vy += ay * dt
    vz += az * dt
    px, py, pz = pos
    px += vx * dt
    py += vy * dt
    pz += vz * dt
    omega = (wx, wy, wz)
    return (px, py, pz), (vx, vy, vz), _rotate_quat(quat, omega, dt), omega


# ------------------------------------------------------------------------------------------------------- the kernel
# error_model="numpy": a float division by zero gives inf or nan, as in the NumPy reference, instead of raising.
# Without those raise paths numba prunes the reference counting of the arrays passed into the inlined stages.
@njit(cache=True, error_model="numpy", nogil=True)
def policy_period(
    n_steps: int,
    tick0: int,
    mode: int,
    setpoints: np.ndarray,
    external_force_n: np.ndarray,
    flight: tuple,
    body: tuple,
    cascade: tuple,
    tables: tuple,
    first: int,
    stop: int,
) -> None:
    """Fly drones ``first:stop`` for ``n_steps`` physics steps of ``dt_s`` s from controller tick ``tick0``, in place.

    Same results as ``n_steps`` iterations of ``CascadeController.update`` + ``motors.update_rpm`` +
    ``dynamics.step``. ``mode`` from :data:`MODES`; ``setpoints`` (N, 4) in its units; ``external_force_n`` (N, 3)
    world, N. ``flight`` (advanced in place), ``body``, ``cascade`` and ``tables`` are :class:`FlightArrays`,
    :class:`BodyModel`, :class:`CascadeParams` and :class:`CascadeTables` as plain tuples, from
    :func:`flight_arrays`, :func:`body_model`, :func:`cascade_params` and :func:`cascade_tables`: numba types a
    plain tuple in C when dispatching, a NamedTuple field by field in Python (~5 us a call). NamedTuples work too.
    A drone reads and writes only its own rows, and the GIL is released, so blocks of drones can fly on separate
    threads (:func:`tinyrl.sim.threads.run_blocks`) to the same results.
    """
    flight, body, cp = FlightArrays(*flight), BodyModel(*body), CascadeParams(*cascade)
    gains, ratio_table, rpm_table = tables
    dt, drag, ground_effect = body.dt_s, body.drag, body.ground_effect
    for i in range(first, stop):
        pos = (flight.pos_m[i, 0], flight.pos_m[i, 1], flight.pos_m[i, 2])
        vel = (flight.vel_mps[i, 0], flight.vel_mps[i, 1], flight.vel_mps[i, 2])
        quat = (flight.quat[i, 0], flight.quat[i, 1], flight.quat[i, 2], flight.quat[i, 3])
        omega = (flight.omega_rps[i, 0], flight.omega_rps[i, 1], flight.omega_rps[i, 2])
        rpm = (flight.rpm[i, 0], flight.rpm[i, 1], flight.rpm[i, 2], flight.rpm[i, 3])
        st, h, sp = flight.pid_state[i], flight.held[i], setpoints[i]
        force_n = (external_force_n[i, 0], external_force_n[i, 1], external_force_n[i, 2])
        d = _load_drone(body, i)
        for s in range(n_steps):
            # Controller (CascadeController.update), written out here: passing this drone's arrays through one more
            # inlined function costs reference counting that numba does not prune (~15 % of the kernel).
            tick = tick0 + s
            run_position = tick % cp.position_every == 0
            run_attitude = tick % cp.attitude_every == 0
            if run_position or run_attitude:
                euler_deg = _euler_deg(quat)
                if mode == HOVER:
                    # The position loop leaves the yaw setpoint alone: it may run before the yaw setpoint moves.
                    if run_position:
                        _position_loop(cp, gains, st, h, sp, euler_deg[2], vel, pos[2])
                    if run_attitude:
                        _attitude_loop(cp, gains, st, h, sp[2], euler_deg)
                else:
                    _rates_setpoint(cp, h, sp, euler_deg[2])
            if run_attitude:
                _rate_loop(gains, st, h, omega)
                _mixer(h)
                _thrust_map(cp, ratio_table, rpm_table, h)
            rpm_cmd = (h[_H_RPM + 0], h[_H_RPM + 1], h[_H_RPM + 2], h[_H_RPM + 3])
            rpm = _motor_lag(rpm, rpm_cmd, d)
            pos, vel, quat, omega = _rigid_body_step(pos, vel, quat, omega, rpm, force_n, d, dt, drag, ground_effect)
        flight.pos_m[i, 0], flight.pos_m[i, 1], flight.pos_m[i, 2] = pos
        flight.vel_mps[i, 0], flight.vel_mps[i, 1], flight.vel_mps[i, 2] = vel
        flight.quat[i, 0], flight.quat[i, 1], flight.quat[i, 2], flight.quat[i, 3] = quat
        flight.omega_rps[i, 0], flight.omega_rps[i, 1], flight.omega_rps[i, 2] = omega
        flight.rpm[i, 0], flight.rpm[i, 1], flight.rpm[i, 2], flight.rpm[i, 3] = rpm
