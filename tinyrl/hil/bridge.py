"""Hardware in the loop: fly the simulator with the microcontroller's actions.

Episode ``j`` flies course ``j % len(courses)`` with the random stream ``seed + j`` and domain randomization off,
exactly as :func:`tinyrl.common.evaluate.evaluate` does, so a HIL run is comparable with a host-only run of the same
int8 policy. Each step: quantize the observation (TFLite QUANTIZE), send it as OBS, wait for ACT, compare the
device's int8 action with the host reference (:func:`tinyrl.compress.reference.run_int8`, TFLite Micro rounding),
dequantize it, apply the policy's head (clip / argmax) like :class:`~tinyrl.compress.student.Int8Policy`, and step
the simulator with it. The loop is free-running: it steps as fast as the link answers, not at the policy's 25 Hz.

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
from rich.progress import Progress

from tinyrl.common.evaluate import Episode, eval_courses, outcome_of, summarize
from tinyrl.common.policy import PolicyError
from tinyrl.compress.reference import dequantize_output, quantize_input, run_int8
from tinyrl.compress.student import Int8Policy
from tinyrl.hil.link import Expected, HilLink, HilLinkError
from tinyrl.sim.course import Course
from tinyrl.sim.supervisor import MOTORS_OFF_AFTER_S, SetpointWatchdog
from tinyrl.tasks.config import ScenarioConfig
from tinyrl.tasks.core import BatchedTask

__all__ = ["HilReport", "apply_head", "expected_for", "fly_episodes", "latency_summary"]


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


def fly_episodes(
    link: HilLink,
    policy: Int8Policy,
    config: ScenarioConfig,
    courses: Sequence[Course] | None = None,
    episodes: int = 5,
    seed: int = 0,
    progress: bool = False,
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

    Raises:
        HilLinkError: The link failed for good (after retries).
        PolicyError: The policy does not fit the scenario.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    courses = list(courses) if courses is not None else eval_courses(config, episodes, seed)
    task = BatchedTask(config, 1, courses, randomize=False)
    model = policy.model
    if model.in_features != task.obs_dim:
        raise PolicyError(
            f"the policy takes {model.in_features} observations but scenario {config.name} gives {task.obs_dim}"
        )
    results: list[Episode] = []
    rtts: list[float] = []
    ticks: list[int] = []
    mismatches: list[dict[str, Any]] = []
    n_mismatch = 0
    steps_per_episode: list[int] = []
    watchdog = SetpointWatchdog(period_s=task.dt_s)
    # Give up once the supervisor has cut the motors and the device still says nothing for another second.
    give_up_s = MOTORS_OFF_AFTER_S + 1.0
    mode_steps = {"hover": 0, "level": 0, "off": 0}
    mode_changes: list[dict[str, Any]] = []
    missed = 0
    t_start = time.perf_counter()
    try:
        from rich.console import Console

        with Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar:
            bar_task = bar.add_task(f"HIL: {episodes} episodes", total=episodes)
            for j in range(episodes):
                task.seed_slots([0], [seed + j])
                obs = task.reset_slots([0], [j % len(courses)])
                watchdog.reset()
                mode = "hover"
                action: np.ndarray | None = None
                reward = 0.0
                steps = 0
                while True:
                    obs_q = quantize_input(model, obs)
                    try:
                        reply = link.step(obs_q[0])
                    except HilLinkError as exc:
                        if action is None or watchdog.age_s + task.dt_s > give_up_s:
                            raise HilLinkError(
                                f"{exc}; the device sent no action for {watchdog.age_s + task.dt_s:.2f} s of flight"
                                f" (episode {j}, step {steps})"
                            ) from exc
                        missed += 1
                        flown = watchdog.missed()
                    else:
                        flown = watchdog.received()
                        rtts.append(reply.rtt_s)
                        ticks.append(reply.ticks)
                        reference = run_int8(model, obs_q, reference=policy.reference)
                        if not np.array_equal(reference[0], reply.action):
                            n_mismatch += 1
                            if len(mismatches) < 20:
                                mismatches.append(
                                    {
                                        "episode": j,
                                        "step": steps,
                                        "device": reply.action.tolist(),
                                        "host": reference[0].tolist(),
                                    }
                                )
                        action = apply_head(policy, dequantize_output(model, reply.action[None, :]))
                    if flown != mode and len(mode_changes) < 100:
                        mode_changes.append({"episode": j, "step": steps, "mode": flown})
                    mode = flown
                    mode_steps[mode] += 1
                    result = task.step(action, controller_mode=mode)
                    obs = result.obs.copy()
                    reward += float(result.reward[0])
                    steps += 1
                    if result.terminated[0] or result.truncated[0]:
                        break
                results.append(
                    Episode(
                        course=j % len(courses),
                        seed=seed + j,
                        outcome=outcome_of(result, 0),
                        time_s=float(result.time_s[0]),
                        path_length_m=float(result.path_length_m[0]),
                        reward=reward,
                    )
                )
                steps_per_episode.append(steps)
                bar.update(
                    bar_task,
                    advance=1,
                    description=f"HIL: {episodes} episodes, {len(rtts) / (time.perf_counter() - t_start):.0f} steps/s",
                )
    finally:
        task.close()
    elapsed = time.perf_counter() - t_start
    hello = link.hello
    device: dict[str, Any] = {}
    if hello is not None:
        median_ticks = float(np.median(ticks)) if ticks else 0.0
        device = {
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
            device["stats"] = {
                "frames_ok": stats.frames_ok,
                "crc_errors": stats.crc_errors,
                "framing_errors": stats.framing_errors,
                "overruns": stats.overruns,
                "watchdog_trips": stats.watchdog_trips,
                "uptime_ms": stats.uptime_ms,
            }
        except Exception as exc:  # the flight is done; a lost STATS reply only loses the counters
            device["stats"] = {"error": str(exc)}
    return HilReport(
        summary=summarize(results).to_dict(),
        round_trips=len(rtts),
        loop_hz=round(len(rtts) / elapsed, 1) if elapsed > 0 else 0.0,
        latency_ms=latency_summary(rtts),
        mismatches=n_mismatch,
        mismatch_steps=mismatches,
        link=link.counters.to_dict(),
        device=device,
        episode_steps=steps_per_episode,
        latency_samples_ms=[round(t * 1e3, 4) for t in rtts],
        supervisor={
            "missed_setpoints": missed,
            "level_out_steps": mode_steps["level"],
            "motors_off_steps": mode_steps["off"],
            "mode_changes": mode_changes,
        },
    )
