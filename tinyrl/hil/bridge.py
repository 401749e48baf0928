"""Hardware in the loop: fly the simulator with the microcontroller's actions.

Episode ``j`` flies course ``j % len(courses)`` with the random stream ``seed + j`` and domain randomization off, in
the loop :func:`tinyrl.common.evaluate.evaluate` flies (:func:`tinyrl.common.episodes.run_episodes`), so a HIL run is
comparable with a host-only run of the same int8 policy. The device is the policy (:class:`LinkPolicy`). Each step:
quantize the observation (TFLite QUANTIZE), send it as OBS, wait for ACT, compare the device's int8 action with the
host reference (:func:`tinyrl.compress.reference.run_int8`, TFLite Micro rounding), dequantize it, apply the
policy's head (clip / argmax) like :class:`~tinyrl.compress.student.Int8Policy`, and step the simulator with it. The
loop is free-running: it steps as fast as the link answers, not at the scenario's policy rate.

A step whose ACT never arrives (the link gave up after its retries) is a setpoint the drone did not get: the
simulated drone keeps flying the last one, and the firmware supervisor's watchdog (:mod:`tinyrl.sim.supervisor`)
levels it out after 500 ms of missed setpoints and stops its motors after 2 s, counted in simulated time. The run
fails when the device stays silent past that.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress, TaskID

from tinyrl.common.episodes import Episode, EpisodeObserver, numbered_starts, run_episodes
from tinyrl.common.evaluate import eval_courses, summarize
from tinyrl.compress.reference import dequantize_output, quantize_input, run_int8
from tinyrl.compress.student import Int8Policy
from tinyrl.hil.faults import fire_hil_fault
from tinyrl.hil.link import Expected, HilLink, HilLinkError
from tinyrl.sim.course import Course
from tinyrl.sim.supervisor import MOTORS_OFF_AFTER_S, SetpointWatchdog
from tinyrl.tasks.config import ScenarioConfig
from tinyrl.tasks.core import BatchedTask
from tinyrl.train.faults import Fault

__all__ = ["HilReport", "LinkPolicy", "apply_head", "expected_for", "fly_episodes", "latency_summary"]


@dataclass
class HilReport:
    """What ``tinyrl hil --json`` writes: the evaluation summary plus link timing and errors."""

    summary: dict[str, Any]
    round_trips: int
    loop_hz: float
    latency_ms: dict[str, float]
    mismatches: int
    mismatch_steps: list[dict[str, Any]]
    link: dict[str, int]
    device: dict[str, Any]
    episode_steps: list[int] = field(default_factory=list)
    latency_samples_ms: list[float] = field(default_factory=list)
    """Every round trip's latency (ms, in flight order), for histograms; ``latency_ms`` summarizes them."""
    supervisor: dict[str, Any] = field(default_factory=dict)
    """Missed setpoints and what the watchdog flew instead: counts, and each change of mode (episode, step, mode)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            **self.summary,
            "round_trips": self.round_trips,
            "loop_hz": self.loop_hz,
            "latency_ms": self.latency_ms,
            "mismatches": self.mismatches,
            "mismatch_steps": self.mismatch_steps,
            "link": self.link,
            "device": self.device,
            "episode_steps": self.episode_steps,
            "latency_samples_ms": self.latency_samples_ms,
            "supervisor": self.supervisor,
        }


def expected_for(policy: Int8Policy, tflite: Path) -> Expected:
    """What the handshake must see for ``policy`` loaded from ``tflite``."""
    return Expected(
        policy.model.in_features, policy.model.out_features, hashlib.sha256(tflite.read_bytes()).digest()[:4]
    )


def apply_head(policy: Int8Policy, y: np.ndarray) -> np.ndarray:
    """The action from dequantized outputs ``(B, out)``, exactly as :meth:`Int8Policy.act` does."""
    if policy.head == "argmax":
        return np.argmax(y, axis=1)
    if policy.head == "tanh":
        return np.tanh(y)
    return np.clip(y, -1.0, 1.0)


def latency_summary(rtt_s: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max/mean of round-trip times, in ms."""
    if not rtt_s:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    ms = np.asarray(rtt_s) * 1e3
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {
        "p50": round(float(p50), 3),
        "p90": round(float(p90), 3),
        "p99": round(float(p99), 3),
        "max": round(float(ms.max()), 3),
        "mean": round(float(ms.mean()), 3),
    }


