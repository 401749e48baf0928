"""What each export target accepts: layer widths, scratch RAM, parameter flash, and the runtime's own bounds.

The limits are deliberately conservative for ``cortex-m4``: the policy runs as one task of the Crazyflie firmware
on an STM32F405 (1 MB flash, 192 KB RAM, most of both used by the firmware itself), so a policy that needs more
than a few KB of RAM or a few hundred KB of flash is a mistake to catch at export time, not on the drone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tinyrl.compress.model import QuantizedMLP
from tinyrl.export.errors import ExportError

TargetName = Literal["cortex-m4", "host"]

# Bounds of the C runtime itself (firmware/runtime/tr_nn.h). tr_mlp_s8_prepare (tr_nn_prepare.c) checks the same on
# a device; exported code relies on this host check instead and does not link it.
MAX_DEPTH = 4096  # accumulation depth: with |bias| <= 2^30 no int32 accumulator can overflow
MAX_ABS_BIAS = 2**30
SHIFT_RANGE = (-31, 30)


@dataclass(frozen=True)
class TargetLimits:
    """Resource limits of one export target.

    Attributes:
        name: ``"cortex-m4"`` or ``"host"``.
        max_width: Widest layer input or output (features).
        max_scratch_bytes: Largest static activation buffer (``TINYRL_POLICY_SCRATCH_BYTES``).
        max_parameter_bytes: Largest int8 weights + int32 biases (they live in flash on the MCU).
        arm: Whether the target is the Cortex-M4, so the footprint is measured with the ARM toolchain and QEMU.
    """

    name: TargetName
    max_width: int
    max_scratch_bytes: int
    max_parameter_bytes: int
    arm: bool


TARGETS: dict[str, TargetLimits] = {
    # 256 features is far beyond any drone policy (the seed paper's is 6 -> 20 -> 20 -> 3) and keeps the DSP path's
    # scratch (2 bytes per input) and the stack-allocated float path small; 2 KB of scratch and 128 KB of weights
    # leave the Crazyflie firmware its RAM and flash.
    "cortex-m4": TargetLimits(
        "cortex-m4", max_width=256, max_scratch_bytes=2048, max_parameter_bytes=128 * 1024, arm=True
    ),
    # Host builds (tests, simulation in the loop): only the runtime's own bounds matter.
    "host": TargetLimits(
        "host", max_width=MAX_DEPTH, max_scratch_bytes=1 << 20, max_parameter_bytes=64 << 20, arm=False
    ),
}


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
