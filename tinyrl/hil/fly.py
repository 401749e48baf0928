"""``tinyrl fly``: fly a Crazyflie running the TinyRL app (``radio://…``) or the virtual one (``udp://…``) with cflib.

One code path for both: connect; check that the app's params and log variables are there (the table of
:func:`tinyrl.hil.crtp.app_table`); set the course's goal and arena as the app's params; arm; take off with hover
setpoints to the course start height; start the policy (``tinyrl.enable = 1``; the flight's clock starts at the
app's first step, when its commanded setpoint first changes); stream the log (10 ms blocks) into a flight log; and
land — at the goal, on a collision or on leaving the arena (judged on the logged positions against the course, with
the simulator's rules), at the scenario's time limit, and on Ctrl-C or SIGTERM. Landing clears ``tinyrl.enable``
(the app hands the drone back to the client's setpoints), descends with hover setpoints and sends a stop. A lost
link (cflib's ``connection_lost``: the radio's lost packets, or over UDP the ICMP error its pings meet when the
drone is gone) ends the flight with one line. Every timing of the flight runs on the drone's clock, the log
timestamps, not on the host's. The flight log is written atomically on every way out
(:mod:`tinyrl.common.flightlog`).

``TINYRL_FLY_FAULT=sigint@N`` (or ``sigterm@N``, ``kill@N``) makes ``tinyrl fly`` interrupt, terminate or kill
itself on its ``N``-th log sample after the app was enabled, so a test stops a flight at a known point.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from tinyrl.common.flightlog import FlightLog
from tinyrl.errors import TinyRLError
from tinyrl.hil.crtp import AppTable, app_table
from tinyrl.sim.course import Course
from tinyrl.sim.world import World
from tinyrl.tasks.config import ScenarioConfig
from tinyrl.tasks.core import FLOOR_CRASH_M
from tinyrl.train.faults import Fault, fire_signal_fault, parse_fault

__all__ = ["FLY_FAULT_VAR", "URI_SCHEMES", "FlightResult", "FlyError", "check_uri", "fly", "fly_fault"]

#: The variable ``tinyrl fly`` reads for its fault.
FLY_FAULT_VAR = "TINYRL_FLY_FAULT"
#: Links ``tinyrl fly`` flies over: a Crazyradio, USB, or the virtual Crazyflie.
URI_SCHEMES = ("radio", "usb", "udp")
#: Log period (ms) of every block: 100 Hz, the firmware's finest.
LOG_PERIOD_MS = 10
#: Log blocks: each fits one packet (26 data bytes).
LOG_BLOCKS = (
    ("state", ("stateEstimate.x", "stateEstimate.y", "stateEstimate.z", "stateEstimate.vx", "stateEstimate.vy")),
    (
        "ranges",
        ("range.front", "range.back", "range.left", "range.right", "range.up", "range.zrange", "stateEstimate.yaw"),
    ),
    ("app", ("tinyrl.vx", "tinyrl.vy", "tinyrl.yawRate", "tinyrl.z", "tinyrl.status")),
)
#: The app's commanded setpoint: it changes at the app's first step, which starts the flight's clock.
COMMANDS = ("tinyrl.vx", "tinyrl.vy", "tinyrl.yawRate", "tinyrl.z")
#: Take-off: climb rate (m/s) and the hover before the app starts (s), on the drone's clock.
TAKEOFF_M_S = 0.5
SETTLE_S = 1.0
#: Landing: descent rate (m/s), the height the motors stop at (m), and the longest it may take (s).
LAND_M_S = 0.4
MOTORS_OFF_Z_M = 0.05
LAND_LIMIT_S = 10.0
#: Log kept after the motors stop (s).
REST_S = 0.5
#: How long to wait for the connection and the TOCs, and for each param's echo (host seconds).
CONNECT_TIMEOUT_S = 30.0
PARAM_TIMEOUT_S = 5.0


class FlyError(TinyRLError):
    """The flight cannot start or went wrong: a bad URI, no drone, no app on it, a lost link."""


@dataclass
class FlightResult:
    """How the flight ended: ``outcome`` (success, collision, left_arena, timeout, interrupted, link_lost)."""

    outcome: str
    time_to_goal_s: float | None
    flight_s: float
    samples: int
    log_path: Path | None


def fly_fault() -> Fault | None:
    """The fault ``$TINYRL_FLY_FAULT`` asks for; ``None`` when unset.

    Raises:
        ConfigError: Malformed.
    """
    return parse_fault(FLY_FAULT_VAR, ("sigint", "sigterm", "kill"))


def check_uri(uri: str) -> None:
    """Refuse a URI whose scheme no link of :data:`URI_SCHEMES` speaks.

    Raises:
        FlyError: Another scheme.
    """
    scheme, sep, _ = uri.partition("://")
    if not sep or scheme not in URI_SCHEMES:
        raise FlyError(f"{uri}: unknown URI scheme (expected {', '.join(s + '://' for s in URI_SCHEMES)})")


class FlightJudge:
    """The simulator's rules on logged positions: success within the goal radius, collision, leaving the arena.

    Args:
        config: The scenario (drone radius, time limit).
        course: The course flown.
    """

    def __init__(self, config: ScenarioConfig, course: Course) -> None:
        self.course = course
        self.world = World(1)
        self.world.set_course(0, course)
        self.radius_m = config.drone.drone.collision_radius_m
        self.limit_s = config.episode_s

    def outcome(self, pos_m: np.ndarray, flight_s: float) -> str | None:
        """The outcome at position ``(3,)`` (m) after ``flight_s`` of the app's flight, or None while flying on."""
        pos = pos_m[None, :]
        if self.world.collisions(pos, self.radius_m)[0] or pos_m[2] < FLOOR_CRASH_M:
            return "collision"
        if self.world.outside_arena(pos)[0]:
            return "left_arena"
        if np.linalg.norm(pos_m - np.asarray(self.course.goal.xyz)) < self.course.goal.radius_m:
            return "success"
        if flight_s >= self.limit_s:
            return "timeout"
        return None

    def close(self) -> None:
        """Release the world."""
        self.world.close()


