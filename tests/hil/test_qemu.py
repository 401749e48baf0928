"""HIL through QEMU: the firmware flies the simulator exactly like the host int8 policy, through faults too."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from hil_cases import EVERY_HEAD
from hil_proxy import FaultyProxy, Schedule
from typer.testing import CliRunner

from tinyrl.hil.link import HilLink, Reply
from tinyrl.hil.protocol import obs_payloads

if TYPE_CHECKING:
    from tinyrl.compress.student import Int8Policy
    from tinyrl.hil.qemu import QemuSession
    from tinyrl.sim.course import Course
    from tinyrl.tasks.config import ScenarioConfig

# QEMU and the ARM toolchain are part of the set-up: without them these tests fail (`make setup`), never skip.
pytestmark = pytest.mark.usefixtures("require_arm_tools")


@pytest.fixture(scope="module")
def require_arm_tools() -> None:
    missing = [t for t in ("qemu-system-arm", "arm-none-eabi-gcc") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run `make setup`")


EPISODES = 5

# Wherever a reply is expected the host waits this long: a QEMU round trip takes ~10 ms even on a loaded machine,
# so a timeout means a lost frame, never a slow one.
REPLY_TIMEOUT_S = 3.0
# Only for a try whose frame the proxy drops: no reply can come, so the short wait races nothing.
LOST_REPLY_TIMEOUT_S = 0.05


@pytest.fixture(scope="session")
def config(hil_env: str) -> ScenarioConfig:
    from tinyrl.tasks.config import load_scenario

    return load_scenario(hil_env)


def _host_outcomes(policy_dir: Path, config: ScenarioConfig, episodes: int, seed: int) -> list[str]:
    from tinyrl.common.evaluate import evaluate
    from tinyrl.compress.student import load_int8_policy

    report = evaluate(load_int8_policy(policy_dir / "policy_int8.tflite"), config, episodes=episodes, seed=seed)
    return [e.outcome for e in report.episode_results]


@EVERY_HEAD
def test_cli_flies_episodes_like_the_host(
    shipped_policy_dir: Path, hil_elf: Path, tmp_path: Path, config: ScenarioConfig
) -> None:
    """``tinyrl hil --qemu``: the device's actions, continuous or argmax indices, fly the host int8 policy's flights."""
    from tinyrl.cli import app
    from tinyrl.tasks.actions import action_map

    out = tmp_path / "hil.json"
    result = CliRunner().invoke(
        app,
        [
            "hil",
            "--env",
            config.name,
            "--policy",
            str(shipped_policy_dir),
            "--qemu",
            "--episodes",
            str(EPISODES),
            "--seed",
            "3",
            "--build-dir",
            str(hil_elf.parents[2]),
            "--timeout-ms",
            str(REPLY_TIMEOUT_S * 1e3),
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert str(shipped_policy_dir) not in out.read_text()  # no folder of this machine in the report
    report = json.loads(out.read_text())
    assert report["episodes"] == EPISODES
    assert report["mismatches"] == 0
    assert [e["outcome"] for e in report["episode_results"]] == _host_outcomes(shipped_policy_dir, config, EPISODES, 3)
    assert report["round_trips"] == sum(report["episode_steps"]) > 0
    assert report["loop_hz"] > 0  # the rate itself is scripts/bench_hil.py's business
    lat = report["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    samples = report["latency_samples_ms"]
    assert len(samples) == report["round_trips"] and max(samples) == pytest.approx(lat["max"], abs=1e-3)
    # No fault injected, so no link event at all. FAILSAFE frames are left out: the device's watchdog counts emulated
    # time, and a host busy for a while between steps (numba compiling the simulator) can let it trip.
    assert {k: v for k, v in report["link"].items() if k != "failsafes"} == {
        k: 0 for k in ("crc_errors", "framing_errors", "timeouts", "retries", "stale", "rehandshakes", "unexpected")
    }
    assert report["supervisor"]["missed_setpoints"] == 0
    assert report["device"]["stats"]["crc_errors"] == report["device"]["stats"]["framing_errors"] == 0
    assert report["device"]["instructions_per_inference"] > 0
    # One output per action value, or per discrete action (the host takes their argmax).
    assert report["device"]["act_size"] == action_map(config.action).width


def _link(url: str, policy_dir: Path, link_type: type[HilLink] = HilLink, **kwargs: Any) -> tuple[HilLink, Int8Policy]:
    """A handshaken link to ``url`` expecting the policy of ``policy_dir``, and that policy."""
    from tinyrl.compress.student import load_int8_policy
    from tinyrl.hil.bridge import expected_for

    tflite = policy_dir / "policy_int8.tflite"
    policy = load_int8_policy(tflite)
    link = link_type.open(url, expected=expected_for(policy, tflite), **kwargs)
    link.handshake()
    return link, policy


def _long_flight(policy_dir: Path, config: ScenarioConfig, steps: int) -> tuple[int, str]:
    """The first episode seed from 1 whose host int8 flight lasts at least ``steps`` policy steps, and its outcome.

    A fault scheduled after the episode's end would never happen, and how long a flight lasts is the shipped policy's.
    """
    from tinyrl.common.evaluate import evaluate
    from tinyrl.compress.student import load_int8_policy

    policy = load_int8_policy(policy_dir / "policy_int8.tflite")
    for seed in range(1, 101):
        episode = evaluate(policy, config, episodes=1, seed=seed).episode_results[0]
        if episode.time_s >= steps * config.dt_s:
            return seed, episode.outcome
    raise AssertionError(f"no episode seed in 1..100 flies {steps} steps with this policy")


def _count(schedule: Schedule, fault: str) -> int:
    return sum(f == fault for faults in schedule.values() for f in faults)


# Faults by step stamp (1 = first step), each on its own step and five steps apart so their effects never overlap.
# Stamp 45 loses its first ACT and then its retry's ACT too: two lost frames, two timeouts, two retries.
OBS_FAULTS: Schedule = {10: ("drop",), 20: ("flip",), 30: ("dup",), 40: ("drop",), 50: ("flip",), 60: ("dup",)}
ACT_FAULTS: Schedule = {15: ("drop",), 25: ("flip",), 35: ("dup",), 45: ("drop", "flip"), 55: ("flip",), 65: ("dup",)}


@EVERY_HEAD
def test_faults_never_apply_a_corrupt_action(
    shipped_policy_dir: Path, qemu_session: QemuSession, config: ScenarioConfig
) -> None:
    """Scheduled flips, drops and duplicates both ways: the same flight as the host's, every fault counted exactly."""
    from tinyrl.hil.bridge import fly_episodes

    seed, host_outcome = _long_flight(shipped_policy_dir, config, max(*OBS_FAULTS, *ACT_FAULTS))
    proxy = FaultyProxy(qemu_session.port, obs_faults=OBS_FAULTS, act_faults=ACT_FAULTS, seed=11)
    try:
        link, policy = _link(proxy.url, shipped_policy_dir, timeout_s=REPLY_TIMEOUT_S)
        try:
            report = fly_episodes(link, policy, config, episodes=1, seed=seed)
            stats = link.stats()
        finally:
            link.close()
    finally:
        proxy.close()
    assert report.mismatches == 0
    assert [e["outcome"] for e in report.summary["episode_results"]] == [host_outcome]
    up, down = proxy.to_mcu, proxy.to_host
    # Every scheduled fault happened (the episode is long enough to reach the last stamp).
    assert (up.drops, up.flips, up.dups) == tuple(_count(OBS_FAULTS, f) for f in ("drop", "flip", "dup"))
    assert (down.drops, down.flips, down.dups) == tuple(_count(ACT_FAULTS, f) for f in ("drop", "flip", "dup"))
    # Every corrupted frame is rejected, on the side that received it (CRC or COBS framing).
    assert link.counters.crc_errors + link.counters.framing_errors == down.flips
    assert stats.crc_errors + stats.framing_errors == up.flips
    # Every lost frame (dropped, or rejected for a flipped bit) costs exactly one timeout and one retry; every
    # duplicate (an OBS answered twice, or an ACT sent twice) is exactly one stale ACT.
    lost = up.drops + up.flips + down.drops + down.flips
    assert link.counters.timeouts == link.counters.retries == lost
    assert link.counters.stale == up.dups + down.dups
    assert link.counters.rehandshakes == link.counters.unexpected == 0
    assert report.supervisor["missed_setpoints"] == 0


