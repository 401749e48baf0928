"""The HIL wire protocol, version 2 (``docs/hil-protocol.md``): COBS frames, CRC-32C, typed payloads.

A decoded frame is ``len (u8) | type (u8) | seq (u8) | payload (len bytes, 0..30) | crc (u32 LE)``; the CRC-32C covers
len, type, seq and payload. On the wire the frame is ``0x00 | COBS(frame) | 0x00``. A frame is accepted only if its
COBS is well formed, it decodes to exactly ``len + 7`` bytes, its type allows a payload of ``len`` bytes, and its
CRC matches. Multi-byte fields are little endian. This module matches ``firmware/hil/tr_hil_proto.c`` byte for byte
(tests compile the C decoder and cross-check). The decoder is vectorized with numpy, so one implementation serves
the link (a frame at a time) and the fuzz tests (millions per call).
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

__all__ = [
    "CRC_ERROR",
    "FRAME",
    "FRAMING_ERROR",
    "MAX_COBS",
    "MAX_ENCODED",
    "MAX_OBS",
    "MAX_PAYLOAD",
    "MAX_RAW",
    "OVERHEAD",
    "VERSION",
    "Act",
    "Failsafe",
    "Frame",
    "FrameBatch",
    "FrameDecoder",
    "Hello",
    "MsgType",
    "Stats",
    "cobs_decode",
    "cobs_encode",
    "crc16",
    "crc32c",
    "crc32c_rows",
    "encode_frame",
    "obs_payloads",
    "payload_size_ok",
    "payload_sizes",
]

VERSION = 2
MAX_PAYLOAD = 30
OVERHEAD = 7  # len, type, seq and the CRC-32C around the payload
MAX_RAW = MAX_PAYLOAD + OVERHEAD  # decoded frame
MAX_COBS = MAX_RAW + 1  # one COBS overhead byte
MAX_ENCODED = MAX_COBS + 2  # the leading and the trailing 0x00
OBS_BYTES = MAX_PAYLOAD - 2  # observation bytes after an OBS's stamp
OBS_PART_BYTES = MAX_PAYLOAD - 3  # observation bytes after an OBS_PART's stamp and offset
MAX_OBS = 255  # HELLO reports the observation size in a u8

#: Decoder results, as ``tr_hil_result`` in C.
FRAME, CRC_ERROR, FRAMING_ERROR = 1, -1, -2

_V1_HELLO_RAW = 22  # version 1: type, seq, 18-byte HELLO payload, CRC-16


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
    OBS_PART = 0x09


def _sizes_from(k: int) -> frozenset[int]:
    return frozenset(range(k, MAX_PAYLOAD + 1))


#: Payload sizes (bytes) each type allows; any other type is rejected. ``tr_hil_sizes`` in C.
_PAYLOAD_SIZES: dict[int, frozenset[int]] = {
    MsgType.HELLO: frozenset({0, 18}),  # request (empty) or banner
    MsgType.OBS: _sizes_from(3),  # stamp + at least one int8
    MsgType.ACT: _sizes_from(7),  # stamp + ticks + at least one int8
    MsgType.PING: _sizes_from(0),
    MsgType.PONG: _sizes_from(0),
    MsgType.RESET: frozenset({0}),
    MsgType.STATS: frozenset({0, 24}),  # request (empty) or six u32 counters
    MsgType.FAILSAFE: _sizes_from(8),  # mode + stamp + ticks + at least one int8
    MsgType.OBS_PART: _sizes_from(4),  # stamp + offset + at least one int8
}
# _ALLOWED[type, size]: whether a frame of that type may carry that many payload bytes (any byte value of each).
_ALLOWED = np.zeros((256, 256), dtype=bool)
for _t, _sizes in _PAYLOAD_SIZES.items():
    _ALLOWED[_t, sorted(_sizes)] = True


def payload_sizes(msg_type: int) -> frozenset[int]:
    """The payload sizes (bytes) a frame of ``msg_type`` may carry; empty for an unknown type."""
    return _PAYLOAD_SIZES.get(msg_type, frozenset())


def payload_size_ok(msg_type: int, size: int) -> bool:
    """Whether a frame of ``msg_type`` may carry ``size`` payload bytes."""
    return size in payload_sizes(msg_type)


def _crc32c_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table[i] = c
    return table


_CRC32C = _crc32c_table()
_CRC32C_LIST = [int(v) for v in _CRC32C]


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli: reflected poly 0x82F63B78, init and final xor 0xFFFFFFFF); 0xE3069283 for "123456789"."""
    crc = 0xFFFFFFFF
    table = _CRC32C_LIST
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _crc32c_by_distance(longest: int) -> tuple[np.ndarray, np.ndarray]:
    """Tables for :func:`crc32c_rows`: ``after`` (flattened ``(longest + 1, 256)``) and ``start`` (``longest + 1``).

    The register update is linear over GF(2), so the CRC of an ``L``-byte message is
    ``start[L] ^ xor_i(after[L - i][message[i]])``: ``after[d][b]`` is what byte ``b`` contributes when ``d - 1``
    bytes follow it (``after[0]`` is zero: bytes past the message's end), ``start[L]`` what the initial value and
    the final xor contribute.
    """
    after = np.zeros((longest + 1, 256), dtype=np.uint32)
    after[1] = _CRC32C  # one byte into a zero register
    for d in range(2, longest + 1):
        after[d] = _CRC32C[after[d - 1] & 0xFF] ^ (after[d - 1] >> 8)  # then one zero byte
    start = np.zeros(longest + 1, dtype=np.uint32)
    reg = 0xFFFFFFFF
    for n in range(longest + 1):
        start[n] = reg ^ 0xFFFFFFFF
        reg = _CRC32C_LIST[reg & 0xFF] ^ (reg >> 8)
    return after.ravel(), start


