"""Load an int8 ``.tflite`` MLP and run it in NumPy, bit-exact with TFLite and TFLite Micro.

The math follows the TensorFlow Lite full-integer spec (see ``/work/shared/DESIGN.md``, "Numbers (int8)"):

* fully connected: ``acc = sum((x - zp_in) * w) + bias`` in int32, then
  ``y = MultiplyByQuantizedMultiplier(acc, M[c], shift[c]) + zp_out`` clamped to the activation range, where
  ``(M, shift)`` come from ``QuantizeMultiplier(s_in * s_w[c] / s_out)`` (Q31 significand, power-of-two exponent;
  ``shift > 0`` shifts left);
* ``MultiplyByQuantizedMultiplier`` is gemmlowp's ``SaturatingRoundingDoublingHighMul`` followed by a rounding
  right shift (the "double rounding" variant both interpreters build by default). TFLite Micro (and CMSIS-NN) round
  the shift's ties away from zero; TFLite's builtin x86 kernels round them toward +inf;
* int8 TANH: TFLite builtin uses a lookup table built with float ``tanhf``, TFLite Micro gemmlowp's fixed-point
  tanh (see :func:`tanh_lut_tflite` and :func:`tanh_lut_tflm`). Both are pure functions of one int8 value, so the
  executor applies them as 256-entry tables.

:func:`run_int8` therefore takes ``reference="tflm"`` (default) or ``"tflite"``.

Everything that depends only on the model (multipliers, shifts, clamp bounds, tanh tables) is computed once at load
time and stored on :class:`~tinyrl.compress.model.QuantizedDense`, so the C exporter emits exactly these numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tinyrl.compress.model import Activation, QuantizedDense, QuantizedMLP, QuantParams
from tinyrl.errors import ModelError

__all__ = [
    "Reference",
    "dequantize_output",
    "load_tflite",
    "multiply_by_quantized_multiplier",
    "quantize_input",
    "quantize_multiplier",
    "run_int8",
    "tanh_lut_tflite",
    "tanh_lut_tflm",
]

Reference = Literal["tflm", "tflite"]
"""Which interpreter :func:`run_int8` reproduces bit for bit: TFLite Micro (reference kernels) or TFLite (builtin)."""

_INT8_MIN, _INT8_MAX = -128, 127
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1

# ---------------------------------------------------------------------------------------------------------------------
# Scalar fixed-point primitives (gemmlowp semantics on Python ints). Used at load time only, on a handful of values.
# ---------------------------------------------------------------------------------------------------------------------


def _round_half_away(x: float) -> int:
    """``std::round``: ties go away from zero (Python's ``round`` goes to even, which is not what TFLite does)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def _wrap_int32(v: int) -> int:
    """Two's-complement int32 wrap-around, as the C++ code behaves on (rare) non-saturating overflow."""
    return ((v + 2**31) % 2**32) - 2**31


def _srdhm(a: int, b: int) -> int:
    """``SaturatingRoundingDoublingHighMul``: ``round(a * b / 2**31)``, ties away from zero, ``INT_MIN²`` saturates."""
    if a == b == _INT32_MIN:
        return _INT32_MAX
    ab = a * b
    t = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
    # C integer division truncates toward zero; Python's // floors, so divide the magnitude.
    q = abs(t) >> 31
    return q if t >= 0 else -q


def _rounding_divide_by_pot(x: int, exponent: int) -> int:
    """``RoundingDivideByPOT``: arithmetic right shift rounding to nearest, ties away from zero."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def _saturating_rounding_mul_by_pot(x: int, exponent: int) -> int:
    """``SaturatingRoundingMultiplyByPOT<exponent>`` on int32: saturating left shift or rounding right shift."""
    if exponent > 0:
        threshold = (1 << (31 - exponent)) - 1
        if x > threshold:
            return _INT32_MAX
        if x < -threshold:
            return _INT32_MIN
        return x << exponent
    if exponent < 0:
        return _rounding_divide_by_pot(x, -exponent)
    return x


def _rounding_half_sum(a: int, b: int) -> int:
    """The gemmlowp ``RoundingHalfSum`` for int32: ``(a + b + sign) / 2`` with C truncation."""
    s = a + b
    t = s + (1 if s >= 0 else -1)
    return abs(t) // 2 if t >= 0 else -(abs(t) // 2)


def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier``: split a positive real multiplier into a Q31 significand and a shift.

    ``real ≈ multiplier / 2**31 * 2**shift`` with ``multiplier`` in ``[2**30, 2**31)``; ``shift > 0`` means a left
    shift. A significand that rounds up to ``2**31`` is halved (and the shift bumped), and multipliers below
    ``2**-32`` flush to zero, exactly as the C++ helper does.

    Args:
        real_multiplier: Non-negative real multiplier, e.g. ``s_in * s_w / s_out`` computed in double precision.

    Returns:
        ``(multiplier, shift)`` as Python ints; ``multiplier`` fits int32.
    """
    if real_multiplier == 0.0:
        return 0, 0
    if not (real_multiplier > 0.0 and math.isfinite(real_multiplier)):
        raise ModelError(f"cannot quantize the multiplier {real_multiplier!r}: it must be finite and positive")
    q, shift = math.frexp(real_multiplier)
    q_fixed = _round_half_away(q * (1 << 31))  # exact: scaling a double by a power of two
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:  # newer TFLite clamps instead of overflowing the left shift
        return (1 << 31) - 1, 30
    return q_fixed, shift


def _mbqm_scalar(x: int, multiplier: int, shift: int) -> int:
    """Scalar ``MultiplyByQuantizedMultiplier`` (double rounding), on int32 values."""
    left = shift if shift > 0 else 0
    right = -shift if shift < 0 else 0
    return _rounding_divide_by_pot(_srdhm(_wrap_int32(x * (1 << left)), multiplier), right)


# ---------------------------------------------------------------------------------------------------------------------
# Vectorized requantization (int64 NumPy holding int32 values), used by the executor on whole batches.
# ---------------------------------------------------------------------------------------------------------------------


def multiply_by_quantized_multiplier(
    x: np.ndarray, multiplier: np.ndarray, shift: np.ndarray, *, ties: Literal["away", "up"] = "away"
) -> np.ndarray:
    """Vectorized ``MultiplyByQuantizedMultiplier``: ``x * multiplier / 2**31 * 2**shift``, rounded twice.

    Stage 1 is ``SaturatingRoundingDoublingHighMul(x << left, multiplier)``, stage 2 a rounding right shift by
    ``right``, with ``left = max(shift, 0)`` and ``right = max(-shift, 0)``. Stage 2's ties are where the
    implementations differ: gemmlowp's ``RoundingDivideByPOT`` (TFLite reference code, TFLite Micro, CMSIS-NN)
    rounds them away from zero (``ties="away"``); TFLite's builtin optimized kernels use a NEON-style rounding
    shift that rounds them up, toward +inf (``ties="up"``).

    Args:
        x: int32 values (any integer dtype), shape ``(..., C)``.
        multiplier: int32 Q31 significands, shape ``(C,)`` or broadcastable.
        shift: int32 shifts (``> 0`` = left), shape ``(C,)`` or broadcastable.
        ties: Rounding of exact halves in stage 2, see above.

    Returns:
        int64 array of int32-range values, shape of ``x``.
    """
    x = np.asarray(x, dtype=np.int64)
    multiplier = np.asarray(multiplier, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    if np.any(left):
        x = x << left
        # Wrap like int32 C arithmetic would; only reachable when an effective scale exceeds 1 and the product
        # overflows.
        x = ((x + 2**31) & (2**32 - 1)) - 2**31
    # Stage 1. gemmlowp's SRDHM adds 2**30 (or 1 - 2**30 for negative products) and truncates toward zero; that is
    # exactly floor((x*m + 2**30) / 2**31), i.e. an arithmetic shift. |x*m| < 2**62 fits int64. The one saturating
    # case, INT32_MIN * INT32_MIN, cannot occur: multipliers are non-negative.
    high = (x * multiplier + (1 << 30)) >> 31
    # Stage 2: floor((high + half) / 2**right) rounds ties up; subtracting 1 from negative values first turns that
    # into ties-away-from-zero without changing any non-tie result.
    half = (np.int64(1) << right) >> 1
    if ties == "away":
        return (high + half - ((high < 0) & (right > 0))) >> right
    return (high + half) >> right


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
    q = np.arange(_INT8_MIN, _INT8_MAX + 1, dtype=np.int32)
    x = np.float32(input_qp.scale) * (q - np.int32(input_qp.zero_point)).astype(np.float32)
    y = np.array([math.tanh(float(v)) for v in x], dtype=np.float32)
    inv = np.float32(1.0) / np.float32(output_qp.scale)
    scaled = (y * inv).astype(np.float32)
    rounded = np.sign(scaled) * np.floor(np.abs(scaled) + np.float32(0.5))  # std::round, ties away from zero
    out = (rounded.astype(np.float32) + np.float32(output_qp.zero_point)).astype(np.int64)
    return np.clip(out, _INT8_MIN, _INT8_MAX).astype(np.int8)


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
    multiplier = _round_half_away(q * (1 << 31))
    if multiplier >= 1 << 31 or shift < 0:
        raise ModelError(f"TANH input scale {input_qp.scale!r} is outside what TFLite Micro's int8 TANH supports")
    radius = math.floor(((1 << integer_bits) - 1) * float(1 << (31 - integer_bits)) / float(1 << shift))
    return multiplier, shift, radius


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: int) -> int:
    """gemmlowp: ``exp(a)`` for ``a`` in ``[-1/4, 0)``, Q0.31 in and out (Taylor series around ``-1/8``)."""
    constant_term = 1895147668  # exp(-1/8) in Q0.31
    constant_1_over_3 = 715827883
    x = a + (1 << 28)  # a + 1/8
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    x4_over_4 = _saturating_rounding_mul_by_pot(x4, -2)
    poly = _saturating_rounding_mul_by_pot(_srdhm(x4_over_4 + x3, constant_1_over_3) + x2, -1)
    return _wrap_int32(constant_term + _srdhm(constant_term, x + poly))


def _exp_on_negative_values(a: int, integer_bits: int) -> int:
    """The gemmlowp ``exp_on_negative_values``: ``exp(a)`` for ``a <= 0`` in Q``integer_bits``, result in Q0.31."""
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        _saturating_rounding_mul_by_pot(a_mod_quarter_minus_one_quarter, integer_bits)
    )
    remainder = a_mod_quarter_minus_one_quarter - a
    # Barrel shifter: multiply by exp(-2**k) for every bit of the remainder (Q0.31 constants).
    for exponent, multiplier in ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
                                 (2, 39332535), (3, 720401), (4, 242)):  # fmt: skip
        if integer_bits > exponent and remainder & (1 << (fractional_bits + exponent)):
            result = _srdhm(result, multiplier)
    if integer_bits > 5 and a < -(1 << (36 - integer_bits)):
        result = 0
    return _INT32_MAX if a == 0 else result


