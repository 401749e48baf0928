"""Analytic ray casts and sphere collisions against course geometry, vectorized over all drones.

The fast backend of :class:`tinyrl.sim.world.World`: obstacles of every slot are packed into padded arrays,
and each query handles all drones, all rays and all obstacles in a few dozen elementwise NumPy operations,
without a Python loop over drones. PyBullet's ray test is the reference it is checked against. Ray casts and
clearances run by default in :mod:`tinyrl.sim.fast_geometry`, compiled loops over drones and obstacles that repeat
this module's float32 arithmetic (the same distances: ray casts ~3x faster, clearances ~1.5x for 256 drones); the
NumPy code here stays the reference.

Speed notes (measured, 2-core machine): arrays are obstacle-major, ``(K, slots)``, so the "nearest obstacle"
reduction runs over the first axis (NumPy reduces a short last axis ~10x slower); one array per vector
component avoids small-axis arithmetic; ray math runs in float32 (3x faster than float64 here, and still
µm-accurate over a few metres). Padding entries are zero-size shapes 1e6 m away, so no mask is needed: a ray
can only reach them beyond any sensor range.

Geometry (see :mod:`tinyrl.sim.course`): upright cylinders and z-yawed boxes, centred on ``xyz``, plus the
infinite floor plane ``z = 0``. There is no ceiling and there are no arena walls.

A ray whose origin lies inside an obstacle reads 0 m here (the sensor is blocked); PyBullet reports no hit
in that case. Both only happen to a drone that has already collided.
"""

from __future__ import annotations

import numpy as np

from tinyrl.sim import threads
from tinyrl.sim.course import Box, Course, Cylinder

try:
    from tinyrl.sim import fast_geometry
except ImportError:  # pragma: no cover - depends on the environment
    fast_geometry = None  # type: ignore[assignment]

RAY_BACKENDS = ("numpy", "numba")
#: What ``backend="auto"`` casts with: the compiled loop when numba is installed.
RAY_BACKEND = "numba" if fast_geometry is not None else "numpy"

# Stand-in for a zero direction component or a zero horizontal direction: divisions then give ±1e20, which
# puts a slab at ±infinity when the origin is between its planes and out of reach when it is not.
_TINY = 1e-20
# Ray math precision (see the module docstring).
_DTYPE = np.float32
# Where padding obstacles sit (m): far beyond any range, so they are never hit.
_FAR_M = 1e6

_CYL_FIELDS = {"x": _FAR_M, "y": _FAR_M, "z": _FAR_M, "r": 0.0, "h": 0.0}
_BOX_FIELDS = {"x": _FAR_M, "y": _FAR_M, "z": _FAR_M, "hx": 0.0, "hy": 0.0, "hz": 0.0, "cos": 1.0, "sin": 0.0}


