import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from reaper import run_reaped
from scale_support import NO_EARLY_STOP, SEED_SPACE, tiny_scenario, write_space
from scenario_support import ROOT, shifted_hover

from tinyrl.scale.space import overrides
from tinyrl.scale.sweep import SweepOptions, run_sweep
from tinyrl.tasks.config import load_scenario
from tinyrl.train.run import RunOptions, load_state
from tinyrl.train.trainer import train


def cli_env(fault: str | None = None) -> dict:
    """Subprocesses and Ray workers import this checkout's tinyrl; ``$TINYRL_SWEEP_FAULT`` is ``fault`` or unset."""
    env = {k: v for k, v in os.environ.items() if k != "TINYRL_SWEEP_FAULT"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env["COLUMNS"] = "400"  # paths in the output on one line
    return {**env, **({"TINYRL_SWEEP_FAULT": fault} if fault else {})}


def run_cli(*args, cwd, timeout=600, fault: str | None = None, extra_env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "tinyrl", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**cli_env(fault), **(extra_env or {})},
    )


def test_two_trial_sweep_equals_the_same_runs_done_alone(tmp_path):
    # A scenario of two learners: each trial trains one (the sweep compares the trials itself).
    env = tiny_scenario(tmp_path, learners=2)
    space = write_space(tmp_path, SEED_SPACE, **NO_EARLY_STOP)
    options = SweepOptions(
        env=str(env), trials=2, space=space, out=tmp_path / "sweeps", final_eval_episodes=6, progress=False
    )
    result = run_sweep(options)
    assert result.complete and len(result.rows) == 2
    assert {r["status"] for r in result.rows} == {"finished"}
    assert result.rows[0]["config"] != result.rows[1]["config"]  # Optuna proposed two configs
    for i, row in enumerate(result.rows):
        trial_run = result.sweep_dir / "trials" / row["trial"] / "run"
        alone = train(
            RunOptions(
                env=str(env),
                overrides=overrides({**row["config"], "train.learners": 1}),
                run_dir=tmp_path / f"alone{i}",
                progress=False,
                final_eval_episodes=6,
            )
        )
        assert not (trial_run / "learners").exists()
        swept, single = np.load(trial_run / "teacher.npz"), np.load(alone / "teacher.npz")
        assert sorted(swept.files) == sorted(single.files)
        for name in swept.files:
            if name != "meta":
                np.testing.assert_array_equal(swept[name], single[name], err_msg=name)
        m_swept = json.loads((trial_run / "metrics.json").read_text())
        m_alone = json.loads((alone / "metrics.json").read_text())
        assert m_swept["evaluation"] == m_alone["evaluation"]
        strip = [{k: v for k, v in e.items() if k != "wall_time_s"} for e in m_swept["learning_curve"]]
        assert strip == [{k: v for k, v in e.items() if k != "wall_time_s"} for e in m_alone["learning_curve"]]
        assert row["success_rate"] == m_alone["evaluation"]["success_rate"]
        assert row["steps"] == 2048 and len(row["curve"]) == 2
        config = yaml.safe_load((trial_run / "config.yaml").read_text())
        assert config["train"]["seed"] == row["config"]["train.seed"]

    # Results: CSV and JSON rows, the best config as an override and as a ready scenario, the plot.
    sweep_dir = result.sweep_dir
    csv_lines = (sweep_dir / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 3 and csv_lines[0].startswith("trial,status,success_rate")
    assert [r["trial"] for r in json.loads((sweep_dir / "results.json").read_text())] == [
        r["trial"] for r in result.rows
    ]
    best = result.rows[0]
    scenario = load_scenario(sweep_dir / "best_scenario.yaml")
    assert scenario.train.seed == best["config"]["train.seed"]
    assert list(scenario.train.net_arch) == best["config"]["train.net_arch"]
    again = load_scenario(env, yaml.safe_load((sweep_dir / "best_overrides.yaml").read_text()))
    assert again == scenario
    assert (sweep_dir / "success_vs_wall_time.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sweep_joins_a_ray_head_by_address(tmp_path, monkeypatch):
    ray = Path(sys.executable).with_name("ray")
    port = free_port()
    # A cluster with token authentication, as `ray start` makes by default; head and driver share the token.
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
    temp = Path("/tmp") / f"tinyrl-head-{os.getpid()}"
    head = subprocess.Popen(
        [
            str(ray),
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=cli_env(),
        start_new_session=True,  # its own process group: the teardown stops this head and nothing else
    )
    try:
        deadline = time.time() + 120
        while True:
            assert head.poll() is None, head.stderr.read().decode()[-2000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, "the Ray head did not come up"
                time.sleep(0.5)
        env = tiny_scenario(tmp_path)
        space = write_space(tmp_path, SEED_SPACE, **NO_EARLY_STOP)
        out = run_cli(
            "sweep",
            "--env",
            str(env),
            "--space",
            str(space),
            "--trials",
            "1",
            "--address",
            f"127.0.0.1:{port}",
            "--out",
            str(tmp_path / "sweeps"),
            "--eval-episodes",
            "4",
            "--no-progress",
            cwd=tmp_path,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        assert f"on 127.0.0.1:{port}" in out.stdout
        (sweep_dir,) = (tmp_path / "sweeps").iterdir()
        (row,) = json.loads((sweep_dir / "results.json").read_text())
        assert row["status"] == "finished" and row["steps"] == 2048
        assert load_state(sweep_dir / "trials" / row["trial"] / "run").finished
        assert head.poll() is None  # the cluster we joined is left running
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)
    assert head.returncode is not None


def one_trial_sweep(tmp_path, env, fault: str | None = None) -> subprocess.CompletedProcess:
    """A 1-trial ``tinyrl sweep`` over seeds (no early stopping) with ``$TINYRL_SWEEP_FAULT`` set to ``fault``."""
    space = write_space(tmp_path, {"train.seed": {"type": "int", "low": 0, "high": 9}}, **NO_EARLY_STOP)
    args = ["--env", str(env), "--space", str(space), "--trials", "1", "--out", str(tmp_path / "sweeps")]
    return run_cli("sweep", *args, "--eval-episodes", "4", "--no-progress", cwd=tmp_path, fault=fault)


def test_killed_trial_worker_resumes_from_its_checkpoint(tmp_path):
    # Evaluations (each a Tune checkpoint) every 1,024 steps; the driver kills the worker once Tune holds 2,048.
    env = tiny_scenario(tmp_path, steps=4096)
    out = one_trial_sweep(tmp_path, env, fault="kill-trial@2048")
    assert out.returncode == 0, out.stderr[-3000:]
    (sweep_dir,) = (tmp_path / "sweeps").iterdir()
    (row,) = json.loads((sweep_dir / "results.json").read_text())
    assert row["status"] == "finished" and row["steps"] == 4096
    trial_dir = sweep_dir / "trials" / row["trial"]
    first, second = json.loads((trial_dir / "attempts.json").read_text())
    assert first["from_steps"] == 0 and second["pid"] != first["pid"]
    assert second["from_steps"] == 2048  # the checkpoint Tune held when the worker died, exactly
    assert "resuming from step_000000002048.zip at 2,048 steps" in (trial_dir / "train.log").read_text()
    state = load_state(trial_dir / "run")
    assert state.finished and state.num_timesteps == 4096
    assert [e["steps"] for e in state.evaluations] == [1024, 2048, 3072, 4096]


def test_interrupted_sweep_resumes_from_its_last_checkpoint(tmp_path):
    # The driver interrupts itself (as Ctrl-C would) once Tune holds the trial's checkpoint at 2,048 steps.
    env = tiny_scenario(tmp_path, steps=4096)
    out = one_trial_sweep(tmp_path, env, fault="sigint@2048")
    assert out.returncode == 130, out.stderr[-3000:]
    (sweep_dir,) = (tmp_path / "sweeps").iterdir()
    assert f"tinyrl sweep --resume {sweep_dir}" in out.stdout
    (row,) = json.loads((sweep_dir / "results.json").read_text())
    assert row["status"] == "unfinished" and row["steps"] == 2048, row

    # Someone else's copy of the folder: Tune's pickled state is refused before anything is loaded.
    other_key = {"TINYRL_CONFIG_DIR": str(tmp_path / "someone-else")}
    refused = run_cli("sweep", "--resume", str(sweep_dir), "--no-progress", cwd=tmp_path, extra_env=other_key)
    assert refused.returncode == 2, refused.stderr[-3000:]  # bad input
    assert "not signed with your key" in refused.stderr and f"tinyrl trust {sweep_dir}" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    (row,) = json.loads((sweep_dir / "results.json").read_text())
    assert row["steps"] == 2048

    resumed = run_cli("sweep", "--resume", str(sweep_dir), "--no-progress", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    (row,) = json.loads((sweep_dir / "results.json").read_text())
    assert row["status"] == "finished" and row["steps"] == 4096
    trial_dir = sweep_dir / "trials" / row["trial"]
    first, second = json.loads((trial_dir / "attempts.json").read_text())
    assert first["from_steps"] == 0 and second["from_steps"] == 2048
    assert "resuming from step_000000002048.zip at 2,048 steps" in (trial_dir / "train.log").read_text()
    assert [e["steps"] for e in load_state(trial_dir / "run").evaluations] == [1024, 2048, 3072, 4096]


def test_sigterm_stops_the_sweep_like_ctrl_c_and_leaves_no_ray_process(tmp_path):
    # The driver sends itself SIGTERM once Tune holds the trial's checkpoint at 2,048 steps.
    env = tiny_scenario(tmp_path, steps=4096)
    space = write_space(tmp_path, {"train.seed": {"type": "int", "low": 0, "high": 9}}, **NO_EARLY_STOP)
    args = ["--env", str(env), "--space", str(space), "--trials", "1", "--out", str(tmp_path / "sweeps")]
    cmd = [sys.executable, "-m", "tinyrl", "sweep", *args, "--eval-episodes", "4", "--no-progress"]
    out, report = run_reaped(cmd, tmp_path / "reaper.json", cwd=tmp_path, env=cli_env("sigterm@2048"), timeout=600)
    assert report["returncode"] == 143, out.stderr[-3000:]
    assert out.stderr.strip().splitlines()[-1] == "terminated"
    (sweep_dir,) = (tmp_path / "sweeps").iterdir()
    assert f"tinyrl sweep --resume {sweep_dir}" in out.stdout  # stopped like Ctrl-C: results written, resumable
    (row,) = json.loads((sweep_dir / "results.json").read_text())
    assert row["status"] == "unfinished" and row["steps"] == 2048, row
    # The local Ray instance (GCS, raylet, workers) was shut down before the command exited: nothing it started
    # was still running then. A worker orphaned by its raylet may linger as a zombie, killed by the command itself
    # ("signal 9") or ended by itself (Ray workers exit with status 1 when their raylet is gone, which on a busy
    # machine can come first); "leaked" would be a process that was still running.
    assert [p for p in report["leftovers"] if p["fate"] == "leaked"] == []


def test_asha_stops_a_trial_that_cannot_learn_and_lets_a_learner_finish(tmp_path):
    # One rung, at 2 of the 3 validation evaluations (32,768 steps). The learner runs first (first_trials, one
    # trial at a time), so it alone sets the rung's cutoff; learning_rate 0 keeps the untrained network, which
    # never holds the shifted hover point. Same seed, same learning curve: no timing decides anything.
    env = shifted_hover(tmp_path, steps=49_152, eval_every_steps=16_384, checkpoint_every_steps=16_384)
    learner, loser = ({"train.hyperparameters.learning_rate": lr} for lr in (3.0e-4, 0.0))
    space = write_space(
        tmp_path,
        {"train.hyperparameters.learning_rate": {"type": "choice", "values": [3.0e-4, 0.0]}},
        scheduler={"grace_evaluations": 2, "reduction_factor": 2},
        first_trials=[learner, loser],
    )
    result = run_sweep(
        SweepOptions(
            env=str(env),
            trials=2,
            space=space,
            max_concurrent=1,
            out=tmp_path / "sweeps",
            final_eval_episodes=4,
            progress=False,
        )
    )
    assert result.complete
    rows = {row["config"]["train.hyperparameters.learning_rate"]: row for row in result.rows}
    good, bad = rows[3.0e-4], rows[0.0]
    # What ASHA compares at the rung: the learner's validation success beats the loser's.
    assert good["curve"][1]["steps"] == bad["curve"][1]["steps"] == 32_768
    assert good["curve"][1]["success_rate"] > bad["curve"][1]["success_rate"], (good["curve"], bad["curve"])
    assert good["status"] == "finished" and good["steps"] == 49_152 and len(good["curve"]) == 3
    # Tune's record, not the trial's folder: the stopped worker may train on for a moment before it is ended.
    assert bad["status"] == "stopped early" and bad["steps"] == 32_768 and len(bad["curve"]) == 2
    assert result.recommended is not None and result.recommended["trial"] == good["trial"]
