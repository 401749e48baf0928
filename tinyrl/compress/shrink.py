"""Student → int8 ``.tflite``: calibration data, optional quantization-aware fine-tuning, and the sidecar JSON.

The representative dataset is the student's own state distribution: ``calibration.npz`` written by
``tinyrl distill`` next to the student (the DAgger aggregate, mostly student-flown), else fresh rollouts of the
student. At most ``max_samples`` rows are used (a seeded subset; min/max calibration needs no more).

Quantization-aware fine-tuning (``qat=True``): ``tensorflow_model_optimization`` does not support Keras 3, so TinyRL
fine-tunes with its own fake quantization, mirroring the TFLite int8 scheme — per-output-channel symmetric int8
weights (round to nearest, straight-through gradient) and per-tensor int8 activations with ranges fixed from the
calibration set (``tf.quantization.fake_quant_with_min_max_args``). Targets are the teacher's actions from the
calibration file (cross-entropy for an argmax head), or else the float student's own outputs (squared error, an argmax
head's too: cross-entropy on a Q-network's outputs would stretch them past the output range fixed before the
fine-tuning, where int8 saturates and ties). The fine-tuned float weights are then converted as usual.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyrl.common.paths import names_another_machine, portable_path
from tinyrl.common.policy import MlpPolicy, PolicyError
from tinyrl.common.tensorflow_env import quiet_tensorflow
from tinyrl.io import atomic_write_text

if TYPE_CHECKING:
    import keras

__all__ = ["calibration_set", "load_float_model", "qat_finetune", "quantize_student"]

DEFAULT_MAX_SAMPLES = 20_000


def _config_from_distill(student_path: Path, env: str | None) -> Any:
    from tinyrl.tasks.config import load_scenario

    if env is None:
        meta = student_path.parent / "distill.json"
        try:
            env = json.loads(meta.read_text())["env"]
        except (OSError, ValueError, KeyError):
            env = None
        if not isinstance(env, str) or names_another_machine(env):
            raise PolicyError(
                f"no calibration set for {student_path} (no calibration.npz next to it) and no scenario to roll it "
                "out in: pass --calibration FILE.npz or --env NAME"
            ) from None
    return load_scenario(env)


def load_float_model(path: Path) -> keras.Model:
    """The float MLP to quantize: a ``.keras`` student, or a teacher ``.npz`` small enough to ship as it is.

    Raises:
        PolicyError: Another suffix, or a file of that suffix that does not load.
    """
    from tinyrl.compress.student import load_student, mlp_to_student

    if path.suffix == ".npz":
        return mlp_to_student(MlpPolicy.load(path))
    if path.suffix == ".keras":
        return load_student(path)
    raise PolicyError(f"{path}: quantize takes a .keras student or a teacher .npz")


def calibration_set(
    model: keras.Model,
    student_path: Path,
    calibration: str | Path | None = None,
    env: str | None = None,
    *,
    seed: int = 0,
    max_samples: int = DEFAULT_MAX_SAMPLES,
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Observations (and teacher actions, if recorded) to calibrate on, and where they came from.

    Args:
        model: The student (used to roll out when there is no calibration file).
        student_path: The ``.keras`` file; ``calibration.npz`` next to it is the default source.
        calibration: An explicit calibration ``.npz``.
        env: Scenario for rollouts when there is no file (default: ``env`` from ``distill.json``).
        seed: Seed of the subset and of the rollouts.
        max_samples: Most rows returned (a seeded random subset, kept in dataset order).

    Returns:
        ``(observations (S, obs_dim) float32, teacher actions or None, source description)``.
    """
    from tinyrl.compress.distill import collect_rollouts, load_calibration
    from tinyrl.compress.student import student_to_mlp

    default = student_path.parent / "calibration.npz"
    if calibration is not None or default.is_file():
        path = Path(calibration) if calibration is not None else default
        obs, actions = load_calibration(path)
        source = portable_path(path)
    else:
        config = _config_from_distill(student_path, env)
        obs, _, _ = collect_rollouts(config, max_samples, actor=student_to_mlp(model), seed=seed, randomize=True)
        actions, source = None, f"student rollouts in {config.name} (seed {seed})"
    in_dim = int(model.inputs[0].shape[-1])
    if obs.shape[1] != in_dim:
        raise PolicyError(f"calibration observations have {obs.shape[1]} columns but the student takes {in_dim}")
    if len(obs) > max_samples:
        keep = np.sort(np.random.default_rng([seed, 3]).choice(len(obs), max_samples, replace=False))
        obs = obs[keep]
        actions = actions[keep] if actions is not None else None
    return obs, actions, source


