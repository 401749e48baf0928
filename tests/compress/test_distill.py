"""Distillation (DAgger), student quantization, and the .keras/.tflite policy loaders, on tiny budgets."""

from __future__ import annotations

import itertools
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from tinyrl.cli import app
from tinyrl.common.policy import MlpPolicy, PolicyError
from tinyrl.compress.artefacts import load_policy
from tinyrl.compress.distill import (
    DistillOptions,
    action_agreement,
    collect_rollouts,
    distill,
    load_calibration,
    write_distill_outputs,
)
from tinyrl.compress.shrink import quantize_student
from tinyrl.compress.student import Int8Policy, load_student
from tinyrl.errors import TinyRLError
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.features import observation_size

ROOT = Path(__file__).parents[2]
OBS = observation_size(load_scenario("hover"))  # 11 today: height, flow, yaw rate, hover error, previous action
TINY = DistillOptions(
    arch=(32, 32),
    iterations=3,
    n_drones=32,
    steps_per_iteration=3000,
    epochs=8,
    batch_size=128,
    learning_rate=3e-3,
    eval_episodes=4,
    progress=False,
)


def random_teacher(obs_dim: int, out_dim: int, head: str = "clip", seed: int = 0) -> MlpPolicy:
    """A seeded random MLP teacher (tanh hidden) whose actions vary smoothly with the observation."""
    rng = np.random.default_rng(seed)
    sizes = [obs_dim, 16, out_dim]
    weights = tuple(
        (1.5 * rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32) for i, o in itertools.pairwise(sizes)
    )
    biases = tuple((0.1 * rng.standard_normal(o)).astype(np.float32) for o in sizes[1:])
    return MlpPolicy(weights, biases, "tanh", head)  # type: ignore[arg-type]


