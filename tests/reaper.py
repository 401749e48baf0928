"""Run a command and report which of its child processes outlived it (Linux).

``python reaper.py REPORT.json -- CMD...`` makes itself a child subreaper (``PR_SET_CHILD_SUBREAPER``), so every
process the command leaves behind is re-parented to it, not to init. The kernel re-parents them before the
command's exit can be waited for, so the moment :func:`subprocess.Popen.wait` returns, every leftover is a child of
this process; nothing is timed. Each leftover is then classified without waiting on a clock: SIGSTOP stops a
process that lives on, but not one already dying (a SIGKILL from the kernel's parent-death signal is pending, or it
is exiting), and ``waitpid(WUNTRACED)`` returns for both. A stopped one is ``leaked``, then killed; the others
report how they ended. The command's stdin, stdout and stderr are this process's; the report is JSON::

    {"returncode": 143, "leftovers": [{"pid": 123, "comm": "qemu-system-arm", "fate": "leaked"}, ...]}

``fate`` is ``leaked``, ``signal N`` (it died of signal N) or ``exit N``. Processes the leftovers had started are
killed and reaped too, so the test leaves nothing behind either way.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

PR_SET_CHILD_SUBREAPER = 36


def children() -> list[int]:
    """Pids whose parent is this process."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # ppid is the second field after the parenthesized command name, which may itself contain spaces.
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:
            found.append(int(entry))
    return found


def comm(pid: int) -> str:
    """The process's name (kept while it is a zombie, unlike its command line)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def fate(pid: int) -> str:
    """Stop ``pid`` if it lives on (then kill it: ``leaked``), else say how it ended."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGSTOP)
    _, status = os.waitpid(pid, os.WUNTRACED)
    if os.WIFSTOPPED(status):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return "leaked"
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.WEXITSTATUS(status)}"


def main(report: Path, cmd: list[str]) -> int:
    """Run ``cmd``, classify what outlived it, write ``report``; returns the command's exit code (a signal: 128+N)."""
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    command = subprocess.Popen(cmd)
    returncode = command.wait()
    leftovers = [{"pid": pid, "comm": comm(pid), "fate": fate(pid)} for pid in children()]
    # Whatever the leftovers had started is ours now: kill and reap it all.
    while True:
        for pid in children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    report.write_text(json.dumps({"returncode": returncode, "leftovers": leftovers}))
    return returncode if returncode >= 0 else 128 - returncode


def run_reaped(cmd: list[str], report: Path, **kwargs: Any) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run ``cmd`` under this reaper; returns the completed reaper (output captured as text) and the report.

    The report's ``returncode`` is the command's own (negative: killed by that signal).
    """
    done = subprocess.run(
        [sys.executable, __file__, str(report), "--", *cmd], capture_output=True, text=True, check=False, **kwargs
    )
    return done, json.loads(report.read_text())


if __name__ == "__main__":
    sep = sys.argv.index("--")
    sys.exit(main(Path(sys.argv[1]), sys.argv[sep + 1 :]))
