"""tinyrl export: generated C bit-exact with the int8 reference, standalone-compilable, verified under QEMU.

Host tests build the exported folder with a small harness and compare 10,000 inputs through both entry points with
:func:`tinyrl.compress.reference.run_int8` (``reference="tflm"``); the on-target test builds the firmware's verify app
with an exported policy and runs it in QEMU with both kernel paths. Needs gcc, arm-none-eabi-gcc and
qemu-system-arm (``make setup``).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from export_support import require

from tinyrl.compress.model import QuantizedMLP
from tinyrl.compress.quantize import random_mlp_spec
from tinyrl.compress.reference import dequantize_output, quantize_input, run_int8
from tinyrl.compress.tflite_reader import load_tflite
from tinyrl.export import ExportResult, export_policy
from tinyrl.export.codegen import RUNTIME, RUNTIME_FILES, STAMP, vectors_header, verification_vectors
from tinyrl.export.footprint import find_arm_tools, make_firmware, run_qemu
from tinyrl.export.report import DESIGN_TARGETS
from tinyrl.tasks.config import available_envs, load_scenario
from tinyrl.tasks.features import observation_size

HERE = Path(__file__).resolve().parent
WARN = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wstrict-prototypes"]
N_VECTORS = 10_000
# random_mlp_spec seeds (1-4 layers, 2-128 units, odd widths, tanh or linear output) plus two fixed shapes.
SPECS = [(tuple(random_mlp_spec(s)[0]), random_mlp_spec(s)[1], s) for s in (1, 2, 3, 8, 11)]
SPECS += [((16, 32, 32, 4), "tanh", 0), ((7, 3), "linear", 21)]
TflitePath = Callable[[tuple[int, ...], str, int], Path]


def _float_inputs(model: QuantizedMLP, n: int, rng: np.random.Generator) -> np.ndarray:
    """Observations over 1.5x the representable range, a third exactly on rounding ties, some zeros."""
    qp = model.input
    lo, hi = qp.scale * (-128 - qp.zero_point), qp.scale * (127 - qp.zero_point)
    span = hi - lo
    x = rng.uniform(lo - 0.25 * span, hi + 0.25 * span, size=(n, model.in_features))
    ties = (rng.integers(-300, 300, size=x.shape) + 0.5) * qp.scale
    pick = rng.random(x.shape)
    x = np.where(pick < 0.33, ties, x)
    x = np.where(pick > 0.98, 0.0, x)
    return x.astype(np.float32)


def _run_harness(outdir: Path, build: Path, x: np.ndarray, obs: np.ndarray, out_features: int):
    cc = require("gcc")
    exe = build / "harness"
    srcs = [str(HERE / "harness.c"), *map(str, sorted(outdir.glob("*.c")))]
    subprocess.run([cc, "-O2", *WARN, f"-I{outdir}", *srcs, "-o", str(exe)], check=True, capture_output=True)
    paths = {name: build / name for name in ("x.bin", "y.bin", "obs.bin", "act.bin")}
    paths["x.bin"].write_bytes(x.tobytes())
    paths["obs.bin"].write_bytes(obs.astype("<f4").tobytes())
    args = [str(exe), str(len(x)), str(paths["x.bin"]), str(paths["y.bin"])]
    args += [str(len(obs)), str(paths["obs.bin"]), str(paths["act.bin"])]
    subprocess.run(args, check=True, timeout=60)
    y = np.frombuffer(paths["y.bin"].read_bytes(), dtype=np.int8).reshape(len(x), out_features)
    act = np.frombuffer(paths["act.bin"].read_bytes(), dtype="<f4").reshape(len(obs), out_features)
    return y, act


@pytest.mark.parametrize(
    ("sizes", "activation", "seed"), SPECS, ids=[f"{'x'.join(map(str, s[0]))}-{s[1]}" for s in SPECS]
)
def test_host_bit_exact_both_entry_points(
    tmp_path: Path, tflite_file: TflitePath, sizes: tuple[int, ...], activation: str, seed: int
) -> None:
    path = tflite_file(sizes, activation, seed)
    model = load_tflite(path)
    outdir = tmp_path / "policy"
    export_policy(path, outdir, target="host")
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(N_VECTORS, model.in_features)).astype(np.int8)
    x[0], x[1] = -128, 127
    obs = _float_inputs(model, N_VECTORS, rng)
    y, act = _run_harness(outdir, tmp_path, x, obs, model.out_features)
    np.testing.assert_array_equal(y, run_int8(model, x, reference="tflm"))
    want = dequantize_output(model, run_int8(model, quantize_input(model, obs), reference="tflm"))
    # Bit patterns: the float path must be exactly quantize_input -> run_int8 -> dequantize_output.
    np.testing.assert_array_equal(act.view(np.uint32), want.astype("<f4").view(np.uint32))


def test_standalone_folder_compiles_warning_free(tmp_path: Path, tflite_file: TflitePath) -> None:
    """`cc -c OUTDIR/*.c` builds the folder alone: no include paths, no defines, -Wall -Wextra -Werror -pedantic."""
    outdir = tmp_path / "policy"
    obs_size = observation_size(load_scenario("obstacle-course"))  # the layout header must match the model
    export_policy(tflite_file((obs_size, 32, 32, 4), "tanh", 0), outdir, target="host", env="obstacle-course")
    files = sorted(p.name for p in outdir.iterdir())
    assert files == sorted(["report.json", "tinyrl_obs_layout.h", "tinyrl_policy.c", "tinyrl_policy.h", *RUNTIME_FILES])
    for name in files:
        if name.endswith((".c", ".h")):
            assert STAMP in (outdir / name).read_text()[:400], name
    for name in RUNTIME_FILES:  # copies of firmware/runtime, verbatim after the stamp line
        assert (outdir / name).read_text().split("\n", 1)[1] == (RUNTIME / name).read_text()
    source = (outdir / "tinyrl_policy.c").read_text()
    assert "malloc(" not in source and "static uint32_t tinyrl_scratch[" in source
    build = tmp_path / "obj"
    build.mkdir()
    cc = require("cc")
    result = subprocess.run(
        [cc, *WARN, "-O2", "-c", *[str(p) for p in sorted(outdir.glob("*.c"))]],
        cwd=build,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert len(list(build.glob("*.o"))) == 4  # tinyrl_policy + 3 runtime kernels
    # The obs layout header is self-contained C too.
    (build / "layout.c").write_text(
        '#include "tinyrl_obs_layout.h"\nint tinyrl_obs_size(void);\n'
        "int tinyrl_obs_size(void) { return TINYRL_OBS_SIZE; }\n"
    )
    subprocess.run([cc, *WARN, f"-I{outdir}", "-c", "layout.c"], cwd=build, check=True)


@pytest.fixture(scope="module")
def arm_export(tmp_path_factory: pytest.TempPathFactory, tflite_file: TflitePath) -> tuple[Path, dict]:
    """One cortex-m4 export (ARM footprint + QEMU verification, both kernel paths), shared by the tests below."""
    find_arm_tools()
    outdir = tmp_path_factory.mktemp("arm") / "policy"
    result = export_policy(tflite_file((16, 32, 32, 4), "tanh", 0), outdir, target="cortex-m4", fits_on=False)
    return outdir, result.report


def test_report_keys_and_plausible_numbers(arm_export: tuple[Path, dict]) -> None:
    outdir, report = arm_export
    assert json.loads((outdir / "report.json").read_text()) == report
    model, policy, fw = report["model"], report["policy"], report["firmware"]
    assert model["layers"] == 3 and model["parameters"] == 16 * 32 + 32 * 32 + 32 * 4 + 32 + 32 + 4
    assert model["parameter_bytes"] == 16 * 32 + 32 * 32 + 32 * 4 + 4 * (32 + 32 + 4)
    assert len(model["sha256"]) == 64
    for key in ("flash_bytes", "ram_bytes", "text", "rodata", "data", "bss"):
        assert isinstance(policy[key], int) and policy[key] >= 0, key
    assert policy["flash_bytes"] == policy["text"] + policy["rodata"] + policy["data"]
    assert policy["ram_bytes"] == policy["data"] + policy["bss"]
    assert model["parameter_bytes"] < policy["rodata"] < model["parameter_bytes"] + 2048  # + multipliers, tanh
    assert 500 < policy["text"] < 8192
    assert report["scratch_bytes"] <= policy["bss"] <= report["scratch_bytes"] + 16
    ipi = report["instructions_per_inference"]
    macs = model["macs"]
    assert macs / 2 < ipi["dsp"] < ipi["portable"] < 25 * macs
    assert ipi["dsp_float"] > ipi["dsp"]
    assert fw["flash_bytes"] > policy["flash_bytes"] - 1024 and fw["ram_bytes"] >= policy["ram_bytes"]
    assert report["verification"]["mismatches"] == 0


def _verify_on_qemu(tmp_path: Path, outdir: Path, header: Path, **make_vars: str) -> dict[str, Any]:
    """Build APP=verify with ``outdir``'s policy and ``header``'s vectors for both kernel paths and run each under
    QEMU; asserts 0 mismatches. Returns the QEMU result (serial output, instructions) per kernel path."""
    tools = find_arm_tools()
    outputs = {}
    for kernels in ("portable", "dsp"):
        elf = make_firmware(
            tmp_path / kernels,
            tools.make,
            TARGET="stm32f405",
            APP="verify",
            KERNELS=kernels,
            POLICY=str(outdir),
            VECTORS=str(header),
            **make_vars,
        )
        result = run_qemu(tools, elf)  # raises ExportError on any mismatch or non-zero exit
        assert f"kernels={kernels}" in result.output and "RESULT PASS mismatches=0" in result.output
        outputs[kernels] = result
    return outputs


@pytest.mark.parametrize("rounding", ["tflm", "tflite"])
def test_qemu_on_target_vectors_portable_and_dsp(
    tmp_path: Path, tflite_file: TflitePath, arm_export: tuple[Path, dict], rounding: str
) -> None:
    """The firmware's verify app with the exported policy: 0 mismatches under QEMU, both kernel paths agree."""
    path = tflite_file((16, 32, 32, 4), "tanh", 0)
    model = load_tflite(path)
    outdir = arm_export[0]
    if rounding == "tflite":
        outdir = tmp_path / "policy-tflite"
        export_policy(path, outdir, target="host", rounding="tflite")
    header = tmp_path / "vectors.h"
    header.write_text(vectors_header(model, verification_vectors(model, rounding, 1000, 200, seed=7), "test"))  # type: ignore[arg-type]
    outputs = _verify_on_qemu(tmp_path, outdir, header, ROUNDING=rounding)
    assert outputs["dsp"].instructions < outputs["portable"].instructions


REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "policies").glob("*/policy_int8.tflite"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.parent.name for p in SHIPPED])
def test_shipped_policies_host_bit_exact(tmp_path: Path, path: Path) -> None:
    model = load_tflite(path)
    outdir = tmp_path / "policy"
    export_policy(path, outdir, target="host")
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, size=(N_VECTORS, model.in_features)).astype(np.int8)
    obs = _float_inputs(model, N_VECTORS, rng)
    y, act = _run_harness(outdir, tmp_path, x, obs, model.out_features)
    np.testing.assert_array_equal(y, run_int8(model, x, reference="tflm"))
    want = dequantize_output(model, run_int8(model, quantize_input(model, obs), reference="tflm"))
    np.testing.assert_array_equal(act.view(np.uint32), want.astype("<f4").view(np.uint32))


def test_every_scenario_ships_an_int8_policy() -> None:
    """Not parametrized: the shipped-policy tests above run once per file found, so none runs if one is missing."""
    scenarios = set(available_envs([REPO / "envs"]))
    assert scenarios >= {"hover", "obstacle-course", "source-seeking"}
    missing = sorted(scenarios - {p.parent.name for p in SHIPPED})
    assert not missing, f"scenarios without policies/NAME/policy_int8.tflite: {missing}"


def test_default_policy_meets_the_design_targets(default_export: ExportResult) -> None:
    """docs/design.md's Cortex-M4 budget for the default policy: flash, RAM and instructions per inference."""
    report = default_export.report
    assert report["model"]["source"].endswith("policies/obstacle-course/policy_int8.tflite")
    assert report["policy"]["flash_bytes"] <= DESIGN_TARGETS["policy_flash_bytes"]
    assert report["policy"]["ram_bytes"] <= DESIGN_TARGETS["policy_ram_bytes"]
    assert report["instructions_per_inference"]["dsp"] <= DESIGN_TARGETS["instructions_per_inference"]
    # The on-device validation is the exporter's job: its code must not be in the module.
    assert not [s["name"] for s in report["policy"]["symbols"] if s["name"].endswith("_prepare")]


@pytest.mark.parametrize("path", SHIPPED, ids=[p.parent.name for p in SHIPPED])
def test_shipped_policies_on_target_10k_vectors(tmp_path: Path, path: Path) -> None:
    """Every shipped policy, exported for the Cortex-M4, under QEMU: 0 mismatches on 10,000 int8 + 1,000 float
    vectors with both kernel paths, and the two paths return the same outputs."""
    model = load_tflite(path)
    outdir = tmp_path / "policy"
    export_policy(path, outdir, target="host")  # the C is the same for both targets; host skips the footprint
    header = tmp_path / "vectors.h"
    header.write_text(vectors_header(model, verification_vectors(model, "tflm", N_VECTORS, 1000, seed=3), "shipped"))
    outputs = _verify_on_qemu(tmp_path, outdir, header)
    for result in outputs.values():
        assert f"vectors={N_VECTORS} " in result.output and "float_vectors=1000 " in result.output
