"""The int8 MLP in NumPy, bit-exact with TFLite Micro (reference kernels) or with the TFLite interpreter.

Fully connected: ``acc = sum((x - zp_in) * w) + bias`` in int32, then
``y = MultiplyByQuantizedMultiplier(acc, M[c], shift[c]) + zp_out`` clamped to the activation range, where
``(M, shift)`` come from ``QuantizeMultiplier(s_in * s_w[c] / s_out)`` (:mod:`tinyrl.compress.prepare`). The two
interpreters differ only in rounding (:mod:`tinyrl.compress.fixed_point`) and in int8 TANH, so :func:`run_int8`
takes ``reference="tflm"`` (default) or ``"tflite"``. See ``docs/design.md``, "The int8 scheme".
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from tinyrl.compress.fixed_point import INT8_MAX, INT8_MIN, multiply_by_quantized_multiplier
from tinyrl.compress.model import QuantizedDense, QuantizedMLP
from tinyrl.errors import ModelError

Reference = Literal["tflm", "tflite"]
"""Which interpreter :func:`run_int8` reproduces bit for bit: TFLite Micro (reference kernels) or TFLite (builtin)."""


# ---------------------------------------------------------------------------------------------------------------------
# Executor.
# ---------------------------------------------------------------------------------------------------------------------


def _dense_int8(layer: QuantizedDense, x: np.ndarray, ties: Literal["away", "up"]) -> np.ndarray:
    """One fully-connected layer plus fused clamp: int8 ``(B, in)`` → int8 ``(B, out)``."""
    centred = x.astype(np.float64) - float(layer.input.zero_point)
    # float64 BLAS is exact here: every product and partial sum is an integer far below 2**53
    # (|x - zp| <= 255, |w| <= 127, so |acc| < 2**15 * in_features), and it is much faster than int64 matmul.
    acc = (centred @ layer.weights.astype(np.float64).T).astype(np.int64) + layer.bias.astype(np.int64)
    if layer.output_multiplier is None or layer.output_shift is None:
        raise ModelError("the layer is not prepared (tinyrl.compress.prepare.prepare_layer)")
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
            if lut is None:
                raise ModelError("the tanh layer is not prepared (tinyrl.compress.prepare.prepare_layer)")
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
    return np.clip(rounded.astype(np.int64) + qp.zero_point, INT8_MIN, INT8_MAX).astype(np.int8)


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