class _Link:
    """A cflib Crazyflie, connected, with its log blocks merged into samples on the drone's clock."""

    def __init__(self, uri: str, table: AppTable) -> None:
        import cflib.crtp
        from cflib.crazyflie import Crazyflie

        logging.getLogger("cflib").setLevel(logging.ERROR)  # cflib logs a lost link as warnings; we say it once
        cflib.crtp.init_drivers()
        self.uri, self.table = uri, table
        self.cf = Crazyflie(rw_cache=None)
        self.samples: queue.Queue[tuple[float, dict[str, float]]] = queue.Queue()
        self.lost = threading.Event()
        self.lost_reason = ""
        self._partial: dict[int, dict[str, float]] = {}
        self._configs: list[Any] = []
        self._connected = threading.Event()
        self._failed = ""
        self.cf.fully_connected.add_callback(lambda uri: self._connected.set())
        self.cf.connection_failed.add_callback(self._on_failed)
        self.cf.connection_lost.add_callback(self._on_lost)

    def _on_failed(self, uri: str, message: str) -> None:
        self._failed = " ".join(str(message).split()) or "connection failed"
        self._connected.set()

    def _on_lost(self, uri: str, message: str) -> None:
        self.lost_reason = " ".join(str(message).split("\n")[0].split()) or "no reason given"
        self.lost.set()

    def open(self) -> None:
        """Connect and download the TOCs and the params' values.

        Raises:
            FlyError: No drone answers, or the link failed.
        """
        self.cf.open_link(self.uri)
        if not self._connected.wait(CONNECT_TIMEOUT_S):
            raise FlyError(f"{self.uri}: no Crazyflie answered within {CONNECT_TIMEOUT_S:.0f} s")
        if self._failed:
            raise FlyError(f"{self.uri}: cannot connect: {self._failed}")

    def check_app(self) -> None:
        """Refuse a drone without the app, or with another version of it (names missing from its TOCs).

        Raises:
            FlyError: Names missing, or a deck the app needs is not attached.
        """
        params, logs = self.cf.param.toc.toc, self.cf.log.toc.toc
        if "tinyrl" not in params:
            raise FlyError(
                f"{self.uri}: this Crazyflie runs no TinyRL app (no tinyrl params): flash it with `tinyrl deploy`"
            )
        missing = [p.full_name for p in self.table.params if p.name not in params.get(p.group, {})]
        missing += [v.full_name for v in self.table.logs if v.name not in logs.get(v.group, {})]
        if missing:
            raise FlyError(
                f"{self.uri}: the drone's firmware lacks {', '.join(missing)}: flash the app built by this tinyrl"
            )
        for deck in ("deck.bcMultiranger", "deck.bcFlow2"):
            if float(self.cf.param.get_value(deck)) == 0:
                raise FlyError(f"{self.uri}: {deck} = 0: the app needs the multi-ranger and flow decks attached")

    def set_params(self, values: dict[str, float]) -> None:
        """Write params and wait until the drone echoes each value back.

        Raises:
            FlyError: A param not echoed in time, or the link lost.
        """
        pending = {name: threading.Event() for name in values}

        def echoed(name: str, value: str) -> None:
            if name in pending and np.isclose(float(value), values[name], rtol=1e-6, atol=1e-6):
                pending[name].set()

        self.cf.param.add_update_callback(cb=echoed)
        try:
            for name, value in values.items():
                self.cf.param.set_value(name, value)
            for name, done in pending.items():
                if not done.wait(PARAM_TIMEOUT_S) or self.lost.is_set():
                    raise FlyError(f"{self.uri}: the drone did not confirm {name} = {values[name]:g}")
        finally:
            self.cf.param.all_update_callback.remove_callback(echoed)

    def start_logging(self) -> None:
        """Add and start the log blocks of :data:`LOG_BLOCKS` at :data:`LOG_PERIOD_MS`."""
        from cflib.crazyflie.log import LogConfig

        for name, variables in LOG_BLOCKS:
            config = LogConfig(name=name, period_in_ms=LOG_PERIOD_MS)
            for variable in variables:
                config.add_variable(variable)
            self.cf.log.add_config(config)
            config.data_received_cb.add_callback(self._on_data)
            config.start()
            self._configs.append(config)

    def _on_data(self, timestamp_ms: int, data: dict[str, float], config: Any) -> None:
        # A sample is complete once every block of its timestamp has arrived; blocks of one tick come together.
        merged = self._partial.setdefault(timestamp_ms, {})
        merged.update(data)
        if len(merged) == sum(len(v) for _, v in LOG_BLOCKS):
            del self._partial[timestamp_ms]
            for stale in [t for t in self._partial if t < timestamp_ms]:
                del self._partial[stale]
            self.samples.put((timestamp_ms / 1000.0, merged))

    def next_sample(self) -> tuple[float, dict[str, float]]:
        """The next complete sample: drone time (s), values.

        Raises:
            FlyError: The link is lost.
        """
        while True:
            if self.lost.is_set():
                raise FlyError(f"{self.uri}: link lost ({self.lost_reason})")
            try:
                return self.samples.get(timeout=0.1)
            except queue.Empty:
                continue

    def hover(self, z_m: float) -> None:
        """Send a hover setpoint holding position at height ``z_m``."""
        self.cf.commander.send_hover_setpoint(0.0, 0.0, 0.0, z_m)

    def close(self) -> None:
        """Stop the motors (if the link lives) and close it."""
        if not self.lost.is_set() and self.cf.link is not None:
            self.cf.commander.send_stop_setpoint()
        self.cf.close_link()


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress]:
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"))
    with Progress(*columns, console=Console(stderr=True), disable=not enabled, transient=True) as bar:
        yield bar


