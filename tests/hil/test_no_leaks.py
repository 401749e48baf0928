"""``tinyrl hil --qemu`` leaves no QEMU behind, however it stops: SIGTERM, Ctrl-C, a lost link, or SIGKILL.

Each fault fires at a known step through ``$TINYRL_HIL_FAULT`` (while QEMU flies the policy), never by a timer, and
the command runs under ``tests/reaper.py``, which reports every process that outlived it.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import pytest
from hil_cases import DEFAULT_ENV, EVERY_HEAD
from reaper import run_reaped
from scenario_support import ROOT

pytestmark = pytest.mark.usefixtures("require_arm_tools")

#: A step well into the first episode: QEMU has answered every step before it.
FAULT_STEP = 20


@pytest.fixture(scope="module")
def require_arm_tools() -> None:
    missing = [t for t in ("qemu-system-arm", "arm-none-eabi-gcc") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run `make setup`")


def _hil_with_fault(
    fault: str, policy_dir: Path, hil_elf: Path, tmp_path: Path, scenario: str = DEFAULT_ENV
) -> tuple[int, str, list[dict]]:
    """``tinyrl hil --qemu`` with ``$TINYRL_HIL_FAULT=fault``: its exit code, stderr, and what outlived it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "400", "TINYRL_HIL_FAULT": fault}
    cmd = [sys.executable, "-m", "tinyrl", "hil", "--env", scenario, "--policy", str(policy_dir), "--qemu"]
    cmd += ["--episodes", "2"]
    # The session's firmware build folder (BUILD/<hash>/fw/tinyrl.elf), so nothing is rebuilt; a generous reply
    # timeout, so a loaded machine never turns into a lost frame.
    cmd += ["--build-dir", str(hil_elf.parents[2]), "--timeout-ms", "3000"]
    done, report = run_reaped(cmd, tmp_path / "reaper.json", cwd=tmp_path, env=env, timeout=600)
    return report["returncode"], done.stderr, report["leftovers"]


@pytest.mark.parametrize(("fault", "code", "last_line"), [("sigterm", 143, "terminated"), ("sigint", 130, None)])
def test_a_signal_stops_qemu_before_hil_exits(
    fault: str, code: int, last_line: str | None, shipped_policy_dir: Path, hil_elf: Path, tmp_path: Path
) -> None:
    returncode, stderr, leftovers = _hil_with_fault(f"{fault}@{FAULT_STEP}", shipped_policy_dir, hil_elf, tmp_path)
    assert returncode == code, stderr[-3000:]
    if last_line is not None:
        assert stderr.strip().splitlines()[-1] == last_line
    # Not even a QEMU the kernel kills on our exit: tinyrl stopped and reaped it itself.
    assert leftovers == []


@EVERY_HEAD
def test_a_lost_link_stops_qemu_and_fails_in_one_line(
    hil_env: str, shipped_policy_dir: Path, hil_elf: Path, tmp_path: Path
) -> None:
    fault = f"link-lost@{FAULT_STEP}"
    returncode, stderr, leftovers = _hil_with_fault(fault, shipped_policy_dir, hil_elf, tmp_path, hil_env)
    assert returncode == 2, stderr[-3000:]
    (line,) = stderr.strip().splitlines()
    assert line.startswith("error: HIL link lost while sending")
    assert leftovers == []


def test_qemu_dies_with_a_killed_hil(shipped_policy_dir: Path, hil_elf: Path, tmp_path: Path) -> None:
    returncode, stderr, leftovers = _hil_with_fault(f"kill@{FAULT_STEP}", shipped_policy_dir, hil_elf, tmp_path)
    assert returncode == -signal.SIGKILL, stderr[-3000:]
    # No code of ours ran: the kernel's parent-death signal killed QEMU before the reaper could stop it.
    assert [(p["comm"], p["fate"]) for p in leftovers] == [("qemu-system-arm", f"signal {signal.SIGKILL}")]
