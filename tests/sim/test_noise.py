"""Noise sources (tinyrl.sim.noise): per-drone tapes whose draws never depend on the batch, and a shared generator."""

import numpy as np
import pytest

from tinyrl.sim.noise import PerDroneNoise, SharedNoise, as_noise

REQUESTS = [(3,), (5,), (1,), (2,), (3,), (4, 2), (7,)] * 40  # crosses many tape ends at tape_size 16


def _draws(rows_per_request, seeds, tape_size=16, reseed_at=None):
    rngs = [np.random.default_rng(s) for s in seeds]
    noise = PerDroneNoise(rngs, tape_size=tape_size)
    noise.scale[:] = 0.5 + np.array(seeds) / 100.0
    out = {i: [] for i in range(len(seeds))}
    for t, shape in enumerate(REQUESTS):
        if t == reseed_at:
            rngs[1] = np.random.default_rng(99)
        rows = rows_per_request(t)
        values = noise.normal(rows, shape)
        assert values.shape == (len(rows), *shape)
        for j, i in enumerate(rows):
            out[int(i)].append(values[j].ravel())
        if t % 50 == 0:
            for i in rows:
                out[int(i)].append(noise.uniform(np.array([i])))
    return {i: np.concatenate(v) if v else np.zeros(0) for i, v in out.items()}


def test_noise_of_a_drone_does_not_depend_on_the_batch():
    seeds = [10, 11, 12, 13]
    together = _draws(lambda t: np.arange(4), seeds)
    # Drone 2 asked alone, in a batch of its own, at slot 0.
    alone = _draws(lambda t: np.array([0]), [12])
    np.testing.assert_array_equal(together[2], alone[0])
    # Drones asked in changing subsets see the same stream for the requests they take part in.
    subsets = _draws(lambda t: np.array([0, 2]) if t % 3 else np.array([1, 2, 3]), seeds)
    np.testing.assert_array_equal(subsets[2], together[2])
    assert not np.array_equal(together[0][:50], together[1][:50])


def test_noise_restarts_when_a_generator_is_replaced():
    seeds = [1, 2, 3]
    reseeded = _draws(lambda t: np.arange(3), seeds, reseed_at=30)
    plain = _draws(lambda t: np.arange(3), seeds)
    np.testing.assert_array_equal(reseeded[0], plain[0])
    fresh = PerDroneNoise([np.random.default_rng(99)], tape_size=16)
    fresh.scale[0] = 0.5 + seeds[1] / 100.0
    expected = np.concatenate([fresh.normal(np.array([0]), s).ravel() for s in REQUESTS[30:33]])
    n_before = sum(int(np.prod(s)) for s in REQUESTS[:30]) + 1  # + the uniform at t = 0
    np.testing.assert_array_equal(reseeded[1][n_before : n_before + len(expected)], expected)


def test_noise_rejects_repeated_rows_and_handles_empty_and_large_requests():
    noise = PerDroneNoise([np.random.default_rng(i) for i in range(3)], tape_size=8)
    with pytest.raises(ValueError, match="distinct"):
        noise.normal(np.array([1, 1]), (2,))
    assert noise.normal(np.array([], dtype=int), (3,)).shape == (0, 3)
    assert noise.normal(np.array([0, 2]), (5, 4)).shape == (2, 5, 4)  # bigger than a tape


def test_a_bare_generator_is_shared_by_all_drones_in_row_order():
    noise = as_noise(np.random.default_rng(4))
    assert isinstance(noise, SharedNoise)
    reference = np.random.default_rng(4)
    np.testing.assert_array_equal(noise.normal(np.array([2, 0, 1]), (2,)), reference.standard_normal((3, 2)))
    np.testing.assert_array_equal(noise.uniform(np.array([1, 2])), reference.random(2))
    tapes = PerDroneNoise([np.random.default_rng(0)])
    assert as_noise(tapes) is tapes
