"""The supervisor's setpoint watchdog: level out after 500 ms without a setpoint, motors off after 2 s."""

import numpy as np
import pytest

from tinyrl.sim.drone import Quadrotors
from tinyrl.sim.supervisor import LEVEL_OUT_AFTER_S, MOTORS_OFF_AFTER_S, SetpointWatchdog, watchdog_mode


def test_watchdog_modes_follow_the_firmware_timeouts():
    assert watchdog_mode(0.0) == "hover"
    assert watchdog_mode(LEVEL_OUT_AFTER_S) == "hover"  # the firmware's test is "older than"
    assert watchdog_mode(LEVEL_OUT_AFTER_S + 1e-6) == "level"
    assert watchdog_mode(MOTORS_OFF_AFTER_S) == "level"
    assert watchdog_mode(MOTORS_OFF_AFTER_S + 1e-6) == "off"


def test_a_new_setpoint_ends_a_level_out_but_not_motors_off():
    dog = SetpointWatchdog(period_s=0.04)
    modes = [dog.missed() for _ in range(13)]
    assert modes[:12] == ["hover"] * 12 and modes[12] == "level"  # 13 x 40 ms = 0.52 s > 0.5 s
    assert dog.received() == "hover"
    modes = [dog.missed() for _ in range(51)]
    assert modes[-1] == "off" and modes[-2] == "level"  # 51 x 40 ms = 2.04 s > 2 s
    assert dog.received() == "off"  # latched until a new flight
    dog.reset()
    assert dog.received() == "hover"


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_drone_levels_out_holds_height_then_falls(backend):
    quads = Quadrotors(1, policy_rate_hz=25.0, backend=backend)
    quads.reset([0], np.array([[0.0, 0.0, 1.0]]))
    sp = np.array([[1.0, 0.0, 60.0, 1.0]])
    for _ in range(50):  # 2 s of fast forward flight while turning
        quads.step(sp)
    assert np.degrees(np.abs(quads.euler[0, :2])).max() > 2.0
    dog = SetpointWatchdog(period_s=0.04)
    yaw_before = quads.euler[0, 2]
    log = []
    for _ in range(70):  # 2.8 s without a setpoint
        mode = dog.missed()
        quads.step(sp, mode=mode)
        log.append((mode, quads.pos[0, 2], np.degrees(np.abs(quads.euler[0, :2])).max(), quads.rpm[0].max()))
    level = [row for row in log if row[0] == "level"]
    off = [row for row in log if row[0] == "off"]
    assert len(level) == 38 and len(off) == 20
    # Level out: attitude back to level within half a second, the setpoint's height held, yaw no longer turning.
    assert max(tilt for _, _, tilt, _ in level[12:]) < 1.0
    assert max(abs(z - 1.0) for _, z, _, _ in level) < 0.05
    assert min(r for *_, r in level) > 10000.0
    # Motors off: the rotors spin down and the drone drops.
    assert off[-1][3] < 1000.0
    assert off[-1][1] < 0.5
    assert abs(np.degrees(quads.euler[0, 2] - yaw_before)) < 45.0
