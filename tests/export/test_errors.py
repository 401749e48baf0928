"""Bad input to tinyrl export: a clear TinyRLError naming the problem, and no output folder."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tinyrl.cli import app
from tinyrl.errors import ModelError, TinyRLError
from tinyrl.export import ExportError, export_policy

TflitePath = Callable[[tuple[int, ...], str, int], Path]


def _convert_float_or_conv(kind: str) -> bytes:
    import keras
    import tensorflow as tf

    if kind == "conv":
        inputs = keras.Input((8, 8, 1))
        x = keras.layers.Flatten()(keras.layers.Conv2D(2, 3, activation="relu")(inputs))
        model = keras.Model(inputs, keras.layers.Dense(3)(x))
    else:
        inputs = keras.Input((4,))
        model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dense(8, activation="relu")(inputs)))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if kind == "conv":
        rep = np.random.default_rng(0).standard_normal((32, 8, 8, 1)).astype(np.float32)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        converter.representative_dataset = lambda: ([rep[i : i + 1]] for i in range(len(rep)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bytes(converter.convert())


@pytest.mark.parametrize(
    ("kind", "error", "match"), [("conv", ModelError, "CONV_2D"), ("float", ModelError, "not quantized")]
)
def test_unsupported_models_are_rejected(tmp_path: Path, kind: str, error: type, match: str) -> None:
    path = tmp_path / f"{kind}.tflite"
    path.write_bytes(_convert_float_or_conv(kind))
    out = tmp_path / "out"
    with pytest.raises(error, match=match):
        export_policy(path, out)
    assert not out.exists()


def test_layer_too_wide_for_cortex_m4(tmp_path: Path, tflite_file: TflitePath) -> None:
    path = tflite_file((8, 300, 4), "linear", 3)
    out = tmp_path / "out"
    with pytest.raises(ExportError, match=r"layer 0 \(8 -> 300\) is too wide for target cortex-m4: at most 256"):
        export_policy(path, out, target="cortex-m4")
    assert not out.exists()
    export_policy(path, out, target="host")  # the host has no such limit
    assert (out / "tinyrl_policy.c").is_file()


def test_missing_files_and_bad_options(
    tmp_path: Path, tflite_file: TflitePath, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    with pytest.raises(ExportError, match="no such model file"):
        export_policy(tmp_path / "nope.tflite", out)
    (tmp_path / "folder").mkdir()
    with pytest.raises(ExportError, match=r"has no policy_int8\.tflite"):
        export_policy(tmp_path / "folder", out)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExportError, match=r"default policies/obstacle-course/policy_int8\.tflite does not exist yet"):
        export_policy(None, out)
    path = tflite_file((7, 3), "linear", 21)
    with pytest.raises(ExportError, match="unknown target 'avr'"):
        export_policy(path, out, target="avr")
    with pytest.raises(ExportError, match="--rounding must be"):
        export_policy(path, out, rounding="nearest")  # type: ignore[arg-type]
    with pytest.raises(ExportError, match="observation entries but the model takes 7"):
        export_policy(path, out, env="obstacle-course")
    assert not out.exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="not a previous export"):
        export_policy(path, foreign, target="host")
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_policy_folder_and_reexport_replace(tmp_path: Path, tflite_file: TflitePath) -> None:
    folder = tmp_path / "policies" / "x"
    folder.mkdir(parents=True)
    (folder / "policy_int8.tflite").write_bytes(tflite_file((7, 3), "linear", 21).read_bytes())
    out = tmp_path / "out"
    export_policy(folder, out, target="host")
    (out / "stale.c").write_text("int stale;\n")
    export_policy(folder, out, target="host")  # replaces the previous export as a whole
    assert not (out / "stale.c").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no temporary folders left


def test_missing_arm_toolchain_says_make_setup(
    tmp_path: Path, tflite_file: TflitePath, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name.startswith("arm-none-eabi") else real(name))
    out = tmp_path / "out"
    with pytest.raises(ExportError, match=r"arm-none-eabi-gcc.*not found: run `make setup`"):
        export_policy(tflite_file((7, 3), "linear", 21), out)
    assert not out.exists()


def test_cli_one_line_error_exit_2_and_table(tmp_path: Path, tflite_file: TflitePath) -> None:
    import subprocess
    import sys

    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "tinyrl", "export", str(tmp_path / "nope.tflite"), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error:") and len(result.stderr.strip().splitlines()) == 1
    assert "no such model file" in result.stderr
    assert not out.exists()
    ok = CliRunner().invoke(app, ["export", str(tflite_file((7, 3), "linear", 21)), "-o", str(out), "--target", "host"])
    assert ok.exit_code == 0, ok.output
    assert "weights + biases" in ok.output and "ARM footprint" in ok.output
    assert str(tmp_path) not in (out / "report.json").read_text()  # the model's source without this machine's folders
    assert issubclass(ExportError, TinyRLError)
