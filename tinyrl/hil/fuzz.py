"""Fuzzing the HIL decoder: frames corrupted by one fault class at a time, fed to the Python :class:`FrameDecoder`.

The fault classes are those of ``tests/hil/hil_harness.c fuzz`` (which fuzzes the C decoder the same way):

* ``flip1``, ``flip2``, ``flip3``: 1, 2 or 3 distinct bits flipped anywhere in the wire frame, delimiters included.
* ``truncate``: the leading 0x00 and the first ``j`` of the ``n`` COBS bytes (``1 <= j < n``): the tail is lost.
* ``drop_head``: the last ``n - j`` COBS bytes and the trailing 0x00 (``1 <= j < n``): the head is lost.
* ``merged``: two frames whose delimiters between them are lost.
* ``garbage``: ``0x00 | COBS(random bytes) | 0x00``; half random lengths 1..40, half well-formed frames (type, size,
  length field) with a random checksum (``shaped``), which only the checksum can reject.
* ``oversize``: half well-formed frames of 31..64 payload bytes (right length field and checksum), half runs of
  39..64 nonzero bytes.
* ``length``: a frame whose length field differs from its payload size, its checksum computed over that field.

Every faulted frame is followed by a good frame, which must decode (resynchronization), and every accepted frame
is compared with what was sent. Generation is vectorized, and the decoder decodes whole streams in numpy, so a
million frames of a class take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyrl.hil.protocol import (
    CRC_ERROR,
    FRAME,
    MAX_ENCODED,
    MAX_PAYLOAD,
    OVERHEAD,
    FrameDecoder,
    MsgType,
    crc32c_rows,
    payload_sizes,
)

__all__ = ["FAULTS", "FaultResult", "Stream", "fault_stream", "fuzz_fault"]

FAULTS = ("flip1", "flip2", "flip3", "truncate", "drop_head", "merged", "garbage", "oversize", "length")
#: Classes whose faulted bytes are no valid frame at all: anything accepted from them is wrong.
_NOTHING_VALID = ("garbage", "oversize", "length")

_BIG_PAYLOAD = 64  # oversize frames carry 31.._BIG_PAYLOAD payload bytes
_TYPES = np.array(sorted(MsgType), dtype=np.int64)  # every known type
_SIZE_COUNT = np.array([len(payload_sizes(int(t))) for t in _TYPES])
_SIZE_TABLE = np.zeros((len(_TYPES), MAX_PAYLOAD + 1), dtype=np.int64)
for _i, _t in enumerate(_TYPES):
    _SIZE_TABLE[_i, : _SIZE_COUNT[_i]] = sorted(payload_sizes(int(_t)))


@dataclass(frozen=True)
class FaultResult:
    """Counts of one fault class (all over ``frames`` faulted frames).

    Attributes:
        fault: The class (:data:`FAULTS`).
        frames: Faulted frames fed.
        same: Accepted frames equal to the frame sent (no class leaves a frame intact: none should have any).
        wrong: Accepted frames that differ from what was sent; for ``garbage``, ``oversize`` and ``length``, which
            send no valid frame, every accepted frame.
        crc: Rejected by the checksum (everything else about them well formed).
        framing: Rejected before the checksum (COBS, sizes, length field, type).
        resync: Good frames sent right after a faulted one that decoded to themselves.
        shaped: ``garbage`` only: pieces that are well-formed frames but for a random checksum.
    """

    fault: str
    frames: int
    same: int
    wrong: int
    crc: int
    framing: int
    resync: int
    shaped: int


@dataclass(frozen=True)
class Stream:
    """The bytes of ``k`` cases (faulted piece, then a good frame) and what each case sent."""

    data: bytes
    case_start: np.ndarray  # (k,) offset of each case's first byte
    good_end: np.ndarray  # (k,) offset of the good frame's trailing 0x00
    sent: tuple[np.ndarray, ...]  # (type, seq, size, payload (k, MAX_PAYLOAD)) of the frame the fault hit
    also: tuple[np.ndarray, ...]  # the second frame of ``merged``; else the same as ``sent``
    good: tuple[np.ndarray, ...]  # the good frame
    valid: bool  # whether ``sent`` is a valid frame (False for garbage, oversize, length)
    shaped: int


def _random_frames(rng: np.random.Generator, k: int) -> tuple[np.ndarray, ...]:
    """``k`` random valid frames: type, seq, size (allowed for the type), payload ``(k, MAX_PAYLOAD)``."""
    ti = rng.integers(0, len(_TYPES), k)
    size = _SIZE_TABLE[ti, (rng.random(k) * _SIZE_COUNT[ti]).astype(np.int64)]
    payload = _random_bytes(rng, k, MAX_PAYLOAD, size)
    return _TYPES[ti].astype(np.uint8), rng.integers(0, 256, k).astype(np.uint8), size, payload


def _random_bytes(rng: np.random.Generator, k: int, width: int, size: np.ndarray) -> np.ndarray:
    """``(k, width)`` random bytes, a quarter of them zero, zero past ``size``."""
    out = rng.integers(0, 256, (k, width), dtype=np.uint8)
    keep = (rng.integers(0, 4, (k, width), dtype=np.uint8) != 0) & (np.arange(width) < size[:, None])
    return out * keep


def _raw_rows(
    len_field: np.ndarray, typ: np.ndarray, seq: np.ndarray, size: np.ndarray, payload: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Decoded frames ``len | type | seq | payload | CRC-32C`` as rows ``(k, width + 7)`` and their lengths."""
    k, width = payload.shape
    raw = np.zeros((k, width + OVERHEAD), dtype=np.uint8)
    raw[:, 0], raw[:, 1], raw[:, 2] = len_field, typ, seq
    raw[:, 3 : 3 + width] = payload
    crc = crc32c_rows(raw, size + 3)
    rows = np.arange(k)
    for b in range(4):
        raw[rows, size + 3 + b] = (crc >> np.uint32(8 * b)) & 0xFF
    return raw, size + OVERHEAD


