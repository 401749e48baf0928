"""Throughput of the batched simulator on one core, as one JSON line.

Stages, each measured for N = 1, 16, 64, 256 drones:

- ``flight``: one policy period (100 Hz = 5 physics steps at 500 Hz) of inner controller, motors and
  rigid-body dynamics, in drone-steps/s;
- ``flight_sensors``: the same plus the multi-ranger (ray casts), flow deck and gyro in a course world;
- ``env`` (with ``--env NAME``): env-steps/s of the batched vector env with random actions, auto-resets
  included, at the scenario's policy rate.

Every stage runs on ``--backend`` (``auto``: numba when installed), the flight model and the ray casts alike;
``numpy`` measures the reference code, a baseline to run side by side.

Usage: python scripts/bench_sim.py [--env obstacle-course] [--backend auto|numba|numpy] [--seconds 1.0]
       [--sizes 1 16 64 256]
"""

from __future__ import annotations

import os

# One core, the machine's yardstick: set before NumPy loads its BLAS; the simulator's kernels stay on one thread
# too (tinyrl.sim.threads reads its variable at every call).
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TINYRL_SIM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from tinyrl.sim import drone, geometry  # noqa: E402
from tinyrl.sim.drone import Quadrotors  # noqa: E402


def make_flight(n: int, seed: int = 0, backend: str = "auto") -> tuple[Quadrotors, np.ndarray]:
    """N drones hovering at random poses with random hover setpoints (N, 4)."""
    rng = np.random.default_rng(seed)
    quads = Quadrotors(n, backend=backend)
    quads.reset(slice(None), rng.uniform([-1, -1, 0.5], [1, 1, 1.5], (n, 3)), yaw_rad=rng.uniform(-3, 3, n))
    setpoints = np.column_stack(
        [rng.uniform(-0.5, 0.5, n), rng.uniform(-0.5, 0.5, n), rng.uniform(-45, 45, n), rng.uniform(0.5, 1.5, n)]
    )
    return quads, setpoints


def stage_flight(quads: Quadrotors, setpoints: np.ndarray) -> Callable[[], None]:
    """One policy period of controller + motors + dynamics for all drones."""
    return lambda: quads.step(setpoints)


def stage_flight_sensors(quads: Quadrotors, setpoints: np.ndarray) -> Callable[[], None]:
    """Flight plus multi-ranger, flow deck and gyro in a 10-obstacle course per drone."""
    from tinyrl.sim.sensors import FlowDeck, Gyro, Kinematics, MultiRanger
    from tinyrl.sim.world import World, random_course

    n = quads.n
    rng = np.random.default_rng(1)
    world = World(n)
    for i in range(n):
        world.set_course(i, random_course(rng, n_obstacles=10))
    dt_s = quads.physics_steps_per_policy * quads.dt_s
    sensors = [MultiRanger(n, dt_s), FlowDeck(n, dt_s), Gyro(n, dt_s)]
    kin = Kinematics(quads.pos, quads.quat, quads.vel, quads.omega)
    for sensor in sensors:
        sensor.reset(None, world, kin, rng)

    def step() -> None:
        quads.step(setpoints)
        for sensor in sensors:
            sensor.step(world, kin, rng)

    return step


def stage_env(env: str, n: int) -> Callable[[], None]:
    """One vector-env step with random actions (auto-resets included)."""
    from tinyrl.tasks.vec_env import TinyRLVecEnv

    vec = TinyRLVecEnv(env, n_envs=n, seed=0)
    vec.reset()
    vec.action_space.seed(0)
    actions = [np.stack([vec.action_space.sample() for _ in range(n)]) for _ in range(16)]
    calls = iter(range(1 << 62))
    return lambda: vec.step(actions[next(calls) % len(actions)])


def measure(step: Callable[[], None], n: int, seconds: float) -> float:
    """Drone-steps/s of ``step`` (which advances ``n`` drones one policy period), after a warm-up."""
    for _ in range(20):
        step()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(10):
            step()
        calls += 10
    return calls * n / elapsed


def env_steps_per_s(env: str, n: int = 256, seconds: float = 1.0) -> float:
    """Env-steps/s of the scenario's batched vector env with ``n`` drones and random actions (the ``env`` stage)."""
    return measure(stage_env(env, n), n, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="measuring time per size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 16, 64, 256], help="batch sizes N")
    parser.add_argument("--env", default=None, help="also measure this scenario's vector env (envs/NAME.yaml)")
    parser.add_argument("--backend", default="auto", choices=["auto", *drone.BACKENDS], help="simulator backend")
    args = parser.parse_args()
    # The env builds its Quadrotors and casts its rays with backend "auto": point that at the requested backend.
    drone.DEFAULT_BACKEND = drone.DEFAULT_BACKEND if args.backend == "auto" else args.backend
    geometry.RAY_BACKEND = geometry.RAY_BACKEND if args.backend == "auto" else args.backend
    results = {}
    for n in args.sizes:
        quads, setpoints = make_flight(n, backend=args.backend)
        row = {"flight": round(measure(stage_flight(quads, setpoints), n, args.seconds))}
        quads, setpoints = make_flight(n, backend=args.backend)
        row["flight_sensors"] = round(measure(stage_flight_sensors(quads, setpoints), n, args.seconds))
        if args.env:
            row["env"] = round(env_steps_per_s(args.env, n, args.seconds))
        results[str(n)] = row
    probe = Quadrotors(1, backend=args.backend)
    print(
        json.dumps(
            {
                "bench": "sim",
                "unit": "steps_per_s",
                "env": args.env,
                "backend": probe.backend,
                "ray_backend": geometry.RAY_BACKEND,
                "policy_rate_hz": 100.0,
                "physics_steps_per_policy_step": probe.physics_steps_per_policy,
                "numpy": np.__version__,
                "python": platform.python_version(),
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