def _one_minus_x_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    """gemmlowp: ``(1 - a) / (1 + a)`` for ``a`` in ``(0, 1)``, Q0.31, by three Newton-Raphson steps in Q2.29."""
    half_denominator = _rounding_half_sum(a, _INT32_MAX)
    one_q2 = 1 << 29
    x = 1515870810 + _srdhm(half_denominator, -1010580540)  # 48/17 - 32/17 * d, in Q2.29
    for _ in range(3):
        one_minus_dx = one_q2 - _srdhm(half_denominator, x)
        x = _wrap_int32(x + _saturating_rounding_mul_by_pot(_srdhm(x, one_minus_dx), 2))
    return _saturating_rounding_mul_by_pot(x - one_q2, 2)


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
    for i, q in enumerate(range(_INT8_MIN, _INT8_MAX + 1)):
        d = q - input_qp.zero_point
        if d <= -radius:
            out[i] = _INT8_MIN
        elif d >= radius:
            out[i] = _INT8_MAX
        else:
            t = _gemmlowp_tanh_q4(_mbqm_scalar(d, multiplier, shift))
            out[i] = min(max(_rounding_divide_by_pot(t, 31 - 7), _INT8_MIN), _INT8_MAX)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Per-layer constants (called from QuantizedDense.__post_init__).
