"""Atomic file writes: a crash never leaves a half-written checkpoint or artefact behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tinyrl.errors import ConfigError


def fsync_path(path: str | Path) -> None:
    """Flush a written file, or a folder's entries (after a rename inside it), to disk: it survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename.

    The rename is atomic on POSIX, so readers see either the old file or the whole new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp creates 0600; give the file the mode a plain open() would (0666 minus the umask).
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_path(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_writable(path: str | Path) -> None:
    """Check now that ``path`` can be written later (its folder made if missing).

    Long work (an evaluation, a HIL run, a report) is never lost to a bad output path at its end.

    Raises:
        ConfigError: The folder cannot be made or written, or ``path`` is a folder.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "it is a folder", str(path))
        for parent in path.parents:
            if parent.exists() and not parent.is_dir():
                raise NotADirectoryError(20, f"{parent} is not a folder", str(parent))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        Path(tmp).unlink()
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))
