"""One way into Ray for every scale-out command: start a local instance, or join a cluster by address.

``ray_session(None)`` starts a private Ray instance sized to this machine (its temp files and logs in a
throwaway folder, no dashboard, quiet) and shuts it down afterwards; ``ray_session("HOST:PORT")`` joins an
existing cluster (started with ``ray start --head``) and leaves it running. Everything after ``ray.init`` is
the same code either way. An address is checked first (:func:`check_reachable`), so a wrong one fails in seconds
instead of the minutes ``ray.init`` keeps retrying. A local instance is stopped on every way out of the block
(done, error, Ctrl-C, and SIGTERM, whose handler ``ray.init`` would otherwise replace).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tinyrl.common.paths import REPO_ROOT
from tinyrl.errors import ConfigError, TinyRLError
from tinyrl.processes import descendants, keep_sigterm_handler, kill_survivors

#: Seconds to wait for ``--address`` to accept a connection, and again for it to answer as Ray's GCS.
CONNECT_TIMEOUT_S = 3.0
#: An HTTP/2 client connection preface and an empty SETTINGS frame: what a gRPC client sends first.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
#: Frame type of HTTP/2 SETTINGS, which a gRPC server (Ray's GCS, the Ray client server) must send first.
_H2_SETTINGS = 4


class ClusterError(TinyRLError, ConnectionError):
    """A Ray cluster cannot be reached or started; the message says which address and why."""


@dataclass(frozen=True)
class Session:
    """What the commands need to know about the Ray instance they run on."""

    address: str | None
    """``None`` for a local instance started by us."""
    cpus: int
    """Total CPUs the cluster offers (trials and evaluation shards take one each)."""


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast unless ``HOST:PORT`` accepts a TCP connection and answers as a gRPC server, as Ray's GCS does.

    ``ray.init`` would retry for minutes against a port with nothing behind it, or with something that is not
    Ray. This check sends the HTTP/2 preface gRPC starts with and waits at most ``timeout_s`` seconds for the
    server's SETTINGS frame, the first thing any gRPC server sends. With ``RAY_USE_TLS=1`` only the connection
    is checked (the handshake is TLS's).

    Args:
        address: ``HOST:PORT``, ``ray://HOST:PORT``, or ``auto`` (not checked).
        timeout_s: Seconds to wait for the connection, and again for the answer.

    Raises:
        ClusterError: Bad address format, unknown host, nothing listening, or a server that is not Ray.
    """
    if address == "auto":
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ClusterError(f"--address {address!r}: expected HOST:PORT (the head's GCS port, 6379 by default)")
    hint = f"start one with `ray start --head --port {port}` or leave out --address to run on this machine"
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout_s)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ClusterError(f"cannot reach a Ray cluster at {address}: {reason}; {hint}") from None
    if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
        sock.close()
        return
    with sock:
        problem = _grpc_problem(sock, timeout_s)
    if problem is not None:
        raise ClusterError(f"{address} is not a Ray cluster: {problem}; {hint}")


def _grpc_problem(sock: socket.socket, timeout_s: float) -> str | None:
    """Why the server on ``sock`` is not a gRPC server (``None`` if it answers like one)."""
    sock.settimeout(timeout_s)
    header = b""
    try:
        sock.sendall(_H2_PREFACE)
        while len(header) < 9:
            chunk = sock.recv(9 - len(header))
            if not chunk:
                break
            header += chunk
    except TimeoutError:
        return f"it accepted the connection but sent nothing within {timeout_s:g} s"
    except OSError as exc:
        return f"the connection failed ({exc.strerror or exc})"
    if len(header) < 9:
        return "it closed the connection without answering"
    if header[3] != _H2_SETTINGS or any(header[5:9]):
        shown = header.decode("ascii", "replace") if header.isascii() else header.hex()
        return f"it does not speak gRPC (it answered {shown!r})"
    return None


def resolve_address(backend: str, address: str | None) -> str | None:
    """Where a command runs: ``None`` for a private local Ray instance, else a cluster address to join.

    ``--address`` always wins. ``--backend ray`` without it joins ``$RAY_ADDRESS`` when set, else starts a local
    instance; ``--backend local`` (the sweep default) always starts a local instance.

    Raises:
        ConfigError: Unknown backend.
    """
    if backend not in ("local", "ray"):
        raise ConfigError(f"--backend must be local or ray, got {backend!r}")
    if address:
        return address
    return os.environ.get("RAY_ADDRESS") or None if backend == "ray" else None


@contextlib.contextmanager
def ray_session(address: str | None = None) -> Iterator[Session]:
    """Connect to Ray for the duration of a ``with`` block.

    Args:
        address: ``HOST:PORT`` (or ``auto``) of a running cluster; ``None`` starts a local instance with
            ``os.cpu_count()`` CPUs and stops it on exit.

    Raises:
        ClusterError: The cluster cannot be reached.
    """
    import ray

    if ray.is_initialized():  # e.g. a caller that already joined a cluster: reuse it, leave it running
        yield Session(address, int(ray.cluster_resources().get("CPU", 1)))
        return
    quiet: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    temp_dir = None
    if address is None:
        os.environ.pop("RAY_ADDRESS", None)  # ray.init() would join that cluster instead of starting ours
        # Workers start from the raylet's environment: make them import this very tinyrl (e.g. a git worktree).
        root = str(REPO_ROOT)  # the folder holding the tinyrl package
        paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if root not in paths:
            os.environ["PYTHONPATH"] = os.pathsep.join([root, *[p for p in paths if p]])
        # Short path: Ray puts Unix sockets in it (limit ~107 characters).
        temp_dir = tempfile.mkdtemp(prefix="tinyrl-ray-", dir="/tmp" if os.path.isdir("/tmp") else None)
        kwargs: dict[str, Any] = {"num_cpus": os.cpu_count() or 1, "_temp_dir": temp_dir, **quiet}
    else:
        check_reachable(address)
        kwargs = {"address": address, **quiet}
    before = descendants()
    # ray.init replaces the SIGTERM handler with one that exits at once; ours stops Ray in the finally below.
    with warnings.catch_warnings(), keep_sigterm_handler():
        warnings.simplefilter("ignore")
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            if address is None:
                raise ClusterError(f"cannot start Ray on this machine: {str(exc).splitlines()[0]}") from None
            raise ClusterError(
                f"cannot join the Ray cluster at {address}: {str(exc).splitlines()[0]} (a cluster with token "
                "authentication needs RAY_AUTH_MODE=token and its token in RAY_AUTH_TOKEN or ~/.ray/auth_token)"
            ) from None
    try:
        yield Session(address, int(ray.cluster_resources().get("CPU", 1)))
    finally:
        # Our instance's processes (GCS, raylet, workers), listed while the raylet still parents its workers.
        started = {pid: t for pid, t in descendants().items() if before.get(pid) != t} if address is None else {}
        ray.shutdown(wait_for_processes=True)  # gone before the command exits, not just told to go
        # A worker whose raylet went first is orphaned and only notices later: it must not outlive the command.
        kill_survivors(started)
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
