"""Keras MLP → full-integer .tflite: file contents, atomic write, input checks, seeded test models."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tinyrl.compress.quantize import build_keras_mlp, quantize_keras_mlp, random_mlp_spec
from tinyrl.compress.tflite_reader import load_tflite
from tinyrl.errors import ModelError


def test_writes_full_integer_model(tmp_path):
    import tflite

    model = build_keras_mlp([6, 20, 20, 3], output_activation="tanh", seed=0)
    rep = np.random.default_rng(0).standard_normal((300, 6)).astype(np.float32)
    path = quantize_keras_mlp(model, rep, tmp_path / "sub" / "policy.tflite")
    assert path == tmp_path / "sub" / "policy.tflite" and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["policy.tflite"]  # no temporary file left behind

    graph = tflite.Model.GetRootAs(path.read_bytes(), 0).Subgraphs(0)
    types = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
    assert types[graph.Tensors(int(graph.InputsAsNumpy()[0])).Type()] == "INT8"
    assert types[graph.Tensors(int(graph.OutputsAsNumpy()[0])).Type()] == "INT8"

    q = load_tflite(path)
    assert [layer.activation for layer in q.layers] == ["relu", "relu", "tanh"]
    for layer in q.layers:
        assert layer.weights.dtype == np.int8 and layer.bias.dtype == np.int32
        assert layer.weight_scales.shape == (layer.out_features,)  # per output channel
        assert np.any(layer.bias != 0)  # random biases survive conversion
    assert q.parameter_bytes == sum(
        w.size + 4 * b for w, b in [(layer.weights, layer.out_features) for layer in q.layers]
    )


def test_rejects_bad_representative_data(tmp_path):
    model = build_keras_mlp([4, 3], seed=0)
    with pytest.raises(ModelError, match="shape"):
        quantize_keras_mlp(model, np.zeros((10, 5), np.float32), tmp_path / "m.tflite")
    with pytest.raises(ModelError, match="NaN"):
        quantize_keras_mlp(model, np.full((10, 4), np.nan, np.float32), tmp_path / "m.tflite")
    assert not (tmp_path / "m.tflite").exists()


def test_build_keras_mlp_is_seeded():
    a = build_keras_mlp([5, 9, 2], seed=4).get_weights()
    b = build_keras_mlp([5, 9, 2], seed=4).get_weights()
    c = build_keras_mlp([5, 9, 2], seed=5).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])
    with pytest.raises(ValueError, match="layer_sizes"):
        build_keras_mlp([5])


def test_random_mlp_spec_ranges():
    specs = [random_mlp_spec(seed) for seed in range(200)]
    assert {len(sizes) - 1 for sizes, _ in specs} == {1, 2, 3, 4}
    assert min(min(sizes) for sizes, _ in specs) == 2 and max(max(sizes) for sizes, _ in specs) == 128
    assert {act for _, act in specs} == {"linear", "tanh"}
    assert random_mlp_spec(3) == random_mlp_spec(3)


def test_importing_does_not_load_tensorflow():
    code = (
        "import sys, tinyrl.compress.quantize, tinyrl.compress.tflite_reader, tinyrl.compress.reference;"
        "sys.exit(int('tensorflow' in sys.modules or 'tflite' in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
