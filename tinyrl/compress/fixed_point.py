"""gemmlowp fixed-point arithmetic, as TFLite and TFLite Micro compute it.

Scalar primitives on Python ints (used once per model, in Prepare) and the vectorized requantization the reference
executor runs on whole batches.

``MultiplyByQuantizedMultiplier`` is ``SaturatingRoundingDoublingHighMul`` followed by a rounding right shift (the
"double rounding" variant both interpreters build by default). TFLite Micro (and CMSIS-NN) round the shift's ties
away from zero; TFLite's builtin x86 kernels round them toward +inf (``ties="up"``).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from tinyrl.errors import ModelError

INT8_MIN, INT8_MAX = -128, 127
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


# ---------------------------------------------------------------------------------------------------------------------
# Scalar fixed-point primitives (gemmlowp semantics on Python ints). Used at load time only, on a handful of values.
# ---------------------------------------------------------------------------------------------------------------------


def round_half_away(x: float) -> int:
    """``std::round``: ties go away from zero (Python's ``round`` goes to even, which is not what TFLite does)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def wrap_int32(v: int) -> int:
    """Two's-complement int32 wrap-around, as the C++ code behaves on (rare) non-saturating overflow."""
    return ((v + 2**31) % 2**32) - 2**31


def srdhm(a: int, b: int) -> int:
    """``SaturatingRoundingDoublingHighMul``: ``round(a * b / 2**31)``, ties away from zero, ``INT_MIN²`` saturates."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    t = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
    # C integer division truncates toward zero; Python's // floors, so divide the magnitude.
    q = abs(t) >> 31
    return q if t >= 0 else -q


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    """``RoundingDivideByPOT``: arithmetic right shift rounding to nearest, ties away from zero."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def saturating_rounding_mul_by_pot(x: int, exponent: int) -> int:
    """``SaturatingRoundingMultiplyByPOT<exponent>`` on int32: saturating left shift or rounding right shift."""
    if exponent > 0:
        threshold = (1 << (31 - exponent)) - 1
        if x > threshold:
            return INT32_MAX
        if x < -threshold:
            return INT32_MIN
        return x << exponent
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    return x


def rounding_half_sum(a: int, b: int) -> int:
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
    q_fixed = round_half_away(q * (1 << 31))  # exact: scaling a double by a power of two
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:  # newer TFLite clamps instead of overflowing the left shift
        return (1 << 31) - 1, 30
    return q_fixed, shift


def mbqm_scalar(x: int, multiplier: int, shift: int) -> int:
    """Scalar ``MultiplyByQuantizedMultiplier`` (double rounding), on int32 values."""
    left = shift if shift > 0 else 0
    right = -shift if shift < 0 else 0
    return rounding_divide_by_pot(srdhm(wrap_int32(x * (1 << left)), multiplier), right)


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
