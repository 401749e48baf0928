"""The host end of the HIL link: handshake, OBS → ACT exchanges with timeouts and retries, STATS, PING.

Any pyserial URL works (``socket://127.0.0.1:PORT`` for QEMU or a proxy, ``/dev/ttyACM0`` for a board). Faults are
handled so that a corrupt action is never returned: frames with bad COBS, a wrong length field or payload size, or
a bad CRC-32C are dropped by the decoder; an ACT must carry the sequence number and stamp of the OBS it answers and
the device's action size (duplicates and late replies are discarded); a lost frame is retried; and a HELLO in the
middle of a session (the MCU rebooted) triggers a new handshake before the OBS is sent again. After ``retries``
failed tries the exchange raises :class:`HilLinkError`. A device running firmware of another protocol version is
refused at the handshake with both versions named.
"""

from __future__ import annotations

import socket
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tinyrl.errors import TinyRLError
from tinyrl.hil.protocol import (
    VERSION,
    Act,
    Failsafe,
    Frame,
    FrameDecoder,
    Hello,
    MsgType,
    Stats,
    encode_frame,
    obs_payloads,
)

__all__ = ["Expected", "HilLink", "HilLinkError", "LinkCounters", "Reply"]


class HilLinkError(TinyRLError):
    """The device did not answer, or answered with something incompatible (sizes, model, version)."""


@dataclass(frozen=True)
class Expected:
    """What the handshake must find on the device."""

    obs_size: int
    act_size: int
    model_hash: bytes  # first 4 bytes of the .tflite's sha256


@dataclass
class LinkCounters:
    """Host-side link events."""

    crc_errors: int = 0
    framing_errors: int = 0
    timeouts: int = 0
    retries: int = 0
    stale: int = 0
    rehandshakes: int = 0
    failsafes: int = 0
    unexpected: int = 0

    def to_dict(self) -> dict[str, int]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Reply:
    """One answered OBS."""

    action: np.ndarray  # int8
    ticks: int  # SysTick ticks of the inference
    rtt_s: float  # send of the answered try → ACT received
    tries: int


