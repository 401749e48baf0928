"""Fuzzing the HIL decoders: random frames, corrupted at random, fed to the Python :class:`FrameDecoder`.

The same corruption scheme as ``tests/hil/hil_harness.c fuzz`` (which fuzzes the C decoder): per frame one of clean,
bit flips, truncation, random garbage, a dropped byte, a duplicated byte (and clean again, so half the frames are
clean). Every clean frame must decode to exactly what was encoded; nothing may raise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyrl.hil.protocol import MAX_ENCODED, MAX_PAYLOAD, FrameDecoder, encode_frame

__all__ = ["FuzzResult", "fuzz_python"]


@dataclass(frozen=True)
class FuzzResult:
    """Counts of one fuzz run; ``clean_bad`` must be 0."""

    frames: int
    ok: int
    crc: int
    framing: int
    clean_bad: int


def fuzz_python(frames: int, seed: int = 0, chunk: int = 4096) -> FuzzResult:
    """Feed ``frames`` random, partly corrupted frames through a :class:`FrameDecoder`.

    Args:
        frames: Number of frames.
        seed: Seed of :func:`numpy.random.default_rng`.
        chunk: Frames generated per vectorized batch.

    Returns:
        The counts; ``clean_bad`` counts clean frames that did not decode to themselves.
    """
    rng = np.random.default_rng(seed)
    dec = FrameDecoder()
    clean_bad = 0
    done = 0
    while done < frames:
        n = min(chunk, frames - done)
        lens = rng.integers(0, MAX_PAYLOAD + 1, n)
        hows = rng.integers(0, 8, n)
        body = rng.integers(0, 256, (n, MAX_PAYLOAD), dtype=np.uint8)
        body[rng.random((n, MAX_PAYLOAD)) < 0.25] = 0
        heads = rng.integers(0, 256, (n, 2))
        for k in range(n):
            payload = body[k, : lens[k]].tobytes()
            wire = bytearray(encode_frame(int(heads[k, 0]), int(heads[k, 1]), payload))
            how = int(hows[k])
            if how == 1:
                for _ in range(int(rng.integers(1, 4))):
                    wire[int(rng.integers(len(wire)))] ^= 1 << int(rng.integers(8))
            elif how == 2:
                wire = wire[: int(rng.integers(len(wire)))]
            elif how == 3:
                wire = bytearray(rng.integers(0, 256, int(rng.integers(3 * MAX_ENCODED)), dtype=np.uint8).tobytes())
            elif how == 4:
                del wire[int(rng.integers(len(wire)))]
            elif how == 5:
                at = int(rng.integers(len(wire)))
                wire.insert(at, wire[at])
            got = dec.feed(bytes(wire))
            if how == 0 or how >= 6:
                if len(got) != 1 or (got[0].type, got[0].seq, got[0].payload) != (heads[k, 0], heads[k, 1], payload):
                    clean_bad += 1
            else:
                dec.feed(b"\x00")  # resync, as the link does after a corrupted frame
        done += n
    return FuzzResult(frames, dec.frames_ok, dec.crc_errors, dec.framing_errors, clean_bad)
