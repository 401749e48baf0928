"""Benchmark the HIL loop through QEMU: round trips per second and latency percentiles.

Flies ``--episodes`` obstacle-course episodes with ``policies/obstacle-course/policy_int8.tflite`` (or an untrained
int8 stand-in if none is shipped yet) through the HIL firmware under QEMU, plus ``--pings`` bare PING/PONG round
trips, and prints ONE JSON line. The target is >= 100 round trips/s (loop_hz).

    python scripts/bench_hil.py [--episodes 5] [--pings 500]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from tinyrl.common.tensorflow_env import quiet_tensorflow
from tinyrl.compress.artefacts import INT8_FILE
from tinyrl.hil.bridge import latency_summary
from tinyrl.hil.link import HilLink
from tinyrl.hil.run import run_hil
from tinyrl.tasks.config import load_scenario

quiet_tensorflow()  # before anything loads TensorFlow

SHIPPED = Path("policies/obstacle-course") / INT8_FILE


def main() -> int:
    """Run the benchmark and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--pings", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tinyrl-bench-hil-") as tmp:
        if SHIPPED.is_file():
            policy = SHIPPED.parent
        else:
            from tinyrl.hil.testing import random_int8_policy

            policy = random_int8_policy(Path(tmp) / "policy")
        build = Path(tmp) / "build"
        t0 = time.perf_counter()
        report = run_hil(
            policy,
            load_scenario("obstacle-course"),
            qemu=True,
            episodes=args.episodes,
            seed=args.seed,
            build_dir=build,
        )
        flight_s = time.perf_counter() - t0
        from tinyrl.hil.qemu import QemuSession, build_hil_firmware

        with QemuSession(build_hil_firmware(Path(policy) / INT8_FILE, build)) as session:
            link = HilLink.open(session.url)
            try:
                link.handshake()
                pings = [link.ping(bytes(20)) for _ in range(args.pings)]
            finally:
                link.close()
    out = {
        "policy": str(policy) if SHIPPED.is_file() else "untrained stand-in",
        "episodes": args.episodes,
        "round_trips": report.round_trips,
        "loop_hz": report.loop_hz,
        "latency_ms": report.latency_ms,
        "ping_latency_ms": latency_summary(pings),
        "ping_hz": round(len(pings) / sum(pings), 1) if pings else 0.0,
        "mismatches": report.mismatches,
        "link": report.link,
        "instructions_per_inference": report.device.get("instructions_per_inference"),
        "wall_s": round(flight_s, 2),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
