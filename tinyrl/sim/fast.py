"""Compiled (numba) policy period: firmware PID cascade, motors and rigid-body dynamics of N drones in one call.

:func:`policy_period` is the loop of :meth:`tinyrl.sim.drone.Quadrotors.step` (``controller.update`` →
``step_motors`` → ``dynamics.step`` for every physics step) written per drone: the outer loop runs over drones,
the inner loop over physics steps, and each drone's state stays in registers for the whole policy period. The
NumPy modules (:mod:`~tinyrl.sim.controller`, :mod:`~tinyrl.sim.motors`, :mod:`~tinyrl.sim.dynamics`) remain the
reference; this file repeats their arithmetic operation by operation (same formulas, same evaluation order,
``fastmath`` off), so trajectories agree with NumPy to rounding — bit for bit on this machine, though that is not
promised: NumPy's ``einsum`` sums in a SIMD-width dependent order. A drone's result never depends on the batch
it is in, since nothing is shared between iterations of the drone loop.

Controller state is read from and written back to the arrays of :class:`~tinyrl.sim.controller.CascadeController`
(its ``PidBank`` integrators and previous errors, attitude and rate setpoints, thrust, rotor-speed commands), so
resetting a subset of drones works the same with either backend.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tinyrl.sim import motors

HOVER, RATES = 0, 1
#: Controller modes this kernel implements, by the names of :attr:`CascadeController.modes`.
MODES = {"hover": HOVER, "rates": RATES}

# Rows of the gain table (bank, field, axis) built by :func:`gain_table`.
_HEIGHT, _VELOCITY, _ATTITUDE, _RATE = 0, 1, 2, 3
_KP, _KI, _KD, _ILIM, _DT = 0, 1, 2, 3, 4

# Indices into the controller scalar vector built by :func:`controller_scalars`.
(
    _C_ATT_DT,
    _C_TILT,
    _C_VZ_LIMIT,
    _C_THRUST_SCALE,
    _C_THRUST_BASE,
    _C_THRUST_MIN,
    _C_PWM_MAX,
    _C_RATE_LIMIT,
    _C_PWM_RPM_SCALE,
    _C_PWM_RPM_OFFSET,
) = range(10)
N_CONTROLLER_SCALARS = 10

_MXY = motors.MOTOR_XY.copy()
_YAW = motors.YAW_SIGN.copy()
_MIX = np.stack([0.5 * motors.MOTOR_XY[:, 1], -0.5 * motors.MOTOR_XY[:, 0], motors.YAW_SIGN], axis=1)
# np.degrees / np.radians multiply by these constants.
_RAD2DEG = 180.0 / math.pi
_DEG2RAD = math.pi / 180.0


def gain_table(controller) -> np.ndarray:
    """Gains (4 banks x [kp, ki, kd, i_limit, dt] x 3 axes) of a ``CascadeController``'s PID banks."""
    banks = (controller._height_pid, controller._velocity_pid, controller._attitude_pid, controller._rate_pid)
    table = np.zeros((4, 5, 3))
    for b, pid in enumerate(banks):
        k = pid.kp.shape[0]
        table[b, _KP, :k] = pid.kp
        table[b, _KI, :k] = pid.ki
        table[b, _KD, :k] = pid.kd
        table[b, _ILIM, :k] = pid.i_limit
        table[b, _DT, :] = pid.dt_s
    return table


def controller_scalars(controller) -> np.ndarray:
    """The scalar controller settings :func:`policy_period` reads, as a float vector."""
    c = controller.params
    out = np.empty(N_CONTROLLER_SCALARS)
    out[_C_ATT_DT] = controller._attitude_dt_s
    out[_C_TILT] = c.tilt_limit_deg
    out[_C_VZ_LIMIT] = c.vz_limit_mps
    out[_C_THRUST_SCALE] = c.thrust_scale_pwm
    out[_C_THRUST_BASE] = c.thrust_base_pwm
    out[_C_THRUST_MIN] = c.thrust_min_pwm
    out[_C_PWM_MAX] = c.pwm_max
    out[_C_RATE_LIMIT] = c.rate_output_limit
    out[_C_PWM_RPM_SCALE] = c.pwm_to_rpm_scale
    out[_C_PWM_RPM_OFFSET] = c.pwm_to_rpm_offset
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
def _wrap_deg(angle):
    return (angle + 180.0) % 360.0 - 180.0


