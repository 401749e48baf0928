import numpy as np
import pytest

from tinyrl.sim import dynamics, motors
from tinyrl.sim.dynamics import RigidBodyState
from tinyrl.sim.params import DroneParamArrays, DroneParams
from tinyrl.sim.rotation import quat_to_euler

DT = 1 / 500


def _one(z=1.0, rpm=None):
    state = RigidBodyState.zeros(1)
    state.pos[0, 2] = z
    state.rpm[0] = DroneParams().hover_rpm if rpm is None else rpm
    return state, DroneParamArrays(1)


def test_free_fall_matches_semi_implicit_euler():
    state, params = _one(rpm=np.zeros(4))
    for _ in range(100):
        dynamics.step(state, params, DT)
    g = DroneParams().gravity_mps2
    # Semi-implicit Euler: z_k = z_0 - g dt^2 k (k + 1) / 2.
    assert state.pos[0, 2] == pytest.approx(1.0 - g * DT**2 * 100 * 101 / 2, abs=1e-12)
    assert state.vel[0, 2] == pytest.approx(-g * 100 * DT, abs=1e-12)


def test_hover_rpm_holds_still_away_from_the_floor():
    state, params = _one()
    for _ in range(500):
        dynamics.step(state, params, DT, drag=False, ground_effect=False)
    np.testing.assert_allclose(state.pos[0], [0, 0, 1], atol=1e-9)
    np.testing.assert_allclose(state.quat[0], [0, 0, 0, 1], atol=1e-12)


def test_ground_effect_lifts_near_the_floor_only():
    low, params = _one(z=0.03)
    high, _ = _one(z=1.0)
    dynamics.step(low, params, DT)
    dynamics.step(high, params, DT)
    assert low.vel[0, 2] > 0.5 * DT  # > 5 % extra thrust at 3 cm
    assert abs(high.vel[0, 2]) < 1e-3 * 9.81 * DT  # < 0.1 % at 1 m


def test_drag_opposes_motion():
    state, params = _one()
    state.vel[0] = [1.0, -1.0, 0.0]
    dynamics.step(state, params, DT, ground_effect=False)
    assert state.vel[0, 0] < 1.0 and state.vel[0, 1] > -1.0


@pytest.mark.parametrize(
    ("scale", "axis", "sign"),
    [
        ([1, 1, 1.05, 1.05], 0, 1),  # left motors M3, M4 up: roll right-side down (+x)
        ([1, 1.05, 1.05, 1], 1, 1),  # back motors M2, M3 up: nose down (+y)
        ([1, 1.05, 1, 1.05], 2, 1),  # clockwise propellers M2, M4 up: body turns counter-clockwise (+z)
        ([1.05, 1, 1.05, 1], 2, -1),
    ],
)
def test_motor_layout_torque_signs(scale, axis, sign):
    state, params = _one(rpm=DroneParams().hover_rpm * np.array(scale))
    dynamics.step(state, params, DT, drag=False, ground_effect=False)
    assert np.sign(state.omega[0, axis]) == sign
    others = [i for i in range(3) if i != axis]
    assert np.all(np.abs(state.omega[0, others]) < 1e-3 * abs(state.omega[0, axis]))


def test_motor_lag_is_first_order_and_clipped():
    params = DroneParamArrays(1)
    tau = params.motor_tau_s[0]
    factor = motors.lag_factor(params.motor_tau_s, DT)
    rpm = np.zeros((1, 4))
    cmd = np.full((1, 4), 10000.0)
    steps = round(tau / DT)
    for _ in range(steps):
        motors.update_rpm(rpm, cmd, factor, params.min_rpm, params.max_rpm)
    assert rpm[0, 0] == pytest.approx(10000 * (1 - np.exp(-1)), rel=1e-9)
    for _ in range(1000):
        motors.update_rpm(rpm, np.full((1, 4), 1e6), factor, params.min_rpm, params.max_rpm)
    assert rpm.max() == pytest.approx(params.max_rpm[0])


def test_constant_body_rate_integrates_exactly():
    state, params = _one(rpm=np.zeros(4))
    state.omega[0] = [0.0, 0.0, 2.0]
    for _ in range(250):
        dynamics.step(state, params, DT, drag=False, ground_effect=False)
    assert quat_to_euler(state.quat)[0, 2] == pytest.approx(1.0, abs=1e-12)
