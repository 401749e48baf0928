"""TensorFlow's environment defaults, set before it loads (quantization, the student, TensorBoard)."""

from __future__ import annotations

import os

__all__ = ["quiet_tensorflow"]


def quiet_tensorflow() -> None:
    """Default TensorFlow's environment before it loads: no C++ logs below fatal, no oneDNN kernels.

    Read once when TensorFlow loads, so call it before the first import; only defaults, so a user's choice wins.
    """
    # TensorFlow writes its start-up banners to stderr, which would bury a one-line error. oneDNN's banner comes
    # before the log level applies, so only turning oneDNN off silences it; its fused CPU kernels may also sum in a
    # different order from run to run of the thread pool, while the plain Eigen kernels keep training repeatable.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
