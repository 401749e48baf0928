"""The QEMU boards: firmware/targets/BOARD builds and runs the runtime's unit tests on every core, and reports a
mismatch with a failing exit status.

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

FIRMWARE = fw_model.FIRMWARE
QEMU_TIMEOUT_S = 60
# Board -> its default kernel path (the DSP path where the core has the DSP extension). The STM32F405 has its own
# tests in test_firmware_int8.py.
BOARDS = {
    "microbit": "portable",
    "mps2-an385": "portable",
    "mps2-an500": "dsp",
    "mps2-an505": "dsp",
    "mps3-an547": "dsp",
    "riscv-virt": "portable",
}


def _qemu(board: str) -> list[str]:
    out = subprocess.run(
        [_require("make"), "-s", "-C", str(FIRMWARE), f"TARGET={board}", "print-board"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines())["QEMU"].split()


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


def _run(board: str, elf: Path) -> subprocess.CompletedProcess[str]:
    qemu = _qemu(board)
    return subprocess.run(
        [_require(qemu[0]), *qemu[1:], "-kernel", str(elf)], capture_output=True, text=True, timeout=QEMU_TIMEOUT_S
    )


@pytest.mark.parametrize("board", BOARDS)
def test_board_unit_tests(tmp_path: Path, board: str) -> None:
    """firmware/apps/unit (requantization edge cases, validation, scratch, batching) on each core's default kernels."""
    _make(tmp_path, TARGET=board, APP="unit")
    result = _run(board, tmp_path / "tinyrl.elf")
    assert f"kernels={BOARDS[board]} rounding=tflm" in result.stdout, result.stdout
    assert "RESULT PASS failures=0" in result.stdout, result.stdout
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("board", ["microbit", "riscv-virt"])
def test_board_reports_a_mismatch(tmp_path: Path, board: str) -> None:
    """A wrong expected output prints a MISMATCH line and ends QEMU with status 1: through ARM semihosting on the
    Cortex-M boards (one board.c for all of them), through the SiFive test device on RISC-V."""
    layers = fw_model.random_mlp(np.random.default_rng(0), [7, 13, 5], "tanh")
    inputs = fw_model.random_inputs(np.random.default_rng(1), 8, 7)
    expected = fw_model.run_mlp(layers, inputs)
    expected[3, 2] = np.int8(int(expected[3, 2]) ^ 1)
    header = tmp_path / "testvec.h"
    fw_model.write_testvec_header(header, layers, inputs, expected, "deliberately wrong")
    _make(tmp_path / "build", TARGET=board, APP="test", TESTVEC=str(header))
    result = _run(board, tmp_path / "build" / "tinyrl.elf")
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
