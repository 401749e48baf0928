"""Compiled (numba) ray casts and clearances against packed obstacles, the loops of :mod:`tinyrl.sim.geometry`.

The NumPy paths of :func:`~tinyrl.sim.geometry.ray_distances` and :func:`~tinyrl.sim.geometry.clearance` are the
reference. These kernels repeat their float32 arithmetic operation by operation (same formulas, same evaluation
order, ``fastmath`` off, so no fused multiply-adds) for one ray or point and one obstacle at a time, and keep the
nearest entry as it goes instead of building ``(obstacles, rays, drones)``
temporaries; a minimum is exact, so the distances are the same to the bit (the sign of a zero aside).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_F32 = np.float32
_TINY = _F32(1e-20)  # as tinyrl.sim.geometry._TINY
_ZERO = _F32(0.0)
_ONE = _F32(1.0)


@njit(cache=True, nogil=True)
def nearest_entries(
    o: np.ndarray,
    d: np.ndarray,
    cyl: np.ndarray,
    box: np.ndarray,
    slots: np.ndarray,
    dist_m: np.ndarray,
    first: int,
    stop: int,
) -> None:
    """Lower ``dist_m`` to each ray's entry distance (m) into its nearest obstacle, in place, for drones ``first:stop``.

    A drone's rays touch only its own column of ``dist_m``, and the GIL is released, so blocks of drones can run on
    separate threads (:func:`tinyrl.sim.threads.run_blocks`) to the same results.

    Args:
        o: ``(3, R_o, M)`` float32 ray origins (``R_o`` is 1 when a drone's rays share one origin, else ``R``).
        d: ``(3, R, M)`` float32 unit ray directions.
        cyl: ``(5, C, S)`` float32 cylinders per slot: centre x, y, z, radius, half height (m).
        box: ``(8, B, S)`` float32 boxes per slot: centre x, y, z, half extents x, y, z (m), cos and sin of the yaw.
        slots: ``(M,)`` slot of each drone.
        dist_m: ``(R, M)`` float32 distances so far (floor or range limit); an entry only ever lowers them.
        first: First drone (column) to cast for.
        stop: One past the last drone to cast for.
    """
    n_rays = dist_m.shape[0]
    shared = o.shape[1] == 1
    # Per ray of the current drone: what does not depend on the obstacle (obstacles outer, rays inner, so each
    # obstacle's fields are read once per drone).
    inv_a = np.empty(n_rays, dtype=np.float32)
    a = np.empty(n_rays, dtype=np.float32)
    inv_dz = np.empty(n_rays, dtype=np.float32)
    for m in range(first, stop):
        s = slots[m]
        for r in range(n_rays):
            dx, dy, dz = d[0, r, m], d[1, r, m], d[2, r, m]
            a[r] = max(dx * dx + dy * dy, _TINY)
            inv_a[r] = _ONE / a[r]
            inv_dz[r] = _ONE / (dz if dz != _ZERO else _TINY)
        # Cylinders: side surface a t^2 + 2 b t + cc = 0, caps as a slab along z (see geometry._ray_cylinders).
        for k in range(cyl.shape[1]):
            cx, cy, cz, radius, h = cyl[0, k, s], cyl[1, k, s], cyl[2, k, s], cyl[3, k, s], cyl[4, k, s]
            for r in range(n_rays):
                ro = 0 if shared else r
                dx, dy = d[0, r, m], d[1, r, m]
                px, py, pz = o[0, ro, m] - cx, o[1, ro, m] - cy, o[2, ro, m] - cz
                b = px * dx + py * dy
                cc = px * px + py * py - radius * radius
                disc = b * b - a[r] * cc
                if disc < _ZERO:
                    continue
                mid = b * -inv_a[r]
                half_width = np.sqrt(disc) * inv_a[r]
                t1 = (-h - pz) * inv_dz[r]
                t2 = (h - pz) * inv_dz[r]
                near = max(mid - half_width, min(t1, t2))
                far = min(mid + half_width, max(t1, t2))
                if near <= far and far >= _ZERO and near < dist_m[r, m]:
                    dist_m[r, m] = near
        # Boxes: three slabs in the box's frame (rotated by -yaw), see geometry._ray_boxes.
        for k in range(box.shape[1]):
            bx, by, bz = box[0, k, s], box[1, k, s], box[2, k, s]
            hx, hy, hz, cos, sin = box[3, k, s], box[4, k, s], box[5, k, s], box[6, k, s], box[7, k, s]
            for r in range(n_rays):
                ro = 0 if shared else r
                dx, dy, dz = d[0, r, m], d[1, r, m], d[2, r, m]
                px, py, pz = o[0, ro, m] - bx, o[1, ro, m] - by, o[2, ro, m] - bz
                near, far = _slab(cos * px + sin * py, cos * dx + sin * dy, hx)
                lo, hi = _slab(cos * py - sin * px, cos * dy - sin * dx, hy)
                near, far = max(near, lo), min(far, hi)
                lo, hi = _slab(pz, dz, hz)
                near, far = max(near, lo), min(far, hi)
                if near <= far and far >= _ZERO and near < dist_m[r, m]:
                    dist_m[r, m] = near


@njit(cache=True, nogil=True, inline="always")
def _slab(p: np.float32, d: np.float32, half: np.float32) -> tuple[np.float32, np.float32]:
    """Entry and exit distances of the ray ``p + t d`` through ``|x| <= half`` along one axis."""
    inv = _ONE / (d if d != _ZERO else _TINY)
    t1 = (-half - p) * inv
    t2 = (half - p) * inv
    return min(t1, t2), max(t1, t2)


@njit(cache=True, nogil=True)
def nearest_surfaces(
    pos: np.ndarray, cyl: np.ndarray, box: np.ndarray, slots: np.ndarray, best_m: np.ndarray, first: int, stop: int
) -> None:
    """Lower ``best_m`` to each point's signed distance (m) to its slot's nearest obstacle, for points ``first:stop``.

    The loop of :func:`tinyrl.sim.geometry.clearance`: its float32 arithmetic, in its order.

    Args:
        pos: ``(3, M)`` float32 points (x, y and z rows).
        cyl: ``(5, C, S)`` float32 cylinders per slot, as :func:`nearest_entries` takes them.
        box: ``(8, B, S)`` float32 boxes per slot, as :func:`nearest_entries` takes them.
        slots: ``(M,)`` slot of each point.
        best_m: ``(M,)`` float32 distances so far (``inf`` to start); negative inside an obstacle.
        first: First point.
        stop: One past the last point.
    """
    for m in range(first, stop):
        s = slots[m]
        x, y, z = pos[0, m], pos[1, m], pos[2, m]
        nearest = best_m[m]
        for k in range(cyl.shape[1]):
            px, py = x - cyl[0, k, s], y - cyl[1, k, s]
            radial = np.sqrt(px * px + py * py) - cyl[3, k, s]
            axial = abs(z - cyl[2, k, s]) - cyl[4, k, s]
            ro, ao = max(radial, _ZERO), max(axial, _ZERO)
            sd = np.sqrt(ro * ro + ao * ao) + min(max(radial, axial), _ZERO)
            nearest = min(nearest, sd)
        for k in range(box.shape[1]):
            px, py = x - box[0, k, s], y - box[1, k, s]
            cos, sin = box[6, k, s], box[7, k, s]
            ex = abs(cos * px + sin * py) - box[3, k, s]
            ey = abs(cos * py - sin * px) - box[4, k, s]
            ez = abs(z - box[2, k, s]) - box[5, k, s]
            xo, yo, zo = max(ex, _ZERO), max(ey, _ZERO), max(ez, _ZERO)
            sd = np.sqrt(xo * xo + yo * yo + zo * zo) + min(max(max(ex, ey), ez), _ZERO)
            nearest = min(nearest, sd)
        best_m[m] = nearest
