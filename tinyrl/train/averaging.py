"""The mean of a run's policy over its last stretch of training (``train.average_from``).

PPO at a constant learning rate keeps moving the policy to the end: one run's validation snapshots differ from one
to the next by several points on hard courses, and the best of them on a few hundred validation courses is partly
the luckiest. The mean of the snapshots' weights (the actor only, as it is exported) smooths that walk; on the
obstacle course it flies better than a typical snapshot of the same stretch (``docs/experiments.md``).

Each validation snapshot from ``average_from`` of the steps on is kept in ``RUN/average/step_N.npz`` as it is
taken, written before the checkpoint of the same step, so a resumed run never lacks one; the mean is taken once the
run's steps are done, into ``RUN/average/teacher.npz``, the teacher the run then ships.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tinyrl.common.policy import MlpPolicy, PolicyError
from tinyrl.tasks.config import ScenarioConfig
from tinyrl.train.run import AVERAGE_DIR

_SNAPSHOT_RE = re.compile(r"step_(\d+)\.npz$")


def average_from_steps(config: ScenarioConfig) -> int | None:
    """First env-step whose snapshot joins the mean, or None when the scenario ships its best snapshot instead."""
    t = config.train
    return None if t.average_from is None else math.ceil(t.average_from * t.steps)


def snapshot_path(run_dir: Path, steps: int) -> Path:
    """Where the snapshot taken at ``steps`` env-steps is kept."""
    return run_dir / AVERAGE_DIR / f"step_{steps:012d}.npz"


def keep_snapshot(run_dir: Path, steps: int, policy: MlpPolicy) -> None:
    """Write the snapshot at ``steps`` unless it is already kept (a resumed run re-flies to the same weights)."""
    path = snapshot_path(run_dir, steps)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        policy.save(path, {"steps": steps})


def kept_snapshots(run_dir: Path, from_steps: int) -> list[tuple[int, Path]]:
    """``(steps, path)`` of the kept snapshots at or after ``from_steps``, oldest first."""
    found = []
    for path in (run_dir / AVERAGE_DIR).glob("step_*.npz"):
        match = _SNAPSHOT_RE.search(path.name)
        if match and int(match.group(1)) >= from_steps:
            found.append((int(match.group(1)), path))
    return sorted(found)


def average_policies(policies: Sequence[MlpPolicy]) -> MlpPolicy:
    """The policy whose every weight and bias is the mean of ``policies``' (float64 sums, stored as float32).

    Raises:
        PolicyError: No policies, or policies of different shapes, activations or heads.
    """
    if not policies:
        raise PolicyError("no policies to average")
    first = policies[0]
    for other in policies[1:]:
        if (other.layer_sizes, other.activation, other.head) != (first.layer_sizes, first.activation, first.head):
            raise PolicyError(
                f"cannot average a {other.layer_sizes} {other.activation}/{other.head} policy with a "
                f"{first.layer_sizes} {first.activation}/{first.head} one"
            )

    def mean(arrays: Sequence[np.ndarray]) -> np.ndarray:
        return (np.sum(np.stack([a.astype(np.float64) for a in arrays]), axis=0) / len(arrays)).astype(np.float32)

    n = len(first.weights)
    weights = tuple(mean([p.weights[i] for p in policies]) for i in range(n))
    biases = tuple(mean([p.biases[i] for p in policies]) for i in range(n))
    return MlpPolicy(weights, biases, first.activation, first.head)