class LinkPolicy(EpisodeObserver):
    """The device's int8 policy over a handshaken HIL link, as a :class:`~tinyrl.common.policy.Policy` of one drone.

    :meth:`act` quantizes the observation, sends it, compares the device's int8 action with the host reference and
    returns it with the policy's head applied. A step whose ACT never arrives flies the last action again, in the
    mode the firmware supervisor's watchdog gives a setpoint that old (:meth:`controller_mode`); as an
    :class:`EpisodeObserver` it restarts the watchdog at each episode start.

    Args:
        link: An open, handshaken :class:`HilLink`.
        policy: The host int8 policy (reference and head).
        period_s: The policy period (s): how much older the last setpoint gets per missed step.
        fault: A fault to do before the exchange of that step (:mod:`tinyrl.hil.faults`), or None.
    """

    #: Mismatching steps kept in :attr:`mismatch_steps` (all are counted in :attr:`mismatches`).
    MAX_MISMATCH_STEPS = 20
    #: Mode changes kept in :attr:`mode_changes`.
    MAX_MODE_CHANGES = 100

    def __init__(self, link: HilLink, policy: Int8Policy, period_s: float, fault: Fault | None = None) -> None:
        self.link, self.policy, self.period_s = link, policy, period_s
        self.fault = fault
        self.steps_flown = 0
        self.watchdog = SetpointWatchdog(period_s=period_s)
        # Give up once the supervisor has cut the motors and the device still says nothing for another second.
        self.give_up_s = MOTORS_OFF_AFTER_S + 1.0
        self.rtts_s: list[float] = []
        self.ticks: list[int] = []
        self.mismatches = 0
        self.mismatch_steps: list[dict[str, Any]] = []
        self.missed = 0
        self.mode_steps = {"hover": 0, "level": 0, "off": 0}
        self.mode_changes: list[dict[str, Any]] = []
        self.episode = 0
        self.step = 0
        self.mode = "hover"
        self.action: np.ndarray | None = None

    @property
    def obs_dim(self) -> int:
        """Observation width of the device's policy."""
        return self.policy.obs_dim

    def episode_started(self, task: BatchedTask, slot: int, episode: int) -> None:
        """A new flight: fresh watchdog, no action yet."""
        self.watchdog.reset()
        self.episode, self.step, self.mode, self.action = episode, 0, "hover", None

    def controller_mode(self) -> str:
        """The mode the action :meth:`act` last returned is flown in: hover, level (out) or off."""
        return self.mode

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The device's action for observations ``(1, obs_dim)``: ``(1, 4)`` continuous or ``(1,)`` an index.

        Raises:
            HilLinkError: The link failed for good, with no action yet this episode or past the supervisor's
                motors-off time plus one second.
        """
        model = self.policy.model
        obs_q = quantize_input(model, obs)
        self.steps_flown += 1
        if self.fault is not None and self.steps_flown >= self.fault.steps:
            fault, self.fault = self.fault, None
            fire_hil_fault(fault, self.link)
        try:
            reply = self.link.step(obs_q[0])
        except HilLinkError as exc:
            silent_s = self.watchdog.age_s + self.period_s
            if self.action is None or silent_s > self.give_up_s:
                raise HilLinkError(
                    f"{exc}; the device sent no action for {silent_s:.2f} s of flight"
                    f" (episode {self.episode}, step {self.step})"
                ) from exc
            self.missed += 1
            flown = self.watchdog.missed()
            action = self.action
        else:
            flown = self.watchdog.received()
            self.rtts_s.append(reply.rtt_s)
            self.ticks.append(reply.ticks)
            reference = run_int8(model, obs_q, reference=self.policy.reference)
            if not np.array_equal(reference[0], reply.action):
                self.mismatches += 1
                if len(self.mismatch_steps) < self.MAX_MISMATCH_STEPS:
                    self.mismatch_steps.append(
                        {
                            "episode": self.episode,
                            "step": self.step,
                            "device": reply.action.tolist(),
                            "host": reference[0].tolist(),
                        }
                    )
            action = apply_head(self.policy, dequantize_output(model, reply.action[None, :]))
        if flown != self.mode and len(self.mode_changes) < self.MAX_MODE_CHANGES:
            self.mode_changes.append({"episode": self.episode, "step": self.step, "mode": flown})
        self.mode = flown
        self.mode_steps[flown] += 1
        self.step += 1
        self.action = action
        return action


class HilProgress(EpisodeObserver):
    """Advances a progress bar per finished episode and shows the steps per second of the link."""

    def __init__(self, bar: Progress, task_id: TaskID, device: LinkPolicy, episodes: int) -> None:
        self.bar, self.task_id, self.device, self.episodes = bar, task_id, device, episodes
        self.t_start = time.perf_counter()

    def episode_finished(self, episode: int, result: Episode, steps: int) -> None:
        """One more episode done."""
        rate_hz = len(self.device.rtts_s) / (time.perf_counter() - self.t_start)
        self.bar.update(self.task_id, advance=1, description=f"HIL: {self.episodes} episodes, {rate_hz:.0f} steps/s")


def fly_episodes(
    link: HilLink,
    policy: Int8Policy,
    config: ScenarioConfig,
    courses: Sequence[Course] | None = None,
    episodes: int = 5,
    seed: int = 0,
    progress: bool = False,
    fault: Fault | None = None,
) -> HilReport:
    """Fly ``episodes`` episodes with the device's actions (the link must be handshaken).

    Args:
        link: An open, handshaken :class:`HilLink`.
        policy: The host int8 policy (reference and head).
        config: The scenario.
        courses: Courses (episode ``j`` flies ``courses[j % len]``); unseen generated ones if None.
        episodes: Number of episodes.
        seed: Base seed: episode ``j`` uses ``seed + j``.
        progress: Show a live progress bar (on stderr).
        fault: A fault to do at a given step (:mod:`tinyrl.hil.faults`; tests only), or None.

    Raises:
        HilLinkError: The link failed for good (after retries).
        PolicyError: The policy does not fit the scenario.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    courses = list(courses) if courses is not None else eval_courses(config, episodes, seed)
    device = LinkPolicy(link, policy, config.dt_s, fault)
    t_start = time.perf_counter()
    with Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar:
        shown = HilProgress(bar, bar.add_task(f"HIL: {episodes} episodes", total=episodes), device, episodes)
        flight = run_episodes(
            device,
            config,
            courses,
            numbered_starts(episodes, len(courses), seed),
            observers=(device, shown),
            controller_mode=device.controller_mode,
        )
    rtts, ticks = device.rtts_s, device.ticks
    elapsed = time.perf_counter() - t_start
    hello = link.hello
    device_info: dict[str, Any] = {}
    if hello is not None:
        median_ticks = float(np.median(ticks)) if ticks else 0.0
        device_info = {
            "protocol_version": hello.version,
            "obs_size": hello.obs_size,
            "act_size": hello.act_size,
            "model_hash": hello.model_hash.hex(),
            "tick_hz": hello.tick_hz,
            "watchdog_ms": hello.watchdog_ms,
            "inference_ticks_median": median_ticks,
            "inference_us_median": round(median_ticks / hello.tick_hz * 1e6, 2) if hello.tick_hz else None,
            "instructions_per_inference": round(median_ticks * 1e6 / hello.ticks_per_minstr)
            if hello.ticks_per_minstr
            else None,
        }
        try:
            stats = link.stats()
            device_info["stats"] = {
                "frames_ok": stats.frames_ok,
                "crc_errors": stats.crc_errors,
                "framing_errors": stats.framing_errors,
                "overruns": stats.overruns,
                "watchdog_trips": stats.watchdog_trips,
                "uptime_ms": stats.uptime_ms,
            }
        except Exception as exc:  # the flight is done; a lost STATS reply only loses the counters
            device_info["stats"] = {"error": str(exc)}
    return HilReport(
        summary=summarize(flight.episodes).to_dict(),
        round_trips=len(rtts),
        loop_hz=round(len(rtts) / elapsed, 1) if elapsed > 0 else 0.0,
        latency_ms=latency_summary(rtts),
        mismatches=device.mismatches,
        mismatch_steps=device.mismatch_steps,
        link=link.counters.to_dict(),
        device=device_info,
        episode_steps=flight.steps,
        latency_samples_ms=[round(t * 1e3, 4) for t in rtts],
        supervisor={
            "missed_setpoints": device.missed,
            "level_out_steps": device.mode_steps["level"],
            "motors_off_steps": device.mode_steps["off"],
            "mode_changes": device.mode_changes,
        },
    )
