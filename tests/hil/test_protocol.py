"""The HIL wire protocol: Python and C agree byte for byte, and neither decoder ever accepts a corrupted frame."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinyrl.hil.fuzz import FAULTS, FaultResult, fault_stream, fuzz_fault
from tinyrl.hil.link import HilLink, HilLinkError
from tinyrl.hil.protocol import (
    CRC_ERROR,
    FRAME,
    MAX_ENCODED,
    MAX_OBS,
    MAX_PAYLOAD,
    MAX_RAW,
    VERSION,
    Act,
    Frame,
    FrameDecoder,
    Hello,
    MsgType,
    cobs_decode,
    cobs_encode,
    crc16,
    crc32c,
    crc32c_rows,
    encode_frame,
    obs_payloads,
    payload_size_ok,
    payload_sizes,
)

REPO = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).with_name("hil_harness.c")

SANITIZERS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]

#: Faulted frames per class in the fuzz tests, for each decoder.
FUZZ_FRAMES = 1_000_000
FUZZ_SEED = 5
#: Faults every frame of which the decoder rejects before its checksum: the frame's structure alone (COBS, the
#: length field, the size limit) gives them away, so the guarantee for them does not depend on the CRC.
STRUCTURAL = ("truncate", "merged", "oversize", "length")


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/hil/hil_harness.c + firmware/hil/tr_hil_proto.c, host gcc with ASan/UBSan and -Werror.

    The sanitizers are part of the set-up (gcc's libasan and libubsan): a build without them fails, it never
    falls back to an unchecked harness.
    """
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc not found: run `make setup`")
    out = tmp_path_factory.mktemp("harness") / "hil_harness"
    flags = ["-std=c99", "-pedantic", "-O1", "-g", "-Wall", "-Wextra", "-Werror", *SANITIZERS]
    cmd = [gcc, *flags, f"-I{REPO / 'firmware/hil'}", str(HARNESS), str(REPO / "firmware/hil/tr_hil_proto.c")]
    build = subprocess.run([*cmd, "-o", str(out)], capture_output=True, text=True)
    if build.returncode != 0:
        pytest.fail(f"the sanitized harness does not build (gcc's ASan/UBSan runtime missing?):\n{build.stderr}")
    return out


def _random_frames(rng: np.random.Generator, count: int) -> list[Frame]:
    """Valid frames of every type and allowed size, a third of the payload bytes zero."""
    frames = []
    for i in range(count):
        msg_type = int(rng.integers(1, len(MsgType) + 1))
        size = int(rng.choice(sorted(payload_sizes(msg_type))))
        payload = rng.integers(0, 256, size, dtype=np.uint8)
        payload[rng.random(size) < 0.3] = 0
        frames.append(Frame(msg_type, i % 256, payload.tobytes()))
    return frames


def _c_decode(harness: Path, wire: bytes) -> list[list[str]]:
    out = subprocess.run([harness, "decode"], input=wire, capture_output=True, check=True).stdout.decode()
    return [line.split() for line in out.splitlines()]


def test_harness_runs_under_the_sanitizers(harness: Path) -> None:
    """The harness really carries ASan (its runtime answers ``ASAN_OPTIONS=help=1``) and UBSan's checks."""
    out = subprocess.run(
        [harness, "fuzz", "flip1", "1", "0"],
        capture_output=True,
        text=True,
        env={**os.environ, "ASAN_OPTIONS": "help=1"},
    )
    assert out.returncode == 0 and "Available flags for AddressSanitizer" in out.stdout + out.stderr
    assert b"__ubsan_handle_" in harness.read_bytes()  # the instrumented checks call UBSan's handlers


def test_checksums(harness: Path) -> None:
    """CRC-32C's check value, the C nibble table against the Python byte table, the vectorized form against both."""
    assert crc32c(b"123456789") == 0xE3069283 and crc16(b"123456789") == 0x29B1
    rng = np.random.default_rng(2)
    for data in (b"123456789", bytes(range(256)) * 3, rng.integers(0, 256, 1000, dtype=np.uint8).tobytes()):
        c = subprocess.run([harness, "crc32c"], input=data, capture_output=True, check=True).stdout
        assert int(c, 16) == crc32c(data)
    rows = rng.integers(0, 256, (500, 128), dtype=np.uint8)
    lengths = rng.integers(0, 129, 500)
    assert crc32c_rows(rows, lengths).tolist() == [crc32c(r[:n].tobytes()) for r, n in zip(rows, lengths, strict=True)]


