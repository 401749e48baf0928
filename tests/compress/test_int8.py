"""The NumPy int8 executor against TFLite (delegates off) and TFLite Micro, bit for bit; loader errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from compress_support import converted_mlp, seeded_mlp, tflite_run, tflm_run

from tinyrl.compress.fixed_point import multiply_by_quantized_multiplier, quantize_multiplier
from tinyrl.compress.model import QuantizedDense, QuantParams
from tinyrl.compress.prepare import prepare_layer, tanh_lut_tflite, tanh_lut_tflm
from tinyrl.compress.reference import dequantize_output, quantize_input, run_int8
from tinyrl.compress.tflite_reader import load_tflite
from tinyrl.errors import ModelError, TinyRLError

N_OBS = 10_000
# Random shapes (1–4 layers, 2–128 units, linear/tanh output) plus hand-picked extremes.
SEEDS = [0, 3, 5, 8, 11]
FIXED = [
    ((2, 2), "tanh"),  # smallest: one layer, two units
    ((6, 20, 20, 3), "tanh"),  # the seed policy's shape
    ((128, 128, 128, 128, 128), "linear"),  # four layers at full width
    ((7, 33, 5), "linear"),  # odd widths
]
CASES = [pytest.param(seed, id=f"seed{seed}") for seed in SEEDS] + [
    pytest.param((sizes, act), id=f"{'x'.join(map(str, sizes))}-{act}") for sizes, act in FIXED
]


def _case(case: int | tuple[tuple[int, ...], str]) -> tuple[tuple[int, ...], str, bytes]:
    if isinstance(case, int):
        return seeded_mlp(case)
    sizes, act = case
    return sizes, act, converted_mlp(sizes, act, 7)


def _observations(in_features: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size=(N_OBS, in_features), dtype=np.int8)


@pytest.mark.parametrize("reference", ["tflite", "tflm"])
@pytest.mark.parametrize("case", CASES)
def test_bit_exact_with_interpreters(case, reference, run_reference):
    sizes, act, data = _case(case)
    model = load_tflite(data)
    assert [layer.out_features for layer in model.layers] == list(sizes[1:])
    assert model.layers[-1].activation == ("tanh" if act == "tanh" else "none")
    x = _observations(sizes[0])
    expected = run_reference(reference, data, x)
    got = run_int8(model, x, reference=reference)
    assert got.dtype == np.int8 and got.shape == (N_OBS, sizes[-1])
    assert np.array_equal(got, expected), f"{np.count_nonzero(got != expected)} outputs differ"


def _power_of_two_scales_model() -> bytes:
    """One FC layer whose effective scale is exactly 2**-6, so requantization hits exact ties constantly."""
    import tflite

    buf = bytearray(converted_mlp((4, 7), "linear", 3))
    graph = tflite.Model.GetRootAs(buf, 0).Subgraphs(0)
    op = graph.Operators(0)
    x_idx, w_idx = int(op.InputsAsNumpy()[0]), int(op.InputsAsNumpy()[1])
    y_idx = int(op.OutputsAsNumpy()[0])
    # Writable views into ``buf``: input 2**-5, weights 2**-7, output 2**-6 → multiplier 2**30, shift -5.
    graph.Tensors(x_idx).Quantization().ScaleAsNumpy()[:] = 2.0**-5
    graph.Tensors(w_idx).Quantization().ScaleAsNumpy()[:] = 2.0**-7
    graph.Tensors(y_idx).Quantization().ScaleAsNumpy()[:] = 2.0**-6
    return bytes(buf)


@pytest.mark.parametrize("reference", ["tflite", "tflm"])
def test_requantization_ties(reference, run_reference):
    data = _power_of_two_scales_model()
    model = load_tflite(data)
    assert set(model.layers[0].output_multiplier) == {2**30} and set(model.layers[0].output_shift) == {-5}
    x = _observations(4, seed=1)
    expected = run_reference(reference, data, x)
    assert np.array_equal(run_int8(model, x, reference=reference), expected)
    # The two interpreters really do round ties differently, which is why run_int8 needs ``reference``.
    other = "tflm" if reference == "tflite" else "tflite"
    assert not np.array_equal(run_int8(model, x, reference=other), expected)


@pytest.mark.parametrize("input_range", [0.7, 3.0, 9.0])
@pytest.mark.parametrize("reference", ["tflite", "tflm"])
def test_tanh_tables_are_exhaustively_exact(input_range, reference, run_reference):
    # A graph that is a lone int8 TANH lets every one of the 256 inputs through each interpreter.
    import keras

    inputs = keras.Input((4,))
    rep = np.random.default_rng(0).uniform(-input_range, input_range, (256, 4)).astype(np.float32)
    data = _convert(keras.Model(inputs, keras.layers.Activation("tanh")(inputs)), rep)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import tensorflow as tf

        details = tf.lite.Interpreter(model_content=data).get_input_details()[0]
    scale, zero_point = details["quantization"]
    in_qp = QuantParams(float(scale), int(zero_point))
    x = np.arange(-128, 128, dtype=np.int8).reshape(64, 4)
    expected = run_reference(reference, data, x).reshape(-1)
    lut = tanh_lut_tflite(in_qp, QuantParams(1 / 128, 0)) if reference == "tflite" else tanh_lut_tflm(in_qp)
    assert lut.dtype == np.int8 and np.array_equal(lut, expected)
    assert np.all(np.diff(lut.astype(int)) >= 0)  # monotone, as tanh is


def test_single_vector_and_dtype_checks():
    _, _, data = _case(((6, 20, 20, 3), "tanh"))
    model = load_tflite(data)
    x = _observations(6)[:5]
    assert np.array_equal(run_int8(model, x[0]), run_int8(model, x)[0])
    with pytest.raises(TypeError, match="int8"):
        run_int8(model, x.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        run_int8(model, x[:, :5])


def test_precomputed_constants_match_quantize_multiplier():
    _, _, data = seeded_mlp(0)
    for layer in load_tflite(data).layers:
        for c, ws in enumerate(layer.weight_scales):
            real = float(np.float32(layer.input.scale)) * float(np.float32(ws)) / float(np.float32(layer.output.scale))
            m, s = quantize_multiplier(real)
            assert (layer.output_multiplier[c], layer.output_shift[c]) == (m, s)
            assert 2**30 <= m < 2**31 and abs(m * 2.0 ** (s - 31) - real) <= real * 2**-30
        # A layer rebuilt from its raw fields derives the same constants (what a hand-built model gets).
        rebuilt = prepare_layer(
            QuantizedDense(
                weights=layer.weights,
                bias=layer.bias,
                weight_scales=layer.weight_scales,
                input=layer.input,
                output=layer.output,
                activation=layer.activation,
                tanh_output=layer.tanh_output,
            )
        )
        assert np.array_equal(rebuilt.output_multiplier, layer.output_multiplier)
        assert (rebuilt.activation_min, rebuilt.activation_max) == (layer.activation_min, layer.activation_max)


def test_quantize_multiplier_rules():
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(0.5) == (2**30, 0)
    assert quantize_multiplier(1.0) == (2**30, 1)
    assert quantize_multiplier(0.25) == (2**30, -1)
    # Significand rounding up to 2**31 is renormalised.
    assert quantize_multiplier(1.0 - 2.0**-40) == (2**30, 1)
    assert quantize_multiplier(2.0**-40) == (0, 0)


def test_multiply_by_quantized_multiplier_matches_exact_rounding():
    rng = np.random.default_rng(0)
    x = rng.integers(-(2**20), 2**20, size=50_000)
    m = rng.integers(2**30, 2**31, size=50_000)
    shift = rng.integers(-12, 1, size=50_000)
    exact = x.astype(object) * m.astype(object)  # exact rational: x * m / 2**(31 - shift)
    got = multiply_by_quantized_multiplier(x, m, shift)
    for i in range(0, 50_000, 997):  # spot-check against big-int arithmetic (double rounding)
        high = (int(exact[i]) + (1 << 30)) >> 31
        k = -int(shift[i])
        q, r = divmod(high, 1 << k) if k else (high, 0)
        half = (1 << k) >> 1
        away = q + (1 if (r > half or (r == half and k and high >= 0)) else 0)
        assert got[i] == away


def test_float_io_model_quantize_and_dequantize_helpers():
    import tensorflow as tf

    from tinyrl.compress.quantize import build_keras_mlp

    keras_model = build_keras_mlp([5, 16, 3], output_activation="tanh", seed=2)
    rng = np.random.default_rng(2)
    rep = rng.standard_normal((256, 5)).astype(np.float32)
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([r[None]] for r in rep)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = converter.convert()  # float32 I/O: QUANTIZE ... DEQUANTIZE around the int8 core
    model = load_tflite(data)
    x = (2 * rng.standard_normal((N_OBS, 5))).astype(np.float32)
    expected = tflite_run(data, x)
    got = dequantize_output(model, run_int8(model, quantize_input(model, x), reference="tflite"))
    assert got.dtype == np.float32 and np.array_equal(got, expected)
    # The TFLM path agrees through the same helpers.
    got_tflm = dequantize_output(model, run_int8(model, quantize_input(model, x), reference="tflm"))
    assert np.array_equal(got_tflm, tflm_run(data, x))


# --------------------------------------------------------------------------------------------------------------------
# Bad inputs.
# --------------------------------------------------------------------------------------------------------------------


def _convert(keras_model, rep: np.ndarray | None, *, int8: bool = True) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    if rep is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([r[None]] for r in rep)
        if int8:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return converter.convert()


def test_unsupported_op_is_named():
    import keras

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(3)(x)
    rep = np.random.default_rng(0).standard_normal((64, 8, 8, 1)).astype(np.float32)
    data = _convert(keras.Model(inputs, outputs), rep)
    with pytest.raises(ModelError, match=r"unsupported operator.*CONV_2D"):
        load_tflite(data)


def test_float_model_is_rejected():
    from tinyrl.compress.quantize import build_keras_mlp

    data = _convert(build_keras_mlp([4, 8, 2], seed=0), None)
    with pytest.raises(ModelError, match="not quantized"):
        load_tflite(data)


def test_dynamic_range_model_is_rejected():
    import tensorflow as tf

    from tinyrl.compress.quantize import build_keras_mlp

    converter = tf.lite.TFLiteConverter.from_keras_model(build_keras_mlp([4, 64, 2], seed=0))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]  # int8 weights, float activations
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = converter.convert()
    with pytest.raises(ModelError, match="not quantized"):
        load_tflite(data)


def test_branching_graph_is_rejected():
    import keras

    inputs = keras.Input((4,))
    trunk = keras.layers.Dense(8, activation="relu")(inputs)
    head_a = keras.layers.Dense(2)(trunk)
    head_b = keras.layers.Dense(3)(trunk)
    rep = np.random.default_rng(0).standard_normal((64, 4)).astype(np.float32)
    data = _convert(keras.Model(inputs, [head_a, head_b]), rep)
    with pytest.raises(ModelError, match="not a plain MLP"):
        load_tflite(data)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda d: b"", id="empty"),
        pytest.param(lambda d: b"this is not a model at all, just some text bytes", id="text"),
        pytest.param(lambda d: d[: len(d) // 3], id="truncated"),
        pytest.param(lambda d: d[:8] + bytes(len(d) - 8), id="zeroed-after-header"),
        pytest.param(
            lambda d: d[:8] + bytes(np.random.default_rng(0).integers(0, 256, len(d) - 8, np.uint8)), id="noise"
        ),
    ],
)
def test_corrupt_bytes_are_reported(mutate, tmp_path):
    _, _, data = seeded_mlp(0)
    bad = mutate(data)
    with pytest.raises(ModelError, match="not a valid TFLite flatbuffer") as info:
        load_tflite(bad)
    assert isinstance(info.value, TinyRLError)
    path = tmp_path / "bad.tflite"
    path.write_bytes(bad)
    with pytest.raises(ModelError, match=r"bad\.tflite"):
        load_tflite(path)


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="no such"):
        load_tflite(tmp_path / "nope.tflite")


REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "policies").glob("*/policy_int8.tflite"))


def test_every_scenario_ships_an_int8_policy():
    """Not parametrized: the shipped-model test below runs once per file found, so none runs if one is missing."""
    from tinyrl.tasks.config import available_envs

    scenarios = set(available_envs([REPO / "envs"]))
    assert scenarios >= {"hover", "obstacle-course", "source-seeking"}
    missing = sorted(scenarios - {p.parent.name for p in SHIPPED})
    assert not missing, f"scenarios without policies/NAME/policy_int8.tflite: {missing}"


def _recorded_observations(policy_path: Path, n: int) -> np.ndarray:
    """Observations the int8 policy meets when it flies its own scenario (quantized), ``n`` of them."""
    from tinyrl.compress.artefacts import load_policy
    from tinyrl.tasks.config import load_scenario
    from tinyrl.tasks.core import BatchedTask

    scenario = policy_path.parent.name
    policy = load_policy(policy_path)
    task = BatchedTask(load_scenario(scenario, {"course_pool_size": 20}), 128, randomize=True)
    task.seed_slots(range(128), range(128))
    obs = task.reset_slots(np.arange(128))
    seen = [obs]
    while sum(len(o) for o in seen) < n:
        obs = task.step(policy.act(obs)).obs
        seen.append(obs)
    return np.concatenate(seen)[:n]


@pytest.mark.parametrize("reference", ["tflite", "tflm"])
@pytest.mark.parametrize("path", SHIPPED, ids=[p.parent.name for p in SHIPPED])
def test_shipped_models_bit_exact_on_random_and_recorded_observations(path, reference, run_reference):
    data = path.read_bytes()
    model = load_tflite(data)
    x_random = _observations(model.in_features, seed=3)
    x_recorded = quantize_input(model, _recorded_observations(path, N_OBS))
    for x in (x_random, x_recorded):
        assert np.array_equal(run_int8(model, x, reference=reference), run_reference(reference, data, x))
