"""Figures of the report: success rates, quantization error, times to goal, difficulty, robustness, HIL latency.

The course and flight pictures every stage draws are in :mod:`tinyrl.common.plots`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tinyrl.common.plots import OUTCOME_COLOURS, png, pyplot
from tinyrl.errors import ConfigError


def plot_success_rates(rows: Sequence[dict[str, Any]]) -> bytes:
    """PNG bytes: success rate with its 95 % interval per policy, and the outcome breakdown beside it.

    Args:
        rows: Per policy ``{"name", "episodes", "success_rate", "success_ci95": (lo, hi), "outcomes": {outcome:
            rate}}`` (rates in [0, 1]); e.g. from :meth:`tinyrl.common.evaluate.EvalReport.to_dict` plus a name.
    """
    if not rows:
        raise ConfigError("no evaluation rows to plot")
    plt = pyplot()
    names = [r["name"] for r in rows]
    x = np.arange(len(rows))
    rate = np.array([100 * r["success_rate"] for r in rows])
    lo = np.array([100 * r["success_ci95"][0] for r in rows])
    hi = np.array([100 * r["success_ci95"][1] for r in rows])
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.bar(x, rate, color=OUTCOME_COLOURS["success"], alpha=0.8)
    a.errorbar(x, rate, yerr=np.vstack([rate - lo, hi - rate]), fmt="none", ecolor="k", capsize=6, lw=1.5)
    for xi, r, h in zip(x, rate, hi, strict=True):
        a.text(xi, min(h + 2, 97), f"{r:.0f} %", ha="center", va="bottom", fontsize=9)
    a.set_xticks(x, names)
    a.set_ylim(0, 105)
    a.set_ylabel("success (%)")
    a.set_title(f"success rate, 95 % Wilson interval ({rows[0]['episodes']} episodes each)", fontsize=9)
    a.grid(axis="y", alpha=0.3)
    bottom = np.zeros(len(rows))
    for outcome, colour in OUTCOME_COLOURS.items():
        share = np.array([100 * r["outcomes"].get(outcome, 0.0) for r in rows])
        b.bar(x, share, bottom=bottom, color=colour, label=outcome.replace("_", " "), alpha=0.85)
        bottom += share
    b.set_xticks(x, names)
    b.set_ylim(0, 100)
    b.set_ylabel("episodes (%)")
    b.set_title("outcome breakdown", fontsize=9)
    b.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return png(fig)


def plot_quantization_error(
    abs_diff: np.ndarray, quantity: str = "action", labels: Sequence[str] | None = None, bins: int = 40
) -> bytes:
    """PNG bytes: histogram (log count) of ``|int8 − float|`` per output component, with mean and maximum.

    Args:
        abs_diff: ``(N, out_dim)`` absolute differences between the int8 and float student.
        quantity: What is compared (``"action"`` or ``"logit"``), for the labels.
        labels: A name per output component (default ``"{quantity} k"``).
        bins: Histogram bins.
    """
    d = np.asarray(abs_diff, dtype=np.float64)
    if d.ndim != 2 or d.size == 0:
        raise ConfigError(f"expected a non-empty (N, out_dim) array of differences, got shape {d.shape}")
    plt = pyplot()
    edges = np.linspace(0.0, max(float(d.max()), 1e-6) * 1.02, bins + 1)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for k in range(d.shape[1]):
        name = labels[k] if labels is not None and k < len(labels) else f"{quantity} {k}"
        ax.hist(d[:, k], bins=edges, histtype="step", lw=1.5, label=name)
    ax.axvline(float(d.mean()), color="k", ls="--", lw=1, label=f"mean {d.mean():.4f}")
    ax.axvline(float(d.max()), color="tab:red", ls=":", lw=1, label=f"max {d.max():.4f}")
    ax.set_yscale("log")
    ax.set_xlabel(f"|int8 − float student| {quantity}")
    ax.set_ylabel("count")
    ax.set_title(f"int8 quantization error on {len(d):,} closed-loop observations", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return png(fig)


def plot_time_to_goal(times_s: Mapping[str, Sequence[float]], bins: int = 20) -> bytes:
    """PNG bytes: distribution of time to goal (s) of successful episodes, one outline per policy."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    values = [t for ts in times_s.values() for t in ts]
    if values:
        edges = np.linspace(min(values), max(values) + 1e-6, bins + 1)
        for name, ts in times_s.items():
            if len(ts):
                ax.hist(ts, bins=edges, histtype="step", lw=1.5, label=f"{name} (median {np.median(ts):.1f} s)")
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no successful episodes", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("time to goal (s)")
    ax.set_ylabel("episodes")
    ax.set_title("time to goal of successful episodes", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return png(fig)


def plot_success_by_difficulty(rows: Sequence[dict[str, Any]]) -> bytes:
    """PNG bytes: success rate with its 95 % interval per course difficulty, one bar per policy in each group.

    Args:
        rows: ``{"difficulty", "name", "episodes", "success_rate", "success_ci95": (lo, hi)}`` (rates in [0, 1]),
            e.g. from :func:`tinyrl.report.difficulty.difficulty_rows`; groups and bars keep the rows' order.
    """
    if not rows:
        raise ConfigError("no difficulty rows to plot")
    title = f"success vs difficulty, 95 % Wilson interval ({rows[0]['episodes']} unseen courses each)"
    return _grouped_success_bars(rows, "difficulty", "course difficulty", title)


def plot_robustness(rows: Sequence[dict[str, Any]]) -> bytes:
    """PNG bytes: success rate with its 95 % interval per robustness condition, one bar per policy in each group.

    Args:
        rows: ``{"condition", "name", "episodes", "success_rate", "success_ci95": (lo, hi)}`` (rates in [0, 1]),
            e.g. from :func:`tinyrl.report.robustness.robustness_flat_rows`; groups and bars keep the rows' order.
    """
    if not rows:
        raise ConfigError("no robustness rows to plot")
    title = f"success per condition, 95 % Wilson interval ({rows[0]['episodes']} episodes each, same seeds)"
    return _grouped_success_bars(rows, "condition", "condition", title, rotate_labels=True)


def _grouped_success_bars(
    rows: Sequence[dict[str, Any]], group: str, xlabel: str, title: str, rotate_labels: bool = False
) -> bytes:
    """Bars of success (%) with Wilson whiskers: one group per value of ``rows[i][group]``, one bar per name."""
    plt = pyplot()
    levels = list(dict.fromkeys(r[group] for r in rows))
    names = list(dict.fromkeys(r["name"] for r in rows))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for k, name in enumerate(names):
        mine = {r[group]: r for r in rows if r["name"] == name}
        x = np.array([i for i, level in enumerate(levels) if level in mine]) + (k - (len(names) - 1) / 2) * width
        rate = np.array([100 * mine[level]["success_rate"] for level in levels if level in mine])
        lo = np.array([100 * mine[level]["success_ci95"][0] for level in levels if level in mine])
        hi = np.array([100 * mine[level]["success_ci95"][1] for level in levels if level in mine])
        ax.bar(x, rate, width * 0.9, label=name, alpha=0.85)
        ax.errorbar(x, rate, yerr=np.vstack([rate - lo, hi - rate]), fmt="none", ecolor="k", capsize=4, lw=1)
        for xi, r, h in zip(x, rate, hi, strict=True):
            ax.text(xi, min(h + 1.5, 101), f"{r:.0f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(np.arange(len(levels)), levels)
    if rotate_labels:
        ax.tick_params(axis="x", labelrotation=15, labelsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylim(0, 108)
    ax.set_ylabel("success (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return png(fig)


def plot_latency_histogram(
    counts: np.ndarray, edges_ms: np.ndarray, summary_ms: dict[str, float] | None = None
) -> bytes:
    """PNG bytes: histogram (log count) of HIL round-trip latencies, with the p50 / p99 lines of the summary.

    Args:
        counts: ``(bins,)`` round trips per bin, e.g. from :func:`tinyrl.report.hil.latency_histogram`.
        edges_ms: ``(bins + 1,)`` bin edges (ms).
        summary_ms: The report's ``latency_ms`` (``p50``, ``p99``, ...), drawn as vertical lines if given.
    """
    counts, edges_ms = np.asarray(counts), np.asarray(edges_ms, dtype=np.float64)
    if counts.ndim != 1 or len(edges_ms) != len(counts) + 1 or counts.sum() == 0:
        raise ConfigError(
            f"expected counts (B,) and edges (B + 1,) with some samples, got {counts.shape}, {edges_ms.shape}"
        )
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.stairs(counts, edges_ms, fill=True, alpha=0.6, color="tab:blue")
    for key, style in (("p50", "--"), ("p99", ":")):
        if summary_ms and key in summary_ms:
            ax.axvline(summary_ms[key], color="k", ls=style, lw=1, label=f"{key} {summary_ms[key]:.2f} ms")
    ax.set_yscale("log")
    ax.set_xlabel("round trip OBS → ACT (ms)")
    ax.set_ylabel("round trips")
    ax.set_title(f"HIL latency over {int(counts.sum()):,} round trips", fontsize=9)
    if summary_ms:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return png(fig)
