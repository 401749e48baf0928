"""A TCP proxy between the HIL host and QEMU that corrupts, drops and duplicates whole frames, and counts them.

Faults are per frame (bytes up to a 0x00 delimiter), seeded, one fault at most per frame, so the receiver's error
counters can be checked against what was injected: a flipped bit never turns a byte into the delimiter.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from dataclasses import dataclass, field

from tinyrl.hil.protocol import Frame, MsgType, decode_frame


@dataclass
class Injected:
    """Faults injected in one direction."""

    frames: int = 0
    acts: int = 0
    flips: int = 0
    drops: int = 0
    dups: int = 0


@dataclass
class FaultyProxy:
    """Listen on 127.0.0.1 (``port``), forward one client to ``upstream``, injecting faults while ``enabled``.

    Args:
        upstream_port: QEMU's loopback serial port.
        seed: Seed of the fault choices.
        p_flip: Per-frame probability of one flipped bit.
        p_drop: Per-frame probability of dropping the frame.
        p_dup: Per-frame probability of sending the frame twice.
        skip_frames: Frames passed untouched at the start of each direction (the handshake).
        drop_to_host: Frames ``[first, last)`` toward the host (counted from the first) that are all dropped,
            whatever the probabilities say: a device that goes silent for a while, deterministically.
        drop_acts_to_host: ACT frames ``[first, last)`` toward the host (counted from the first ACT) that are all
            dropped, whatever else the device sends (its FAILSAFE reports come when they come): with one try per
            step, exactly the actions of those steps are lost.
    """

    upstream_port: int
    seed: int = 0
    p_flip: float = 0.02
    p_drop: float = 0.02
    p_dup: float = 0.02
    skip_frames: int = 3
    drop_to_host: tuple[int, int] | None = None
    drop_acts_to_host: tuple[int, int] | None = None
    enabled: bool = True
    to_mcu: Injected = field(default_factory=Injected)
    to_host: Injected = field(default_factory=Injected)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socks += [client, upstream]
        rngs = random.Random(self.seed), random.Random(self.seed + 1)
        for src, dst, counts, rng in (
            (client, upstream, self.to_mcu, rngs[0]),
            (upstream, client, self.to_host, rngs[1]),
        ):
            t = threading.Thread(target=self._pump, args=(src, dst, counts, rng), daemon=True)
            t.start()
            self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, counts: Injected, rng: random.Random) -> None:
        buf = bytearray()
        try:
            while data := src.recv(4096):
                buf += data
                out = bytearray()
                while (end := buf.find(0)) >= 0:
                    frame = bytearray(buf[: end + 1])
                    del buf[: end + 1]
                    counts.frames += 1
                    r = rng.random()
                    with self._lock:
                        active = self.enabled and counts.frames > self.skip_frames and len(frame) > 1
                    window = self.drop_to_host if counts is self.to_host else None
                    if window is not None and window[0] <= counts.frames - 1 < window[1]:
                        counts.drops += 1
                        continue
                    if counts is self.to_host and self.drop_acts_to_host is not None:
                        decoded = decode_frame(bytes(frame[:-1]))
                        if isinstance(decoded, Frame) and decoded.type == MsgType.ACT:
                            counts.acts += 1
                            first, last = self.drop_acts_to_host
                            if first <= counts.acts - 1 < last:
                                counts.drops += 1
                                continue
                    if active and r < self.p_flip:
                        at = rng.randrange(len(frame) - 1)
                        bits = [b for b in range(8) if frame[at] ^ (1 << b)]
                        frame[at] ^= 1 << rng.choice(bits)
                        counts.flips += 1
                    elif active and r < self.p_flip + self.p_drop:
                        counts.drops += 1
                        continue
                    elif active and r < self.p_flip + self.p_drop + self.p_dup:
                        counts.dups += 1
                        out += frame
                    out += frame
                if out:
                    dst.sendall(out)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def disable(self) -> None:
        """Stop injecting (frames already in flight keep their fate)."""
        with self._lock:
            self.enabled = False

    def close(self) -> None:
        """Close every socket."""
        self._listener.close()
        for s in self._socks:
            s.close()
