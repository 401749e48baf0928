import json

import pydantic
import pytest

from tinyrl.config import StrictModel, load_model, read_data_file, validate
from tinyrl.errors import ConfigError


class Inner(StrictModel):
    radius_m: float = pydantic.Field(gt=0)


class Outer(StrictModel):
    name: str
    items: list[Inner]


def test_validate_names_the_nested_field():
    with pytest.raises(ConfigError) as info:
        validate(Outer, {"name": "a", "items": [{"radius_m": 1.0}, {"radius_m": -2.0}]}, "c.yaml")
    msg = str(info.value)
    assert msg.startswith("c.yaml: items[1].radius_m: ")
    assert "greater than 0" in msg
    assert "\n" not in msg


def test_unknown_key_is_an_error():
    with pytest.raises(ConfigError, match=r"c.yaml: items\[0\].radius: Extra inputs are not permitted"):
        validate(Outer, {"name": "a", "items": [{"radius_m": 1.0, "radius": 2}]}, "c.yaml")


def test_counts_further_problems():
    with pytest.raises(ConfigError, match=r"and 1 more problem"):
        validate(Outer, {"items": [{"radius_m": 0}]}, "c.yaml")


def test_read_data_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        read_data_file(tmp_path / "missing.yaml")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"a": 1,,}')
    with pytest.raises(ConfigError, match=r"bad.json: invalid JSON at line 1"):
        read_data_file(bad_json)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("a: [1, 2\nb: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: invalid YAML at line"):
        read_data_file(bad_yaml)


def test_load_model_roundtrip(tmp_path):
    path = tmp_path / "ok.json"
    path.write_text(json.dumps({"name": "x", "items": [{"radius_m": 0.5}]}))
    assert load_model(Outer, path) == Outer(name="x", items=[Inner(radius_m=0.5)])
