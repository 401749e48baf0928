"""Paths as artefacts record them: nothing of the machine that wrote them.

A policy folder, an export report or an evaluation's JSON travels to other machines (and into this repository):
an absolute path in it names a folder of the machine that wrote it and nothing anywhere else.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

__all__ = ["portable_path"]

#: The checkout this package runs from: paths inside it are recorded relative to it.
REPO_ROOT = Path(__file__).resolve().parents[2]


def portable_path(path: str | os.PathLike[str]) -> str:
    """``path`` as an artefact records it.

    A relative path (``policies/hover``) or a bare name (``obstacle-course``) is kept as given; an absolute path inside
    the checkout becomes relative to it; any other absolute path becomes ``<name>``, its last component only.
    """
    value = os.fspath(path)
    if not value.startswith("/"):
        return value
    posix = PurePosixPath(value)
    root = REPO_ROOT.as_posix()
    if posix.is_relative_to(root):
        return posix.relative_to(root).as_posix()
    return f"<{posix.name or 'root'}>"


def names_another_machine(recorded: str) -> bool:
    """Whether ``recorded`` (a path as :func:`portable_path` wrote it) kept only a name: ``<name>``.

    Such a path was outside the checkout on the machine that wrote it, so there is nothing to open here.
    """
    return recorded.startswith("<") and recorded.endswith(">")
