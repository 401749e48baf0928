"""``tinyrl deploy`` names a missing or wrong firmware checkout in one line, before it exports or builds anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from scenario_support import ROOT


def _deploy(tmp_path: Path, base: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CRAZYFLIE_BASE"}
    env["PYTHONPATH"] = str(ROOT)
    if base is not None:
        env["CRAZYFLIE_BASE"] = base
    cmd = [sys.executable, "-m", "tinyrl", "deploy", "--policy", str(ROOT / "policies" / "obstacle-course"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False)


def test_deploy_without_crazyflie_base_says_so_in_one_line(tmp_path: Path) -> None:
    done = _deploy(tmp_path, None)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: set CRAZYFLIE_BASE to a crazyflie-firmware checkout")


@pytest.mark.parametrize(
    ("layout", "says"),
    [((), "has no tools/make/oot.mk: not a crazyflie-firmware checkout"), (("tools/make",), "is missing: run git")],
)
def test_deploy_with_a_wrong_crazyflie_base_says_so_in_one_line(
    tmp_path: Path, layout: tuple[str, ...], says: str
) -> None:
    base = tmp_path / "firmware"
    base.mkdir()
    for folder in layout:
        (base / folder).mkdir(parents=True)
        (base / folder / "oot.mk").write_text("")
    done = _deploy(tmp_path, str(base))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert says in line


def test_deploy_refuses_an_unknown_uri_scheme_before_building(tmp_path: Path) -> None:
    base = tmp_path / "firmware"
    for sub in ("tools/make", "vendor/FreeRTOS/include", "vendor/CMSIS/CMSIS", "vendor/libdw1000/inc"):
        (base / sub).mkdir(parents=True)
    (base / "tools/make/oot.mk").write_text("")
    done = _deploy(tmp_path, str(base), "--uri", "serial://x")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line == "error: serial://x: unknown URI scheme (expected radio://, usb://, udp://)"
