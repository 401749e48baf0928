"""HIL fixtures: a shipped int8 policy, its HIL firmware, and a QEMU session serving it.

Tests fly the obstacle-course policy; those marked ``hil_cases.EVERY_HEAD`` fly the discrete source-seeking one too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hil_cases import DEFAULT_ENV

from tinyrl.common.tensorflow_env import quiet_tensorflow

quiet_tensorflow()  # before anything loads TensorFlow

if TYPE_CHECKING:
    from tinyrl.hil.qemu import QemuSession

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def hil_env(request: pytest.FixtureRequest) -> str:
    """The scenario flown: ``DEFAULT_ENV``, or the one a test's ``EVERY_HEAD`` parameter names."""
    return str(getattr(request, "param", DEFAULT_ENV))


@pytest.fixture(scope="session")
def shipped_policy_dir(hil_env: str) -> Path:
    """``policies/ENV``: the trained int8 policy the repository ships for the scenario, which the HIL tests fly.

    A missing file is a failure: an untrained stand-in would fly other episodes and test something else.
    """
    shipped = REPO / "policies" / hil_env / "policy_int8.tflite"
    missing = [p for p in (shipped, shipped.with_suffix(".json")) if not p.is_file()]
    if missing:
        pytest.fail(
            f"shipped policy missing: {', '.join(str(p.relative_to(REPO)) for p in missing)} "
            f"(restore it from git; the HIL tests fly the trained {hil_env} policy)"
        )
    return shipped.parent


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
