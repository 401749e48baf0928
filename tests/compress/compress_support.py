"""Shared helpers for the int8 tests: seeded models, the two reference interpreters, flatbuffer patching."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import cache

import numpy as np
import pytest

from tinyrl.common.tensorflow_env import quiet_tensorflow
from tinyrl.compress.quantize import convert_random_mlp, random_mlp_spec

quiet_tensorflow()  # before anything loads TensorFlow


@cache
def converted_mlp(sizes: tuple[int, ...], output_activation: str, seed: int) -> bytes:
    """The int8 .tflite of a seeded random MLP (cached per session: conversion is slow)."""
    return convert_random_mlp(sizes, output_activation, seed)  # type: ignore[arg-type]


def seeded_mlp(seed: int) -> tuple[tuple[int, ...], str, bytes]:
    """(layer sizes, output activation, .tflite bytes) of the random MLP for ``seed``."""
    sizes, act = random_mlp_spec(seed)
    return tuple(sizes), act, converted_mlp(tuple(sizes), act, seed)


def tflite_run(data: bytes, x: np.ndarray) -> np.ndarray:
    """Run the whole batch through tf.lite.Interpreter with delegates off (XNNPACK rounds differently)."""
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interpreter = tf.lite.Interpreter(
            model_content=data,
            experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
    inp = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(inp, list(x.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp, x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy()


def with_batch(data: bytes, batch: int) -> bytes:
    """A copy of the .tflite whose activation tensors have a fixed batch of ``batch`` rows.

    TFLite Micro cannot resize inputs, and one invoke per row is slow; the FC kernels treat all leading dimensions
    as batch, so patching the leading 1 of every dynamic-batch tensor in place is enough.
    """
    import tflite

    buf = bytearray(data)
    graph = tflite.Model.GetRootAs(buf, 0).Subgraphs(0)
    for i in range(graph.TensorsLength()):
        tensor = graph.Tensors(i)
        if tensor.ShapeSignatureLength() and tensor.ShapeSignatureAsNumpy()[0] == -1:
            shape = tensor.ShapeAsNumpy()  # a writable view into ``buf``
            shape[0] = batch
    return bytes(buf)


def tflm_run(data: bytes, x: np.ndarray) -> np.ndarray:
    """Run the whole batch through the tflite-micro Python interpreter."""
    from tflite_micro.python.tflite_micro import runtime

    patched = with_batch(data, x.shape[0])
    arena = 64 * 1024 + 4 * x.shape[0] * 512  # generous: two activation buffers of up to 128 int8 columns
    interpreter = runtime.Interpreter.from_bytes(patched, arena_size=arena)
    interpreter.set_input(x, 0)
    interpreter.invoke()
    return np.asarray(interpreter.get_output(0)).copy()


@pytest.fixture
def run_reference() -> Callable[[str, bytes, np.ndarray], np.ndarray]:
    """``run_reference(name, data, x)`` with name ``"tflite"`` or ``"tflm"``."""
    return lambda name, data, x: tflite_run(data, x) if name == "tflite" else tflm_run(data, x)