def qat_finetune(
    model: keras.Model,
    observations: np.ndarray,
    targets: np.ndarray | None = None,
    *,
    epochs: int = 5,
    batch_size: int = 256,
    learning_rate: float = 1e-4,
    seed: int = 0,
) -> keras.Model:
    """Fine-tune a student under simulated int8 quantization (see the module docstring); returns a new model.

    Args:
        model: The float student (unchanged).
        observations: ``(S, obs_dim)`` training and range-calibration observations.
        targets: Teacher actions ``(S, 4)`` or ``(S,)`` indices; the float student's outputs ``(S, out_dim)`` if
            None (an argmax head fits them too, not their argmax).
        epochs: Passes over the data.
        batch_size: Rows per step.
        learning_rate: Adam learning rate.
        seed: Seed of the batch order.

    Returns:
        A copy of ``model`` with the fine-tuned weights.
    """
    from tinyrl.compress.student import configure_determinism, student_head

    quiet_tensorflow()
    import keras
    import tensorflow as tf

    configure_determinism(seed)
    head = student_head(model)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    x_all = np.asarray(observations, dtype=np.float32)
    if targets is None:
        raw = model.predict(x_all, batch_size=1024, verbose=0)
        targets = raw if head == "argmax" else np.clip(raw, -1.0, 1.0)

    # Activation ranges as TFLite's calibrator finds them: min/max of each tensor over the data (always covering 0).
    ranges = []
    h = x_all
    ranges.append((min(0.0, float(h.min())), max(0.0, float(h.max()))))
    for i, layer in enumerate(dense):
        kernel, bias = layer.get_weights()
        h = h @ kernel + bias
        if i < len(dense) - 1:
            h = np.maximum(h, 0.0)
        ranges.append((min(0.0, float(h.min())), max(0.0, float(h.max()))))
    kernels = [tf.Variable(layer.get_weights()[0]) for layer in dense]
    biases = [tf.Variable(layer.get_weights()[1]) for layer in dense]

    def fake_quant(x: tf.Tensor, lo: float, hi: float) -> tf.Tensor:
        return tf.quantization.fake_quant_with_min_max_args(x, min=lo, max=max(hi, lo + 1e-6), num_bits=8)

    def fake_quant_weights(w: tf.Variable) -> tf.Tensor:
        scale = tf.maximum(tf.reduce_max(tf.abs(w), axis=0), 1e-12) / 127.0  # per output channel (columns)
        q = tf.clip_by_value(tf.round(w / scale), -127.0, 127.0) * scale
        return w + tf.stop_gradient(q - w)

    def forward(x: tf.Tensor) -> tf.Tensor:
        x = fake_quant(x, *ranges[0])
        for i, (w, b) in enumerate(zip(kernels, biases, strict=True)):
            x = tf.matmul(x, fake_quant_weights(w)) + b
            if i < len(kernels) - 1:
                x = tf.nn.relu(x)
            x = fake_quant(x, *ranges[i + 1])
        return x

    discrete = head == "argmax" and np.asarray(targets).ndim == 1  # action indices, not outputs to fit
    optimizer = keras.optimizers.Adam(learning_rate)
    variables = [*kernels, *biases]

    @tf.function
    def step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            out = forward(x)
            if discrete:
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=out))
            else:
                loss = tf.reduce_mean(tf.square(out - y))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    y_all = np.asarray(targets, dtype=np.int64 if discrete else np.float32)
    rng = np.random.default_rng([seed, 4])
    for _ in range(epochs):
        perm = rng.permutation(len(x_all))
        for start in range(0, len(perm), batch_size):
            idx = perm[start : start + batch_size]
            step(tf.constant(x_all[idx]), tf.constant(y_all[idx]))

    tuned = keras.models.clone_model(model)
    tuned.set_weights([v.numpy() for pair in zip(kernels, biases, strict=True) for v in pair])
    return tuned


