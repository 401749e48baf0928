"""Artefacts record paths without the folders of the machine that wrote them."""

from __future__ import annotations

from pathlib import Path

from tinyrl.common.paths import REPO_ROOT, names_another_machine, portable_path


def test_portable_path_keeps_relative_paths_and_names():
    assert portable_path("policies/hover") == "policies/hover"
    assert portable_path("obstacle-course") == "obstacle-course"
    assert portable_path(Path("runs") / "x") == "runs/x"


def test_portable_path_drops_the_machines_folders(tmp_path):
    assert portable_path(REPO_ROOT / "policies" / "hover") == "policies/hover"
    assert portable_path(tmp_path / "course.yaml") == "<course.yaml>"
    assert portable_path(str(tmp_path / "runs" / "obstacle-course")) == "<obstacle-course>"
    assert portable_path("/") == "<root>"


def test_a_recorded_folder_of_another_machine_is_told_apart(tmp_path):
    assert names_another_machine(portable_path(tmp_path / "course.yaml"))
    assert not names_another_machine(portable_path(REPO_ROOT / "envs" / "hover.yaml"))
    assert not names_another_machine(portable_path("obstacle-course"))