FIRST_SILENT_STEP = 30  # 0-based; it carries stamp FIRST_SILENT_STEP + 1
SILENT_STEPS = 80


@dataclass
class _LossAwareLink(HilLink):
    """A :class:`HilLink` that waits briefly only on the steps whose ACT the proxy drops (``lost_stamps``).

    With ``retries=0`` each step is one try, so a short wait there races nothing, and every other step keeps the
    generous :data:`REPLY_TIMEOUT_S`.
    """

    lost_stamps: frozenset[int] = frozenset()
    steps_sent: int = 0

    def step(self, obs_q: np.ndarray) -> Reply:
        self.steps_sent += 1  # the stamp this step carries
        self.timeout_s = LOST_REPLY_TIMEOUT_S if self.steps_sent in self.lost_stamps else REPLY_TIMEOUT_S
        try:
            return super().step(obs_q)
        finally:
            self.timeout_s = REPLY_TIMEOUT_S


@EVERY_HEAD
def test_silent_device_is_levelled_out_then_stopped_by_the_supervisor_watchdog(
    shipped_policy_dir: Path, qemu_session: QemuSession, config: ScenarioConfig
) -> None:
    """ACTs lost for 80 steps in a row: the drone flies the last setpoint, levels out, then its motors stop."""
    from tinyrl.common.evaluate import eval_courses
    from tinyrl.hil.bridge import fly_episodes
    from tinyrl.sim.supervisor import LEVEL_OUT_AFTER_S, MOTORS_OFF_AFTER_S

    # Only the fall may end the episode, whatever policy is shipped: no obstacle to coast into while levelling out,
    # and an arena wider than the coast.
    courses = [_open_field(c, margin_m=30.0) for c in eval_courses(config, 1, seed=1)]
    lost = frozenset(range(FIRST_SILENT_STEP + 1, FIRST_SILENT_STEP + 1 + SILENT_STEPS))
    proxy = FaultyProxy(qemu_session.port, act_faults={stamp: ("drop",) for stamp in lost})
    try:
        link, policy = _link(
            proxy.url, shipped_policy_dir, _LossAwareLink, timeout_s=REPLY_TIMEOUT_S, retries=0, lost_stamps=lost
        )
        try:
            report = fly_episodes(link, policy, config, courses, episodes=1, seed=1)
        finally:
            link.close()
    finally:
        proxy.close()
    sup = report.supervisor
    changes = [(c["step"], c["mode"]) for c in sup["mode_changes"]]
    assert [mode for _, mode in changes] == ["level", "off"]
    (level_step, _), (off_step, _) = changes
    dt_s = config.dt_s
    # The silence starts at the first dropped ACT; modes change once the setpoint is older than each timeout.
    silent_from = FIRST_SILENT_STEP
    assert (level_step - silent_from + 1) * dt_s > LEVEL_OUT_AFTER_S >= (level_step - silent_from) * dt_s
    assert (off_step - silent_from + 1) * dt_s > MOTORS_OFF_AFTER_S >= (off_step - silent_from) * dt_s
    assert sup["level_out_steps"] == off_step - level_step
    # Without motors the drone falls: the episode ends in a crash while the device is still silent.
    assert report.summary["episode_results"][0]["outcome"] == "collision"
    steps = report.episode_steps[0]
    assert silent_from < steps <= silent_from + SILENT_STEPS
    # Every step from the first dropped ACT on missed its setpoint, by one timeout each, and no other step did.
    assert sup["missed_setpoints"] == steps - silent_from == proxy.to_host.drops
    assert report.link["timeouts"] == sup["missed_setpoints"] and report.link["retries"] == 0
    assert sup["motors_off_steps"] == steps - off_step
    assert report.mismatches == 0


