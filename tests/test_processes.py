"""Child processes that must not outlive the command: the orphan sweep after a Ray shutdown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tinyrl.processes import descendants, kill_survivors

# A child that starts a long-lived grandchild, reports both pids, then waits for its stdin to close.
PARENT = """
import subprocess, sys
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
print(grandchild.pid, flush=True)
sys.stdin.read()
"""


def _state(pid: int) -> str | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()[0]


def test_kill_survivors_ends_a_grandchild_its_parent_left_behind():
    child = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    grandchild = int(child.stdout.readline())
    # Only these two: other tests of the session may have children of their own running.
    listed = {pid: started for pid, started in descendants().items() if pid in (child.pid, grandchild)}
    assert set(listed) == {child.pid, grandchild}
    child.stdin.close()
    child.wait()  # the grandchild is an orphan now: no longer our descendant, still running
    assert grandchild not in descendants() and _state(grandchild) not in (None, "Z")
    assert kill_survivors(listed) == [grandchild]
    assert _state(grandchild) in (None, "Z")  # dead (a zombie holds no resources until init reaps it)


def test_kill_survivors_spares_a_reused_pid():
    # A pid listed with another start time belongs to a new process: left alone.
    me = os.getpid()
    assert kill_survivors({me: -1}) == []
