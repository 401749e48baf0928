"""Shared fixtures for the exporter tests: converted int8 models, cached for the session (TF conversion is slow)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from tinyrl.common.tensorflow_env import quiet_tensorflow
from tinyrl.compress.quantize import convert_random_mlp
from tinyrl.export import ExportResult, export_policy
from tinyrl.export.footprint import find_arm_tools

quiet_tensorflow()  # before anything loads TensorFlow

REPO = Path(__file__).resolve().parents[2]
SHIPPED_DEFAULT = REPO / "policies" / "obstacle-course" / "policy_int8.tflite"


@cache
def converted(sizes: tuple[int, ...], output_activation: str, seed: int) -> bytes:
    """The int8 .tflite of a seeded random MLP (once per session: conversion is slow)."""
    return convert_random_mlp(sizes, output_activation, seed)  # type: ignore[arg-type]


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


@pytest.fixture(scope="session")
def default_export(tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    """``tinyrl export`` of the shipped obstacle-course policy for the Cortex-M4 with the fits-on table: verified and
    measured on every target's emulated core (once per session: one build and QEMU run per core)."""
    find_arm_tools()
    return export_policy(SHIPPED_DEFAULT, tmp_path_factory.mktemp("default") / "policy", target="cortex-m4")
