"""Measure an exported policy: object sizes, firmware images, and instructions per inference under QEMU.

Sizes come from compiling the exported folder exactly as shipped with the target's cross compiler at ``-O2``
(``arm-none-eabi-gcc`` for the Cortex-M cores, ``riscv64-unknown-elf-gcc`` with picolibc for rv32imc) and reading
``size -A`` and ``nm --size-sort``. Instruction counts come from the firmware's ``APP=verify`` image run in QEMU with
``-icount shift=0`` (time advances per instruction, so timer differences are exact, repeatable counts); that run also
checks every host-computed vector, so a policy whose C does not match the host reference never gets exported.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tinyrl import processes
from tinyrl.export.codegen import FIRMWARE
from tinyrl.export.errors import ExportError
from tinyrl.export.targets import CORTEX_M4, Core, Kernels

ARM_FLAGS = list(CORTEX_M4.cflags)
C_FLAGS = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O2", "-ffunction-sections", "-fdata-sections"]
QEMU_TIMEOUT_S = 120
BUILD_TIMEOUT_S = 180

# What `make setup` installs for each toolchain (the Debian packages in the top-level Makefile's APT_PACKAGES).
_PACKAGES = {
    "arm": "gcc-arm-none-eabi, libnewlib-arm-none-eabi and qemu-system-arm",
    "riscv": "gcc-riscv64-unknown-elf, picolibc-riscv64-unknown-elf and qemu-system-misc",
}
_PREFIX = {"arm": "arm-none-eabi-", "riscv": "riscv64-unknown-elf-"}

# Library helpers the int8 path must not call: soft-float arithmetic and conversions, and integer division.
_FLOAT_HELPER = re.compile(r"^__aeabi_(?:c?[fd]|u?[il]2[fd])|^__\w*?(?:sf|df|tf)\w*$")
_DIVISION_HELPER = re.compile(r"^__aeabi_u?[il]div|^__(?:u?div|u?mod|udivmod|divmod)[sd]i\d$")
# Hardware divide instructions (Cortex-M3 and later; RISC-V M extension).
_DIVISION_INSTRUCTIONS = {"sdiv", "udiv", "div", "divu", "rem", "remu"}
INT8_ENTRY = "tinyrl_policy_run_int8"


@dataclass(frozen=True)
class Tools:
    """Paths of one cross toolchain, its emulator, and make."""

    cc: str
    size: str
    nm: str
    qemu: str
    make: str
    objdump: str


ArmTools = Tools  # the Cortex-M4 toolchain's name before there were others


def find_tools(core: Core) -> Tools:
    """Locate the cross compiler, ``size``, ``nm``, ``objdump``, the QEMU binary of ``core`` and ``make``.

    Raises:
        ExportError: one is missing (the message names the Debian packages ``make setup`` installs).
    """
    prefix = _PREFIX[core.toolchain]
    names = {
        "cc": f"{prefix}gcc",
        "size": f"{prefix}size",
        "nm": f"{prefix}nm",
        "objdump": f"{prefix}objdump",
        "qemu": core.qemu[0],
        "make": "make",
    }
    found = {key: shutil.which(tool) for key, tool in names.items()}
    missing = [names[k] for k, v in found.items() if v is None]
    if missing:
        raise ExportError(
            f"{', '.join(missing)} not found: run `make setup` (installs {_PACKAGES[core.toolchain]}), "
            "or export with --target host"
        )
    return Tools(**{key: path for key, path in found.items() if path is not None})


def find_arm_tools() -> Tools:
    """:func:`find_tools` for the Cortex-M4 (``arm-none-eabi-*``, ``qemu-system-arm``)."""
    return find_tools(CORTEX_M4)


def _run(cmd: list[str], what: str, timeout: float = BUILD_TIMEOUT_S) -> str:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ExportError(f"{what} timed out after {timeout:.0f} s") from None
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
        raise ExportError(f"{what} failed: {' | '.join(detail[-6:])}")
    return result.stdout


# RISC-V keeps small objects in "small data" sections next to the big ones: .srodata is constant (flash), .sdata
# initialised (flash + RAM), .sbss zeroed (RAM).
_SECTION_KIND = {"text": "text", "rodata": "rodata", "srodata": "rodata", "data": "data", "sdata": "data"}
_SECTION_KIND |= {"bss": "bss", "sbss": "bss"}


def section_sizes(size_tool: str, objects: list[Path]) -> dict[str, int]:
    """Sum ``size -A`` sections of ``objects`` into text, rodata, data and bss bytes."""
    totals = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    out = _run([size_tool, "-A", *map(str, objects)], Path(size_tool).name)
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2 or not parts[0].startswith(".") or not parts[1].isdigit():
            continue
        kind = _SECTION_KIND.get(parts[0].split(".")[1])
        if kind is not None:
            totals[kind] += int(parts[1])
    return totals


def largest_symbols(nm_tool: str, objects: list[Path], count: int = 12) -> list[dict[str, object]]:
    """The ``count`` largest symbols (``nm --size-sort``), largest first: name, bytes, section letter."""
    out = _run([nm_tool, "--size-sort", "--print-size", *map(str, objects)], Path(nm_tool).name)
    rows: list[tuple[int, str, str]] = []  # bytes, name, section letter
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            rows.append((int(parts[1], 16), parts[3], parts[2]))
    rows.sort(key=lambda row: (-row[0], row[1]))
    return [{"name": name, "bytes": size, "type": kind} for size, name, kind in rows[:count]]


def compile_module(folder: Path, build: Path, tools: Tools, kernels: Kernels, cflags: Sequence[str]) -> list[Path]:
    """Compile every ``.c`` of the exported folder into ``build``; returns the object paths."""
    build.mkdir(parents=True, exist_ok=True)
    objects = []
    defs = ["-DTR_NN_PORTABLE"] if kernels == "portable" else []
    for src in sorted(folder.glob("*.c")):
        obj = build / f"{src.stem}.o"
        _run([tools.cc, *cflags, *C_FLAGS, *defs, "-c", str(src), "-o", str(obj)], f"{Path(tools.cc).name} {src.name}")
        objects.append(obj)
    return objects


def measure_module(
    folder: Path, build: Path, tools: Tools, kernels: Kernels = "dsp", cflags: Sequence[str] = ARM_FLAGS
) -> dict[str, object]:
    """Compile the exported folder for a core (default the Cortex-M4) and measure it.

    Flash is text + rodata + data (initial values live in flash), RAM is data + bss. Stack is not included:
    ``tinyrl_policy_run`` uses ~0.4 KB of it plus the observation and action buffers.

    Returns:
        ``{"flash_bytes", "ram_bytes", "text", "rodata", "data", "bss", "kernels", "symbols"}``.
    """
    objects = compile_module(folder, build, tools, kernels, cflags)
    sizes = section_sizes(tools.size, objects)
    return {
        "flash_bytes": sizes["text"] + sizes["rodata"] + sizes["data"],
        "ram_bytes": sizes["data"] + sizes["bss"],
        **sizes,
        "kernels": kernels,
        "symbols": largest_symbols(tools.nm, objects),
    }


def int8_path(objects: list[Path], build: Path, tools: Tools, cflags: Sequence[str]) -> dict[str, object]:
    """Check that the int8 entry point needs no float and no division, on the machine code of one core.

    Links the module's objects with ``tinyrl_policy_run_int8`` as the entry point and unreachable sections dropped,
    so the image holds exactly the int8 path and the library helpers it calls; its symbol table names those helpers
    and its disassembly shows every instruction.

    Returns:
        ``{"helpers": [library functions the int8 path calls, e.g. __aeabi_lmul on the Cortex-M0+]}``.

    Raises:
        ExportError: the int8 path calls a soft-float or division helper or executes a divide instruction.
    """
    elf = build / "int8_path.elf"
    cmd = [tools.cc, *cflags, "-nostartfiles", "-nostdlib", "-Wl,--gc-sections", f"-Wl,-e,{INT8_ENTRY}"]
    cmd += [*map(str, objects), "-lc", "-lgcc", "-o", str(elf)]
    _run(cmd, "link of the int8 path")
    ours = set(_defined_functions(tools.objdump, objects))
    helpers = sorted(set(_defined_functions(tools.objdump, [elf])) - ours)
    bad = [h for h in helpers if _FLOAT_HELPER.search(h) or _DIVISION_HELPER.search(h)]
    if bad:
        raise ExportError(f"the int8 path calls float or division helpers: {', '.join(bad)}")
    divides = set()
    for line in _run([tools.objdump, "-d", str(elf)], Path(tools.objdump).name).splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[0].strip().endswith(":"):
            mnemonic = parts[2].strip().split(".")[0]
            if mnemonic in _DIVISION_INSTRUCTIONS:
                divides.add(mnemonic)
    if divides:
        raise ExportError(f"the int8 path executes divide instructions: {', '.join(sorted(divides))}")
    return {"helpers": helpers}


def _defined_functions(objdump_tool: str, files: list[Path]) -> list[str]:
    """Names of the function symbols (``objdump -t`` flag ``F``) defined in ``files``."""
    out = _run([objdump_tool, "-t", *map(str, files)], Path(objdump_tool).name)
    names = []
    for line in out.splitlines():
        match = re.match(r"^[0-9a-fA-F]+ (.{7}) (\S+)\s+[0-9a-fA-F]+\s+(?:\.\w+\s+)?(\S+)$", line)
        if match and "F" in match.group(1) and match.group(2) != "*UND*":
            names.append(match.group(3))
    return names


def make_firmware(build: Path, tools_make: str, **variables: str) -> Path:
    """``make -C firmware`` with ``variables`` into ``build``; returns the image path."""
    args = [tools_make, "-s", "-C", str(FIRMWARE), f"BUILD_DIR={build}"] + [f"{k}={v}" for k, v in variables.items()]
    _run(args, f"firmware build ({' '.join(f'{k}={v}' for k, v in variables.items())})")
    return build / ("tinyrl" if variables.get("TARGET") == "host" else "tinyrl.elf")


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
        lines = [ln for ln in stdout.splitlines() if "MISMATCH" in ln or "RESULT" in ln or "FAULT" in ln][:6]
        raise ExportError(
            f"{what}: the generated C does not match the host reference ({' | '.join(lines) or stdout[-300:]})"
        )

    def count(key: str) -> int | None:
        match = re.search(rf"\b{key}=([0-9]+)", stdout)
        return int(match.group(1)) if match else None

    return VerifyResult(count("instructions_per_inference"), count("instructions_per_float_inference"), stdout)


def run_core(tools: Tools, core: Core, elf: Path) -> VerifyResult:
    """Run an ``APP=verify`` image on ``core``'s QEMU machine (``-icount shift=0``)."""
    cmd = [tools.qemu, *core.qemu[1:], "-kernel", str(elf)]
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
        raise ExportError(f"QEMU run of {elf.name} on {core.machine} timed out after {QEMU_TIMEOUT_S} s") from None
    return parse_verify(result.stdout, result.returncode, f"on-target check under QEMU {core.machine}")


def run_qemu(tools: Tools, elf: Path) -> VerifyResult:
    """Run an ``APP=verify`` image on QEMU's STM32F405 (``netduinoplus2``) with ``-icount shift=0``."""
    return run_core(tools, CORTEX_M4, elf)


def run_host(binary: Path) -> VerifyResult:
    """Run a host ``APP=verify`` build."""
    try:
        result = subprocess.run([str(binary)], capture_output=True, text=True, timeout=QEMU_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise ExportError("host check timed out") from None
    return parse_verify(result.stdout, result.returncode, "host check")
