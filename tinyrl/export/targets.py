"""What each export target accepts and how it is verified.

Each target has limits (layer widths, scratch RAM, parameter flash, and the runtime's own bounds) and, for a
microcontroller, the compiler flags and emulated core that check the generated C before it is written.

The limits are deliberately conservative: on the Crazyflie (``cortex-m4``) the policy runs as one task of a firmware
on an STM32F405 (1 MB flash, 192 KB RAM, most of both used by the firmware itself), so a policy that needs more than
a few KB of RAM or a few hundred KB of flash is a mistake to catch at export time, not on the drone. The other
microcontroller targets share those limits except the Cortex-M0+, whose parts (micro:bit v1: 16 KB RAM, 256 KB
flash, 16 MHz) get half the parameter flash.

Every microcontroller target compiles the same exported C; what differs is the compiler flags, which kernel paths the
core has (the Cortex-M DSP path needs the DSP extension: M4, M7, M33, M55) and the QEMU machine that runs it. Each
target's ``cflags`` and ``qemu`` equal the firmware board's ``BOARD_ARCH`` and ``BOARD_QEMU``
(``firmware/targets/BOARD/board.mk``; a test compares them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tinyrl.compress.model import QuantizedMLP
from tinyrl.export.errors import ExportError

TargetName = Literal[
    "cortex-m4", "cortex-m0plus", "cortex-m3", "cortex-m7", "cortex-m33", "cortex-m55", "riscv32", "host"
]
Kernels = Literal["dsp", "portable"]
Toolchain = Literal["arm", "riscv"]

# Bounds of the C runtime itself (firmware/runtime/tr_nn.h). tr_mlp_s8_prepare (tr_nn_prepare.c) checks the same on
# a device; exported code relies on this host check instead and does not link it.
MAX_DEPTH = 4096  # accumulation depth: with |bias| <= 2^30 no int32 accumulator can overflow
MAX_ABS_BIAS = 2**30
SHIFT_RANGE = (-31, 30)

_SEMIHOSTING = ("-semihosting-config", "enable=on,target=native")
# -icount shift=0: virtual time advances 1 ns per instruction, so the boards' timers count instructions.
_ICOUNT = ("-icount", "shift=0")
_CONSOLE = ("-nographic", "-monitor", "none", "-serial", "stdio")


def _arm_qemu(machine: str) -> tuple[str, ...]:
    return ("qemu-system-arm", "-M", machine, *_CONSOLE, *_SEMIHOSTING, *_ICOUNT)


@dataclass(frozen=True)
class Core:
    """The emulated core an MCU target is verified and measured on.

    Attributes:
        description: The core and what it has, e.g. ``"Cortex-M0+ (ARMv6-M: no DSP extension, no FPU)"``.
        toolchain: ``"arm"`` (arm-none-eabi-gcc, qemu-system-arm) or ``"riscv"`` (riscv64-unknown-elf-gcc with
            picolibc, qemu-system-riscv32).
        cflags: Architecture flags for the compiler (the firmware board's ``BOARD_ARCH``).
        board: The firmware board that runs it (``make -C firmware TARGET=board``).
        qemu: The QEMU command line without ``-kernel IMAGE`` (the board's ``BOARD_QEMU``).
        kernels: Kernel paths the core runs, preferred first: ``("dsp", "portable")`` with the DSP extension.
        fpu: Whether the build uses a hardware FPU (else floats are soft-float library calls).
        emulated_as: What QEMU actually emulates, when it is not exactly the core compiled for.
    """

    description: str
    toolchain: Toolchain
    cflags: tuple[str, ...]
    board: str
    qemu: tuple[str, ...]
    kernels: tuple[Kernels, ...]
    fpu: bool
    emulated_as: str = ""

    @property
    def machine(self) -> str:
        """The QEMU machine name (``-M``)."""
        return self.qemu[self.qemu.index("-M") + 1]


@dataclass(frozen=True)
class TargetLimits:
    """Resource limits of one export target, and the core it is verified on.

    Attributes:
        name: Target name, e.g. ``"cortex-m4"`` or ``"host"``.
        max_width: Widest layer input or output (features).
        max_scratch_bytes: Largest static activation buffer (``TINYRL_POLICY_SCRATCH_BYTES``).
        max_parameter_bytes: Largest int8 weights + int32 biases (they live in flash on the MCU).
        core: The emulated core; ``None`` for ``host`` (checked with the host compiler, no footprint).
    """

    name: TargetName
    max_width: int
    max_scratch_bytes: int
    max_parameter_bytes: int
    core: Core | None


# 256 features is far beyond any drone policy (the seed paper's is 6 -> 20 -> 20 -> 3) and keeps the DSP path's
# scratch (2 bytes per input) and the stack-allocated float path small; 2 KB of scratch and 128 KB of weights
# leave the Crazyflie firmware its RAM and flash.
_MCU = {"max_width": 256, "max_scratch_bytes": 2048, "max_parameter_bytes": 128 * 1024}

CORTEX_M4 = Core(
    "Cortex-M4F (ARMv7E-M: DSP extension, single-precision FPU)",
    "arm",
    ("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"),
    "stm32f405",
    _arm_qemu("netduinoplus2"),
    ("dsp", "portable"),
    fpu=True,
    emulated_as="STM32F405 (netduinoplus2)",
)

TARGETS: dict[str, TargetLimits] = {
    "cortex-m4": TargetLimits("cortex-m4", **_MCU, core=CORTEX_M4),
    "cortex-m0plus": TargetLimits(
        "cortex-m0plus",
        max_width=256,
        max_scratch_bytes=2048,
        max_parameter_bytes=64 * 1024,
        core=Core(
            "Cortex-M0+ (ARMv6-M: no DSP extension, no FPU, no divide instruction)",
            "arm",
            ("-mcpu=cortex-m0plus", "-mthumb"),
            "microbit",
            _arm_qemu("microbit"),
            ("portable",),
            fpu=False,
            emulated_as="nRF51822 Cortex-M0 (microbit): the same ARMv6-M instruction set",
        ),
    ),
    "cortex-m3": TargetLimits(
        "cortex-m3",
        **_MCU,
        core=Core(
            "Cortex-M3 (ARMv7-M: no DSP extension, no FPU)",
            "arm",
            ("-mcpu=cortex-m3", "-mthumb"),
            "mps2-an385",
            _arm_qemu("mps2-an385"),
            ("portable",),
            fpu=False,
        ),
    ),
    "cortex-m7": TargetLimits(
        "cortex-m7",
        **_MCU,
        core=Core(
            "Cortex-M7 (ARMv7E-M: DSP extension, double-precision FPU)",
            "arm",
            ("-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard"),
            "mps2-an500",
            _arm_qemu("mps2-an500"),
            ("dsp", "portable"),
            fpu=True,
        ),
    ),
    "cortex-m33": TargetLimits(
        "cortex-m33",
        **_MCU,
        core=Core(
            "Cortex-M33 (ARMv8-M Mainline: DSP extension, single-precision FPU, TrustZone)",
            "arm",
            ("-mcpu=cortex-m33", "-mthumb", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"),
            "mps2-an505",
            _arm_qemu("mps2-an505"),
            ("dsp", "portable"),
            fpu=True,
            emulated_as="AN505 in the secure state",
        ),
    ),
    "cortex-m55": TargetLimits(
        "cortex-m55",
        **_MCU,
        core=Core(
            "Cortex-M55 (ARMv8.1-M: DSP extension, FPU, Helium/MVE, TrustZone)",
            "arm",
            ("-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"),
            "mps3-an547",
            _arm_qemu("mps3-an547"),
            ("dsp", "portable"),
            fpu=True,
            emulated_as="AN547 in the secure state; kernels are the Cortex-M DSP path, no hand-written Helium",
        ),
    ),
    "riscv32": TargetLimits(
        "riscv32",
        **_MCU,
        core=Core(
            "RISC-V rv32imc (ESP32-C3 class: no FPU, no DSP)",
            "riscv",
            ("-march=rv32imc", "-misa-spec=2.2", "-mabi=ilp32", "--specs=picolibc.specs"),
            "riscv-virt",
            ("qemu-system-riscv32", "-M", "virt", "-bios", "none", *_CONSOLE, *_ICOUNT),
            ("portable",),
            fpu=False,
            emulated_as="QEMU virt (rv32gc) running rv32imc code",
        ),
    ),
    # Host builds (tests, simulation in the loop): only the runtime's own bounds matter.
    "host": TargetLimits(
        "host", max_width=MAX_DEPTH, max_scratch_bytes=1 << 20, max_parameter_bytes=64 << 20, core=None
    ),
}

#: The microcontroller targets, in the order reports list them.
MCU_TARGETS: tuple[str, ...] = tuple(name for name, limits in TARGETS.items() if limits.core is not None)


def get_target(name: str) -> TargetLimits:
    """The limits of target ``name``.

    Raises:
        ExportError: unknown target.
    """
    try:
        return TARGETS[name]
    except KeyError:
        raise ExportError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)}") from None


def scratch_bytes(model: QuantizedMLP) -> int:
    """Bytes ``tr_mlp_s8_get_buffer_size`` needs on the DSP path (the portable path needs less).

    The fully-connected kernel's scratch (the input widened to int16, ``2 * (depth rounded down to 4)``, rounded up
    to 4 bytes) plus two ping-pong buffers of the widest hidden layer.
    """
    fc = max(2 * (layer.in_features & ~3) for layer in model.layers)
    hidden = max((layer.out_features for layer in model.layers[:-1]), default=0)
    return (fc + 3) // 4 * 4 + 2 * hidden


def check_model(model: QuantizedMLP, limits: TargetLimits) -> None:
    """Reject a model the target cannot run, naming the layer and the limit.

    Checks the target's limits and the C runtime's parameter ranges (what ``tr_mlp_s8_prepare`` would reject on the
    device), so a bad model fails on the host, before any C is written.

    Raises:
        ExportError: the first violated limit.
    """
    for i, layer in enumerate(model.layers):
        width = max(layer.in_features, layer.out_features)
        if width > limits.max_width:
            raise ExportError(
                f"layer {i} ({layer.in_features} -> {layer.out_features}) is too wide for target {limits.name}: "
                f"at most {limits.max_width} features per layer"
            )
        if layer.in_features > MAX_DEPTH:
            raise ExportError(f"layer {i} has {layer.in_features} inputs; the C runtime accepts at most {MAX_DEPTH}")
        if int(abs(layer.bias.astype("int64")).max(initial=0)) > MAX_ABS_BIAS:
            raise ExportError(f"layer {i} has a bias beyond ±2^30, which could overflow the int32 accumulator")
        shifts = layer.output_shift
        assert shifts is not None and layer.output_multiplier is not None  # set by QuantizedDense.__post_init__
        if shifts.min() < SHIFT_RANGE[0] or shifts.max() > SHIFT_RANGE[1] or layer.output_multiplier.min() < 0:
            raise ExportError(f"layer {i} has a requantization scale outside the runtime's range")
    scratch = scratch_bytes(model)
    if scratch > limits.max_scratch_bytes:
        raise ExportError(
            f"the model needs {scratch} bytes of activation buffer; target {limits.name} allows "
            f"{limits.max_scratch_bytes} (make the hidden layers narrower)"
        )
    if model.parameter_bytes > limits.max_parameter_bytes:
        raise ExportError(
            f"the model has {model.parameter_bytes} bytes of weights and biases; target {limits.name} allows "
            f"{limits.max_parameter_bytes}"
        )
