"""HIL episodes in the shared episode loop: each episode starts with a fresh supervisor watchdog."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hil_proxy import FaultyProxy

if TYPE_CHECKING:
    from tinyrl.hil.qemu import QemuSession

# QEMU and the ARM toolchain are part of the set-up: without them these tests fail (`make setup`), never skip.
pytestmark = pytest.mark.usefixtures("require_arm_tools")


@pytest.fixture(scope="module")
def require_arm_tools() -> None:
    missing = [t for t in ("qemu-system-arm", "arm-none-eabi-gcc") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run `make setup`")


def test_each_episode_starts_with_a_fresh_supervisor_watchdog(int8_policy_dir: Path, qemu_session: QemuSession) -> None:
    """Episode 0 loses its actions until the watchdog stops the motors; episode 1 flies exactly like the host."""
    from tinyrl.common.evaluate import evaluate
    from tinyrl.compress.student import load_int8_policy
    from tinyrl.hil.bridge import expected_for, fly_episodes
    from tinyrl.hil.link import HilLink
    from tinyrl.sim.supervisor import MOTORS_OFF_AFTER_S
    from tinyrl.tasks.config import load_scenario

    config = load_scenario("obstacle-course")
    tflite = int8_policy_dir / "policy_int8.tflite"
    policy = load_int8_policy(tflite)
    # Episode 0 loses the actions of steps 20 to 20 + lost - 1, more than the 2 s after which the motors stop;
    # from step 20 this drone (seed 1) drifts on its last setpoint and levels out without hitting anything, so the
    # watchdog stops its motors before the episode ends, and the actions come back before episode 1 starts.
    first, lost = 20, int(MOTORS_OFF_AFTER_S / config.dt_s) + 5
    proxy = FaultyProxy(qemu_session.port, p_flip=0.0, p_drop=0.0, p_dup=0.0, drop_acts_to_host=(first, first + lost))
    link = HilLink.open(
        f"socket://127.0.0.1:{proxy.port}", expected=expected_for(policy, tflite), timeout_s=0.2, retries=0
    )
    try:
        link.handshake()
        report = fly_episodes(link, policy, config, episodes=2, seed=1)
    finally:
        link.close()
        proxy.close()
    sup = report.supervisor
    assert sup["missed_setpoints"] == lost == proxy.to_host.drops
    assert [(c["episode"], c["mode"]) for c in sup["mode_changes"]] == [(0, "level"), (0, "off")]
    flown = report.summary["episode_results"]
    assert flown[0]["outcome"] == "collision"  # motors off stays off for the rest of the flight: the drone falls
    host = evaluate(policy, config, episodes=2, seed=1).episode_results[1]
    assert flown[1] == host.__dict__, "episode 1 re-armed: flown in hover with every action, like the host"
    assert report.mismatches == 0
