"""Policies as plain data: what ``tinyrl eval`` runs, whatever trained them.

A :class:`Policy` maps a batch of observations ``(B, obs_dim)`` float32 to actions — ``(B, 4)`` in [-1, 1]
or ``(B,)`` discrete indices. The teacher trained by SB3 is stored as ``teacher.npz`` (weights only, no
pickle) and run in NumPy as an :class:`MlpPolicy`; :func:`tinyrl.compress.artefacts.load_policy` loads any
artefact (teacher, float student, int8 student).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from tinyrl.errors import TinyRLError
from tinyrl.io import atomic_write_bytes

#: The teacher's file in a run folder, its ``best/`` folder and a policy folder.
TEACHER_FILE = "teacher.npz"

Head = Literal["clip", "tanh", "argmax"]
Activation = Literal["relu", "tanh"]


class PolicyError(TinyRLError, ValueError):
    """A policy artefact is missing, malformed or of an unknown kind."""


class Policy(Protocol):
    """Deterministic policy over a batch of observations."""

    @property
    def obs_dim(self) -> int:
        """Observation width."""
        ...

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions for observations ``(B, obs_dim)``: ``(B, 4)`` continuous or ``(B,)`` int indices."""
        ...


_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
}
_HEADS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "clip": lambda y: np.clip(y, -1.0, 1.0),
    "tanh": np.tanh,
    "argmax": lambda y: np.argmax(y, axis=1),
}


@dataclass(frozen=True)
class MlpPolicy:
    """A float MLP: hidden layers with ``activation``, a linear output layer, then ``head``.

    Attributes:
        weights: Per layer ``(out, in)`` float32 matrices.
        biases: Per layer ``(out,)`` float32 vectors.
        activation: Hidden activation.
        head: ``clip`` (PPO mean, clipped to [-1, 1]), ``tanh`` (SAC/TD3) or ``argmax`` (DQN Q-values).
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    activation: Activation = "relu"
    head: Head = "clip"

    def __post_init__(self) -> None:
        if not self.weights or len(self.weights) != len(self.biases):
            raise PolicyError("an MLP needs one bias per weight matrix and at least one layer")
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            if w.ndim != 2 or b.shape != (w.shape[0],):
                raise PolicyError(f"layer {i}: weight {w.shape} and bias {b.shape} do not fit")
            if i and w.shape[1] != self.weights[i - 1].shape[0]:
                raise PolicyError(
                    f"layer {i} takes {w.shape[1]} inputs but layer {i - 1} gives {self.weights[i - 1].shape[0]}"
                )
        if self.activation not in _ACTIVATIONS or self.head not in _HEADS:
            raise PolicyError(f"unknown activation {self.activation!r} or head {self.head!r}")

    @property
    def obs_dim(self) -> int:
        """Observation width."""
        return int(self.weights[0].shape[1])

    @property
    def out_dim(self) -> int:
        """Output width (action size, or number of discrete actions)."""
        return int(self.weights[-1].shape[0])

    @property
    def layer_sizes(self) -> list[int]:
        """``[obs_dim, hidden..., out_dim]``."""
        return [self.obs_dim, *(int(w.shape[0]) for w in self.weights)]

    @property
    def n_parameters(self) -> int:
        """Number of weights and biases."""
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases, strict=True))

    def forward(self, obs: np.ndarray) -> np.ndarray:
        """Raw outputs ``(B, out_dim)`` before the head."""
        x = np.asarray(obs, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.obs_dim:
            raise PolicyError(f"expected observations (B, {self.obs_dim}), got {x.shape}")
        act = _ACTIVATIONS[self.activation]
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            # einsum, not BLAS: BLAS sums in an order that depends on the batch size, and a row's action must
            # not depend on which other drones share its batch (evaluation is batch-size independent).
            x = np.einsum("bi,oi->bo", x, w) + b
            if i < len(self.weights) - 1:
                x = act(x)
        return x

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions (see :class:`Policy`)."""
        return _HEADS[self.head](self.forward(obs))

    def save(self, path: str | Path, metadata: dict[str, Any] | None = None) -> None:
        """Write ``.npz`` (no pickle) atomically; ``metadata`` is stored as JSON inside."""
        arrays: dict[str, Any] = {f"w{i}": w for i, w in enumerate(self.weights)}
        arrays |= {f"b{i}": b for i, b in enumerate(self.biases)}
        meta = {"kind": "mlp", "activation": self.activation, "head": self.head, **(metadata or {})}
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> MlpPolicy:
        """Read a policy written by :meth:`save` (``allow_pickle=False``)."""
        path = Path(path)
        try:
            with path.open("rb") as f:
                if f.read(4) != b"PK\x03\x04":  # every .npz is a zip archive
                    raise PolicyError(f"{path}: not a TinyRL policy .npz (not a zip archive)")
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode())
                n = sum(1 for k in data.files if k.startswith("w"))
                weights = tuple(data[f"w{i}"].astype(np.float32) for i in range(n))
                biases = tuple(data[f"b{i}"].astype(np.float32) for i in range(n))
        except FileNotFoundError:
            raise PolicyError(f"{path}: file not found") from None
        except PolicyError:
            raise
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise PolicyError(f"{path}: not a TinyRL policy .npz ({exc})") from None
        for name, array in (
            *((f"w{i}", w) for i, w in enumerate(weights)),
            *((f"b{i}", b) for i, b in enumerate(biases)),
        ):
            if not np.isfinite(array).all():  # NaN actions would fly nowhere, and NaN comparisons count as success
                raise PolicyError(f"{path}: {name} holds non-finite values (NaN or inf); refusing a broken policy")
        return cls(weights, biases, meta.get("activation", "relu"), meta.get("head", "clip"))
