"""Every microcontroller export target: the exported C is bit-exact with the int8 reference on the target's emulated
core, the export measures it there, the int8 path has no float and no division, and the fits-on table is right.

For each target other than the Cortex-M4 (tested in test_export.py): the shipped obstacle-course policy and a random
MLP with only odd widths run 1,000 int8 and 200 float vectors under QEMU through the firmware's verify app with 0
mismatches against :func:`tinyrl.compress.reference.run_int8` (the odd MLP on every kernel path the core has), and
``tinyrl export --target T`` of the shipped policy reports the numbers the Cortex-M4 export's fits-on table measured
for T. Needs ``make setup``'s toolchains and emulators.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from export_support import SHIPPED_DEFAULT
from rich.console import Console

from tinyrl.compress.tflite_reader import load_tflite
from tinyrl.errors import ConfigError
from tinyrl.export import ExportError, ExportResult, export_policy
from tinyrl.export.boards import BOARDS_FILE, CPI_ASSUMED, Board, fits_on, load_boards
from tinyrl.export.codegen import vectors_header, verification_vectors
from tinyrl.export.footprint import compile_module, find_tools, int8_path, make_firmware, run_core
from tinyrl.export.pipeline import measure_other_core
from tinyrl.export.report import fits_on_table
from tinyrl.export.targets import MCU_TARGETS, TARGETS, Core
from tinyrl.tasks.config import load_scenario

TflitePath = Callable[[tuple[int, ...], str, int], Path]
ODD_SPEC: tuple[tuple[int, ...], str, int] = ((13, 27, 9, 5), "tanh", 5)  # kernel tails: 1-3 inputs, odd channels
N_INT8, N_FLOAT = 1000, 200
NEW_TARGETS = [name for name in MCU_TARGETS if name != "cortex-m4"]


def _core(target: str) -> Core:
    core = TARGETS[target].core
    assert core is not None
    return core


# (target, model, kernels): the shipped policy on the core's preferred kernels, the odd MLP on every kernel path.
CASES = [(t, "shipped", _core(t).kernels[0]) for t in NEW_TARGETS]
CASES += [(t, "odd", k) for t in NEW_TARGETS for k in _core(t).kernels]


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory, tflite_file: TflitePath) -> dict[str, tuple[Path, Path]]:
    """Each model's exported C (the same for every target) and its vectors header, made once for all targets."""
    root = tmp_path_factory.mktemp("policies")
    made = {}
    for name, path in {"shipped": SHIPPED_DEFAULT, "odd": tflite_file(*ODD_SPEC)}.items():
        model = load_tflite(path)
        folder = root / name
        export_policy(path, folder, target="host")
        header = root / f"{name}-vectors.h"
        header.write_text(vectors_header(model, verification_vectors(model, "tflm", N_INT8, N_FLOAT, seed=17), name))
        made[name] = (folder, header)
    return made


@pytest.mark.parametrize(("target", "model", "kernels"), CASES, ids=[f"{t}-{m}-{k}" for t, m, k in CASES])
def test_bit_exact_on_the_emulated_core(
    tmp_path: Path, policies: dict[str, tuple[Path, Path]], target: str, model: str, kernels: str
) -> None:
    core = _core(target)
    tools = find_tools(core)
    folder, header = policies[model]
    elf = make_firmware(
        tmp_path, tools.make, TARGET=core.board, APP="verify", KERNELS=kernels, POLICY=str(folder), VECTORS=str(header)
    )
    result = run_core(tools, core, elf)  # raises ExportError on any mismatch or a non-zero exit status
    assert f"vectors={N_INT8} " in result.output and f"float_vectors={N_FLOAT} " in result.output
    assert f"kernels={kernels}" in result.output and "RESULT PASS mismatches=0" in result.output


