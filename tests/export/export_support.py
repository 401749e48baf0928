"""Shared fixtures for the exporter tests: converted int8 models, cached for the session (TF conversion is slow)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import shutil
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tflite")

from tinyrl.compress.quantize import build_keras_mlp, convert_keras_mlp


@cache
def converted(sizes: tuple[int, ...], output_activation: str, seed: int) -> bytes:
    """The int8 .tflite of a seeded random MLP calibrated on seeded normal data (once per session)."""
    model = build_keras_mlp(list(sizes), output_activation=output_activation, seed=seed)  # type: ignore[arg-type]
    representative = (1.5 * np.random.default_rng(seed + 1000).standard_normal((512, sizes[0]))).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert_keras_mlp(model, representative)


@pytest.fixture(scope="session")
def tflite_file(tmp_path_factory: pytest.TempPathFactory) -> Callable[[tuple[int, ...], str, int], Path]:
    """``tflite_file(sizes, activation, seed)``: path of the converted model (written once per session)."""
    root = tmp_path_factory.mktemp("models")

    def make(sizes: tuple[int, ...], activation: str, seed: int) -> Path:
        path = root / f"{'x'.join(map(str, sizes))}-{activation}-{seed}.tflite"
        if not path.exists():
            path.write_bytes(converted(tuple(sizes), activation, seed))
        return path

    return make


def require(tool: str) -> str:
    """Path of ``tool`` or a failing test that says how to install it."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} not found: run `make setup`")
    return path
