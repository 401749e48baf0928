"""Benchmark exported policies on the emulated Cortex-M4: flash, RAM and instructions per inference.

Exports the default policy (``policies/obstacle-course/policy_int8.tflite``, or a random 16->32->32->4 model if it
does not exist yet) and a few random sizes with ``tinyrl export --target cortex-m4``, and prints ONE JSON line::

    python scripts/bench_mcu.py [--sizes 16,16,16,4 16,32,32,4 16,64,64,4]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


from tinyrl.export import export_policy
from tinyrl.export.pipeline import DEFAULT_MODEL
from tinyrl.io import atomic_write_bytes

DEFAULT_SIZES = ["16,16,16,4", "16,32,32,4", "16,64,64,4"]


def _random_model(sizes: list[int], path: Path) -> Path:
    from tinyrl.compress.quantize import convert_random_mlp

    atomic_write_bytes(path, convert_random_mlp(sizes, "tanh", seed=0))
    return path


def _row(name: str, tflite: Path, work: Path) -> dict[str, object]:
    report = export_policy(tflite, work / name, target="cortex-m4").report
    ipi = report["instructions_per_inference"]
    return {
        "model": name,
        "architecture": report["model"]["architecture"],
        "parameter_bytes": report["model"]["parameter_bytes"],
        "flash_bytes": report["policy"]["flash_bytes"],
        "flash_bytes_portable": report["policy"]["portable_flash_bytes"],
        "ram_bytes": report["policy"]["ram_bytes"],
        "instructions_dsp": ipi["dsp"],
        "instructions_portable": ipi["portable"],
        "instructions_float_dsp": ipi["dsp_float"],
        "firmware_flash_bytes": report["firmware"]["flash_bytes"],
        "firmware_ram_bytes": report["firmware"]["ram_bytes"],
    }


def main() -> None:
    """Export each model, collect the footprint, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", default=DEFAULT_SIZES, help="Comma-separated layer widths.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-mcu-") as tmp:
        work = Path(tmp)
        if DEFAULT_MODEL.is_file():
            default = ("default", DEFAULT_MODEL)
        else:
            default = ("default-random-16x32x32x4", _random_model([16, 32, 32, 4], work / "default.tflite"))
        rows = [_row(default[0], default[1], work)]
        for spec in args.sizes:
            sizes = [int(v) for v in spec.split(",")]
            name = "random-" + "x".join(map(str, sizes))
            rows.append(_row(name, _random_model(sizes, work / f"{name}.tflite"), work))
    print(json.dumps({"bench": "mcu", "target": "cortex-m4 (QEMU netduinoplus2, -icount shift=0)", "models": rows}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
