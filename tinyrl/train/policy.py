"""Policies as plain data: what ``tinyrl eval`` runs, whatever trained them.

A :class:`Policy` maps a batch of observations ``(B, obs_dim)`` float32 to actions — ``(B, 4)`` in [-1, 1]
or ``(B,)`` discrete indices. The teacher trained by SB3 is stored as ``teacher.npz`` (weights only, no
pickle) and run in NumPy; the distilled float student (``.keras``) and its int8 ``.tflite`` plug in as further
loaders in :data:`LOADERS` (see :mod:`tinyrl.compress.student`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from tinyrl.errors import TinyRLError
from tinyrl.io import atomic_write_bytes

Head = Literal["clip", "tanh", "argmax"]
Activation = Literal["relu", "tanh"]


class PolicyError(TinyRLError, ValueError):
    """A policy artefact is missing, malformed or of an unknown kind."""


class Policy(Protocol):
    """Deterministic policy over a batch of observations."""

    obs_dim: int

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
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode())
                n = sum(1 for k in data.files if k.startswith("w"))
                weights = tuple(data[f"w{i}"].astype(np.float32) for i in range(n))
                biases = tuple(data[f"b{i}"].astype(np.float32) for i in range(n))
        except FileNotFoundError:
            raise PolicyError(f"{path}: file not found") from None
        except (OSError, ValueError, KeyError) as exc:
            raise PolicyError(f"{path}: not a TinyRL policy .npz ({exc})") from None
        for name, array in (
            *((f"w{i}", w) for i, w in enumerate(weights)),
            *((f"b{i}", b) for i, b in enumerate(biases)),
        ):
            if not np.isfinite(array).all():  # NaN actions would fly nowhere, and NaN comparisons count as success
                raise PolicyError(f"{path}: {name} holds non-finite values (NaN or inf); refusing a broken policy")
        return cls(weights, biases, meta.get("activation", "relu"), meta.get("head", "clip"))


def mlp_from_sb3(model: Any) -> MlpPolicy:
    """The deterministic path of an SB3 PPO/A2C, SAC, TD3 or DQN MLP policy as an :class:`MlpPolicy`."""
    import torch

    policy = model.policy
    name = type(model).__name__.lower()
    if name == "dqn":
        modules, head = [policy.q_net.q_net], "argmax"
    elif name == "sac":
        modules, head = [policy.actor.latent_pi, policy.actor.mu], "tanh"
    elif name == "td3":
        modules, head = [policy.actor.mu], "tanh"
    else:
        # PPO/A2C: the action net gives the Gaussian mean (continuous) or the logits (discrete).
        discrete = hasattr(model.action_space, "n")
        modules, head = [policy.mlp_extractor.policy_net, policy.action_net], "argmax" if discrete else "clip"
    linears = [layer for module in modules for layer in module.modules() if isinstance(layer, torch.nn.Linear)]
    activations: dict[type, Activation] = {torch.nn.ReLU: "relu", torch.nn.Tanh: "tanh"}
    activation_fn = getattr(policy, "activation_fn", torch.nn.ReLU)
    if activation_fn not in activations:
        raise PolicyError(f"hidden activation {activation_fn.__name__} is not supported; use ReLU or Tanh")
    activation = activations[activation_fn]
    with torch.no_grad():
        weights = tuple(lin.weight.detach().cpu().numpy().astype(np.float32) for lin in linears)
        biases = tuple(lin.bias.detach().cpu().numpy().astype(np.float32) for lin in linears)
    return MlpPolicy(weights, biases, activation, head)  # type: ignore[arg-type]


def _load_npz(path: Path) -> Policy:
    return MlpPolicy.load(path)


def _load_keras(path: Path) -> Policy:
    # The float student, run as a NumPy MlpPolicy (fast, batch-size independent); TensorFlow loads only here.
    from tinyrl.compress.student import load_student, student_to_mlp

    return student_to_mlp(load_student(path))


def _load_tflite(path: Path) -> Policy:
    # The int8 student, run bit-exact with TFLite Micro; its head comes from the sidecar JSON.
    from tinyrl.compress.student import load_int8_policy

    return load_int8_policy(path)


#: Artefact suffix → loader: the teacher (``.npz``), the float student (``.keras``), the int8 student (``.tflite``).
LOADERS: dict[str, Callable[[Path], Policy]] = {".npz": _load_npz, ".keras": _load_keras, ".tflite": _load_tflite}
#: In a policy folder, the artefact ``tinyrl eval`` picks when none is named, in order of preference.
FOLDER_ARTEFACTS = ("teacher.npz", "student.keras", "policy_int8.tflite")


def load_policy(path: str | Path) -> Policy:
    """Load a policy folder (``policies/NAME``: its teacher) or a single artefact (by suffix).

    Raises:
        PolicyError: Missing path, unknown suffix, or a malformed file.
    """
    path = Path(path)
    if path.is_dir():
        for name in FOLDER_ARTEFACTS:
            if (path / name).is_file():
                return load_policy(path / name)
        raise PolicyError(f"{path}: no policy artefact found (looked for {', '.join(FOLDER_ARTEFACTS)})")
    if not path.exists():
        raise PolicyError(f"{path}: file not found")
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise PolicyError(f"{path}: unknown policy file type {path.suffix!r}; known: {', '.join(sorted(LOADERS))}")
    return loader(path)