@EVERY_HEAD
def test_watchdog_reports_failsafe_within_100_ms(shipped_policy_dir: Path, qemu_session: QemuSession) -> None:
    """No OBS for 100 ms: FAILSAFE "hover", velocities and yaw rate at zero and the height held; for a discrete
    policy every output at the zero point (no action preferred)."""
    from tinyrl.compress.reference import quantize_input

    link, policy = _link(qemu_session.url, shipped_policy_dir, timeout_s=REPLY_TIMEOUT_S)
    try:
        obs_q = quantize_input(policy.model, np.zeros((1, policy.obs_dim), dtype=np.float32))[0]
        reply = link.step(obs_q)
        event = link.wait_failsafe(timeout_s=20.0)  # 100 ms of SysTick time: about 1-2 s of wall time under QEMU
        assert event is not None and event.mode == 1  # hover
        assert link.counters.failsafes == 1
        hello = link.hello
        assert hello is not None
        silent_ms = event.ticks_since_obs / hello.tick_hz * 1e3
        assert hello.watchdog_ms <= silent_ms < hello.watchdog_ms + 1.0
        zero = policy.model.output.zero_point
        if policy.head == "argmax":
            assert event.action.tolist() == [zero] * policy.model.out_features
        else:
            assert event.action.tolist()[:3] == [zero] * 3 and event.action[3] == reply.action[3]  # hold height
        assert link.stats().watchdog_trips == 1
        assert np.array_equal(link.step(obs_q).action, reply.action)  # the next OBS ends the failsafe
        assert link.counters.timeouts == link.counters.retries == 0
    finally:
        link.close()


