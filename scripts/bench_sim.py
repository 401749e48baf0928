"""Throughput of the batched Crazyflie flight model: policy-rate drone-steps/s on one core, as one JSON line.

One drone-step is one policy period (100 Hz by default = 5 physics steps at 500 Hz) of inner controller, motors
and rigid-body dynamics. Each measured stage is its own function so sensors and ray casting can be added as
further stages later.

Usage: python scripts/bench_sim.py [--seconds 1.0] [--sizes 1 16 64 256]
"""

from __future__ import annotations

import os

# One core: set before NumPy loads its BLAS.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from tinyrl.sim.drone import Quadrotors  # noqa: E402


def make_flight(n: int, seed: int = 0) -> tuple[Quadrotors, np.ndarray]:
    """N drones hovering at random poses with random hover setpoints (N, 4)."""
    rng = np.random.default_rng(seed)
    quads = Quadrotors(n)
    quads.reset(slice(None), rng.uniform([-1, -1, 0.5], [1, 1, 1.5], (n, 3)), yaw_rad=rng.uniform(-3, 3, n))
    setpoints = np.column_stack(
        [rng.uniform(-0.5, 0.5, n), rng.uniform(-0.5, 0.5, n), rng.uniform(-45, 45, n), rng.uniform(0.5, 1.5, n)]
    )
    return quads, setpoints


def stage_flight(quads: Quadrotors, setpoints: np.ndarray) -> Callable[[], None]:
    """One policy period of controller + motors + dynamics for all drones."""
    return lambda: quads.step(setpoints)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="measuring time per size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 16, 64, 256], help="batch sizes N")
    args = parser.parse_args()
    results = {}
    for n in args.sizes:
        quads, setpoints = make_flight(n)
        results[str(n)] = {"flight": round(measure(stage_flight(quads, setpoints), n, args.seconds))}
    probe = Quadrotors(1)
    print(
        json.dumps(
            {
                "bench": "sim",
                "unit": "drone_steps_per_s",
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
