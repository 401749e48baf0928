"""Action maps: how a policy's output becomes the hover setpoint, and what the policy sees of it next step.

A scenario's ``action.mode`` picks one map from :data:`ACTION_MAPS`, once; the task then flies every action
through it without asking which one it is. A new action mode is a new entry there (and in
:class:`~tinyrl.tasks.config.ActionConfig`'s ``mode``), not a new branch in the task.

Setpoints are the firmware's hover setpoint ``(vx, vy m/s in the heading frame, yaw rate deg/s, z m)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import gymnasium as gym
import numpy as np

if TYPE_CHECKING:  # for annotations only: the config module imports the features module, which imports this one
    from tinyrl.tasks.config import ActionConfig


class ActionMap(Protocol):
    """Policy actions of N drones → hover setpoints, and the action as fed back to the policy."""

    #: Width of the fed-back action (the ``prev_action`` and ``action_ema`` features).
    width: int
    #: An action is one index per drone ``(N,)``, not ``(N, 4)`` numbers.
    discrete: bool

    def space(self) -> gym.spaces.Space:
        """The Gymnasium space of one drone's action."""
        ...

    def setpoints(self, actions: np.ndarray, hold_z_m: np.ndarray) -> np.ndarray:
        """Hover setpoints ``(N, 4)`` from the actions of N drones; ``hold_z_m`` ``(N,)`` is each one's start height."""
        ...

    def fed_back(self, actions: np.ndarray, n: int) -> np.ndarray:
        """The actions of ``n`` drones as the policy sees them next step, ``(n, width)``."""
        ...

    def at_start(self, start_z_m: np.ndarray) -> np.ndarray:
        """What is fed back before a new episode's first action, ``(M, width)`` for start heights ``(M,)`` (m)."""
        ...


class ContinuousActions:
    """Four numbers in [-1, 1], clipped, and fed back clipped, as they are flown.

    vx and vy are fractions of ``max_speed_m_s``, the yaw rate a fraction of ``max_yaw_rate_deg_s``, and the
    height spreads linearly over ``z_range_m`` from -1 to +1.
    """

    width = 4
    discrete = False

    def __init__(self, action: ActionConfig) -> None:
        self.max_speed_m_s = action.max_speed_m_s
        self.max_yaw_rate_deg_s = action.max_yaw_rate_deg_s
        self.z_range_m = action.z_range_m

    def space(self) -> gym.spaces.Space:
        """``Box(-1, 1, (4,))`` float32."""
        return gym.spaces.Box(-1.0, 1.0, (4,), np.float32)

    def setpoints(self, actions: np.ndarray, hold_z_m: np.ndarray) -> np.ndarray:
        """See :meth:`ActionMap.setpoints`; ``actions`` ``(N, 4)``, the height comes from the action."""
        act = self.fed_back(actions, len(hold_z_m))
        lo, hi = self.z_range_m
        return np.column_stack(
            (
                act[:, 0] * self.max_speed_m_s,
                act[:, 1] * self.max_speed_m_s,
                act[:, 2] * self.max_yaw_rate_deg_s,
                lo + (act[:, 3] + 1.0) * 0.5 * (hi - lo),
            )
        )

    def fed_back(self, actions: np.ndarray, n: int) -> np.ndarray:
        """See :meth:`ActionMap.fed_back`: the actions clipped to [-1, 1]."""
        return np.clip(np.asarray(actions, dtype=float).reshape(n, 4), -1.0, 1.0)

    def at_start(self, start_z_m: np.ndarray) -> np.ndarray:
        """See :meth:`ActionMap.at_start`: the action that holds the start height, as if the drone had been hovering."""
        lo, hi = self.z_range_m
        out = np.zeros((len(start_z_m), 4))
        out[:, 3] = np.clip(2.0 * (np.asarray(start_z_m) - lo) / (hi - lo) - 1.0, -1.0, 1.0)
        return out


class DiscreteActions:
    """An index into ``discrete_actions`` (named vx, vy, yaw-rate setpoints), at the start height; fed back one-hot."""

    def __init__(self, action: ActionConfig) -> None:
        #: ``(K, 3)`` vx, vy (m/s), yaw rate (deg/s) of each action, in ``discrete_actions`` order.
        self.table = np.array([[a.vx_m_s, a.vy_m_s, a.yaw_rate_deg_s] for a in action.discrete_actions.values()])
        self.width = len(self.table)
        self.discrete = True

    def space(self) -> gym.spaces.Space:
        """``Discrete(K)``."""
        return gym.spaces.Discrete(self.width)

    def setpoints(self, actions: np.ndarray, hold_z_m: np.ndarray) -> np.ndarray:
        """See :meth:`ActionMap.setpoints`; ``actions`` ``(N,)`` indices."""
        return np.column_stack((self.table[self._indices(actions, len(hold_z_m))], hold_z_m))

    def fed_back(self, actions: np.ndarray, n: int) -> np.ndarray:
        """See :meth:`ActionMap.fed_back`: one-hot."""
        out = np.zeros((n, self.width))
        out[np.arange(n), self._indices(actions, n)] = 1.0
        return out

    def at_start(self, start_z_m: np.ndarray) -> np.ndarray:
        """See :meth:`ActionMap.at_start`: all zeros (no action taken yet)."""
        return np.zeros((len(start_z_m), self.width))

    @staticmethod
    def _indices(actions: np.ndarray, n: int) -> np.ndarray:
        return np.asarray(actions, dtype=np.int64).reshape(n)


#: Action map of each ``action.mode``.
ACTION_MAPS: dict[str, Callable[[ActionConfig], ActionMap]] = {
    "continuous": ContinuousActions,
    "discrete": DiscreteActions,
}


def action_map(action: ActionConfig) -> ActionMap:
    """The map of ``action.mode``, configured by ``action``."""
    return ACTION_MAPS[action.mode](action)