def fly(
    uri: str,
    config: ScenarioConfig,
    course: Course,
    log_path: Path | None = None,
    *,
    index: int = 0,
    seed: int = 0,
    n_courses: int = 1,
    progress: bool = False,
    fault: Fault | None = None,
    table: AppTable | None = None,
) -> FlightResult:
    """Fly ``course`` once with the app on the drone at ``uri`` and land; write the flight log to ``log_path``.

    Args:
        uri: ``radio://…``, ``usb://…`` or ``udp://127.0.0.1:PORT`` (``tinyrl sitl``).
        config: The scenario the app's policy was trained on (time limit, drone radius, start height).
        course: The course: its goal and arena go to the app's params, its obstacles judge collisions.
        log_path: Where the flight log goes (``.npz``); None: nowhere.
        index: The course's index in its file (recorded, for the report's re-simulation).
        seed: The seed of the episode (recorded, for the report's re-simulation).
        n_courses: Length of the course's list (recorded: a simulated reset's draws depend on it).
        progress: Show a progress line on stderr.
        fault: A fault to do on a given log sample (:func:`fly_fault`; tests only).
        table: The params and log variables the app must have (default: :func:`app_table`).

    Raises:
        FlyError: Bad URI, no drone, no app, a lost link.
        KeyboardInterrupt: A second Ctrl-C during the landing (after the motors stopped and the log was written).

    Ctrl-C or SIGTERM during the flight lands the drone and returns with outcome ``interrupted``.
    """
    check_uri(uri)
    table = app_table() if table is None else table
    judge = FlightJudge(config, course)
    log = FlightLog(
        meta={
            "uri": uri,
            "env": config.name,
            "course": course.model_dump(mode="json"),
            "index": index,
            "seed": seed,
            "n_courses": n_courses,
            "policy_rate_hz": config.policy_rate_hz,
        }
    )
    link = _Link(uri, table)
    outcome, t_enable, t_start, t_goal, flight_s = "interrupted", None, None, None, 0.0
    try:
        link.open()
        link.check_app()
        a = course.arena
        link.set_params(
            {
                "tinyrl.enable": 0,
                "tinyrl.goalX": course.goal.xyz[0],
                "tinyrl.goalY": course.goal.xyz[1],
                "tinyrl.goalZ": course.goal.xyz[2],
                "tinyrl.arenaXMin": a.x[0],
                "tinyrl.arenaXMax": a.x[1],
                "tinyrl.arenaYMin": a.y[0],
                "tinyrl.arenaYMax": a.y[1],
            }
        )
        link.start_logging()
        link.cf.supervisor.send_arming_request(True)
        with _progress(progress) as bar:
            shown = bar.add_task(f"flying {uri}", total=config.episode_s, status="taking off")
            t0, sample = link.next_sample()
            z0 = sample["stateEstimate.z"]
            start_z = course.start.xyz[2]
            climb_s = max(0.0, start_z - z0) / TAKEOFF_M_S
            n_app = 0
            held: list[float] = []
            try:
                while True:
                    t, sample = link.next_sample()
                    if t_enable is None:
                        log.append(t, "takeoff", sample)
                        link.hover(min(start_z, z0 + TAKEOFF_M_S * (t - t0)))
                        if t - t0 >= climb_s + SETTLE_S:
                            link.set_params({"tinyrl.enable": 1})
                            t_enable, held = t, [sample[c] for c in COMMANDS]
                        continue
                    log.append(t, "app", sample)
                    n_app += 1
                    if fault is not None and n_app == fault.steps:
                        fire_signal_fault(fault)
                    if t_start is None and [sample[c] for c in COMMANDS] != held:
                        t_start = t - LOG_PERIOD_MS / 1000  # the app's first step: its command is logged next tick
                    flight_s = t - (t_enable if t_start is None else t_start)
                    pos = np.array([sample[c] for c in ("stateEstimate.x", "stateEstimate.y", "stateEstimate.z")])
                    result = judge.outcome(pos, flight_s)
                    goal_m = float(np.linalg.norm(pos - np.asarray(course.goal.xyz)))
                    bar.update(shown, completed=min(flight_s, config.episode_s), status=f"{goal_m:.2f} m to goal")
                    if result is not None:
                        outcome = result
                        t_goal = flight_s if result == "success" else None
                        break
            except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (Terminated): land first
                outcome = "interrupted"
            bar.update(shown, status=f"{outcome}: landing")
            _land(link, log)
    except FlyError:
        if link.lost.is_set():
            outcome = "link_lost"
        raise
    finally:
        log.meta.update(
            {
                "t_enable_s": t_enable,
                "t_app_start_s": t_start,
                "outcome": outcome,
                "time_to_goal_s": t_goal,
                "flight_s": flight_s,
            }
        )
        try:
            link.close()
        finally:
            judge.close()
            if log_path is not None:
                log.save(log_path)
    return FlightResult(outcome, t_goal, flight_s, len(log), log_path)