@dataclass
class HilLink:
    """A framed HIL session over a pyserial port.

    Args:
        port: An open pyserial port (``serial.serial_for_url``).
        expected: Sizes and model hash the handshake must see (``None``: accept any).
        timeout_s: How long to wait for an ACT before retrying.
        retries: Retries per exchange after the first try.
    """

    port: Any
    expected: Expected | None = None
    timeout_s: float = 0.1
    retries: int = 5
    counters: LinkCounters = field(default_factory=LinkCounters)
    hello: Hello | None = None
    failsafe_events: list[Failsafe] = field(default_factory=list)
    _decoder: FrameDecoder = field(default_factory=FrameDecoder)
    _pending: deque[Frame] = field(default_factory=deque)
    _seq: int = 0
    _stamp: int = 0

    @classmethod
    def open(cls, url: str, connect_timeout_s: float = 10.0, **kwargs: Any) -> HilLink:
        """Open ``url`` (retrying ``socket://`` connections until ``connect_timeout_s``) and wrap it.

        Raises:
            HilLinkError: The port cannot be opened.
        """
        import serial

        deadline = time.monotonic() + connect_timeout_s
        while True:
            try:
                port = serial.serial_for_url(url, baudrate=115200, timeout=0.05, write_timeout=2.0)
                break
            except ValueError as exc:  # a malformed URL or an unknown scheme: waiting cannot fix it
                raise HilLinkError(f"cannot open HIL port {url}: {exc}") from None
            except (serial.SerialException, OSError) as exc:
                if time.monotonic() > deadline:
                    raise HilLinkError(f"cannot open HIL port {url}: {exc}") from None
                time.sleep(0.05)
        sock = getattr(port, "_socket", None)
        if sock is not None:  # small frames, one at a time: never wait for Nagle
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(port, **kwargs)

    def close(self) -> None:
        """Close the port."""
        self.port.close()

    # ---- low level ---------------------------------------------------------------------------------------------
    def _send(self, msg_type: MsgType, payload: bytes = b"") -> int:
        self._seq = (self._seq + 1) & 0xFF
        try:
            self.port.write(encode_frame(msg_type, self._seq, payload))
        except (OSError, ValueError) as exc:  # SerialException is an OSError
            raise HilLinkError(f"HIL link lost while sending: {exc}") from None
        return self._seq

    def _read(self, left: float) -> bytes:
        try:
            self.port.timeout = left
            data = self.port.read(1)
            waiting = self.port.in_waiting if data else 0
            return data + self.port.read(waiting) if waiting else data
        except (OSError, ValueError) as exc:
            raise HilLinkError(f"HIL link lost while receiving: {exc}") from None

    def _next_frame(self, deadline: float, handshaking: bool = False) -> Frame | None:
        """The next received frame, or ``None`` at ``deadline``.

        Raises:
            HilLinkError: ``handshaking`` and the device said HELLO in the framing of another protocol version.
        """
        while not self._pending:
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            data = self._read(left)
            if not data:
                return None
            self._pending.extend(self._decoder.feed(data))
            self.counters.crc_errors = self._decoder.crc_errors
            self.counters.framing_errors = self._decoder.framing_errors
            legacy = self._decoder.legacy_version
            if handshaking and legacy is not None and legacy != VERSION:
                raise HilLinkError(
                    f"device speaks HIL protocol v{legacy}, this host v{VERSION} "
                    "(rebuild and flash the HIL firmware from this tinyrl)"
                )
        return self._pending.popleft()

    def _check_hello(self, frame: Frame) -> Hello:
        try:
            hello = Hello.unpack(frame.payload)
        except ValueError as exc:
            raise HilLinkError(f"malformed HELLO from the device: {exc}") from None
        if hello.version != VERSION:
            raise HilLinkError(f"device speaks HIL protocol v{hello.version}, this host v{VERSION}")
        if hello.flags & 1:
            raise HilLinkError("the device's policy failed tinyrl_policy_init (see the firmware build)")
        exp = self.expected
        if exp is not None:
            if (hello.obs_size, hello.act_size) != (exp.obs_size, exp.act_size):
                raise HilLinkError(
                    f"device runs a {hello.obs_size}-in/{hello.act_size}-out policy, "
                    f"expected {exp.obs_size}-in/{exp.act_size}-out"
                )
            if hello.model_hash != exp.model_hash:
                raise HilLinkError(
                    f"device runs model {hello.model_hash.hex()}, expected {exp.model_hash.hex()} "
                    "(flash the firmware built from this policy)"
                )
        self.hello = hello
        return hello

    def _handle_other(self, frame: Frame) -> None:
        if frame.type == MsgType.FAILSAFE:
            self.counters.failsafes += 1
            try:
                self.failsafe_events.append(Failsafe.unpack(frame.payload))
            except ValueError:
                self.counters.unexpected += 1
        elif frame.type in (MsgType.ACT, MsgType.PONG, MsgType.STATS):
            self.counters.stale += 1  # a duplicate or a reply to an earlier try
        else:
            self.counters.unexpected += 1

    # ---- session -------------------------------------------------------------------------------------------------
    def handshake(self, timeout_s: float = 10.0) -> Hello:
        """Wait for the device's HELLO (sent at boot; asked for again every second) and check it.

        Raises:
            HilLinkError: No HELLO within ``timeout_s``, or an incompatible one (sizes, model, protocol version).
        """
        end = time.perf_counter() + timeout_s
        ask = time.perf_counter() + 1.0
        while time.perf_counter() < end:
            frame = self._next_frame(min(end, ask), handshaking=True)
            if frame is None:
                if time.perf_counter() >= ask:
                    self._send(MsgType.HELLO)
                    ask = time.perf_counter() + 1.0
                continue
            if frame.type == MsgType.HELLO:
                return self._check_hello(frame)
            self._handle_other(frame)
        raise HilLinkError(f"no HELLO from the device within {timeout_s:.0f} s (is the HIL firmware running?)")

    def step(self, obs_q: np.ndarray) -> Reply:
        """Send one int8 observation and return the device's int8 action.

        Raises:
            HilLinkError: No valid ACT after ``1 + retries`` tries, or an incompatible device after a reboot.
        """
        self._stamp = (self._stamp + 1) & 0xFFFF
        frames = obs_payloads(self._stamp, obs_q)
        act_size = self.hello.act_size if self.hello is not None else 0
        for attempt in range(self.retries + 1):
            if attempt:
                self.counters.retries += 1
            for msg_type, payload in frames:  # the OBS comes last: its seq is the one the ACT echoes
                seq = self._send(msg_type, payload)
            t0 = time.perf_counter()
            deadline = t0 + self.timeout_s
            while True:
                frame = self._next_frame(deadline)
                if frame is None:
                    self.counters.timeouts += 1
                    break
                if frame.type == MsgType.ACT and frame.seq == seq:
                    try:
                        act = Act.unpack(frame.payload, act_size)
                    except ValueError:
                        self.counters.unexpected += 1
                        continue
                    if act.stamp != self._stamp:
                        self.counters.stale += 1
                        continue
                    return Reply(act.action, act.ticks, time.perf_counter() - t0, attempt + 1)
                if frame.type == MsgType.HELLO:  # the device rebooted: our OBS was lost; check it again
                    self.counters.rehandshakes += 1
                    self._check_hello(frame)
                    break
                self._handle_other(frame)
        raise HilLinkError(f"no valid ACT after {self.retries + 1} tries of {self.timeout_s * 1e3:.0f} ms")

    def request(self, msg_type: MsgType, payload: bytes, reply_type: MsgType, timeout_s: float | None = None) -> Frame:
        """Send a request and wait for its reply frame (with retries).

        Args:
            msg_type: Request type.
            payload: Request payload.
            reply_type: The reply's type (it must carry the request's ``seq``).
            timeout_s: Wait per try; ``None``: the link's ACT timeout, at least 1 s.

        Raises:
            HilLinkError: No reply.
        """
        wait_s = max(1.0, self.timeout_s) if timeout_s is None else timeout_s
        for _ in range(self.retries + 1):
            seq = self._send(msg_type, payload)
            deadline = time.perf_counter() + wait_s
            while (frame := self._next_frame(deadline)) is not None:
                if frame.type == reply_type and frame.seq == seq:
                    return frame
                if frame.type == MsgType.HELLO:
                    self.counters.rehandshakes += 1
                    self._check_hello(frame)
                    break
                self._handle_other(frame)
        raise HilLinkError(f"no {reply_type.name} from the device")

    def stats(self) -> Stats:
        """The device's counters."""
        return Stats.unpack(self.request(MsgType.STATS, b"", MsgType.STATS).payload)

    def ping(self, payload: bytes = b"tinyrl") -> float:
        """One PING → PONG round trip in seconds."""
        t0 = time.perf_counter()
        frame = self.request(MsgType.PING, payload, MsgType.PONG)
        if frame.payload != payload:
            raise HilLinkError("PONG does not echo the PING")
        return time.perf_counter() - t0

    def wait_failsafe(self, timeout_s: float) -> Failsafe | None:
        """Send nothing and wait for an unsolicited FAILSAFE frame."""
        deadline = time.perf_counter() + timeout_s
        n = len(self.failsafe_events)
        while (frame := self._next_frame(deadline)) is not None:
            self._handle_other(frame)
            if len(self.failsafe_events) > n:
                return self.failsafe_events[-1]
        return None

    def reset_device(self) -> None:
        """Ask the device to reboot (it answers with HELLO after boot; :meth:`step` re-handshakes)."""
        self._send(MsgType.RESET)
