"""Fuzz both HIL decoders (Python and the host-compiled C one, with ASan/UBSan) for longer than CI does.

    python scripts/fuzz_hil.py [--frames 10000000] [--seed 0] [--faults flip1,garbage]

Runs every fault class of ``tinyrl.hil.fuzz`` (the C harness implements the same ones) through each decoder and
prints ONE JSON line with the counts per class and decoder; exits 1 if a decoder accepted a wrong frame, lost a good
frame after a fault, or crashed.
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

from tinyrl.hil.fuzz import FAULTS, fuzz_fault

REPO = Path(__file__).resolve().parents[1]


def build_c_harness(folder: Path) -> Path:
    """Build tests/hil/hil_harness.c with the sanitizers into ``folder``."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise SystemExit("gcc not found: run `make setup`")
    exe = folder / "hil_harness"
    cmd = [
        gcc,
        "-std=c99",
        "-O1",
        "-g",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-fsanitize=address,undefined",
        "-fno-sanitize-recover=all",
        f"-I{REPO / 'firmware/hil'}",
        str(REPO / "tests/hil/hil_harness.c"),
        str(REPO / "firmware/hil/tr_hil_proto.c"),
        "-o",
        str(exe),
    ]
    subprocess.run(cmd, check=True)
    return exe


def fuzz_c(exe: Path, fault: str, frames: int, seed: int) -> dict[str, object]:
    """The C harness's counts for one fault class (``returncode`` 0 when nothing wrong was accepted)."""
    t0 = time.perf_counter()
    out = subprocess.run([str(exe), "fuzz", fault, str(frames), str(seed)], capture_output=True, text=True)
    pairs = (kv.split("=") for kv in out.stdout.split())
    result: dict[str, object] = {k: v if k == "class" else int(v) for k, v in pairs}
    result.update(returncode=out.returncode, seconds=round(time.perf_counter() - t0, 2))
    if out.stderr:
        result["stderr"] = out.stderr[-2000:]
    return result


def main() -> int:
    """Run both fuzzers over the chosen classes and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000, help="frames per class and decoder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated fault classes")
    args = parser.parse_args()
    faults = args.faults.split(",")
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown:
        parser.error(f"unknown fault classes {unknown}; known: {', '.join(FAULTS)}")
    report: dict[str, dict[str, object]] = {"python": {}, "c": {}}
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_c_harness(Path(tmp))
        for fault in faults:
            t0 = time.perf_counter()
            py = fuzz_fault(fault, args.frames, args.seed)
            report["python"][fault] = {**asdict(py), "seconds": round(time.perf_counter() - t0, 2)}
            c = fuzz_c(exe, fault, args.frames, args.seed)
            report["c"][fault] = c
            ok &= py.wrong == 0 and py.resync == py.frames and c["returncode"] == 0
    print(json.dumps(report))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
