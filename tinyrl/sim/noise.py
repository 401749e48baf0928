"""Where sensor and positioning noise comes from.

Sensors ask a :class:`Noise` for samples of the drones they sample now (``rows``). :class:`PerDroneNoise` gives
each drone its own generator, so a drone's noise never depends on which batch it flies in or which other drones
sample at the same step: slot ``k`` of a batch replays a single drone exactly. A bare ``np.random.Generator``
passed to a sensor is shared by all its drones (:class:`SharedNoise`): one vectorized draw per request, fine
for a fixed batch whose draws may depend on the batch.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np


class Noise(Protocol):
    """Samples for drones ``rows``; the sensors only ever ask through these two methods."""

    def normal(self, rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """Standard normal samples ``(len(rows), *shape)`` for drones ``rows``."""
        ...

    def uniform(self, rows: np.ndarray) -> np.ndarray:
        """Uniform ``[0, 1)`` samples ``(len(rows),)`` for drones ``rows``."""
        ...


class PerDroneNoise:
    """One generator per drone, and a per-drone noise scale (domain randomization of sensor noise).

    Normals are served from per-drone tapes: when drone ``i``'s tape runs short, ``rngs[i]`` fills it with
    ``tape_size`` standard normals in one call, and requests read consecutive values from it, every row at once.
    A drone's noise therefore depends only on its own generator and its own sequence of requests, never on the
    batch. ``rngs`` is shared with the owner, which may replace ``rngs[i]`` (reseeding); the first request after
    that discards drone ``i``'s tape, so its noise restarts from the new generator.

    Args:
        rngs: One generator per drone (the list is read, not copied).
        tape_size: Normals drawn per refill; a request for more than this many per drone is drawn straight from
            the generators.
    """

    def __init__(self, rngs: list[np.random.Generator], tape_size: int = 512) -> None:
        self.rngs = rngs
        #: Per-drone factor on every normal, ``(N,)``; 1 is the sensors' configured noise.
        self.scale = np.ones(len(rngs))
        self.tape_size = tape_size
        self._tape = np.empty((len(rngs), tape_size))
        self._cursor = np.full(len(rngs), tape_size, dtype=np.intp)  # every tape empty
        self._owners: list[np.random.Generator | None] = [None] * len(rngs)

    def normal(self, rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """Standard normals times each drone's scale, ``(len(rows), *shape)``; ``rows`` are distinct drones."""
        rows = np.asarray(rows, dtype=np.intp).reshape(-1)
        if not len(rows):
            return np.zeros((0, *shape))
        self._follow_reseeds()
        k = math.prod(shape)
        if k > self.tape_size:  # larger than a tape: straight from each generator, emptying its tape
            self._cursor[rows] = self.tape_size
            draws = np.stack([self.rngs[i].standard_normal(k) for i in rows])
        else:
            if len(rows) > 1 and np.any(np.diff(rows) <= 0) and len(np.unique(rows)) < len(rows):
                raise ValueError("PerDroneNoise.normal: rows must be distinct drones")
            cursor = self._cursor[rows]
            short = cursor > self.tape_size - k
            if short.any():
                for i in rows[short]:
                    self._tape[i] = self.rngs[i].standard_normal(self.tape_size)
                cursor[short] = 0
            draws = self._tape[rows[:, None], cursor[:, None] + np.arange(k)]
            self._cursor[rows] = cursor + k
        return draws.reshape((len(rows), *shape)) * self.scale[rows].reshape((-1,) + (1,) * len(shape))

    def uniform(self, rows: np.ndarray) -> np.ndarray:
        """Uniform ``[0, 1)`` per drone, ``(len(rows),)`` (drawn directly: only resets ask for these)."""
        self._follow_reseeds()
        return np.array([self.rngs[i].random() for i in rows], dtype=float)

    def _follow_reseeds(self) -> None:
        # List equality compares by identity first: a C-speed scan when nothing was reseeded.
        if self._owners == self.rngs:
            return
        for i, rng in enumerate(self.rngs):
            if self._owners[i] is not rng:
                self._owners[i] = rng
                self._cursor[i] = self.tape_size


class SharedNoise:
    """All drones draw from one generator, in row order (the draws depend on the batch)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def normal(self, rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """See :meth:`Noise.normal`."""
        return self.rng.standard_normal((len(rows), *shape))

    def uniform(self, rows: np.ndarray) -> np.ndarray:
        """See :meth:`Noise.uniform`."""
        return self.rng.random(len(rows))


def as_noise(source: Noise | np.random.Generator) -> Noise:
    """A :class:`Noise` from a generator (shared by all drones) or a noise source as is."""
    return SharedNoise(source) if isinstance(source, np.random.Generator) else source
