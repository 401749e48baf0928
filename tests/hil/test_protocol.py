"""The HIL wire protocol: Python and C agree byte for byte, and both decoders survive garbage."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinyrl.hil.fuzz import fuzz_python
from tinyrl.hil.protocol import (
    MAX_ENCODED,
    MAX_PAYLOAD,
    Act,
    Frame,
    FrameDecoder,
    Hello,
    MsgType,
    cobs_decode,
    cobs_encode,
    crc16,
    encode_frame,
)

REPO = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).with_name("hil_harness.c")


SANITIZERS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


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


def test_harness_runs_under_the_sanitizers(harness: Path) -> None:
    """The harness really carries ASan (its runtime answers ``ASAN_OPTIONS=help=1``) and UBSan's checks."""
    out = subprocess.run(
        [harness, "fuzz", "1", "0"], capture_output=True, text=True, env={**os.environ, "ASAN_OPTIONS": "help=1"}
    )
    assert out.returncode == 0 and "Available flags for AddressSanitizer" in out.stdout + out.stderr
    assert b"__ubsan_handle_" in harness.read_bytes()  # the instrumented checks call UBSan's handlers


def test_crc_check_value() -> None:
    assert crc16(b"123456789") == 0x29B1


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x00", b"abc", b"a\x00b\x00", bytes(range(256)) * 2])
def test_cobs_round_trip(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert cobs_decode(encoded) == data


def test_frame_round_trip_and_limits() -> None:
    dec = FrameDecoder()
    wire = encode_frame(MsgType.OBS, 7, bytes(range(MAX_PAYLOAD)))
    assert len(wire) <= MAX_ENCODED and wire.endswith(b"\x00") and 0 not in wire[:-1]
    # Split anywhere: the streaming decoder reassembles it.
    assert dec.feed(wire[:5]) == [] and dec.feed(wire[5:]) == [Frame(MsgType.OBS, 7, bytes(range(MAX_PAYLOAD)))]
    with pytest.raises(ValueError):
        encode_frame(MsgType.OBS, 0, bytes(MAX_PAYLOAD + 1))
    hello = Hello(1, 16, 4, 0, b"\x01\x02\x03\x04", 168_000_000, 168_002, 100)
    assert Hello.unpack(hello.pack()) == hello
    act = Act(513, 904, np.array([-128, 0, 5, 127], dtype=np.int8))
    back = Act.unpack(act.pack(), 4)
    assert (back.stamp, back.ticks, back.action.tolist()) == (513, 904, [-128, 0, 5, 127])


def test_python_frames_decode_in_c(harness: Path) -> None:
    rng = np.random.default_rng(0)
    frames = []
    for i in range(300):
        payload = rng.integers(0, 256, int(rng.integers(0, MAX_PAYLOAD + 1)), dtype=np.uint8)
        payload[rng.random(payload.size) < 0.3] = 0
        frames.append(Frame(int(rng.integers(256)), i % 256, payload.tobytes()))
    wire = b"".join(encode_frame(f.type, f.seq, f.payload) for f in frames)
    out = subprocess.run([harness, "decode"], input=wire, capture_output=True, check=True).stdout.decode()
    expected = [["F", str(f.type), str(f.seq), *([f.payload.hex()] if f.payload else [])] for f in frames]
    assert [line.split() for line in out.splitlines()] == expected


def test_c_frames_decode_in_python(harness: Path) -> None:
    rng = np.random.default_rng(1)
    frames = [
        Frame(int(rng.integers(256)), i % 256, rng.integers(0, 3, int(rng.integers(0, 31)), dtype=np.uint8).tobytes())
        for i in range(300)
    ]
    lines = "".join(f"{f.type} {f.seq} {f.payload.hex() or '-'}\n" for f in frames)
    wire = subprocess.run([harness, "encode"], input=lines.encode(), capture_output=True, check=True).stdout
    assert wire == b"".join(encode_frame(f.type, f.seq, f.payload) for f in frames)
    assert FrameDecoder().feed(wire) == frames


def test_c_decoder_survives_a_million_corrupted_frames(harness: Path) -> None:
    out = subprocess.run([harness, "fuzz", "1000000", "5"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    counts = dict(kv.split("=") for kv in out.stdout.split())
    assert counts["clean_bad"] == "0" and int(counts["crc"]) > 0 and int(counts["framing"]) > 0


def test_python_decoder_survives_corrupted_frames() -> None:
    result = fuzz_python(1_000_000, seed=5)  # ~7 s; scripts/fuzz_hil.py runs longer
    assert result.clean_bad == 0 and result.crc > 0 and result.framing > 0