@pytest.mark.parametrize("target", NEW_TARGETS)
def test_export_for_target(tmp_path: Path, default_export: ExportResult, target: str) -> None:
    """``tinyrl export --target T`` verifies on T's core with every kernel path and measures the same numbers as the
    Cortex-M4 export's fits-on table did for T (there from the verify image's objects, here from the folder's)."""
    core = _core(target)
    result = export_policy(SHIPPED_DEFAULT, tmp_path / "policy", target=target, fits_on=False)
    report = result.report
    assert json.loads((tmp_path / "policy" / "report.json").read_text()) == report
    assert report["target"] == target and report["core"]["board"] == core.board
    assert report["verification"] == {"vectors": 320, "mismatches": 0, "where": [f"qemu {k}" for k in core.kernels]}
    policy, ipi, model = report["policy"], report["instructions_per_inference"], report["model"]
    assert policy["kernels"] == core.kernels[0]
    assert policy["flash_bytes"] == policy["text"] + policy["rodata"] + policy["data"]
    assert policy["ram_bytes"] == policy["data"] + policy["bss"]
    assert model["parameter_bytes"] < policy["rodata"] < model["parameter_bytes"] + 2048
    macs, channels = model["macs"], sum(model["widths"][1:])
    for kernels in core.kernels:
        # Plausible: at least one instruction per 2 MACs (SMLAD), at most ~25 per MAC (ARMv6-M) plus channel work.
        assert macs / 2 < ipi[kernels] < 25 * macs + 200 * channels, (kernels, ipi)
        assert ipi[f"{kernels}_float"] > ipi[kernels]
    if "dsp" in core.kernels:
        assert ipi["dsp"] < ipi["portable"]
    assert report["int8_path"]["float"] is False and report["int8_path"]["division"] is False
    assert report["firmware"]["flash_bytes"] > policy["flash_bytes"]
    assert "targets" not in report and "fits_on" not in report  # fits_on=False
    measured = default_export.report["targets"][target]
    assert measured["measured"] and measured["kernels"] == core.kernels[0]
    assert (measured["flash_bytes"], measured["ram_bytes"]) == (policy["flash_bytes"], policy["ram_bytes"])
    assert measured["instructions_per_inference"] == ipi[core.kernels[0]]


def test_fits_on_table_of_the_default_export(default_export: ExportResult) -> None:
    report = default_export.report
    assert set(report["targets"]) == set(MCU_TARGETS)
    assert all(t["measured"] and t["mismatches"] == 0 for t in report["targets"].values())
    table = report["fits_on"]
    rate_hz = load_scenario("obstacle-course").policy_rate_hz
    assert table["policy_rate_hz"] == rate_hz and table["policy_rate_from"].startswith("scenario obstacle-course")
    assert table["cpi_assumed"] == CPI_ASSUMED == 1.0 and "not cycles" in table["timing"]
    rows = {row["board"]: row for row in table["boards"]}
    assert list(rows) == [b.board for b in load_boards()]
    for board in load_boards():
        row, measured = rows[board.board], report["targets"][board.basis_target]
        assert row["basis"] == ("estimate" if board.estimate_from else "measured")
        assert row["instructions_per_inference"] == measured["instructions_per_inference"]
        assert row["us_per_inference"] == pytest.approx(row["instructions_per_inference"] / board.clock_mhz, abs=0.01)
        assert row["core_percent"] == pytest.approx(row["us_per_inference"] * rate_hz / 1e4, abs=1e-4)
        assert row["fits"] is True  # the shipped policy is ~5 KB of flash and ~130 B of RAM
    crazyflie = rows["Bitcraze Crazyflie 2.1"]
    assert crazyflie["policy_flash_bytes"] == report["policy"]["flash_bytes"]
    assert crazyflie["instructions_per_inference"] == report["instructions_per_inference"]["dsp"]
    for name in ("Espressif ESP-EYE", "Himax WE-I Plus"):
        assert (
            rows[name]["basis"] == "estimate" and "no " in rows[name]["note"] and "clock-scaled" in rows[name]["note"]
        )
    console = Console(width=200, record=True)
    printed = fits_on_table(report)
    assert printed is not None
    console.print(printed)
    text = console.export_text()
    assert "Himax WE-I Plus" in text and "estimate from riscv32" in text and "1 instruction per cycle" in text


def _targets(flash: int, ram: int, instructions: int) -> dict[str, dict[str, Any]]:
    one = {"measured": True, "kernels": "portable", "flash_bytes": flash, "ram_bytes": ram}
    return {name: {**one, "instructions_per_inference": instructions} for name in MCU_TARGETS}


def test_fits_on_says_no_and_not_measured() -> None:
    """Rows follow the numbers: too little RAM or flash -> fits False; a core without tools -> "not measured"."""
    boards = (
        Board(board="tiny", mcu="x", core="c", clock_mhz=10, ram_kb=1, flash_kb=4, target="cortex-m0plus"),
        Board(board="roomy", mcu="x", core="c", clock_mhz=100, ram_kb=64, flash_kb=None, target="cortex-m3"),
        Board(board="far", mcu="x", core="c", clock_mhz=50, ram_kb=64, flash_kb=64, estimate_from="riscv32", why="w"),
    )
    targets = _targets(flash=5000, ram=900, instructions=20_000)
    rows = fits_on(targets, 50.0, "test", boards)["boards"]
    assert [r["fits"] for r in rows] == [False, True, True]  # 5000 B > 4 KB of flash; unknown flash: RAM decides
    assert rows[0]["us_per_inference"] == 2000.0 and rows[0]["core_percent"] == 10.0  # 2 ms at 50 Hz
    assert rows[1]["flash_percent"] is None and rows[2]["basis"] == "estimate"
    targets["riscv32"] = {"measured": False, "reason": "riscv64-unknown-elf-gcc not found"}
    assert fits_on(targets, 50.0, "test", boards)["boards"][2] == {
        "board": "far",
        "mcu": "x",
        "core": "c",
        "clock_mhz": 50,
        "ram_bytes": 65536,
        "flash_bytes": 65536,
        "target": "riscv32",
        "basis": "not measured",
        "note": "riscv64-unknown-elf-gcc not found",
        "fits": None,
    }


