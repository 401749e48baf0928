"""TinyRL's inner loop against the Crazyflie firmware's own controller, recorded from crazyflie-firmware 2a18fc29.

``tests/data/firmware_controller_2a18fc29.npz`` was made by ``scripts/record_firmware_controller.py``: it compiled
the firmware's ``controller_pid.c`` (and the PID, filter, mixer and battery-compensation code it runs) for the host
and recorded every stage for random states and hover setpoints (open loop), and the firmware controller flying
TinyRL's drone through step responses (closed loop). The firmware computes in float32 and TinyRL in float64, so
float stages agree to float32 rounding; an integer stage fed the firmware's own input agrees to 1 PWM (a value
within rounding of an integer may truncate either way).
"""

from pathlib import Path

import numpy as np
import pytest

from tinyrl.sim.controller import CascadeController, cap_motors, compensate_battery, legacy_mixer
from tinyrl.sim.drone import Quadrotors
from tinyrl.sim.dynamics import RigidBodyState
from tinyrl.sim.params import QuadrotorConfig
from tinyrl.sim.rotation import quat_to_euler

DATA = Path(__file__).resolve().parent.parent / "data" / "firmware_controller_2a18fc29.npz"


@pytest.fixture(scope="module")
def recording():
    with np.load(DATA, allow_pickle=False) as f:
        return {key: f[key] for key in f.files}


def _config(battery_v: float) -> QuadrotorConfig:
    base = QuadrotorConfig()
    return base.model_copy(update={"controller": base.controller.model_copy(update={"battery_voltage_v": battery_v})})


def _replay_open_loop(rec):
    """TinyRL's controller fed the recorded states and setpoints; returns its stages (S, T, 23) in firmware columns."""
    n_seq, n_ticks = rec["pos"].shape[:2]
    out = np.empty((n_seq, n_ticks, 23))
    for s in range(n_seq):
        config = _config(float(rec["battery_v"][s]))
        ctrl = CascadeController(1, config)
        state = RigidBodyState.zeros(1)
        for t in range(n_ticks):
            for key in ("pos", "vel", "quat", "omega"):
                getattr(state, key)[0] = rec[key][s, t]
            if t == 0:
                ctrl.reset([0], quat_to_euler(state.quat), state.pos)
            ctrl.update(state, rec["setpoint"][s, t][None], "hover")
            # The firmware keeps pitch with the opposite sign and logs the negated yaw output (control->yaw).
            flip = np.array([1.0, -1.0, 1.0])
            out[s, t] = np.concatenate(
                [
                    ctrl.attitude_des_deg[0] * flip,
                    ctrl.rate_des_dps[0] * flip,
                    [ctrl.vz_des_mps[0], ctrl.thrust_pwm[0]],
                    ctrl.rate_out[0] * [1.0, -1.0, -1.0],
                    ctrl.motor_request[0],
                    compensate_battery(ctrl.motor_request, config.controller)[0],
                    ctrl.motor_pwm[0],
                ]
            )
    return out


@pytest.fixture(scope="module")
def replay(recording):
    return _replay_open_loop(recording)


def _columns(rec, *names):
    index = [list(rec["out_names"]).index(n) for n in names]
    return index


def test_recording_names_its_firmware_and_covers_the_hard_cases(recording):
    assert str(recording["firmware_commit"]).startswith("2a18fc29")
    fw = recording["fw_out"].reshape(-1, 23)
    col = {name: i for i, name in enumerate(recording["out_names"])}
    batcomp = fw[:, col["batcomp_m1"] : col["batcomp_m4"] + 1]
    assert (batcomp.max(axis=1) > 65535).mean() > 0.01  # the saturation shift happens
    assert (np.abs(fw[:, col["vz_desired"]]) >= 1.0999).mean() > 0.01  # the climb-rate limit binds
    assert (np.abs(fw[:, col["control_roll"] : col["control_yaw"] + 1]) == 32767).any()  # int16 saturation
    yaw = np.degrees(quat_to_euler(recording["quat"].reshape(-1, 4))[:, 2])
    assert (np.abs(np.diff(yaw)) > 300).any()  # the measured yaw crosses ±180 deg