_CRC_ROW_BYTES = 128  # the longest row crc32c_rows handles: frames, and the fuzz tests' oversize ones
_CRC32C_AFTER, _CRC32C_START = _crc32c_by_distance(_CRC_ROW_BYTES)


def crc32c_rows(rows: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """CRC-32C of the first ``lengths[i]`` (at most 128) bytes of each row of ``rows`` (uint8, ``(n, width)``)."""
    width = int(lengths.max(initial=0))
    if width > _CRC_ROW_BYTES:
        raise ValueError(f"crc32c_rows handles rows of at most {_CRC_ROW_BYTES} bytes, got {width}")
    # Index of each byte's contribution in the flattened table: 256 * (bytes from it to the end) + its value.
    at = lengths.astype(np.int32)[:, None] - np.arange(width, dtype=np.int32)
    np.maximum(at, 0, out=at)
    at <<= 8
    at += rows[:, :width]
    return np.bitwise_xor.reduce(_CRC32C_AFTER[at], axis=1) ^ _CRC32C_START[lengths]


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF); ``crc16(b"123456789") == 0x29B1``. Version-1 frames only."""
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
    """The wire bytes of one frame: ``0x00 | COBS(len, type, seq, payload, crc) | 0x00``.

    Raises:
        ValueError: ``msg_type`` may not carry ``len(payload)`` bytes (:func:`payload_size_ok`).
    """
    if not payload_size_ok(msg_type, len(payload)):
        raise ValueError(
            f"HIL type {msg_type:#04x} cannot carry {len(payload)} payload bytes "
            f"(allowed: {sorted(payload_sizes(msg_type)) or 'none, unknown type'})"
        )
    raw = bytes((len(payload), msg_type, seq & 0xFF)) + bytes(payload)
    return b"\x00" + cobs_encode(raw + struct.pack("<I", crc32c(raw))) + b"\x00"


@dataclass(frozen=True)
class FrameBatch:
    """The results of decoding ``n`` frame bodies, as arrays (one row per non-empty body, in order).

    Attributes:
        status: ``(n,)`` int8: :data:`FRAME`, :data:`CRC_ERROR` or :data:`FRAMING_ERROR`.
        end: ``(n,)`` int64: offset, in the bytes given to :meth:`FrameDecoder.feed_batch`, of the 0x00 that ended
            each body.
        type: ``(n,)`` uint8 message type (meaningful where ``status == FRAME``).
        seq: ``(n,)`` uint8.
        size: ``(n,)`` uint8 payload bytes.
        payload: ``(n, MAX_PAYLOAD)`` uint8, zero past ``size``.
    """

    status: np.ndarray
    end: np.ndarray
    type: np.ndarray
    seq: np.ndarray
    size: np.ndarray
    payload: np.ndarray

    def frames(self) -> list[Frame]:
        """The accepted frames, in order."""
        return [
            Frame(int(self.type[i]), int(self.seq[i]), self.payload[i, : self.size[i]].tobytes())
            for i in np.flatnonzero(self.status == FRAME)
        ]


@dataclass(frozen=True)
class _Decoded:
    status: np.ndarray  # (k,) int8
    raw: np.ndarray  # (k, MAX_RAW) uint8: the COBS-decoded bytes where ``m >= 0``
    m: np.ndarray  # (k,) decoded length, -1 where the COBS is malformed or the body too long


def _decode_rows(body: np.ndarray, n: np.ndarray) -> _Decoded:
    """Decode frame bodies: rows of ``body`` (``(k, MAX_COBS)`` uint8, zero past ``n``) of ``n`` >= 1 bytes, none 0x00.

    A body longer than :data:`MAX_COBS` is a framing error whatever its bytes (only its length is looked at).
    """
    k = body.shape[0]
    # COBS: code bytes chain from position 0 (each is the distance to the next) and must land exactly on the end.
    # No decoded frame has 254 nonzero bytes in a row, so a valid body has no 0xFF code and decodes to its bytes
    # 1..n-1 with every code position but the first read as 0x00.
    columns = np.ascontiguousarray(body.T, dtype=np.int16)
    is_code = np.zeros((MAX_COBS, k), dtype=bool)
    next_code = (n <= MAX_COBS).astype(np.int16) - 1  # 0: start the chain; -1: too long, never a code
    for j in range(min(int(n.max(initial=0)), MAX_COBS)):
        next_code += columns[j] * np.equal(next_code, j, out=is_code[j])
    m = np.where(next_code == n, n - 1, -1)
    raw = body[:, 1:] * ~is_code[1:].T
    size = raw[:, 0]
    # The length field must account for every decoded byte: a cut, merged or reshaped frame fails here.
    shaped = (size + OVERHEAD == m) & _ALLOWED[raw[:, 1], size]
    status = np.full(k, FRAMING_ERROR, dtype=np.int8)
    rows = np.flatnonzero(shaped)  # only these reach the CRC
    if rows.size:
        crc_len = size[rows].astype(np.int64) + 3
        stored = np.ascontiguousarray(raw[rows[:, None], crc_len[:, None] + np.arange(4)]).view("<u4")[:, 0]
        status[rows] = np.where(crc32c_rows(raw[rows], crc_len) == stored, FRAME, CRC_ERROR)
    return _Decoded(status, raw, m)


def _legacy_hello_version(raw: np.ndarray, m: np.ndarray) -> int | None:
    """The version announced by a version-1 HELLO among rejected bodies (type, seq, 18-byte payload, CRC-16)."""
    for i in np.flatnonzero((m == _V1_HELLO_RAW) & (raw[:, 0] == MsgType.HELLO)):
        frame = raw[i, :_V1_HELLO_RAW].tobytes()
        if crc16(frame[:-2]) == frame[-2] | (frame[-1] << 8):
            return frame[2]
    return None


# Bodies decoded per numpy pass: bounds the temporary arrays to a few MB however much data is fed at once.
_CHUNK = 1 << 15
_NO_BODIES = _decode_rows(np.zeros((0, MAX_COBS), dtype=np.uint8), np.zeros(0, dtype=np.int64))


class FrameDecoder:
    """Streaming decoder: feed bytes, get frames; counts rejected frames like the C decoder.

    Attributes:
        crc_errors: Frames with a bad CRC.
        framing_errors: Frames with bad COBS, a bad size or length field, an unknown type or a payload size the
            type does not allow, or longer than :data:`MAX_COBS` bytes between delimiters.
        frames_ok: Frames accepted.
        legacy_version: The version announced by a version-1 HELLO seen among the rejected frames (a device
            running older firmware), else ``None``.
    """

    def __init__(self) -> None:
        self._carry = b""
        self.crc_errors = 0
        self.framing_errors = 0
        self.frames_ok = 0
        self.legacy_version: int | None = None

    def reset(self) -> None:
        """Drop a partial frame (the counters stay)."""
        self._carry = b""

    def feed(self, data: bytes) -> list[Frame]:
        """Consume ``data``; return the frames it completed, in order."""
        return self.feed_batch(data).frames()

    def feed_batch(self, data: bytes) -> FrameBatch:
        """Consume ``data``; return the result of every frame body it completed, accepted or not, in order."""
        carried = len(self._carry)
        buf = self._carry + bytes(data)
        rest_from = buf.rfind(b"\x00") + 1
        # Only a body's length matters once it exceeds MAX_COBS: keep no more of an unfinished one.
        self._carry = buf[rest_from : rest_from + MAX_COBS + 1]
        stream = np.frombuffer(buf, dtype=np.uint8, count=rest_from)
        ends = np.flatnonzero(stream == 0)
        starts = np.zeros_like(ends)
        starts[1:] = ends[:-1] + 1
        n = ends - starts
        body = n > 0  # back-to-back delimiters: a frame's leading 0x00 after the previous one's trailing
        starts, n, ends = starts[body], n[body], ends[body] - carried
        padded = np.concatenate([stream, np.zeros(MAX_COBS, dtype=np.uint8)])
        cols = np.arange(MAX_COBS)
        parts = [
            _decode_rows(padded[s[:, None] + cols] * (cols < ln[:, None]), ln)
            for s, ln in ((starts[c : c + _CHUNK], n[c : c + _CHUNK]) for c in range(0, n.size, _CHUNK))
        ] or [_NO_BODIES]
        d = parts[0]
        if len(parts) > 1:
            d = _Decoded(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("status", "raw", "m")))
        counts = np.bincount(d.status - FRAMING_ERROR, minlength=4)
        self.framing_errors += int(counts[0])
        self.crc_errors += int(counts[CRC_ERROR - FRAMING_ERROR])
        self.frames_ok += int(counts[FRAME - FRAMING_ERROR])
        if counts[0]:
            legacy = _legacy_hello_version(d.raw, np.where(d.status == FRAMING_ERROR, d.m, -1))
            self.legacy_version = legacy if legacy is not None else self.legacy_version
        size = d.raw[:, 0]
        payload = d.raw[:, 3 : 3 + MAX_PAYLOAD] * (cols[:MAX_PAYLOAD] < size[:, None])
        return FrameBatch(d.status, ends, d.raw[:, 1], d.raw[:, 2], size, payload)


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


def obs_payloads(stamp: int, obs_q: np.ndarray) -> list[tuple[MsgType, bytes]]:
    """The frames of one int8 observation (``(obs_size,)``, 1..:data:`MAX_OBS`), in sending order.

    Up to :data:`OBS_BYTES` bytes: one OBS (u16 stamp, int8 observation). Longer: OBS_PART frames (u16 stamp,
    u8 offset, :data:`OBS_PART_BYTES` bytes each from offset 0) until at most :data:`OBS_BYTES` remain, then an OBS
    with the rest; the device runs the policy on the OBS.

    Raises:
        ValueError: An empty observation or one over :data:`MAX_OBS` bytes.
    """
    obs = np.asarray(obs_q, dtype=np.int8).ravel().tobytes()
    if not 1 <= len(obs) <= MAX_OBS:
        raise ValueError(f"an observation of {len(obs)} bytes: the HIL protocol carries 1 to {MAX_OBS}")
    head = struct.pack("<H", stamp & 0xFFFF)
    frames = []
    offset = 0
    while len(obs) - offset > OBS_BYTES:
        part = obs[offset : offset + OBS_PART_BYTES]
        frames.append((MsgType.OBS_PART, head + bytes([offset]) + part))
        offset += len(part)
    frames.append((MsgType.OBS, head + obs[offset:]))
    return frames


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