def quantize_student(
    student: str | Path,
    output: str | Path,
    *,
    calibration: str | Path | None = None,
    env: str | None = None,
    qat: bool = False,
    qat_epochs: int = 5,
    seed: int = 0,
    max_samples: int = DEFAULT_MAX_SAMPLES,
) -> dict[str, Any]:
    """Quantize a ``.keras`` student to a full-integer int8 ``.tflite`` plus its sidecar JSON.

    int8 input and output, per-channel int8 weights, int32 biases (:func:`tinyrl.compress.quantize
    .quantize_keras_mlp`); an argmax head is centred first (:func:`~tinyrl.compress.student.centre_argmax_head`:
    the same actions, a finer int8 output). The sidecar (``output`` with suffix ``.json``) records the action head,
    the TensorFlow version, the seed and the calibration source; the ``.tflite`` loader of
    :func:`tinyrl.compress.artefacts.load_policy` reads the head from it.

    Args:
        student: The float student (``.keras``), or a teacher (``.npz``) quantized as it is.
        output: The ``.tflite`` to write.
        calibration: Calibration ``.npz`` (default: ``calibration.npz`` next to the student, else rollouts).
        env: Scenario for calibration rollouts (default: the one in ``distill.json``).
        qat: Quantization-aware fine-tuning before conversion.
        qat_epochs: Its passes over the calibration set.
        seed: Seed of the calibration subset, the rollouts and the fine-tuning.
        max_samples: Most calibration rows used.

    Returns:
        The sidecar's contents.

    Raises:
        PolicyError: Bad student, calibration data or output suffix.
        ModelError: The converter rejects the model.
    """
    quiet_tensorflow()
    import keras
    import tensorflow as tf

    from tinyrl.compress.distill import action_agreement
    from tinyrl.compress.quantize import quantize_keras_mlp
    from tinyrl.compress.student import (
        Int8Policy,
        centre_argmax_head,
        configure_determinism,
        sidecar_path,
        student_head,
    )
    from tinyrl.compress.student import student_to_mlp as to_mlp
    from tinyrl.compress.tflite_reader import load_tflite

    student_path, out_path = Path(student), Path(output)
    if out_path.suffix != ".tflite":
        raise PolicyError(f"{out_path}: the int8 model must be written with the .tflite suffix")
    configure_determinism(seed)
    model = load_float_model(student_path)
    head = student_head(model)
    discrete = head == "argmax"
    if discrete:
        centre_argmax_head(model)
    obs, actions, source = calibration_set(model, student_path, calibration, env, seed=seed, max_samples=max_samples)
    float_model = model
    if qat:
        model = qat_finetune(model, obs, actions, epochs=qat_epochs, seed=seed)
    quantize_keras_mlp(model, obs, out_path)
    qmodel = load_tflite(out_path)
    int8 = Int8Policy(qmodel, head)
    meta: dict[str, Any] = {
        "kind": "tinyrl-int8-mlp",
        "head": head,
        "student": portable_path(student_path),
        "layer_sizes": [qmodel.in_features, *(layer.out_features for layer in qmodel.layers)],
        "parameter_bytes": qmodel.parameter_bytes,
        "input": {"scale": qmodel.input.scale, "zero_point": qmodel.input.zero_point},
        "output": {"scale": qmodel.output.scale, "zero_point": qmodel.output.zero_point},
        # An argmax head's outputs are quantized minus their mean over the actions (centre_argmax_head).
        "outputs_centred": discrete,
        "calibration": {"source": source, "samples": len(obs)},
        "qat": {"enabled": qat, "epochs": qat_epochs if qat else 0},
        "seed": seed,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        # How closely int8 follows the float student it came from, on the calibration observations.
        "agreement_with_float_student": action_agreement(int8.act(obs), to_mlp(float_model).act(obs), discrete),
    }
    if actions is not None:
        meta["agreement_with_teacher"] = action_agreement(int8.act(obs), actions, discrete)
    atomic_write_text(sidecar_path(out_path), json.dumps(meta, indent=2) + "\n")
    return meta