# ---------------------------------------------------------------------------------------------------------------------


def _quantize_float32(value: float, qp: QuantParams) -> int:
    """TFLite ``QuantizeHelper``: ``zp + int(std::round(value / scale))`` in float32 (used for clamp bounds)."""
    return qp.zero_point + _round_half_away(float(np.float32(value) / np.float32(qp.scale)))


def activation_range(activation: Activation, output_qp: QuantParams) -> tuple[int, int]:
    """TFLite ``CalculateActivationRangeQuantized`` for the fused activation of a fully-connected layer.

    Args:
        activation: The layer's activation; ``"tanh"`` is a separate op, so its FC output is unclamped.
        output_qp: Quantization of the FC output tensor.

    Returns:
        ``(act_min, act_max)`` int8 clamp bounds.
    """
    if activation == "relu":
        return max(_INT8_MIN, _quantize_float32(0.0, output_qp)), _INT8_MAX
    if activation == "relu6":
        lo = max(_INT8_MIN, _quantize_float32(0.0, output_qp))
        return lo, min(_INT8_MAX, _quantize_float32(6.0, output_qp))
    return _INT8_MIN, _INT8_MAX


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


# ---------------------------------------------------------------------------------------------------------------------
# Executor.
# ---------------------------------------------------------------------------------------------------------------------


