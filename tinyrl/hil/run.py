"""``tinyrl hil``: resolve the policy, start the device (QEMU or a port), handshake, fly, report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tinyrl.compress.artefacts import resolve_tflite
from tinyrl.compress.student import load_int8_policy
from tinyrl.hil.bridge import HilReport, expected_for, fly_episodes
from tinyrl.hil.faults import hil_fault
from tinyrl.hil.link import HilLink, HilLinkError
from tinyrl.hil.qemu import QemuSession, build_hil_firmware
from tinyrl.sim.course import Course
from tinyrl.tasks.config import ScenarioConfig

__all__ = ["run_hil"]


def run_hil(
    policy: Path,
    config: ScenarioConfig,
    *,
    port: str | None = None,
    qemu: bool = False,
    courses: Sequence[Course] | None = None,
    episodes: int = 5,
    seed: int = 0,
    build_dir: Path = Path("build/hil"),
    timeout_s: float = 0.1,
    retries: int = 5,
    progress: bool = False,
) -> HilReport:
    """Fly ``episodes`` episodes with the policy running on a device (``port``) or in QEMU (``qemu=True``).

    Args:
        policy: Policy folder (with ``policy_int8.tflite`` and its sidecar) or the ``.tflite``.
        config: The scenario.
        port: A pyserial URL of a device running the HIL firmware of this policy.
        qemu: Build the HIL firmware for the policy and run it under QEMU instead.
        courses: Courses to fly (default: unseen generated ones, as ``tinyrl eval``).
        episodes: Number of episodes.
        seed: Base seed.
        build_dir: Where the generated C and the image go (``--qemu``).
        timeout_s: Wait for an ACT before retrying.
        retries: Retries per step before giving up.
        progress: Live progress bar.

    ``$TINYRL_HIL_FAULT`` (:mod:`tinyrl.hil.faults`) makes the run signal itself or drop its link at a given step.
    QEMU is stopped on every way out: done, error, Ctrl-C, SIGTERM (a SIGKILL is the kernel's business:
    :mod:`tinyrl.processes`).

    Raises:
        HilLinkError: No device, an incompatible one, or a link that failed for good.
        ConfigError: A malformed ``$TINYRL_HIL_FAULT``.
    """
    if (port is None) == (not qemu):
        raise HilLinkError("give exactly one of --port URL or --qemu")
    fault = hil_fault()  # before QEMU starts
    tflite = resolve_tflite(policy)
    int8 = load_int8_policy(tflite)
    expected = expected_for(int8, tflite)
    session: QemuSession | None = None
    link: HilLink | None = None
    try:
        if qemu:
            session = QemuSession(build_hil_firmware(tflite, build_dir))
            port = session.start().url  # assigned first: an interrupt inside start() still reaches the finally
        assert port is not None
        link = HilLink.open(port, expected=expected, timeout_s=timeout_s, retries=retries)
        link.handshake()
        return fly_episodes(link, int8, config, courses, episodes, seed, progress=progress, fault=fault)
    finally:
        if link is not None:
            link.close()
        if session is not None:
            session.stop()
