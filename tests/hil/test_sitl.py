"""The virtual Crazyflie (``tinyrl sitl``) with the real cflib from PyPI, and ``tinyrl fly`` through it.

Every timing here is the drone's simulated clock: log packets are counted and their timestamps compared, never the
host's time. Faults fire at a known point of the flight (``$TINYRL_FLY_FAULT``, ``$TINYRL_SITL_FAULT``), and every
command runs under ``tests/reaper.py``, which reports any process that outlived it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from reaper import run_reaped
from scenario_support import ROOT

from tinyrl.common.flightlog import load_flight_log
from tinyrl.compress.artefacts import resolve_tflite
from tinyrl.compress.student import load_int8_policy
from tinyrl.hil.crtp import Packet, Port, app_table
from tinyrl.hil.sitl import TICK_S, VirtualCrazyflie
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.course_checks import load_flyable_courses

ENV = "obstacle-course"
#: Hand-made course 2 (corridor with pillars): its goal and arena are exact in float32, so the app's params carry
#: them without rounding and the virtual flight is the simulated episode bit for bit.
HANDMADE = ROOT / "envs" / "courses" / "handmade.json"
COURSE_INDEX = 2
#: Log samples into the app's flight at which a test interrupts ``tinyrl fly`` (1.5 s of flight).
SIGINT_SAMPLE = 150


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "400", **extra}


@pytest.fixture(scope="module")
def course_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    courses = json.loads(HANDMADE.read_text())["courses"]
    path = tmp_path_factory.mktemp("sitl") / "course.json"
    path.write_text(json.dumps({"courses": [courses[COURSE_INDEX]]}))
    return path


@contextmanager
def sitl(course: Path, *args: str, **env: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``tinyrl sitl`` on a free loopback port: its URI and process; stopped with SIGTERM (exit 143) after."""
    cmd = [sys.executable, "-m", "tinyrl", "sitl", "--env", ENV, "--course", str(course), "--port", "0", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(**env))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"udp://127\.0\.0\.1:\d+", line)
        assert match, f"sitl said {line!r}; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        yield match.group(0), proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)


class CflibClient:
    """The real cflib Crazyflie, connected (TOCs and param values downloaded)."""

    def __init__(self, uri: str) -> None:
        import cflib.crtp
        from cflib.crazyflie import Crazyflie

        cflib.crtp.init_drivers()
        self.cf = Crazyflie(rw_cache=None)
        connected = threading.Event()
        self.cf.fully_connected.add_callback(lambda _uri: connected.set())
        self.cf.connection_failed.add_callback(lambda _uri, msg: pytest.fail(f"cflib could not connect: {msg}"))
        self.cf.open_link(uri)
        assert connected.wait(60), "cflib never finished connecting"

    def close(self) -> None:
        self.cf.close_link()


