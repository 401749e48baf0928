"""HIL reports carry every round-trip latency, and reports histogram them (or say why they cannot)."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tinyrl.errors import ConfigError
from tinyrl.hil.bridge import HilReport
from tinyrl.report.hil import hil_rows, latency_histogram, latency_samples_ms
from tinyrl.report.plots import plot_latency_histogram

SHIPPED = Path(__file__).resolve().parents[2] / "policies" / "obstacle-course" / "hil.json"


def test_histogram_counts_every_sample():
    samples = np.random.default_rng(0).gamma(2.0, 0.8, size=1234)
    counts, edges = latency_histogram(samples, bins=25)
    assert counts.sum() == len(samples) and len(edges) == 26
    assert edges[0] == 0.0 and edges[-1] == pytest.approx(samples.max())
    counts, _ = latency_histogram(np.full(7, 2.5))  # all equal: still every sample counted
    assert counts.sum() == 7
    with pytest.raises(ConfigError):
        latency_histogram(np.array([]))


def test_shipped_hil_report_keeps_its_samples():
    report = json.loads(SHIPPED.read_text())
    samples = latency_samples_ms(report)
    assert samples is not None and len(samples) == report["round_trips"] == sum(report["episode_steps"])
    assert samples.max() == pytest.approx(report["latency_ms"]["max"], abs=1e-3)
    assert np.percentile(samples, 50) == pytest.approx(report["latency_ms"]["p50"], abs=1e-3)
    assert report["mismatches"] == 0
    assert {"what": "action mismatches vs host int8", "value": "0"} in hil_rows(report)


def test_reports_without_or_with_bad_samples():
    assert latency_samples_ms({"latency_ms": {"p50": 1.0}}) is None  # made before latency_samples_ms
    for bad in ([1.0, -2.0], [[1.0, 2.0]], ["fast"], [float("nan")]):
        with pytest.raises(ConfigError, match="latency_samples_ms"):
            latency_samples_ms({"latency_samples_ms": bad})


def test_hil_report_json_keeps_old_keys_and_adds_samples():
    report = HilReport(
        summary={"episodes": 1},
        round_trips=3,
        loop_hz=100.0,
        latency_ms={"p50": 2.0},
        mismatches=0,
        mismatch_steps=[],
        link={},
        device={},
        episode_steps=[3],
        latency_samples_ms=[1.5, 2.0, 2.5],
    )
    data = report.to_dict()
    old = {"episodes", "round_trips", "loop_hz", "latency_ms", "mismatches", "mismatch_steps", "link", "device"}
    assert old | {"episode_steps"} <= set(data) and data["latency_samples_ms"] == [1.5, 2.0, 2.5]


def test_latency_plot():
    counts, edges = latency_histogram(np.linspace(0.5, 9.0, 500))
    png = plot_latency_histogram(counts, edges, {"p50": 4.7, "p99": 8.9})
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.width > 300 and np.ptp(np.asarray(im.convert("L"))) > 100
    with pytest.raises(ConfigError):
        plot_latency_histogram(counts, edges[:-1])
