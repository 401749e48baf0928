"""``tinyrl export``: a ``.tflite`` policy in, a self-contained C folder plus a footprint report out.

Order matters for the "nothing on error" promise: load and check the model, generate every file into a private
temporary folder, build and verify it there (host or QEMU), measure it, and only then move the finished folder to
``OUTDIR`` in one rename. Any error before that leaves ``OUTDIR`` as it was (or absent).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from tinyrl.compress.model import QuantizedMLP
from tinyrl.compress.tflite_reader import load_tflite
from tinyrl.export import codegen, footprint
from tinyrl.export.codegen import Rounding
from tinyrl.export.errors import ExportError
from tinyrl.export.report import model_summary
from tinyrl.export.targets import check_model, get_target

DEFAULT_MODEL = Path("policies/obstacle-course/policy_int8.tflite")
MODEL_FILE = "policy_int8.tflite"
REPORT_FILE = "report.json"
OBS_LAYOUT_FILE = "tinyrl_obs_layout.h"


@dataclass(frozen=True)
class ExportResult:
    """Where the export went and what it measured."""

    outdir: Path
    report: dict[str, Any]


def resolve_model(model: Path | None) -> Path:
    """The ``.tflite`` to export: ``model``, ``model/policy_int8.tflite`` for a policy folder, or the default.

    Raises:
        ExportError: the file does not exist (with a hint when it is the not-yet-trained default).
    """
    if model is None:
        if not DEFAULT_MODEL.is_file():
            raise ExportError(
                f"no MODEL given and the default {DEFAULT_MODEL} does not exist yet; train and compress a policy "
                "first (python scripts/train.py --env obstacle-course) or pass a .tflite file or policy folder"
            )
        return DEFAULT_MODEL
    path = model / MODEL_FILE if model.is_dir() else model
    if not path.is_file():
        where = f"policy folder {model} has no {MODEL_FILE}" if model.is_dir() else f"{model}: no such model file"
        raise ExportError(where)
    return path


def _check_outdir(outdir: Path) -> None:
    if outdir.exists() and not outdir.is_dir():
        raise ExportError(f"output {outdir} exists and is not a folder")
    if outdir.is_dir() and any(outdir.iterdir()) and not (outdir / "tinyrl_policy.c").is_file():
        raise ExportError(f"output folder {outdir} is not empty and is not a previous export; choose another -o")


def _verify_and_measure(folder: Path, work: Path, model: QuantizedMLP, rounding: Rounding, arm: bool) -> dict[str, Any]:
    """Build the verify app with the generated policy, check the vectors, measure; returns report entries."""
    vectors = codegen.verification_vectors(model, rounding)
    header = work / "vectors.h"
    header.write_text(codegen.vectors_header(model, vectors, codegen.describe(model)))
    common = {"POLICY": str(folder), "VECTORS": str(header), "ROUNDING": rounding}
    n_checked = len(vectors[0]) + len(vectors[2])
    if not arm:
        make = shutil.which("make")
        if make is None or shutil.which("gcc") is None:
            raise ExportError("make and gcc are needed to check the exported C on the host: run `make setup`")
        binary = footprint.make_firmware(work / "host", make, TARGET="host", APP="verify", KERNELS="portable", **common)
        footprint.run_host(binary)
        return {
            "arm": "skipped (--target host): no Cortex-M4 footprint or instruction counts",
            "verification": {"vectors": n_checked, "mismatches": 0, "where": ["host"]},
        }
    tools = footprint.find_arm_tools()
    policy = footprint.measure_module(folder, work / "obj-dsp", tools, "dsp")
    portable = footprint.measure_module(folder, work / "obj-portable", tools, "portable")
    counts: dict[str, int | None] = {}
    for kernels in ("dsp", "portable"):
        elf = footprint.make_firmware(
            work / f"verify-{kernels}", tools.make, TARGET="stm32f405", APP="verify", KERNELS=kernels, **common
        )
        result = footprint.run_qemu(tools, elf)
        counts[kernels] = result.instructions
        counts[f"{kernels}_float"] = result.float_instructions
    firmware_elf = footprint.make_firmware(
        work / "fw", tools.make, TARGET="stm32f405", APP="policy", KERNELS="dsp", POLICY=str(folder), ROUNDING=rounding
    )
    return {
        "policy": {**policy, "portable_flash_bytes": portable["flash_bytes"]},
        "instructions_per_inference": counts,
        "firmware": {"app": "policy (serial HIL loop, DSP kernels)", **footprint.image_size(tools.size, firmware_elf)},
        "verification": {"vectors": n_checked, "mismatches": 0, "where": ["qemu dsp", "qemu portable"]},
    }


def _commit(staged: Path, outdir: Path) -> None:
    """Move the finished folder to ``outdir``, replacing a previous export, with renames only."""
    outdir.parent.mkdir(parents=True, exist_ok=True)
    final = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", suffix=".new", dir=outdir.parent))
    try:
        shutil.copytree(staged, final, dirs_exist_ok=True)
        if outdir.exists():
            old = final.with_suffix(".old")
            os.replace(outdir, old)
            os.replace(final, outdir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(final, outdir)
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise


def export_policy(
    model: Path | None,
    outdir: Path,
    *,
    target: str = "cortex-m4",
    rounding: str = "tflm",
    env: str | None = None,
) -> ExportResult:
    """Export an int8 ``.tflite`` MLP as a self-contained C folder, verified and measured.

    Args:
        model: A ``.tflite`` file or a policy folder holding ``policy_int8.tflite``; ``None`` for the default
            ``policies/obstacle-course/policy_int8.tflite``.
        outdir: Folder to write (replaced if it holds a previous export).
        target: ``"cortex-m4"`` (limits, ARM footprint, QEMU check) or ``"host"`` (host check only).
        rounding: ``"tflm"`` (TFLite Micro/CMSIS-NN, the default) or ``"tflite"`` (TFLite interpreter).
        env: Scenario whose observation layout to emit as ``tinyrl_obs_layout.h`` (optional).

    Returns:
        The output folder and the report (also written to ``outdir/report.json``).

    Raises:
        ExportError: missing model file, model too big for the target, missing tools, or a failed check.
        ModelError: the model is not a full-int8 MLP (e.g. float, or has a convolution).
    """
    if rounding not in ("tflm", "tflite"):
        raise ExportError(f"--rounding must be tflm or tflite, not {rounding!r}")
    mode = cast(Rounding, rounding)  # checked just above
    limits = get_target(target)
    path = resolve_model(model)
    data = path.read_bytes()
    quantized = load_tflite(path)
    check_model(quantized, limits)
    _check_outdir(outdir)
    sha256 = codegen.model_hash(data)
    files = codegen.generate(quantized, sha256, mode, path.name)
    if env is not None:
        from tinyrl.export.obs_layout import obs_layout_header

        files[OBS_LAYOUT_FILE] = obs_layout_header(env, quantized.in_features)

    with tempfile.TemporaryDirectory(prefix="tinyrl-export-") as tmp:
        staged = Path(tmp) / "policy"
        staged.mkdir()
        for name, text in files.items():
            (staged / name).write_text(text)
        measured = _verify_and_measure(staged, Path(tmp), quantized, mode, limits.arm)
        report = {
            "generator": "tinyrl.export",
            "target": limits.name,
            "rounding": rounding,
            "env": env,
            "files": sorted([*files, REPORT_FILE]),
            "model": model_summary(quantized, sha256, str(path)),
            "limits": {
                "max_width": limits.max_width,
                "max_scratch_bytes": limits.max_scratch_bytes,
                "max_parameter_bytes": limits.max_parameter_bytes,
            },
            "scratch_bytes": codegen.scratch_bytes(quantized),
            **measured,
        }
        (staged / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
        _commit(staged, outdir)
    return ExportResult(outdir, report)