def _dense_int8(layer: QuantizedDense, x: np.ndarray, ties: Literal["away", "up"]) -> np.ndarray:
    """One fully-connected layer plus fused clamp: int8 ``(B, in)`` → int8 ``(B, out)``."""
    centred = x.astype(np.float64) - float(layer.input.zero_point)
    # float64 BLAS is exact here: every product and partial sum is an integer far below 2**53
    # (|x - zp| <= 255, |w| <= 127, so |acc| < 2**15 * in_features), and it is much faster than int64 matmul.
    acc = (centred @ layer.weights.astype(np.float64).T).astype(np.int64) + layer.bias.astype(np.int64)
    y = multiply_by_quantized_multiplier(acc, layer.output_multiplier, layer.output_shift, ties=ties)
    y += layer.output.zero_point
    return np.clip(y, layer.activation_min, layer.activation_max).astype(np.int8)


def run_int8(model: QuantizedMLP, x_q: np.ndarray, *, reference: Reference = "tflm") -> np.ndarray:
    """Run the int8 MLP on a batch, bit-exact with TFLite Micro or with the TFLite interpreter (delegates off).

    The two interpreters disagree on a small fraction of outputs (by ±1 after requantization ties, by up to a few
    steps after TANH), so pick the one to match:

    * ``"tflm"`` (default): TFLite Micro's reference kernels, which CMSIS-NN and TinyRL's C runtime follow:
      requantization ties round away from zero; TANH is gemmlowp's fixed-point tanh (:func:`tanh_lut_tflm`).
    * ``"tflite"``: ``tf.lite.Interpreter`` with ``BUILTIN_WITHOUT_DEFAULT_DELEGATES`` (TF 2.21, x86):
      requantization ties round toward +inf; TANH is a float-built lookup table (:func:`tanh_lut_tflite`).

    Args:
        model: The quantized MLP (e.g. from :func:`load_tflite`).
        x_q: int8 observations, shape ``(B, in_features)`` (a single ``(in_features,)`` vector is accepted too).
        reference: Which interpreter to be bit-exact with, see above.

    Returns:
        int8 outputs, shape ``(B, out_features)`` (or ``(out_features,)`` for a single vector).
    """
    if reference not in ("tflm", "tflite"):
        raise ValueError(f"reference must be 'tflm' or 'tflite', got {reference!r}")
    x = np.asarray(x_q)
    if x.dtype != np.int8:
        raise TypeError(f"run_int8 expects int8 observations, got {x.dtype}; use quantize_input() first")
    single = x.ndim == 1
    if single:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != model.in_features:
        raise ValueError(f"expected observations of shape (B, {model.in_features}), got {np.shape(x_q)}")
    ties: Literal["away", "up"] = "away" if reference == "tflm" else "up"
    for layer in model.layers:
        x = _dense_int8(layer, x, ties)
        if layer.activation == "tanh":
            lut = layer.tanh_lut_tflm if reference == "tflm" else layer.tanh_lut
            x = lut[x.astype(np.intp) + 128]
    return x[0] if single else x


