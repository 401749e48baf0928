"""Prepare (TFLite Micro's name for the step): the integer constants a layer's kernels need, derived once.

From each layer's quantization parameters, with TFLite's rules: requantization multipliers and shifts, clamp bounds,
and the int8 TANH tables of both interpreters.

TANH: TFLite builtin uses a lookup table built with float ``tanhf``, TFLite Micro gemmlowp's fixed-point tanh
(:func:`tanh_lut_tflite`, :func:`tanh_lut_tflm`). Both are pure functions of one int8 value, so the executor
applies them as 256-entry tables. The C exporter emits exactly these numbers.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from tinyrl.compress.fixed_point import (
    INT8_MAX,
    INT8_MIN,
    INT32_MAX,
    mbqm_scalar,
    quantize_multiplier,
    round_half_away,
    rounding_divide_by_pot,
    rounding_half_sum,
    saturating_rounding_mul_by_pot,
    srdhm,
    wrap_int32,
)
from tinyrl.compress.model import Activation, QuantizedDense, QuantizedMLP, QuantParams
from tinyrl.errors import ModelError

# ---------------------------------------------------------------------------------------------------------------------
# int8 TANH, both flavours, as 256-entry tables indexed by ``q + 128``.
# ---------------------------------------------------------------------------------------------------------------------


def tanh_lut_tflite(input_qp: QuantParams, output_qp: QuantParams) -> np.ndarray:
    """The table TFLite's builtin int8 TANH kernel builds in ``Prepare`` and looks up in ``Eval``.

    For every int8 ``q``: ``x = float32(s_in) * float32(q - zp_in)``; ``y = tanhf(x)``;
    ``r = std::round(y * float32(1 / s_out))`` (ties away from zero); ``out = clamp(int(r + zp_out), -128, 127)``,
    all in float32. ``tanhf`` is taken as the float32 rounding of the double-precision ``tanh``, which is what a
    faithful libm returns; a different libm could only matter if its result straddled an exact ``.5`` in the output
    grid.

    Args:
        input_qp: Quantization of the TANH input (the pre-activation tensor).
        output_qp: Quantization of the TANH output (the converter fixes ``1/128, 0``).

    Returns:
        int8 array, shape ``(256,)``; entry ``i`` is the output for input ``q = i - 128``.
    """
    q = np.arange(INT8_MIN, INT8_MAX + 1, dtype=np.int32)
    x = np.float32(input_qp.scale) * (q - np.int32(input_qp.zero_point)).astype(np.float32)
    y = np.array([math.tanh(float(v)) for v in x], dtype=np.float32)
    inv = np.float32(1.0) / np.float32(output_qp.scale)
    scaled = (y * inv).astype(np.float32)
    rounded = np.sign(scaled) * np.floor(np.abs(scaled) + np.float32(0.5))  # std::round, ties away from zero
    out = (rounded.astype(np.float32) + np.float32(output_qp.zero_point)).astype(np.int64)
    return np.clip(out, INT8_MIN, INT8_MAX).astype(np.int8)


def tflm_tanh_params(input_qp: QuantParams) -> tuple[int, int, int]:
    """TFLite Micro's int8 TANH ``Prepare``: the input rescale to Q4.27 and the saturation radius.

    ``frexp(s_in * 2**27)`` gives ``(q, shift)``; ``multiplier = round(q * 2**31)``; ``radius =
    floor(15 * 2**27 / 2**shift)`` is the largest ``|q - zp_in|`` that does not overflow Q4.27.

    Args:
        input_qp: Quantization of the TANH input.

    Returns:
        ``(input_multiplier, input_left_shift, input_range_radius)``.
    """
    integer_bits = 4
    real = float(np.float32(input_qp.scale)) * float(1 << (31 - integer_bits))
    q, shift = math.frexp(real)
    multiplier = round_half_away(q * (1 << 31))
    if multiplier >= 1 << 31 or shift < 0:
        raise ModelError(f"TANH input scale {input_qp.scale!r} is outside what TFLite Micro's int8 TANH supports")
    radius = math.floor(((1 << integer_bits) - 1) * float(1 << (31 - integer_bits)) / float(1 << shift))
    return multiplier, shift, radius


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: int) -> int:
    """gemmlowp: ``exp(a)`` for ``a`` in ``[-1/4, 0)``, Q0.31 in and out (Taylor series around ``-1/8``)."""
    constant_term = 1895147668  # exp(-1/8) in Q0.31
    constant_1_over_3 = 715827883
    x = a + (1 << 28)  # a + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = saturating_rounding_mul_by_pot(x4, -2)
    poly = saturating_rounding_mul_by_pot(srdhm(x4_over_4 + x3, constant_1_over_3) + x2, -1)
    return wrap_int32(constant_term + srdhm(constant_term, x + poly))


def _exp_on_negative_values(a: int, integer_bits: int) -> int:
    """The gemmlowp ``exp_on_negative_values``: ``exp(a)`` for ``a <= 0`` in Q``integer_bits``, result in Q0.31."""
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_mul_by_pot(a_mod_quarter_minus_one_quarter, integer_bits)
    )
    remainder = a_mod_quarter_minus_one_quarter - a
    # Barrel shifter: multiply by exp(-2**k) for every bit of the remainder (Q0.31 constants).
    for exponent, multiplier in ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
                                 (2, 39332535), (3, 720401), (4, 242)):  # fmt: skip
        if integer_bits > exponent and remainder & (1 << (fractional_bits + exponent)):
            result = srdhm(result, multiplier)
    if integer_bits > 5 and a < -(1 << (36 - integer_bits)):
        result = 0
    return INT32_MAX if a == 0 else result


def _one_minus_x_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    """gemmlowp: ``(1 - a) / (1 + a)`` for ``a`` in ``(0, 1)``, Q0.31, by three Newton-Raphson steps in Q2.29."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    one_q2 = 1 << 29
    x = 1515870810 + srdhm(half_denominator, -1010580540)  # 48/17 - 32/17 * d, in Q2.29
    for _ in range(3):
        one_minus_dx = one_q2 - srdhm(half_denominator, x)
        x = wrap_int32(x + saturating_rounding_mul_by_pot(srdhm(x, one_minus_dx), 2))
    return saturating_rounding_mul_by_pot(x - one_q2, 2)


