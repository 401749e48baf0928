"""Turn a float Keras MLP plus a calibration set into a full-integer int8 ``.tflite``.

TensorFlow is imported inside the functions, so ``import tinyrl`` stays fast.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from tinyrl.common.tensorflow_env import quiet_tensorflow
from tinyrl.errors import ModelError
from tinyrl.io import atomic_write_bytes

if TYPE_CHECKING:
    import keras

__all__ = ["build_keras_mlp", "convert_keras_mlp", "convert_random_mlp", "quantize_keras_mlp", "random_mlp_spec"]

OutputActivation = Literal["linear", "tanh"]

_CALIBRATION_BATCH = 256  # samples per representative-dataset step; min/max calibration does not depend on it


def convert_keras_mlp(model: keras.Model, representative: np.ndarray) -> bytes:
    """Convert a float Keras MLP to a full-integer ``.tflite`` flatbuffer in memory.

    int8 input and output, int8 weights per output channel, int32 biases, int8 activations calibrated on
    ``representative`` (TFLite's min/max calibration). Ops outside the int8 builtin set make the conversion fail.

    Args:
        model: A Keras model with one ``(None, in_features)`` float input.
        representative: float calibration observations, shape ``(S, in_features)``, ``S >= 1``.

    Returns:
        The ``.tflite`` bytes.

    Raises:
        ModelError: ``representative`` has the wrong shape or is not finite, or the converter rejects the model.
    """
    quiet_tensorflow()
    import tensorflow as tf

    rep = np.asarray(representative, dtype=np.float32)
    in_shape = tuple(model.inputs[0].shape)
    if rep.ndim != len(in_shape) or rep.shape[0] < 1 or tuple(rep.shape[1:]) != tuple(in_shape[1:]):
        raise ModelError(
            f"representative data must have shape (S, {', '.join(map(str, in_shape[1:]))}), got {rep.shape}"
        )
    if not np.all(np.isfinite(rep)):
        raise ModelError("representative data contains NaN or infinity")

    # from_keras_model exports a SavedModel first and Keras prints its signature to stdout; keep that out of
    # CLI output. (A bare concrete function would skip the export but keeps variables as resources, which the
    # calibrator cannot run.)
    with contextlib.redirect_stdout(io.StringIO()):
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8

    def batches() -> Iterator[list[np.ndarray]]:
        for start in range(0, rep.shape[0], _CALIBRATION_BATCH):
            yield [rep[start : start + _CALIBRATION_BATCH]]

    converter.representative_dataset = batches
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            # Expected with int8 inputs: the converter takes the input range from calibration, not from us.
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
            return bytes(converter.convert())
    except Exception as exc:  # the converter raises ConverterError and friends with multi-line MLIR dumps
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"TFLite int8 conversion failed: {first}") from exc


def quantize_keras_mlp(model: keras.Model, representative: np.ndarray, path: str | Path) -> Path:
    """Convert a float Keras MLP to a full-integer int8 ``.tflite`` and write it atomically.

    See :func:`convert_keras_mlp` for the scheme. Load the result with
    :func:`tinyrl.compress.tflite_reader.load_tflite`.

    Args:
        model: A Keras model with one ``(None, in_features)`` float input.
        representative: float calibration observations, shape ``(S, in_features)``.
        path: Where to write the ``.tflite``; parent folders are created.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    atomic_write_bytes(path, convert_keras_mlp(model, representative))
    return path


def random_mlp_spec(seed: int) -> tuple[list[int], OutputActivation]:
    """A random MLP shape for tests: 1–4 Dense layers of 2–128 units (odd widths included) and an output activation.

    Args:
        seed: Seed for :func:`numpy.random.default_rng`.

    Returns:
        ``(layer_sizes, output_activation)``, where ``layer_sizes = [in_features, hidden..., out_features]``.
    """
    rng = np.random.default_rng(seed)
    n_layers = int(rng.integers(1, 5))
    sizes = [int(v) for v in rng.integers(2, 129, size=n_layers + 1)]
    return sizes, ("tanh" if rng.random() < 0.5 else "linear")


def build_keras_mlp(
    layer_sizes: Sequence[int],
    *,
    output_activation: OutputActivation = "linear",
    seed: int = 0,
    bias_std: float = 0.1,
) -> keras.Model:
    """Build a Keras MLP with ReLU hidden layers and seeded random weights (Glorot-uniform) and biases.

    Biases are random rather than Keras' zeros so that tests exercise the int32 bias path (the converter drops
    all-zero biases).

    Args:
        layer_sizes: ``[in_features, hidden..., out_features]``, at least two entries.
        output_activation: ``"linear"`` or ``"tanh"`` on the last layer.
        seed: Seed for the weights and biases.
        bias_std: Standard deviation of the normal biases.

    Returns:
        An uncompiled ``keras.Model`` mapping ``(None, in_features)`` float32 to ``(None, out_features)``.
    """
    quiet_tensorflow()
    import keras

    if len(layer_sizes) < 2 or min(layer_sizes) < 1:
        raise ValueError(f"layer_sizes needs an input and at least one layer of positive widths, got {layer_sizes}")
    rng = np.random.default_rng(seed)
    inputs = keras.Input(shape=(layer_sizes[0],), dtype="float32")
    x = inputs
    dense_layers = []
    for i, width in enumerate(layer_sizes[1:]):
        last = i == len(layer_sizes) - 2
        layer = keras.layers.Dense(width, activation=output_activation if last else "relu", name=f"dense_{i}")
        x = layer(x)
        dense_layers.append(layer)
    model = keras.Model(inputs, x)
    for fan_in, fan_out, layer in zip(layer_sizes[:-1], layer_sizes[1:], dense_layers, strict=True):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        kernel = rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)
        bias = (bias_std * rng.standard_normal(fan_out)).astype(np.float32)
        layer.set_weights([kernel, bias])
    return model


def convert_random_mlp(sizes: Sequence[int], output_activation: OutputActivation = "linear", seed: int = 0) -> bytes:
    """Full-int8 ``.tflite`` bytes of :func:`build_keras_mlp` ``(sizes, seed)``, for tests and benchmarks.

    Calibrated on 512 seeded normal rows with standard deviation 1.5 (seed ``seed + 1000``), so the same
    arguments always give the same model.
    """
    model = build_keras_mlp(list(sizes), output_activation=output_activation, seed=seed)
    representative = (1.5 * np.random.default_rng(seed + 1000).standard_normal((512, sizes[0]))).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # converter chatter about the representative dataset
        return convert_keras_mlp(model, representative)
