"""Compiled (numba) policy period: firmware PID cascade, motors and rigid-body dynamics of N drones in one call.

:func:`policy_period` is the loop of :meth:`tinyrl.sim.drone.Quadrotors.step` (``controller.update`` →
``step_motors`` → ``dynamics.step`` for every physics step) written per drone: the outer loop runs over drones,
the inner loop over physics steps; each drone's rigid-body state stays in registers for the whole policy period,
and the controller runs as small functions on that drone's rows of the controller arrays. The
NumPy modules (:mod:`~tinyrl.sim.controller`, :mod:`~tinyrl.sim.motors`, :mod:`~tinyrl.sim.dynamics`) remain the
reference; this file repeats their arithmetic operation by operation (same formulas, same evaluation order,
``fastmath`` off), so trajectories agree with NumPy to rounding — bit for bit on this machine, though that is not
promised: NumPy's ``einsum`` sums in a SIMD-width dependent order. A drone's result never depends on the batch
it is in, since nothing is shared between iterations of the drone loop.

Controller state lives in the arrays of :class:`~tinyrl.sim.controller.CascadeController` (``pid_state``: every
PID's integral, previous measurement and filter delays; ``held``: setpoints, thrust, int16 outputs, motor requests,
PWM and rotor-speed commands), so resetting a subset of drones works the same with either backend.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tinyrl.sim import motors
from tinyrl.sim.controller import INT16_LIMIT, PWM_FULL_SCALE, REQUEST_TABLE_SIZE, CascadeController

HOVER, RATES = 0, 1
#: Controller modes this kernel implements, by the names of :attr:`CascadeController.modes`.
MODES = {"hover": HOVER, "rates": RATES}
#: Thrust maps, by the names of :attr:`ControllerParams.thrust_map`.
THRUST_MAPS = {"battery_compensated": 0, "linear": 1}

# Fields of the PID gain table (bank, field, axis) built by :func:`gain_table`.
_KP, _KI, _KD, _KFF, _ILIM, _OLIM, _DT, _B0, _B1, _B2, _A1, _A2, _FILTER, _WRAP = range(14)
# Banks, and fields of the PID state (N, bank, field, axis), as in CascadeController.pid_state.
_HEIGHT, _VELOCITY, _ATTITUDE, _RATE = 0, 1, 2, 3
_INTEG, _PREV, _D1, _D2 = 0, 1, 2, 3

# Indices into the controller scalar vector built by :func:`controller_scalars`.
(
    _C_ATT_DT,
    _C_TILT,
    _C_THRUST_SCALE,
    _C_THRUST_BASE,
    _C_THRUST_MIN,
    _C_IDLE,
    _C_MAP,
    _C_THRUST_MAX_N,
    _C_THRUST_MIN_N,
    _C_V0,
    _C_V1,
    _C_V2,
    _C_V3,
    _C_VBAT,
    _C_PWM_RPM_SCALE,
    _C_PWM_RPM_OFFSET,
    _C_NOMINAL_KF,
) = range(17)
N_CONTROLLER_SCALARS = 17

# Columns of CascadeController.held (see tinyrl.sim.controller).
_H_ATT, _H_RATE, _H_VZ, _H_THRUST, _H_OUT, _H_REQ, _H_PWM, _H_RPM = 0, 3, 6, 7, 8, 11, 15, 19

_MXY = motors.MOTOR_XY.copy()
_YAW = motors.YAW_SIGN.copy()
# np.degrees / np.radians multiply by these constants.
_RAD2DEG = 180.0 / math.pi
_DEG2RAD = math.pi / 180.0
_PWM_FULL = PWM_FULL_SCALE
_INT16 = INT16_LIMIT
_REQUEST_TABLE_SIZE = REQUEST_TABLE_SIZE


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


def controller_scalars(controller: CascadeController) -> np.ndarray:
    """The scalar controller settings :func:`policy_period` reads, as a float vector."""
    c = controller.params
    out = np.empty(N_CONTROLLER_SCALARS)
    out[_C_ATT_DT] = controller._attitude_dt_s
    out[_C_TILT] = c.tilt_limit_deg
    out[_C_THRUST_SCALE] = c.thrust_scale_pwm
    out[_C_THRUST_BASE] = c.thrust_base_pwm
    out[_C_THRUST_MIN] = c.thrust_min_pwm
    out[_C_IDLE] = c.idle_thrust_pwm
    out[_C_MAP] = THRUST_MAPS[c.thrust_map]
    out[_C_THRUST_MAX_N] = c.thrust_max_n
    out[_C_THRUST_MIN_N] = c.thrust_min_n
    out[_C_V0 : _C_V3 + 1] = c.vmotor_to_thrust
    out[_C_VBAT] = c.battery_voltage_v
    out[_C_PWM_RPM_SCALE] = c.pwm_to_rpm_scale
    out[_C_PWM_RPM_OFFSET] = c.pwm_to_rpm_offset
    out[_C_NOMINAL_KF] = controller._nominal_kf
    return out


@njit(cache=True, inline="always")
def _clip(x, low, high):
    # np.minimum(np.maximum(x, low), high), NaN passing through as in NumPy.
    if x < low:
        x = low
    if x > high:
        x = high
    return x


@njit(cache=True, inline="always")
def _wrap_once(angle):
    # controller.wrap_once_deg
    if angle > 180.0:
        return angle - 360.0
    if angle < -180.0:
        return angle + 360.0
    return angle


@njit(cache=True, inline="always")
def _cap_angle(angle):
    # controller.cap_angle_deg
    while angle > 180.0:
        angle -= 360.0
    while angle < -180.0:
        angle += 360.0
    return angle


@njit(cache=True, inline="always")
def _pid(g, b, a, st, desired, measured):
    """One ``PidBank.update`` of bank ``b``, axis ``a``; ``st`` is the drone's (bank, field, axis) state."""
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


