"""Helper processes that take the machine's other core (background evaluation).

Spawned, not forked: the parent holds torch's and TensorFlow's thread pools, which do not survive a fork.
A worker talks over one :class:`~multiprocessing.connection.Connection`, ignores Ctrl-C (the parent decides
what an interrupt means and stops its workers), keeps its numeric libraries to one thread so that it
never takes the core of the process it is helping, and cannot outlive its parent: it is named after its
process (``ps -o comm``: ``tinyrl-eval``) and, on Linux, gets SIGKILL when the parent thread that started it
ends, even when that parent was killed outright (:func:`tinyrl.processes.die_with_parent`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from tinyrl import processes
from tinyrl.errors import TinyRLError

# A helper runs one thread, the simulator's kernels included (tinyrl.sim.threads): the validation worker shares the
# machine with a training that spreads its own simulation over the cores.
_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TINYRL_SIM_THREADS")


class WorkerError(TinyRLError, RuntimeError):
    """A helper process failed or died."""


def spawn(target: Callable[..., None], args: tuple[Any, ...], name: str) -> tuple[Connection, BaseProcess]:
    """Start ``target(conn, *args)`` in a new process; returns the parent's end of the pipe and the process."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_run, args=(target, child, *args), name=name, daemon=True)
    saved = {k: os.environ.get(k) for k in _ONE_THREAD}
    os.environ.update(dict.fromkeys(_ONE_THREAD, "1"))  # read by the child when it imports NumPy
    try:
        process.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    child.close()
    return parent, process


def receive(conn: Connection, process: BaseProcess, what: str) -> Any:
    """The worker's next ``("ok", value)`` reply; raises :class:`WorkerError` on its error or death."""
    try:
        kind, payload = conn.recv()
    except (EOFError, OSError) as exc:
        raise WorkerError(f"the {what} worker died (exit code {process.exitcode})") from exc
    if kind == "error":
        raise WorkerError(f"{what} failed in its worker process:\n{payload}")
    return payload


def send(conn: Connection, process: BaseProcess, what: str, message: Any) -> None:
    """Send ``message`` to the worker; raises :class:`WorkerError` if it is gone."""
    try:
        conn.send(message)
    except (BrokenPipeError, OSError) as exc:
        raise WorkerError(f"the {what} worker is gone (exit code {process.exitcode})") from exc


def stop(conn: Connection, process: BaseProcess, patience_s: float = 5.0) -> None:
    """Ask the worker to stop (a ``None`` message); SIGTERM it after ``patience_s`` seconds, SIGKILL 5 s later."""
    with contextlib.suppress(BrokenPipeError, OSError):  # already gone
        conn.send(None)
    process.join(timeout=patience_s)
    if process.is_alive():
        process.terminate()
        process.join(timeout=5)
    if process.is_alive():  # e.g. stuck in native code that defers SIGTERM
        process.kill()
        process.join()
    conn.close()


def serve(conn: Connection, handle: Callable[[Any], Any]) -> None:
    """Worker side: reply ``("ok", handle(message))`` or ``("error", traceback)`` to each message until ``None``."""
    while (message := conn.recv()) is not None:
        try:
            reply = ("ok", handle(message))
        except Exception:  # the parent raises it as a WorkerError, with this traceback
            reply = ("error", traceback.format_exc())
        conn.send(reply)


def _run(target: Callable[..., None], conn: Connection, *args: Any) -> None:
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid is not None:
        # Killed with its parent, even one killed outright (mid-evaluation a worker would not notice the pipe close).
        processes.die_with_parent(parent.pid)
    processes.set_process_name(multiprocessing.current_process().name)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        target(conn, *args)
    except (EOFError, OSError):  # the parent is gone
        return
