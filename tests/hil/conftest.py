"""HIL fixtures: the shipped int8 obstacle-course policy, its HIL firmware, and a QEMU session serving it."""

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
def shipped_policy_dir() -> Path:
    """``policies/obstacle-course``: the trained int8 policy the repository ships, which the HIL tests fly.

    A missing file is a failure: an untrained stand-in would fly other episodes and test something else.
    """
    missing = [p for p in (SHIPPED, SHIPPED.with_suffix(".json")) if not p.is_file()]
    if missing:
        pytest.fail(
            f"shipped policy missing: {', '.join(str(p.relative_to(REPO)) for p in missing)} "
            "(restore it from git; the HIL tests fly the trained obstacle-course policy)"
        )
    return SHIPPED.parent


@pytest.fixture(scope="session")
def hil_elf(shipped_policy_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HIL firmware image for the policy."""
    from tinyrl.hil.qemu import build_hil_firmware

    return build_hil_firmware(shipped_policy_dir / "policy_int8.tflite", tmp_path_factory.mktemp("hil-build"))


@pytest.fixture
def qemu_session(hil_elf: Path) -> Iterator[QemuSession]:
    """QEMU running the HIL image on a free loopback port (always stopped)."""
    from tinyrl.hil.qemu import QemuSession

    with QemuSession(hil_elf) as session:
        yield session
