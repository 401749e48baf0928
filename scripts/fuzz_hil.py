"""Fuzz both HIL decoders (Python and the host-compiled C one, with ASan/UBSan) for longer than CI does.

    python scripts/fuzz_hil.py [--frames 10000000] [--seed 0]

Prints ONE JSON line with the counts of each decoder; exits 1 if a clean frame failed to round-trip or C crashed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from tinyrl.hil.fuzz import fuzz_python

REPO = Path(__file__).resolve().parents[1]


def fuzz_c(frames: int, seed: int) -> dict[str, object]:
    """Build tests/hil/hil_harness.c with sanitizers and run its fuzz mode."""
    gcc = shutil.which("gcc")
    if gcc is None:
        return {"skipped": "no gcc"}
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "hil_harness"
        cmd = [
            gcc,
            "-std=c99",
            "-O1",
            "-g",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{REPO / 'firmware/hil'}",
            str(REPO / "tests/hil/hil_harness.c"),
            str(REPO / "firmware/hil/tr_hil_proto.c"),
            "-o",
            str(exe),
        ]
        subprocess.run([*cmd, "-fsanitize=address,undefined", "-fno-sanitize-recover=all"], check=True)
        t0 = time.perf_counter()
        out = subprocess.run([str(exe), "fuzz", str(frames), str(seed)], capture_output=True, text=True)
        result: dict[str, object] = {k: int(v) for k, v in (kv.split("=") for kv in out.stdout.split())}
        result.update(returncode=out.returncode, seconds=round(time.perf_counter() - t0, 2))
        if out.stderr:
            result["stderr"] = out.stderr[-2000:]
        return result


def main() -> int:
    """Run both fuzzers and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000, help="frames per decoder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    t0 = time.perf_counter()
    py = {**asdict(fuzz_python(args.frames, args.seed)), "seconds": round(time.perf_counter() - t0, 2)}
    c = fuzz_c(args.frames, args.seed)
    print(json.dumps({"python": py, "c": c}))
    ok = py["clean_bad"] == 0 and c.get("returncode", 0) == 0 and c.get("clean_bad", 0) == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
