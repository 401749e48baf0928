"""The world the drones fly in: one course per drone slot, queried for range rays and collisions.

``World(n_slots)`` serves the batched environment: every slot holds its own course, slots are re-coursed
independently on reset, and each query answers for all drones at once. Two interchangeable backends:

- ``"analytic"`` (default, fast): vectorized NumPy geometry, :mod:`tinyrl.sim.geometry`.
- ``"pybullet"`` (reference, and the GUI): primitive collision shapes in PyBullet, queried with
  ``rayTestBatch`` and ``getClosestPoints``. All slots share one physics client, laid out on a grid
  ``slot_spacing_m`` apart. Measured with 10 obstacles per slot: a client per slot is only 5-15 % faster per
  ray (2.35 vs 2.46 µs at 16 slots, 3.4 vs 4.0 µs at 256; the broadphase keeps far slots cheap) but costs a
  connection and a floor per slot, so one shared client it is. ``numThreads`` barely helps on 2 cores.
  PyBullet's ~1 mm collision margin makes its shapes read up to a few mm short on oblique rays.

The floor (z = 0) blocks rays but is not a collision (touching down is the task's business); the arena is
not geometry (see :mod:`tinyrl.sim.course`). Ray directions need not be unit length.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, Protocol

import numpy as np

from tinyrl.sim import geometry
from tinyrl.sim.course import Box, Course, Cylinder, course_bounds

Backend = Literal["analytic", "pybullet"]

# pybullet rejects rayTestBatch calls of MAX_RAY_INTERSECTION_BATCH_SIZE rays or more (measured: 16383 is the most).
_MAX_RAYS_PER_CALL = 16383
# Where an unused collision probe waits: below the floor, so no ray from above reaches it.
_PARK_Z_M = -1000.0


class _WorldBackend(Protocol):
    def set_course(self, slot: int, course: Course | None) -> None: ...

    def ray_distances(
        self, slots: np.ndarray | None, o: np.ndarray, d: np.ndarray, max_range_m: float
    ) -> np.ndarray: ...

    def collisions(self, slots: np.ndarray | None, positions_m: np.ndarray, radius_m: float) -> np.ndarray: ...

    def close(self) -> None: ...


class _AnalyticBackend:
    """Padded NumPy arrays of every slot's obstacles."""

    def __init__(self, n_slots: int, **_: object) -> None:  # gui etc. belong to the PyBullet backend
        self.obs = geometry.PackedObstacles(n_slots)

    def set_course(self, slot: int, course: Course | None) -> None:
        self.obs.set_course(slot, course)

    def ray_distances(self, slots: np.ndarray | None, o: np.ndarray, d: np.ndarray, max_range_m: float) -> np.ndarray:
        return geometry.ray_distances(self.obs, slots, o, d, max_range_m)

    def collisions(self, slots: np.ndarray | None, positions_m: np.ndarray, radius_m: float) -> np.ndarray:
        return geometry.sphere_collisions(self.obs, slots, positions_m, radius_m)

    def close(self) -> None:
        pass