@njit(cache=True, inline="always")
def _saturate_int16(x):
    return np.trunc(_clip(x, -_INT16, _INT16))


@njit(cache=True, inline="always")
def _request_to_pwm(request, sc):
    """``controller.compensate_battery`` (or the identity for the linear map) of one motor request."""
    if sc[_C_MAP] != 0.0:
        return request
    c0, c1, c2, c3 = sc[_C_V0], sc[_C_V1], sc[_C_V2], sc[_C_V3]
    vbat = sc[_C_VBAT]
    thrust = request / _PWM_FULL * sc[_C_THRUST_MAX_N]
    p = -c2 / (3.0 * c3)
    q = p * p * p + (c2 * c1 - 3.0 * c3 * (c0 - thrust)) / (6.0 * c3 * c3)
    r = c1 / (3.0 * c3)
    qrp = math.sqrt(q * q + (r - p * p) * (r - p * p) * (r - p * p))
    voltage = (np.cbrt(q + qrp) + np.cbrt(q - qrp)) + p
    ratio = np.trunc(_PWM_FULL * (voltage / vbat))
    if vbat < 2.0 or thrust < sc[_C_THRUST_MIN_N]:
        return 0.0
    return ratio


@njit(cache=True, inline="always")
def _position_loop(g, st, h, sc, sp0, sp1, sp3, yaw_deg, vx, vy, vz, pz):
    """``positionController`` + ``velocityController``: climb rate, roll/pitch setpoints and thrust into ``h``."""
    vz_des = _pid(g, _HEIGHT, 0, st, sp3, pz)
    h[_H_VZ] = vz_des
    yaw = yaw_deg * math.pi / 180.0
    cos_yaw, sin_yaw = math.cos(yaw), math.sin(yaw)
    bvx = vx * cos_yaw + vy * sin_yaw
    bvy = -vx * sin_yaw + vy * cos_yaw
    ox = _pid(g, _VELOCITY, 0, st, sp0, bvx)
    oy = _pid(g, _VELOCITY, 1, st, sp1, bvy)
    oz = _pid(g, _VELOCITY, 2, st, vz_des, vz)
    tilt = sc[_C_TILT]
    h[_H_ATT + 0] = _clip(-oy, -tilt, tilt)
    h[_H_ATT + 1] = _clip(ox, -tilt, tilt)
    thrust = oz * sc[_C_THRUST_SCALE] + sc[_C_THRUST_BASE]
    thrust = max(thrust, sc[_C_THRUST_MIN])
    h[_H_THRUST] = _clip(thrust, 0.0, _PWM_FULL)