def quantize_input(model: QuantizedMLP, x: np.ndarray) -> np.ndarray:
    """Quantize float observations like TFLite's QUANTIZE op: ``clamp(round(x / scale) + zp)`` in float32.

    Args:
        model: The quantized MLP.
        x: float observations, shape ``(..., in_features)``.

    Returns:
        int8 array of the same shape.
    """
    qp = model.input
    scaled = np.asarray(x, dtype=np.float32) / np.float32(qp.scale)
    rounded = np.sign(scaled) * np.floor(np.abs(scaled) + np.float32(0.5))  # std::round: ties away from zero
    return np.clip(rounded.astype(np.int64) + qp.zero_point, _INT8_MIN, _INT8_MAX).astype(np.int8)


def dequantize_output(model: QuantizedMLP, y_q: np.ndarray) -> np.ndarray:
    """Map int8 outputs back to real values like TFLite's DEQUANTIZE op: ``scale * (q - zp)`` in float32.

    Args:
        model: The quantized MLP.
        y_q: int8 outputs, shape ``(..., out_features)``.

    Returns:
        float32 array of the same shape.
    """
    qp = model.output
    return np.float32(qp.scale) * (np.asarray(y_q, dtype=np.int32) - qp.zero_point).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------------
# Loader.
# ---------------------------------------------------------------------------------------------------------------------

_FUSED = {0: "none", 1: "relu", 3: "relu6"}  # tflite ActivationFunctionType: NONE, RELU, RELU6


class _CorruptError(ModelError):
    """Internal: the flatbuffer's tables are inconsistent (reported as not a valid TFLite flatbuffer)."""


class _Graph:
    """Thin accessors over the ``tflite`` schema classes for one subgraph, with TinyRL's checks."""

    def __init__(self, data: bytes) -> None:
        import tflite  # lazy: importing the generated schema costs ~100 ms

        self.tfl = tflite
        self.data = data
        self.model = tflite.Model.GetRootAs(data, 0)
        self.op_names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
        self.type_names = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
        if self.model.Version() != 3 or self.model.SubgraphsLength() == 0:
            # Schema version 3 is every .tflite since 2018; anything else here means the tables are garbage.
            raise _CorruptError(f"schema version {self.model.Version()}, {self.model.SubgraphsLength()} subgraphs")
        if self.model.SubgraphsLength() != 1:
            raise ModelError(f"expected one subgraph in the .tflite model, found {self.model.SubgraphsLength()}")
        self.graph = self.model.Subgraphs(0)

    def op_name(self, op: Any) -> str:
        code = self.model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())  # schema v3a moved codes past 127
        if self.op_names.get(builtin) == "CUSTOM":
            return f"CUSTOM({(code.CustomCode() or b'').decode(errors='replace')})"
        return self.op_names.get(builtin, f"builtin #{builtin}")

    def tensor(self, index: int) -> Any:
        return self.graph.Tensors(int(index))

    def type_name(self, index: int) -> str:
        return self.type_names.get(self.tensor(index).Type(), "unknown")

    def name(self, index: int) -> str:
        return (self.tensor(index).Name() or b"").decode(errors="replace")

    def quant(self, index: int, what: str) -> tuple[np.ndarray, np.ndarray]:
        q = self.tensor(index).Quantization()
        if q is None or q.ScaleLength() == 0:
            raise ModelError(f"{what} tensor {self.name(index)!r} has no quantization parameters")
        zp = q.ZeroPointAsNumpy() if q.ZeroPointLength() else np.zeros(q.ScaleLength(), dtype=np.int64)
        return np.asarray(q.ScaleAsNumpy(), dtype=np.float32), np.asarray(zp, dtype=np.int64)

    def per_tensor(self, index: int, what: str) -> QuantParams:
        if self.type_name(index) != "INT8":
            raise ModelError(f"{what} tensor {self.name(index)!r} is {self.type_name(index)}, expected INT8")
        scale, zp = self.quant(index, what)
        if scale.size != 1:
            raise ModelError(
                f"{what} tensor {self.name(index)!r} must be quantized per tensor, has {scale.size} scales"
            )
        return QuantParams(scale=float(scale[0]), zero_point=int(zp[0]))

    def constant(self, index: int) -> np.ndarray | None:
        """The tensor's constant data as int8/int32 NumPy, or ``None`` for an activation tensor."""
        t = self.tensor(index)
        buf = self.model.Buffers(t.Buffer())
        if buf.Offset() > 1:  # large-model layout: data lives after the flatbuffer
            raw = self.data[buf.Offset() : buf.Offset() + buf.Size()]
            if len(raw) != buf.Size():
                raise ModelError("truncated .tflite: a constant buffer runs past the end of the file")
        elif buf.DataLength() > 0:
            raw = buf.DataAsNumpy().tobytes()
        else:
            return None
        dtype = {"INT8": np.int8, "INT32": np.int32, "FLOAT32": np.float32}.get(self.type_name(index))
        if dtype is None:
            raise ModelError(f"constant tensor {self.name(index)!r} has unsupported type {self.type_name(index)}")
        shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)


