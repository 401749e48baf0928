"""Top-down pictures of courses and flights (PNG bytes or files; never needs a display)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinyrl.errors import ConfigError
from tinyrl.io import atomic_write_bytes
from tinyrl.sim.course import Box, Course, Cylinder


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def box_corners(box: Box) -> np.ndarray:
    """``(4, 2)`` footprint corners (m) of a yawed box."""
    hx, hy = box.half_extents_m[:2]
    c, s = math.cos(box.yaw_rad), math.sin(box.yaw_rad)
    local = np.array([[hx, hy], [-hx, hy], [-hx, -hy], [hx, -hy]])
    return local @ np.array([[c, s], [-s, c]]) + np.asarray(box.xyz[:2])


def draw_course(ax: Any, course: Course, margin_m: float = 0.1) -> None:
    """Draw ``course`` from above into a matplotlib axis: arena, obstacles, start with heading, goal, light."""
    from matplotlib import patches

    a = course.arena
    ax.add_patch(patches.Rectangle((a.x[0], a.y[0]), a.x[1] - a.x[0], a.y[1] - a.y[0], fill=False, lw=1))
    for ob in course.obstacles:
        if isinstance(ob, Cylinder):
            ax.add_patch(patches.Circle(ob.xyz[:2], ob.radius_m, color="0.35"))
        else:
            ax.add_patch(patches.Polygon(box_corners(ob), closed=True, color="0.35"))
    ax.add_patch(patches.Circle(course.goal.xyz[:2], course.goal.radius_m, color="tab:green", alpha=0.5))
    sx, sy = course.start.xyz[:2]
    ax.plot(sx, sy, "o", color="tab:blue", ms=4)
    heading = 0.3 * np.array([math.cos(course.start.yaw_rad), math.sin(course.start.yaw_rad)])
    ax.arrow(sx, sy, *heading, color="tab:blue", head_width=0.08, length_includes_head=True)
    if course.light is not None:
        ax.plot(*course.light.xyz[:2], "*", color="gold", ms=8)
    ax.set_xlim(a.x[0] - margin_m, a.x[1] + margin_m)
    ax.set_ylim(a.y[0] - margin_m, a.y[1] + margin_m)
    ax.set_aspect("equal")


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def plot_flight(course: Course, trajectory_m: np.ndarray, title: str = "") -> bytes:
    """PNG bytes: ``course`` from above with one trajectory ``(T, 3)`` (m)."""
    plt = _pyplot()
    a = course.arena
    fig, ax = plt.subplots(figsize=(8, 8 * (a.y[1] - a.y[0]) / (a.x[1] - a.x[0]) + 1))
    draw_course(ax, course, margin_m=0.2)
    ax.plot(trajectory_m[:, 0], trajectory_m[:, 1], color="tab:blue", lw=2)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(title)
    return _png(fig)


def plot_courses(courses: Sequence[Course], path: str | Path, columns: int = 4) -> None:
    """Draw each course from above into one image file (one small panel each), atomically.

    Args:
        courses: Courses to draw.
        path: PNG file to write.
        columns: Panels per row.
    """
    if not courses:
        raise ConfigError("no courses to plot")
    plt = _pyplot()
    columns = min(columns, len(courses))
    rows = math.ceil(len(courses) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.2 * rows), squeeze=False)
    for ax in axes.ravel()[len(courses) :]:
        ax.axis("off")
    for i, (course, ax) in enumerate(zip(courses, axes.ravel(), strict=False)):
        draw_course(ax, course)
        ax.set_title(f"#{i}: {len(course.obstacles)} obstacles", fontsize=8)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    atomic_write_bytes(path, _png(fig))


def plot_flights(flights: Sequence[tuple[Course, np.ndarray, str]], columns: int = 4) -> bytes:
    """PNG bytes: one panel per ``(course, trajectory (T, 3), outcome)``, the path coloured by outcome."""
    plt = _pyplot()
    colours = {"success": "tab:blue", "collision": "tab:red", "left_arena": "tab:orange", "timeout": "tab:purple"}
    columns = min(columns, len(flights))
    rows = math.ceil(len(flights) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.ravel()[len(flights) :]:
        ax.axis("off")
    for ax, (course, traj, outcome) in zip(axes.ravel(), flights, strict=False):
        draw_course(ax, course)
        ax.plot(traj[:, 0], traj[:, 1], color=colours.get(outcome, "k"), lw=1.5)
        ax.set_title(outcome, fontsize=8, color=colours.get(outcome, "k"))
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    return _png(fig)


def plot_learning_curve(evaluations: Sequence[dict[str, Any]]) -> bytes:
    """PNG bytes: validation success rate against wall time (s) and env steps."""
    plt = _pyplot()
    wall = [e["wall_time_s"] / 60 for e in evaluations]
    steps = [e["steps"] / 1e6 for e in evaluations]
    success = [100 * e["success_rate"] for e in evaluations]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    a.plot(wall, success, "o-")
    a.set_xlabel("wall time (min)")
    b.plot(steps, success, "o-")
    b.set_xlabel("env steps (M)")
    for ax in (a, b):
        ax.set_ylabel("success (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


#: Colour of each episode outcome in every figure.
OUTCOME_COLOURS = {"success": "tab:blue", "collision": "tab:red", "left_arena": "tab:orange", "timeout": "tab:purple"}


def plot_success_rates(rows: Sequence[dict[str, Any]]) -> bytes:
    """PNG bytes: success rate with its 95 % interval per policy, and the outcome breakdown beside it.

    Args:
        rows: Per policy ``{"name", "episodes", "success_rate", "success_ci95": (lo, hi), "outcomes": {outcome:
            rate}}`` (rates in [0, 1]); e.g. from :meth:`tinyrl.train.evaluate.EvalReport.to_dict` plus a name.
    """
    if not rows:
        raise ConfigError("no evaluation rows to plot")
    plt = _pyplot()
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
    return _png(fig)


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
    plt = _pyplot()
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
    return _png(fig)


def plot_time_to_goal(times_s: dict[str, Sequence[float]], bins: int = 20) -> bytes:
    """PNG bytes: distribution of time to goal (s) of successful episodes, one outline per policy."""
    plt = _pyplot()
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
    return _png(fig)


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
    plt = _pyplot()
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
    return _png(fig)


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
    plt = _pyplot()
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
    return _png(fig)