@njit(cache=True, inline="always")
def _rates_to_motors(g, st, h, sc, ratio_table, rpm_table, wx, wy, wz):
    """Rate PIDs → int16 → mixer → thrust map → saturation shift → rotor-speed commands, into ``h``.

    The thrust map reads ``CascadeController``'s tables (``ratio_table``, ``rpm_table``), exact for integer requests.
    """
    h[_H_OUT + 0] = _saturate_int16(_pid(g, _RATE, 0, st, h[_H_RATE + 0], wx * _RAD2DEG))
    h[_H_OUT + 1] = _saturate_int16(_pid(g, _RATE, 1, st, h[_H_RATE + 1], wy * _RAD2DEG))
    h[_H_OUT + 2] = _saturate_int16(_pid(g, _RATE, 2, st, h[_H_RATE + 2], wz * _RAD2DEG))
    if h[_H_THRUST] <= 0.0:  # controller_pid.c zeroes the outputs with the thrust
        h[_H_OUT + 0], h[_H_OUT + 1], h[_H_OUT + 2] = 0.0, 0.0, 0.0
    r = np.trunc(h[_H_OUT + 0] / 2.0)
    p = np.trunc(-h[_H_OUT + 1] / 2.0)
    yaw = -h[_H_OUT + 2]
    t = h[_H_THRUST]
    h[_H_REQ + 0] = np.trunc(((t - r) + p) + yaw)
    h[_H_REQ + 1] = np.trunc(((t - r) - p) - yaw)
    h[_H_REQ + 2] = np.trunc(((t + r) - p) + yaw)
    h[_H_REQ + 3] = np.trunc(((t + r) + p) - yaw)
    highest = 0.0
    for m in range(4):
        if t <= 0.0:
            h[_H_REQ + m] = 0.0
        request = h[_H_REQ + m]
        # Above the table only with a thrust command over full scale: then the formula.
        inside = request < _REQUEST_TABLE_SIZE
        ratio = ratio_table[int(max(request, 0.0))] if inside else _request_to_pwm(request, sc)
        h[_H_PWM + m] = ratio
        highest = max(highest, ratio)
    reduction = highest - _PWM_FULL if highest > _PWM_FULL else 0.0
    for m in range(4):
        pwm = max(h[_H_PWM + m] - reduction, sc[_C_IDLE])
        h[_H_PWM + m] = pwm
        h[_H_RPM + m] = rpm_table[int(pwm)]


