"""Critic inputs: simulator knowledge that only the value function of an actor-critic sees, in training.

The critic is thrown away after training, so it may know what no sensor on the drone tells: which way the shortest
obstacle-free path to the goal leads, and how long it is. A critic that knows where a wall's gap is judges a
sideways sweep along the wall by where it is heading, not by the flight's average, so the actor (which sees only
the scenario's observation, is exported and flies) learns from sharper advantages. A scenario lists these in
``train.critic_features``; the training vector env appends them, in that order, after the observation
(:class:`~tinyrl.tasks.vec_env.TinyRLVecEnv`, ``critic_inputs=True``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tinyrl.sim.rotation import world_to_heading_xy

if TYPE_CHECKING:  # for annotations only: the config module imports this one to check feature names
    from tinyrl.tasks.config import ScenarioConfig
    from tinyrl.tasks.progress import GoalDistance

#: Step (m) of the central difference that gives the distance field's slope: one cell of the default field.
SLOPE_STEP_M = 0.1
#: Distances are divided by ``observation.max_goal_distance_m`` and clipped to this.
DISTANCE_LIMIT = 2.0


@dataclass
class CriticFrame:
    """What the critic inputs are computed from, for M drones.

    Attributes:
        field: Geodesic distance to each slot's goal (:class:`~tinyrl.tasks.progress.GeodesicDistance`).
        rows: ``(M,)`` slots of the drones.
        pos_m: ``(M, 3)`` true positions (m).
        goal_m: ``(M, 3)`` goals (m).
        yaw_rad: ``(M,)`` true yaw (rad).
    """

    field: GoalDistance
    rows: np.ndarray
    pos_m: np.ndarray
    goal_m: np.ndarray
    yaw_rad: np.ndarray


@dataclass(frozen=True)
class CriticFeature:
    """A block of the critic's extra inputs."""

    width: int
    compute: Callable[[CriticFrame, ScenarioConfig], np.ndarray]
    doc: str


def _distance(f: CriticFrame, c: ScenarioConfig) -> np.ndarray:
    d = f.field.distance_m(f.rows, f.pos_m, f.goal_m)
    return np.minimum(d / c.observation.max_goal_distance_m, DISTANCE_LIMIT)[:, None]


def _direction(f: CriticFrame, c: ScenarioConfig) -> np.ndarray:
    def slope(axis: int) -> np.ndarray:
        step = np.zeros(3)
        step[axis] = SLOPE_STEP_M
        ahead = f.field.distance_m(f.rows, f.pos_m + step, f.goal_m)
        behind = f.field.distance_m(f.rows, f.pos_m - step, f.goal_m)
        return (ahead - behind) / (2 * SLOPE_STEP_M)

    gx, gy = slope(0), slope(1)
    norm = np.maximum(np.hypot(gx, gy), 1e-6)  # flat (at the goal, deep inside an obstacle): no direction
    dx, dy = -gx / norm, -gy / norm
    cos, sin = np.cos(f.yaw_rad), np.sin(f.yaw_rad)
    return world_to_heading_xy(dx, dy, cos, sin)


CRITIC_FEATURES: dict[str, CriticFeature] = {
    "geodesic_distance": CriticFeature(
        1,
        _distance,
        "length of the shortest obstacle-free path to the goal / observation.max_goal_distance_m, clipped to 2",
    ),
    "geodesic_direction": CriticFeature(
        2,
        _direction,
        "unit direction (heading frame x, y) in which that path shortens fastest; 0 where the distance is flat",
    ),
}


def critic_size(config: ScenarioConfig) -> int:
    """Number of critic inputs of ``config`` (0 without ``train.critic_features``)."""
    return sum(CRITIC_FEATURES[name].width for name in config.train.critic_features)


def critic_observation(frame: CriticFrame, config: ScenarioConfig) -> np.ndarray:
    """``(M, critic_size)`` float32: the critic features of ``config``, concatenated in order."""
    blocks = [CRITIC_FEATURES[name].compute(frame, config) for name in config.train.critic_features]
    return np.concatenate(blocks, axis=1).astype(np.float32)