def _dense_from_op(g: _Graph, op: Any, act_in: int, act_out: int) -> QuantizedDense:
    """Build a :class:`QuantizedDense` from a FULLY_CONNECTED operator."""
    inputs = [int(i) for i in op.InputsAsNumpy()]
    w_idx, b_idx = inputs[1], (inputs[2] if len(inputs) > 2 else -1)
    opts = g.tfl.FullyConnectedOptions()
    table = op.BuiltinOptions()
    if table is not None:
        opts.Init(table.Bytes, table.Pos)
        fused, weights_format = opts.FusedActivationFunction(), opts.WeightsFormat()
    else:
        fused, weights_format = 0, 0
    if weights_format != 0:
        raise ModelError("FULLY_CONNECTED with shuffled weights is not supported")
    if fused not in _FUSED:
        names = {v: k for k, v in vars(g.tfl.ActivationFunctionType).items() if not k.startswith("_")}
        raise ModelError(f"FULLY_CONNECTED with fused activation {names.get(fused, fused)} is not supported")
    if g.type_name(act_in) == "FLOAT32":
        raise ModelError("the model is not quantized: FULLY_CONNECTED runs on FLOAT32 activations (need full int8)")
    weights = g.constant(w_idx)
    if weights is None or weights.ndim != 2:
        raise ModelError(f"FULLY_CONNECTED weights {g.name(w_idx)!r} must be a constant 2-D tensor")
    if weights.dtype != np.int8:
        raise ModelError(f"FULLY_CONNECTED weights {g.name(w_idx)!r} are {g.type_name(w_idx)}, expected INT8")
    w_scales, w_zps = g.quant(w_idx, "weight")
    out_features = weights.shape[0]
    if w_scales.size == 1:
        w_scales = np.repeat(w_scales, out_features)
    if w_scales.size != out_features or np.any(w_zps != 0):
        raise ModelError(f"weights {g.name(w_idx)!r} must be symmetric int8 per output channel")
    if b_idx >= 0:
        bias = g.constant(b_idx)
        if bias is None or bias.dtype != np.int32 or bias.shape != (out_features,):
            raise ModelError(f"FULLY_CONNECTED bias {g.name(b_idx)!r} must be a constant int32 vector")
    else:
        bias = np.zeros(out_features, dtype=np.int32)  # the converter drops all-zero biases
    return QuantizedDense(
        weights=weights,
        bias=bias,
        weight_scales=w_scales.astype(np.float64),
        input=g.per_tensor(act_in, "FULLY_CONNECTED input"),
        output=g.per_tensor(act_out, "FULLY_CONNECTED output"),
        activation=_FUSED[fused],
    )


