"""A TCP proxy between the HIL host and QEMU that corrupts, drops and duplicates chosen frames, and counts them.

Faults are scheduled, not drawn: an OBS (host → device) or ACT (device → host) frame is picked by the ``stamp`` it
carries (the host's step counter, 1 for the first step of a session) and by how many frames with that stamp came
before it (the try). So a fault hits the same exchange whatever the machine's speed, and the counters it causes are
known exactly: every other frame (HELLO, STATS, FAILSAFE, ...) passes untouched. A flipped bit never turns a byte
into the 0x00 delimiter, so a flipped frame stays one frame and is rejected whole by the receiver. The proxy cuts
the stream at each 0x00: a frame's leading delimiter passes on its own, untouched.

``hold_after_reset`` holds host → device traffic from a RESET frame until the rebooted device's HELLO has passed:
frames the host sends while the device reboots then reach it after its boot, never half-read by the old firmware.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tinyrl.hil.protocol import OVERHEAD, MsgType, cobs_decode

Fault = Literal["flip", "drop", "dup"]
#: Per stamp, the fault of each successive frame carrying it (``None``: that try passes).
Schedule = Mapping[int, Sequence[Fault | None]]

# A generous bound on a QEMU reboot (it takes milliseconds); past it the held frames go anyway and the test fails.
REBOOT_HOLD_S = 60.0


@dataclass
class Injected:
    """Faults injected in one direction."""

    frames: int = 0
    flips: int = 0
    drops: int = 0
    dups: int = 0


def frame_kind(frame: bytes) -> tuple[int, int | None]:
    """``(type, stamp)`` of an intact wire frame body and its trailing 0x00 (``stamp`` for OBS and ACT only);
    ``(-1, None)`` if undecodable, as the lone 0x00 that starts every frame is."""
    raw = cobs_decode(bytes(frame[:-1]))
    if raw is None or len(raw) < OVERHEAD:
        return -1, None
    if raw[1] in (MsgType.OBS, MsgType.ACT) and len(raw) >= OVERHEAD + 2:
        return raw[1], raw[3] | (raw[4] << 8)
    return raw[1], None


@dataclass
class FaultyProxy:
    """Listen on 127.0.0.1 (``port``), forward one client to ``upstream_port``, injecting the scheduled faults.

    Args:
        upstream_port: QEMU's loopback serial port.
        obs_faults: Faults of OBS frames toward the device, by stamp and try.
        act_faults: Faults of ACT frames toward the host, by stamp and frame (a duplicated OBS makes two ACTs).
        seed: Seed of the flipped bit's position (the frames to fault come from the schedules).
        hold_after_reset: Hold host → device frames after a RESET until the device's next HELLO.
    """

    upstream_port: int
    obs_faults: Schedule = field(default_factory=dict)
    act_faults: Schedule = field(default_factory=dict)
    seed: int = 0
    hold_after_reset: bool = False
    to_mcu: Injected = field(default_factory=Injected)
    to_host: Injected = field(default_factory=Injected)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._socks: list[socket.socket] = []
        self._booted = threading.Event()
        self._booted.set()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        """``socket://127.0.0.1:PORT`` for :meth:`tinyrl.hil.link.HilLink.open`."""
        return f"socket://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socks += [client, upstream]
        for src, dst, counts, kind, schedule, seed in (
            (client, upstream, self.to_mcu, MsgType.OBS, self.obs_faults, self.seed),
            (upstream, client, self.to_host, MsgType.ACT, self.act_faults, self.seed + 1),
        ):
            args = (src, dst, counts, kind, schedule, random.Random(seed))
            threading.Thread(target=self._pump, args=args, daemon=True).start()

    def _pump(
        self,
        src: socket.socket,
        dst: socket.socket,
        counts: Injected,
        kind: MsgType,
        schedule: Schedule,
        rng: random.Random,
    ) -> None:
        buf = bytearray()
        tries: Counter[int] = Counter()
        try:
            while data := src.recv(4096):
                buf += data
                while (end := buf.find(0)) >= 0:
                    frame = bytearray(buf[: end + 1])
                    del buf[: end + 1]
                    counts.frames += len(frame) > 1  # not the lone 0x00 that starts a frame
                    msg_type, stamp = frame_kind(frame)
                    if counts is self.to_mcu:
                        self._booted.wait(REBOOT_HOLD_S)
                    elif msg_type == MsgType.HELLO:
                        self._booted.set()
                    fault = None
                    if msg_type == kind and stamp is not None:
                        faults = schedule.get(stamp, ())
                        fault = faults[tries[stamp]] if tries[stamp] < len(faults) else None
                        tries[stamp] += 1
                    if fault == "drop":
                        counts.drops += 1
                        continue
                    if fault == "flip":
                        at = rng.randrange(len(frame) - 1)
                        bits = [b for b in range(8) if frame[at] ^ (1 << b)]
                        frame[at] ^= 1 << rng.choice(bits)
                        counts.flips += 1
                    elif fault == "dup":
                        counts.dups += 1
                        frame *= 2
                    if self.hold_after_reset and msg_type == MsgType.RESET:
                        self._booted.clear()  # before the RESET leaves: the reboot's HELLO must find it cleared
                    dst.sendall(frame)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Close every socket."""
        self._listener.close()
        for s in self._socks:
            s.close()
