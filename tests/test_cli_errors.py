"""Every failure of the ``tinyrl`` command ends in one line on stderr, never a traceback (unless ``--debug``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tinyrl.cli
from tinyrl.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies" / "obstacle-course"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    # A user's shell: without the TF_* settings this test process's own imports of TensorFlow helpers left behind.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    # The timeout is a hang guard only: every command here fails before any long work.
    return subprocess.run(
        [sys.executable, "-m", "tinyrl", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
        env=env,
    )


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_an_unexpected_library_error_is_one_line_and_debug_shows_its_traceback(monkeypatch, capsys):
    def broken_app(args: list[str]) -> None:
        raise ValueError("the library\nsaid no")

    monkeypatch.setattr(tinyrl.cli, "app", broken_app)
    with pytest.raises(SystemExit) as exit_info:
        tinyrl.cli.main(["eval", "x"])
    assert exit_info.value.code == 1
    line = one_line(capsys.readouterr().err)
    assert "ValueError: the library said no" in line and "--debug" in line
    with pytest.raises(ValueError, match="said no"):
        tinyrl.cli.main(["--debug", "eval", "x"])


def test_an_os_error_names_its_file(monkeypatch, capsys):
    def broken_app(args: list[str]) -> None:
        raise PermissionError(13, "Permission denied", "/some/where.json")

    monkeypatch.setattr(tinyrl.cli, "app", broken_app)
    with pytest.raises(SystemExit):
        tinyrl.cli.main(["eval", "x"])
    assert "/some/where.json: Permission denied" in one_line(capsys.readouterr().err)


def test_an_unknown_hyperparameter_fails_before_the_run_folder_exists(tmp_path):
    scenario = (ROOT / "envs" / "obstacle-course.yaml").read_text()
    broken, n = re.subn(r"hyperparameters: \{[^}]*\}", "hyperparameters: {bogus_knob: 3}", scenario)
    assert n == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(broken)
    result = run("train", "--env", str(bad), "--steps", "1000", "--out", str(tmp_path / "runs"), "--no-progress")
    assert result.returncode == 2
    assert "train.hyperparameters: bogus_knob is not a ppo hyperparameter" in one_line(result.stderr)
    assert not (tmp_path / "runs").exists()


def test_eval_checks_its_json_path_before_flying(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run("eval", str(POLICY), "--episodes", "200", "--json", str(blocker / "out.json"))
    assert result.returncode == 2
    assert f"cannot write {blocker / 'out.json'}" in one_line(result.stderr)
    assert result.stdout == ""  # nothing was flown (the results table goes to stdout)


def test_a_truncated_policy_file_is_one_line(tmp_path):
    truncated = tmp_path / "teacher.npz"
    truncated.write_bytes((POLICY / "teacher.npz").read_bytes()[:3000])
    result = run("eval", str(truncated), "--episodes", "1")
    assert result.returncode == 2
    assert "not a TinyRL policy .npz" in one_line(result.stderr)


def test_a_bad_hil_port_url_is_one_line():
    result = run("hil", "--policy", str(POLICY), "--port", "foo://bar", "--episodes", "1")
    assert result.returncode == 2
    assert "cannot open HIL port foo://bar" in one_line(result.stderr)


def test_ensure_writable_refuses_a_folder(tmp_path):
    from tinyrl.io import ensure_writable

    with pytest.raises(ConfigError, match="it is a folder"):
        ensure_writable(tmp_path)
    ensure_writable(tmp_path / "new" / "deeper" / "file.json")  # missing folders are made
    assert (tmp_path / "new" / "deeper").is_dir()