def _read_bytes(source: str | Path | bytes | bytearray | memoryview) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    path = Path(source)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{path}: no such .tflite file") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror})") from None


def load_tflite(source: str | Path | bytes | bytearray | memoryview) -> QuantizedMLP:
    """Read a full-integer ``.tflite`` MLP into a :class:`~tinyrl.compress.model.QuantizedMLP`.

    Accepted graphs are a single chain: an optional QUANTIZE (float32 → int8) at the input, any number of
    FULLY_CONNECTED ops (fused NONE/RELU/RELU6), each optionally followed by TANH, RESHAPEs that keep the feature
    width, and an optional DEQUANTIZE at the output. Multipliers, shifts, clamp bounds and tanh tables are
    precomputed on the returned layers.

    Args:
        source: Path to a ``.tflite`` file or its bytes.

    Returns:
        The model; ``run_int8`` executes it.

    Raises:
        ModelError: the bytes are not a TFLite flatbuffer (corrupt or truncated), the model is float or hybrid
            rather than full int8, it uses an unsupported operator (named in the message), or it is not a plain
            chain of layers.
    """
    label = str(source) if isinstance(source, str | Path) else "<bytes>"
    data = _read_bytes(source)
    # Identifier "TFL3" at bytes 4..8 is the cheap check; the deep checks happen while walking the tables.
    if len(data) < 16 or data[4:8] != b"TFL3":
        raise ModelError(f"{label}: not a valid TFLite flatbuffer (missing the 'TFL3' file identifier)")
    try:
        return _load(data)
    except _CorruptError as exc:
        raise ModelError(f"{label}: not a valid TFLite flatbuffer ({exc})") from None
    except ModelError as exc:
        raise ModelError(f"{label}: {exc}") from None
    except Exception as exc:  # the generated accessors fail in many ways on garbage offsets
        raise ModelError(f"{label}: not a valid TFLite flatbuffer (corrupt or truncated: {exc})") from None


def _load(data: bytes) -> QuantizedMLP:
    g = _Graph(data)
    graph = g.graph
    if graph.InputsLength() != 1 or graph.OutputsLength() != 1:
        raise ModelError(
            f"an MLP has one input and one output tensor, this model has {graph.InputsLength()} and "
            f"{graph.OutputsLength()} (not a plain MLP)"
        )
    ops = [graph.Operators(i) for i in range(graph.OperatorsLength())]
    names = [g.op_name(op) for op in ops]
    unsupported = sorted({n for n in names if n not in _HANDLERS})
    if unsupported:
        raise ModelError(
            f"unsupported operator(s) {', '.join(unsupported)}; an int8 MLP may only use {', '.join(sorted(_HANDLERS))}"
        )
    if not any(n == "FULLY_CONNECTED" for n in names):
        raise ModelError("the model has no FULLY_CONNECTED layer, so it is not an MLP")

    # Every activation tensor must feed exactly one op: anything else is a branch or a dead end.
    consumers: dict[int, int] = {}
    for op in ops:
        for t in op.InputsAsNumpy():
            if t >= 0 and g.constant(int(t)) is None:
                consumers[int(t)] = consumers.get(int(t), 0) + 1
    branched = [g.name(t) for t, n in consumers.items() if n > 1]
    if branched:
        raise ModelError(f"tensor {branched[0]!r} feeds several operators; only a plain chain of layers is an MLP")

    current = int(graph.InputsAsNumpy()[0])
    if g.type_name(current) == "FLOAT32" and names[0] != "QUANTIZE":
        raise ModelError(
            "the model is not quantized (FLOAT32 input and no QUANTIZE op); convert it with full "
            "integer quantization (tinyrl.compress.quantize.quantize_keras_mlp)"
        )
    layers: list[QuantizedDense] = []
    for i, (op, name) in enumerate(zip(ops, names, strict=True)):
        act_inputs = [int(t) for t in op.InputsAsNumpy() if t >= 0 and g.constant(int(t)) is None]
        outputs = [int(t) for t in op.OutputsAsNumpy()]
        if act_inputs != [current] or len(outputs) != 1:
            raise ModelError(f"operator #{i} ({name}) does not continue the chain of layers (not a plain MLP)")
        current = _HANDLERS[name](g, op, i, len(ops), current, outputs[0], layers)
    if current != int(graph.OutputsAsNumpy()[0]):
        raise ModelError("the last operator does not produce the model output (not a plain MLP)")
    return QuantizedMLP(layers=tuple(layers))


