"""The student: a small Keras MLP that imitates the teacher, and its int8 ``.tflite`` as a :class:`Policy`.

The student has ReLU hidden layers and a *linear* output layer named after its head:

* ``head_clip`` (continuous actions): the linear output is clipped to [-1, 1] outside the network. A linear output
  quantizes to one plain FULLY_CONNECTED op whose int8 grid spans the calibrated action range (about ±1, so steps of
  ~0.008); a tanh output would add a TANH op whose int8 results differ between TFLite and TFLite Micro (see
  :mod:`tinyrl.compress.reference`) and cost a lookup table on the MCU, for no gain on targets that already lie in
  [-1, 1].
* ``head_argmax`` (discrete actions): the outputs are logits; the action is their argmax.

The layer name makes a ``.keras`` file self-describing; the ``.tflite`` records its head in a sidecar JSON (same
stem, ``.json``). TensorFlow is imported inside the functions, so ``import tinyrl`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyrl.common.policy import Head, MlpPolicy, PolicyError
from tinyrl.common.tensorflow_env import quiet_tensorflow
from tinyrl.errors import ModelError

#: The float student's file in a policy folder and in ``tinyrl distill``'s output.
STUDENT_FILE = "student.keras"

if TYPE_CHECKING:
    import keras

    from tinyrl.compress.model import QuantizedMLP
    from tinyrl.compress.reference import Reference

__all__ = [
    "Int8Policy",
    "build_student",
    "configure_determinism",
    "load_int8_policy",
    "load_student",
    "mlp_to_student",
    "parse_arch",
    "save_student",
    "sidecar_path",
    "student_head",
    "student_to_mlp",
]

HEAD_PREFIX = "head_"
STUDENT_HEADS: tuple[Head, ...] = ("clip", "argmax")


def configure_determinism(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TF run its ops deterministically on one thread.

    Thread settings only take effect before TensorFlow's runtime starts; later calls keep the current setting
    (op determinism alone already makes CPU results repeatable).

    Args:
        seed: The seed for ``keras.utils.set_random_seed``.
    """
    quiet_tensorflow()
    import keras
    import tensorflow as tf

    with contextlib.suppress(RuntimeError):  # "cannot be modified after initialization"
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)


def parse_arch(text: str | Sequence[int]) -> tuple[int, ...]:
    """Hidden widths from ``"32,32"`` (or a sequence); ``""`` or ``"0"`` means no hidden layer.

    Raises:
        PolicyError: A width is not a positive integer.
    """
    if isinstance(text, str):
        parts = [p.strip() for p in text.split(",") if p.strip()]
        try:
            widths = [int(p) for p in parts]
        except ValueError:
            raise PolicyError(f"--arch must be comma-separated widths like 32,32, got {text!r}") from None
    else:
        widths = [int(w) for w in text]
    if widths == [0]:
        return ()
    if any(w < 1 for w in widths):
        raise PolicyError(f"hidden widths must be positive, got {widths}")
    return tuple(widths)


def build_student(obs_dim: int, out_dim: int, arch: Sequence[int], head: Head, seed: int = 0) -> keras.Model:
    """A float Keras MLP: ``obs_dim`` → ReLU ``arch`` → linear ``out_dim`` (layer ``head_<head>``).

    Args:
        obs_dim: Observation width.
        out_dim: Action width (4) or number of discrete actions.
        arch: Hidden widths, e.g. ``(32, 32)``.
        head: ``"clip"`` (continuous) or ``"argmax"`` (discrete).
        seed: Seed of the Glorot-uniform initial weights (biases start at zero).

    Returns:
        An uncompiled ``keras.Model`` mapping ``(None, obs_dim)`` float32 to ``(None, out_dim)``.
    """
    if head not in STUDENT_HEADS:
        raise PolicyError(f"student head must be one of {STUDENT_HEADS}, got {head!r}")
    quiet_tensorflow()
    import keras

    inputs = keras.Input(shape=(obs_dim,), dtype="float32", name="obs")
    x = inputs
    for i, width in enumerate(arch):
        init = keras.initializers.GlorotUniform(seed=seed * 1000 + i)
        x = keras.layers.Dense(width, activation="relu", kernel_initializer=init, name=f"hidden_{i}")(x)
    init = keras.initializers.GlorotUniform(seed=seed * 1000 + len(arch))
    outputs = keras.layers.Dense(out_dim, kernel_initializer=init, name=f"{HEAD_PREFIX}{head}")(x)
    return keras.Model(inputs, outputs, name="tinyrl_student")


