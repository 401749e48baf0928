"""A flight against its simulation: ``tinyrl report --flight-log FILE`` and the notebook's flight cell.

The flight log (:mod:`tinyrl.common.flightlog`, written by ``tinyrl fly``) holds the course, its index and seed and
the drone's log at 10 ms. The simulated episode is the int8 policy on that course from where the app took over
(the course start when the flight began within a millimetre of it, else the logged position and heading), with the
episode's seed and a course list of the flight's length (a reset's draws depend on it), flown by the loop
``tinyrl eval`` flies. A virtual flight (``tinyrl sitl``) of the same course and seed is that episode exactly. The
position error is the distance between the two at each policy step, the flown position interpolated in time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyrl.common.flightlog import PHASES, FlightLog, load_flight_log
from tinyrl.common.plots import draw_course, png, pyplot
from tinyrl.common.policy import Policy
from tinyrl.errors import ConfigError
from tinyrl.io import atomic_write_text
from tinyrl.report.episode import record_episode
from tinyrl.report.html import html_figure, html_table, page_head
from tinyrl.sim.course import Course, Start
from tinyrl.tasks.config import ScenarioConfig

__all__ = ["FlightComparison", "compare_flight", "flight_figures", "flight_rows", "write_flight_report"]

#: A flight that began this close to the course start (m) is simulated from the course start itself.
SAME_START_M = 1e-3


@dataclass(frozen=True)
class FlightComparison:
    """A flight and its simulated episode, both from the app's start (``t = 0``)."""

    course: Course
    flown_t_s: np.ndarray  # (T,) s since the app took over
    flown_m: np.ndarray  # (T, 3) m
    landing_m: np.ndarray  # (L, 3) m, after the app's flight
    sim_t_s: np.ndarray  # (K,) s
    sim_m: np.ndarray  # (K, 3) m
    error_m: np.ndarray  # (K',) m at sim_t_s[:K'], the steps the flight covers
    flown_outcome: str
    flown_time_to_goal_s: float | None
    sim_outcome: str
    sim_time_s: float


def _app_start(log: FlightLog) -> tuple[int, float]:
    """Index and drone time (s) of the sample at the app's first step (``t_app_start_s``, from ``tinyrl fly``).

    Raises:
        ConfigError: The app never flew.
    """
    t_start = log.meta.get("t_app_start_s")
    if t_start is None:
        raise ConfigError("the flight log has no flight of the app (was it stopped before the app's first step?)")
    first = int(np.searchsorted(np.asarray(log.t_s), float(t_start) - 1e-6))
    return first, float(t_start)


def compare_flight(log: FlightLog, policy: Policy, config: ScenarioConfig) -> FlightComparison:
    """Simulate the flight's episode with ``policy`` and line the two up in time.

    Raises:
        ConfigError: The log has no app flight, or was flown on another scenario.
        PolicyError: The policy does not take the scenario's observations.
    """
    if log.meta.get("env") not in (None, config.name):
        raise ConfigError(f"the flight was flown on scenario {log.meta['env']}, not {config.name}: pass --env")
    course = Course.model_validate(log.meta["course"])
    first, t0 = _app_start(log)
    positions, t = log.positions_m(), np.asarray(log.t_s)
    start = positions[first]
    if np.linalg.norm(start - np.asarray(course.start.xyz)) > SAME_START_M:
        yaw = float(np.radians(log.columns["stateEstimate.yaw"][first]))
        course = course.model_copy(update={"start": Start(xyz=tuple(start), yaw_rad=yaw)})
    # The sitl flies episode ``index`` of ``tinyrl eval --seed SEED``: course ``index % n_courses``, stream
    # ``seed + index``; the list's length matters because the course's slot picks its random draws.
    n_courses = int(log.meta.get("n_courses", 1))
    index = int(log.meta.get("index", 0))
    seed = int(log.meta.get("seed", 0)) + index
    recording = record_episode(policy, config, [course] * n_courses, index % n_courses, seed)
    sim_m = recording.position_m
    sim_t = np.arange(len(sim_m)) * recording.dt_s
    app = np.asarray(log.phase) == PHASES.index("app")
    app[: first + 1] = False
    app[first] = True
    flown_t, flown_m = t[app] - t0, positions[app]
    covered = sim_t <= flown_t[-1]
    flown_at = np.column_stack([np.interp(sim_t[covered], flown_t, flown_m[:, k]) for k in range(3)])
    return FlightComparison(
        course=course,
        flown_t_s=flown_t,
        flown_m=flown_m,
        landing_m=positions[np.asarray(log.phase) == PHASES.index("landing")],
        sim_t_s=sim_t,
        sim_m=sim_m,
        error_m=np.linalg.norm(flown_at - sim_m[covered], axis=1),
        flown_outcome=str(log.meta.get("outcome")),
        flown_time_to_goal_s=log.meta.get("time_to_goal_s"),
        sim_outcome=recording.outcome,
        sim_time_s=recording.time_s,
    )


def flight_rows(c: FlightComparison) -> list[dict[str, Any]]:
    """The comparison's table: outcome, time to goal, position error."""

    def seconds(value: float | None) -> str:
        return "–" if value is None else f"{value:.2f} s"

    error = c.error_m
    return [
        {"": "flown", "outcome": c.flown_outcome, "time to goal": seconds(c.flown_time_to_goal_s)},
        {
            "": "simulated",
            "outcome": c.sim_outcome,
            "time to goal": seconds(c.sim_time_s if c.sim_outcome == "success" else None),
        },
        {
            "": "position error",
            "outcome": f"mean {error.mean():.3f} m, max {error.max():.3f} m" if len(error) else "–",
            "time to goal": "",
        },
    ]


def flight_figures(c: FlightComparison) -> list[tuple[str, bytes]]:
    """(title, PNG) pairs: both paths over the course from above, and the position error over time."""
    plt = pyplot()
    a = c.course.arena
    fig, ax = plt.subplots(figsize=(8, 8 * (a.y[1] - a.y[0]) / (a.x[1] - a.x[0]) + 1))
    draw_course(ax, c.course, margin_m=0.2)
    ax.plot(c.sim_m[:, 0], c.sim_m[:, 1], color="tab:orange", lw=3, alpha=0.6, label="simulated")
    ax.plot(c.flown_m[:, 0], c.flown_m[:, 1], color="tab:blue", lw=1.2, label="flown")
    if len(c.landing_m):
        ax.plot(c.landing_m[:, 0], c.landing_m[:, 1], "x", color="tab:blue", ms=4, label="landing")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.legend(loc="upper left")
    overlay = png(fig)
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.plot(c.sim_t_s[: len(c.error_m)], c.error_m, color="tab:red")
    ax.set_xlabel("time since the app took over (s)")
    ax.set_ylabel("position error (m)")
    ax.grid(alpha=0.3)
    return [("Flown and simulated paths", overlay), ("Position error over time", png(fig))]


def write_flight_report(log_path: Path, policy: Policy, config: ScenarioConfig, output: Path) -> FlightComparison:
    """Write the comparison of the flight in ``log_path`` as one HTML page to ``output``.

    Raises:
        ConfigError: Not a flight log, or one without an app flight or of another scenario.
    """
    comparison = compare_flight(load_flight_log(log_path), policy, config)
    parts = [
        *page_head(f"Flight {log_path.name} on {config.name}"),
        html_table(flight_rows(comparison)),
        *(html_figure(title, image) for title, image in flight_figures(comparison)),
        "</body></html>",
    ]
    page = "\n".join(parts) + "\n"
    atomic_write_text(output, page)
    return comparison
