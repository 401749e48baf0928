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

from tinyrl.common.paths import portable_path
from tinyrl.compress.artefacts import INT8_FILE
from tinyrl.compress.model import QuantizedMLP
from tinyrl.compress.tflite_reader import load_tflite
from tinyrl.export import codegen, footprint
from tinyrl.export.boards import fits_on as fits_on_table
from tinyrl.export.codegen import Rounding
from tinyrl.export.errors import ExportError
from tinyrl.export.report import model_summary
from tinyrl.export.targets import MCU_TARGETS, TARGETS, Core, TargetLimits, check_model, get_target

DEFAULT_MODEL = Path("policies/obstacle-course") / INT8_FILE
# Scenario whose policy rate the fits-on table uses when --env is not given: the default model's.
RATE_SCENARIO = "obstacle-course"
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
    path = model / INT8_FILE if model.is_dir() else model
    if not path.is_file():
        where = f"policy folder {model} has no {INT8_FILE}" if model.is_dir() else f"{model}: no such model file"
        raise ExportError(where)
    return path


def _check_outdir(outdir: Path) -> None:
    if outdir.exists() and not outdir.is_dir():
        raise ExportError(f"output {outdir} exists and is not a folder")
    if outdir.is_dir() and any(outdir.iterdir()) and not (outdir / "tinyrl_policy.c").is_file():
        raise ExportError(f"output folder {outdir} is not empty and is not a previous export; choose another -o")


def _verify_and_measure(
    folder: Path, work: Path, model: QuantizedMLP, rounding: Rounding, limits: TargetLimits, fits_on: bool
) -> dict[str, Any]:
    """Check the generated policy on the vectors and measure it; returns report entries.

    The verify app runs on the target's emulated core with every kernel path the core has and, with ``fits_on``, on
    every other microcontroller target's core with its preferred kernels.
    """
    vectors = codegen.verification_vectors(model, rounding)
    header = work / "vectors.h"
    header.write_text(codegen.vectors_header(model, vectors, codegen.describe(model)))
    common = {"POLICY": str(folder), "VECTORS": str(header), "ROUNDING": rounding}
    n_checked = len(vectors[0]) + len(vectors[2])
    core = limits.core
    if core is None:
        make = shutil.which("make")
        if make is None or shutil.which("gcc") is None:
            raise ExportError("make and gcc are needed to check the exported C on the host: run `make setup`")
        binary = footprint.make_firmware(work / "host", make, TARGET="host", APP="verify", KERNELS="portable", **common)
        footprint.run_host(binary)
        return {
            "arm": "skipped (--target host): no Cortex-M4 footprint or instruction counts",
            "verification": {"vectors": n_checked, "mismatches": 0, "where": ["host"]},
        }
    tools = footprint.find_tools(core)
    primary = core.kernels[0]
    modules = {k: footprint.measure_module(folder, work / f"obj-{k}", tools, k, core.cflags) for k in core.kernels}
    int8 = {
        k: footprint.int8_path(sorted((work / f"obj-{k}").glob("*.o")), work / f"obj-{k}", tools, core.cflags)
        for k in core.kernels
    }
    counts: dict[str, int | None] = {}
    for kernels in core.kernels:
        elf = footprint.make_firmware(
            work / f"verify-{kernels}", tools.make, TARGET=core.board, APP="verify", KERNELS=kernels, **common
        )
        result = footprint.run_core(tools, core, elf)
        counts[kernels] = result.instructions
        counts[f"{kernels}_float"] = result.float_instructions
    firmware_elf = footprint.make_firmware(
        work / "fw", tools.make, TARGET=core.board, APP="policy", KERNELS=primary, POLICY=str(folder), ROUNDING=rounding
    )
    policy = modules[primary]
    app = "policy (serial HIL loop, DSP kernels)" if primary == "dsp" else "policy (serial loop, portable kernels)"
    measured: dict[str, Any] = {
        "policy": {**policy, "portable_flash_bytes": modules["portable"]["flash_bytes"]},
        "instructions_per_inference": counts,
        "firmware": {"app": app, **footprint.image_size(tools.size, firmware_elf)},
        "verification": {"vectors": n_checked, "mismatches": 0, "where": [f"qemu {k}" for k in core.kernels]},
        "core": _core_summary(core),
        "int8_path": {"helpers": int8[primary]["helpers"], "float": False, "division": False},
    }
    if fits_on:
        targets: dict[str, dict[str, Any]] = {
            limits.name: {
                "measured": True,
                **_core_summary(core),
                "kernels": primary,
                "flash_bytes": policy["flash_bytes"],
                "ram_bytes": policy["ram_bytes"],
                "instructions_per_inference": counts[primary],
                "float_instructions_per_inference": counts[f"{primary}_float"],
                "int8_path_helpers": int8[primary]["helpers"],
                "vectors": n_checked,
                "mismatches": 0,
            }
        }
        for name in MCU_TARGETS:
            if name != limits.name:
                targets[name] = measure_other_core(name, work / f"core-{name}", common, n_checked)
        measured["targets"] = targets
    return measured