_Handler = Callable[[_Graph, Any, int, int, int, int, list[QuantizedDense]], int]


def _on_fully_connected(g: _Graph, op: Any, i: int, n: int, act_in: int, act_out: int, layers: list) -> int:
    layer = _dense_from_op(g, op, act_in, act_out)
    if layers and layers[-1].result != layer.input:
        raise ModelError(f"operator #{i} (FULLY_CONNECTED) requantizes its input; not supported")
    layers.append(layer)
    return act_out


def _on_tanh(g: _Graph, op: Any, i: int, n: int, act_in: int, act_out: int, layers: list) -> int:
    if g.type_name(act_in) == "FLOAT32":
        raise ModelError("the model is not quantized: TANH runs on FLOAT32 activations (need full int8)")
    if not layers or layers[-1].activation != "none" or layers[-1].tanh_output is not None:
        raise ModelError(f"operator #{i} (TANH) must directly follow a FULLY_CONNECTED layer without activation")
    out_qp = g.per_tensor(act_out, "TANH output")
    if not (math.isclose(out_qp.scale, 1.0 / 128.0, rel_tol=0, abs_tol=1e-12) and out_qp.zero_point == 0):
        # TFLite Micro's int8 TANH ignores the output parameters and always produces scale 1/128, zero point 0.
        raise ModelError(f"TANH output quantization must be scale 1/128, zero point 0, got {out_qp}")
    prev = layers.pop()
    layers.append(
        QuantizedDense(
            weights=prev.weights,
            bias=prev.bias,
            weight_scales=prev.weight_scales,
            input=prev.input,
            output=prev.output,
            activation="tanh",
            tanh_output=out_qp,
        )
    )
    return act_out


def _on_reshape(g: _Graph, op: Any, i: int, n: int, act_in: int, act_out: int, layers: list) -> int:
    in_shape, out_shape = g.tensor(act_in).ShapeAsNumpy(), g.tensor(act_out).ShapeAsNumpy()
    if int(in_shape[-1]) != int(out_shape[-1]):
        raise ModelError(f"operator #{i} (RESHAPE) changes the feature width {in_shape} -> {out_shape}")
    if g.type_name(act_in) != "FLOAT32" and g.per_tensor(act_in, "RESHAPE input") != g.per_tensor(
        act_out, "RESHAPE output"
    ):
        raise ModelError(f"operator #{i} (RESHAPE) changes quantization; not supported")
    return act_out


def _on_quantize(g: _Graph, op: Any, i: int, n: int, act_in: int, act_out: int, layers: list) -> int:
    if i != 0 or g.type_name(act_in) != "FLOAT32":
        raise ModelError(
            f"operator #{i} (QUANTIZE) requantizes int8 inside the graph; only a float32 → int8 "
            "QUANTIZE at the model input is supported"
        )
    g.per_tensor(act_out, "QUANTIZE output")
    return act_out


def _on_dequantize(g: _Graph, op: Any, i: int, n: int, act_in: int, act_out: int, layers: list) -> int:
    if i != n - 1:
        raise ModelError(f"operator #{i} (DEQUANTIZE) is only supported as the last operator")
    if g.type_name(act_in) != "INT8":
        raise ModelError(f"operator #{i} (DEQUANTIZE) dequantizes {g.type_name(act_in)}; the model is not full int8")
    return act_out


_HANDLERS: dict[str, _Handler] = {
    "FULLY_CONNECTED": _on_fully_connected,
    "TANH": _on_tanh,
    "RESHAPE": _on_reshape,
    "QUANTIZE": _on_quantize,
    "DEQUANTIZE": _on_dequantize,
}
