"""Benchmark exported policies on every emulated core: flash, RAM and instructions per inference, side by side.

Exports each shipped policy (``policies/*/policy_int8.tflite``) and a few random sizes with ``tinyrl export --target
cortex-m4`` (which also verifies and measures the policy on every other target's core, for its fits-on table) and
prints ONE JSON line; ``--markdown`` prints the side-by-side tables instead::

    python scripts/bench_mcu.py [--sizes 16,16,16,4 16,32,32,4 16,64,64,4] [--markdown]

Each row keeps the Cortex-M4 numbers at its top level (``flash_bytes``, ``instructions_dsp``, ...) and has every
target's under ``targets``: the policy module's flash and RAM compiled for that core, and its instructions per
inference under QEMU ``-icount`` with the core's preferred kernels (the DSP path where the core has it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from tinyrl.common.tensorflow_env import quiet_tensorflow
from tinyrl.compress.artefacts import INT8_FILE
from tinyrl.export import export_policy
from tinyrl.export.targets import MCU_TARGETS, TARGETS
from tinyrl.io import atomic_write_bytes

quiet_tensorflow()  # before anything loads TensorFlow

DEFAULT_SIZES = ["16,16,16,4", "16,32,32,4", "16,64,64,4"]
POLICIES = Path("policies")


def _random_model(sizes: list[int], path: Path) -> Path:
    from tinyrl.compress.quantize import convert_random_mlp

    atomic_write_bytes(path, convert_random_mlp(sizes, "tanh", seed=0))
    return path


def _row(name: str, tflite: Path, work: Path) -> dict[str, Any]:
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
        "targets": {
            target: {
                key: measured.get(key)
                for key in ("kernels", "flash_bytes", "ram_bytes", "instructions_per_inference", "measured", "reason")
                if key in measured
            }
            for target, measured in report["targets"].items()
        },
    }


def _markdown(rows: list[dict[str, Any]]) -> str:
    """One table per quantity: models down, targets across."""
    lines = []
    for title, key in [
        ("policy flash (bytes)", "flash_bytes"),
        ("policy RAM (bytes)", "ram_bytes"),
        ("instructions per inference", "instructions_per_inference"),
    ]:
        lines += [f"{title}:", "", "| model | " + " | ".join(MCU_TARGETS) + " |", "|---" * (len(MCU_TARGETS) + 1) + "|"]
        for row in rows:
            cells = [row["targets"][t].get(key) for t in MCU_TARGETS]
            text = [f"{c:,}" if isinstance(c, int) else "—" for c in cells]
            lines.append(f"| {row['model']} ({row['architecture']}) | " + " | ".join(text) + " |")
        lines.append("")
    kernels = ", ".join(f"{t}: {TARGETS[t].core.kernels[0]}" for t in MCU_TARGETS if TARGETS[t].core is not None)
    lines.append(f"Kernels: {kernels}.")
    return "\n".join(lines)


def main() -> None:
    """Export each model, collect every target's footprint, print one JSON line (or the markdown tables)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", default=DEFAULT_SIZES, help="Comma-separated layer widths.")
    parser.add_argument("--markdown", action="store_true", help="Print side-by-side markdown tables, not JSON.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-mcu-") as tmp:
        work = Path(tmp)
        rows = [_row(path.parent.name, path, work) for path in sorted(POLICIES.glob(f"*/{INT8_FILE}"))]
        for spec in args.sizes:
            sizes = [int(v) for v in spec.split(",")]
            name = "random-" + "x".join(map(str, sizes))
            rows.append(_row(name, _random_model(sizes, work / f"{name}.tflite"), work))
    if args.markdown:
        print(_markdown(rows))
    else:
        targets = {
            name: {"core": core.description, "emulator": " ".join(core.qemu), "kernels": core.kernels[0]}
            for name in MCU_TARGETS
            if (core := TARGETS[name].core) is not None
        }
        print(
            json.dumps(
                {
                    "bench": "mcu",
                    "target": "cortex-m4 (QEMU netduinoplus2, -icount shift=0)",
                    "targets": targets,
                    "models": rows,
                }
            )
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