class PackedObstacles:
    """Obstacles of ``n_slots`` courses as padded, obstacle-major arrays.

    ``cyl[name]`` has shape ``(C, n_slots)`` for ``x, y, z`` (centre, m), ``r`` (radius, m), ``h`` (half
    height, m); ``box[name]`` has shape ``(B, n_slots)`` for ``x, y, z``, ``hx, hy, hz`` (half extents, m)
    and ``cos, sin`` of the yaw. ``count[s]`` is the number of real obstacles in slot ``s``. The named arrays are
    views of ``cyl_table`` ``(5, C, n_slots)`` and ``box_table`` ``(8, B, n_slots)``, fields in that order (the
    compiled ray cast takes the tables whole).
    """

    def __init__(self, n_slots: int) -> None:
        self.n_slots = n_slots
        self.cyl_table = self._table(_CYL_FIELDS, 0, n_slots)
        self.box_table = self._table(_BOX_FIELDS, 0, n_slots)
        self.count = np.zeros(n_slots, dtype=np.intp)

    @staticmethod
    def _table(fills: dict[str, float], rows: int, n_slots: int) -> np.ndarray:
        """A padding-only table ``(len(fills), rows, n_slots)``."""
        return np.broadcast_to(
            np.array(list(fills.values()), dtype=_DTYPE)[:, None, None], (len(fills), rows, n_slots)
        ).copy()

    @property
    def cyl(self) -> dict[str, np.ndarray]:
        """Cylinder fields by name, each ``(C, n_slots)`` (views: writing one writes the table)."""
        return dict(zip(_CYL_FIELDS, self.cyl_table, strict=True))

    @property
    def box(self) -> dict[str, np.ndarray]:
        """Box fields by name, each ``(B, n_slots)`` (views: writing one writes the table)."""
        return dict(zip(_BOX_FIELDS, self.box_table, strict=True))

    @classmethod
    def _fill(cls, table: np.ndarray, fills: dict[str, float], slot: int, rows: dict[str, list[float]]) -> np.ndarray:
        """``table`` with ``slot``'s obstacles replaced by ``rows`` (field → values), widened if they need it."""
        n = len(next(iter(rows.values())))
        have = table.shape[1]
        if n > have:  # widen every slot; the new rows are padding
            table = np.concatenate((table, cls._table(fills, n - have, table.shape[2])), axis=1)
        for i, (k, fill) in enumerate(fills.items()):
            table[i, :, slot] = fill
            table[i, :n, slot] = rows[k]
        return table

    def set_course(self, slot: int, course: Course | None) -> None:
        """Replace the obstacles of ``slot`` (``None`` empties it); arrays widen when a course needs more."""
        cyls = [o for o in course.obstacles if isinstance(o, Cylinder)] if course else []
        boxes = [o for o in course.obstacles if isinstance(o, Box)] if course else []
        self.cyl_table = self._fill(
            self.cyl_table,
            _CYL_FIELDS,
            slot,
            {
                "x": [o.xyz[0] for o in cyls],
                "y": [o.xyz[1] for o in cyls],
                "z": [o.xyz[2] for o in cyls],
                "r": [o.radius_m for o in cyls],
                "h": [o.height_m / 2 for o in cyls],
            },
        )
        self.box_table = self._fill(
            self.box_table,
            _BOX_FIELDS,
            slot,
            {
                "x": [o.xyz[0] for o in boxes],
                "y": [o.xyz[1] for o in boxes],
                "z": [o.xyz[2] for o in boxes],
                "hx": [o.half_extents_m[0] for o in boxes],
                "hy": [o.half_extents_m[1] for o in boxes],
                "hz": [o.half_extents_m[2] for o in boxes],
                "cos": [np.cos(o.yaw_rad) for o in boxes],
                "sin": [np.sin(o.yaw_rad) for o in boxes],
            },
        )
        self.count[slot] = len(cyls) + len(boxes)


def _take(arrays: dict[str, np.ndarray], slots: np.ndarray | None) -> dict[str, np.ndarray]:
    """Columns for ``slots`` as ``(K, 1, M)``; ``None`` (all slots, in order) skips the gather's copy."""
    return {k: (a if slots is None else a[:, slots])[:, None, :] for k, a in arrays.items()}


def _nonzero(d: np.ndarray) -> np.ndarray:
    """``d`` with exact zeros replaced by a tiny positive number, for the slab test."""
    return np.where(d == 0.0, _DTYPE(_TINY), d)


def _nearest_hit(near: np.ndarray, far: np.ndarray, extra_hit: np.ndarray | None = None) -> np.ndarray:
    """Smallest entry distance over obstacles (axis 0) of the intervals ``[near, far]`` that a ray reaches."""
    hit = (near <= far) & (far >= 0.0)
    if extra_hit is not None:
        hit &= extra_hit
    # A masked reduction: no temporary array of infs.
    return np.minimum.reduce(near, axis=0, where=hit, initial=np.inf)


def _ray_cylinders(c: dict[str, np.ndarray], o: tuple, d: tuple) -> np.ndarray:
    """Entry distance (m, negative from inside) of rays into their nearest cylinder, ``(R, M)``.

    ``c`` holds ``(C, 1, M)`` arrays; ``o`` and ``d`` are component tuples of shape ``(R, M)`` (``(1, M)``
    for shared origins: the per-origin work is then done once per drone, not per ray). Drones run along
    the last axis because NumPy's inner loop is slow over a short broadcast axis (5 rays).
    """
    px, py, pz = o[0] - c["x"], o[1] - c["y"], o[2] - c["z"]
    dx, dy, dz = d
    # Side surface: |p_xy + t d_xy|^2 = r^2, i.e. a t^2 + 2 b t + cc = 0. A vertical ray gets a tiny a: inside
    # the radius (cc <= 0) its roots are then ±huge (the side never stops it), outside the discriminant is
    # negative (never hits).
    a = np.maximum(dx * dx + dy * dy, _DTYPE(_TINY))
    inv_a = 1.0 / a
    b = px * dx + py * dy
    cc = px * px + py * py - c["r"] * c["r"]
    disc = b * b - a * cc
    mid = b * -inv_a  # the roots are mid ± half_width
    half_width = np.sqrt(np.maximum(disc, 0.0)) * inv_a
    # Caps: the slab |pz + t dz| <= h.
    inv_dz = 1.0 / _nonzero(dz)
    t1 = (-c["h"] - pz) * inv_dz
    t2 = (c["h"] - pz) * inv_dz
    near = np.maximum(mid - half_width, np.minimum(t1, t2))
    far = np.minimum(mid + half_width, np.maximum(t1, t2))
    return _nearest_hit(near, far, disc >= 0.0)


