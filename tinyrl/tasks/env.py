"""The Gymnasium environment: one drone flying a scenario (the batched task with N = 1)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from tinyrl.sim.course import Course, load_courses
from tinyrl.tasks.actions import action_map
from tinyrl.tasks.config import ScenarioConfig, load_scenario
from tinyrl.tasks.core import BatchedTask, StepResult
from tinyrl.tasks.features import OBS_LIMIT


def observation_space(config: ScenarioConfig, size: int) -> gym.spaces.Box:
    """Float32 box of the observation: every feature is scaled and clipped into [-2, 2] (:mod:`.features`)."""
    return gym.spaces.Box(-OBS_LIMIT, OBS_LIMIT, (size,), np.float32)


def action_space(config: ScenarioConfig) -> gym.spaces.Space:
    """``Box(-1, 1, (4,))`` (vx, vy, yaw rate, z scaled) or ``Discrete(len(discrete_actions))``: its action map's."""
    return action_map(config.action).space()


def resolve_courses(courses: Sequence[Course] | str | Path | None) -> tuple[Course, ...] | None:
    """Courses given as objects, as a course file path, or None (the scenario's generated pool)."""
    if courses is None:
        return None
    if isinstance(courses, str | Path):
        return tuple(load_courses(courses))
    return tuple(courses)


def step_info(result: StepResult, i: int) -> dict[str, Any]:
    """Gymnasium ``info`` of drone ``i``: outcome flags, path length (m) and flight time (s)."""
    return {
        "is_success": bool(result.is_success[i]),
        "collision": bool(result.collision[i]),
        "left_arena": bool(result.left_arena[i]),
        "path_length_m": float(result.path_length_m[i]),
        "time_s": float(result.time_s[i]),
    }


class TinyRLEnv(gym.Env):
    """A Crazyflie flying one scenario; observations are only what the real drone senses.

    Args:
        config: Scenario name (``envs/NAME.yaml``), YAML path, or a loaded :class:`ScenarioConfig`.
        courses: Courses to fly (objects or a course file); the scenario's generated pool if None.
        randomize: Domain randomization (default: the scenario's setting; turn it off to evaluate).
        render_mode: Only ``None`` is supported; use ``World(gui=True)`` to watch.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        config: str | Path | ScenarioConfig = "obstacle-course",
        courses: Sequence[Course] | str | Path | None = None,
        randomize: bool | None = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None:
            raise ValueError(f"render_mode {render_mode!r} is not supported")
        self.config = load_scenario(config)
        self.task = BatchedTask(self.config, 1, resolve_courses(courses), randomize=randomize)
        self.observation_space = observation_space(self.config, self.task.obs_dim)
        self.action_space = action_space(self.config)
        self._seeded = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode; seeded, it is the episode that slot ``k`` of a vector env seeded ``seed - k`` plays."""
        super().reset(seed=seed)
        if seed is not None:
            self.task.seed_slots([0], [seed])
        elif not self._seeded:
            self.task.seed_slots([0], [int(self.np_random.integers(2**31))])
        self._seeded = True
        obs = self.task.reset_slots([0])[0]
        return obs, {"course_index": int(self.task.course_index[0])}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One policy period (``1 / policy_rate_hz`` s) with ``action``."""
        result = self.task.step(np.asarray(action)[None])
        return (
            result.obs[0],
            float(result.reward[0]),
            bool(result.terminated[0]),
            bool(result.truncated[0]),
            step_info(result, 0),
        )

    def close(self) -> None:
        """Release the simulator."""
        self.task.close()