class _PyBulletBackend:
    """One PyBullet client; slot ``i`` sits at ``offsets_m[i]`` on a square grid."""

    def __init__(self, n_slots: int, gui: bool = False, slot_spacing_m: float = 100.0, num_threads: int = 1) -> None:
        # Imported here: the analytic path never needs PyBullet (nor its import-time banner).
        import pybullet

        self.p = pybullet
        self.client = self.p.connect(self.p.GUI if gui else self.p.DIRECT)
        if self.client < 0:
            raise RuntimeError("could not connect to PyBullet (is another GUI already open?)")
        self.gui = gui
        self.num_threads = num_threads
        self.spacing_m = float(slot_spacing_m)
        cols = int(np.ceil(np.sqrt(n_slots)))
        idx = np.arange(n_slots)
        self.offsets_m = np.stack((idx % cols, idx // cols, np.zeros(n_slots)), axis=1) * self.spacing_m
        cid = self.client
        plane = self.p.createCollisionShape(self.p.GEOM_PLANE, physicsClientId=cid)
        self.floor = self.p.createMultiBody(0, plane, physicsClientId=cid)
        self.bodies: list[list[tuple[int, int]]] = [[] for _ in range(n_slots)]  # (body, shape) per slot
        self.body_slot: dict[int, int] = {}
        self.probe = -1
        self.probe_radius_m = -1.0

    def _pose(self, slot: int, xyz: tuple[float, float, float], yaw_rad: float) -> tuple[list[float], tuple]:
        pos = (np.asarray(xyz) + self.offsets_m[slot]).tolist()
        return pos, self.p.getQuaternionFromEuler((0.0, 0.0, yaw_rad))

    def set_course(self, slot: int, course: Course | None) -> None:
        cid = self.client
        for body, shape in self.bodies[slot]:
            self.p.removeBody(body, physicsClientId=cid)
            self.p.removeCollisionShape(shape, physicsClientId=cid)
            del self.body_slot[body]
        self.bodies[slot] = []
        if course is None:
            return
        lo, hi = course_bounds(course)
        if max(np.abs(lo[:2]).max(), np.abs(hi[:2]).max()) > self.spacing_m / 4:
            raise ValueError(f"course too large for slot_spacing_m={self.spacing_m}: bounds {lo}..{hi}")
        for ob in course.obstacles:
            if isinstance(ob, Cylinder):
                kind = {"shapeType": self.p.GEOM_CYLINDER, "radius": ob.radius_m, "height": ob.height_m}
                yaw = 0.0
            elif isinstance(ob, Box):
                kind = {"shapeType": self.p.GEOM_BOX, "halfExtents": list(ob.half_extents_m)}
                yaw = ob.yaw_rad
            else:  # pragma: no cover - the schema admits no other type
                raise TypeError(type(ob))
            shape = self.p.createCollisionShape(**kind, physicsClientId=cid)
            visual = -1
            if self.gui:
                # Visual shapes spell the cylinder's height "length".
                vkind = {("length" if k == "height" else k): v for k, v in kind.items()}
                visual = self.p.createVisualShape(**vkind, rgbaColor=(0.6, 0.6, 0.7, 1), physicsClientId=cid)
            pos, orn = self._pose(slot, ob.xyz, yaw)
            body = self.p.createMultiBody(0, shape, visual, pos, orn, physicsClientId=cid)
            self.bodies[slot].append((body, shape))
            self.body_slot[body] = slot

    def ray_distances(self, slots: np.ndarray | None, o: np.ndarray, d: np.ndarray, max_range_m: float) -> np.ndarray:
        if max_range_m > self.spacing_m / 4:
            raise ValueError(f"max_range_m={max_range_m} could reach a neighbouring slot; raise slot_spacing_m")
        slots = np.arange(len(d)) if slots is None else slots
        d = d / np.linalg.norm(d, axis=-1, keepdims=True)
        start = np.broadcast_to(o + self.offsets_m[slots][:, None, :], d.shape)
        end = start + d * max_range_m
        start, end = start.reshape(-1, 3), end.reshape(-1, 3)
        fractions = np.empty(len(start))
        for lo in range(0, len(start), _MAX_RAYS_PER_CALL):
            hi = lo + _MAX_RAYS_PER_CALL
            hits = self.p.rayTestBatch(
                start[lo:hi].tolist(), end[lo:hi].tolist(), numThreads=self.num_threads, physicsClientId=self.client
            )
            fractions[lo:hi] = [h[2] for h in hits]  # 1.0 when nothing is hit
        return (fractions * max_range_m).reshape(d.shape[:2])

    def collisions(self, slots: np.ndarray | None, positions_m: np.ndarray, radius_m: float) -> np.ndarray:
        cid = self.client
        slots = np.arange(len(positions_m)) if slots is None else slots
        if radius_m != self.probe_radius_m:
            if self.probe >= 0:
                self.p.removeBody(self.probe, physicsClientId=cid)
            sphere = self.p.createCollisionShape(self.p.GEOM_SPHERE, radius=radius_m, physicsClientId=cid)
            self.probe = self.p.createMultiBody(0, sphere, basePosition=(0, 0, _PARK_Z_M), physicsClientId=cid)
            self.probe_radius_m = radius_m
        out = np.zeros(len(slots), dtype=bool)
        pad = radius_m + 1e-3
        for i, (slot, pos) in enumerate(zip(slots, positions_m + self.offsets_m[slots], strict=True)):
            near = self.p.getOverlappingObjects((pos - pad).tolist(), (pos + pad).tolist(), physicsClientId=cid)
            candidates = {b for b, _ in near or () if self.body_slot.get(b) == slot}
            if not candidates:
                continue
            self.p.resetBasePositionAndOrientation(self.probe, pos.tolist(), (0, 0, 0, 1), physicsClientId=cid)
            out[i] = any(
                self.p.getClosestPoints(self.probe, body, 0.0, physicsClientId=cid) for body in sorted(candidates)
            )
        self.p.resetBasePositionAndOrientation(self.probe, (0, 0, _PARK_Z_M), (0, 0, 0, 1), physicsClientId=cid)
        return out

    def close(self) -> None:
        if self.client >= 0:
            self.p.disconnect(physicsClientId=self.client)
            self.client = -1


_BACKENDS: dict[str, Callable[..., _WorldBackend]] = {"analytic": _AnalyticBackend, "pybullet": _PyBulletBackend}


class World:
    """Courses for ``n_slots`` drones, with batched range and collision queries.

    Every query takes per-drone arrays whose first axis ``M`` runs over ``slots`` (default: all slots in
    order, so ``M == n_slots``); pass ``slots`` to query only some drones, e.g. those whose sensor is due.

    Args:
        n_slots: Number of drone slots.
        backend: ``"analytic"`` (fast NumPy) or ``"pybullet"`` (reference).
        gui: Open PyBullet's GUI to watch the courses (with the analytic backend a PyBullet copy is kept
            for display only; queries stay analytic).
        slot_spacing_m: Grid spacing of slots in the shared PyBullet client; courses must fit in a quarter of it.
        num_threads: ``numThreads`` for PyBullet's ``rayTestBatch`` (0 lets Bullet decide).
    """

    def __init__(
        self,
        n_slots: int,
        backend: Backend = "analytic",
        gui: bool = False,
        slot_spacing_m: float = 100.0,
        num_threads: int = 1,
    ) -> None:
        if n_slots < 1:
            raise ValueError(f"n_slots must be at least 1, got {n_slots}")
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {sorted(_BACKENDS)}, got {backend!r}")
        self.n_slots = n_slots
        self.backend_name = backend
        self._backend = _BACKENDS[backend](n_slots, gui=gui, slot_spacing_m=slot_spacing_m, num_threads=num_threads)
        self._viewer = (
            _PyBulletBackend(n_slots, gui=True, slot_spacing_m=slot_spacing_m)
            if gui and backend == "analytic"
            else None
        )
        self._courses: list[Course | None] = [None] * n_slots
        # Empty slots have an unbounded arena and no light.
        self.arena_lo_m = np.full((n_slots, 3), -np.inf)
        self.arena_hi_m = np.full((n_slots, 3), np.inf)
        self.light_xyz_m = np.zeros((n_slots, 3))
        self.light_intensity = np.zeros(n_slots)

    def set_course(self, slot: int, course: Course | None) -> None:
        """Put ``course`` into ``slot`` (``None`` empties it); the previous course's bodies are removed."""
        self._backend.set_course(slot, course)
        if self._viewer is not None:
            self._viewer.set_course(slot, course)
        self._courses[slot] = course
        if course is None:
            self.arena_lo_m[slot], self.arena_hi_m[slot] = -np.inf, np.inf
            self.light_xyz_m[slot], self.light_intensity[slot] = 0.0, 0.0
            return
        a = course.arena
        self.arena_lo_m[slot] = (a.x[0], a.y[0], a.z[0])
        self.arena_hi_m[slot] = (a.x[1], a.y[1], a.z[1])
        light = course.light
        self.light_xyz_m[slot] = light.xyz if light else 0.0
        self.light_intensity[slot] = light.intensity if light else 0.0

    def course(self, slot: int) -> Course | None:
        """The course in ``slot``, or ``None``."""
        return self._courses[slot]

    def _slots(self, slots: np.ndarray | None, m: int) -> np.ndarray | None:
        """Validated slot indices; ``None`` stands for all slots in order (saves a gather in the analytic backend)."""
        if slots is None:
            if m != self.n_slots:
                raise ValueError(f"got {m} drones for {self.n_slots} slots; pass slots=")
            return None
        slots = np.asarray(slots, dtype=np.intp)
        if slots.shape != (m,):
            raise ValueError(f"slots must have shape ({m},), got {slots.shape}")
        return slots

    def ray_distances(
        self,
        origins_m: np.ndarray,
        directions: np.ndarray,
        max_range_m: float,
        slots: np.ndarray | None = None,
    ) -> np.ndarray:
        """Distance (m) along each ray to the first obstacle or the floor; ``max_range_m`` when none is closer.

        Args:
            origins_m: ``(M, R, 3)`` ray origins, world frame, or ``(M, 1, 3)`` when each drone's rays share
                one origin (the analytic backend then does the per-origin work once).
            directions: ``(M, R, 3)`` ray directions, world frame (any non-zero length).
            max_range_m: Range limit.
            slots: ``(M,)`` slot of each drone; default all slots.

        Returns:
            ``(M, R)`` distances in ``[0, max_range_m]``.
        """
        o = np.asarray(origins_m, dtype=float)
        d = np.asarray(directions, dtype=float)
        if d.ndim != 3 or d.shape[-1] != 3 or o.shape not in (d.shape, (d.shape[0], 1, 3)):
            raise ValueError(f"need directions (M, R, 3) and origins (M, R, 3) or (M, 1, 3), got {d.shape}, {o.shape}")
        return self._backend.ray_distances(self._slots(slots, d.shape[0]), o, d, float(max_range_m))

    def collisions(self, positions_m: np.ndarray, radius_m: float, slots: np.ndarray | None = None) -> np.ndarray:
        """Whether a sphere of ``radius_m`` around each drone touches an obstacle (not the floor): bool ``(M,)``."""
        pos = np.asarray(positions_m, dtype=float).reshape(-1, 3)
        return self._backend.collisions(self._slots(slots, pos.shape[0]), pos, float(radius_m))

    def outside_arena(self, positions_m: np.ndarray, slots: np.ndarray | None = None) -> np.ndarray:
        """Whether each drone ``(M, 3)`` is outside its slot's arena (borders count as inside): bool ``(M,)``."""
        pos = np.asarray(positions_m, dtype=float).reshape(-1, 3)
        s = self._slots(slots, pos.shape[0])
        lo, hi = (self.arena_lo_m, self.arena_hi_m) if s is None else (self.arena_lo_m[s], self.arena_hi_m[s])
        return np.asarray(((pos < lo) | (pos > hi)).any(axis=1))

    def clearance(self, positions_m: np.ndarray, slots: np.ndarray | None = None) -> np.ndarray:
        """Signed distance (m) from each drone ``(M, 3)`` to the nearest obstacle (negative inside); analytic always."""
        pos = np.asarray(positions_m, dtype=float).reshape(-1, 3)
        backend = self._backend if isinstance(self._backend, _AnalyticBackend) else None
        if backend is None:
            # The PyBullet backend has no cheap signed distance; keep an analytic mirror on demand.
            if not hasattr(self, "_mirror"):
                self._mirror = _AnalyticBackend(self.n_slots)
                for i, c in enumerate(self._courses):
                    self._mirror.set_course(i, c)
            backend = self._mirror
        return geometry.clearance(backend.obs, self._slots(slots, pos.shape[0]), pos)

    def close(self) -> None:
        """Release PyBullet clients (safe to call twice)."""
        self._backend.close()
        if self._viewer is not None:
            self._viewer.close()

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def random_course(rng: np.random.Generator, n_obstacles: int = 10, size_m: float = 4.0) -> Course:
    """A random course for tests and benchmarks (not a training distribution: see ``tinyrl.tasks``).

    Args:
        rng: Random generator.
        n_obstacles: Number of obstacles (cylinders and boxes, about half each).
        size_m: Arena side (m); the arena is ``[-size/2, size/2]^2 x [0, 3]``.
    """
    h = size_m / 2
    obstacles: list[Cylinder | Box] = []
    for _ in range(n_obstacles):
        x, y = rng.uniform(-h, h, size=2)
        height = float(rng.uniform(0.5, 3.0))
        z = float(rng.uniform(0.0, 1.0)) + height / 2  # some float above the floor, to test the caps
        if rng.random() < 0.5:
            obstacles.append(Cylinder(xyz=(x, y, z), radius_m=float(rng.uniform(0.05, 0.5)), height_m=height))
        else:
            half = rng.uniform(0.05, 0.6, size=3)
            half[2] = height / 2
            obstacles.append(Box(xyz=(x, y, z), half_extents_m=tuple(half), yaw_rad=float(rng.uniform(-np.pi, np.pi))))
    return Course.model_validate(
        {
            "arena": {"x": [-h, h], "y": [-h, h], "z": [0.0, 3.0]},
            "start": {"xyz": [-h, 0.0, 1.0]},
            "goal": {"xyz": [h, 0.0, 1.0], "radius_m": 0.3},
            "obstacles": [o.model_dump() for o in obstacles],
            "light": {"xyz": [h, 0.0, 1.0], "intensity": 1.0},
        }
    )


def benchmark_rays(
    n_drones: int = 64,
    n_rays: int = 5,
    n_obstacles: int = 10,
    backend: Backend = "analytic",
    repeats: int = 20,
    seed: int = 0,
) -> dict[str, float]:
    """Time ray and collision queries for ``n_drones`` drones, each in its own random course.

    Returns:
        ``{"us_per_ray": ..., "us_per_collision": ..., "ms_per_set_course": ...}`` (wall-clock means).
    """
    rng = np.random.default_rng(seed)
    with World(n_drones, backend=backend) as world:
        courses = [random_course(rng, n_obstacles) for _ in range(n_drones)]
        t0 = time.perf_counter()
        for i, course in enumerate(courses):
            world.set_course(i, course)
        set_ms = (time.perf_counter() - t0) * 1e3 / n_drones
        origins = rng.uniform(-2, 2, (n_drones, 1, 3))
        origins[..., 2] = 1.0
        directions = rng.normal(size=(n_drones, n_rays, 3))
        positions = origins[:, 0]
        world.ray_distances(origins, directions, 4.0)  # warm-up
        t0 = time.perf_counter()
        for _ in range(repeats):
            world.ray_distances(origins, directions, 4.0)
        ray_us = (time.perf_counter() - t0) * 1e6 / (repeats * n_drones * n_rays)
        t0 = time.perf_counter()
        for _ in range(repeats):
            world.collisions(positions, 0.05)
        col_us = (time.perf_counter() - t0) * 1e6 / (repeats * n_drones)
    return {"us_per_ray": ray_us, "us_per_collision": col_us, "ms_per_set_course": set_ms}