@njit(cache=True, inline="always")
def _controller_tick(
    mode,
    run_position,
    run_attitude,
    g,
    st,
    h,
    sc,
    ratio_table,
    rpm_table,
    sp,
    pz,
    vx,
    vy,
    vz,
    qx,
    qy,
    qz,
    qw,
    wx,
    wy,
    wz,
):
    """One ``CascadeController.update`` of one drone: ``st`` its PID state, ``h`` its held values, in place."""
    sp0, sp1, sp2, sp3 = sp[0], sp[1], sp[2], sp[3]
    if run_position or run_attitude:
        # quat_to_euler, then np.degrees
        roll_deg = math.atan2(2.0 * (qw * qx + qy * qz), 1.0 - 2.0 * (qx * qx + qy * qy)) * _RAD2DEG
        pitch_deg = math.asin(_clip(2.0 * (qw * qy - qz * qx), -1.0, 1.0)) * _RAD2DEG
        yaw_deg = math.atan2(2.0 * (qw * qz + qx * qy), 1.0 - 2.0 * (qy * qy + qz * qz)) * _RAD2DEG
        if mode == HOVER:
            if run_attitude:
                h[_H_ATT + 2] = _cap_angle(h[_H_ATT + 2] + sp2 * sc[_C_ATT_DT])
            if run_position:
                _position_loop(g, st, h, sc, sp0, sp1, sp3, yaw_deg, vx, vy, vz, pz)
            if run_attitude:
                h[_H_RATE + 0] = _pid(g, _ATTITUDE, 0, st, h[_H_ATT + 0], roll_deg)
                h[_H_RATE + 1] = _pid(g, _ATTITUDE, 1, st, h[_H_ATT + 1], pitch_deg)
                h[_H_RATE + 2] = _pid(g, _ATTITUDE, 2, st, h[_H_ATT + 2], yaw_deg)
        else:  # RATES: CascadeController._rates
            per_motor = max(sp0, 0.0) / 4.0
            if sc[_C_MAP] == 0.0:
                pwm = per_motor / sc[_C_THRUST_MAX_N] * _PWM_FULL
            else:
                pwm = (math.sqrt(per_motor / sc[_C_NOMINAL_KF]) - sc[_C_PWM_RPM_OFFSET]) / sc[_C_PWM_RPM_SCALE]
            h[_H_THRUST] = _clip(pwm, 0.0, _PWM_FULL)
            h[_H_RATE + 0], h[_H_RATE + 1], h[_H_RATE + 2] = sp1, sp2, sp3
            h[_H_ATT + 0], h[_H_ATT + 1], h[_H_ATT + 2] = 0.0, 0.0, yaw_deg
    if run_attitude:
        _rates_to_motors(g, st, h, sc, ratio_table, rpm_table, wx, wy, wz)


