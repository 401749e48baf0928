"""Crash-safe runs: SIGTERM saves like Ctrl-C and stops the evaluation worker, "finished" is written last, resume
skips a damaged checkpoint, ship checks everything before it writes anything, runs started together never share a
folder (faults injected with ``$TINYRL_FAULT`` or by patching, never by timers)."""

from __future__ import annotations

import json
import os
import signal
import sys

import pytest
from reaper import run_reaped
from scenario_support import tiny_scenario
from test_train import checkpoint_steps_of, train_with_fault

from tinyrl.errors import ConfigError
from tinyrl.train import run as run_module
from tinyrl.train.run import checkpoints
from tinyrl.train.ship import ship

TRAIN = [sys.executable, "-m", "tinyrl", "train", "--eval-episodes", "2", "--no-progress"]


def test_sigterm_saves_a_checkpoint_stops_the_worker_exits_143_and_resume_continues_from_it(tmp_path):
    # An evaluation at 1,024 steps keeps the evaluation worker busy or about to be when SIGTERM comes at 1,536.
    env = tiny_scenario(tmp_path, eval_every_steps=1024, checkpoint_every_steps=1024)
    runs = tmp_path / "runs"
    cmd = [*TRAIN, "--env", str(env), "--out", str(runs)]
    environ = {**os.environ, "COLUMNS": "400", "TINYRL_FAULT": "sigterm@1536"}
    terminated, report = run_reaped(cmd, tmp_path / "reaper.json", cwd=tmp_path, env=environ, timeout=600)
    assert report["returncode"] == 143, terminated.stderr[-3000:]
    # The trainer stopped and reaped its evaluation worker before it exited. (Python's multiprocessing resource
    # tracker, "python", may still be on its way out: it ends by itself once every process holding its pipe has.)
    assert [p for p in report["leftovers"] if p["comm"] != "python"] == []
    (run_dir,) = (runs / "obstacle-course").iterdir()
    assert checkpoint_steps_of(run_dir) == [1024, 1536]  # 1,536 is SIGTERM's own save, between the periodic ones
    state = json.loads((run_dir / "state.json").read_text())
    assert state["num_timesteps"] == 1536 and not state["finished"]
    resumed = train_with_fault([*TRAIN, "--resume", str(run_dir)], None, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from step_000000001536.zip at 1,536 steps" in resumed.stdout


def test_a_kill_while_finishing_leaves_an_unfinished_run_that_resume_finishes_and_ship_refuses(tmp_path):
    env = tiny_scenario(tmp_path, eval_every_steps=1_000_000, checkpoint_every_steps=1024)
    runs = tmp_path / "runs"
    killed = train_with_fault([*TRAIN, "--env", str(env), "--out", str(runs)], "kill-finishing@1", tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    (run_dir,) = (runs / "obstacle-course").iterdir()
    assert (run_dir / "metrics.json").is_file()  # the kill came after the metrics ...
    assert not json.loads((run_dir / "state.json").read_text())["finished"]  # ... and before "finished"
    with pytest.raises(ConfigError, match="the run has not finished"):
        ship(run_dir, tmp_path / "policy")
    assert not (tmp_path / "policy").exists()

    resumed = train_with_fault([*TRAIN, "--resume", str(run_dir)], None, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((run_dir / "state.json").read_text())["finished"]
    ship(run_dir, tmp_path / "policy")
    assert (tmp_path / "policy" / "teacher.npz").is_file()

    # Shipping over a folder whose manifest is garbage fails before it changes anything in that folder.
    dest = tmp_path / "other"
    dest.mkdir()
    (dest / "manifest.json").write_text("{not json")
    (dest / "teacher.npz").write_bytes(b"the old teacher")
    with pytest.raises(ConfigError, match=r"manifest\.json: not a manifest"):
        ship(run_dir, dest)
    assert (dest / "teacher.npz").read_bytes() == b"the old teacher"
    assert sorted(p.name for p in dest.iterdir()) == ["manifest.json", "teacher.npz"]


def test_resume_skips_a_truncated_newest_checkpoint_and_says_so(tmp_path):
    env = tiny_scenario(tmp_path, eval_every_steps=1_000_000, checkpoint_every_steps=1024)
    runs = tmp_path / "runs"
    killed = train_with_fault([*TRAIN, "--env", str(env), "--out", str(runs)], "kill@2048", tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    (run_dir,) = (runs / "obstacle-course").iterdir()
    newest = checkpoints(run_dir)[-1]
    assert newest.name == "step_000000002048.zip"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    resumed = train_with_fault([*TRAIN, "--resume", str(run_dir)], None, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    out = " ".join(resumed.stdout.split())
    assert "checkpoint(s) skipped: step_000000002048.zip" in out
    assert "resuming from step_000000001024.zip at 1,024 steps" in out


def test_a_garbage_state_file_is_one_line(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "state.json").write_text("[1, 2")
    from tinyrl.train.run import load_state

    with pytest.raises(ConfigError, match=r"state\.json: not a run's state"):
        load_state(run_dir)


def test_resume_never_unpickles_a_checkpoint_it_did_not_sign(tmp_path):
    env = tiny_scenario(tmp_path, eval_every_steps=1_000_000, checkpoint_every_steps=1024)
    runs = tmp_path / "runs"
    killed = train_with_fault([*TRAIN, "--env", str(env), "--out", str(runs)], "kill@2048", tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    (run_dir,) = (runs / "obstacle-course").iterdir()

    # Someone else's key: every checkpoint is refused, in one line that says how to trust the folder.
    other_key = {"TINYRL_CONFIG_DIR": str(tmp_path / "someone-else")}
    refused = train_with_fault([*TRAIN, "--resume", str(run_dir)], None, tmp_path, extra_env=other_key)
    assert refused.returncode == 2, refused.stderr[-3000:]  # bad input
    assert "no checkpoint signed with your key" in refused.stderr and f"tinyrl trust {run_dir}" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    # A pickle planted in the newest checkpoint (SB3 unpickles ":serialized:" entries of its "data") is skipped
    # unopened: its payload, which would create a file, never runs.
    marker = tmp_path / "payload-ran"
    newest = checkpoints(run_dir)[-1]
    plant_pickle(newest, marker)
    resumed = train_with_fault([*TRAIN, "--resume", str(run_dir)], None, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    out = " ".join(resumed.stdout.split())
    assert "checkpoint(s) skipped: step_000000002048.zip (changed since it was signed" in out
    assert "resuming from step_000000001024.zip at 1,024 steps" in out
    assert not marker.exists()


class _Payload:
    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant_pickle(checkpoint, marker) -> None:
    """Rewrite an SB3 checkpoint so that loading it creates ``marker``."""
    import base64
    import pickle
    import zipfile

    with zipfile.ZipFile(checkpoint) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    data = json.loads(members["data"])
    data["observation_space"] = {":serialized:": base64.b64encode(pickle.dumps(_Payload(marker))).decode()}
    members["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(checkpoint, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)


def test_two_runs_starting_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    # The race, injected without timers: every "does it exist yet?" answers no, as it would for a process that
    # checked just before another one created the folder. Only the creation itself may decide.
    monkeypatch.setattr(run_module.time, "strftime", lambda fmt: "20260101-000000")
    monkeypatch.setattr(run_module.Path, "exists", lambda self: False)
    first = run_module.new_run_dir(tmp_path, "hover")
    second = run_module.new_run_dir(tmp_path, "hover")
    third = run_module.new_run_dir(tmp_path, "hover")
    assert [first.name, second.name, third.name] == ["20260101-000000", "20260101-000000-1", "20260101-000000-2"]
    assert all(p.is_dir() for p in (first, second, third))