def test_missing_toolchain_of_another_core_is_not_measured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name.startswith("riscv64") else real(name))
    row = measure_other_core("riscv32", tmp_path, {}, 0)
    assert row["measured"] is False and "make setup" in row["reason"] and "picolibc" in row["reason"]
    with pytest.raises(ExportError, match=r"riscv64-unknown-elf-gcc.*not found: run `make setup`"):
        export_policy(SHIPPED_DEFAULT, tmp_path / "out", target="riscv32")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("target: cortex-m4\n    estimate_from: riscv32", "exactly one of target"),
        ("target: avr", "unknown target 'avr'"),
        ("estimate_from: riscv32", "needs `why`"),
    ],
)
def test_boards_file_is_checked(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "boards.yaml"
    fields = "board: b\n    mcu: m\n    core: c\n    clock_mhz: 1\n    ram_kb: 1\n    flash_kb: 1"
    path.write_text(f"boards:\n  - {fields}\n    {text}\n")
    with pytest.raises(ConfigError, match=match):
        load_boards(path)


def test_shipped_boards_file_loads() -> None:
    boards = load_boards(BOARDS_FILE)
    assert {b.basis_target for b in boards} == set(MCU_TARGETS)  # every verified core has a board
    assert {b.board for b in boards if b.estimate_from} == {"Espressif ESP-EYE", "Himax WE-I Plus"}


# ---- the int8 path: no float, no division ----------------------------------------------------------------------

_TANH = "tr_tanh_s8.c"


@pytest.mark.parametrize(
    ("target", "change", "match"),
    [
        ("cortex-m0plus", "output[i] = (int8_t)(table[(int32_t)input[i] + 128] * 0.5f);", "float or division helpers"),
        ("cortex-m0plus", "output[i] = (int8_t)(table[(int32_t)input[i] + 128] / size);", "__aeabi_idiv"),
        ("cortex-m3", "output[i] = (int8_t)(table[(int32_t)input[i] + 128] / size);", "divide instructions: sdiv"),
        ("riscv32", "output[i] = (int8_t)(table[(int32_t)input[i] + 128] / size);", "divide instructions: div"),
    ],
)
def test_int8_path_check_finds_float_and_division(
    tmp_path: Path, policies: dict[str, tuple[Path, Path]], target: str, change: str, match: str
) -> None:
    """The exporter's int8-path check on each kind of core: a float or a division slipped into a kernel is refused."""
    core = _core(target)
    tools = find_tools(core)
    folder = tmp_path / "policy"
    shutil.copytree(policies["shipped"][0], folder)
    kernel = folder / _TANH
    original = "output[i] = table[(int32_t)input[i] + 128];"
    assert original in kernel.read_text()
    clean = compile_module(folder, tmp_path / "clean", tools, "portable", core.cflags)
    helpers = int8_path(clean, tmp_path / "clean", tools, core.cflags)["helpers"]
    assert helpers == (["__aeabi_lmul", "__muldi3"] if target == "cortex-m0plus" else [])  # 64-bit multiply only
    kernel.write_text(kernel.read_text().replace(original, change))
    broken = compile_module(folder, tmp_path / "broken", tools, "portable", core.cflags)
    with pytest.raises(ExportError, match=match):
        int8_path(broken, tmp_path / "broken", tools, core.cflags)


# ---- one clear line, nothing written ------------------------------------------------------------------------------


def test_model_too_big_for_the_cortex_m0plus(tmp_path: Path, tflite_file: TflitePath) -> None:
    """66 KB of weights: fine for the Cortex-M4's 128 KB, too much for the Cortex-M0+'s 64 KB."""
    path = tflite_file((16, 256, 240, 4), "linear", 2)
    out = tmp_path / "out"
    with pytest.raises(ExportError) as err:
        export_policy(path, out, target="cortex-m0plus")
    assert "\n" not in str(err.value)
    assert "bytes of weights and biases; target cortex-m0plus allows 65536" in str(err.value)
    assert not out.exists()


def test_cli_bad_target_one_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "tinyrl", "export", str(SHIPPED_DEFAULT), "--target", "cortex-m99", "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "unknown target 'cortex-m99'; choose one of cortex-m4, cortex-m0plus" in result.stderr
    assert not out.exists()
