"""``tinyrl compare``: teacher vs float student vs int8 student, written into manifest.json."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from tinyrl.cli import app
from tinyrl.common.policy import MlpPolicy, PolicyError
from tinyrl.compress.compare import compare
from tinyrl.compress.distill import DistillOptions, distill, write_distill_outputs
from tinyrl.compress.shrink import quantize_student
from tinyrl.errors import ConfigError
from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.features import observation_size
from tinyrl.train.ship import update_manifest

ROOT = Path(__file__).parents[2]


def make_policy_folder(folder: Path, env_name: str, head: str) -> tuple[Path, Path]:
    """teacher.npz (seeded random MLP) + a one-iteration student + its int8 model, for a tiny scenario."""
    data = yaml.safe_load((ROOT / "envs" / f"{env_name}.yaml").read_text())
    data["course_pool_size"] = 10
    data["episode_s"] = 4.0  # short episodes keep closed-loop evaluation quick
    env = folder / f"{env_name}.yaml"
    env.write_text(yaml.safe_dump(data))
    config = load_scenario(env)
    sizes = [observation_size(config), 16, 4 if head == "clip" else len(config.action.discrete_actions)]
    rng = np.random.default_rng(7)
    weights = tuple((rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32) for i, o in itertools.pairwise(sizes))
    biases = tuple((0.1 * rng.standard_normal(o)).astype(np.float32) for o in sizes[1:])
    teacher = MlpPolicy(weights, biases, "tanh", head)  # type: ignore[arg-type]
    teacher.save(folder / "teacher.npz")
    options = DistillOptions(
        arch=(16,), iterations=1, n_drones=16, steps_per_iteration=1500, epochs=5, eval_episodes=0, progress=False
    )
    result = distill(config, teacher, options)
    write_distill_outputs(result, folder, options, {"env": str(env)})
    quantize_student(folder / "student.keras", folder / "policy_int8.tflite")
    return folder, env


@pytest.fixture(scope="module")
def hover_folder(tmp_path_factory):
    return make_policy_folder(tmp_path_factory.mktemp("hover"), "hover", "clip")


def test_compare_cli_writes_three_rows_into_the_manifest(hover_folder, tmp_path):
    folder, env = hover_folder
    (folder / "manifest.json").write_text(json.dumps({"scenario": "hover", "teacher": {"success_rate": 0.9}}))
    out = tmp_path / "compare.json"
    args = ["compare", str(folder), "--env", str(env), "--episodes", "4", "--agreement-steps", "800"]
    result = CliRunner().invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "teacher" in result.output and "int8" in result.output
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["scenario"] == "hover" and manifest["teacher"] == {"success_rate": 0.9}  # merged, not replaced
    rows = {row["name"]: row for row in manifest["compression"]["rows"]}
    assert list(rows) == ["teacher", "student", "int8"]
    assert json.loads(out.read_text()) == manifest["compression"]
    assert rows["teacher"]["agreement"]["mean_abs_diff"] == 0.0
    obs = observation_size(load_scenario(env))
    assert rows["student"]["parameters"] == rows["int8"]["parameters"] == obs * 16 + 16 + 16 * 4 + 4
    assert rows["student"]["bytes"] == 4 * rows["student"]["parameters"]
    assert rows["int8"]["bytes"] == obs * 16 + 16 * 4 + 4 * (16 + 4)  # int8 weights + int32 biases
    assert rows["int8"]["agreement"]["mean_abs_diff"] < 0.1
    for row in rows.values():
        assert 0.0 <= row["success_rate"] <= 1.0 and len(row["success_ci95"]) == 2


def test_compare_is_deterministic(hover_folder):
    folder, env = hover_folder
    config = load_scenario(env)
    first = compare(folder, config, episodes=3, seed=2, agreement_steps=500)
    assert first == compare(folder, config, episodes=3, seed=2, agreement_steps=500)


def test_compare_discrete_uses_same_action_agreement(tmp_path):
    folder, env = make_policy_folder(tmp_path, "source-seeking", "argmax")
    result = compare(folder, load_scenario(env), episodes=2, agreement_steps=500)
    rows = {row["name"]: row for row in result["rows"]}
    assert set(rows) == {"teacher", "student", "int8"}
    assert rows["teacher"]["agreement"] == {"same_action": 1.0}
    assert 0.0 <= rows["int8"]["agreement"]["same_action"] <= 1.0


def test_compare_errors(hover_folder, tmp_path):
    folder, env = hover_folder
    with pytest.raises(PolicyError, match=r"no teacher\.npz"):
        compare(tmp_path, load_scenario(env), episodes=1)
    with pytest.raises(PolicyError, match="observations"):  # hover policies in the obstacle course
        compare(folder, load_scenario("obstacle-course", {"course_pool_size": 5}), episodes=1)
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        update_manifest(tmp_path, "compression", {})
