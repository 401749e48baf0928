"""Random int8 MLPs, a NumPy reference of the firmware's integer math, and C emitters for the firmware tests.

The math mirrors TFLite's int8 FULLY_CONNECTED with per-channel weights (MultiplyByQuantizedMultiplier,
double rounding) followed by an optional 256-entry int8 table (TANH). It is deliberately independent of
``tinyrl.compress`` so the C kernels are checked against a second, small implementation.

Run as a script to regenerate the committed examples in ``firmware/examples/``::

    python tests/firmware/fw_model.py
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"


@dataclass(frozen=True)
class Layer:
    """One int8 fully-connected layer in the firmware's layout (``tr_nn_fc_layer``)."""

    weights: np.ndarray  # int8 (out, in)
    bias: np.ndarray  # int32 (out,)
    multiplier: np.ndarray  # int32 (out,)
    shift: np.ndarray  # int32 (out,)
    input_offset: int  # -input zero point
    output_offset: int  # output zero point
    act_min: int
    act_max: int
    lut: np.ndarray | None = None  # int8 (256,), indexed by q + 128

    @property
    def in_features(self) -> int:
        return int(self.weights.shape[1])

    @property
    def out_features(self) -> int:
        return int(self.weights.shape[0])


# ---- reference integer math ---------------------------------------------------------------------------------


def _wrap32(x: np.ndarray) -> np.ndarray:
    return ((x.astype(np.int64) + 2**31) % 2**32) - 2**31