def _gemmlowp_tanh_q4(a: int) -> int:
    """The gemmlowp ``tanh`` of a Q4.27 value, result in Q0.31 (``tanh = (1 - e^{-2|a|}) / (1 + e^{-2|a|})``)."""
    if a == 0:
        return 0
    negative = a < 0
    n = a if negative else -a
    # ExactMulByPot<1>: the same raw value reinterpreted with 5 integer bits is 2*n.
    t = _one_minus_x_over_one_plus_x_for_x_in_0_1(_exp_on_negative_values(n, 5))
    return -t if negative else t


def tanh_lut_tflm(input_qp: QuantParams) -> np.ndarray:
    """The output of TFLite Micro's int8 TANH (``reference_integer_ops::Tanh``) for every int8 input.

    ``d = q - zp_in``; ``d <= -radius`` gives -128 and ``d >= radius`` gives 127; otherwise ``d`` is rescaled to
    Q4.27 with ``MultiplyByQuantizedMultiplier(d, multiplier, shift)``, passed through gemmlowp's fixed-point tanh
    (Q0.31 result), then ``RoundingDivideByPOT(·, 24)`` and clamped. The output quantization is implicitly
    ``1/128, 0`` (the kernel ignores the tensor's parameters; :func:`load_tflite` checks they agree).

    Args:
        input_qp: Quantization of the TANH input.

    Returns:
        int8 array, shape ``(256,)``; entry ``i`` is the output for input ``q = i - 128``.
    """
    multiplier, shift, radius = tflm_tanh_params(input_qp)
    out = np.empty(256, dtype=np.int8)
    for i, q in enumerate(range(INT8_MIN, INT8_MAX + 1)):
        d = q - input_qp.zero_point
        if d <= -radius:
            out[i] = INT8_MIN
        elif d >= radius:
            out[i] = INT8_MAX
        else:
            t = _gemmlowp_tanh_q4(mbqm_scalar(d, multiplier, shift))
            out[i] = min(max(rounding_divide_by_pot(t, 31 - 7), INT8_MIN), INT8_MAX)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Per-layer constants.