def test_device_reset_mid_session_rehandshakes(shipped_policy_dir: Path, qemu_session: QemuSession) -> None:
    """RESET, then a step: the boot HELLO arrives first, the host re-handshakes and resends; nothing times out.

    The proxy holds the step's first OBS until the rebooted device has said HELLO, so that OBS is answered (late, a
    stale ACT) instead of being half-read by the firmware that was resetting.
    """
    from tinyrl.compress.reference import quantize_input, run_int8

    proxy = FaultyProxy(qemu_session.port, hold_after_reset=True)
    try:
        link, policy = _link(proxy.url, shipped_policy_dir, timeout_s=REPLY_TIMEOUT_S)
        try:
            obs_q = quantize_input(policy.model, np.full((1, policy.obs_dim), 0.3, dtype=np.float32))[0]
            link.step(obs_q)
            link.reset_device()
            reply = link.step(obs_q)
            assert np.array_equal(reply.action, run_int8(policy.model, obs_q))
            assert link.counters.rehandshakes == 1 and reply.tries == 2
            assert (link.counters.retries, link.counters.stale, link.counters.timeouts) == (1, 1, 0)
            stats = link.stats()
            # Counters restarted with the firmware: both tries' observation frames and this STATS request.
            per_step = len(obs_payloads(0, obs_q))  # OBS_PART frames before the OBS of an observation over 28 B
            assert (stats.frames_ok, stats.crc_errors, stats.framing_errors) == (2 * per_step + 1, 0, 0)
        finally:
            link.close()
    finally:
        proxy.close()


def test_dead_link_fails_cleanly_after_retries(shipped_policy_dir: Path, qemu_session: QemuSession) -> None:
    """Every try's OBS is dropped: exactly three timeouts and two retries, then a clear error."""
    from tinyrl.compress.reference import quantize_input
    from tinyrl.hil.link import HilLinkError

    proxy = FaultyProxy(qemu_session.port, obs_faults={1: ("drop", "drop", "drop")})
    try:
        link, policy = _link(proxy.url, shipped_policy_dir, timeout_s=LOST_REPLY_TIMEOUT_S, retries=2)
        try:
            obs_q = quantize_input(policy.model, np.zeros((1, policy.obs_dim), dtype=np.float32))[0]
            with pytest.raises(HilLinkError, match="no valid ACT after 3 tries"):
                link.step(obs_q)
            assert link.counters.timeouts == 3 and link.counters.retries == 2
            assert proxy.to_mcu.drops == 3
        finally:
            link.close()
    finally:
        proxy.close()


def _open_field(course: Course, margin_m: float) -> Course:
    """``course`` without obstacles, its arena widened by ``margin_m`` on each horizontal side."""
    (x0, x1), (y0, y1) = course.arena.x, course.arena.y
    arena = course.arena.model_copy(update={"x": (x0 - margin_m, x1 + margin_m), "y": (y0 - margin_m, y1 + margin_m)})
    return course.model_copy(update={"obstacles": [], "arena": arena})