def test_crc32c_catches_every_error_of_up_to_5_bits_in_a_frame() -> None:
    """Hamming distance 6 at the longest frame (33 checked bytes + 4 CRC bytes; shorter frames are shortened codes
    of it): no set of 1 to 5 flipped bits leaves the CRC matching. Exhaustive, by syndromes: flipping bits leaves
    the CRC matching exactly when the XOR of their syndromes is 0 (data bit: what it changes in the CRC; CRC bit:
    itself). Sums of up to 2 syndromes are compared with sums of up to 3."""
    n_data = MAX_RAW - 4
    bits = np.arange(8 * n_data)
    rows = np.zeros((bits.size, n_data), dtype=np.uint8)
    rows[bits, bits // 8] = 1 << (bits % 8)
    linear = crc32c_rows(rows, np.full(bits.size, n_data)) ^ np.uint32(crc32c(bytes(n_data)))
    syn = np.concatenate([linear, np.uint32(1) << np.arange(32, dtype=np.uint32)]).astype(np.int64)
    n = syn.size
    assert (syn != 0).all() and np.unique(syn).size == n, "an undetected error of 1 or 2 bits"
    i, j = np.triu_indices(n, 1)
    pairs = np.sort(syn[i] ^ syn[j])
    assert not np.isin(syn, pairs).any(), "an undetected 3-bit error"  # a pair equal to a third bit
    assert (np.diff(pairs) != 0).all(), "an undetected 4-bit error"  # equal pairs (sharing a bit they cannot be)
    for a in range(n - 2):  # weight 5: bits a < b < c equal to a pair (overlaps reduce to weight 3, excluded)
        b, c = np.triu_indices(n - a - 1, 1)
        triples = syn[a] ^ syn[a + 1 + b] ^ syn[a + 1 + c]
        at = np.minimum(np.searchsorted(pairs, triples), pairs.size - 1)
        assert not (pairs[at] == triples).any(), f"an undetected 5-bit error through bit {a}"


def test_payload_size_tables_agree(harness: Path) -> None:
    out = subprocess.run([harness, "sizes"], capture_output=True, text=True, check=True).stdout
    c_sizes = {int(t): {int(v) for v in s.split(",") if v} for t, s in (line.split(":") for line in out.splitlines())}
    assert c_sizes == {t: set(payload_sizes(t)) for t in range(256)}
    assert c_sizes[MsgType.HELLO] == {0, 18} and c_sizes[MsgType.OBS_PART] == set(range(4, MAX_PAYLOAD + 1))
    assert c_sizes[0] == c_sizes[len(MsgType) + 1] == set()


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x00", b"abc", b"a\x00b\x00", bytes(range(256)) * 2])
def test_cobs_round_trip(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert cobs_decode(encoded) == data


def test_frame_layout_round_trip_and_limits() -> None:
    dec = FrameDecoder()
    payload = bytes(range(MAX_PAYLOAD))
    wire = encode_frame(MsgType.PING, 7, payload)
    assert len(wire) == MAX_ENCODED and wire[0] == wire[-1] == 0 and 0 not in wire[1:-1]
    raw = cobs_decode(wire[1:-1])
    assert raw is not None and raw[:3] == bytes((MAX_PAYLOAD, MsgType.PING, 7)) and raw[3:-4] == payload
    assert struct.unpack("<I", raw[-4:])[0] == crc32c(raw[:-4])
    # Split anywhere: the streaming decoder reassembles it.
    assert dec.feed(wire[:5]) == [] and dec.feed(wire[5:]) == [Frame(MsgType.PING, 7, payload)]
    for msg_type, size in ((MsgType.PING, MAX_PAYLOAD + 1), (MsgType.HELLO, 5), (MsgType.ACT, 6), (0x09, 0)):
        with pytest.raises(ValueError, match="cannot carry"):
            encode_frame(msg_type, 0, bytes(size))
    hello = Hello(VERSION, 16, 4, 0, b"\x01\x02\x03\x04", 168_000_000, 168_002, 100)
    assert Hello.unpack(hello.pack()) == hello
    act = Act(513, 904, np.array([-128, 0, 5, 127], dtype=np.int8))
    back = Act.unpack(act.pack(), 4)
    assert (back.stamp, back.ticks, back.action.tolist()) == (513, 904, [-128, 0, 5, 127])


def test_python_frames_decode_in_c(harness: Path) -> None:
    frames = _random_frames(np.random.default_rng(0), 300)
    wire = b"".join(encode_frame(f.type, f.seq, f.payload) for f in frames)
    expected = [["F", str(f.type), str(f.seq), *([f.payload.hex()] if f.payload else [])] for f in frames]
    assert _c_decode(harness, wire) == expected


def test_c_frames_decode_in_python(harness: Path) -> None:
    frames = _random_frames(np.random.default_rng(1), 300)
    lines = "".join(f"{f.type} {f.seq} {f.payload.hex() or '-'}\n" for f in frames)
    wire = subprocess.run([harness, "encode"], input=lines.encode(), capture_output=True, check=True).stdout
    assert wire == b"".join(encode_frame(f.type, f.seq, f.payload) for f in frames)
    assert FrameDecoder().feed(wire) == frames
    refused = subprocess.run([harness, "encode"], input=b"3 0 0102030405\n", capture_output=True)
    assert refused.returncode == 1 and refused.stdout == b"" and b"refused" in refused.stderr  # ACT needs 7+ bytes


def _python_results(wire: bytes) -> list[list[str]]:
    batch = FrameDecoder().feed_batch(wire)
    lines = []
    for i, status in enumerate(batch.status):
        if status == FRAME:
            payload = batch.payload[i, : batch.size[i]].tobytes().hex()
            lines.append(["F", str(batch.type[i]), str(batch.seq[i]), *([payload] if payload else [])])
        else:
            lines.append(["C" if status == CRC_ERROR else "X"])
    return lines


def test_fuzz_generator_encodes_like_encode_frame() -> None:
    """The fuzz tests' vectorized encoder writes each good frame exactly as :func:`encode_frame` does."""
    stream = fault_stream("truncate", 500, np.random.default_rng(3))
    typ, seq, size, payload = stream.good
    for i in range(500):
        expected = encode_frame(int(typ[i]), int(seq[i]), payload[i, : size[i]].tobytes())
        end = int(stream.good_end[i]) + 1
        assert stream.data[end - len(expected) : end] == expected


@pytest.mark.parametrize("fault", FAULTS)
def test_decoders_agree_on_corrupted_streams(harness: Path, fault: str) -> None:
    """The same faulted stream through both decoders: the same verdict on every frame, the same frames accepted."""
    stream = fault_stream(fault, 20_000, np.random.default_rng([7, FAULTS.index(fault)]))
    c = [["X"] if line[0] == "L" else line for line in _c_decode(harness, stream.data)]
    python = _python_results(stream.data)
    assert len(python) >= 40_000 and c == python


def _assert_fault_result(r: FaultResult) -> None:
    """What each fault class must give, whichever decoder: see docs/hil-protocol.md, "What the receiver detects"."""
    assert r.wrong == 0, f"{r.fault}: {r.wrong} corrupted frames accepted"
    assert r.resync == r.frames, f"{r.fault}: {r.frames - r.resync} good frames lost after a fault"
    assert r.same == 0  # no fault here leaves the frame intact
    assert r.crc + r.framing >= r.frames  # every faulted frame is rejected (a created 0x00 may split it in two)
    if r.fault in STRUCTURAL:
        assert (r.crc, r.framing) == (0, r.frames), f"{r.fault}: not all rejected by the frame structure"
    if r.fault == "garbage":  # the frame-shaped half reaches the checksum, and the checksum rejects every one
        assert r.crc >= r.shaped >= r.frames // 3


@pytest.mark.parametrize("fault", FAULTS)
def test_c_decoder_never_accepts_a_corrupted_frame(harness: Path, fault: str) -> None:
    """A million frames of the class through the sanitized C decoder, each followed by a good frame.

    Fixed seed: the counts are a function of it, so the assertions cannot flake. For ``garbage`` a checksum
    collision would be a legitimate acceptance, at most 2^-32 per frame-shaped piece: about 1.2e-4 expected here,
    so the bound asserted is the count it gives, 0.
    """
    out = subprocess.run([harness, "fuzz", fault, str(FUZZ_FRAMES), str(FUZZ_SEED)], capture_output=True, text=True)
    assert out.stderr == ""
    counts = dict(kv.split("=") for kv in out.stdout.split())
    r = FaultResult(counts.pop("class"), **{k: int(v) for k, v in counts.items()})
    assert r.fault == fault and r.frames == FUZZ_FRAMES
    _assert_fault_result(r)
    assert out.returncode == 0


@pytest.mark.parametrize("fault", FAULTS)
def test_python_decoder_never_accepts_a_corrupted_frame(fault: str) -> None:
    """A million frames of the class through :class:`FrameDecoder`, each followed by a good frame (fixed seed)."""
    r = fuzz_fault(fault, FUZZ_FRAMES, seed=FUZZ_SEED)
    assert r.frames == FUZZ_FRAMES
    _assert_fault_result(r)


def _v1_frame(msg_type: int, seq: int, payload: bytes) -> bytes:
    """A version-1 wire frame: COBS(type, seq, payload, CRC-16 LE) | 0x00."""
    raw = bytes((msg_type, seq)) + payload
    return cobs_encode(raw + struct.pack("<H", crc16(raw))) + b"\x00"


def test_c_decoder_tells_a_version_1_hello_request(harness: Path) -> None:
    """A version-1 host's HELLO request is set apart (the firmware answers it with its version); any other
    version-1 frame is a framing error, and a version-2 frame right after still decodes."""
    wire = _v1_frame(MsgType.HELLO, 9, b"") + _v1_frame(MsgType.OBS, 3, bytes(18)) + encode_frame(MsgType.PING, 4)
    assert _c_decode(harness, wire) == [["L", "9"], ["X"], ["F", str(int(MsgType.PING)), "4"]]


def test_host_refuses_a_version_1_device() -> None:
    """Firmware of version 1 says HELLO in its own framing: the handshake names both versions, at once."""
    link = HilLink.open("loop://")
    try:
        old = Hello(1, 16, 4, 0, b"\x01\x02\x03\x04", 168_000_000, 168_002, 100).pack()
        link.port.write(b"\x00" + _v1_frame(MsgType.HELLO, 0, old))
        with pytest.raises(HilLinkError, match=f"device speaks HIL protocol v1, this host v{VERSION}"):
            link.handshake()  # raises on the first frame it reads; the timeout never runs out
    finally:
        link.close()


def _c_obs(harness: Path, size: int, frames: list[tuple[MsgType, bytes]]) -> list[str]:
    """What the device's reassembly (``tr_hil_obs_part`` / ``tr_hil_obs_last``) answers to each payload in turn."""
    text = "".join(f"{int(t)} {p.hex()}\n" for t, p in frames)
    out = subprocess.run([harness, "obs", str(size)], input=text, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def _complete(stamp: int, obs: np.ndarray) -> str:
    return f"A {stamp} {obs.tobytes().hex()}"


@pytest.mark.parametrize("size", [1, 27, 28, 29, 32, 55, 56, 57, 200, MAX_OBS])
def test_an_observation_of_any_size_reaches_the_device_whole(harness: Path, size: int) -> None:
    """Up to 28 bytes one OBS; longer, OBS_PART frames and a closing OBS, each within a 30-byte payload."""
    obs = np.random.default_rng(size).integers(-128, 128, size).astype(np.int8)
    frames = obs_payloads(0xBEEF, obs)
    assert all(payload_size_ok(t, len(p)) for t, p in frames)
    assert [t for t, _ in frames] == [MsgType.OBS_PART] * (len(frames) - 1) + [MsgType.OBS]
    assert len(frames) == 1 if size <= MAX_PAYLOAD - 2 else len(frames) > 1
    assert _c_obs(harness, size, frames) == ["P"] * (len(frames) - 1) + [_complete(0xBEEF, obs)]


def test_an_incomplete_or_shuffled_observation_is_never_run(harness: Path) -> None:
    """A missing, swapped or foreign part, or a closing OBS alone, runs nothing; the next whole observation runs."""
    size = 60  # parts at offsets 0 and 27, a closing OBS of 6 bytes
    obs = np.arange(size).astype(np.int8)
    first, second, last = obs_payloads(7, obs)
    foreign = obs_payloads(8, obs)
    short = (MsgType.OBS, last[1][:-1])
    cases = {
        "the closing OBS alone": [last],
        "a part missing": [first, last],
        "the parts swapped": [second, first, last],
        "a closing OBS of another stamp": [first, second, foreign[2]],
        "a part of another stamp": [first, foreign[1], last],
        "a closing OBS one byte short": [first, second, short],
    }
    for name, frames in cases.items():
        answers = _c_obs(harness, size, frames + obs_payloads(9, obs))
        assert not any(a.startswith("A") for a in answers[: len(frames)]), name
        assert answers[-1] == _complete(9, obs), name
    # A part may not reach the end: the closing OBS carries the last byte.
    whole_part = (MsgType.OBS_PART, struct.pack("<HB", 7, 0) + obs[:20].tobytes())
    assert _c_obs(harness, 20, [whole_part, (MsgType.OBS, struct.pack("<H", 7))]) == ["R", "R"]


def test_a_repeated_observation_is_answered_again(harness: Path) -> None:
    """A duplicated closing OBS (as a duplicated whole OBS) and a host's retry both complete the observation again."""
    obs = np.arange(40).astype(np.int8)
    frames = obs_payloads(3, obs)
    answers = _c_obs(harness, obs.size, [*frames, frames[-1], *frames])
    assert [a for a in answers if a.startswith("A")] == [_complete(3, obs)] * 3


@pytest.mark.parametrize("size", [0, MAX_OBS + 1])
def test_the_host_refuses_an_observation_the_protocol_cannot_carry(size: int) -> None:
    with pytest.raises(ValueError, match=f"{size} bytes"):
        obs_payloads(1, np.zeros(size, dtype=np.int8))
