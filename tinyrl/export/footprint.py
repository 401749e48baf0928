"""Measure an exported policy: ARM object sizes, firmware images, and instructions per inference under QEMU.

Sizes come from compiling the exported folder exactly as shipped with ``arm-none-eabi-gcc -O2`` for the
Crazyflie's STM32F405 (Cortex-M4F, hard float) and reading ``arm-none-eabi-size -A`` and ``nm --size-sort``.
Instruction counts come from the firmware's ``APP=verify`` image run in QEMU with ``-icount shift=0`` (time advances
per instruction, so SysTick differences are exact, repeatable counts); that run also checks every host-computed
vector, so a policy whose C does not match the host reference never gets exported.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tinyrl import processes
from tinyrl.export.codegen import FIRMWARE
from tinyrl.export.errors import ExportError

Kernels = Literal["dsp", "portable"]

ARM_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]
C_FLAGS = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O2", "-ffunction-sections", "-fdata-sections"]
QEMU_TIMEOUT_S = 120
BUILD_TIMEOUT_S = 180


@dataclass(frozen=True)
class ArmTools:
    """Paths of the cross toolchain and the emulator."""

    cc: str
    size: str
    nm: str
    qemu: str
    make: str


def find_arm_tools() -> ArmTools:
    """Locate ``arm-none-eabi-gcc``/``size``/``nm``, ``qemu-system-arm`` and ``make``.

    Raises:
        ExportError: one is missing (the message says to run ``make setup``).
    """
    names = {
        "cc": "arm-none-eabi-gcc",
        "size": "arm-none-eabi-size",
        "nm": "arm-none-eabi-nm",
        "qemu": "qemu-system-arm",
        "make": "make",
    }
    found = {key: shutil.which(tool) for key, tool in names.items()}
    missing = [names[k] for k, v in found.items() if v is None]
    if missing:
        raise ExportError(
            f"{', '.join(missing)} not found: run `make setup` (installs gcc-arm-none-eabi, libnewlib-arm-none-eabi "
            "and qemu-system-arm), or export with --target host"
        )
    return ArmTools(**{key: path for key, path in found.items() if path is not None})


def _run(cmd: list[str], what: str, timeout: float = BUILD_TIMEOUT_S) -> str:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ExportError(f"{what} timed out after {timeout:.0f} s") from None
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
        raise ExportError(f"{what} failed: {' | '.join(detail[-6:])}")
    return result.stdout


def section_sizes(size_tool: str, objects: list[Path]) -> dict[str, int]:
    """Sum ``size -A`` sections of ``objects`` into text, rodata, data and bss bytes."""
    totals = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    out = _run([size_tool, "-A", *map(str, objects)], "arm-none-eabi-size")
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2 or not parts[0].startswith(".") or not parts[1].isdigit():
            continue
        kind = parts[0].split(".")[1]
        if kind in totals:
            totals[kind] += int(parts[1])
    return totals


def largest_symbols(nm_tool: str, objects: list[Path], count: int = 12) -> list[dict[str, object]]:
    """The ``count`` largest symbols (``nm --size-sort``), largest first: name, bytes, section letter."""
    out = _run([nm_tool, "--size-sort", "--print-size", *map(str, objects)], "arm-none-eabi-nm")
    rows: list[tuple[int, str, str]] = []  # bytes, name, section letter
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            rows.append((int(parts[1], 16), parts[3], parts[2]))
    rows.sort(key=lambda row: (-row[0], row[1]))
    return [{"name": name, "bytes": size, "type": kind} for size, name, kind in rows[:count]]


def measure_module(folder: Path, build: Path, tools: ArmTools, kernels: Kernels = "dsp") -> dict[str, object]:
    """Compile the exported folder for the Cortex-M4 and measure it.

    Flash is text + rodata + data (initial values live in flash), RAM is data + bss. Stack is not included:
    ``tinyrl_policy_run`` uses ~0.4 KB of it plus the observation and action buffers.

    Returns:
        ``{"flash_bytes", "ram_bytes", "text", "rodata", "data", "bss", "kernels", "symbols"}``.
    """
    build.mkdir(parents=True, exist_ok=True)
    objects = []
    defs = ["-DTR_NN_PORTABLE"] if kernels == "portable" else []
    for src in sorted(folder.glob("*.c")):
        obj = build / f"{src.stem}.o"
        _run([tools.cc, *ARM_FLAGS, *C_FLAGS, *defs, "-c", str(src), "-o", str(obj)], f"arm-none-eabi-gcc {src.name}")
        objects.append(obj)
    sizes = section_sizes(tools.size, objects)
    return {
        "flash_bytes": sizes["text"] + sizes["rodata"] + sizes["data"],
        "ram_bytes": sizes["data"] + sizes["bss"],
        **sizes,
        "kernels": kernels,
        "symbols": largest_symbols(tools.nm, objects),
    }


def make_firmware(build: Path, tools_make: str, **variables: str) -> Path:
    """``make -C firmware`` with ``variables`` into ``build``; returns the image path."""
    args = [tools_make, "-s", "-C", str(FIRMWARE), f"BUILD_DIR={build}"] + [f"{k}={v}" for k, v in variables.items()]
    _run(args, f"firmware build ({' '.join(f'{k}={v}' for k, v in variables.items())})")
    return build / ("tinyrl.elf" if variables.get("TARGET") == "stm32f405" else "tinyrl")


def image_size(size_tool: str, elf: Path) -> dict[str, int]:
    """Flash (text + data) and RAM (data + bss) of a linked image, from berkeley ``size``."""
    out = _run([size_tool, str(elf)], "size")
    text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    return {"flash_bytes": text + data, "ram_bytes": data + bss, "text": text, "data": data, "bss": bss}


@dataclass(frozen=True)
class VerifyResult:
    """What ``APP=verify`` printed."""

    instructions: int | None
    float_instructions: int | None
    output: str


def parse_verify(stdout: str, returncode: int, what: str) -> VerifyResult:
    """Check a verify run passed and read its instruction counts.

    Raises:
        ExportError: any mismatch or a non-zero exit status (the C does not match the host reference).
    """
    if returncode != 0 or "RESULT PASS mismatches=0" not in stdout:
        lines = [ln for ln in stdout.splitlines() if "MISMATCH" in ln or "RESULT" in ln][:6]
        raise ExportError(
            f"{what}: the generated C does not match the host reference ({' | '.join(lines) or stdout[-300:]})"
        )

    def count(key: str) -> int | None:
        match = re.search(rf"\b{key}=([0-9]+)", stdout)
        return int(match.group(1)) if match else None

    return VerifyResult(count("instructions_per_inference"), count("instructions_per_float_inference"), stdout)


def run_qemu(tools: ArmTools, elf: Path) -> VerifyResult:
    """Run an ``APP=verify`` image on QEMU's STM32F405 (``netduinoplus2``) with ``-icount shift=0``."""
    cmd = [tools.qemu, "-M", "netduinoplus2", "-nographic", "-monitor", "none", "-serial", "stdio"]
    cmd += ["-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", str(elf)]
    try:
        result = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=QEMU_TIMEOUT_S,
            check=False,
            preexec_fn=processes.die_with_this_thread(),  # no QEMU left behind if we are killed outright
        )
    except subprocess.TimeoutExpired:
        raise ExportError(f"QEMU run of {elf.name} timed out after {QEMU_TIMEOUT_S} s") from None
    return parse_verify(result.stdout, result.returncode, "on-target check under QEMU")


def run_host(binary: Path) -> VerifyResult:
    """Run a host ``APP=verify`` build."""
    try:
        result = subprocess.run([str(binary)], capture_output=True, text=True, timeout=QEMU_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise ExportError("host check timed out") from None
    return parse_verify(result.stdout, result.returncode, "host check")
