from pathlib import Path

import numpy as np
import pytest
import yaml

from tinyrl.errors import ConfigError
from tinyrl.sim.params import (
    DEFAULT_MODEL_PATH,
    ControllerParams,
    DroneParamArrays,
    DroneParams,
    QuadrotorConfig,
    load_controller_params,
    load_drone_params,
    load_quadrotor_config,
)


def test_defaults_match_published_crazyflie_numbers():
    d = DroneParams()
    assert d.mass_kg == 0.027 and d.arm_m == 0.0397
    assert d.hover_rpm == pytest.approx(14468, rel=2e-3)
    assert d.max_rpm == pytest.approx(21702, rel=2e-3)


def test_packaged_yaml_equals_code_defaults():
    assert load_quadrotor_config() == QuadrotorConfig()
    assert load_drone_params() == DroneParams()
    assert load_controller_params() == ControllerParams()


def test_thrust_base_is_nominal_hover_command():
    # The feed-forward must match the model, or every take-off starts with a dip the integrators must absorb.
    d, c = DroneParams(), ControllerParams()
    assert c.thrust_map == "battery_compensated"
    hover_request = d.weight_n / 4.0 / c.thrust_max_n * 65535.0  # a command is a thrust request
    assert c.thrust_base_pwm == pytest.approx(hover_request, rel=0.01)
    # The linear map (another drone's option) is the Crazyflie 2.0 identification of this drone.
    hover_pwm = (d.hover_rpm - c.pwm_to_rpm_offset) / c.pwm_to_rpm_scale
    assert hover_pwm == pytest.approx(38750.0, rel=0.01)
    assert c.pwm_to_rpm_scale * 65535.0 + c.pwm_to_rpm_offset == pytest.approx(d.max_rpm, rel=0.01)


def _write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(DEFAULT_MODEL_PATH.read_text())
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["drone"].update(mass_kg=-0.027), "drone.mass_kg"),
        (lambda d: d["drone"].update(mass_gk=0.027), "drone.mass_gk"),
        (lambda d: d["drone"].update(mass_kg="heavy"), "drone.mass_kg"),
        (lambda d: d["drone"].update(motor_tau_s=0.0), "drone.motor_tau_s"),
        (lambda d: d["drone"].update(thrust_to_weight=0.9), "drone.thrust_to_weight"),
        (lambda d: d["controller"]["roll_rate"].update(kp=[1, 2]), "controller.roll_rate.kp"),
        (lambda d: d["controller"].update(tilt_limit_deg=95.0), "controller.tilt_limit_deg"),
        (lambda d: d["controller"].update(position_rate_hz=300.0), "controller.position_rate_hz"),
    ],
)
def test_bad_file_names_the_field(tmp_path, mutate, field):
    path = _write(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_drone_params(path)
    assert str(path) in str(err.value)
    assert field in str(err.value)


def test_missing_file_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_drone_params(tmp_path / "nope.yaml")


def test_param_arrays_assign_and_update_keep_derived_in_sync():
    arrays = DroneParamArrays(4)
    heavy = DroneParams(mass_kg=0.03, izz_kg_m2=3e-5)
    arrays.assign([1, 3], heavy)
    np.testing.assert_array_equal(arrays.mass_kg, [0.027, 0.03, 0.027, 0.03])
    assert arrays.hover_rpm[1] == pytest.approx(heavy.hover_rpm)
    assert arrays.inv_inertia[3, 2] == pytest.approx(1 / 3e-5)
    arrays.update(np.array([0]), kf_n_per_rpm2=4e-10)
    assert arrays.max_rpm[0] == pytest.approx(DroneParams(kf_n_per_rpm2=4e-10).max_rpm)
    assert arrays.params_of(1) == heavy


@pytest.mark.parametrize(("field", "value"), [("mass_kg", -1.0), ("thrust_to_weight", 1.0), ("mass", 1.0)])
def test_param_arrays_update_rejects_bad_values(field, value):
    with pytest.raises(ConfigError, match=field):
        DroneParamArrays(2).update([0], **{field: value})


def test_param_arrays_declare_every_field_for_the_type_checker():
    # The arrays are set by name from DroneParams' fields; the class declares them so mypy checks attribute use.
    declared = {name for name, kind in DroneParamArrays.__annotations__.items() if kind == "np.ndarray"}
    assert declared == set(DroneParams.model_fields)
