"""C int8 runtime vs a NumPy reference: host build (gcc) and STM32F405 image under QEMU, both kernel paths.

Random int8 MLPs (1-4 layers, 2-128 units, odd widths, relu hidden layers, linear/tanh-table/relu6 output)
are written as C headers by ``fw_model.py``; the firmware's test app runs every vector and exits non-zero on
any mismatch. Needs gcc, arm-none-eabi-gcc and qemu-system-arm: ``make setup`` installs them.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import fw_model
import numpy as np
import pytest

FIRMWARE = fw_model.FIRMWARE
QEMU_TIMEOUT_S = 30

# (seed, widths, output activation). Odd widths exercise the kernels' 1-3 element and odd-channel tails.
MODELS = [
    (0, [12, 32, 32, 4], "tanh"),
    (1, [12, 32, 32, 4], "linear"),
    (2, [2, 2], "linear"),
    (3, [7, 13, 5], "relu6"),
    (4, [6, 20, 20, 3], "linear"),
    (5, [128, 128, 3], "tanh"),
    (6, [33, 127, 65, 17, 9], "tanh"),
    (7, [1, 3], "linear"),
]
QEMU_MODELS = [(*MODELS[i], "tflm") for i in (0, 2, 3, 5, 6, 7)] + [(*MODELS[6], "tflite")]


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} not found: run `make setup` (installs gcc-arm-none-eabi, qemu-system-arm)")
    return path


def _make(build_dir: Path, **variables: str) -> None:
    _require("make")
    args = ["make", "-s", "-C", str(FIRMWARE), f"BUILD_DIR={build_dir}"] + [f"{k}={v}" for k, v in variables.items()]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"build failed: {' '.join(args)}\n{result.stdout}\n{result.stderr}"


def _model(seed: int, widths: list[int], output: str) -> list[fw_model.Layer]:
    return fw_model.random_mlp(np.random.default_rng(seed), widths, output)


def _write_vectors(path: Path, layers: list[fw_model.Layer], n: int, seed: int, rounding: str = "tflm") -> None:
    inputs = fw_model.random_inputs(np.random.default_rng(seed + 1000), n, layers[0].in_features)
    expected = fw_model.run_mlp(layers, inputs, rounding)
    fw_model.write_testvec_header(path, layers, inputs, expected, fw_model.describe(layers) + f" seed {seed}")


def _run_qemu(elf: Path) -> subprocess.CompletedProcess[str]:
    qemu = _require("qemu-system-arm")
    cmd = [qemu, "-M", "netduinoplus2", "-nographic", "-monitor", "none", "-serial", "stdio"]
    cmd += ["-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", str(elf)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=QEMU_TIMEOUT_S)


def _instructions(stdout: str) -> float:
    match = re.search(r"instructions_per_inference=([0-9.]+)", stdout)
    assert match, f"no instruction count printed:\n{stdout}"
    return float(match.group(1))


# ---- the NumPy reference itself -------------------------------------------------------------------------


def test_requantize_reference_matches_tflite_rounding() -> None:
    # Worked by hand from gemmlowp's definitions: SaturatingRoundingDoublingHighMul rounds ties up (its nudge
    # 1 - 2^30 for negative products, with truncating division, amounts to floor(x + 1/2)); RoundingDivideByPOT
    # rounds ties away from zero.
    m = 1 << 30  # 0.5
    acc = np.array([5, -5, 6, -6, 7, -7, 3, -3])
    assert fw_model.requantize(acc, m, 0).tolist() == [3, -2, 3, -3, 4, -3, 2, -1]
    # x/4 = SRDHM(x, 0.5) then /2 with ties away: 5 -> 3 -> 2, -5 -> -2 -> -1, -6 -> -3 -> -2, -3 -> -1 -> -1.
    assert fw_model.requantize(acc, m, -1).tolist() == [2, -1, 2, -2, 2, -2, 1, -1]
    assert fw_model.requantize(np.array([100]), m, 2).tolist() == [200]
    assert fw_model.requantize(np.array([-(2**31)]), -(2**31), 0).tolist() == [2**31 - 1]  # saturation
    # TFLite interpreter rounding: the final shift's ties go up instead (-6 -> -3 -> -1.5 -> -1).
    assert fw_model.requantize(acc, m, -1, "tflite").tolist() == [2, -1, 2, -1, 2, -1, 1, 0]


def test_quantize_multiplier_roundtrip() -> None:
    for scale in [1e-6, 0.0123, 0.5, 0.75, 1.0, 3.9]:
        m, s = fw_model.quantize_multiplier(scale)
        assert 2**30 <= m < 2**31
        assert abs(m * 2.0 ** (s - 31) - scale) <= scale * 2**-30


# ---- host build: bit-exact on 10,000 inputs per model -----------------------------------------------------


@pytest.fixture(scope="module")
def host_cc() -> str:
    return _require("gcc")


@pytest.mark.parametrize("rounding", ["tflm", "tflite"])
@pytest.mark.parametrize(("seed", "widths", "output"), MODELS, ids=[fw_model.describe(_model(*m)) for m in MODELS])
def test_host_build_bit_exact(
    tmp_path: Path, host_cc: str, seed: int, widths: list[int], output: str, rounding: str
) -> None:
    layers = _model(seed, widths, output)
    header = tmp_path / "testvec.h"
    _write_vectors(header, layers, 10_000, seed, rounding)
    build = tmp_path / "build"
    _make(build, TARGET="host", APP="test", KERNELS="portable", ROUNDING=rounding, TESTVEC=str(header), HOST_CC=host_cc)
    result = subprocess.run([str(tmp_path / "build" / "tinyrl")], capture_output=True, text=True, timeout=60)
    assert "RESULT PASS mismatches=0" in result.stdout, result.stdout[-3000:]
    assert result.returncode == 0


@pytest.mark.parametrize("rounding", ["tflm", "tflite"])
def test_host_unit_tests(tmp_path: Path, host_cc: str, rounding: str) -> None:
    """firmware/apps/unit: requantization edge cases, argument validation, scratch checks, batching."""
    _make(tmp_path, TARGET="host", APP="unit", KERNELS="portable", ROUNDING=rounding, HOST_CC=host_cc)
    result = subprocess.run([str(tmp_path / "tinyrl")], capture_output=True, text=True, timeout=60)
    assert "RESULT PASS failures=0" in result.stdout, result.stdout
    assert result.returncode == 0


# ---- STM32F405 image under QEMU: both kernel paths ---------------------------------------------------------


@pytest.mark.parametrize("rounding", ["tflm", "tflite"])
@pytest.mark.parametrize("kernels", ["portable", "dsp"])
def test_qemu_unit_tests(tmp_path: Path, arm_toolchain: None, kernels: str, rounding: str) -> None:
    _make(tmp_path, TARGET="stm32f405", APP="unit", KERNELS=kernels, ROUNDING=rounding)
    result = _run_qemu(tmp_path / "tinyrl.elf")
    assert f"kernels={kernels} rounding={rounding}" in result.stdout, result.stdout
    assert "RESULT PASS failures=0" in result.stdout, result.stdout
    assert result.returncode == 0


@pytest.fixture(scope="module")
def arm_toolchain() -> None:
    _require("arm-none-eabi-gcc")
    _require("qemu-system-arm")


@pytest.mark.parametrize(
    ("seed", "widths", "output", "rounding"),
    QEMU_MODELS,
    ids=[f"{fw_model.describe(_model(*m[:3]))}-{m[3]}" for m in QEMU_MODELS],
)
def test_qemu_portable_and_dsp_bit_exact(
    tmp_path: Path, arm_toolchain: None, seed: int, widths: list[int], output: str, rounding: str
) -> None:
    layers = _model(seed, widths, output)
    header = tmp_path / "testvec.h"
    _write_vectors(header, layers, 1000, seed, rounding)
    macs = sum(layer.in_features * layer.out_features for layer in layers)
    counts = {}
    for kernels in ("portable", "dsp"):
        build = tmp_path / kernels
        _make(build, TARGET="stm32f405", APP="test", KERNELS=kernels, ROUNDING=rounding, TESTVEC=str(header))
        result = _run_qemu(build / "tinyrl.elf")
        assert f"kernels={kernels}" in result.stdout, result.stdout
        assert "RESULT PASS mismatches=0" in result.stdout, result.stdout[-3000:]
        assert result.returncode == 0, f"QEMU exit status {result.returncode}:\n{result.stdout}\n{result.stderr}"
        counts[kernels] = _instructions(result.stdout)
        # Plausible: at least one instruction per 2 MACs (SMLAD), at most ~25 per MAC plus per-channel work.
        channels = sum(layer.out_features for layer in layers)
        assert macs / 2 <= counts[kernels] <= 25 * macs + 200 * channels + 500, (kernels, counts[kernels], macs)
    if macs >= 64:  # tiny layers: the DSP path's fixed set-up costs more than it saves
        assert counts["dsp"] < counts["portable"], counts


def test_qemu_reports_failure(tmp_path: Path, arm_toolchain: None) -> None:
    """A wrong expected output must print a MISMATCH line and end QEMU with status 1 (semihosting)."""
    layers = _model(0, [12, 32, 32, 4], "tanh")
    inputs = fw_model.random_inputs(np.random.default_rng(1), 8, 12)
    expected = fw_model.run_mlp(layers, inputs)
    expected[3, 2] = np.int8(int(expected[3, 2]) ^ 1)
    header = tmp_path / "testvec.h"
    fw_model.write_testvec_header(header, layers, inputs, expected, "deliberately wrong")
    _make(tmp_path / "build", TARGET="stm32f405", APP="test", KERNELS="dsp", TESTVEC=str(header))
    result = _run_qemu(tmp_path / "build" / "tinyrl.elf")
    assert "MISMATCH vector=3 index=2" in result.stdout, result.stdout
    assert "RESULT FAIL mismatches=1" in result.stdout
    assert result.returncode == 1


def test_qemu_instruction_count_repeatable(tmp_path: Path, arm_toolchain: None) -> None:
    """-icount shift=0 makes SysTick readings repeatable: same image, same count."""
    header = tmp_path / "testvec.h"
    _write_vectors(header, _model(0, [12, 32, 32, 4], "tanh"), 16, 0)
    _make(tmp_path / "build", TARGET="stm32f405", APP="test", KERNELS="dsp", TESTVEC=str(header))
    runs = [_instructions(_run_qemu(tmp_path / "build" / "tinyrl.elf").stdout) for _ in range(2)]
    assert runs[0] == runs[1]


def test_committed_example_is_current(tmp_path: Path) -> None:
    """firmware/examples/ (used by `make -C firmware check` on a clean clone) is what fw_model.py writes."""
    fw_model.write_examples(tmp_path)
    for name in [
        "example_testvec.h",
        "example_policy_vectors.h",
        "policy/tinyrl_policy.h",
        "policy/tinyrl_policy.c",
    ]:
        assert (FIRMWARE / "examples" / name).read_text() == (tmp_path / name).read_text(), (
            f"firmware/examples/{name} is stale: run `python tests/firmware/fw_model.py`"
        )


# ---- policy app: the generated policy behind the serial frame loop ------------------------------------------


def _policy_case(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    layers = _model(4, [6, 20, 20, 3], "tanh")
    fw_model.write_policy(tmp_path / "policy", layers, "policy app test")
    inputs = fw_model.random_inputs(np.random.default_rng(7), 20, 6)
    return tmp_path / "policy", inputs, fw_model.run_mlp(layers, inputs)


def test_policy_app_host(tmp_path: Path, host_cc: str) -> None:
    policy, inputs, expected = _policy_case(tmp_path)
    _make(tmp_path / "build", TARGET="host", APP="policy", POLICY=str(policy), HOST_CC=host_cc)
    binary = str(tmp_path / "build" / "tinyrl")
    result = subprocess.run([binary], input=inputs.tobytes(), capture_output=True, timeout=30)
    banner, _, frames = result.stdout.partition(b"\r\n")
    assert banner.startswith(b"tinyrl ready in=6 out=3"), result.stdout[:200]
    assert np.array_equal(np.frombuffer(frames, dtype=np.int8).reshape(-1, 3), expected)
    assert result.returncode == 0


def test_policy_app_qemu(tmp_path: Path, arm_toolchain: None) -> None:
    """Frames over USART1: wait for the banner (earlier bytes are dropped), send 20 observations, read actions."""
    policy, inputs, expected = _policy_case(tmp_path)
    _make(tmp_path / "build", TARGET="stm32f405", APP="policy", POLICY=str(policy))
    cmd = ["qemu-system-arm", "-M", "netduinoplus2", "-nographic", "-monitor", "none", "-serial", "stdio"]
    cmd += ["-semihosting-config", "enable=on,target=native", "-icount", "shift=0"]
    cmd += ["-kernel", str(tmp_path / "build" / "tinyrl.elf")]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out = b""
        deadline = time.monotonic() + QEMU_TIMEOUT_S
        want = expected.size
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 4096)
                assert chunk, "QEMU closed its output"
                out += chunk
            if b"\r\n" in out and proc.stdin is not None and not proc.stdin.closed:
                assert out.startswith(b"tinyrl ready in=6 out=3 instructions_per_inference="), out
                proc.stdin.write(inputs.tobytes())
                proc.stdin.close()
            if len(out.partition(b"\r\n")[2]) >= want:
                break
        frames = out.partition(b"\r\n")[2]
        assert len(frames) == want, f"got {len(frames)} of {want} action bytes: {out!r}"
        assert np.array_equal(np.frombuffer(frames, dtype=np.int8).reshape(-1, 3), expected)
    finally:
        proc.kill()
        proc.wait(timeout=10)
