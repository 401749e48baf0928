"""Quaternions, Euler angles and rotation matrices, batched over drones.

Quaternions are PyBullet's ``(x, y, z, w)`` and rotate body vectors into the world. Euler angles are
roll-pitch-yaw with ``R = Rz(yaw) Ry(pitch) Rx(roll)``.

The numba kernel (:mod:`tinyrl.sim.fast`) repeats :func:`quat_to_rotmat` inline, operation by operation, on one
drone's scalars: it keeps each drone's state in registers for a whole policy period (an array call per physics
step would allocate), and numba is optional, so this NumPy reference cannot depend on a compiled helper.
"""

from __future__ import annotations

import numpy as np


def quat_to_rotmat(quat_xyzw: np.ndarray, normalize: bool = False) -> np.ndarray:
    """Body-to-world rotation matrices ``(..., 3, 3)`` from quaternions ``(..., 4)`` xyzw.

    Args:
        quat_xyzw: Unit quaternions, or any non-zero ones with ``normalize``.
        normalize: Divide by the norm first (for attitudes from outside the simulator, which need not be unit).
    """
    q = np.asarray(quat_xyzw, dtype=float)
    if normalize:
        q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    rot = np.empty((*q.shape[:-1], 3, 3))
    rot[..., 0, 0] = 1.0 - 2.0 * (yy + zz)
    rot[..., 0, 1] = 2.0 * (xy - wz)
    rot[..., 0, 2] = 2.0 * (xz + wy)
    rot[..., 1, 0] = 2.0 * (xy + wz)
    rot[..., 1, 1] = 1.0 - 2.0 * (xx + zz)
    rot[..., 1, 2] = 2.0 * (yz - wx)
    rot[..., 2, 0] = 2.0 * (xz - wy)
    rot[..., 2, 1] = 2.0 * (yz + wx)
    rot[..., 2, 2] = 1.0 - 2.0 * (xx + yy)
    return rot


def quat_to_euler(quat: np.ndarray) -> np.ndarray:
    """Roll, pitch, yaw (N, 3) in rad from quaternions (N, 4) xyzw; pitch in [-pi/2, pi/2]."""
    x, y, z, w = quat[:, 0], quat[:, 1], quat[:, 2], quat[:, 3]
    out = np.empty((quat.shape[0], 3))
    out[:, 0] = np.arctan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    out[:, 1] = np.arcsin(np.clip(2.0 * (w * y - z * x), -1.0, 1.0))
    out[:, 2] = np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    return out


def euler_to_quat(euler: np.ndarray) -> np.ndarray:
    """Quaternions (N, 4) xyzw from roll, pitch, yaw (N, 3) in rad."""
    half = 0.5 * np.asarray(euler, dtype=float)
    cr, cp, cy = np.cos(half[:, 0]), np.cos(half[:, 1]), np.cos(half[:, 2])
    sr, sp, sy = np.sin(half[:, 0]), np.sin(half[:, 1]), np.sin(half[:, 2])
    return np.stack(
        [
            sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
            cr * cp * cy + sr * sp * sy,
        ],
        axis=-1,
    )


def world_to_heading_xy(x: np.ndarray, y: np.ndarray, cos_yaw: np.ndarray, sin_yaw: np.ndarray) -> np.ndarray:
    """Horizontal world vectors ``(x, y)`` (M,) in the heading frame of yaws given by ``cos_yaw``, ``sin_yaw`` (M,).

    Returns ``(M, 2)``: forward, left (the world turned by -yaw).
    """
    return np.column_stack((cos_yaw * x + sin_yaw * y, -sin_yaw * x + cos_yaw * y))


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton products ``a ⊗ b`` (N, 4) of quaternions (N, 4) xyzw."""
    ax, ay, az, aw = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
    bx, by, bz, bw = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    return np.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        axis=-1,
    )