def test_cflib_connects_downloads_both_tocs_sets_and_reads_a_param_and_logs_at_100_hz(course_file: Path) -> None:
    from cflib.crazyflie.log import LogConfig

    table = app_table()
    with sitl(course_file) as (uri, proc):
        client = CflibClient(uri)
        try:
            cf = client.cf
            params = {f"{g}.{n}" for g, names in cf.param.toc.toc.items() for n in names}
            logs = {f"{g}.{n}" for g, names in cf.log.toc.toc.items() for n in names}
            assert params == {p.full_name for p in table.params}
            assert logs == {v.full_name for v in table.logs}
            assert float(cf.param.get_value("tinyrl.goalZ")) == 1.0  # the app's default, read at connection

            # Set, then read back with a fresh read request (channel 1), not the write's echo.
            echoed, read = threading.Event(), threading.Event()
            values: list[str] = []
            cf.param.add_update_callback(group="tinyrl", name="arenaXMax", cb=lambda _n, v: values.append(v))
            cf.param.add_update_callback(group="tinyrl", name="arenaXMax", cb=lambda _n, _v: echoed.set())
            cf.param.set_value("tinyrl.arenaXMax", 2.75)
            assert echoed.wait(10)
            cf.param.add_update_callback(group="tinyrl", name="arenaXMax", cb=lambda _n, _v: read.set())
            cf.param.request_param_update("tinyrl.arenaXMax")
            assert read.wait(10)
            assert [float(v) for v in values] == [2.75, 2.75]

            # One block at 10 ms: 5 s of the drone's clock, every period present.
            stamps: list[int] = []
            got = threading.Event()

            def on_data(timestamp: int, data: dict[str, float], _config: object) -> None:
                stamps.append(timestamp)
                if timestamp - stamps[0] >= 5000:
                    got.set()

            block = LogConfig(name="state", period_in_ms=10)
            for name in ("stateEstimate.x", "stateEstimate.z", "range.front", "tinyrl.status"):
                block.add_variable(name)
            cf.log.add_config(block)
            block.data_received_cb.add_callback(on_data)
            block.start()
            assert got.wait(120), f"{len(stamps)} log packets"
            block.stop()
            window = np.asarray(stamps[: stamps.index(stamps[0] + 5000) + 1])
            assert len(window) == 501
            assert set(np.diff(window)) == {10}
        finally:
            client.close()
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr.read() if proc.stderr else ""


def _fly(uri: str, course: Path, log: Path, tmp_path: Path, *args: str, **env: str) -> tuple[int, str, list[dict]]:
    cmd = [sys.executable, "-m", "tinyrl", "fly", "--uri", uri, "--env", ENV, "--course", str(course)]
    cmd += ["--log", str(log), *args]
    done, report = run_reaped(cmd, tmp_path / "reaper.json", cwd=tmp_path, env=_env(**env), timeout=600)
    return report["returncode"], done.stderr + done.stdout, report["leftovers"]


def _eval_episode(courses: Path, index: int) -> tuple[str, float, np.ndarray]:
    """Episode ``index`` of ``tinyrl eval --courses COURSES --seed 0`` of the shipped int8 policy: outcome, time to
    goal, positions."""
    from tinyrl.common.evaluate import evaluate
    from tinyrl.compress.student import load_int8_policy
    from tinyrl.sim.course import load_courses
    from tinyrl.tasks.config import load_scenario

    policy = load_int8_policy(ROOT / "policies" / ENV / "policy_int8.tflite")
    n = index + 1
    report = evaluate(policy, load_scenario(ENV), load_courses(courses), episodes=n, seed=0, record_trajectories=n)
    episode = report.episode_results[index]
    return episode.outcome, episode.time_s, report.trajectories[index]


@pytest.fixture(scope="module")
def flown(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str, list[dict], int]:
    """One ``tinyrl fly`` through ``tinyrl sitl`` of episode ``COURSE_INDEX`` of the hand-made courses (not the
    first of its list, so its course and random stream are picked as ``tinyrl eval`` picks them): the log, fly's
    exit code, output, leftovers, and the sitl's exit code."""
    tmp_path = tmp_path_factory.mktemp("flight")
    log_path = tmp_path / "flight.npz"
    index = ("--index", str(COURSE_INDEX))
    with sitl(HANDMADE, *index) as (uri, proc):
        code, output, leftovers = _fly(uri, HANDMADE, log_path, tmp_path, *index)
    return log_path, code, output, leftovers, proc.returncode