def _ray_boxes(bx: dict[str, np.ndarray], o: tuple, d: tuple) -> np.ndarray:
    """Entry distance (m, negative from inside) of rays into their nearest box, ``(R, M)``; see ``_ray_cylinders``."""
    cos, sin = bx["cos"], bx["sin"]
    px, py, pz = o[0] - bx["x"], o[1] - bx["y"], o[2] - bx["z"]
    # Origins and directions in each box's frame (rotated by -yaw).
    local_p = (cos * px + sin * py, cos * py - sin * px, pz)
    local_d = (cos * d[0] + sin * d[1], cos * d[1] - sin * d[0], d[2])
    slabs = [_slab(pl, dl, half) for pl, dl, half in zip(local_p, local_d, (bx["hx"], bx["hy"], bx["hz"]), strict=True)]
    near, far = slabs[0]
    for lo, hi in slabs[1:]:
        np.maximum(near, lo, out=near)
        np.minimum(far, hi, out=far)
    return _nearest_hit(near, far)


def _slab(p: np.ndarray, d: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entry and exit distances of rays ``p + t d`` through the slab ``|x| <= half`` along one axis."""
    inv = 1.0 / _nonzero(d)
    t1 = (-half - p) * inv
    t2 = (half - p) * inv
    return np.minimum(t1, t2), np.maximum(t1, t2)


def _compiled(backend: str) -> bool:
    """Whether ``backend`` (``"auto"`` or one of :data:`RAY_BACKENDS`) means the compiled loops."""
    chosen = RAY_BACKEND if backend == "auto" else backend
    if chosen not in RAY_BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected 'auto' or one of {RAY_BACKENDS}")
    if chosen == "numba" and fast_geometry is None:
        raise ValueError("backend 'numba' needs numba installed")
    return chosen == "numba"


def ray_distances(
    obs: PackedObstacles,
    slots: np.ndarray | None,
    origins_m: np.ndarray,
    directions: np.ndarray,
    max_range_m: float,
    backend: str = "auto",
) -> np.ndarray:
    """Distance (m) along each ray to the first obstacle or the floor, ``max_range_m`` if nothing is closer.

    Args:
        obs: Packed obstacles of every slot.
        slots: ``(M,)`` slot index of each drone; ``None`` for all slots in order.
        origins_m: ``(M, R, 3)`` ray origins, world frame; ``(M, 1, 3)`` when a drone's rays share one
            origin (cheaper).
        directions: ``(M, R, 3)`` ray directions (normalized here).
        max_range_m: Range limit.
        backend: ``"numba"`` (the compiled loop of :mod:`tinyrl.sim.fast_geometry`, the same distances), ``"numpy"``
            (the reference) or ``"auto"`` (:data:`RAY_BACKEND`).

    Returns:
        ``(M, R)`` float64 distances in ``[0, max_range_m]``; 0 for a ray starting inside an obstacle.
    """
    o64 = np.asarray(origins_m, dtype=float)
    d64 = np.asarray(directions, dtype=float)
    d64 = d64 / np.linalg.norm(d64, axis=-1, keepdims=True)
    if slots is not None:
        slots = np.asarray(slots, dtype=np.intp)
    # Floor z = 0, seen from above only (a drone below it has crashed long ago).
    dz = d64[..., 2]
    floor = np.where(dz < 0.0, np.maximum(o64[..., 2], 0.0) / -np.minimum(dz, -_TINY), np.inf)
    dist = np.minimum(floor, max_range_m).T.astype(_DTYPE, order="C")  # (R, M), see _ray_cylinders
    # Components first, (3, R, M): the compiled loop takes the stacks, the NumPy path their contiguous rows.
    o_stack = o64.transpose(2, 1, 0).astype(_DTYPE, order="C")
    d_stack = d64.transpose(2, 1, 0).astype(_DTYPE, order="C")
    o, d = tuple(o_stack), tuple(d_stack)
    if _compiled(backend):
        cells = np.arange(dist.shape[1]) if slots is None else slots
        kernel = fast_geometry.nearest_entries
        threads.run_blocks(
            lambda first, stop: kernel(o_stack, d_stack, obs.cyl_table, obs.box_table, cells, dist, first, stop),
            dist.shape[1],
        )
    else:
        if obs.cyl["x"].shape[0]:
            np.minimum(dist, _ray_cylinders(_take(obs.cyl, slots), o, d), out=dist)
        if obs.box["x"].shape[0]:
            np.minimum(dist, _ray_boxes(_take(obs.box, slots), o, d), out=dist)
    return np.maximum(dist, 0.0, out=dist).T.astype(float)


def clearance(
    obs: PackedObstacles, slots: np.ndarray | None, positions_m: np.ndarray, backend: str = "auto"
) -> np.ndarray:
    """Distance (m) from each point to the nearest obstacle surface, negative inside; floor excluded.

    Exact for cylinders and boxes (computed in float32: ~1 µm).

    Args:
        obs: Packed obstacles of every slot.
        slots: ``(M,)`` slot index of each drone; ``None`` for all slots in order.
        positions_m: ``(M, 3)`` points, world frame.
        backend: ``"numba"`` (the compiled loop of :mod:`tinyrl.sim.fast_geometry`, the same distances), ``"numpy"``
            (the reference) or ``"auto"`` (:data:`RAY_BACKEND`).

    Returns:
        ``(M,)`` signed distances; ``inf`` for a slot without obstacles.
    """
    pos = np.asarray(positions_m, dtype=_DTYPE)
    if slots is not None:
        slots = np.asarray(slots, dtype=np.intp)
    best = np.full(pos.shape[0], np.inf, dtype=_DTYPE)
    if _compiled(backend):
        points = np.ascontiguousarray(pos.T)
        cells = np.arange(pos.shape[0]) if slots is None else slots
        kernel = fast_geometry.nearest_surfaces
        threads.run_blocks(
            lambda first, stop: kernel(points, obs.cyl_table, obs.box_table, cells, best, first, stop), pos.shape[0]
        )
        return _signed_or_empty(obs, slots, best)
    x, y, z = pos[:, 0], pos[:, 1], pos[:, 2]
    if obs.cyl["x"].shape[0]:
        c = {k: v[:, 0] for k, v in _take(obs.cyl, slots).items()}  # (C, M)
        px, py = x - c["x"], y - c["y"]
        radial = np.sqrt(px * px + py * py) - c["r"]
        axial = np.abs(z - c["z"]) - c["h"]
        ro, ao = np.maximum(radial, 0.0), np.maximum(axial, 0.0)
        sd = np.sqrt(ro * ro + ao * ao) + np.minimum(np.maximum(radial, axial), 0.0)
        np.minimum(best, sd.min(axis=0), out=best)
    if obs.box["x"].shape[0]:
        bx = {k: v[:, 0] for k, v in _take(obs.box, slots).items()}  # (B, M)
        px, py = x - bx["x"], y - bx["y"]
        ex = np.abs(bx["cos"] * px + bx["sin"] * py) - bx["hx"]
        ey = np.abs(bx["cos"] * py - bx["sin"] * px) - bx["hy"]
        ez = np.abs(z - bx["z"]) - bx["hz"]
        xo, yo, zo = np.maximum(ex, 0.0), np.maximum(ey, 0.0), np.maximum(ez, 0.0)
        sd = np.sqrt(xo * xo + yo * yo + zo * zo) + np.minimum(np.maximum(np.maximum(ex, ey), ez), 0.0)
        np.minimum(best, sd.min(axis=0), out=best)
    return _signed_or_empty(obs, slots, best)


def _signed_or_empty(obs: PackedObstacles, slots: np.ndarray | None, best_m: np.ndarray) -> np.ndarray:
    """``best_m`` as float64, ``inf`` where the point's slot holds no obstacle."""
    count = obs.count if slots is None else obs.count[slots]
    return np.where(count > 0, best_m.astype(float), np.inf)


def sphere_collisions(
    obs: PackedObstacles, slots: np.ndarray | None, positions_m: np.ndarray, radius_m: float
) -> np.ndarray:
    """Whether a sphere of ``radius_m`` at each point ``(M, 3)`` touches an obstacle: bool ``(M,)``; floor excluded."""
    return clearance(obs, slots, positions_m) <= radius_m
