"""What a ``tinyrl hil --json`` report says about the link: round-trip latencies and their histogram.

A policy folder may hold ``hil.json`` (``tinyrl hil --policy DIR --qemu --json DIR/hil.json``); reports show its
latency histogram when it carries ``latency_samples_ms`` (older reports hold only the summary ``latency_ms``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyrl.errors import ConfigError

__all__ = ["HIL_FILE", "hil_rows", "latency_histogram", "latency_samples_ms"]

#: The HIL report's name inside a policy folder.
HIL_FILE = "hil.json"


def latency_samples_ms(report: dict[str, Any]) -> np.ndarray | None:
    """The report's round-trip latencies ``(round_trips,)`` in ms, or None if it keeps only the summary.

    Raises:
        ConfigError: ``latency_samples_ms`` is there but not a flat list of non-negative numbers.
    """
    samples = report.get("latency_samples_ms")
    if samples is None:
        return None
    try:
        ms = np.asarray(samples, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError("hil report: latency_samples_ms must be a list of numbers (ms)") from None
    if ms.ndim != 1 or (ms < 0).any() or not np.isfinite(ms).all():
        raise ConfigError("hil report: latency_samples_ms must be a flat list of non-negative numbers (ms)")
    return ms


def latency_histogram(samples_ms: np.ndarray, bins: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Counts ``(bins,)`` and edges ``(bins + 1,)`` (ms) of round-trip latencies, from 0 to the slowest one.

    Every sample lands in a bin, so the counts sum to ``len(samples_ms)``.

    Raises:
        ConfigError: No samples or fewer than one bin.
    """
    ms = np.asarray(samples_ms, dtype=np.float64).ravel()
    if ms.size == 0:
        raise ConfigError("no latency samples to histogram")
    if bins < 1:
        raise ConfigError(f"bins must be at least 1, got {bins}")
    counts, edges = np.histogram(ms, bins=bins, range=(0.0, max(float(ms.max()), 1e-3)))
    return counts, edges


def hil_rows(report: dict[str, Any]) -> list[dict[str, str]]:
    """Display rows of a HIL report: outcome, loop rate, latency percentiles, mismatches, MCU cost."""
    lat = report.get("latency_ms", {})
    device = report.get("device", {})
    rows = [
        {"what": "episodes", "value": str(report.get("episodes", "–"))},
        {"what": "success", "value": f"{report['success_rate']:.1%}" if "success_rate" in report else "–"},
        {"what": "round trips", "value": f"{report.get('round_trips', 0):,}"},
        {"what": "closed-loop rate", "value": f"{report.get('loop_hz', 0):.0f} Hz"},
    ]
    if lat:
        rows.append(
            {
                "what": "round trip p50 / p90 / p99 / max",
                "value": f"{lat['p50']:.2f} / {lat['p90']:.2f} / {lat['p99']:.2f} / {lat['max']:.2f} ms",
            }
        )
    rows.append({"what": "action mismatches vs host int8", "value": str(report.get("mismatches", "–"))})
    if device.get("instructions_per_inference") is not None:
        rows.append({"what": "MCU instructions / inference", "value": f"{device['instructions_per_inference']:,}"})
    return rows
