"""Compiled kernels split over threads (tinyrl/sim/threads.py): every drone once, the same numbers to the bit."""

import os
import threading

import numpy as np
import pytest

from tinyrl import workers
from tinyrl.errors import ConfigError
from tinyrl.sim import geometry, threads
from tinyrl.sim.drone import Quadrotors
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.generator import generate_course


def _blocks(n: int, count: int) -> list[tuple[int, int, int]]:
    calls: list[tuple[int, int, int]] = []
    lock = threading.Lock()

    def kernel(first: int, stop: int) -> None:
        with lock:
            calls.append((first, stop, threading.get_ident()))

    threads.run_blocks(kernel, n, count)
    return sorted(calls)


@pytest.mark.parametrize(("n", "count"), [(256, 2), (257, 3), (100, 4), (31, 2), (256, 1)])
def test_blocks_cover_every_drone_once(n, count):
    calls = _blocks(n, count)
    covered = np.concatenate([np.arange(first, stop) for first, stop, _ in calls])
    np.testing.assert_array_equal(covered, np.arange(n))
    assert len(calls) == max(1, min(count, n // threads.MIN_BLOCK))
    assert all(stop - first >= min(n, threads.MIN_BLOCK) for first, stop, _ in calls)


def test_blocks_run_on_separate_threads():
    calls = _blocks(256, 2)
    assert len({ident for *_, ident in calls}) == 2
    assert threading.get_ident() in {ident for *_, ident in calls}  # the caller flies a block itself


def test_a_failing_block_raises_in_the_caller():
    def kernel(first: int, stop: int) -> None:
        if first > 0:
            raise ValueError("block failed")

    with pytest.raises(ValueError, match="block failed"):
        threads.run_blocks(kernel, 256, 2)


def _fly(monkeypatch: pytest.MonkeyPatch, count: int) -> np.ndarray:
    monkeypatch.setenv(threads.ENV_VAR, str(count))
    rng = np.random.default_rng(0)
    n = 200
    quads = Quadrotors(n, policy_rate_hz=10.0, backend="numba")
    quads.update_params(slice(None), mass_kg=rng.uniform(0.9, 1.1, n) * 0.027)
    quads.external_force_n[:] = rng.uniform(-0.004, 0.004, (n, 3))
    quads.reset(slice(None), rng.uniform([-2, -2, 0.5], [2, 2, 1.5], (n, 3)), yaw_rad=rng.uniform(-3, 3, n))
    setpoints = np.column_stack([rng.uniform(-1, 1, (n, 2)), rng.uniform(-90, 90, n), rng.uniform(0.5, 1.5, n)])
    for _ in range(20):
        quads.step(setpoints, mode="hover")
    return np.concatenate([quads.pos, quads.vel, quads.quat, quads.omega, quads.rpm, quads.controller.held], axis=1)


def test_threaded_flight_equals_one_thread_to_the_bit(monkeypatch):
    one = _fly(monkeypatch, 1)
    np.testing.assert_array_equal(_fly(monkeypatch, 3), one)
    assert np.ptp(one[:, :3], axis=0).min() > 0.5  # the drones did different things


def test_threaded_ray_cast_equals_one_thread_to_the_bit(monkeypatch):
    rng = np.random.default_rng(3)
    config = load_scenario("obstacle-course").course_generator
    packed = geometry.PackedObstacles(8)
    for slot in range(8):
        packed.set_course(slot, generate_course(config, "hard", slot))
    slots = rng.integers(0, 8, 300)
    origins = np.stack([rng.uniform(-4, 4, 300), rng.uniform(-2, 2, 300), np.ones(300)], -1)[:, None, :]
    directions = rng.normal(size=(300, 8, 3))
    got = {}
    for count in (1, 2):
        monkeypatch.setenv(threads.ENV_VAR, str(count))
        got[count] = geometry.ray_distances(packed, slots, origins, directions, 4.0, backend="numba")
    assert 0 < np.count_nonzero(got[1] < 4.0) < got[1].size
    np.testing.assert_array_equal(got[2], got[1])


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_bad_thread_count_is_refused(monkeypatch, value):
    monkeypatch.setenv(threads.ENV_VAR, value)
    with pytest.raises(ConfigError, match=threads.ENV_VAR):
        threads.sim_threads()


def _report_threads(conn) -> None:
    conn.send(("ok", (threads.sim_threads(), os.environ.get(threads.ENV_VAR))))


def test_a_helper_process_flies_on_one_thread(monkeypatch):
    # The validation worker shares the machine with a training that already uses every core.
    monkeypatch.setenv(threads.ENV_VAR, "3")
    conn, process = workers.spawn(_report_threads, (), "tinyrl-test")
    try:
        assert workers.receive(conn, process, "test") == (1, "1")
    finally:
        workers.stop(conn, process)
    assert os.environ[threads.ENV_VAR] == "3"  # the parent's setting is back


def test_reserve_core_takes_one_core_from_the_default_never_the_last_nor_an_explicit_count(monkeypatch):
    monkeypatch.delenv(threads.ENV_VAR, raising=False)
    monkeypatch.setattr(threads, "_usable_cores", lambda: 3)
    assert threads.sim_threads() == 3
    with threads.reserve_core():
        assert threads.sim_threads() == 2
        with threads.reserve_core():
            assert threads.sim_threads() == 1
            with threads.reserve_core():
                assert threads.sim_threads() == 1
        monkeypatch.setenv(threads.ENV_VAR, "3")
        assert threads.sim_threads() == 3
    monkeypatch.delenv(threads.ENV_VAR)
    assert threads.sim_threads() == 3
