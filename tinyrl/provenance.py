"""Provenance of files that run code when loaded: TinyRL loads only the ones it wrote for you.

SB3 checkpoints (``.zip``), replay buffers and Ray Tune's experiment state (``.pkl``) are pickles: loading one
can run any code its author put in it. So every such file TinyRL writes gets a signature beside it,
``NAME.sig``: HMAC-SHA256 of the file's bytes under a key only you can read (32 random bytes made on first use,
mode 0600, in ``$TINYRL_CONFIG_DIR`` or ``$XDG_CONFIG_HOME/tinyrl`` or ``~/.config/tinyrl``). Resuming a run or a
sweep checks the signatures first and refuses a file without a valid one: a run folder from someone else, or one
changed since it was written. ``tinyrl trust FOLDER`` signs a folder's pickles after you decide to trust it.

Everything else TinyRL loads (``.npz`` with ``allow_pickle=False``, JSON, YAML, ``.tflite`` flatbuffers, Keras
files in safe mode) holds data only and needs no signature.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tinyrl.errors import TinyRLError
from tinyrl.io import atomic_write_text

#: Environment variable naming the folder of the key (default ``$XDG_CONFIG_HOME/tinyrl``).
CONFIG_DIR_VAR = "TINYRL_CONFIG_DIR"
#: Environment variable holding the key itself, as hex (how a sweep hands the driver's key to its trials).
KEY_VAR = "TINYRL_PROVENANCE_KEY"
KEY_FILE = "provenance.key"
SIGNATURE_SUFFIX = ".sig"
#: Files that unpickle when loaded: SB3 checkpoints, replay buffers, Ray Tune state.
PICKLE_PATTERNS = ("*.zip", "*.pkl")
_KEY_BYTES = 32


class UntrustedFileError(TinyRLError):
    """A file that can run code when loaded has no valid signature from this user's key."""


def config_dir() -> Path:
    """Folder of the provenance key."""
    if os.environ.get(CONFIG_DIR_VAR):
        return Path(os.environ[CONFIG_DIR_VAR])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tinyrl"


def key() -> bytes:
    """This user's signing key: from ``$TINYRL_PROVENANCE_KEY``, else the key file (made on first use)."""
    if os.environ.get(KEY_VAR):
        try:
            value = bytes.fromhex(os.environ[KEY_VAR])
        except ValueError:
            raise UntrustedFileError(f"${KEY_VAR} is not a hex key") from None
        if len(value) < 16:
            raise UntrustedFileError(f"${KEY_VAR} is too short ({len(value)} bytes; at least 16)")
        return value
    path = config_dir() / KEY_FILE
    if not path.is_file():
        _create_key(path)
    text = path.read_text().strip()
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise UntrustedFileError(f"{path}: not a TinyRL key (delete it to make a new one)") from None
    if len(value) != _KEY_BYTES:
        raise UntrustedFileError(f"{path}: not a TinyRL key (delete it to make a new one)")
    return value


def _create_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".key-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(_KEY_BYTES) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        # Whole or not at all; fails if another process made the key first: then theirs is kept.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def key_source() -> str:
    """Where :func:`key` comes from, for messages."""
    return f"${KEY_VAR}" if os.environ.get(KEY_VAR) else str(config_dir() / KEY_FILE)


def signature_path(path: Path) -> Path:
    """Where the signature of ``path`` lives: ``path`` + ``.sig``."""
    return path.with_name(path.name + SIGNATURE_SUFFIX)


def digest(path: Path, signing_key: bytes | None = None) -> str:
    """HMAC-SHA256 (hex) of the bytes of ``path`` under ``signing_key`` (default: :func:`key`)."""
    mac = hmac.new(signing_key if signing_key is not None else key(), digestmod=hashlib.sha256)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            mac.update(block)
    return mac.hexdigest()


def sign(path: Path, signed_as: Path | None = None) -> None:
    """Write the signature of ``path`` for the file ``signed_as`` (default ``path``; for a file about to be renamed)."""
    atomic_write_text(signature_path(signed_as or path), digest(path) + "\n")


def problem(path: Path) -> str | None:
    """Why ``path`` may not be loaded (no signature, or one that does not match), or None if it may."""
    sig = signature_path(path)
    if not sig.is_file():
        return "not signed"
    if not hmac.compare_digest(sig.read_text().strip(), digest(path)):
        return "changed since it was signed, or signed with another key"
    return None


def check(paths: Iterable[Path], folder: Path) -> None:
    """Raise unless every file of ``paths`` (pickles in ``folder``) carries a valid signature.

    Raises:
        UntrustedFileError: One is unsigned, or signed with another key, or changed since it was signed.
    """
    problems = [f"{path.relative_to(folder)} ({reason})" for path in paths if (reason := problem(path)) is not None]
    if problems:
        shown = "; ".join(problems[:3]) + (f" and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise UntrustedFileError(f"{folder}: not signed with your key: {shown}; {refusal(folder)}")


def refusal(folder: Path) -> str:
    """The rule, as error messages state it, with the command that lifts it for ``folder``."""
    return (
        "these files are pickles, which can run code when loaded, so TinyRL loads only those it wrote with your key "
        f"(docs/security.md); if you trust {folder}, run `tinyrl trust {folder}` and try again"
    )


def pickles(folder: Path, patterns: Iterable[str] = PICKLE_PATTERNS) -> list[Path]:
    """Files under ``folder`` (recursively, not following links) that unpickle when loaded, sorted."""
    found = {p for pattern in patterns for p in folder.rglob(pattern) if p.is_file() and not p.is_symlink()}
    return sorted(found)


def trust(folder: Path) -> list[Path]:
    """Sign every pickle under ``folder`` with this user's key; the files signed."""
    files = pickles(folder)
    for path in files:
        sign(path)
    return files
