"""The QEMU boards of the export targets: firmware/targets/BOARD builds and runs the runtime's unit tests on every core,
reports a mismatch with a failing exit status, and agrees with tinyrl.export's target table.

Needs arm-none-eabi-gcc, riscv64-unknown-elf-gcc with picolibc, qemu-system-arm and qemu-system-riscv32
(``make setup``). One image per board and test; the images are small and each QEMU run takes well under a second.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import fw_model
import numpy as np
import pytest

from tinyrl.export.targets import MCU_TARGETS, TARGETS, Core

FIRMWARE = fw_model.FIRMWARE
QEMU_TIMEOUT_S = 60
# The STM32F405 (cortex-m4) has its own tests in test_firmware_int8.py.
NEW_TARGETS = [name for name in MCU_TARGETS if name != "cortex-m4"]


def _core(target: str) -> Core:
    core = TARGETS[target].core
    assert core is not None
    return core


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} not found: run `make setup`")
    return path


def _make(build_dir: Path, **variables: str) -> None:
    args = [_require("make"), "-s", "-C", str(FIRMWARE), f"BUILD_DIR={build_dir}"]
    args += [f"{k}={v}" for k, v in variables.items()]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"build failed: {' '.join(args)}\n{result.stdout}\n{result.stderr}"


def _run(core: Core, elf: Path) -> subprocess.CompletedProcess[str]:
    cmd = [_require(core.qemu[0]), *core.qemu[1:], "-kernel", str(elf)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=QEMU_TIMEOUT_S)


@pytest.mark.parametrize("target", MCU_TARGETS)
def test_board_flags_match_the_export_targets(target: str) -> None:
    """tinyrl.export compiles and runs each target as the firmware board does (board.mk's BOARD_ARCH, BOARD_QEMU)."""
    core = _core(target)
    result = subprocess.run(
        [_require("make"), "-s", "-C", str(FIRMWARE), f"TARGET={core.board}", "print-board"],
        capture_output=True,
        text=True,
        check=True,
    )
    printed = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert printed["ARCH"].split() == list(core.cflags)
    assert printed["QEMU"].split() == list(core.qemu)


@pytest.mark.parametrize("target", NEW_TARGETS)
def test_board_unit_tests(tmp_path: Path, target: str) -> None:
    """firmware/apps/unit (requantization edge cases, validation, scratch, batching) on each core's default kernels."""
    core = _core(target)
    _make(tmp_path, TARGET=core.board, APP="unit")
    result = _run(core, tmp_path / "tinyrl.elf")
    assert f"kernels={core.kernels[0]} rounding=tflm" in result.stdout, result.stdout
    assert "RESULT PASS failures=0" in result.stdout, result.stdout
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("target", ["cortex-m0plus", "riscv32"])
def test_board_reports_a_mismatch(tmp_path: Path, target: str) -> None:
    """A wrong expected output prints a MISMATCH line and ends QEMU with status 1: through ARM semihosting on the
    Cortex-M boards (one board.c for all of them), through the SiFive test device on RISC-V."""
    core = _core(target)
    layers = fw_model.random_mlp(np.random.default_rng(0), [7, 13, 5], "tanh")
    inputs = fw_model.random_inputs(np.random.default_rng(1), 8, 7)
    expected = fw_model.run_mlp(layers, inputs)
    expected[3, 2] = np.int8(int(expected[3, 2]) ^ 1)
    header = tmp_path / "testvec.h"
    fw_model.write_testvec_header(header, layers, inputs, expected, "deliberately wrong")
    _make(tmp_path / "build", TARGET=core.board, APP="test", TESTVEC=str(header))
    result = _run(core, tmp_path / "build" / "tinyrl.elf")
    assert "MISMATCH vector=3 index=2" in result.stdout, result.stdout
    assert "RESULT FAIL mismatches=1" in result.stdout
    assert result.returncode == 1


def test_hil_app_only_on_the_stm32f405() -> None:
    """The HIL app needs the STM32F405's interrupt-driven USART: other boards say so instead of failing to link."""
    result = subprocess.run(
        [_require("make"), "-s", "-C", str(FIRMWARE), "TARGET=mps2-an385", "APP=hil", "print-board"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "APP=hil runs on TARGET=stm32f405 or host" in result.stderr
