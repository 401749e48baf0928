"""The int8 MLP as data: what the reference executor runs and what the C exporter emits.

Follows the TensorFlow Lite full-integer scheme (``real = scale * (q - zero_point)``): int8 weights are
symmetric per output channel (zero point 0), activations are int8 per tensor, biases are int32 with
scale ``input_scale * weight_scale[c]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Activation = Literal["none", "relu", "relu6", "tanh"]


@dataclass(frozen=True)
class QuantParams:
    """Per-tensor affine quantization: ``real = scale * (q - zero_point)``."""

    scale: float
    zero_point: int


@dataclass(frozen=True)
class QuantizedDense:
    """One fully-connected layer, int8 in and out, with its activation.

    ``activation`` is ``"relu"``/``"relu6"`` when fused into the layer's output clamp, and ``"tanh"`` when
    the layer is followed by a TFLite TANH op; then ``output`` are the quantization parameters of the
    pre-tanh tensor and ``tanh_output`` those of the tanh result (TFLite fixes them to 1/128, 0).
    """

    weights: np.ndarray  # int8, shape (out_features, in_features)
    bias: np.ndarray  # int32, shape (out_features,)
    weight_scales: np.ndarray  # float, shape (out_features,)
    input: QuantParams
    output: QuantParams
    activation: Activation = "none"
    tanh_output: QuantParams | None = None

    # Derived integer constants: None until tinyrl.compress.prepare.prepare_layer computes them from the fields above
    # with TFLite's rules (the reader prepares every layer it loads). These are the exact numbers the kernels use.
    output_multiplier: np.ndarray | None = None
    """int32, shape (out_features,): Q31 significand of ``input.scale * weight_scales[c] / output.scale``."""
    output_shift: np.ndarray | None = None
    """int32, shape (out_features,): its power-of-two exponent, TFLite sign convention (> 0 shifts left)."""
    activation_min: int | None = None
    """Lower int8 clamp of the fully-connected output (fused RELU/RELU6 raise it to the zero point)."""
    activation_max: int | None = None
    """Upper int8 clamp of the fully-connected output (RELU6 lowers it to ``zp + round(6 / scale)``)."""
    tanh_lut: np.ndarray | None = None
    """tanh layers: int8, shape (256,), TFLite's builtin TANH table; ``tanh(q) = tanh_lut[q + 128]``."""
    tanh_lut_tflm: np.ndarray | None = None
    """tanh layers: int8, shape (256,), what TFLite Micro's fixed-point TANH returns, tabulated the same way."""
    tanh_input_multiplier: int | None = None
    """tanh layers: TFLite Micro's Q31 multiplier rescaling ``q - output.zero_point`` to Q4.27."""
    tanh_input_shift: int | None = None
    """tanh layers: its left shift (TFLite Micro ``input_left_shift``)."""
    tanh_input_range_radius: int | None = None
    """tanh layers: ``|q - zp| >=`` this saturates to ±127/-128 in TFLite Micro."""

    @property
    def in_features(self) -> int:
        """Input width."""
        return int(self.weights.shape[1])

    @property
    def out_features(self) -> int:
        """Output width."""
        return int(self.weights.shape[0])

    @property
    def result(self) -> QuantParams:
        """Quantization of what this layer hands to the next one (after tanh if any)."""
        return self.tanh_output if self.activation == "tanh" and self.tanh_output else self.output


@dataclass(frozen=True)
class QuantizedMLP:
    """A stack of :class:`QuantizedDense` layers; input is ``layers[0].input``, output ``layers[-1].result``."""

    layers: tuple[QuantizedDense, ...]

    @property
    def input(self) -> QuantParams:
        """Quantization of the model input."""
        return self.layers[0].input

    @property
    def output(self) -> QuantParams:
        """Quantization of the model output."""
        return self.layers[-1].result

    @property
    def in_features(self) -> int:
        """Observation width."""
        return self.layers[0].in_features

    @property
    def out_features(self) -> int:
        """Action width."""
        return self.layers[-1].out_features

    @property
    def parameter_bytes(self) -> int:
        """Bytes of int8 weights plus int32 biases."""
        return sum(layer.weights.size + 4 * layer.bias.size for layer in self.layers)
