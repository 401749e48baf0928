import json
import subprocess
import sys

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


def _alias_bomb(levels: int) -> str:
    """A scenario whose ``train.hyperparameters`` nest aliases ``levels`` deep, each level 10x the one below."""
    lines = ["name: bomb", "task: obstacle-course", "train:", "  hyperparameters:", '    a0: &a0 ["xxxxxxxxxx"]']
    for k in range(1, levels + 1):
        refs = ", ".join([f"*a{k - 1}"] * 10)
        lines.append(f"    a{k}: &a{k} [{refs}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb(9))  # 1.2 KB that would expand to 10^9 strings
    assert path.stat().st_size < 2000
    with pytest.raises(ConfigError, match=r"bomb\.yaml: its aliases expand to more than 2,000,000 YAML nodes"):
        read_data_file(path)


def test_ordinary_aliases_still_work(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(_alias_bomb(3))  # 10^3 strings: aliases are a fine YAML feature at a sane size
    data = read_data_file(path)
    assert len(data["train"]["hyperparameters"]["a3"]) == 10
    assert data["train"]["hyperparameters"]["a3"][0][0][0] == ["xxxxxxxxxx"]


def test_a_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [1, *a]\n")
    with pytest.raises(ConfigError, match="recursive alias"):
        read_data_file(path)


def test_an_oversize_data_file_is_refused_unread(tmp_path):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as f:
        f.truncate(17 * 2**20)  # sparse: the size check must come before any read
    with pytest.raises(ConfigError, match=r"huge\.yaml: 17\.0 MB is over the 16 MB limit"):
        read_data_file(path)


def test_the_cli_reports_an_alias_bomb_in_one_line(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb(9))
    result = subprocess.run(
        [sys.executable, "-m", "tinyrl", "courses", "generate", "--env", str(path), "-o", str(tmp_path / "c.json")],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,  # a hang guard only: the refusal takes well under a second
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "aliases expand" in result.stderr