def _core_summary(core: Core) -> dict[str, Any]:
    return {
        "description": core.description,
        "board": core.board,
        "emulator": " ".join(core.qemu),
        "emulated_as": core.emulated_as or None,
        "kernels": list(core.kernels),
        "fpu": core.fpu,
    }


def measure_other_core(name: str, work: Path, common: dict[str, str], n_checked: int) -> dict[str, Any]:
    """Verify the policy on another target's core with its preferred kernels and measure it, for the fits-on table.

    The module's sizes come from the verify image's own objects of the policy and the runtime (the same sources as
    the exported copies, compiled with the same compiler and architecture flags), so each core costs one build and
    one QEMU run. A missing toolchain is reported as "not measured"; a mismatch is an error, as on the target itself.
    """
    core = TARGETS[name].core
    assert core is not None  # MCU_TARGETS have a core
    try:
        tools = footprint.find_tools(core)
    except ExportError as err:
        return {"measured": False, **_core_summary(core), "reason": str(err)}
    kernels = core.kernels[0]
    elf = footprint.make_firmware(work, tools.make, TARGET=core.board, APP="verify", KERNELS=kernels, **common)
    result = footprint.run_core(tools, core, elf)
    sources = [src for src in ("tinyrl_policy.c", *codegen.RUNTIME_FILES) if src.endswith(".c")]
    objects = [work / "obj" / f"{Path(src).stem}.o" for src in sources]
    sizes = footprint.section_sizes(tools.size, objects)
    int8 = footprint.int8_path(objects, work, tools, core.cflags)
    return {
        "measured": True,
        **_core_summary(core),
        "kernels": kernels,
        "flash_bytes": sizes["text"] + sizes["rodata"] + sizes["data"],
        "ram_bytes": sizes["data"] + sizes["bss"],
        "instructions_per_inference": result.instructions,
        "float_instructions_per_inference": result.float_instructions,
        "int8_path_helpers": int8["helpers"],
        "vectors": n_checked,
        "mismatches": 0,
    }


def _policy_rate(env: str | None) -> tuple[float, str]:
    """The policy rate (Hz) for the fits-on table and where it comes from: ``env``'s, else the default scenario's."""
    from tinyrl.tasks.config import load_scenario

    name = env if env is not None else RATE_SCENARIO
    config = load_scenario(name)
    source = f"scenario {config.name}" + ("" if env is not None else ", the default: pass --env to choose")
    return float(config.policy_rate_hz), source


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
    fits_on: bool = True,
) -> ExportResult:
    """Export an int8 ``.tflite`` MLP as a self-contained C folder, verified and measured.

    Args:
        model: A ``.tflite`` file or a policy folder holding ``policy_int8.tflite``; ``None`` for the default
            ``policies/obstacle-course/policy_int8.tflite``.
        outdir: Folder to write (replaced if it holds a previous export).
        target: A microcontroller target (``"cortex-m4"``, ``"cortex-m0plus"``, ``"cortex-m3"``, ``"cortex-m7"``,
            ``"cortex-m33"``, ``"cortex-m55"``, ``"riscv32"``: its limits, footprint and QEMU check) or ``"host"``
            (host check only).
        rounding: ``"tflm"`` (TFLite Micro/CMSIS-NN, the default) or ``"tflite"`` (TFLite interpreter).
        env: Scenario whose observation layout to emit as ``tinyrl_obs_layout.h`` (optional); its policy rate is
            the fits-on table's (default: the obstacle-course scenario's).
        fits_on: Also verify and measure the policy on every other microcontroller target's core and add the
            "fits on" board table (``targets`` and ``fits_on`` in the report). Ignored for ``host``.

    Returns:
        The output folder and the report (also written to ``outdir/report.json``).

    Raises:
        ExportError: unknown target, missing model file, model too big for the target, missing tools (of the target;
            another core's missing tools make its fits-on rows "not measured"), or a failed check on any core.
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
    rate = _policy_rate(env) if fits_on and limits.core is not None else None
    sha256 = codegen.model_hash(data)
    files = codegen.generate(quantized, sha256, mode, path.name)
    if env is not None:
        from tinyrl.export.obs_layout import obs_layout_header

        files[OBS_LAYOUT_FILE] = obs_layout_header(env, quantized.in_features, quantized.out_features)

    with tempfile.TemporaryDirectory(prefix="tinyrl-export-") as tmp:
        staged = Path(tmp) / "policy"
        staged.mkdir()
        for name, text in files.items():
            (staged / name).write_text(text)
        measured = _verify_and_measure(staged, Path(tmp), quantized, mode, limits, rate is not None)
        report = {
            "generator": "tinyrl.export",
            "target": limits.name,
            "rounding": rounding,
            "env": None if env is None else portable_path(env),
            "files": sorted([*files, REPORT_FILE]),
            "model": model_summary(quantized, sha256, portable_path(path)),
            "limits": {
                "max_width": limits.max_width,
                "max_scratch_bytes": limits.max_scratch_bytes,
                "max_parameter_bytes": limits.max_parameter_bytes,
            },
            "scratch_bytes": codegen.scratch_bytes(quantized),
            **measured,
        }
        if rate is not None:
            report["fits_on"] = fits_on_table(report["targets"], *rate)
        (staged / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
        _commit(staged, outdir)
    return ExportResult(outdir, report)
