"""Quaternions, Euler angles and rotation matrices (tinyrl.sim.rotation)."""

import numpy as np

from tinyrl.sim.rotation import euler_to_quat, quat_multiply, quat_to_euler, quat_to_rotmat


def _rpy_matrix(roll, pitch, yaw):
    rx = np.array([[1, 0, 0], [0, np.cos(roll), -np.sin(roll)], [0, np.sin(roll), np.cos(roll)]])
    ry = np.array([[np.cos(pitch), 0, np.sin(pitch)], [0, 1, 0], [-np.sin(pitch), 0, np.cos(pitch)]])
    rz = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    return rz @ ry @ rx


def test_euler_quaternion_round_trip_and_rotation_matrix():
    rng = np.random.default_rng(0)
    euler = rng.uniform([-3, -1.5, -3], [3, 1.5, 3], size=(50, 3))
    quat = euler_to_quat(euler)
    np.testing.assert_allclose(quat_to_euler(quat), euler, atol=1e-12)
    rot = quat_to_rotmat(quat)
    for k in (0, 7, 49):
        np.testing.assert_allclose(rot[k], _rpy_matrix(*euler[k]), atol=1e-12)


def test_rotation_matrix_of_a_quarter_yaw_turns_body_front_to_world_left():
    quat = np.array([[0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4)]])
    np.testing.assert_allclose(quat_to_rotmat(quat)[0] @ [1, 0, 0], [0, 1, 0], atol=1e-12)


def test_rotation_matrix_normalize_accepts_scaled_quaternions_in_any_batch_shape():
    rng = np.random.default_rng(1)
    quat = euler_to_quat(rng.uniform(-1, 1, (6, 3)))
    scaled = (quat * rng.uniform(0.5, 3.0, (6, 1))).reshape(2, 3, 4)
    rot = quat_to_rotmat(scaled, normalize=True)
    assert rot.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(rot.reshape(6, 3, 3), quat_to_rotmat(quat), atol=1e-12)
    np.testing.assert_allclose(rot @ np.swapaxes(rot, -1, -2), np.broadcast_to(np.eye(3), rot.shape), atol=1e-12)
    assert quat_to_rotmat(quat[0]).shape == (3, 3)  # one quaternion, no batch axis


def test_quaternion_product_composes_rotations():
    rng = np.random.default_rng(2)
    a, b = euler_to_quat(rng.uniform(-1, 1, (5, 3))), euler_to_quat(rng.uniform(-1, 1, (5, 3)))
    np.testing.assert_allclose(quat_to_rotmat(quat_multiply(a, b)), quat_to_rotmat(a) @ quat_to_rotmat(b), atol=1e-12)
