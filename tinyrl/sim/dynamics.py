"""Batched rigid-body dynamics of N quadrotors: forces, Euler's equations, semi-implicit Euler integration.

Frames: world is z-up (floor at ``z = 0``), body is FLU. Quaternions and Euler angles as in :mod:`tinyrl.sim.rotation`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyrl.sim import motors
from tinyrl.sim.params import DroneParamArrays
from tinyrl.sim.rotation import quat_multiply, quat_to_rotmat


@dataclass
class RigidBodyState:
    """State of N drones; every array is owned here and updated in place.

    Attributes:
        pos: Position (N, 3), world frame, m.
        vel: Velocity (N, 3), world frame, m/s.
        quat: Orientation (N, 4), xyzw, body to world.
        omega: Angular velocity (N, 3), body frame, rad/s.
        rpm: Rotor speeds (N, 4), rpm, motor order M1..M4.
    """

    pos: np.ndarray
    vel: np.ndarray
    quat: np.ndarray
    omega: np.ndarray
    rpm: np.ndarray

    @classmethod
    def zeros(cls, n: int) -> RigidBodyState:
        """N drones at the origin, level, at rest, motors stopped."""
        quat = np.zeros((n, 4))
        quat[:, 3] = 1.0
        return cls(np.zeros((n, 3)), np.zeros((n, 3)), quat, np.zeros((n, 3)), np.zeros((n, 4)))

    def copy(self) -> RigidBodyState:
        """Deep copy."""
        return RigidBodyState(self.pos.copy(), self.vel.copy(), self.quat.copy(), self.omega.copy(), self.rpm.copy())


def ground_effect_ratio(
    state: RigidBodyState, rot: np.ndarray, params: DroneParamArrays, enabled: bool = True
) -> np.ndarray | None:
    """Per-propeller thrust multiplier (N, 4) near the floor ``z = 0``, or None when disabled."""
    if not enabled:
        return None
    # Propeller height: body z plus the world-z component of each motor's offset.
    xy = motors.MOTOR_XY * params.lever_m[:, None, None]
    height = state.pos[:, 2:3] + rot[:, 2, 0:1] * xy[:, :, 0] + rot[:, 2, 1:2] * xy[:, :, 1]
    height = np.maximum(height, 1e-6)
    ratio = 1.0 + params.ground_effect_coeff[:, None] * (params.prop_radius_m[:, None] / (4.0 * height)) ** 2
    return np.minimum(ratio, params.ground_effect_max_ratio[:, None])


def step(
    state: RigidBodyState,
    params: DroneParamArrays,
    dt_s: float,
    drag: bool = True,
    ground_effect: bool = True,
    external_force_n: np.ndarray | None = None,
) -> None:
    """Advance N drones by ``dt_s`` with the current rotor speeds held, in place (semi-implicit Euler).

    Velocities are updated from forces at the start of the step, then positions and orientation move with the
    new velocities; the orientation update is the exact exponential of the new body rate over the step.

    Args:
        state: Drone states; ``state.rpm`` are the actual rotor speeds during the step.
        params: Per-drone parameters.
        dt_s: Physics step in s.
        drag: Apply rotor drag.
        ground_effect: Apply ground effect.
        external_force_n: ``(N, 3)`` world-frame force on each body (wind), N; none if None.
    """
    rot = quat_to_rotmat(state.quat)
    thrust = motors.thrusts(state.rpm, params.kf_n_per_rpm2)
    ratio = ground_effect_ratio(state, rot, params, ground_effect)
    if ratio is not None:
        thrust *= ratio
    torque = motors.body_torques(thrust, state.rpm, params.lever_m, params.km_nm_per_rpm2)

    force_body = np.zeros((state.pos.shape[0], 3))
    force_body[:, 2] = thrust.sum(axis=1)
    if drag:
        # Rotor drag grows with rotor speed; coefficients are given at hover speed.
        vel_body = np.einsum("nji,nj->ni", rot, state.vel)
        speed_ratio = state.rpm.sum(axis=1) / (4.0 * params.hover_rpm)
        force_body[:, 0] -= params.drag_xy_n_s_per_m * speed_ratio * vel_body[:, 0]
        force_body[:, 1] -= params.drag_xy_n_s_per_m * speed_ratio * vel_body[:, 1]
        force_body[:, 2] -= params.drag_z_n_s_per_m * speed_ratio * vel_body[:, 2]
    accel = np.einsum("nij,nj->ni", rot, force_body) / params.mass_kg[:, None]
    accel[:, 2] -= params.gravity_mps2
    if external_force_n is not None:
        accel += external_force_n / params.mass_kg[:, None]

    omega = state.omega
    h = params.inertia * omega
    # omega x (I omega), written out: np.cross costs more than the rest of this block at small N.
    gyro = np.empty_like(omega)
    gyro[:, 0] = omega[:, 1] * h[:, 2] - omega[:, 2] * h[:, 1]
    gyro[:, 1] = omega[:, 2] * h[:, 0] - omega[:, 0] * h[:, 2]
    gyro[:, 2] = omega[:, 0] * h[:, 1] - omega[:, 1] * h[:, 0]
    omega += (torque - gyro) * params.inv_inertia * dt_s
    state.vel += accel * dt_s
    state.pos += state.vel * dt_s

    # q <- q ⊗ exp(omega dt / 2); np.sinc keeps it exact and finite at zero rate.
    rate = np.sqrt(np.einsum("ni,ni->n", omega, omega))
    half_angle = 0.5 * rate * dt_s
    delta = np.empty_like(state.quat)
    delta[:, :3] = omega * (0.5 * dt_s * np.sinc(half_angle / np.pi))[:, None]
    delta[:, 3] = np.cos(half_angle)
    quat = quat_multiply(state.quat, delta)
    quat /= np.sqrt(np.einsum("ni,ni->n", quat, quat))[:, None]
    state.quat[:] = quat
