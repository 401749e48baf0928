import numpy as np
import pytest

from tinyrl.sim.drone import Quadrotors
from tinyrl.sim.rotation import quat_to_euler


def _fly(setpoints, seconds, yaw_rad=0.0, mode="hover", pos=(0.0, 0.0, 1.0), **kw):
    """Fly len(setpoints) drones from rest; return (T, N, ...) logs of pos, vel, euler, omega at 100 Hz."""
    setpoints = np.atleast_2d(np.asarray(setpoints, dtype=float))
    n = setpoints.shape[0]
    quads = Quadrotors(n, **kw)
    quads.reset(np.arange(n), np.tile(pos, (n, 1)), yaw_rad=yaw_rad)
    log = {"pos": [], "vel": [], "euler": [], "omega": []}
    for _ in range(round(seconds * 100)):
        quads.step(setpoints, mode=mode)
        log["pos"].append(quads.pos.copy())
        log["vel"].append(quads.vel.copy())
        log["euler"].append(quads.euler)
        log["omega"].append(quads.omega.copy())
    return {k: np.array(v) for k, v in log.items()}, quads


def test_hover_holds_position_for_ten_seconds():
    log, _ = _fly([0.0, 0.0, 0.0, 1.0], 10.0)
    assert np.abs(log["pos"][:, 0, 2] - 1.0).max() < 0.02
    assert np.abs(log["pos"][:, 0, :2]).max() < 0.02


def test_hover_recovers_from_unknown_mass():
    # The firmware's thrust feed-forward assumes the nominal drone; the integrators must absorb +-10 % mass.
    quads = Quadrotors(2)
    quads.update_params([0, 1], mass_kg=np.array([0.9, 1.1]) * 0.027)
    quads.reset([0, 1], np.array([[0, 0, 1.0], [0, 0, 1.0]]), rpm=np.full((2, 4), 14470.0))
    z = []
    for _ in range(800):
        quads.step(np.array([[0, 0, 0, 1.0]] * 2))
        z.append(quads.pos[:, 2].copy())
    z = np.array(z)
    assert np.abs(z - 1.0).max() < 0.15
    assert np.abs(z[400:] - 1.0).max() < 0.02


@pytest.mark.parametrize(("axis", "yaw_deg"), [(0, 0.0), (1, 0.0), (0, 90.0)])
def test_body_velocity_step(axis, yaw_deg):
    sp = np.array([0.0, 0.0, 0.0, 1.0])
    sp[axis] = 0.5
    log, _ = _fly(sp, 3.0, yaw_rad=np.radians(yaw_deg))
    yaw = np.radians(yaw_deg)
    vx, vy = log["vel"][:, 0, 0], log["vel"][:, 0, 1]
    body = np.stack([np.cos(yaw) * vx + np.sin(yaw) * vy, -np.sin(yaw) * vx + np.cos(yaw) * vy], axis=1)
    v, cross = body[:, axis], body[:, 1 - axis]
    assert v[:100].max() >= 0.45  # within 10 % in the first second
    assert v.max() < 0.6  # < 20 % overshoot
    assert np.abs(v[200:] - 0.5).max() < 0.05
    assert np.abs(cross).max() < 0.05
    assert np.abs(log["pos"][:, 0, 2] - 1.0).max() < 0.05


def test_yaw_rate_is_tracked():
    log, _ = _fly([0.0, 0.0, 90.0, 1.0], 4.0)
    yaw = np.unwrap(log["euler"][:, 0, 2])
    rate = np.degrees(yaw[300] - yaw[100]) / 2.0
    assert rate == pytest.approx(90.0, rel=0.03)
    assert np.degrees(log["omega"][100:, 0, 2]).mean() == pytest.approx(90.0, rel=0.03)
    assert np.abs(log["pos"][:, 0] - [0, 0, 1]).max() < 0.02


def test_tilt_limit_holds_for_large_velocity_commands():
    log, _ = _fly([5.0, -5.0, 0.0, 1.0], 1.0)
    tilt = np.degrees(np.abs(log["euler"][:, 0, :2]))
    assert tilt.max() < 20.0 * 1.15
    assert tilt.max() > 15.0


def test_rates_mode_tracks_body_rates_with_collective_thrust():
    quads = Quadrotors(2)
    quads.reset([0, 1], np.array([[0, 0, 1.0], [0, 0, 1.0]]))
    weight = 0.027 * 9.81
    sp = np.array([[weight, 0.0, 0.0, 0.0], [weight, 30.0, -20.0, 45.0]])
    quads.step(sp, mode="rates", n_physics_steps=150)
    np.testing.assert_allclose(np.degrees(quads.omega[1]), [30.0, -20.0, 45.0], atol=3.0)
    np.testing.assert_allclose(quads.omega[0], 0.0, atol=1e-9)
    assert abs(quads.vel[0, 2]) < 0.05


def test_unknown_mode_is_rejected():
    quads = Quadrotors(1)
    with pytest.raises(ValueError, match="unknown controller mode"):
        quads.step(np.zeros((1, 4)), mode="position")


def test_reset_clears_integrators_of_the_subset_only():
    quads = Quadrotors(3)
    quads.reset(slice(None), np.array([[0, 0, 1.0]] * 3))
    for _ in range(100):
        quads.step(np.array([[0.3, 0.2, 30.0, 1.2]] * 3))
    ctrl = quads.controller
    before = ctrl._velocity_pid.integral.copy()
    assert np.all(np.abs(before) > 0)
    quads.reset(np.array([1]), np.array([[1.0, 2.0, 0.5]]), yaw_rad=0.3)
    np.testing.assert_array_equal(ctrl._velocity_pid.integral[1], 0.0)
    np.testing.assert_array_equal(ctrl._velocity_pid.integral[[0, 2]], before[[0, 2]])
    assert ctrl.attitude_des_deg[1, 2] == pytest.approx(np.degrees(0.3))
    np.testing.assert_allclose(quads.pos[1], [1.0, 2.0, 0.5])
    assert quat_to_euler(quads.quat[1:2])[0, 2] == pytest.approx(0.3)
