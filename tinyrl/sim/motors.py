r"""Crazyflie 2.x motors: layout, first-order rotor-speed lag, and per-motor thrust and body torques.

Layout (body frame FLU: x forward, y left, z up; seen from above), as in the Crazyflie firmware::

        M4 (front-left, CW)     M1 (front-right, CCW)
                        \   x   /
                         \  ^  /
                          \ | /
                    y <----(z)
                          /   \
                         /     \
        M3 (back-left, CCW)     M2 (back-right, CW)

Column ``i`` of every (N, 4) array is motor M(i+1). A propeller spinning counter-clockwise (seen from above)
pushes a clockwise (-z) reaction torque on the body, so yaw torque is ``km (-w1² + w2² - w3² + w4²)``.
"""

from __future__ import annotations

import numpy as np

# Unit motor positions (x, y) on the diagonals; scale by the lever arm (arm / sqrt 2) per drone.
MOTOR_XY = np.array([[1.0, -1.0], [-1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]])
# +1 where the reaction torque on the body is +z (propeller turning clockwise seen from above).
YAW_SIGN = np.array([-1.0, 1.0, -1.0, 1.0])


def lag_factor(tau_s: np.ndarray, dt_s: float) -> np.ndarray:
    """Exact zero-order-hold step factor of a first-order lag: ``1 - exp(-dt / tau)``, shape of ``tau_s``."""
    return -np.expm1(-dt_s / tau_s)


def update_rpm(
    rpm: np.ndarray, rpm_cmd: np.ndarray, factor: np.ndarray, min_rpm: np.ndarray, max_rpm: np.ndarray
) -> None:
    """Move rotor speeds toward the clipped command by one physics step, in place.

    Args:
        rpm: Rotor speeds (N, 4) rpm, updated in place.
        rpm_cmd: Commanded rotor speeds (N, 4) rpm.
        factor: Per-drone lag factor (N,) from :func:`lag_factor`.
        min_rpm: Per-drone lowest speed (N,) rpm.
        max_rpm: Per-drone top speed (N,) rpm.
    """
    target = np.minimum(np.maximum(rpm_cmd, min_rpm[:, None]), max_rpm[:, None])
    rpm += (target - rpm) * factor[:, None]


def thrusts(rpm: np.ndarray, kf: np.ndarray) -> np.ndarray:
    """Per-motor thrust (N, 4) in N along body +z, from rotor speeds (N, 4) rpm and ``kf`` (N,) N/rpm²."""
    return kf[:, None] * rpm * rpm


def body_torques(thrust_n: np.ndarray, rpm: np.ndarray, lever_m: np.ndarray, km: np.ndarray) -> np.ndarray:
    """Body torques (N, 3) in N·m from per-motor thrusts (N, 4) N, speeds (N, 4) rpm, lever (N,) m, km (N,)."""
    out = np.empty((thrust_n.shape[0], 3))
    # Torque of a +z force at (x, y) is (y F, -x F, 0). Row sums, not BLAS matmul: BLAS may sum in a different
    # order for different N, and a drone's trajectory must not depend on the batch it is in.
    out[:, 0] = lever_m * (thrust_n * MOTOR_XY[:, 1]).sum(axis=1)
    out[:, 1] = -lever_m * (thrust_n * MOTOR_XY[:, 0]).sum(axis=1)
    out[:, 2] = km * (rpm * rpm * YAW_SIGN).sum(axis=1)
    return out