@njit(cache=True, inline="always")
def _pid(gains, bank, axis, error, integral, prev_error):
    """One ``PidBank.update`` of one axis; returns (output, new integral)."""
    dt = gains[bank, _DT, axis]
    limit = gains[bank, _ILIM, axis]
    integral = _clip(integral + error * dt, -limit, limit)
    derivative = (error - prev_error) / dt
    out = gains[bank, _KP, axis] * error + gains[bank, _KI, axis] * integral + gains[bank, _KD, axis] * derivative
    return out, integral


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
    nominal_kf,
    position_every,
    attitude_every,
    height_int,
    height_prev,
    vel_int,
    vel_prev,
    att_int,
    att_prev,
    rate_int,
    rate_prev,
    att_des,
    rate_des,
    thrust_pwm,
    rpm_cmd,
):
    """Fly N drones for ``n_steps`` physics steps of ``dt`` s, from controller tick ``tick0``, in place.

    Same results as ``n_steps`` iterations of ``CascadeController.update`` + ``motors.update_rpm`` +
    ``dynamics.step``. Arrays are the ones of ``RigidBodyState``, ``DroneParamArrays`` and the controller;
    ``lag_factor`` from :func:`tinyrl.sim.motors.lag_factor` (NumPy's ``expm1`` and libm's differ in the last
    bit), ``gains`` from :func:`gain_table`, ``scalars`` from :func:`controller_scalars`, ``mode`` from
    :data:`MODES`.
    """
    n = pos.shape[0]
    att_dt = scalars[_C_ATT_DT]
    tilt = scalars[_C_TILT]
    vz_limit = scalars[_C_VZ_LIMIT]
    thrust_scale = scalars[_C_THRUST_SCALE]
    thrust_base = scalars[_C_THRUST_BASE]
    thrust_min = scalars[_C_THRUST_MIN]
    pwm_max = scalars[_C_PWM_MAX]
    rate_limit = scalars[_C_RATE_LIMIT]
    pwm_scale = scalars[_C_PWM_RPM_SCALE]
    pwm_offset = scalars[_C_PWM_RPM_OFFSET]
    sinc_zero = math.pi * 1.0e-20
    for i in range(n):
        # ---- load drone i
        px, py, pz = pos[i, 0], pos[i, 1], pos[i, 2]
        vx, vy, vz = vel[i, 0], vel[i, 1], vel[i, 2]
        qx, qy, qz, qw = quat[i, 0], quat[i, 1], quat[i, 2], quat[i, 3]
        wx, wy, wz = omega[i, 0], omega[i, 1], omega[i, 2]
        r0, r1, r2, r3 = rpm[i, 0], rpm[i, 1], rpm[i, 2], rpm[i, 3]
        hi, hp = height_int[i, 0], height_prev[i, 0]
        vix, viy, viz = vel_int[i, 0], vel_int[i, 1], vel_int[i, 2]
        vpx, vpy, vpz = vel_prev[i, 0], vel_prev[i, 1], vel_prev[i, 2]
        aix, aiy, aiz = att_int[i, 0], att_int[i, 1], att_int[i, 2]
        apx, apy, apz = att_prev[i, 0], att_prev[i, 1], att_prev[i, 2]
        rix, riy, riz = rate_int[i, 0], rate_int[i, 1], rate_int[i, 2]
        rpx, rpy, rpz = rate_prev[i, 0], rate_prev[i, 1], rate_prev[i, 2]
        adr, adp, ady = att_des[i, 0], att_des[i, 1], att_des[i, 2]
        rdx, rdy, rdz = rate_des[i, 0], rate_des[i, 1], rate_des[i, 2]
        thrust = thrust_pwm[i]
        c0, c1, c2, c3 = rpm_cmd[i, 0], rpm_cmd[i, 1], rpm_cmd[i, 2], rpm_cmd[i, 3]
        sp0, sp1, sp2, sp3 = setpoints[i, 0], setpoints[i, 1], setpoints[i, 2], setpoints[i, 3]
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
            if run_position or run_attitude:
                # quat_to_euler, then np.degrees
                roll_deg = math.atan2(2.0 * (qw * qx + qy * qz), 1.0 - 2.0 * (qx * qx + qy * qy)) * _RAD2DEG
                pitch_deg = math.asin(_clip(2.0 * (qw * qy - qz * qx), -1.0, 1.0)) * _RAD2DEG
                yaw_deg = math.atan2(2.0 * (qw * qz + qx * qy), 1.0 - 2.0 * (qy * qy + qz * qz)) * _RAD2DEG
                if mode == HOVER:
                    if run_position:
                        yaw = yaw_deg * _DEG2RAD
                        cos_yaw, sin_yaw = math.cos(yaw), math.sin(yaw)
                        vz_des, hi = _pid(gains, _HEIGHT, 0, sp3 - pz, hi, hp)
                        hp = sp3 - pz
                        vz_des = _clip(vz_des, -vz_limit, vz_limit)
                        ex = sp0 - (cos_yaw * vx + sin_yaw * vy)
                        ey = sp1 - (-sin_yaw * vx + cos_yaw * vy)
                        ez = vz_des - vz
                        ox, vix = _pid(gains, _VELOCITY, 0, ex, vix, vpx)
                        oy, viy = _pid(gains, _VELOCITY, 1, ey, viy, vpy)
                        oz, viz = _pid(gains, _VELOCITY, 2, ez, viz, vpz)
                        vpx, vpy, vpz = ex, ey, ez
                        adr = _clip(-oy, -tilt, tilt)
                        adp = _clip(ox, -tilt, tilt)
                        thrust = _clip(oz * thrust_scale + thrust_base, thrust_min, pwm_max)
                    if run_attitude:
                        ady = _wrap_deg(ady + sp2 * att_dt)
                        ex = adr - roll_deg
                        ey = adp - pitch_deg
                        ez = _wrap_deg(ady - yaw_deg)
                        rdx, aix = _pid(gains, _ATTITUDE, 0, ex, aix, apx)
                        rdy, aiy = _pid(gains, _ATTITUDE, 1, ey, aiy, apy)
                        rdz, aiz = _pid(gains, _ATTITUDE, 2, ez, aiz, apz)
                        apx, apy, apz = ex, ey, ez
                else:  # RATES
                    collective = math.sqrt(max(sp0, 0.0) / (4.0 * nominal_kf))
                    thrust = _clip((collective - pwm_offset) / pwm_scale, 0.0, pwm_max)
                    rdx, rdy, rdz = sp1, sp2, sp3
                    adr, adp, ady = 0.0, 0.0, yaw_deg
            if run_attitude:
                # _rates_to_motors
                ex = rdx - wx * _RAD2DEG
                ey = rdy - wy * _RAD2DEG
                ez = rdz - wz * _RAD2DEG
                ox, rix = _pid(gains, _RATE, 0, ex, rix, rpx)
                oy, riy = _pid(gains, _RATE, 1, ey, riy, rpy)
                oz, riz = _pid(gains, _RATE, 2, ez, riz, rpz)
                rpx, rpy, rpz = ex, ey, ez
                ox = _clip(ox, -rate_limit, rate_limit)
                oy = _clip(oy, -rate_limit, rate_limit)
                oz = _clip(oz, -rate_limit, rate_limit)
                p0 = _clip(thrust + ox * _MIX[0, 0] + oy * _MIX[0, 1] + oz * _MIX[0, 2], 0.0, pwm_max)
                p1 = _clip(thrust + ox * _MIX[1, 0] + oy * _MIX[1, 1] + oz * _MIX[1, 2], 0.0, pwm_max)
                p2 = _clip(thrust + ox * _MIX[2, 0] + oy * _MIX[2, 1] + oz * _MIX[2, 2], 0.0, pwm_max)
                p3 = _clip(thrust + ox * _MIX[3, 0] + oy * _MIX[3, 1] + oz * _MIX[3, 2], 0.0, pwm_max)
                c0 = pwm_scale * p0 + pwm_offset if p0 > 0.0 else 0.0
                c1 = pwm_scale * p1 + pwm_offset if p1 > 0.0 else 0.0
                c2 = pwm_scale * p2 + pwm_offset if p2 > 0.0 else 0.0
                c3 = pwm_scale * p3 + pwm_offset if p3 > 0.0 else 0.0

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
        height_int[i, 0], height_prev[i, 0] = hi, hp
        vel_int[i, 0], vel_int[i, 1], vel_int[i, 2] = vix, viy, viz
        vel_prev[i, 0], vel_prev[i, 1], vel_prev[i, 2] = vpx, vpy, vpz
        att_int[i, 0], att_int[i, 1], att_int[i, 2] = aix, aiy, aiz
        att_prev[i, 0], att_prev[i, 1], att_prev[i, 2] = apx, apy, apz
        rate_int[i, 0], rate_int[i, 1], rate_int[i, 2] = rix, riy, riz
        rate_prev[i, 0], rate_prev[i, 1], rate_prev[i, 2] = rpx, rpy, rpz
        att_des[i, 0], att_des[i, 1], att_des[i, 2] = adr, adp, ady
        rate_des[i, 0], rate_des[i, 1], rate_des[i, 2] = rdx, rdy, rdz
        thrust_pwm[i] = thrust
        rpm_cmd[i, 0], rpm_cmd[i, 1], rpm_cmd[i, 2], rpm_cmd[i, 3] = c0, c1, c2, c3