@njit(cache=True)
def policy_period(
    n_steps,
    tick0,
    mode,
    dt,
    drag,
    ground_effect,
    setpoints,
    external_force,
    pos,
    vel,
    quat,
    omega,
    rpm,
    mass,
    gravity,
    kf,
    km,
    lever,
    inertia,
    inv_inertia,
    hover_rpm,
    min_rpm,
    max_rpm,
    lag_factor,
    drag_xy,
    drag_z,
    prop_radius,
    ge_coeff,
    ge_max,
    gains,
    scalars,
    position_every,
    attitude_every,
    pid_state,
    held,
    ratio_table,
    rpm_table,
):
    """Fly N drones for ``n_steps`` physics steps of ``dt`` s, from controller tick ``tick0``, in place.

    Same results as ``n_steps`` iterations of ``CascadeController.update`` + ``motors.update_rpm`` +
    ``dynamics.step``. Arrays are the ones of ``RigidBodyState``, ``DroneParamArrays`` and the controller
    (``pid_state``, ``held``, ``ratio_table``, ``rpm_table``);
    ``lag_factor`` from :func:`tinyrl.sim.motors.lag_factor` (NumPy's ``expm1`` and
    libm's differ in the last bit), ``gains`` from :func:`gain_table`, ``scalars`` from :func:`controller_scalars`,
    ``mode`` from :data:`MODES`.
    """
    n = pos.shape[0]
    sinc_zero = math.pi * 1.0e-20
    for i in range(n):
        # ---- load drone i
        px, py, pz = pos[i, 0], pos[i, 1], pos[i, 2]
        vx, vy, vz = vel[i, 0], vel[i, 1], vel[i, 2]
        qx, qy, qz, qw = quat[i, 0], quat[i, 1], quat[i, 2], quat[i, 3]
        wx, wy, wz = omega[i, 0], omega[i, 1], omega[i, 2]
        r0, r1, r2, r3 = rpm[i, 0], rpm[i, 1], rpm[i, 2], rpm[i, 3]
        st, h = pid_state[i], held[i]
        sp = setpoints[i]
        fex, fey, fez = external_force[i, 0], external_force[i, 1], external_force[i, 2]
        m_i, g_i, kf_i, km_i, lev = mass[i], gravity[i], kf[i], km[i], lever[i]
        ix, iy, iz = inertia[i, 0], inertia[i, 1], inertia[i, 2]
        jx, jy, jz = inv_inertia[i, 0], inv_inertia[i, 1], inv_inertia[i, 2]
        lo_rpm, hi_rpm = min_rpm[i], max_rpm[i]
        factor = lag_factor[i]
        dxy, dz, four_hover = drag_xy[i], drag_z[i], 4.0 * hover_rpm[i]
        radius, ge_k, ge_cap = prop_radius[i], ge_coeff[i], ge_max[i]
        # Motor offsets (x, y) = MOTOR_XY * lever.
        mx0, my0 = _MXY[0, 0] * lev, _MXY[0, 1] * lev
        mx1, my1 = _MXY[1, 0] * lev, _MXY[1, 1] * lev
        mx2, my2 = _MXY[2, 0] * lev, _MXY[2, 1] * lev
        mx3, my3 = _MXY[3, 0] * lev, _MXY[3, 1] * lev

        for s in range(n_steps):
            tick = tick0 + s
            run_position = tick % position_every == 0
            run_attitude = tick % attitude_every == 0
            # ================= controller (CascadeController.update)
            _controller_tick(
                mode,
                run_position,
                run_attitude,
                gains,
                st,
                h,
                scalars,
                ratio_table,
                rpm_table,
                sp,
                pz,
                vx,
                vy,
                vz,
                qx,
                qy,
                qz,
                qw,
                wx,
                wy,
                wz,
            )
            c0, c1, c2, c3 = h[_H_RPM], h[_H_RPM + 1], h[_H_RPM + 2], h[_H_RPM + 3]

            # ================= motors (motors.update_rpm)
            r0 += (_clip(c0, lo_rpm, hi_rpm) - r0) * factor
            r1 += (_clip(c1, lo_rpm, hi_rpm) - r1) * factor
            r2 += (_clip(c2, lo_rpm, hi_rpm) - r2) * factor
            r3 += (_clip(c3, lo_rpm, hi_rpm) - r3) * factor

            # ================= rigid body (dynamics.step)
            xx, yy, zz = qx * qx, qy * qy, qz * qz
            xy, xz, yz = qx * qy, qx * qz, qy * qz
            qwx, qwy, qwz = qw * qx, qw * qy, qw * qz
            R00 = 1.0 - 2.0 * (yy + zz)
            R01 = 2.0 * (xy - qwz)
            R02 = 2.0 * (xz + qwy)
            R10 = 2.0 * (xy + qwz)
            R11 = 1.0 - 2.0 * (xx + zz)
            R12 = 2.0 * (yz - qwx)
            R20 = 2.0 * (xz - qwy)
            R21 = 2.0 * (yz + qwx)
            R22 = 1.0 - 2.0 * (xx + yy)
            t0 = kf_i * r0 * r0
            t1 = kf_i * r1 * r1
            t2 = kf_i * r2 * r2
            t3 = kf_i * r3 * r3
            if ground_effect:
                h0 = max(pz + R20 * mx0 + R21 * my0, 1e-6)
                h1 = max(pz + R20 * mx1 + R21 * my1, 1e-6)
                h2 = max(pz + R20 * mx2 + R21 * my2, 1e-6)
                h3 = max(pz + R20 * mx3 + R21 * my3, 1e-6)
                q0 = radius / (4.0 * h0)
                q1 = radius / (4.0 * h1)
                q2 = radius / (4.0 * h2)
                q3 = radius / (4.0 * h3)
                t0 *= min(1.0 + ge_k * (q0 * q0), ge_cap)
                t1 *= min(1.0 + ge_k * (q1 * q1), ge_cap)
                t2 *= min(1.0 + ge_k * (q2 * q2), ge_cap)
                t3 *= min(1.0 + ge_k * (q3 * q3), ge_cap)
            # motors.body_torques (row sums run left to right, as NumPy's do for 4 columns)
            tqx = lev * (((t0 * _MXY[0, 1] + t1 * _MXY[1, 1]) + t2 * _MXY[2, 1]) + t3 * _MXY[3, 1])
            tqy = -lev * (((t0 * _MXY[0, 0] + t1 * _MXY[1, 0]) + t2 * _MXY[2, 0]) + t3 * _MXY[3, 0])
            tqz = km_i * (((r0 * r0 * _YAW[0] + r1 * r1 * _YAW[1]) + r2 * r2 * _YAW[2]) + r3 * r3 * _YAW[3])
            fx = 0.0
            fy = 0.0
            fz = ((t0 + t1) + t2) + t3
            if drag:
                vbx = (R00 * vx + R10 * vy) + R20 * vz
                vby = (R01 * vx + R11 * vy) + R21 * vz
                vbz = (R02 * vx + R12 * vy) + R22 * vz
                speed_ratio = (((r0 + r1) + r2) + r3) / four_hover
                fx -= dxy * speed_ratio * vbx
                fy -= dxy * speed_ratio * vby
                fz -= dz * speed_ratio * vbz
            # einsum("nij,nj->ni") sums terms 0 and 2 first (two SIMD lanes), then term 1.
            ax = ((R00 * fx + R02 * fz) + R01 * fy) / m_i
            ay = ((R10 * fx + R12 * fz) + R11 * fy) / m_i
            az = ((R20 * fx + R22 * fz) + R21 * fy) / m_i
            az -= g_i
            ax += fex / m_i
            ay += fey / m_i
            az += fez / m_i
            hx, hy, hz = ix * wx, iy * wy, iz * wz
            gx = wy * hz - wz * hy
            gy = wz * hx - wx * hz
            gz = wx * hy - wy * hx
            wx += (tqx - gx) * jx * dt
            wy += (tqy - gy) * jy * dt
            wz += (tqz - gz) * jz * dt
            vx += ax * dt
            vy += ay * dt
            vz += az * dt
            px += vx * dt
            py += vy * dt
            pz += vz * dt
            # q <- q ⊗ exp(omega dt / 2), with np.sinc's formula.
            rate = math.sqrt((wx * wx + wz * wz) + wy * wy)
            half_angle = 0.5 * rate * dt
            xs = half_angle / math.pi
            ys = math.pi * xs if xs != 0.0 else sinc_zero
            k = 0.5 * dt * (math.sin(ys) / ys)
            bx, by, bz, bw = wx * k, wy * k, wz * k, math.cos(half_angle)
            nx = qw * bx + qx * bw + qy * bz - qz * by
            ny = qw * by - qx * bz + qy * bw + qz * bx
            nz = qw * bz + qx * by - qy * bx + qz * bw
            nw = qw * bw - qx * bx - qy * by - qz * bz
            norm = math.sqrt((nx * nx + nz * nz) + (ny * ny + nw * nw))
            qx, qy, qz, qw = nx / norm, ny / norm, nz / norm, nw / norm

        # ---- store drone i
        pos[i, 0], pos[i, 1], pos[i, 2] = px, py, pz
        vel[i, 0], vel[i, 1], vel[i, 2] = vx, vy, vz
        quat[i, 0], quat[i, 1], quat[i, 2], quat[i, 3] = qx, qy, qz, qw
        omega[i, 0], omega[i, 1], omega[i, 2] = wx, wy, wz
        rpm[i, 0], rpm[i, 1], rpm[i, 2], rpm[i, 3] = r0, r1, r2, r3
