"""``BatchedTask.step(chunks=k)`` flies the policy period in k parts with a call after each, bit for bit as one."""

from __future__ import annotations

import numpy as np
import pytest

from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.core import BatchedTask


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
    pos_1, obs_1, seen_1 = _fly(1)
    pos_4, obs_4, seen_4 = _fly(4)
    assert np.array_equal(pos_1, pos_4)
    assert np.array_equal(obs_1, obs_4)
    assert len(seen_4) == 4 * len(seen_1) == 120
    assert np.array_equal(seen_4[3::4], seen_1)  # every fourth chunk ends where a whole period ends
    assert not np.array_equal(seen_4[0], seen_4[3])  # and the chunks in between are states of their own


def test_chunks_must_divide_the_physics_steps_of_a_period() -> None:
    task = BatchedTask(load_scenario("obstacle-course"), 1, randomize=False)
    task.reset_slots([0], [0])
    with pytest.raises(ValueError, match="chunks must divide the 20 physics steps"):
        task.step(np.zeros((1, 4)), chunks=3)
    task.close()
