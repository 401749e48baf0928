"""Pictures every stage draws: courses and flights from above, learning curves (PNG bytes or files, no display)."""

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

#: Colour of each episode outcome in every figure.
OUTCOME_COLOURS = {"success": "tab:blue", "collision": "tab:red", "left_arena": "tab:orange", "timeout": "tab:purple"}


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (files only, never a window)."""
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
    """Draw ``course`` from above into a matplotlib axis: arena, obstacles, start with heading, goal, light.

    The view holds the arena and every obstacle, plus ``margin_m`` (m) on each side.
    """
    from matplotlib import patches

    a = course.arena
    ax.add_patch(patches.Rectangle((a.x[0], a.y[0]), a.x[1] - a.x[0], a.y[1] - a.y[0], fill=False, lw=1))
    lo, hi = np.array([a.x[0], a.y[0]]), np.array([a.x[1], a.y[1]])
    for ob in course.obstacles:
        if isinstance(ob, Cylinder):
            ax.add_patch(patches.Circle(ob.xyz[:2], ob.radius_m, color="0.35"))
            footprint = np.asarray(ob.xyz[:2]) + np.array([[-ob.radius_m], [ob.radius_m]])
        else:
            footprint = box_corners(ob)
            ax.add_patch(patches.Polygon(footprint, closed=True, color="0.35"))
        lo, hi = np.minimum(lo, footprint.min(axis=0)), np.maximum(hi, footprint.max(axis=0))
    ax.add_patch(patches.Circle(course.goal.xyz[:2], course.goal.radius_m, color="tab:green", alpha=0.5))
    sx, sy = course.start.xyz[:2]
    ax.plot(sx, sy, "o", color="tab:blue", ms=4)
    heading = 0.3 * np.array([math.cos(course.start.yaw_rad), math.sin(course.start.yaw_rad)])
    ax.arrow(sx, sy, *heading, color="tab:blue", head_width=0.08, length_includes_head=True)
    if course.light is not None:
        ax.plot(*course.light.xyz[:2], "*", color="gold", ms=8)
    ax.set_xlim(lo[0] - margin_m, hi[0] + margin_m)
    ax.set_ylim(lo[1] - margin_m, hi[1] + margin_m)
    ax.set_aspect("equal")


def png(fig: Any) -> bytes:
    """PNG bytes of ``fig`` (110 dpi), then close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return buf.getvalue()


def plot_flight(course: Course, trajectory_m: np.ndarray, title: str = "") -> bytes:
    """PNG bytes: ``course`` from above with one trajectory ``(T, 3)`` (m)."""
    plt = pyplot()
    a = course.arena
    fig, ax = plt.subplots(figsize=(8, 8 * (a.y[1] - a.y[0]) / (a.x[1] - a.x[0]) + 1))
    draw_course(ax, course, margin_m=0.2)
    ax.plot(trajectory_m[:, 0], trajectory_m[:, 1], color="tab:blue", lw=2)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(title)
    return png(fig)


def plot_courses(courses: Sequence[Course], path: str | Path, columns: int = 4) -> None:
    """Draw each course from above into one image file (one small panel each), atomically.

    Args:
        courses: Courses to draw.
        path: PNG file to write.
        columns: Panels per row.
    """
    if not courses:
        raise ConfigError("no courses to plot")
    plt = pyplot()
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
    atomic_write_bytes(path, png(fig))


def plot_flights(flights: Sequence[tuple[Course, np.ndarray, str]], columns: int = 4) -> bytes:
    """PNG bytes: one panel per ``(course, trajectory (T, 3), outcome)``, the path coloured by outcome."""
    plt = pyplot()
    colours = OUTCOME_COLOURS
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
    return png(fig)


def plot_learning_curve(evaluations: Sequence[dict[str, Any]]) -> bytes:
    """PNG bytes: validation success rate against wall time (s) and env steps."""
    plt = pyplot()
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
    return png(fig)