@pytest.mark.parametrize(
    ("names", "rel", "abs_"),
    [
        (("attitude_desired_roll", "attitude_desired_pitch"), 1e-5, 1e-4),  # deg, velocity PIDs + tilt limit
        (("attitude_desired_yaw",), 0.0, 2e-3),  # deg: 150 float32 sums of yaw rate x dt near ±180
        (("vz_desired",), 1e-5, 1e-6),  # m/s, height PID + climb-rate limit
        (("actuator_thrust",), 1e-6, 0.05),  # PWM, vz PID x thrust scale + base, thrust min
        (("rate_desired_roll", "rate_desired_pitch"), 1e-5, 1e-3),  # deg/s, attitude PIDs
        (("rate_desired_yaw",), 1e-5, 2e-2),  # deg/s: the yaw setpoint's rounding times kp 6
    ],
)
def test_float_stages_match_the_firmware(recording, replay, names, rel, abs_):
    cols = _columns(recording, *names)
    fw = recording["fw_out"][..., cols].astype(float)
    np.testing.assert_allclose(replay[..., cols], fw, rtol=rel, atol=abs_)


def test_rate_loop_int16_outputs_match_the_firmware(recording, replay):
    cols = _columns(recording, "control_roll", "control_pitch", "control_yaw")
    diff = np.abs(replay[..., cols] - recording["fw_out"][..., cols])
    assert diff.max() <= 1.0
    # The D term (kd 2.5 / 2 ms) magnifies the float32 rounding of the gyro reading, so a few percent of the
    # outputs sit within rounding of an integer and truncate either way; rounding instead of truncating would
    # change about half of them.
    assert (diff == 0).mean() > 0.9


def test_mixer_battery_compensation_and_cap_match_the_firmware_stage_by_stage(recording):
    """Each motor stage fed the firmware's own input: mixer, thrust-request compensation, saturation shift."""
    fw = recording["fw_out"].astype(float)
    col = {name: i for i, name in enumerate(recording["out_names"])}
    n_ticks = fw.shape[1]
    thrust = fw[..., col["actuator_thrust"]].reshape(-1)
    control = fw[..., [col["control_roll"], col["control_pitch"], col["control_yaw"]]].reshape(-1, 3)
    uncapped = fw[..., col["uncapped_m1"] : col["uncapped_m4"] + 1].reshape(-1, 4)
    batcomp = fw[..., col["batcomp_m1"] : col["batcomp_m4"] + 1].reshape(-1, 4)
    pwm = fw[..., col["pwm_m1"] : col["pwm_m4"] + 1].reshape(-1, 4)
    ours_mix = legacy_mixer(thrust, control * [1.0, -1.0, -1.0])
    assert np.abs(ours_mix - uncapped).max() <= 1.0
    battery_v = np.repeat(recording["battery_v"], n_ticks)
    for v in np.unique(battery_v):
        rows = battery_v == v
        ours_comp = compensate_battery(uncapped[rows], _config(float(v)).controller)
        assert np.abs(ours_comp - batcomp[rows]).max() <= 1.0, f"battery {v} V"
    np.testing.assert_array_equal(cap_motors(batcomp), pwm)


def test_motor_commands_match_the_firmware_end_to_end(recording, replay):
    cols = _columns(recording, "pwm_m1", "pwm_m2", "pwm_m3", "pwm_m4")
    diff = np.abs(replay[..., cols] - recording["fw_out"][..., cols])
    # One rate output truncating the other way moves a motor by at most its half in the mixer plus one in the
    # compensation; each stage alone agrees to 1 PWM (the stage-by-stage test).
    assert diff.max() <= 2.0
    assert (diff == 0).mean() > 0.85


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_closed_loop_step_responses_match_the_firmware_within_a_millimetre(recording, backend):
    n_steps = recording["closed_pos"].shape[1]
    assert n_steps * 0.002 >= 3.0
    for k, name in enumerate(recording["closed_names"]):
        quads = Quadrotors(1, _config(float(recording["closed_battery_v"][k])), backend=backend)
        quads.reset([0], np.array([[0.0, 0.0, 1.0]]))
        pos = np.empty((n_steps, 3))
        for t in range(n_steps):
            quads.step(recording["closed_setpoint"][k][None], n_physics_steps=1)
            pos[t] = quads.pos[0]
        err_m = np.abs(pos - recording["closed_pos"][k]).max()
        assert err_m < 1e-3, f"{name}: {err_m * 1e3:.3f} mm apart"
        moved_m = np.abs(recording["closed_pos"][k] - [0.0, 0.0, 1.0]).max()
        assert moved_m > 0.1 or name == "yaw_rate_step", name
