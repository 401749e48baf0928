"""The numba backend (tinyrl.sim.fast) against the NumPy reference."""

import numba  # noqa: F401  (the backend under test; a missing install must fail, not skip)
import numpy as np
import pytest
import test_controller  # tests/sim is on sys.path (pytest prepend import mode)

from tinyrl.sim import drone as drone_module
from tinyrl.sim.drone import Quadrotors

N = 24


def _scenario(seed=0, mode="hover"):
    rng = np.random.default_rng(seed)
    pos = rng.uniform([-2, -2, 0.02], [2, 2, 2], size=(N, 3))  # some start in ground effect
    yaw = rng.uniform(-np.pi, np.pi, size=N)
    if mode == "hover":
        sp = np.column_stack(
            [rng.uniform(-1, 1, N), rng.uniform(-1, 1, N), rng.uniform(-120, 120, N), rng.uniform(0.1, 2, N)]
        )
        sp[:4] = [[0, 0, 0, 1], [0.5, 0, 0, 1], [0, 0.5, 0, 1], [0, 0, 90, 1]]  # hover, steps, yaw
    else:
        sp = np.column_stack([rng.uniform(0.2, 0.35, N), rng.uniform(-40, 40, (N, 3))])
    params = {
        "mass_kg": rng.uniform(0.9, 1.1, N) * 0.027,
        "motor_tau_s": rng.uniform(0.02, 0.05, N),
        "kf_n_per_rpm2": rng.uniform(0.95, 1.05, N) * 3.16e-10,
        "ixx_kg_m2": rng.uniform(0.9, 1.1, N) * 1.4e-5,
    }
    wind = rng.uniform(-0.004, 0.004, (N, 3))
    return pos, yaw, sp, params, wind


def _fly(backend, rows, scenario, mode="hover", seconds=10.0, rate_hz=100.0, switch=None):
    pos, yaw, sp, params, wind = scenario
    quads = Quadrotors(len(rows), policy_rate_hz=rate_hz, backend=backend)
    quads.update_params(slice(None), **{k: v[rows] for k, v in params.items()})
    quads.external_force_n[:] = wind[rows]
    quads.reset(slice(None), pos[rows], yaw_rad=yaw[rows])
    for t in range(round(seconds * rate_hz)):
        if switch is not None:
            quads.backend = switch[t % 2]
        quads.step(sp[rows], mode=mode)
        subset = np.flatnonzero(rows % 5 == 0)
        if t == round(seconds * rate_hz) // 2 and subset.size:  # reset a subset mid-flight
            quads.reset(subset, np.array([0.0, 0.0, 1.0]), yaw_rad=0.5)
    c = quads.controller
    return quads, np.concatenate([quads.pos, quads.vel, quads.quat, quads.omega, quads.rpm, c.rpm_cmd], axis=1)


@pytest.mark.parametrize("mode", ["hover", "rates"])
def test_numba_matches_numpy_for_ten_seconds(mode):
    scenario = _scenario(mode=mode)
    rows = np.arange(N)
    ref_quads, ref = _fly("numpy", rows, scenario, mode)
    fast_quads, fast = _fly("numba", rows, scenario, mode)
    np.testing.assert_allclose(fast[:, :3], ref[:, :3], rtol=0, atol=1e-9)  # position, m
    np.testing.assert_allclose(fast[:, 3:13], ref[:, 3:13], rtol=0, atol=1e-9)  # vel, quat, omega
    np.testing.assert_allclose(fast[:, 13:], ref[:, 13:], rtol=1e-12, atol=1e-6)  # rpm, rpm commands
    assert fast_quads.controller.tick == ref_quads.controller.tick
    assert fast_quads.time_s == ref_quads.time_s
    # Every PID's integral, previous measurement and filter state; every held setpoint, output and motor command.
    np.testing.assert_allclose(fast_quads.controller.pid_state, ref_quads.controller.pid_state, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fast_quads.controller.held, ref_quads.controller.held, rtol=1e-12, atol=1e-6)
    assert np.ptp(ref[:, :3], axis=0).min() > 0.5  # the drones did different things


def test_backends_share_state_and_can_alternate():
    # Controller and drone state live in the same arrays: switching backends every step changes nothing.
    scenario = _scenario(3)
    rows = np.arange(N)
    _, ref = _fly("numpy", rows, scenario, seconds=2.0, rate_hz=25.0)
    _, mixed = _fly("numpy", rows, scenario, seconds=2.0, rate_hz=25.0, switch=("numba", "numpy"))
    np.testing.assert_allclose(mixed[:, :13], ref[:, :13], rtol=0, atol=1e-9)


def test_numba_batched_equals_each_drone_alone_bit_for_bit():
    scenario = _scenario(1)
    _, together = _fly("numba", np.arange(N), scenario, seconds=2.0, rate_hz=25.0)
    for i in (0, 7, 23):
        _, alone = _fly("numba", np.array([i]), scenario, seconds=2.0, rate_hz=25.0)
        np.testing.assert_array_equal(together[i], alone[0])


def test_backend_selection():
    assert Quadrotors(2).backend == drone_module.DEFAULT_BACKEND == "numba"
    assert Quadrotors(2, backend="numpy").backend == "numpy"
    with pytest.raises(ValueError, match="unknown backend"):
        Quadrotors(2, backend="cuda")
    with pytest.raises(ValueError, match="unknown controller mode"):
        Quadrotors(1).step(np.zeros((1, 4)), mode="position")


CONTROLLER_TESTS = [
    (test_controller.test_hover_holds_position_for_ten_seconds, {}),
    (test_controller.test_hover_recovers_from_unknown_mass, {}),
    (test_controller.test_body_velocity_step, {"axis": 0, "yaw_deg": 90.0}),
    (test_controller.test_yaw_rate_is_tracked, {}),
    (test_controller.test_tilt_limit_holds_for_large_velocity_commands, {}),
    (test_controller.test_rates_mode_tracks_body_rates_with_collective_thrust, {}),
    (test_controller.test_reset_clears_integrators_of_the_subset_only, {}),
]


@pytest.mark.parametrize(("test", "kwargs"), CONTROLLER_TESTS, ids=[t.__name__ for t, _ in CONTROLLER_TESTS])
def test_controller_tests_pass_on_the_numpy_backend(monkeypatch, test, kwargs):
    # tests/sim/test_controller.py runs on the default (numba) backend; run it on the reference too.
    monkeypatch.setattr(drone_module, "DEFAULT_BACKEND", "numpy")
    assert Quadrotors(1).backend == "numpy"
    test(**kwargs)
