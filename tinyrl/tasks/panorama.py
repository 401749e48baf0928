"""A panorama of the multi-ranger's recent readings: how far the drone could see, all around.

Four rangers 90 degrees apart see four directions at a time; a drone that spins sweeps them round. The panorama keeps
what they saw in ``S`` sectors fixed in the world frame, each the farthest recent reading whose beam fell in it, fading
at ``fade_m_s`` so that what the drone has flown away from is forgotten. Read in the heading frame, it survives the
spin: a gap in a wall seen a second ago stays where it is while the drone turns, which a body-frame memory such as
``ranges_ema`` (the same ranger now points elsewhere) does not keep.

Sector ``k`` of the world panorama is centred on world yaw ``k * 2 pi / S``; sector ``k`` of the heading-frame read-out
on heading-frame bearing ``k * 2 pi / S`` (0 = ahead, counter-clockwise), linearly interpolated between the two
world sectors it falls between.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RANGER_YAWS_RAD", "panorama_in_heading", "panorama_start", "panorama_update"]

#: Body-frame yaw of the front, back, left and right rangers (rad; counter-clockwise from ahead).
RANGER_YAWS_RAD = np.array([0.0, np.pi, 0.5 * np.pi, -0.5 * np.pi])


def _sector_of(yaw_rad: np.ndarray, sectors: int) -> np.ndarray:
    """Index ``(M, 4)`` of the world sector each ranger's beam points into, for drone yaws ``(M,)``."""
    width_rad = 2.0 * np.pi / sectors
    return np.rint((yaw_rad[:, None] + RANGER_YAWS_RAD) / width_rad).astype(np.int64) % sectors


def panorama_start(ranges_m: np.ndarray, yaw_rad: np.ndarray, sectors: int) -> np.ndarray:
    """A new episode's world panorama ``(M, S)`` (m): the first four readings, 0 (nothing known) elsewhere.

    Args:
        ranges_m: ``(M, 4)`` front, back, left, right ranges (m).
        yaw_rad: ``(M,)`` the drone's yaw (rad).
        sectors: ``S``.
    """
    panorama = np.zeros((len(yaw_rad), sectors))
    return panorama_update(panorama, ranges_m, yaw_rad, fade_m=0.0)


def panorama_update(panorama_m: np.ndarray, ranges_m: np.ndarray, yaw_rad: np.ndarray, fade_m: float) -> np.ndarray:
    """One step of the world panorama ``(M, S)`` (m), updated in place and returned.

    Every sector fades by ``fade_m`` (not below 0), then each ranger's sector keeps the larger of its value and the
    ranger's reading.

    Args:
        panorama_m: ``(M, S)`` the panorama so far (m).
        ranges_m: ``(M, 4)`` front, back, left, right ranges now (m).
        yaw_rad: ``(M,)`` the drone's yaw now (rad).
        fade_m: How far every sector fades this step (m): the fade rate (m/s) times the step (s).
    """
    if fade_m:
        np.maximum(panorama_m - fade_m, 0.0, out=panorama_m)
    rows = np.arange(len(yaw_rad))[:, None]
    cols = _sector_of(yaw_rad, panorama_m.shape[1])
    # Two rangers never share a sector (they lie 90 degrees apart and sectors are at most that wide), so one
    # fancy-indexed maximum sees every reading.
    panorama_m[rows, cols] = np.maximum(panorama_m[rows, cols], ranges_m)
    return panorama_m


def panorama_in_heading(panorama_m: np.ndarray, yaw_rad: np.ndarray) -> np.ndarray:
    """The world panorama ``(M, S)`` read in the heading frame ``(M, S)`` (m): sector 0 ahead, counter-clockwise."""
    sectors = panorama_m.shape[1]
    position = (yaw_rad / (2.0 * np.pi / sectors))[:, None] + np.arange(sectors)
    below = np.floor(position)
    t = position - below
    lo = below.astype(np.int64) % sectors
    hi = (lo + 1) % sectors
    rows = np.arange(len(yaw_rad))[:, None]
    return (1.0 - t) * panorama_m[rows, lo] + t * panorama_m[rows, hi]
