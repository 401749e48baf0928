"""``tinyrl deploy``: export a policy into the Crazyflie app, build the firmware image, flash it with cflib.

The build is the firmware's own out-of-tree app build (``firmware/crazyflie/``, ``tools/make/oot.mk``) against the
crazyflie-firmware checkout ``$CRAZYFLIE_BASE`` (with its submodules); ``scripts/build_crazyflie_app.sh`` runs this.
Flashing goes through cflib's bootloader client over a Crazyradio: a warm boot into the bootloader, the STM32 image
written, then back to the firmware.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tinyrl.common.paths import REPO_ROOT
from tinyrl.errors import TinyRLError
from tinyrl.export import export_policy
from tinyrl.processes import die_with_this_thread

__all__ = ["AppBuild", "DeployError", "app_sizes", "build_app", "check_firmware_base", "flash"]

#: The app's folder in a TinyRL checkout.
APP_DIR = REPO_ROOT / "firmware" / "crazyflie"
#: Submodules of crazyflie-firmware the build needs.
SUBMODULES = ("vendor/FreeRTOS/include", "vendor/CMSIS/CMSIS", "vendor/libdw1000/inc")
#: What a build writes that `make cload` (or `tinyrl deploy --uri`) would flash.
IMAGE_FILES = ("cf2.bin", "cf2.hex", "cf2.elf")
#: Sections the app's share of the image is counted in.
SECTIONS = ("text", "rodata", "data", "bss", "log", "param")


class DeployError(TinyRLError):
    """The app cannot be built or flashed (no firmware checkout, a failed build, no bootloader answering)."""


@dataclass(frozen=True)
class AppBuild:
    """A built image and what the app takes in it (bytes per section)."""

    elf: Path
    binary: Path
    app_bytes: dict[str, int]

    @property
    def flash_bytes(self) -> int:
        """The app's flash: code, constants, log/param tables and data initializers."""
        return sum(self.app_bytes.get(k, 0) for k in ("text", "rodata", "data", "log", "param"))

    @property
    def ram_bytes(self) -> int:
        """The app's static RAM (data + bss), without its task stack."""
        return self.app_bytes.get("data", 0) + self.app_bytes.get("bss", 0)


def check_firmware_base(base: str | None) -> Path:
    """The crazyflie-firmware checkout ``base`` (``$CRAZYFLIE_BASE``), checked.

    Raises:
        DeployError: Unset, not a firmware checkout, or without its submodules.
    """
    if not base:
        raise DeployError(
            "set CRAZYFLIE_BASE to a crazyflie-firmware checkout "
            "(git clone --recursive https://github.com/bitcraze/crazyflie-firmware)"
        )
    root = Path(base).expanduser().resolve()
    if not (root / "tools" / "make" / "oot.mk").is_file():
        raise DeployError(f"CRAZYFLIE_BASE={base} has no tools/make/oot.mk: not a crazyflie-firmware checkout")
    for sub in SUBMODULES:
        if not (root / sub).is_dir():
            raise DeployError(f"CRAZYFLIE_BASE={base}: {sub} is missing: run git submodule update --init there")
    return root


def app_sizes(map_text: str, obj: str) -> dict[str, int]:
    """Bytes per section that the object ``obj`` takes in a GNU ld map file, after garbage collection."""
    text = map_text[map_text.index("Linker script and memory map") :].split("Cross Reference Table")[0]
    sizes: dict[str, int] = {}
    section = None
    for line in text.splitlines():
        long_name = re.match(r"^ (\.\S+)\s*$", line)  # a long section name: address and size on the next line
        if long_name:
            section = long_name.group(1)
            continue
        m = re.match(r"^ (\.\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)$", line)
        if m and m.group(4) == obj and int(m.group(2), 16) != 0:
            name = m.group(1) or section or ""
            kind = name.split(".")[1] if name.count(".") >= 1 else name
            if kind in SECTIONS:
                sizes[kind] = sizes.get(kind, 0) + int(m.group(3), 16)
        section = None
    return sizes


def build_app(
    policy: Path, env: str, base: Path, jobs: int | None = None, echo: Callable[[str], None] = print
) -> AppBuild:
    """Export ``policy`` (trained on scenario ``env``) into the app and build the firmware image.

    Raises:
        DeployError: No app folder (not a TinyRL checkout), or the build failed.
    """
    if not (APP_DIR / "Makefile").is_file():
        raise DeployError(f"{APP_DIR}: no Crazyflie app here (deploy runs from a TinyRL checkout)")
    for name in IMAGE_FILES:  # a failed export or build leaves no image of an earlier build to flash
        (APP_DIR / "build" / name).unlink(missing_ok=True)
    result = export_policy(policy, APP_DIR / "policy", target="cortex-m4", env=env, fits_on=False)
    echo(f"exported {policy} ({len(result.report['files'])} files) into {APP_DIR / 'policy'}")
    command = ["make", "-C", str(APP_DIR), f"-j{jobs or os.cpu_count() or 1}"]
    done = subprocess.run(
        command,
        # -fcallgraph-info=su: each object's stack use and calls, for scripts/crazyflie_app_sizes.py's stack figure.
        env={
            **os.environ,
            "CRAZYFLIE_BASE": str(base),
            "EXTRA_CFLAGS": f"{os.environ.get('EXTRA_CFLAGS', '')} -fcallgraph-info=su".strip(),
        },
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=die_with_this_thread(),
    )
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise DeployError(f"the firmware build failed (make exit {done.returncode}): {last}")
    build = APP_DIR / "build"
    sizes = app_sizes((build / "cf2.map").read_text(encoding="utf-8"), str(APP_DIR / "built-in.o"))
    return AppBuild(build / "cf2.elf", build / "cf2.bin", sizes)


def flash(binary: Path, uri: str, progress: Callable[[str, int], None] | None = None) -> None:
    """Write ``binary`` to the STM32 of the Crazyflie at ``uri`` with cflib's bootloader, then boot it.

    Raises:
        DeployError: No bootloader answered.
    """
    import cflib.crtp
    from cflib.bootloader import Bootloader, Target

    cflib.crtp.init_drivers()
    loader = Bootloader(uri)
    try:
        loader.flash_full(
            cf=None,
            filename=str(binary),
            warm=True,
            targets=[Target("cf2", "stm32", "fw", [], [])],
            progress_cb=progress,
        )
    except Exception as exc:  # cflib raises bare Exceptions for a missing bootloader
        raise DeployError(f"{uri}: flashing failed: {' '.join(str(exc).split())}") from None
    finally:
        loader.close()