def student_head(model: keras.Model) -> Head:
    """The head a student was built with, read from its output layer's name.

    Raises:
        PolicyError: The model is not a TinyRL student (no ``head_clip``/``head_argmax`` output layer).
    """
    name = model.layers[-1].name
    head = name.removeprefix(HEAD_PREFIX)
    if not name.startswith(HEAD_PREFIX) or head not in STUDENT_HEADS:
        raise PolicyError(f"not a TinyRL student: the output layer is {name!r}, expected head_clip or head_argmax")
    return head


def _dense_layers(model: keras.Model) -> list[Any]:
    import keras

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    for layer in layers:
        if not isinstance(layer, keras.layers.Dense):
            raise PolicyError(f"the student may only hold Dense layers, found {type(layer).__name__}")
    for layer in layers[:-1]:
        if layer.activation.__name__ != "relu":
            raise PolicyError(f"hidden layer {layer.name!r} must use ReLU, found {layer.activation.__name__}")
    if layers and layers[-1].activation.__name__ != "linear":
        raise PolicyError(f"the output layer must be linear, found {layers[-1].activation.__name__}")
    return layers


def student_to_mlp(model: keras.Model) -> MlpPolicy:
    """The student's weights as a NumPy :class:`MlpPolicy` (fast, batch-size independent, same head)."""
    head = student_head(model)
    weights, biases = [], []
    for layer in _dense_layers(model):
        kernel, bias = layer.get_weights()
        weights.append(np.ascontiguousarray(kernel.T, dtype=np.float32))
        biases.append(np.asarray(bias, dtype=np.float32))
    return MlpPolicy(tuple(weights), tuple(biases), "relu", head)


def mlp_to_student(policy: MlpPolicy) -> keras.Model:
    """A Keras student holding ``policy``'s very weights (the inverse of :func:`student_to_mlp`).

    For a teacher that is already small enough to ship (the paper's 20 x 20 DQN): it is quantized as it is, with no
    distillation in between.

    Raises:
        PolicyError: ``policy`` has no ReLU hidden layers or a head no student has (``clip``, ``argmax``).
    """
    if policy.head not in STUDENT_HEADS:
        raise PolicyError(f"a student's head is one of {STUDENT_HEADS}; this policy's is {policy.head!r}")
    if policy.activation != "relu" and len(policy.weights) > 1:
        raise PolicyError(f"a student's hidden layers use ReLU; this policy's use {policy.activation}")
    arch = [w.shape[0] for w in policy.weights[:-1]]
    model = build_student(policy.weights[0].shape[1], policy.weights[-1].shape[0], arch, policy.head)
    dense = _dense_layers(model)
    for layer, w, b in zip(dense, policy.weights, policy.biases, strict=True):
        layer.set_weights([np.ascontiguousarray(w.T), np.asarray(b)])
    return model


def centre_argmax_head(model: keras.Model) -> None:
    """Subtract each state's mean over the actions from an argmax head's outputs, in place (weights and bias).

    The argmax, and so every action, stays the same in float; what shrinks is the range the int8 output must cover.
    A Q-network's outputs share a state value that varies far more across states than the gaps between the actions
    do, and per-tensor int8 spends its 256 steps on that range: centred, the steps resolve the gaps the argmax reads.

    Raises:
        PolicyError: The model's head is not ``argmax``.
    """
    if student_head(model) != "argmax":
        raise PolicyError("only an argmax head can be centred: its actions do not depend on a shared offset")
    layer = _dense_layers(model)[-1]
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel - kernel.mean(axis=1, keepdims=True), bias - bias.mean()])


