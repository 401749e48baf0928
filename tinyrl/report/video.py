"""Animated GIFs of recorded episodes: the course from above, the drone, its trail, the goal and its ToF rays.

Frames are drawn with matplotlib (Agg, no display) and assembled by Pillow, so no ffmpeg is needed; the same
recording always gives the same bytes.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from tinyrl.common.plots import OUTCOME_COLOURS, draw_course, pyplot
from tinyrl.errors import ConfigError
from tinyrl.io import atomic_write_bytes
from tinyrl.report.episode import EpisodeRecording
from tinyrl.sim.sensors import RANGER_DIRECTIONS_BODY

__all__ = ["VIDEO_SUFFIXES", "check_video_path", "frame_steps", "render_gif", "write_video"]

#: Output formats :func:`write_video` can write.
VIDEO_SUFFIXES = (".gif",)
#: How long the last frame stays up (ms) before the GIF loops.
FINAL_HOLD_MS = 1500


def frame_steps(n_samples: int, dt_s: float, fps: float, speed: float = 1.0) -> np.ndarray:
    """Sample indices shown as frames: every ``speed / (fps · dt_s)``-th, always ending on the last one.

    Args:
        n_samples: Samples in the recording (``T + 1``).
        dt_s: Time between samples (s).
        fps: Frames per second of the video.
        speed: Playback speed (1: real time).
    """
    if fps <= 0 or speed <= 0:
        raise ConfigError(f"fps and speed must be positive, got fps={fps}, speed={speed}")
    stride = max(1, round(speed / (fps * dt_s)))
    steps = np.arange(0, n_samples, stride)
    return steps if steps[-1] == n_samples - 1 else np.append(steps, n_samples - 1)


def render_gif(
    recording: EpisodeRecording, fps: float = 10.0, speed: float = 1.0, width_in: float = 6.0, dpi: int = 80
) -> bytes:
    """GIF bytes of ``recording``: one frame per :func:`frame_steps` index, the last one held for a moment.

    Args:
        recording: The episode.
        fps: Frames per second.
        speed: Playback speed (1: real time; 2: twice as fast, half the frames).
        width_in: Figure width (inches); the height follows the arena's aspect.
        dpi: Pixels per inch.
    """
    from matplotlib.lines import Line2D
    from PIL import Image

    plt = pyplot()
    rec, course = recording, recording.course
    a = course.arena
    height_in = width_in * (a.y[1] - a.y[0]) / (a.x[1] - a.x[0]) + 0.7
    fig, ax = plt.subplots(figsize=(width_in, height_in), dpi=dpi)
    draw_course(ax, course, margin_m=0.15)
    ax.tick_params(labelsize=6)
    rays = [Line2D([], [], color="tab:red", lw=1, alpha=0.7) for _ in range(4)]
    for ray in rays:
        ax.add_line(ray)
    (trail,) = ax.plot([], [], color="tab:blue", lw=1.5)
    (body,) = ax.plot([], [], "o", color="k", ms=5)
    (nose,) = ax.plot([], [], color="k", lw=2)
    title = ax.set_title("", fontsize=9)
    fig.tight_layout()
    directions = RANGER_DIRECTIONS_BODY[:4, :2]
    frames = []
    steps = frame_steps(len(rec.position_m), rec.dt_s, fps, speed)
    try:
        for i in steps:
            x, y = rec.position_m[i, :2]
            c, s = math.cos(rec.yaw_rad[i]), math.sin(rec.yaw_rad[i])
            world_dirs = directions @ np.array([[c, s], [-s, c]])
            for ray, d, r in zip(rays, world_dirs, rec.ranges_m[i, :4], strict=True):
                ray.set_data([x, x + r * d[0]], [y, y + r * d[1]])
                ray.set_linestyle(":" if r >= rec.max_range_m else "-")
            trail.set_data(rec.position_m[: i + 1, 0], rec.position_m[: i + 1, 1])
            body.set_data([x], [y])
            nose.set_data([x, x + 0.15 * c], [y, y + 0.15 * s])
            last = i == steps[-1]
            text = f"t = {i * rec.dt_s:5.1f} s"
            if last:
                text += f": {rec.outcome.replace('_', ' ')}"
                trail.set_color(OUTCOME_COLOURS.get(rec.outcome, "k"))
            title.set_text(text)
            fig.canvas.draw()
            frames.append(Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3]))
    finally:
        plt.close(fig)
    frame_ms = round(1000 / fps)
    durations = [frame_ms] * (len(frames) - 1) + [max(frame_ms, FINAL_HOLD_MS)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return buf.getvalue()


def check_video_path(path: str | Path) -> Path:
    """``path`` as a :class:`~pathlib.Path` if :func:`write_video` can write it.

    Raises:
        ConfigError: Not a ``.gif``.
    """
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ConfigError(
            f"{path}: can only write {', '.join(VIDEO_SUFFIXES)} videos (got {path.suffix or 'no suffix'})"
        )
    return path


def write_video(recording: EpisodeRecording, path: str | Path, fps: float = 10.0, speed: float = 1.0) -> Path:
    """Write ``recording`` as an animated GIF to ``path`` (atomically) and return the path.

    Raises:
        ConfigError: ``path`` is not a ``.gif``, or ``fps`` / ``speed`` is not positive.
    """
    path = check_video_path(path)
    atomic_write_bytes(path, render_gif(recording, fps, speed))
    return path