def tiny_env_file(tmp_path: Path, name: str = "hover") -> Path:
    data = yaml.safe_load((ROOT / "envs" / f"{name}.yaml").read_text())
    data["course_pool_size"] = 20
    path = tmp_path / f"{name}-tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    """A policy folder: random teacher, DAgger student, calibration set and int8 model."""
    folder = tmp_path_factory.mktemp("policy")
    env = tiny_env_file(folder)
    config = load_scenario(env)
    teacher = random_teacher(OBS, 4)
    teacher.save(folder / "teacher.npz")
    result = distill(config, teacher, TINY)
    write_distill_outputs(result, folder, TINY, {"env": str(env), "teacher": str(folder)})
    quantize_student(folder / "student.keras", folder / "policy_int8.tflite")
    return folder, env, config, teacher, result


def test_dagger_student_imitates_teacher_on_held_out_states(distilled):
    folder, _, config, teacher, result = distilled
    assert [h["iteration"] for h in result.history] == [0, 1, 2]
    assert [h["dataset_size"] for h in result.history] == [3000, 6000, 9000]
    assert result.history[1]["beta"] == 0.5 and "agreement_before_fit" in result.history[1]
    # Held out: teacher rollouts on courses and seeds the distillation never used.
    obs, labels, _ = collect_rollouts(config, 2000, actor=teacher, labeler=teacher, seed=987_654)
    student = load_policy(folder / "student.keras")
    agreement = action_agreement(student.act(obs), labels, discrete=False)
    spread = float(np.mean(np.abs(labels - labels.mean(axis=0))))
    assert spread > 0.1  # the teacher's actions do vary, so agreement is not trivial
    assert agreement["mean_abs_diff"] < 0.15 * spread, (agreement, spread)
    assert agreement["within_0.05"] > 0.7

    summary = json.loads((folder / "distill.json").read_text())
    assert summary["arch"] == [32, 32] and summary["iterations"] == 3 and summary["dataset_size"] == 9000
    assert summary["layer_sizes"] == [OBS, 32, 32, 4] and summary["head"] == "clip"
    assert len(summary["per_iteration"]) == 3 and all("success_rate" in h for h in summary["per_iteration"])
    calib, actions = load_calibration(folder / "calibration.npz")  # allow_pickle=False inside
    assert calib.shape == (9000, OBS) and actions is not None and actions.shape == (9000, 4)


def test_same_seed_same_student_weights():
    config = load_scenario("hover", {"course_pool_size": 20})
    teacher = random_teacher(OBS, 4, seed=1)
    options = DistillOptions(arch=(8,), iterations=2, n_drones=16, steps_per_iteration=800, epochs=2, eval_episodes=0)
    options.progress = False
    first = distill(config, teacher, options).model.get_weights()
    second = distill(config, teacher, options).model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    options.seed = 1
    other = distill(config, teacher, options).model.get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_quantize_writes_full_int8_tflite_with_sidecar(distilled):
    import tensorflow as tf

    from tinyrl.compress.tflite_reader import load_tflite

    folder = distilled[0]
    data = (folder / "policy_int8.tflite").read_bytes()
    model = load_tflite(data)
    assert [layer.out_features for layer in model.layers] == [32, 32, 4]
    assert all(layer.weights.dtype == np.int8 and layer.bias.dtype == np.int32 for layer in model.layers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interpreter = tf.lite.Interpreter(model_content=data)
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    meta = json.loads((folder / "policy_int8.json").read_text())
    assert meta["head"] == "clip" and meta["tensorflow"] == tf.__version__ and meta["seed"] == 0
    assert meta["calibration"] == {"source": "<calibration.npz>", "samples": 9000}  # no folder of this machine


def test_tflite_loader_follows_the_float_student(distilled):
    folder, _, config, teacher, _ = distilled
    obs, _, _ = collect_rollouts(config, 1000, actor=teacher, seed=55)
    keras_model = load_student(folder / "student.keras")
    student = load_policy(folder / "student.keras")
    np.testing.assert_allclose(student.act(obs), np.clip(keras_model.predict(obs, verbose=0), -1, 1), atol=1e-5)
    int8 = load_policy(folder / "policy_int8.tflite")
    assert isinstance(int8, Int8Policy) and int8.head == "clip" and int8.obs_dim == OBS
    diff = np.abs(int8.act(obs) - student.act(obs))
    step = int8.model.output.scale
    assert diff.mean() < 3 * step and diff.max() < 0.05, (diff.mean(), diff.max(), step)
    # Batch-size independent: one row at a time gives the same actions.
    np.testing.assert_array_equal(int8.act(obs[:5]), np.concatenate([int8.act(obs[i : i + 1]) for i in range(5)]))


def test_quantize_cli_with_qat_fine_tune_gives_a_valid_int8_model(distilled, tmp_path):
    folder = distilled[0]
    args = ["quantize", str(folder / "student.keras"), "-o", str(tmp_path / "qat.tflite"), "--qat", "--qat-epochs", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "qat.json").read_text())
    assert meta["qat"] == {"enabled": True, "epochs": 1}
    assert meta["agreement_with_teacher"]["mean_abs_diff"] < 0.05
    assert load_policy(tmp_path / "qat.tflite").obs_dim == OBS


def test_eval_cli_runs_keras_and_tflite_deterministically(distilled, tmp_path):
    folder, env = distilled[0], distilled[1]
    runner = CliRunner()
    for artefact in ("student.keras", "policy_int8.tflite"):
        results = []
        for k in range(2):
            out = tmp_path / f"{artefact}-{k}.json"
            args = ["eval", str(folder / artefact), "--env", str(env), "--episodes", "3", "--seed", "4"]
            result = runner.invoke(app, [*args, "--json", str(out)])
            assert result.exit_code == 0, result.output
            data = json.loads(out.read_text())
            data.pop("policy")
            results.append(data)
        assert results[0] == results[1] and results[0]["episodes"] == 3


def test_folder_evaluates_its_teacher_by_default(distilled):
    folder, _, _, teacher, _ = distilled
    loaded = load_policy(folder)
    assert isinstance(loaded, MlpPolicy) and loaded.n_parameters == teacher.n_parameters


def test_bad_inputs_raise_clear_errors(distilled, tmp_path):
    import keras
    import tensorflow as tf

    folder, env, config, _, _ = distilled
    # Missing teacher, through the CLI.
    result = CliRunner().invoke(app, ["distill", "--env", str(env), "--teacher", str(tmp_path / "nope"), "-o", "x"])
    assert isinstance(result.exception, TinyRLError) and "not found" in str(result.exception)
    # Teacher observation size does not fit the scenario.
    with pytest.raises(PolicyError, match="takes 7 observations"):
        distill(config, random_teacher(7, 4), TINY)
    # A discrete teacher on a continuous scenario.
    with pytest.raises(PolicyError, match="continuous actions"):
        distill(config, random_teacher(OBS, 3, head="argmax"), TINY)
    # A float .tflite is not an int8 policy.
    model = keras.Sequential([keras.Input((OBS,)), keras.layers.Dense(4)])
    float_path = tmp_path / "float.tflite"
    float_path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    (tmp_path / "float.json").write_text('{"head": "clip"}')
    with pytest.raises(PolicyError, match="not quantized"):
        load_policy(float_path)
    # An int8 model without its sidecar.
    lonely = tmp_path / "lonely.tflite"
    lonely.write_bytes((folder / "policy_int8.tflite").read_bytes())
    with pytest.raises(PolicyError, match="sidecar"):
        load_policy(lonely)
    with pytest.raises(PolicyError, match="arch"):
        CliRunner().invoke(
            app, ["distill", "--teacher", str(folder), "-o", "x", "--arch", "a,b"], catch_exceptions=False
        )


def test_distill_cli_records_no_folder_of_this_machine(distilled, tmp_path):
    """``distill.json`` names its teacher and scenario file without this machine's folders; a quantize that would
    need that scenario file (no calibration set next to the student) asks for ``--env`` instead of guessing."""
    folder, env, _, _, _ = distilled
    out = tmp_path / "student"
    args = ["distill", "--env", str(env), "--teacher", str(folder), "-o", str(out), "--iterations", "1"]
    result = CliRunner().invoke(
        app, [*args, "--steps", "256", "--n-drones", "8", "--epochs", "1", "--eval-episodes", "0"]
    )
    assert result.exit_code == 0, result.output
    recorded = json.loads((out / "distill.json").read_text())
    assert (recorded["teacher"], recorded["env"]) == (f"<{folder.name}>", f"<{env.name}>")
    assert str(tmp_path) not in json.dumps(recorded) and str(folder) not in json.dumps(recorded)
    (out / "calibration.npz").unlink()
    with pytest.raises(PolicyError, match=r"pass --calibration FILE\.npz or --env NAME"):
        quantize_student(out / "student.keras", out / "policy_int8.tflite")


def test_quantize_takes_a_small_teacher_as_it_is(tmp_path):
    """A teacher ``.npz`` (the paper's DQN: ReLU, argmax) is quantized without a student: its own weights, int8."""
    from tinyrl.compress.student import mlp_to_student, student_to_mlp

    env = tiny_env_file(tmp_path, "source-seeking-paper")
    config = load_scenario(env)
    shape = random_teacher(observation_size(config), 3, seed=4)
    teacher = MlpPolicy(shape.weights, shape.biases, "relu", "argmax")
    float_model = student_to_mlp(mlp_to_student(teacher))
    for mine, theirs in ((float_model.weights, teacher.weights), (float_model.biases, teacher.biases)):
        assert all(np.array_equal(a, b) for a, b in zip(mine, theirs, strict=True))
    assert float_model.head == "argmax"
    teacher.save(tmp_path / "teacher.npz")
    out = tmp_path / "policy_int8.tflite"
    result = CliRunner().invoke(app, ["quantize", str(tmp_path / "teacher.npz"), "--env", str(env), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert str(tmp_path) not in out.with_suffix(".json").read_text()  # no folder of this machine in the sidecar
    int8 = load_policy(out)
    assert isinstance(int8, Int8Policy) and int8.head == "argmax"
    assert [int8.obs_dim, *(layer.out_features for layer in int8.model.layers)] == teacher.layer_sizes
    # Calibrated on the teacher's own flights, the int8 model picks the teacher's action on those states.
    obs, _, _ = collect_rollouts(config, 2000, actor=teacher, seed=77)
    assert action_agreement(int8.act(obs), teacher.act(obs), discrete=True)["same_action"] > 0.9
    with pytest.raises(PolicyError, match="a student's head"):
        mlp_to_student(MlpPolicy(shape.weights, shape.biases, "relu", "tanh"))


def test_argmax_head_is_centred_before_int8(tmp_path):
    """A Q-network's shared state value (large, the same for every action) must not eat the int8 output's steps."""
    from tinyrl.compress.student import centre_argmax_head, mlp_to_student, student_to_mlp

    env = tiny_env_file(tmp_path, "source-seeking-paper")
    config = load_scenario(env)
    shape = random_teacher(observation_size(config), 3, seed=4)
    # Every action's output gets the same 100x larger term: the argmax (the policy) is unchanged. Quantized without
    # centring, the int8 copy picks the teacher's action on about 40 % of these states.
    value_row = 100.0 * np.abs(shape.weights[-1]).max(axis=0, keepdims=True)
    last = (shape.weights[-1] + value_row).astype(np.float32)
    teacher = MlpPolicy((*shape.weights[:-1], last), shape.biases, "relu", "argmax")
    plain = MlpPolicy(shape.weights, shape.biases, "relu", "argmax")
    obs, _, _ = collect_rollouts(config, 2000, actor=teacher, seed=77)
    assert np.array_equal(teacher.act(obs), plain.act(obs))

    centred = mlp_to_student(teacher)
    centre_argmax_head(centred)
    q = student_to_mlp(centred).forward(obs)
    np.testing.assert_allclose(q.mean(axis=1), 0.0, atol=1e-4)
    assert np.array_equal(q.argmax(axis=1), teacher.act(obs))
    with pytest.raises(PolicyError, match="only an argmax head"):
        centre_argmax_head(mlp_to_student(MlpPolicy(shape.weights, shape.biases, "relu", "clip")))

    teacher.save(tmp_path / "teacher.npz")
    meta = quantize_student(tmp_path / "teacher.npz", tmp_path / "policy_int8.tflite", env=str(env))
    assert meta["outputs_centred"] is True
    int8 = load_policy(tmp_path / "policy_int8.tflite")
    assert action_agreement(int8.act(obs), teacher.act(obs), discrete=True)["same_action"] > 0.97


def test_qat_keeps_a_q_networks_actions(tmp_path):
    """Fine-tuning under simulated int8 must not cost a DQN teacher (no teacher actions: it fits its own outputs)
    the agreement plain int8 conversion keeps."""
    import shutil

    teacher = tmp_path / "teacher.npz"
    shutil.copy(ROOT / "policies" / "source-seeking-paper" / "teacher.npz", teacher)
    env = str(ROOT / "policies" / "source-seeking-paper" / "config.yaml")
    agreement = {}
    for qat in (False, True):
        out = tmp_path / f"qat_{qat}.tflite"
        meta = quantize_student(teacher, out, env=env, qat=qat, qat_epochs=2, max_samples=5000)
        agreement[qat] = meta["agreement_with_float_student"]["same_action"]
    assert agreement[True] >= agreement[False] - 0.01 and agreement[True] > 0.95, agreement