def test_fly_flies_the_episode_tinyrl_eval_flies_and_lands(flown: tuple[Path, int, str, list[dict], int]) -> None:
    log_path, code, output, leftovers, sitl_code = flown
    assert code == 0, output[-3000:]
    assert leftovers == []
    assert sitl_code == 128 + signal.SIGTERM  # the sitl served on until stopped
    outcome, time_s, trajectory = _eval_episode(HANDMADE, COURSE_INDEX)
    assert outcome == "success"  # the course is one the shipped policy flies
    log = load_flight_log(log_path)
    assert log.meta["outcome"] == outcome
    # fly judges every 10 ms sample, the simulator every policy period: the times agree within a period.
    period_s = load_scenario(ENV).dt_s
    samples_per_period = round(period_s / TICK_S)
    assert time_s - period_s <= log.meta["time_to_goal_s"] <= time_s + 1e-9
    # The flown positions at each policy period are the simulated episode's (float32 in the log).
    positions, t = log.positions_m(), np.asarray(log.t_s)
    first = int(np.searchsorted(t, log.meta["t_app_start_s"] - 1e-6))
    flown_at_steps = positions[first::samples_per_period][: len(trajectory)]
    assert len(flown_at_steps) == len(trajectory)
    assert np.abs(flown_at_steps - trajectory).max() < 1e-6
    # It landed: the last samples rest on the floor, motors off.
    assert log.phase[-1] == 2
    assert positions[-1, 2] <= 0.05
    assert set(np.diff(np.round(t * 1000).astype(int))) == {10}  # no sample lost