def save_student(model: keras.Model, path: str | Path) -> Path:
    """Save a ``.keras`` atomically: write a temporary ``.keras`` in the same folder, then rename it.

    Args:
        model: The student.
        path: Destination ending in ``.keras``; parent folders are created.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise PolicyError(f"{path}: a Keras student must be saved with the .keras suffix")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".keras", dir=path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings():
            # Keras 3.15's weight saving trips NumPy 2's __array__(copy=...) deprecation notice; harmless.
            warnings.filterwarnings("ignore", message="__array__ implementation", category=DeprecationWarning)
            model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_student(path: str | Path) -> keras.Model:
    """Load a ``.keras`` student (no custom objects, ``safe_mode`` on).

    Raises:
        PolicyError: Missing or unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise PolicyError(f"{path}: file not found")
    quiet_tensorflow()
    import keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises ValueError, OSError, zipfile errors... for bad files
        raise PolicyError(f"{path}: not a readable .keras model ({type(exc).__name__}: {exc})") from None


def sidecar_path(tflite_path: str | Path) -> Path:
    """The metadata JSON written next to an int8 ``.tflite`` (``policy_int8.tflite`` → ``policy_int8.json``)."""
    return Path(tflite_path).with_suffix(".json")


@dataclass(frozen=True)
class Int8Policy:
    """An int8 MLP run by the bit-exact NumPy executor, as a :class:`~tinyrl.common.policy.Policy`.

    ``act``: quantize the float observations (TFLite QUANTIZE), run the int8 layers, dequantize, apply ``head``.

    Attributes:
        model: The quantized MLP.
        head: ``"clip"`` (continuous actions) or ``"argmax"`` (discrete).
        reference: Which interpreter to be bit-exact with; ``"tflm"`` is what runs on the MCU.
    """

    model: QuantizedMLP
    head: Head = "clip"
    reference: Reference = "tflm"

    @property
    def obs_dim(self) -> int:
        """Observation width."""
        return self.model.in_features

    @property
    def n_parameters(self) -> int:
        """Number of weights and biases."""
        return sum(layer.weights.size + layer.bias.size for layer in self.model.layers)

    def forward(self, obs: np.ndarray) -> np.ndarray:
        """Dequantized raw outputs ``(B, out_dim)`` float32, before the head."""
        from tinyrl.compress.reference import dequantize_output, quantize_input, run_int8

        x = np.asarray(obs, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.obs_dim:
            raise PolicyError(f"expected observations (B, {self.obs_dim}), got {x.shape}")
        y_q = run_int8(self.model, quantize_input(self.model, x), reference=self.reference)
        return dequantize_output(self.model, y_q)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions (see :class:`~tinyrl.common.policy.Policy`)."""
        y = self.forward(obs)
        if self.head == "argmax":
            return np.argmax(y, axis=1)
        if self.head == "tanh":
            return np.tanh(y)
        return np.clip(y, -1.0, 1.0)


def load_int8_policy(path: str | Path, reference: Reference = "tflm") -> Int8Policy:
    """Load ``policy_int8.tflite`` and its sidecar ``policy_int8.json`` (which names the head).

    Raises:
        PolicyError: Missing file or sidecar, a float (not full-int8) model, or a malformed file.
    """
    from tinyrl.compress.tflite_reader import load_tflite

    path = Path(path)
    try:
        model = load_tflite(path)
    except ModelError as exc:
        raise PolicyError(f"{path}: {exc}" if str(path) not in str(exc) else str(exc)) from None
    meta_path = sidecar_path(path)
    if not meta_path.is_file():
        raise PolicyError(
            f"{path}: missing its sidecar {meta_path.name}, which records the action head "
            '(write it with `tinyrl quantize`, or add {"head": "clip"} or {"head": "argmax"})'
        )
    try:
        meta = json.loads(meta_path.read_text())
        head = meta["head"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PolicyError(f"{meta_path}: no readable 'head' entry ({exc})") from None
    if head not in ("clip", "tanh", "argmax"):
        raise PolicyError(f"{meta_path}: unknown head {head!r}")
    return Int8Policy(model, head, reference)