def test_each_episode_starts_with_a_fresh_supervisor_watchdog(
    shipped_policy_dir: Path, qemu_session: QemuSession, config: ScenarioConfig
) -> None:
    """Episode 0 loses its actions until the watchdog stops the motors; episode 1 flies exactly like the host."""
    from tinyrl.common.evaluate import eval_courses, evaluate
    from tinyrl.hil.bridge import fly_episodes
    from tinyrl.sim.supervisor import MOTORS_OFF_AFTER_S

    # Episode 0 loses the actions of steps 20 to 20 + n_lost - 1 (0-based; stamps one higher), more than the 2 s
    # after which the motors stop; the drone (seed 1) falls without motors, and episode 1 starts with every action.
    # Only that fall may end episode 0, whatever policy is shipped: ending it sooner would carry the rest of the lost
    # actions into episode 1. So the courses have no obstacles to fly blind into, and an arena 30 m wider on every
    # side than the drone can coast in the supervisor's level-out.
    courses = [_open_field(c, margin_m=30.0) for c in eval_courses(config, 2, seed=1)]
    first, n_lost = 20, int(MOTORS_OFF_AFTER_S / config.dt_s) + 5
    lost = frozenset(range(first + 1, first + 1 + n_lost))
    proxy = FaultyProxy(qemu_session.port, act_faults={stamp: ("drop",) for stamp in lost})
    try:
        link, policy = _link(
            proxy.url, shipped_policy_dir, _LossAwareLink, timeout_s=REPLY_TIMEOUT_S, retries=0, lost_stamps=lost
        )
        try:
            report = fly_episodes(link, policy, config, courses, episodes=2, seed=1)
        finally:
            link.close()
    finally:
        proxy.close()
    sup = report.supervisor
    assert [(c["episode"], c["mode"]) for c in sup["mode_changes"]] == [(0, "level"), (0, "off")]
    flown = report.summary["episode_results"]
    assert flown[0]["outcome"] == "collision"  # motors off stays off for the rest of the flight: the drone falls
    assert sup["missed_setpoints"] == n_lost == proxy.to_host.drops  # every lost action fell in episode 0
    host = evaluate(policy, config, courses, episodes=2, seed=1).episode_results[1]
    assert flown[1] == host.__dict__, "episode 1 re-armed: flown in hover with every action, like the host"
    assert report.mismatches == 0


def test_version_1_host_is_told_the_device_version(shipped_policy_dir: Path, qemu_session: QemuSession) -> None:
    """A version-1 host's HELLO request gets the firmware's HELLO in version-1 framing, carrying version 2, which
    that host's version check refuses; the firmware counts the request as a framing error and acts on nothing."""
    import struct
    import time

    from tinyrl.hil.protocol import VERSION, Hello, MsgType, cobs_decode, cobs_encode, crc16

    link, _ = _link(qemu_session.url, shipped_policy_dir, timeout_s=REPLY_TIMEOUT_S)
    try:
        request = bytes((MsgType.HELLO, 42))
        link.port.write(cobs_encode(request + struct.pack("<H", crc16(request))) + b"\x00")
        received, reply = b"", None
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while reply is None and time.monotonic() < deadline:
            received += link.port.read(64)
            for body in received.split(b"\x00")[:-1]:  # a version-1 frame: type, seq, payload, CRC-16 LE
                raw = cobs_decode(body)
                if raw and len(raw) == 22 and crc16(raw[:-2]) == struct.unpack("<H", raw[-2:])[0]:
                    reply = raw
        assert reply is not None, f"no version-1 HELLO within {REPLY_TIMEOUT_S} s; got {received.hex()}"
        assert reply[:2] == bytes((MsgType.HELLO, 42))
        hello = Hello.unpack(reply[2:-2])
        assert hello.version == VERSION == 2 and link.hello is not None and hello.model_hash == link.hello.model_hash
        stats = link.stats()  # the device still speaks version 2
        assert (stats.frames_ok, stats.crc_errors, stats.framing_errors) == (1, 0, 1)
    finally:
        link.close()
