"""The HIL wire protocol (``docs/hil-protocol.md``): COBS frames, CRC-16/CCITT-FALSE, typed payloads.

A decoded frame is ``type (u8) | seq (u8) | payload (0..30 bytes) | crc (u16 LE)``; the CRC covers type, seq and
payload. On the wire the frame is COBS-stuffed and ends with ``0x00``. Multi-byte fields are little endian. This
module matches ``firmware/hil/tr_hil_proto.c`` byte for byte (tests compile the C decoder and cross-check).
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

__all__ = [
    "MAX_ENCODED",
    "MAX_PAYLOAD",
    "VERSION",
    "Act",
    "Failsafe",
    "Frame",
    "FrameDecoder",
    "Hello",
    "MsgType",
    "Stats",
    "cobs_decode",
    "cobs_encode",
    "crc16",
    "decode_frame",
    "encode_frame",
    "pack_obs",
]

VERSION = 1
MAX_PAYLOAD = 30
MAX_RAW = MAX_PAYLOAD + 4
MAX_ENCODED = MAX_RAW + 2  # one COBS overhead byte + the delimiter


class MsgType(IntEnum):
    """Message types (``tr_hil_type`` in C)."""

    HELLO = 0x01
    OBS = 0x02
    ACT = 0x03
    PING = 0x04
    PONG = 0x05
    RESET = 0x06
    STATS = 0x07
    FAILSAFE = 0x08


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF); ``crc16(b"123456789") == 0x29B1``."""
    return binascii.crc_hqx(data, 0xFFFF)


def cobs_encode(data: bytes) -> bytes:
    """COBS-encode ``data`` (no delimiter added)."""
    out = bytearray()
    for block in data.split(b"\x00"):
        while len(block) >= 254:
            out.append(0xFF)
            out += block[:254]
            block = block[254:]
        out.append(len(block) + 1)
        out += block
    # A trailing 0xFF block already ends a group without an implied zero; ``split`` handled the zeros.
    return bytes(out)


def cobs_decode(data: bytes) -> bytes | None:
    """COBS-decode ``data`` (no delimiter); ``None`` if malformed (a zero byte or a code past the end)."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == 0 or i + code > n:
            return None
        block = data[i + 1 : i + code]
        if 0 in block:
            return None
        out += block
        i += code
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


@dataclass(frozen=True)
class Frame:
    """A decoded frame."""

    type: int
    seq: int
    payload: bytes


def encode_frame(msg_type: int, seq: int, payload: bytes = b"") -> bytes:
    """The wire bytes of one frame: ``COBS(type, seq, payload, crc)`` followed by the 0x00 delimiter.

    Raises:
        ValueError: payload longer than :data:`MAX_PAYLOAD`.
    """
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"HIL payload is at most {MAX_PAYLOAD} bytes, got {len(payload)}")
    raw = bytes((msg_type & 0xFF, seq & 0xFF)) + bytes(payload)
    return cobs_encode(raw + struct.pack("<H", crc16(raw))) + b"\x00"


def decode_frame(body: bytes) -> Frame | str:
    """Decode one frame body (the bytes between delimiters): a :class:`Frame`, or ``"crc"``/``"framing"``."""
    if len(body) > MAX_ENCODED:
        return "framing"
    raw = cobs_decode(body)
    if raw is None or not 4 <= len(raw) <= MAX_RAW:
        return "framing"
    if crc16(raw[:-2]) != raw[-2] | (raw[-1] << 8):
        return "crc"
    return Frame(raw[0], raw[1], raw[2:-2])


class FrameDecoder:
    """Streaming decoder: feed bytes, get frames; counts rejected frames like the C decoder.

    Attributes:
        crc_errors: Frames with a bad CRC.
        framing_errors: Frames with bad COBS, a bad length, or longer than :data:`MAX_ENCODED`.
        frames_ok: Frames accepted.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.crc_errors = 0
        self.framing_errors = 0
        self.frames_ok = 0

    def reset(self) -> None:
        """Drop a partial frame (the counters stay)."""
        self._buf.clear()

    def feed(self, data: bytes) -> list[Frame]:
        """Consume ``data``; return the frames it completed, in order."""
        frames: list[Frame] = []
        if not data:
            return frames
        parts = bytes(data).split(b"\x00")
        self._buf += parts[0]
        for part in parts[1:]:
            body = bytes(self._buf)
            self._buf = bytearray(part)
            if not body:
                continue
            result = decode_frame(body)
            if isinstance(result, Frame):
                self.frames_ok += 1
                frames.append(result)
            elif result == "crc":
                self.crc_errors += 1
            else:
                self.framing_errors += 1
        if len(self._buf) > 4 * MAX_ENCODED:  # keep memory bounded on a delimiter-free stream
            del self._buf[: len(self._buf) - MAX_ENCODED - 1]
        return frames


