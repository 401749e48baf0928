"""``BatchedTask.step(chunks=k)`` flies the policy period in k parts with a call after each, bit for bit as one."""

from __future__ import annotations

import numpy as np
import pytest

from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.core import BatchedTask


def _physics_steps_per_period() -> int:
    task = BatchedTask(load_scenario("obstacle-course"), 1, randomize=False)
    steps = task.drones.physics_steps_per_policy
    task.close()
    return steps


def _fly(chunks: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    config = load_scenario("obstacle-course")
    task = BatchedTask(config, 2, randomize=False)
    task.seed_slots([0, 1], [3, 4])
    task.reset_slots([0, 1], [0, 1])
    seen: list[np.ndarray] = []
    rng = np.random.default_rng(0)
    for _ in range(30):
        result = task.step(
            rng.uniform(-1, 1, (2, 4)), chunks=chunks, after_chunk=lambda: seen.append(task.drones.pos.copy())
        )
    pos = task.drones.pos.copy()
    task.close()
    return pos, result.obs, seen


def test_a_chunked_step_is_one_step_bit_for_bit_and_calls_back_after_each_chunk() -> None:
    k = next(d for d in (5, 4, 2) if _physics_steps_per_period() % d == 0)
    pos_1, obs_1, seen_1 = _fly(1)
    pos_k, obs_k, seen_k = _fly(k)
    assert np.array_equal(pos_1, pos_k)
    assert np.array_equal(obs_1, obs_k)
    assert len(seen_k) == k * len(seen_1) == k * 30
    assert np.array_equal(seen_k[k - 1 :: k], seen_1)  # every k-th chunk ends where a whole period ends
    assert not np.array_equal(seen_k[0], seen_k[k - 1])  # and the chunks in between are states of their own


def test_chunks_must_divide_the_physics_steps_of_a_period() -> None:
    task = BatchedTask(load_scenario("obstacle-course"), 1, randomize=False)
    task.reset_slots([0], [0])
    per_period = task.drones.physics_steps_per_policy
    bad = next(d for d in range(2, per_period) if per_period % d)
    with pytest.raises(ValueError, match=f"chunks must divide the {per_period} physics steps"):
        task.step(np.zeros((1, 4)), chunks=bad)
    task.close()