def test_report_overlays_the_flight_on_its_simulated_episode(
    flown: tuple[Path, int, str, list[dict], int], tmp_path: Path
) -> None:
    from tinyrl.compress.student import load_int8_policy
    from tinyrl.report.flight import compare_flight
    from tinyrl.tasks.config import load_scenario

    log_path = flown[0]
    policy = load_int8_policy(ROOT / "policies" / ENV / "policy_int8.tflite")
    comparison = compare_flight(load_flight_log(log_path), policy, load_scenario(ENV))
    assert comparison.sim_outcome == comparison.flown_outcome == "success"
    # The app's flight covers the simulated episode, but for its last step when fly, judging every 10 ms sample, saw
    # the goal before that step's period ended: how soon fly takes over after it (on the wall clock) decides which.
    assert len(comparison.sim_m) - 1 <= len(comparison.error_m) <= len(comparison.sim_m)
    assert comparison.error_m.max() < 1e-6  # a virtual flight is its simulated episode
    out = tmp_path / "flight.html"
    cmd = [sys.executable, "-m", "tinyrl", "report", "--flight-log", str(log_path), "--env", ENV, "-o", str(out)]
    cmd += ["--policy", str(ROOT / "policies" / ENV)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().startswith(f"wrote {out}: flown success, simulated success, position error max 0.000")
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 2


def test_ctrl_c_mid_flight_lands_and_keeps_the_log(course_file: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "flight.npz"
    with sitl(course_file) as (uri, proc):
        code, output, leftovers = _fly(uri, course_file, log_path, tmp_path, TINYRL_FLY_FAULT=f"sigint@{SIGINT_SAMPLE}")
    assert code == 130, output[-3000:]
    assert output.strip().splitlines()[-1].startswith("landed: interrupted: ")
    assert leftovers == []
    assert proc.returncode == 128 + signal.SIGTERM
    log = load_flight_log(log_path)
    assert log.meta["outcome"] == "interrupted"
    phase = np.asarray(log.phase)
    assert int((phase == 1).sum()) == SIGINT_SAMPLE  # the app flew until the interrupt, then the landing began
    z = log.positions_m()[:, 2]
    assert z[phase == 1].min() > 0.5  # it was flying
    assert z[-1] <= 0.05  # and came down
    # under control, not dropped: above 10 cm it sank slower than a fall from a metre would (3 m/s at half-way)
    t, landing = np.asarray(log.t_s), phase == 2
    sink_m_s = -np.diff(z[landing]) / np.diff(t[landing])
    assert sink_m_s[z[landing][1:] > 0.1].max() < 1.0


def test_a_vanished_drone_stops_fly_with_one_line(course_file: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "flight.npz"
    with sitl(course_file, TINYRL_SITL_FAULT="kill@100") as (uri, proc):
        code, output, leftovers = _fly(uri, course_file, log_path, tmp_path)
        proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert code == 2, output[-3000:]
    (line,) = output.strip().splitlines()
    assert line.startswith(f"error: {uri}: link lost")
    assert leftovers == []
    log = load_flight_log(log_path)  # written all the same
    assert log.meta["outcome"] == "link_lost"
    assert 1 in log.phase


def test_fly_refuses_a_drone_without_the_app_in_one_line(course_file: Path, tmp_path: Path) -> None:
    with sitl(course_file, "--without-app") as (uri, proc):
        code, output, leftovers = _fly(uri, course_file, tmp_path / "flight.npz", tmp_path)
    assert code == 2, output[-3000:]
    (line,) = output.strip().splitlines()
    assert line == f"error: {uri}: this Crazyflie runs no TinyRL app (no tinyrl params): flash it with `tinyrl deploy`"
    assert leftovers == []
    assert proc.returncode == 128 + signal.SIGTERM


def test_fly_refuses_an_unknown_uri_scheme_in_one_line(course_file: Path, tmp_path: Path) -> None:
    code, output, leftovers = _fly("tcp://127.0.0.1:1", course_file, tmp_path / "f.npz", tmp_path)
    assert code == 2
    (line,) = output.strip().splitlines()
    assert line == "error: tcp://127.0.0.1:1: unknown URI scheme (expected radio://, usb://, udp://)"
    assert leftovers == []
    assert not (tmp_path / "f.npz").exists()


def test_sitl_refuses_a_policy_of_another_scenario_in_one_line(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "tinyrl", "sitl", "--env", "hover", "--policy", str(ROOT / "policies" / ENV)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=600, check=False)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    n_obs = load_int8_policy(resolve_tflite(ROOT / "policies" / ENV)).obs_dim
    assert line.startswith(f"error: the policy takes {n_obs} observations but scenario hover gives")


@pytest.fixture()
def drone(course_file: Path) -> Iterator[VirtualCrazyflie]:
    """A virtual Crazyflie in this process (no socket), armed, held at the course start, the app enabled and flying."""
    config = load_scenario(ENV)
    policy = load_int8_policy(resolve_tflite(ROOT / "policies" / ENV))
    d = VirtualCrazyflie(config, policy, load_flyable_courses(course_file, config))
    d.armed = True
    d.params["tinyrl.enable"] = 1
    for _ in range(3):
        d.step_period()
    assert d.log_values()["tinyrl.state"] == 1
    yield d
    d.task.close()


def _state(d: VirtualCrazyflie) -> tuple[float, float, float]:
    """tinyrl.state, tinyrl.reason and tinyrl.enable."""
    return d.log_values()["tinyrl.state"], d.log_values()["tinyrl.reason"], d.params["tinyrl.enable"]


def test_a_client_stop_stops_the_app_as_on_the_drone(drone: VirtualCrazyflie) -> None:
    """As tinyrl_app.c, which sends at the lowest priority: a client stop setpoint during the app's flight takes the
    drone at once, and the app stops and clears tinyrl.enable."""
    drone.receive(Packet(Port.COMMANDER_GENERIC, 0, bytes([0])).encode())  # cflib's send_stop_setpoint
    assert drone.state == "client" and _state(drone) == (0, 2, 0)


def test_disabling_holds_a_hover_in_place_until_the_client_takes_over(drone: VirtualCrazyflie) -> None:
    """tinyrl.enable = 0: the app holds a hover in place at the height of that moment, sent every period (no
    watchdog), until the client's first hover setpoint."""
    drone.params["tinyrl.enable"] = 0
    z = float(drone.task.drones.pos[0, 2])
    for _ in range(30):  # 1.2 s: beyond the watchdog's 500 ms
        drone.step_period()
        assert _state(drone) == (2, 1, 0)
        assert (drone.log_values()["tinyrl.vx"], drone.log_values()["tinyrl.z"]) == (0.0, pytest.approx(z))
    hover = Packet(Port.COMMANDER_GENERIC, 0, bytes([10]) + struct.pack("<4f", 0.0, 0.0, 0.0, 0.5))
    drone.receive(hover.encode())
    assert drone.state == "client" and _state(drone) == (0, 2, 0)
