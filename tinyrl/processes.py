"""Signals and child processes: SIGTERM handled like Ctrl-C, and children that cannot outlive the process.

:func:`sigterm_as_interrupt` turns SIGTERM into :class:`~tinyrl.errors.Terminated` (a ``KeyboardInterrupt``), so
every ``finally`` and ``with`` block runs and stops what it started (QEMU, Ray, worker processes); the ``tinyrl``
command wraps every subcommand in it. That covers SIGINT, SIGTERM and errors. A process killed outright
(SIGKILL, OOM killer) runs no code at all, so its children are told by the kernel instead: on Linux a child
started with :func:`die_with_this_thread` (a ``preexec_fn``) or calling :func:`die_with_parent` gets SIGKILL when
its parent ends. The kernel ties that to the *thread* that started the child, so start them from a thread that
lives as long as they should (TinyRL starts them from the thread running the command).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tinyrl.errors import Terminated

__all__ = [
    "descendants",
    "die_with_parent",
    "die_with_this_thread",
    "keep_sigterm_handler",
    "kill_survivors",
    "set_process_name",
    "sigterm_as_interrupt",
    "sigterm_calls",
    "sigterm_received",
]

_PR_SET_NAME = 15
_PR_SET_PDEATHSIG = 1
_received = False


def sigterm_received() -> bool:
    """Whether SIGTERM reached a handler of this module in this process."""
    return _received


class _Handler:
    """SIGTERM handler: ``on_first`` for the first signal (default: raise ``Terminated``), ``Terminated`` after."""

    def __init__(self, on_first: Callable[[], None] | None = None) -> None:
        self.on_first = on_first
        self.count = 0

    def __call__(self, signum: int, frame: Any) -> None:
        global _received
        _received = True
        self.count += 1
        if self.on_first is not None and self.count == 1:
            self.on_first()
            return
        raise Terminated()


@contextlib.contextmanager
def _installed(handler: _Handler) -> Iterator[None]:
    # Only the main thread can take signals; elsewhere (a Ray trial's thread) the process's own handling stays.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block SIGTERM raises :class:`~tinyrl.errors.Terminated` in the main thread, as Ctrl-C would.

    Nested blocks keep the outer handler.
    """
    if isinstance(signal.getsignal(signal.SIGTERM), _Handler):
        yield
        return
    with _installed(_Handler()):
        yield


@contextlib.contextmanager
def sigterm_calls(stop: Callable[[], None]) -> Iterator[None]:
    """Inside the block the first SIGTERM calls ``stop()`` (a graceful stop); a second raises ``Terminated``."""
    with _installed(_Handler(stop)):
        yield


@contextlib.contextmanager
def keep_sigterm_handler() -> Iterator[None]:
    """Put the SIGTERM handler back after the block if the block replaced it (``ray.init`` does).

    Only a Python handler is put back: with the default action there is nothing of ours to keep.
    """
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        yield
    finally:
        if callable(previous) and signal.getsignal(signal.SIGTERM) is not previous:
            signal.signal(signal.SIGTERM, previous)


def _prctl() -> Callable[..., int] | None:
    """The C library's ``prctl`` (Linux), looked up before any fork so that the child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def die_with_this_thread() -> Callable[[], None] | None:
    """A ``preexec_fn`` for :class:`subprocess.Popen`: the child gets SIGKILL when the calling thread ends.

    ``None`` where the kernel offers no such thing (not Linux): pass it on as ``preexec_fn`` all the same.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent ended before the line above: nobody will send the signal
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def die_with_parent(parent_pid: int) -> None:
    """In a child process: get SIGKILL when the thread that started it ends (Linux; elsewhere nothing).

    Args:
        parent_pid: The parent's pid; if it has already ended, this process ends at once.
    """
    prctl = _prctl()
    if prctl is None:
        return
    prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGKILL)


def set_process_name(name: str) -> None:
    """Name this process as ``ps -o comm`` and ``top`` show it (Linux, 15 bytes; elsewhere nothing)."""
    prctl = _prctl()
    if prctl is not None:
        prctl(_PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


def _stat(pid: int) -> tuple[int, str, int] | None:
    """Parent pid, state letter and start time (clock ticks since boot) of ``pid``, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name, in parentheses, may hold spaces and ')': the fields after the last ')' are plain.
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], int(fields[19])


def descendants() -> dict[int, int]:
    """This process's children, their children and so on (Linux; elsewhere empty): pid → start time."""
    if not os.path.isdir("/proc"):
        return {}
    parents: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            parents[int(entry)] = (stat[0], stat[2])
    found: dict[int, int] = {}
    frontier = [os.getpid()]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, started) in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = started
                frontier.append(pid)
    return found


def kill_survivors(processes: dict[int, int], wait_s: float = 5.0) -> list[int]:
    """SIGKILL those of ``processes`` (pid → start time, from :func:`descendants`) still running; wait till dead.

    A pid reused by a new process (another start time) is left alone. Returns the pids that had to be killed.
    Waits at most ``wait_s`` for the kernel to finish them (a process in uninterruptible sleep can take longer).
    """
    killed = []
    for pid, started in processes.items():
        stat = _stat(pid)
        if stat is not None and stat[2] == started and stat[1] != "Z":
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    deadline = time.monotonic() + wait_s
    for pid in killed:
        while (stat := _stat(pid)) is not None and stat[2] == processes[pid] and stat[1] != "Z":
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
    return killed
