"""The fast NumPy integrator against PyBullet's stepSimulation for identical motor-speed sequences.

PyBullet frames (checked with pybullet 3.2.7 on a ``createMultiBody`` base, link index -1): ``applyExternalForce``
with ``LINK_FRAME`` takes body-frame force and position, and ``applyExternalTorque`` with ``LINK_FRAME`` is a
body-frame torque. Older releases swapped LINK_FRAME and WORLD_FRAME for base torques (bullet3 issue #1949, fixed
by PR #3950 in 2021); ``test_link_frame_torque_is_body_frame`` pins the fixed behaviour. The cross-check itself
rotates the yaw torque into the world and uses ``WORLD_FRAME``, which means the same in every release.
"""

import numpy as np
import pybullet as p
import pytest

from tinyrl.sim import dynamics, motors
from tinyrl.sim.dynamics import RigidBodyState
from tinyrl.sim.params import DroneParamArrays, DroneParams

RATE_HZ = 500.0
DRONE = DroneParams()


class _PyBulletDrone:
    """One rigid body with the drone's mass and inertia, no collisions with anything, no damping."""

    def __init__(self, quat=(0.0, 0.0, 0.0, 1.0)):
        self.cid = p.connect(p.DIRECT)
        p.setGravity(0, 0, -DRONE.gravity_mps2, physicsClientId=self.cid)
        p.setPhysicsEngineParameter(fixedTimeStep=1.0 / RATE_HZ, numSubSteps=0, physicsClientId=self.cid)
        shape = p.createCollisionShape(p.GEOM_SPHERE, radius=0.03, physicsClientId=self.cid)
        self.body = p.createMultiBody(
            baseMass=DRONE.mass_kg,
            baseCollisionShapeIndex=shape,
            basePosition=[0, 0, 1],
            baseOrientation=quat,
            physicsClientId=self.cid,
        )
        p.changeDynamics(
            self.body,
            -1,
            localInertiaDiagonal=[DRONE.ixx_kg_m2, DRONE.iyy_kg_m2, DRONE.izz_kg_m2],
            linearDamping=0.0,
            angularDamping=0.0,
            physicsClientId=self.cid,
        )

    def step(self, rpm):
        thrust = DRONE.kf_n_per_rpm2 * rpm**2
        lever = DRONE.arm_m / np.sqrt(2)
        for i in range(4):
            x, y = motors.MOTOR_XY[i] * lever
            p.applyExternalForce(self.body, -1, [0, 0, thrust[i]], [x, y, 0], p.LINK_FRAME, physicsClientId=self.cid)
        yaw_torque = DRONE.km_nm_per_rpm2 * float(np.sum(rpm**2 * motors.YAW_SIGN))
        _, quat = self.pose()
        rot = np.array(p.getMatrixFromQuaternion(quat)).reshape(3, 3)
        p.applyExternalTorque(self.body, -1, list(rot @ [0, 0, yaw_torque]), p.WORLD_FRAME, physicsClientId=self.cid)
        p.stepSimulation(physicsClientId=self.cid)

    def pose(self):
        pos, quat = p.getBasePositionAndOrientation(self.body, physicsClientId=self.cid)
        return np.array(pos), np.array(quat)

    def close(self):
        p.disconnect(self.cid)


def _angle_deg(q1, q2):
    return np.degrees(2 * np.arccos(min(1.0, abs(float(np.dot(q1, q2))))))


H = DRONE.hover_rpm
SEQUENCES = {
    "hover": [np.full(4, H)] * 500,
    "climb": [np.full(4, 1.05 * H)] * 500,
    # Left motors up then right motors up: a roll step and its stop, then coasting at the new attitude.
    "roll_step": [H * np.array([1, 1, 1.02, 1.02])] * 25
    + [H * np.array([1.02, 1.02, 1, 1])] * 25
    + [np.full(4, H)] * 450,
    "yaw": [H * np.array([0.9, 1.1, 0.9, 1.1])] * 500,
    "tumble": [H * np.array([0.95, 1.1, 0.96, 1.08])] * 500,
}


@pytest.mark.parametrize("name", SEQUENCES)
def test_fast_integrator_matches_pybullet(name):
    reference = _PyBulletDrone()
    state = RigidBodyState.zeros(1)
    state.pos[0, 2] = 1.0
    params = DroneParamArrays(1, DRONE)
    worst_m, worst_deg = 0.0, 0.0
    try:
        for rpm in SEQUENCES[name]:
            reference.step(rpm)
            state.rpm[0] = rpm
            dynamics.step(state, params, 1.0 / RATE_HZ, drag=False, ground_effect=False)
            pos, quat = reference.pose()
            worst_m = max(worst_m, float(np.linalg.norm(pos - state.pos[0])))
            worst_deg = max(worst_deg, _angle_deg(quat, state.quat[0]))
    finally:
        reference.close()
    assert worst_m < 0.01
    assert worst_deg < 1.0
    # Guard against a vacuous pass: every sequence but hover really moves or turns the drone.
    moved = np.linalg.norm(state.pos[0] - [0, 0, 1]) + _angle_deg(state.quat[0], [0, 0, 0, 1])
    assert name == "hover" or moved > 0.05


def test_link_frame_torque_is_body_frame():
    quat = p.getQuaternionFromEuler([np.pi / 3, 0.4, 0.0])
    reference = _PyBulletDrone(quat)
    try:
        p.setGravity(0, 0, 0, physicsClientId=reference.cid)
        p.applyExternalTorque(reference.body, -1, [0, 0, 1e-6], p.LINK_FRAME, physicsClientId=reference.cid)
        p.stepSimulation(physicsClientId=reference.cid)
        _, omega_world = p.getBaseVelocity(reference.body, physicsClientId=reference.cid)
    finally:
        reference.close()
    rot = np.array(p.getMatrixFromQuaternion(quat)).reshape(3, 3)
    omega_body = rot.T @ np.array(omega_world)
    np.testing.assert_allclose(omega_body, [0, 0, 1e-6 / RATE_HZ / DRONE.izz_kg_m2], rtol=1e-6, atol=1e-15)
