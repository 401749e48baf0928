import numpy as np

from tinyrl.sim.drone import Quadrotors
from tinyrl.sim.params import DroneParams

N = 64
STEPS = 100  # 1 s at 100 Hz


def _scenario(seed=0):
    rng = np.random.default_rng(seed)
    pos = rng.uniform([-2, -2, 0.3], [2, 2, 2], size=(N, 3))
    yaw = rng.uniform(-np.pi, np.pi, size=N)
    vel = rng.uniform(-0.5, 0.5, size=(N, 3))
    setpoints = np.column_stack(
        [rng.uniform(-1, 1, N), rng.uniform(-1, 1, N), rng.uniform(-90, 90, N), rng.uniform(0.2, 2, N)]
    )
    mass = rng.uniform(0.9, 1.1, N) * 0.027
    tau = rng.uniform(0.02, 0.05, N)
    return pos, yaw, vel, setpoints, mass, tau


def _run(indices, scenario):
    pos, yaw, vel, setpoints, mass, tau = (a[indices] for a in scenario)
    quads = Quadrotors(len(indices))
    quads.update_params(slice(None), mass_kg=mass, motor_tau_s=tau)
    quads.reset(slice(None), pos, yaw_rad=yaw, vel_mps=vel)
    for _ in range(STEPS):
        quads.step(setpoints)
    return np.concatenate([quads.pos, quads.vel, quads.quat, quads.omega, quads.rpm], axis=1)


def test_batched_equals_each_drone_alone():
    scenario = _scenario()
    together = _run(np.arange(N), scenario)
    alone = np.concatenate([_run(np.array([i]), scenario) for i in range(0, N, 7)])
    np.testing.assert_array_equal(together[::7], alone)
    assert np.ptp(together[:, :3], axis=0).min() > 0.5  # the drones really did different things


def test_reset_of_a_subset_leaves_the_others_untouched():
    scenario = _scenario(1)
    setpoints = scenario[3]
    plain, resetting = Quadrotors(N), Quadrotors(N)
    for quads in (plain, resetting):
        quads.reset(slice(None), scenario[0], yaw_rad=scenario[1])
    subset = np.array([3, 10, 40])
    for step in range(60):
        plain.step(setpoints)
        resetting.step(setpoints)
        if step == 20:
            resetting.reset(subset, np.tile([0.0, 0.0, 1.0], (3, 1)))
    others = np.setdiff1d(np.arange(N), subset)
    np.testing.assert_array_equal(resetting.pos[others], plain.pos[others])
    np.testing.assert_array_equal(resetting.quat[others], plain.quat[others])
    assert not np.allclose(resetting.pos[subset], plain.pos[subset])


def test_per_drone_params_equal_a_drone_built_with_them():
    heavy = DroneParams(mass_kg=0.03, kf_n_per_rpm2=3.3e-10, motor_tau_s=0.045)
    mixed = Quadrotors(3)
    mixed.set_params([1], heavy)
    # The controller must keep the nominal model in both, as the firmware would: a default drone given the
    # heavy parameters, not a drone whose nominal model is heavy.
    single = Quadrotors(1)
    single.set_params([0], heavy)
    start = np.array([[0.0, 0.0, 1.0]] * 3)
    mixed.reset(slice(None), start)
    single.reset(slice(None), start[:1])
    sp = np.array([[0.4, -0.2, 20.0, 1.3]] * 3)
    for _ in range(100):
        mixed.step(sp)
        single.step(sp[:1])
    np.testing.assert_array_equal(mixed.pos[1], single.pos[0])
    assert not np.allclose(mixed.pos[0], mixed.pos[1], atol=1e-4)
    np.testing.assert_array_equal(mixed.pos[0], mixed.pos[2])


def test_runs_are_deterministic():
    scenario = _scenario(2)
    np.testing.assert_array_equal(_run(np.arange(8), scenario), _run(np.arange(8), scenario))