def requantize(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray, rounding: str = "tflm") -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplier on int64 arrays holding int32 values (broadcast per channel).

    ``rounding="tflm"``: the final rounding shift's ties go away from zero (TFLite Micro, CMSIS-NN);
    ``"tflite"``: they go up (TFLite interpreter's builtin kernels) -- the firmware's ROUNDING=tflite.
    """
    acc = np.asarray(acc, dtype=np.int64)
    m = np.broadcast_to(np.asarray(multiplier, dtype=np.int64), acc.shape)
    s = np.broadcast_to(np.asarray(shift, dtype=np.int64), acc.shape)
    left = np.maximum(s, 0)
    right = np.maximum(-s, 0)
    x = _wrap32(acc << left)
    # SaturatingRoundingDoublingHighMul: nudge, then divide by 2^31 truncating toward zero.
    ab = x * m
    total = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(total >= 0, total >> 31, -((-total) >> 31))
    high = np.where((x == INT32_MIN) & (m == INT32_MIN), INT32_MAX, high)
    # RoundingDivideByPOT.
    mask = (np.int64(1) << right) - 1
    remainder = high & mask
    threshold = (mask >> 1) + ((high < 0) if rounding == "tflm" else 0)
    return (high >> right) + (remainder > threshold)


def run_layer(layer: Layer, x: np.ndarray, rounding: str = "tflm") -> np.ndarray:
    """int8 (batch, in) -> int8 (batch, out)."""
    acc = (x.astype(np.int64) + layer.input_offset) @ layer.weights.astype(np.int64).T + layer.bias.astype(np.int64)
    assert np.all(np.abs(acc) < 2**31), "test model overflows int32 accumulators"
    out = requantize(acc, layer.multiplier, layer.shift, rounding) + layer.output_offset
    out = np.clip(out, layer.act_min, layer.act_max).astype(np.int8)
    if layer.lut is not None:
        out = layer.lut[out.astype(np.int64) + 128]
    return out


def run_mlp(layers: list[Layer], x: np.ndarray, rounding: str = "tflm") -> np.ndarray:
    """The whole MLP on a batch of int8 inputs."""
    for layer in layers:
        x = run_layer(layer, x, rounding)
    return x


# ---- random models ------------------------------------------------------------------------------------------


def quantize_multiplier(scale: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: scale = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31)."""
    if scale == 0.0:
        return 0, 0
    mantissa, exponent = math.frexp(scale)
    q = round(mantissa * (1 << 31))
    if q == 1 << 31:
        q //= 2
        exponent += 1
    if exponent < -31:
        return 0, 0
    return int(q), int(min(exponent, 30))


def tanh_lut(rng: np.random.Generator, zero_point: int) -> np.ndarray:
    """A tanh-shaped table with output scale 1/128, zero point 0 (as TFLite's TANH), random input scale."""
    scale = float(rng.uniform(0.01, 0.08))
    q = np.arange(-128, 128)
    return np.clip(np.round(np.tanh(scale * (q - zero_point)) * 128), -128, 127).astype(np.int8)


def random_mlp(rng: np.random.Generator, widths: list[int], output: str = "linear") -> list[Layer]:
    """Random int8 MLP: relu hidden layers, ``output`` in {"linear", "tanh", "relu6"} for the last layer.

    Per-channel scales are chosen from the accumulators of random inputs so outputs spread over the int8
    range (with a few channels scaled to saturate), like a calibrated model's.
    """
    layers: list[Layer] = []
    in_zp = int(rng.integers(-128, 128))
    probe = rng.integers(-128, 128, size=(256, widths[0])).astype(np.int8)
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        last = i == len(widths) - 2
        weights = rng.integers(-127, 128, size=(n_out, n_in)).astype(np.int8)
        acc = (probe.astype(np.int64) - in_zp) @ weights.astype(np.int64).T
        spread = np.maximum(acc.std(axis=0), 1.0)
        bias = np.round(rng.normal(0.0, 1.0, n_out) * spread).astype(np.int32)
        scales = rng.uniform(0.25, 1.5, n_out) * 64.0 / spread
        scales[rng.random(n_out) < 0.1] *= 20.0  # some saturating channels
        scales[rng.random(n_out) < 0.05] = rng.uniform(1.0, 4.0)  # scale > 1: positive shift
        qm = [quantize_multiplier(float(s)) for s in scales]
        multiplier = np.array([m for m, _ in qm], dtype=np.int32)
        shift = np.array([s for _, s in qm], dtype=np.int32)
        out_zp = int(rng.integers(-128, 128))
        act_min, act_max, lut = -128, 127, None
        if not last:
            out_zp = int(rng.integers(-128, 0))  # relu outputs: zero point low, as calibration gives
            act_min = out_zp
        elif output == "relu6":
            act_min = out_zp
            act_max = int(min(127, out_zp + rng.integers(20, 200)))
        elif output == "tanh":
            lut = tanh_lut(rng, out_zp)
        layer = Layer(weights, bias, multiplier, shift, -in_zp, out_zp, act_min, act_max, lut)
        layers.append(layer)
        probe = run_layer(layer, probe)
        in_zp = 0 if lut is not None else out_zp
    return layers


def random_inputs(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    """Uniform int8 inputs with the extremes -128/127 always included."""
    x = rng.integers(-128, 128, size=(n, width)).astype(np.int8)
    x[0, :] = -128
    if n > 1:
        x[1, :] = 127
    return x


# ---- C emitters ---------------------------------------------------------------------------------------------


def _c_array(ctype: str, name: str, values: np.ndarray, per_line: int = 24) -> str:
    flat = [str(int(v)) for v in np.asarray(values).ravel()]
    lines = [", ".join(flat[i : i + per_line]) for i in range(0, len(flat), per_line)]
    body = ",\n    ".join(lines)
    return f"static const {ctype} {name}[{len(flat)}] = {{\n    {body}}};\n"


def _c_layers(prefix: str, layers: list[Layer]) -> str:
    out = []
    for i, layer in enumerate(layers):
        p = f"{prefix}_l{i}"
        out.append(_c_array("int8_t", f"{p}_weights", layer.weights))
        out.append(_c_array("int32_t", f"{p}_bias", layer.bias, 8))
        out.append(_c_array("int32_t", f"{p}_multiplier", layer.multiplier, 8))
        out.append(_c_array("int32_t", f"{p}_shift", layer.shift))
        if layer.lut is not None:
            out.append(_c_array("int8_t", f"{p}_lut", layer.lut))
    out.append(f"static const tr_nn_fc_layer {prefix}_layers[{len(layers)}] = {{\n")
    for i, layer in enumerate(layers):
        p = f"{prefix}_l{i}"
        lut = f"{p}_lut" if layer.lut is not None else "0"
        out.append(
            f"    {{{{{layer.in_features}, 1, 1, {layer.out_features}}}, {p}_weights, {p}_bias, "
            f"{{{p}_multiplier, {p}_shift}}, "
            f"{{{layer.input_offset}, 0, {layer.output_offset}, {{{layer.act_min}, {layer.act_max}}}}}, {lut}}},\n"
        )
    out.append("};\n")
    return "".join(out)


def scratch_size(layers: list[Layer]) -> int:
    """Bytes tr_mlp_s8_get_buffer_size returns on the DSP path (the portable path needs less)."""
    fc = max(2 * (layer.in_features & ~3) for layer in layers)
    return (fc + 3) // 4 * 4 + 2 * max([layer.out_features for layer in layers[:-1]], default=0)


def describe(layers: list[Layer]) -> str:
    widths = [layers[0].in_features] + [layer.out_features for layer in layers]
    last = "tanh" if layers[-1].lut is not None else "linear"
    return "->".join(map(str, widths)) + f" relu/{last}"


def write_testvec_header(
    path: Path, layers: list[Layer], inputs: np.ndarray, expected: np.ndarray, description: str
) -> None:
    """The header apps/test/main.c includes: model, inputs, expected outputs."""
    guard = "TR_TESTVEC_" + "".join(c if c.isalnum() else "_" for c in path.stem).upper() + "_H"
    text = (
        f"/* Generated by tests/firmware/fw_model.py; do not edit. {description} */\n"
        f'#ifndef {guard}\n#define {guard}\n\n#include <stdint.h>\n\n#include "tr_nn.h"\n\n'
        f'#define TV_DESCRIPTION "{description}"\n'
        f"#define TV_NUM_LAYERS {len(layers)}\n"
        f"#define TV_INPUT_SIZE {layers[0].in_features}\n"
        f"#define TV_OUTPUT_SIZE {layers[-1].out_features}\n"
        f"#define TV_NUM_VECTORS {len(inputs)}\n"
        f"#define TV_SCRATCH_SIZE {scratch_size(layers)}\n\n"
        + _c_layers("tv", layers)
        + "\n"
        + _c_array("int8_t", "tv_inputs", inputs)
        + _c_array("int8_t", "tv_expected", expected)
        + f"\n#endif /* {guard} */\n"
    )
    path.write_text(text)


def write_policy(directory: Path, layers: list[Layer], description: str) -> None:
    """tinyrl_policy.h/.c in the generated-policy contract (what ``tinyrl export`` emits, minus the runtime copies).

    The float entry point uses placeholder scales (input 1/64, output 1/128): these models have no real-valued
    meaning; the exporter's tests check the float path on real models.
    """
    directory.mkdir(parents=True, exist_ok=True)
    in_zp = -layers[0].input_offset
    out_zp = 0 if layers[-1].lut is not None else layers[-1].output_offset
    header = (
        f"/* Generated by tests/firmware/fw_model.py; do not edit. {description} */\n"
        "#ifndef TINYRL_POLICY_H\n#define TINYRL_POLICY_H\n\n#include <stdint.h>\n\n"
        f"#define TINYRL_POLICY_INPUT_SIZE {layers[0].in_features}\n"
        f"#define TINYRL_POLICY_OUTPUT_SIZE {layers[-1].out_features}\n"
        f"#define TINYRL_POLICY_NUM_LAYERS {len(layers)}\n"
        f"#define TINYRL_POLICY_SCRATCH_BYTES {scratch_size(layers)}\n"
        f"#define TINYRL_POLICY_INPUT_SCALE 0x1p-6f\n#define TINYRL_POLICY_INPUT_ZERO_POINT ({in_zp})\n"
        f"#define TINYRL_POLICY_OUTPUT_SCALE 0x1p-7f\n#define TINYRL_POLICY_OUTPUT_ZERO_POINT ({out_zp})\n\n"
        "/** Validate the model once (tr_mlp_s8_prepare); 0 on success. */\n"
        "int tinyrl_policy_init(void);\n\n"
        "/** One inference: int8 observation in, int8 action out (quantization as in the .tflite). */\n"
        "int tinyrl_policy_run_int8(const int8_t *in, int8_t *out);\n\n"
        "/** One inference on floats: quantize, run, dequantize. */\n"
        "int tinyrl_policy_run(const float *obs, float *act);\n\n"
        "#endif /* TINYRL_POLICY_H */\n"
    )
    source = (
        f"/* Generated by tests/firmware/fw_model.py; do not edit. {description} */\n"
        '#include "tinyrl_policy.h"\n\n#include "tr_nn.h"\n\n'
        + _c_layers("policy", layers)
        + "\n/* Scratch for tr_mlp_s8; uint32_t for the 4-byte alignment the kernels need. */\n"
        + f"static uint32_t policy_scratch[{max((scratch_size(layers) + 3) // 4, 1)}];\n\n"
        "int tinyrl_policy_init(void)\n{\n"
        "    return (int)tr_mlp_s8_prepare(policy_layers, TINYRL_POLICY_NUM_LAYERS);\n}\n\n"
        "int tinyrl_policy_run_int8(const int8_t *in, int8_t *out)\n{\n"
        "    const tr_nn_context ctx = {policy_scratch, (int32_t)sizeof(policy_scratch)};\n"
        "    return (int)tr_mlp_s8(&ctx, policy_layers, TINYRL_POLICY_NUM_LAYERS, in, out);\n}\n\n"
        "int tinyrl_policy_run(const float *obs, float *act)\n{\n"
        "    int8_t in[TINYRL_POLICY_INPUT_SIZE];\n    int8_t out[TINYRL_POLICY_OUTPUT_SIZE];\n"
        "    for (int32_t i = 0; i < TINYRL_POLICY_INPUT_SIZE; ++i) {\n"
        "        const float s = obs[i] / TINYRL_POLICY_INPUT_SCALE;\n"
        "        const float m = s < 0.0f ? (s < -512.0f ? 512.0f : -s) : (s > 512.0f ? 512.0f : s);\n"
        "        const int32_t r = (int32_t)(m + 0.5f);\n"
        "        const int32_t q = (s < 0.0f ? -r : r) + TINYRL_POLICY_INPUT_ZERO_POINT;\n"
        "        in[i] = (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));\n    }\n"
        "    const int status = tinyrl_policy_run_int8(in, out);\n"
        "    for (int32_t i = 0; i < TINYRL_POLICY_OUTPUT_SIZE; ++i) {\n"
        "        act[i] = TINYRL_POLICY_OUTPUT_SCALE * (float)((int32_t)out[i] - TINYRL_POLICY_OUTPUT_ZERO_POINT);\n"
        "    }\n    return status;\n}\n"
    )
    (directory / "tinyrl_policy.h").write_text(header)
    (directory / "tinyrl_policy.c").write_text(source)


def write_policy_vectors(path: Path, inputs: np.ndarray, expected: np.ndarray, description: str) -> None:
    """The header apps/verify/main.c includes (int8 path only: these models have no float meaning)."""
    text = (
        f"/* Generated by tests/firmware/fw_model.py; do not edit. {description} */\n"
        "#ifndef TR_POLICY_VECTORS_H\n#define TR_POLICY_VECTORS_H\n\n#include <stdint.h>\n\n"
        f'#define TPV_DESCRIPTION "{description}"\n'
        f"#define TPV_NUM_VECTORS {len(inputs)}\n#define TPV_NUM_FLOAT_VECTORS 0\n\n"
        + _c_array("int8_t", "tpv_inputs", inputs)
        + _c_array("int8_t", "tpv_expected", expected)
        + "\n#endif /* TR_POLICY_VECTORS_H */\n"
    )
    path.write_text(text)


def write_examples(examples: Path) -> None:
    """The committed examples: a 12->32->32->4 test-vector header, the same model as a policy, its vectors."""
    rng = np.random.default_rng(0)
    layers = random_mlp(rng, [12, 32, 32, 4], output="tanh")
    inputs = random_inputs(rng, 32, 12)
    desc = describe(layers) + " seed 0"
    write_testvec_header(examples / "example_testvec.h", layers, inputs, run_mlp(layers, inputs), desc)
    write_policy(examples / "policy", layers, desc)
    write_policy_vectors(examples / "example_policy_vectors.h", inputs, run_mlp(layers, inputs), desc)


if __name__ == "__main__":
    write_examples(FIRMWARE / "examples")