def _land(link: _Link, log: FlightLog) -> None:
    """Hand the drone back from the app, descend with hover setpoints on the drone's clock, stop the motors.

    A second Ctrl-C during the landing is held until the motors are stopped; a lost link ends it at once.
    """
    if link.lost.is_set():
        return
    with _deferred_interrupts():
        link.set_params({"tinyrl.enable": 0})
        t_start, sample = link.next_sample()
        z_start = sample["stateEstimate.z"]
        # Down at LAND_M_S, then a second more at zero height for the controller to catch up, at most LAND_LIMIT_S.
        limit_s = min(z_start / LAND_M_S + 1.0, LAND_LIMIT_S)
        t = t_start
        while True:
            log.append(t, "landing", sample)
            if sample["stateEstimate.z"] <= MOTORS_OFF_Z_M or t - t_start >= limit_s:
                break
            link.hover(max(z_start - LAND_M_S * (t - t_start), 0.0))
            t, sample = link.next_sample()
        link.cf.commander.send_stop_setpoint()
        # The log until the drone rests: it falls the last few centimetres with its motors off.
        t_stop = t
        while t - t_stop < REST_S:
            t, sample = link.next_sample()
            log.append(t, "landing", sample)


@contextmanager
def _deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT until the block ends (a landing is not to be cut short); re-raise it after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def describe(result: FlightResult) -> str:
    """One line for a finished flight."""
    goal = f", goal after {result.time_to_goal_s:.2f} s" if result.time_to_goal_s is not None else ""
    where = f"; wrote {result.log_path}" if result.log_path is not None else ""
    return f"{result.outcome}{goal}: {result.flight_s:.2f} s of flight, {result.samples} log samples{where}"
