"""Run a compiled per-drone kernel over the machine's cores, one contiguous block of drones per thread.

Training steps the simulator on one core while its validation process waits for work on the other: the compiled
physics and ray casts (:mod:`tinyrl.sim.fast`, :mod:`tinyrl.sim.fast_geometry`) release the GIL and touch only
their own drones' rows, so a block per thread flies to the same numbers, to the bit, as one loop over all drones.

``TINYRL_SIM_THREADS`` sets the number of threads (default: the cores this process may use, less those
:func:`reserve_core` holds, at most :data:`MAX_THREADS`); ``1`` runs every kernel on the calling thread.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

from tinyrl.errors import ConfigError

MAX_THREADS = 4
"""Default cap on the threads: beyond a few, the NumPy work between kernels bounds a step."""

MIN_BLOCK = 32
"""Fewest drones worth a thread of their own (below, handing the block over costs more than it saves)."""

ENV_VAR = "TINYRL_SIM_THREADS"

_lock = threading.Lock()
_reserved_cores = 0
_pool: ThreadPoolExecutor | None = None
_pool_workers = 0
_pool_pid = 0


def sim_threads() -> int:
    """Threads a kernel may use: ``$TINYRL_SIM_THREADS``, else the usable cores (at most :data:`MAX_THREADS`).

    Raises:
        ConfigError: ``$TINYRL_SIM_THREADS`` is not a whole number >= 1.
    """
    value = os.environ.get(ENV_VAR, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ConfigError(f"{ENV_VAR}={value!r}: expected a whole number of threads >= 1")
        return int(value)
    return max(1, min(_usable_cores() - _reserved_cores, MAX_THREADS))


@contextlib.contextmanager
def reserve_core() -> Iterator[None]:
    """Keep the kernels' default thread count off one core while inside (other work of this process runs there).

    PPO's update beside the rollout (:mod:`tinyrl.train.overlap`) holds one: a block of drones on its core would
    only take turns with it (1.6M env-steps of the obstacle course: 124 s with the kernels on one thread, 134 s on two).
    """
    global _reserved_cores
    with _lock:
        _reserved_cores += 1
    try:
        yield
    finally:
        with _lock:
            _reserved_cores -= 1


@functools.cache
def _usable_cores() -> int:
    """Cores this process may run on, asked once (every kernel call reads the thread count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _executor(workers: int) -> ThreadPoolExecutor:
    """The process's pool of at least ``workers`` threads, started on first use."""
    global _pool, _pool_workers, _pool_pid
    with _lock:
        # A forked child inherits the pool object but not its threads: it makes its own.
        if _pool is None or _pool_pid != os.getpid() or _pool_workers < workers:
            if _pool is not None and _pool_pid == os.getpid():
                _pool.shutdown(wait=False)  # its idle threads end; blocks already handed over still finish
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tinyrl-sim")
            _pool_workers, _pool_pid = workers, os.getpid()
        return _pool


def run_blocks(kernel: Callable[[int, int], None], n: int, threads: int | None = None) -> None:
    """Call ``kernel(first, stop)`` on blocks covering drones ``0:n``, in parallel; return when all are done.

    Args:
        kernel: Processes drones ``first:stop``; must release the GIL (numba ``nogil``) to run in parallel, and
            must touch only those drones' data.
        n: Number of drones.
        threads: At most this many threads (default :func:`sim_threads`); blocks keep :data:`MIN_BLOCK` drones.
    """
    blocks = min(sim_threads() if threads is None else threads, n // MIN_BLOCK)
    if blocks <= 1:
        kernel(0, n)
        return
    bounds = [n * k // blocks for k in range(blocks + 1)]
    pool = _executor(blocks - 1)
    futures = [pool.submit(kernel, bounds[k], bounds[k + 1]) for k in range(1, blocks)]
    try:
        kernel(bounds[0], bounds[1])  # the calling thread flies the first block rather than wait
    finally:
        for future in futures:
            future.result()
