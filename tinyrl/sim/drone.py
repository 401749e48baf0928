"""``Quadrotors``: N Crazyflies (state, per-drone parameters, inner controller) stepped together.

Two backends fly the same model: ``"numpy"`` (the reference: :mod:`~tinyrl.sim.controller`, :mod:`~tinyrl.sim.motors`
and :mod:`~tinyrl.sim.dynamics`, vectorized over drones, one Python iteration per physics step) and ``"numba"``
(:mod:`tinyrl.sim.fast`: one compiled call per policy period, looping over drones inside; same trajectories to
rounding). ``"auto"`` picks numba when it is installed.

Deterministic: nothing here draws random numbers; callers randomize through :meth:`Quadrotors.set_params` /
:meth:`Quadrotors.update_params` and reset poses with their own ``np.random.Generator``.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from tinyrl.sim import dynamics, motors, threads
from tinyrl.sim.controller import CascadeController
from tinyrl.sim.dynamics import RigidBodyState
from tinyrl.sim.params import DroneParamArrays, DroneParams, QuadrotorConfig
from tinyrl.sim.rotation import euler_to_quat, quat_to_euler

fast: ModuleType | None
try:  # numba is optional: without it every Quadrotors runs the NumPy reference.
    from tinyrl.sim import fast
except ImportError:  # pragma: no cover - depends on the environment
    fast = None

BACKENDS = ("numpy", "numba")
#: What ``backend="auto"`` means: numba when importable, else NumPy.
DEFAULT_BACKEND = "numba" if fast is not None else "numpy"


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def _c_float64(array: np.ndarray) -> np.ndarray:
    """``np.require(array, np.float64, ("C", "W"))``, without its cost (~1 us) when ``array`` is that already."""
    flags = array.flags
    if array.dtype == np.float64 and flags.c_contiguous and flags.writeable:
        return array
    return np.require(array, np.float64, ("C", "W"))


class Quadrotors:
    """N Crazyflie 2.x drones flown through the firmware PID cascade.

    Args:
        n: Number of drones.
        config: Flight model; the packaged Crazyflie 2.x defaults if None.
        policy_rate_hz: Rate of :meth:`step`; must divide the physics rate.
        drag: Apply rotor drag.
        ground_effect: Apply ground effect near ``z = 0``.
        backend: ``"numba"``, ``"numpy"`` or ``"auto"`` (:data:`DEFAULT_BACKEND`).
    """

    def __init__(
        self,
        n: int,
        config: QuadrotorConfig | None = None,
        policy_rate_hz: float = 100.0,
        drag: bool = True,
        ground_effect: bool = True,
        backend: str = "auto",
    ) -> None:
        backend = DEFAULT_BACKEND if backend == "auto" else backend
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; expected 'auto' or one of {BACKENDS}")
        if backend == "numba" and fast is None:
            raise ValueError("backend 'numba' needs the numba package (pip install numba)")
        self.backend = backend
        self.config = config or QuadrotorConfig()
        self.n = n
        self.dt_s = 1.0 / self.config.physics_rate_hz
        ratio = self.config.physics_rate_hz / policy_rate_hz
        if ratio < 1.0 or abs(ratio - round(ratio)) > 1e-9:
            raise ValueError(f"policy_rate_hz {policy_rate_hz} must divide physics rate {self.config.physics_rate_hz}")
        self.physics_steps_per_policy = round(ratio)
        self.drag = drag
        self.ground_effect = ground_effect
        self.params = DroneParamArrays(n, self.config.drone)
        self.state = RigidBodyState.zeros(n)
        self.controller = CascadeController(n, self.config)
        self.time_s = 0.0
        #: World-frame force on each drone (N, 3), N: wind and gusts; set it between steps.
        self.external_force_n = np.zeros((n, 3))
        if fast is not None:  # also when starting on NumPy: ``backend`` may be switched later
            # Fixed once the controller is built.
            self._cascade_params = fast.cascade_params(self.controller)
            self._cascade_tables = fast.cascade_tables(self.controller)

    # --- read-only state (views; copy to keep) ---
    @property
    def pos(self) -> np.ndarray:
        """Positions (N, 3), world, m."""
        return _read_only(self.state.pos)

    @property
    def vel(self) -> np.ndarray:
        """Velocities (N, 3), world, m/s."""
        return _read_only(self.state.vel)

    @property
    def quat(self) -> np.ndarray:
        """Orientations (N, 4), xyzw, body to world."""
        return _read_only(self.state.quat)

    @property
    def omega(self) -> np.ndarray:
        """Body angular velocities (N, 3), rad/s."""
        return _read_only(self.state.omega)

    @property
    def rpm(self) -> np.ndarray:
        """Rotor speeds (N, 4), rpm."""
        return _read_only(self.state.rpm)

    @property
    def euler(self) -> np.ndarray:
        """Roll, pitch, yaw (N, 3), rad (a new array)."""
        return quat_to_euler(self.state.quat)

    # --- parameters ---
    def set_params(self, indices: Any, params: DroneParams | Sequence[DroneParams]) -> None:
        """Give drones ``indices`` new physical parameters (one set for all, or one each)."""
        self.params.assign(indices, params)

    def update_params(self, indices: Any, **values: Any) -> None:
        """Set named :class:`DroneParams` fields of drones ``indices`` from scalars or (k,) arrays."""
        self.params.update(indices, **values)

    # --- episodes ---
    def reset(
        self,
        indices: Any,
        pos_m: np.ndarray,
        yaw_rad: np.ndarray | float = 0.0,
        vel_mps: np.ndarray | None = None,
        omega_rps: np.ndarray | None = None,
        roll_pitch_rad: np.ndarray | None = None,
        rpm: np.ndarray | None = None,
    ) -> None:
        """Put drones ``indices`` at a pose and clear their controller state.

        Args:
            indices: Which drones: an index array, a boolean mask, or a slice.
            pos_m: Positions (k, 3) or (3,), m.
            yaw_rad: Yaw (k,) or scalar, rad.
            vel_mps: World velocities (k, 3); zero if None.
            omega_rps: Body rates (k, 3); zero if None.
            roll_pitch_rad: Roll and pitch (k, 2); level if None.
            rpm: Rotor speeds (k, 4); each drone's hover speed if None (starts in the air without a drop).
        """
        idx = np.atleast_1d(np.arange(self.n)[indices])
        k = idx.size
        yaw = np.broadcast_to(np.asarray(yaw_rad, dtype=float), (k,))
        euler = np.zeros((k, 3))
        if roll_pitch_rad is not None:
            euler[:, :2] = roll_pitch_rad
        euler[:, 2] = yaw
        s = self.state
        s.pos[idx] = pos_m
        s.vel[idx] = 0.0 if vel_mps is None else vel_mps
        s.omega[idx] = 0.0 if omega_rps is None else omega_rps
        s.quat[idx] = euler_to_quat(euler)
        s.rpm[idx] = self.params.hover_rpm[idx, None] if rpm is None else rpm
        self.controller.reset(idx, euler, s.pos[idx])

    def step(self, setpoints: np.ndarray, mode: str = "hover", n_physics_steps: int | None = None) -> None:
        """Hold ``setpoints`` (N, 4) for one policy period (or ``n_physics_steps``) of physics + controller.

        Args:
            setpoints: (N, 4) in the units of ``mode`` (see :mod:`tinyrl.sim.controller`).
            mode: A controller mode (:attr:`CascadeController.modes`): ``"hover"``, ``"level"``, ``"off"``,
                ``"rates"``.
            n_physics_steps: Physics steps to take; one policy period if None.
        """
        setpoints = np.asarray(setpoints, dtype=float)
        if setpoints.shape != (self.n, 4):
            raise ValueError(f"setpoints must have shape ({self.n}, 4), got {setpoints.shape}")
        steps = self.physics_steps_per_policy if n_physics_steps is None else n_physics_steps
        self.controller.enter_mode(mode, self.state)
        if fast is not None and self.backend == "numba" and mode in fast.MODES and mode in self.controller.modes:
            self._step_numba(fast, setpoints, fast.MODES[mode], steps)
            return
        for _ in range(steps):
            rpm_cmd = self.controller.update(self.state, setpoints, mode)
            self.step_motors(rpm_cmd)

    def _step_numba(self, kernel: ModuleType, setpoints: np.ndarray, mode: int, steps: int) -> None:
        c = self.controller
        args = (
            steps,
            c.tick,
            mode,
            _c_float64(setpoints),
            _c_float64(self.external_force_n),
            kernel.flight_arrays(self.state, c),
            kernel.body_model(self.params, self.dt_s, self.drag, self.ground_effect),
            self._cascade_params,
            self._cascade_tables,
        )
        threads.run_blocks(lambda first, stop: kernel.policy_period(*args, first, stop), self.n)
        c.tick += steps
        for _ in range(steps):  # the same float sum as the NumPy path's per-step increments
            self.time_s += self.dt_s

    def step_motors(self, rpm_cmd: np.ndarray) -> None:
        """One physics step with rotor-speed commands (N, 4) rpm, bypassing the controller."""
        p = self.params
        motors.update_rpm(self.state.rpm, rpm_cmd, motors.lag_factor(p.motor_tau_s, self.dt_s), p.min_rpm, p.max_rpm)
        dynamics.step(
            self.state,
            p,
            self.dt_s,
            drag=self.drag,
            ground_effect=self.ground_effect,
            external_force_n=self.external_force_n if self.external_force_n.any() else None,
        )
        self.time_s += self.dt_s
