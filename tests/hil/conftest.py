"""HIL fixtures: an int8 obstacle-course policy, its HIL firmware, and a QEMU session serving it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

if TYPE_CHECKING:
    from tinyrl.hil.qemu import QemuSession

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "policies" / "obstacle-course" / "policy_int8.tflite"
ENV = "obstacle-course"


@pytest.fixture(scope="session")
def int8_policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped obstacle-course int8 policy if there is one, else a quantized random 16->32->32->4 student."""
    if SHIPPED.is_file() and SHIPPED.with_suffix(".json").is_file():
        return SHIPPED.parent
    from tinyrl.hil.testing import random_int8_policy

    return random_int8_policy(tmp_path_factory.mktemp("hil-policy"), ENV)


@pytest.fixture(scope="session")
def hil_elf(int8_policy_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HIL firmware image for the policy."""
    from tinyrl.hil.qemu import build_hil_firmware

    return build_hil_firmware(int8_policy_dir / "policy_int8.tflite", tmp_path_factory.mktemp("hil-build"))


@pytest.fixture
def qemu_session(hil_elf: Path) -> Iterator[QemuSession]:
    """QEMU running the HIL image on a free loopback port (always stopped)."""
    from tinyrl.hil.qemu import QemuSession

    with QemuSession(hil_elf) as session:
        yield session
