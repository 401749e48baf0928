"""HIL through QEMU: the firmware flies the simulator exactly like the host int8 policy, through faults too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from hil_proxy import FaultyProxy
from typer.testing import CliRunner

if TYPE_CHECKING:
    from tinyrl.compress.student import Int8Policy
    from tinyrl.hil.link import HilLink
    from tinyrl.hil.qemu import QemuSession
    from tinyrl.tasks.config import ScenarioConfig

# QEMU and the ARM toolchain are part of the set-up: without them these tests fail (`make setup`), never skip.
pytestmark = pytest.mark.usefixtures("require_arm_tools")


@pytest.fixture(scope="module")
def require_arm_tools() -> None:
    missing = [t for t in ("qemu-system-arm", "arm-none-eabi-gcc") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run `make setup`")


ENV = "obstacle-course"

EPISODES = 5


@pytest.fixture(scope="module")
def config() -> ScenarioConfig:
    from tinyrl.tasks.config import load_scenario

    return load_scenario(ENV)


def _host_outcomes(policy_dir: Path, config: ScenarioConfig, episodes: int, seed: int) -> list[str]:
    from tinyrl.common.evaluate import evaluate
    from tinyrl.compress.student import load_int8_policy

    report = evaluate(load_int8_policy(policy_dir / "policy_int8.tflite"), config, episodes=episodes, seed=seed)
    return [e.outcome for e in report.episode_results]


def test_cli_flies_episodes_like_the_host(
    int8_policy_dir: Path, hil_elf: Path, tmp_path: Path, config: ScenarioConfig
) -> None:
    from tinyrl.cli import app

    out = tmp_path / "hil.json"
    result = CliRunner().invoke(
        app,
        [
            "hil",
            "--env",
            ENV,
            "--policy",
            str(int8_policy_dir),
            "--qemu",
            "--episodes",
            str(EPISODES),
            "--seed",
            "3",
            "--build-dir",
            str(hil_elf.parents[2]),
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["episodes"] == EPISODES
    assert report["mismatches"] == 0
    assert [e["outcome"] for e in report["episode_results"]] == _host_outcomes(int8_policy_dir, config, EPISODES, 3)
    assert report["round_trips"] == sum(report["episode_steps"]) > 0
    assert report["loop_hz"] >= 50  # lenient on a loaded CI machine; scripts/bench_hil.py measures the real rate
    lat = report["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    samples = report["latency_samples_ms"]
    assert len(samples) == report["round_trips"] and max(samples) == pytest.approx(lat["max"], abs=1e-3)
    assert report["link"]["timeouts"] == report["link"]["crc_errors"] == 0
    assert report["device"]["stats"]["crc_errors"] == 0
    assert report["device"]["instructions_per_inference"] > 0


def _link(session: QemuSession, policy_dir: Path, **kwargs: Any) -> tuple[HilLink, Int8Policy]:
    from tinyrl.compress.student import load_int8_policy
    from tinyrl.hil.bridge import expected_for
    from tinyrl.hil.link import HilLink

    tflite = policy_dir / "policy_int8.tflite"
    policy = load_int8_policy(tflite)
    link = HilLink.open(session.url, expected=expected_for(policy, tflite), **kwargs)
    link.handshake()
    return link, policy


def test_faults_never_apply_a_corrupt_action(
    int8_policy_dir: Path, qemu_session: QemuSession, config: ScenarioConfig
) -> None:
    from tinyrl.compress.student import load_int8_policy
    from tinyrl.hil.bridge import expected_for, fly_episodes
    from tinyrl.hil.link import HilLink

    tflite = int8_policy_dir / "policy_int8.tflite"
    policy = load_int8_policy(tflite)
    proxy = FaultyProxy(qemu_session.port, seed=11, p_flip=0.02, p_drop=0.02, p_dup=0.02)
    link = HilLink.open(f"socket://127.0.0.1:{proxy.port}", expected=expected_for(policy, tflite), timeout_s=0.2)
    try:
        link.handshake()
        report = fly_episodes(link, policy, config, episodes=1, seed=1)
        proxy.disable()
        stats = link.stats()
    finally:
        link.close()
        proxy.close()
    up, down = proxy.to_mcu, proxy.to_host
    assert up.flips + up.drops + up.dups + down.flips + down.drops + down.dups > 5, "too few faults to test anything"
    assert report.mismatches == 0
    assert [e["outcome"] for e in report.summary["episode_results"]] == _host_outcomes(int8_policy_dir, config, 1, 1)
    # Every corrupted frame is rejected, on the side that received it (CRC or COBS framing).
    assert link.counters.crc_errors + link.counters.framing_errors == down.flips
    assert stats.crc_errors + stats.framing_errors == up.flips
    # Every lost frame costs one timeout and one retry (a duplicated OBS can make up for a lost ACT; a slow
    # machine can add a late reply).
    losses = up.flips + up.drops + down.flips + down.drops
    assert link.counters.retries == link.counters.timeouts
    assert losses - up.dups <= link.counters.timeouts <= losses + 2
    assert link.counters.stale >= up.dups + down.dups - losses


def test_silent_device_is_levelled_out_then_stopped_by_the_supervisor_watchdog(
    int8_policy_dir: Path, qemu_session: QemuSession, config: ScenarioConfig
) -> None:
    """ACTs lost for 80 steps in a row: the drone flies the last setpoint, levels out, then its motors stop."""
    from tinyrl.compress.student import load_int8_policy
    from tinyrl.hil.bridge import expected_for, fly_episodes
    from tinyrl.hil.link import HilLink
    from tinyrl.sim.supervisor import LEVEL_OUT_AFTER_S, MOTORS_OFF_AFTER_S

    tflite = int8_policy_dir / "policy_int8.tflite"
    policy = load_int8_policy(tflite)
    first = 30  # HELLO is frame 0; then one ACT per step
    proxy = FaultyProxy(
        qemu_session.port, p_flip=0.0, p_drop=0.0, p_dup=0.0, skip_frames=0, drop_to_host=(first, first + 80)
    )
    link = HilLink.open(
        f"socket://127.0.0.1:{proxy.port}", expected=expected_for(policy, tflite), timeout_s=0.2, retries=0
    )
    try:
        link.handshake()
        report = fly_episodes(link, policy, config, episodes=1, seed=1)
    finally:
        link.close()
        proxy.close()
    sup = report.supervisor
    changes = [(c["step"], c["mode"]) for c in sup["mode_changes"]]
    assert [mode for _, mode in changes] == ["level", "off"]
    (level_step, _), (off_step, _) = changes
    dt_s = config.dt_s
    # The silence starts at the first missed step; modes change once the setpoint is older than each timeout.
    silent_from = level_step - int(LEVEL_OUT_AFTER_S / dt_s + 1e-9)
    assert (level_step - silent_from + 1) * dt_s > LEVEL_OUT_AFTER_S >= (level_step - silent_from) * dt_s
    assert (off_step - silent_from + 1) * dt_s > MOTORS_OFF_AFTER_S >= (off_step - silent_from) * dt_s
    assert sup["missed_setpoints"] >= off_step - silent_from + 1
    assert sup["level_out_steps"] == off_step - level_step
    # Without motors the drone falls: the episode ends in a crash while the device is still silent.
    assert report.summary["episode_results"][0]["outcome"] == "collision"
    assert report.episode_steps[0] <= first - 1 + 80
    assert report.mismatches == 0


def test_watchdog_reports_failsafe_within_100_ms(int8_policy_dir: Path, qemu_session: QemuSession) -> None:
    from tinyrl.compress.reference import quantize_input

    link, policy = _link(qemu_session, int8_policy_dir)
    try:
        obs_q = quantize_input(policy.model, np.zeros((1, policy.obs_dim), dtype=np.float32))[0]
        reply = link.step(obs_q)
        event = link.wait_failsafe(timeout_s=20.0)  # 100 ms of SysTick time: about 1-2 s of wall time under QEMU
        assert event is not None and event.mode == 1  # hover
        hello = link.hello
        assert hello is not None
        silent_ms = event.ticks_since_obs / hello.tick_hz * 1e3
        assert hello.watchdog_ms <= silent_ms < hello.watchdog_ms + 1.0
        zero = policy.model.output.zero_point
        assert event.action.tolist()[:3] == [zero] * 3 and event.action[3] == reply.action[3]  # hold height
        assert link.stats().watchdog_trips == 1
        assert np.array_equal(link.step(obs_q).action, reply.action)  # the next OBS ends the failsafe
    finally:
        link.close()


def test_device_reset_mid_session_rehandshakes(int8_policy_dir: Path, qemu_session: QemuSession) -> None:
    from tinyrl.compress.reference import quantize_input, run_int8

    link, policy = _link(qemu_session, int8_policy_dir, timeout_s=0.5)
    try:
        obs_q = quantize_input(policy.model, np.full((1, policy.obs_dim), 0.3, dtype=np.float32))[0]
        link.step(obs_q)
        link.reset_device()
        reply = link.step(obs_q)
        assert link.counters.rehandshakes == 1
        assert np.array_equal(reply.action, run_int8(policy.model, obs_q))
        assert link.stats().frames_ok <= 3  # counters restarted with the firmware
    finally:
        link.close()


def test_dead_link_fails_cleanly_after_retries(int8_policy_dir: Path, qemu_session: QemuSession) -> None:
    from tinyrl.compress.reference import quantize_input
    from tinyrl.hil.link import HilLinkError

    proxy = FaultyProxy(
        qemu_session.port, p_flip=0.0, p_drop=1.0, p_dup=0.0, skip_frames=2
    )  # the boot delimiter and HELLO pass
    try:
        link, policy = _link(
            type("Via", (), {"url": f"socket://127.0.0.1:{proxy.port}"})(), int8_policy_dir, timeout_s=0.05, retries=2
        )
        obs_q = quantize_input(policy.model, np.zeros((1, policy.obs_dim), dtype=np.float32))[0]
        with pytest.raises(HilLinkError, match="no valid ACT after 3 tries"):
            link.step(obs_q)
        assert link.counters.timeouts == 3 and link.counters.retries == 2
        link.close()
    finally:
        proxy.close()