def _wire_rows(raw: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``0x00 | COBS(raw[:m]) | 0x00`` per row (``m`` < 254) as rows ``(k, width + 3)`` and their lengths."""
    k, width = raw.shape
    cols = np.arange(width, dtype=np.int16)
    inside = cols < m[:, None]
    # Each zero becomes the distance to the next zero (or to the end); the first code is the distance to the first.
    mm = m.astype(np.int16)[:, None]
    zero_at = np.where((raw == 0) & inside, cols, mm)
    at_or_after = np.minimum.accumulate(zero_at[:, ::-1], axis=1)[:, ::-1]
    after = np.concatenate([at_or_after[:, 1:], mm], axis=1)
    wire = np.zeros((k, width + 3), dtype=np.uint8)
    wire[:, 1] = at_or_after[:, 0] + 1
    wire[:, 2 : width + 2] = np.where(raw == 0, after - cols, raw) * inside
    return wire, m + 3


# A case's bytes are segments: rows of a matrix, each row's bytes ``start:stop``.
_Segment = tuple[np.ndarray, np.ndarray, np.ndarray]


def _whole(wire: np.ndarray, wl: np.ndarray) -> _Segment:
    return wire, np.zeros_like(wl), wl


def _flip(rng: np.random.Generator, wire: np.ndarray, wl: np.ndarray, flips: int) -> np.ndarray:
    """Flip ``flips`` distinct bits per row, anywhere in the first ``wl`` bytes."""
    out = wire.copy()
    rows = np.arange(wire.shape[0])
    taken: list[np.ndarray] = []
    for i in range(flips):
        bit = rng.integers(0, 8 * wl - i)
        if taken:  # skip the bits already flipped, in ascending order: distinct positions, uniformly
            for t in np.sort(np.stack(taken, axis=1), axis=1).T:
                bit += bit >= t
        taken.append(bit)
        out[rows, bit // 8] ^= (1 << (bit % 8)).astype(np.uint8)
    return out


def _piece(
    fault: str, rng: np.random.Generator, sent: tuple[np.ndarray, ...], wire: np.ndarray, wl: np.ndarray
) -> tuple[list[_Segment], tuple[np.ndarray, ...], int]:
    """The faulted bytes of each case (segments), the second frame of ``merged`` (else ``sent``), shaped count."""
    typ, seq, size, payload = sent
    k = typ.size
    zero = np.zeros(k, dtype=np.int64)
    n = wl - 2  # COBS bytes
    if fault.startswith("flip"):
        return [_whole(_flip(rng, wire, wl, int(fault[-1])), wl)], sent, 0
    if fault == "truncate":  # the leading 0x00 and j COBS bytes
        return [(wire, zero, 2 + rng.integers(0, n - 1))], sent, 0
    if fault == "drop_head":  # COBS bytes j.. and the trailing 0x00
        return [(wire, 2 + rng.integers(0, n - 1), wl)], sent, 0
    if fault == "merged":
        also = _random_frames(rng, k)
        wire2, wl2 = _wire_rows(*_raw_rows(also[2], *also))
        return [(wire, zero, wl - 1), (wire2, zero + 1, wl2)], also, 0
    if fault == "garbage":
        shaped = rng.random(k) < 0.5
        length = 1 + rng.integers(0, 40, k)
        framed, fm = _raw_rows(size, typ, seq, size, payload)
        rows = np.arange(k)
        for b in range(4):  # a random checksum: only the CRC can tell these from frames
            framed[rows, size + 3 + b] = rng.integers(0, 256, k)
        framed = np.pad(framed, ((0, 0), (0, 40 - framed.shape[1])))
        raw = np.where(shaped[:, None], framed, _random_bytes(rng, k, 40, length))
        return [_whole(*_wire_rows(raw, np.where(shaped, fm, length)))], sent, int(shaped.sum())
    if fault == "oversize":
        big = rng.random(k) < 0.5
        big_size = MAX_PAYLOAD + 1 + rng.integers(0, _BIG_PAYLOAD - MAX_PAYLOAD, k)
        big_payload = _random_bytes(rng, k, _BIG_PAYLOAD, big_size)
        big_wire, big_wl = _wire_rows(*_raw_rows(big_size, typ, seq, big_size, big_payload))
        run = MAX_ENCODED - 1 + rng.integers(0, _BIG_PAYLOAD - MAX_ENCODED + 2, k)
        run_wire = np.zeros_like(big_wire)
        run_wire[:, 1 : 1 + _BIG_PAYLOAD] = rng.integers(1, 256, (k, _BIG_PAYLOAD), dtype=np.uint8)
        run_wire *= np.arange(big_wire.shape[1]) <= run[:, None]
        return [_whole(np.where(big[:, None], big_wire, run_wire), np.where(big, big_wl, run + 2))], sent, 0
    # length: any value but the payload size, with the checksum computed over it
    field = (size + 1 + rng.integers(0, 255, k)) % 256
    return [_whole(*_wire_rows(*_raw_rows(field, typ, seq, size, payload)))], sent, 0


def fault_stream(fault: str, k: int, rng: np.random.Generator) -> Stream:
    """``k`` cases of ``fault``, each a faulted piece followed by a good frame, as one byte stream."""
    if fault not in FAULTS:
        raise ValueError(f"unknown fault class {fault!r}; one of {', '.join(FAULTS)}")
    sent = _random_frames(rng, k)
    wire, wl = _wire_rows(*_raw_rows(sent[2], *sent))
    segments, also, shaped = _piece(fault, rng, sent, wire, wl)
    # The good frame after case i is case i + 1's frame, sent intact: another random valid frame, encoded once.
    nxt = np.roll(np.arange(k), -1)
    good = tuple(a[nxt] for a in sent)
    segments.append(_whole(wire[nxt], wl[nxt]))
    # Row-major selection of every segment's start:stop, side by side: each case's bytes in order, case after case.
    matrix = np.concatenate([m for m, _, _ in segments], axis=1)
    take = np.concatenate(
        [(np.arange(m.shape[1]) >= a[:, None]) & (np.arange(m.shape[1]) < b[:, None]) for m, a, b in segments], axis=1
    )
    total = sum(b - a for _, a, b in segments)
    case_start = np.concatenate([[0], np.cumsum(total)[:-1]])
    valid = fault not in _NOTHING_VALID
    return Stream(matrix[take].tobytes(), case_start, case_start + total - 1, sent, also, good, valid, shaped)


def _matches(batch_rows: tuple[np.ndarray, ...], frames: tuple[np.ndarray, ...], case: np.ndarray) -> np.ndarray:
    """Whether each decoded row equals the frame of its case (type, seq, size, payload)."""
    typ, seq, size, payload = batch_rows
    want_typ, want_seq, want_size, want_payload = frames
    return (
        (typ == want_typ[case])
        & (seq == want_seq[case])
        & (size == want_size[case])
        & (payload == want_payload[case]).all(axis=1)
    )


def fuzz_fault(fault: str, frames: int, seed: int = 0, chunk: int = 1 << 15) -> FaultResult:
    """Feed ``frames`` frames faulted by ``fault`` (each followed by a good frame) through one :class:`FrameDecoder`.

    Args:
        fault: One of :data:`FAULTS`.
        frames: Faulted frames.
        seed: Seed of :func:`numpy.random.default_rng` (with the class): the counts are a function of it.
        chunk: Cases generated and decoded per numpy pass.
    """
    rng = np.random.default_rng([seed, FAULTS.index(fault)])
    dec = FrameDecoder()
    same = wrong = crc = framing = resync = shaped = 0
    done = 0
    while done < frames:
        k = min(chunk, frames - done)
        s = fault_stream(fault, k, rng)
        batch = dec.feed_batch(s.data)
        case = np.searchsorted(s.case_start, batch.end, side="right") - 1
        fields = (batch.type, batch.seq, batch.size, batch.payload)
        is_good = batch.end == s.good_end[case]
        ok = batch.status == FRAME
        resync += int(np.count_nonzero(is_good & ok & _matches(fields, s.good, case)))
        hit = ~is_good
        accepted = hit & ok
        if s.valid:
            as_sent = _matches(fields, s.sent, case)
            if s.also is not s.sent:
                as_sent |= _matches(fields, s.also, case)
        else:
            as_sent = np.zeros(case.size, dtype=bool)
        same += int(np.count_nonzero(accepted & as_sent))
        wrong += int(np.count_nonzero(accepted & ~as_sent))
        crc += int(np.count_nonzero(hit & (batch.status == CRC_ERROR)))
        framing += int(np.count_nonzero(hit & (batch.status < CRC_ERROR)))
        shaped += s.shaped
        done += k
    return FaultResult(fault, frames, same, wrong, crc, framing, resync, shaped)
