"""TensorFlow's environment defaults, set before it loads (quantization, the student), and TensorBoard without it."""

from __future__ import annotations

import os
import sys
import types

__all__ = ["quiet_tensorflow", "tensorboard_without_tensorflow"]

#: The module TensorBoard's ``no_tensorflow`` build adds: while it can be imported, ``tensorboard.compat.tf`` is
#: TensorBoard's own stub, never TensorFlow.
_NO_TENSORFLOW = "tensorboard.compat.notf"


def quiet_tensorflow() -> None:
    """Default TensorFlow's environment before it loads: no C++ logs below fatal, no oneDNN kernels.

    Read once when TensorFlow loads, so call it before the first import; only defaults, so a user's choice wins.
    """
    # TensorFlow writes its start-up banners to stderr, which would bury a one-line error. oneDNN's banner comes
    # before the log level applies, so only turning oneDNN off silences it; its fused CPU kernels may also sum in a
    # different order from run to run of the thread pool, while the plain Eigen kernels keep training repeatable.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def tensorboard_without_tensorflow() -> None:
    """Have TensorBoard's event writer use its TensorFlow-free stub, as TensorBoard's ``no_tensorflow`` build does.

    SB3 imports PyTorch's TensorBoard writer, which asks ``tensorboard.compat`` for TensorFlow, and that loads all of
    TensorFlow when it is installed (it is, for the compress stage): seconds and hundreds of MB in every process
    that only trains, evaluates or flies. The event files are the same; code that imports TensorFlow itself still
    gets it. Call it before the first import of SB3.
    """
    sys.modules.setdefault(_NO_TENSORFLOW, types.ModuleType(_NO_TENSORFLOW))