# ---- payloads -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    """HELLO payload (MCU → host)."""

    version: int
    obs_size: int
    act_size: int
    flags: int
    model_hash: bytes  # first 4 bytes of the .tflite's sha256
    tick_hz: int
    ticks_per_minstr: int
    watchdog_ms: int

    _FMT = "<BBBB4sIIH"

    def pack(self) -> bytes:
        """Payload bytes."""
        return struct.pack(
            self._FMT,
            self.version,
            self.obs_size,
            self.act_size,
            self.flags,
            self.model_hash,
            self.tick_hz,
            self.ticks_per_minstr,
            self.watchdog_ms,
        )

    @classmethod
    def unpack(cls, payload: bytes) -> Hello:
        """Parse a payload; ``ValueError`` if its size is wrong."""
        if len(payload) != struct.calcsize(cls._FMT):
            raise ValueError(f"HELLO payload must be {struct.calcsize(cls._FMT)} bytes, got {len(payload)}")
        return cls(*struct.unpack(cls._FMT, payload))


def pack_obs(stamp: int, obs_q: np.ndarray) -> bytes:
    """OBS payload: u16 stamp, int8 observation."""
    return struct.pack("<H", stamp & 0xFFFF) + np.asarray(obs_q, dtype=np.int8).tobytes()


@dataclass(frozen=True)
class Act:
    """ACT payload (MCU → host): the echoed OBS stamp, SysTick ticks of the inference, the int8 action."""

    stamp: int
    ticks: int
    action: np.ndarray

    def pack(self) -> bytes:
        """Payload bytes."""
        return struct.pack("<HI", self.stamp, self.ticks) + np.asarray(self.action, dtype=np.int8).tobytes()

    @classmethod
    def unpack(cls, payload: bytes, act_size: int) -> Act:
        """Parse a payload; ``ValueError`` if its size is not ``6 + act_size``."""
        if len(payload) != 6 + act_size:
            raise ValueError(f"ACT payload must be {6 + act_size} bytes, got {len(payload)}")
        stamp, ticks = struct.unpack_from("<HI", payload)
        return cls(stamp, ticks, np.frombuffer(payload, dtype=np.int8, offset=6).copy())


@dataclass(frozen=True)
class Failsafe:
    """FAILSAFE payload (MCU → host, unsolicited): mode 1 hover / 2 land, last stamp, ticks since OBS, action."""

    mode: int
    stamp: int
    ticks_since_obs: int
    action: np.ndarray

    @classmethod
    def unpack(cls, payload: bytes) -> Failsafe:
        """Parse a payload; ``ValueError`` if shorter than 7 bytes."""
        if len(payload) < 7:
            raise ValueError(f"FAILSAFE payload must be at least 7 bytes, got {len(payload)}")
        mode, stamp, ticks = struct.unpack_from("<BHI", payload)
        return cls(mode, stamp, ticks, np.frombuffer(payload, dtype=np.int8, offset=7).copy())


@dataclass(frozen=True)
class Stats:
    """STATS payload (MCU → host): the firmware's link counters."""

    frames_ok: int
    crc_errors: int
    framing_errors: int
    overruns: int
    watchdog_trips: int
    uptime_ms: int

    @classmethod
    def unpack(cls, payload: bytes) -> Stats:
        """Parse a payload; ``ValueError`` if it is not 24 bytes."""
        if len(payload) != 24:
            raise ValueError(f"STATS payload must be 24 bytes, got {len(payload)}")
        return cls(*struct.unpack("<6I", payload))