# ---------------------------------------------------------------------------------------------------------------------


def _quantize_float32(value: float, qp: QuantParams) -> int:
    """TFLite ``QuantizeHelper``: ``zp + int(std::round(value / scale))`` in float32 (used for clamp bounds)."""
    return qp.zero_point + round_half_away(float(np.float32(value) / np.float32(qp.scale)))


def activation_range(activation: Activation, output_qp: QuantParams) -> tuple[int, int]:
    """TFLite ``CalculateActivationRangeQuantized`` for the fused activation of a fully-connected layer.

    Args:
        activation: The layer's activation; ``"tanh"`` is a separate op, so its FC output is unclamped.
        output_qp: Quantization of the FC output tensor.

    Returns:
        ``(act_min, act_max)`` int8 clamp bounds.
    """
    if activation == "relu":
        return max(INT8_MIN, _quantize_float32(0.0, output_qp)), INT8_MAX
    if activation == "relu6":
        lo = max(INT8_MIN, _quantize_float32(0.0, output_qp))
        return lo, min(INT8_MAX, _quantize_float32(6.0, output_qp))
    return INT8_MIN, INT8_MAX


def derive_layer_constants(layer: QuantizedDense) -> dict[str, Any]:
    """Everything the integer kernels need that depends only on the layer's parameters.

    Args:
        layer: A layer whose weights, scales and quantization parameters are set.

    Returns:
        Field name → value for :class:`~tinyrl.compress.model.QuantizedDense`'s derived fields: ``output_multiplier``
        and ``output_shift`` (int32, shape ``(out_features,)``), ``activation_min``/``activation_max``, and for tanh
        layers ``tanh_lut`` (TFLite), ``tanh_lut_tflm`` and the TFLM fixed-point parameters.
    """
    pairs = [
        # Double precision, in TFLite's order: (s_in * s_w) / s_out, with each scale widened from float32.
        quantize_multiplier(
            float(np.float32(layer.input.scale)) * float(np.float32(ws)) / float(np.float32(layer.output.scale))
        )
        for ws in np.asarray(layer.weight_scales).reshape(-1)
    ]
    act_min, act_max = activation_range(layer.activation, layer.output)
    derived: dict[str, Any] = {
        "output_multiplier": np.array([m for m, _ in pairs], dtype=np.int32),
        "output_shift": np.array([s for _, s in pairs], dtype=np.int32),
        "activation_min": act_min,
        "activation_max": act_max,
    }
    if layer.activation == "tanh":
        tanh_out = layer.tanh_output or QuantParams(1.0 / 128.0, 0)
        mult, shift, radius = tflm_tanh_params(layer.output)
        derived.update(
            tanh_lut=tanh_lut_tflite(layer.output, tanh_out),
            tanh_lut_tflm=tanh_lut_tflm(layer.output),
            tanh_input_multiplier=mult,
            tanh_input_shift=shift,
            tanh_input_range_radius=radius,
        )
    return derived


def prepare_layer(layer: QuantizedDense) -> QuantizedDense:
    """``layer`` with every derived constant that is still ``None`` filled in (see :func:`derive_layer_constants`)."""
    derived = {k: v for k, v in derive_layer_constants(layer).items() if getattr(layer, k) is None}
    return dataclasses.replace(layer, **derived)


def prepare_model(model: QuantizedMLP) -> QuantizedMLP:
    """``model`` with every layer prepared (:func:`prepare_layer`)."""
    return QuantizedMLP(layers=tuple(prepare_layer(layer) for layer in model.layers))
