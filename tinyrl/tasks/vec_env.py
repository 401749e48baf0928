"""An SB3 ``VecEnv`` that steps N drones in one process, auto-resetting without reloading anything."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from tinyrl.sim.course import Course
from tinyrl.tasks.config import ScenarioConfig, load_scenario
from tinyrl.tasks.core import BatchedTask
from tinyrl.tasks.critic import critic_size
from tinyrl.tasks.env import action_space, observation_space, resolve_courses, step_info


class TinyRLVecEnv(VecEnv):
    """N drones of one scenario, batched. Slot ``k`` seeded ``seed + k`` replays ``TinyRLEnv`` seeded the same.

    Args:
        config: Scenario name, YAML path or loaded config.
        n_envs: Number of drones.
        courses: Courses to fly (objects or a course file); the scenario's generated pool if None.
        randomize: Domain randomization (default: the scenario's setting).
        seed: Seed of slot 0 (slot ``k`` gets ``seed + k``); random if None.
        critic_inputs: Append the scenario's ``train.critic_features`` (:mod:`tinyrl.tasks.critic`) to every
            observation, for training an asymmetric actor-critic; off, observations are what the policy sees.
    """

    def __init__(
        self,
        config: str | Path | ScenarioConfig = "obstacle-course",
        n_envs: int = 16,
        courses: Sequence[Course] | str | Path | None = None,
        randomize: bool | None = None,
        seed: int | None = None,
        critic_inputs: bool = False,
    ) -> None:
        self.config = load_scenario(config)
        self.task = BatchedTask(self.config, n_envs, resolve_courses(courses), randomize=randomize)
        self.render_mode = None
        self.critic_inputs = critic_inputs and bool(self.config.train.critic_features)
        size = self.task.obs_dim + (critic_size(self.config) if self.critic_inputs else 0)
        super().__init__(n_envs, observation_space(self.config, size), action_space(self.config))
        base = int(np.random.SeedSequence().generate_state(1)[0] >> 1) if seed is None else seed
        self.task.seed_slots(range(n_envs), [base + k for k in range(n_envs)])
        self._actions: np.ndarray | None = None

    def reset(self) -> VecEnvObs:
        """Reset every slot (applying seeds given to :meth:`seed`)."""
        seeded = {k: s for k, s in enumerate(self._seeds) if s is not None}
        if seeded:
            self.task.seed_slots(list(seeded), list(seeded.values()))
        self._reset_seeds()
        self._reset_options()
        return self._with_critic(self.task.reset_slots(np.arange(self.num_envs)), np.arange(self.num_envs))

    def set_progress(self, progress: float) -> None:
        """Training progress (fraction of ``train.steps`` done): picks each slot's level under a curriculum."""
        self.task.set_progress(progress)

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions for :meth:`step_wait`."""
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        """Step all drones; finished slots restart at once, their last observation in ``terminal_observation``."""
        assert self._actions is not None, "step_async must come first"
        result = self.task.step(self._actions)
        done = result.terminated | result.truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        # Critic inputs of a finished flight come from its last state, before the reset moves the drone.
        last = self._with_critic(result.obs, np.arange(self.num_envs))
        obs = last
        finished = np.flatnonzero(done)
        if finished.size:
            obs = last.copy()
            obs[finished] = self._with_critic(self.task.reset_slots(finished), finished)
            for i in finished:
                info = step_info(result, i)
                info["terminal_observation"] = last[i]
                info["TimeLimit.truncated"] = bool(result.truncated[i])
                infos[i] = info
        return obs, result.reward, done, infos

    def _with_critic(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``obs`` of ``rows``, followed by their critic inputs when ``critic_inputs`` is on."""
        if not self.critic_inputs:
            return obs
        return np.concatenate((obs, self.task.critic_observation(rows)), axis=1)

    def close(self) -> None:
        """Release the simulator."""
        self.task.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The task's attribute, once per requested slot (all slots share one task)."""
        return [getattr(self, attr_name)] * len(list(self._get_indices(indices)))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute on the shared task wrapper."""
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **kwargs: Any) -> list:
        """Call a method of this batched env once per requested slot."""
        return [getattr(self, method_name)(*method_args, **kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """No slot is wrapped."""
        return [False] * len(list(self._get_indices(indices)))
