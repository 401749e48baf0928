"""The Crazyflie inner loop (firmware PID cascade), vectorized over N drones.

hover setpoint → height and body-velocity PIDs (position rate, 100 Hz) → attitude PIDs (attitude rate, 500 Hz)
→ body-rate PIDs → mixer → motor PWM → rotor-speed commands. Like the firmware, the loops run on a shared tick
counter: at 500 Hz physics the velocity loop runs on every 5th physics step, and each loop holds its output in
between. Units are the firmware's: degrees, deg/s and 16-bit PWM; the drone state is read in SI units.

Modes (``setpoints`` shape (N, 4)):
    ``hover``: body-frame vx, vy in m/s, yaw rate in deg/s (positive counter-clockwise seen from above, as in the
    firmware's ``setpoint_t.attitudeRate.yaw``), absolute height z in m.
    ``rates``: collective thrust in N, roll, pitch, yaw body rates in deg/s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinyrl.sim import motors
from tinyrl.sim.dynamics import RigidBodyState, quat_to_euler
from tinyrl.sim.params import PidGains, QuadrotorConfig

# Mixer (4 motors x roll, pitch, yaw) in PWM; the firmware's "legacy" quad-X mixing, signs in FLU.
MIXER = np.stack([0.5 * motors.MOTOR_XY[:, 1], -0.5 * motors.MOTOR_XY[:, 0], motors.YAW_SIGN], axis=1)


class PidBank:
    """K independent firmware-style PIDs (``pid.c``) for N drones; errors and outputs are (N, K)."""

    def __init__(self, n: int, gains: Sequence[PidGains], dt_s: float) -> None:
        self.kp = np.array([g.kp for g in gains])
        self.ki = np.array([g.ki for g in gains])
        self.kd = np.array([g.kd for g in gains])
        self.i_limit = np.array([g.i_limit for g in gains])
        self.dt_s = dt_s
        self.integral = np.zeros((n, len(gains)))
        self.prev_error = np.zeros((n, len(gains)))

    def update(self, error: np.ndarray) -> np.ndarray:
        """Advance one loop period with ``error`` (N, K) and return the outputs (N, K)."""
        self.integral += error * self.dt_s
        _clip(self.integral, -self.i_limit, self.i_limit, out=self.integral)
        derivative = (error - self.prev_error) / self.dt_s
        self.prev_error[:] = error
        return self.kp * error + self.ki * self.integral + self.kd * derivative

    def reset(self, indices: Any) -> None:
        """Clear integrators and derivative memory of drones ``indices``."""
        self.integral[indices] = 0.0
        self.prev_error[indices] = 0.0


def _clip(x: np.ndarray, low: Any, high: Any, out: np.ndarray | None = None) -> np.ndarray:
    # Two ufuncs are several times cheaper than np.clip's Python wrapper on small arrays.
    return np.minimum(np.maximum(x, low, out=out), high, out=out)


def _wrap_deg(angle: np.ndarray) -> np.ndarray:
    return (angle + 180.0) % 360.0 - 180.0


class CascadeController:
    """Crazyflie PID cascade for N drones; :meth:`update` once per physics step returns rotor-speed commands.

    Attributes:
        attitude_des_deg: Held roll, pitch, yaw setpoints (N, 3), deg.
        rate_des_dps: Held body-rate setpoints (N, 3), deg/s.
        thrust_pwm: Held collective thrust command (N,), PWM.
        rpm_cmd: Held rotor-speed commands (N, 4), rpm.
    """

    def __init__(self, n: int, config: QuadrotorConfig) -> None:
        c = config.controller
        self.params = c
        self.n = n
        self.position_every = round(config.physics_rate_hz / c.position_rate_hz)
        self.attitude_every = round(config.physics_rate_hz / c.attitude_rate_hz)
        self._attitude_dt_s = 1.0 / c.attitude_rate_hz
        self._height_pid = PidBank(n, [c.pos_z], 1.0 / c.position_rate_hz)
        self._velocity_pid = PidBank(n, [c.vel_x, c.vel_y, c.vel_z], 1.0 / c.position_rate_hz)
        self._attitude_pid = PidBank(n, [c.roll, c.pitch, c.yaw], self._attitude_dt_s)
        self._rate_pid = PidBank(n, [c.roll_rate, c.pitch_rate, c.yaw_rate], self._attitude_dt_s)
        # The firmware does not know the true (randomized) drone; it maps thrust with the nominal model.
        self._nominal_kf = config.drone.kf_n_per_rpm2
        self.attitude_des_deg = np.zeros((n, 3))
        self.rate_des_dps = np.zeros((n, 3))
        self.thrust_pwm = np.full(n, c.thrust_base_pwm)
        self.rpm_cmd = np.full((n, 4), self._pwm_to_rpm(np.asarray(c.thrust_base_pwm)))
        self.tick = 0
        self._modes: dict[str, Callable[[RigidBodyState, np.ndarray, np.ndarray, bool, bool], None]] = {
            "hover": self._hover,
            "rates": self._rates,
        }

    @property
    def modes(self) -> tuple[str, ...]:
        """Names of the setpoint modes."""
        return tuple(self._modes)

    def reset(self, indices: Any, yaw_rad: np.ndarray | float = 0.0) -> None:
        """Reset drones ``indices``: clear integrators, level attitude setpoint at ``yaw_rad``, base thrust."""
        for pid in (self._height_pid, self._velocity_pid, self._attitude_pid, self._rate_pid):
            pid.reset(indices)
        self.attitude_des_deg[indices, :2] = 0.0
        self.attitude_des_deg[indices, 2] = np.degrees(yaw_rad)
        self.rate_des_dps[indices] = 0.0
        self.thrust_pwm[indices] = self.params.thrust_base_pwm
        self.rpm_cmd[indices] = self._pwm_to_rpm(np.asarray(self.params.thrust_base_pwm))

    def update(self, state: RigidBodyState, setpoints: np.ndarray, mode: str = "hover") -> np.ndarray:
        """Run one physics tick of the cascade and return rotor-speed commands (N, 4) in rpm.

        Args:
            state: Current drone states (true state; the firmware's estimator is assumed perfect).
            setpoints: (N, 4) in the units of ``mode`` (see the module docstring).
            mode: A name from :attr:`modes`.

        Raises:
            ValueError: Unknown mode.
        """
        try:
            fly = self._modes[mode]
        except KeyError:
            raise ValueError(f"unknown controller mode {mode!r}; expected one of {self.modes}") from None
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
        if run_position:
            yaw = np.radians(euler_deg[:, 2])
            cos_yaw, sin_yaw = np.cos(yaw), np.sin(yaw)
            vx, vy = state.vel[:, 0], state.vel[:, 1]
            vz_des = self._height_pid.update((sp[:, 3] - state.pos[:, 2])[:, None])[:, 0]
            _clip(vz_des, -c.vz_limit_mps, c.vz_limit_mps, out=vz_des)
            error = np.stack(
                [
                    sp[:, 0] - (cos_yaw * vx + sin_yaw * vy),
                    sp[:, 1] - (-sin_yaw * vx + cos_yaw * vy),
                    vz_des - state.vel[:, 2],
                ],
                axis=1,
            )
            out = self._velocity_pid.update(error)
            # Forward velocity needs nose-down (+pitch); leftward velocity needs left-down (-roll) in FLU.
            self.attitude_des_deg[:, 0] = _clip(-out[:, 1], -c.tilt_limit_deg, c.tilt_limit_deg)
            self.attitude_des_deg[:, 1] = _clip(out[:, 0], -c.tilt_limit_deg, c.tilt_limit_deg)
            self.thrust_pwm[:] = _clip(out[:, 2] * c.thrust_scale_pwm + c.thrust_base_pwm, c.thrust_min_pwm, c.pwm_max)
        if run_attitude:
            self.attitude_des_deg[:, 2] = _wrap_deg(self.attitude_des_deg[:, 2] + sp[:, 2] * self._attitude_dt_s)
            error = self.attitude_des_deg - euler_deg
            error[:, 2] = _wrap_deg(error[:, 2])
            self.rate_des_dps[:] = self._attitude_pid.update(error)

    def _rates(
        self, state: RigidBodyState, euler_deg: np.ndarray, sp: np.ndarray, run_position: bool, run_attitude: bool
    ) -> None:
        c = self.params
        rpm = np.sqrt(np.maximum(sp[:, 0], 0.0) / (4.0 * self._nominal_kf))
        self.thrust_pwm[:] = _clip((rpm - c.pwm_to_rpm_offset) / c.pwm_to_rpm_scale, 0.0, c.pwm_max)
        self.rate_des_dps[:] = sp[:, 1:4]
        # Track the current attitude so a switch back to hover starts from where the drone is.
        self.attitude_des_deg[:] = euler_deg
        self.attitude_des_deg[:, :2] = 0.0

    def _rates_to_motors(self, state: RigidBodyState) -> None:
        c = self.params
        out = self._rate_pid.update(self.rate_des_dps - np.degrees(state.omega))
        _clip(out, -c.rate_output_limit, c.rate_output_limit, out=out)
        # Explicit sum, not BLAS matmul, so results do not depend on the batch size.
        pwm = (
            self.thrust_pwm[:, None] + out[:, 0:1] * MIXER[:, 0] + out[:, 1:2] * MIXER[:, 1] + out[:, 2:3] * MIXER[:, 2]
        )
        _clip(pwm, 0.0, c.pwm_max, out=pwm)
        self.rpm_cmd[:] = self._pwm_to_rpm(pwm)

    def _pwm_to_rpm(self, pwm: np.ndarray) -> np.ndarray:
        # A zero PWM duty cycle stops the motor; the linear map only holds while it turns.
        c = self.params
        return np.where(pwm > 0.0, c.pwm_to_rpm_scale * pwm + c.pwm_to_rpm_offset, 0.0)
