"""The flight log ``tinyrl fly`` writes and ``tinyrl report --flight-log`` reads: one ``.npz`` per flight.

Arrays, one row per log sample (the drone's log period, 10 ms with ``tinyrl fly``):

* ``t_s`` ``(T,)``: the drone's clock (s since it booted);
* ``phase`` ``(T,)`` int8: :data:`PHASES` index (take-off, app flying the policy, landing);
* one float array per logged variable, named as the firmware names it (``stateEstimate.x``, ``range.front``, …),
  in the firmware's units (m, m/s, degrees, mm).

``meta`` (a JSON string) holds what the flight was: the URI, the scenario, the course flown (as course JSON) and its
index and seed, the drone-clock time the app was enabled at, the outcome, the time to goal and why the flight ended.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyrl.errors import ConfigError
from tinyrl.io import atomic_write_bytes

__all__ = ["PHASES", "FlightLog", "load_flight_log"]

#: What the drone was doing at a sample.
PHASES = ("takeoff", "app", "landing")
#: Position columns, world frame (m).
POSITION = ("stateEstimate.x", "stateEstimate.y", "stateEstimate.z")


@dataclass
class FlightLog:
    """One flight: samples ``(T,)`` per column and what the flight was (``meta``)."""

    t_s: list[float] = field(default_factory=list)
    phase: list[int] = field(default_factory=list)
    columns: dict[str, list[float]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def append(self, t_s: float, phase: str, values: dict[str, float]) -> None:
        """Add one sample; every sample must carry the same variables."""
        if not self.columns:
            self.columns = {name: [] for name in values}
        self.t_s.append(t_s)
        self.phase.append(PHASES.index(phase))
        for name, column in self.columns.items():
            column.append(values[name])

    def __len__(self) -> int:
        return len(self.t_s)

    def positions_m(self) -> np.ndarray:
        """Positions ``(T, 3)`` (m)."""
        return np.column_stack([np.asarray(self.columns[c], dtype=float) for c in POSITION])

    def save(self, path: str | Path) -> None:
        """Write it to ``path`` atomically (a ``.npz``)."""
        arrays: dict[str, Any] = {
            "t_s": np.asarray(self.t_s, dtype=float),
            "phase": np.asarray(self.phase, dtype=np.int8),
            "meta": np.asarray(json.dumps(self.meta)),
        }
        arrays.update({name: np.asarray(column, dtype=float) for name, column in self.columns.items()})
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        atomic_write_bytes(path, buffer.getvalue())


def load_flight_log(path: str | Path) -> FlightLog:
    """Read a flight log written by :meth:`FlightLog.save`.

    Raises:
        ConfigError: Not a flight log (a missing array, or rows that do not line up).
        OSError: Unreadable.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except ValueError as exc:
        raise ConfigError(f"{path}: not a flight log ({exc})") from None
    missing = [name for name in ("t_s", "phase", "meta", *POSITION) if name not in arrays]
    if missing:
        raise ConfigError(f"{path}: not a flight log (no {', '.join(missing)})")
    n = len(arrays["t_s"])
    columns = {k: v for k, v in arrays.items() if k not in ("t_s", "phase", "meta")}
    if any(len(v) != n for v in (arrays["phase"], *columns.values())):
        raise ConfigError(f"{path}: not a flight log (columns of different lengths)")
    return FlightLog(
        t_s=arrays["t_s"].tolist(),
        phase=arrays["phase"].astype(int).tolist(),
        columns={k: v.tolist() for k, v in columns.items()},
        meta=json.loads(str(arrays["meta"])),
    )
