"""``scripts/bench_train.py --seeds``: a smoke run on a tiny hover budget, checked against the runs it made."""

import importlib.util
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import yaml
from scenario_support import ROOT, tiny_scenario

from tinyrl.common.evaluate import evaluate
from tinyrl.compress.artefacts import INT8_FILE, load_policy
from tinyrl.compress.shrink import quantize_student
from tinyrl.train.run import load_state, read_config

PER_SEED_KEYS = {"seed", "success_medium", "success_hard", "wall_s", "time_to_90_s", "time_to_95_s", "env_steps_per_s"}


def hover_with_medium_and_hard(tmp_path):
    """The tiny hover scenario whose generator has the two levels the benchmark scores (open arenas)."""
    path = tiny_scenario(tmp_path, "hover", steps=2048, eval_every_steps=1024, eval_episodes=4)
    data = yaml.safe_load(path.read_text())
    data["difficulty"] = "medium"
    data["course_generator"] = {
        "default_difficulty": "medium",
        "difficulties": {
            "medium": {"arena_size_m": [4.0, 4.0, 2.5], "obstacle_density_per_m2": 0.0},
            "hard": {"arena_size_m": [3.0, 3.0, 2.5], "obstacle_density_per_m2": 0.0},
        },
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))  # bench_train scores levels in the listed order
    return path


def quantized(teacher: Path, folder: Path) -> tuple[Path, dict]:
    """``teacher`` quantized as ``tinyrl quantize`` does, alone in ``folder``, calibrated on its run's scenario;
    the int8 file and its sidecar."""
    folder.mkdir()
    (folder / teacher.name).write_bytes(teacher.read_bytes())
    meta = quantize_student(folder / teacher.name, folder / INT8_FILE, env=str(teacher.parent.parent / "config.yaml"))
    return folder / INT8_FILE, meta


def test_bench_train_seeds_prints_per_seed_results_with_median_and_worst(tmp_path):
    env = hover_with_medium_and_hard(tmp_path)
    cmd = [sys.executable, str(ROOT / "scripts" / "bench_train.py"), "--env", str(env), "--seeds", "0,1"]
    cmd += ["--eval-episodes", "4", "--sim-seconds", "0.2", "--out", str(tmp_path / "runs")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = done.stdout.strip().splitlines()  # stdout holds the JSON line only
    out = json.loads(line)
    assert out["bench"] == "train_seeds" and out["env"] == "hover" and out["seeds"] == [0, 1]
    rows = out["per_seed"]
    assert [row["seed"] for row in rows] == [0, 1] and all(row.keys() >= PER_SEED_KEYS for row in rows)
    for key in ("success_medium", "success_hard"):
        values = [row[key] for row in rows]
        worst = min(rows, key=lambda row: row[key])
        assert out[key] == {"median": statistics.median(values), "worst": min(values), "worst_seed": worst["seed"]}
    for row in rows:  # every number comes from the run that seed trained
        run_dir = tmp_path / "runs" / "hover" / os.path.basename(row["run"])
        state, config = load_state(run_dir), read_config(run_dir)
        assert config.train.seed == row["seed"] and state.finished and row["steps"] == state.num_timesteps >= 2048
        assert row["wall_s"] == round(state.wall_time_s, 1) and row["env_steps_per_s"] > 0
        reached = [e["wall_time_s"] for e in state.evaluations if e["success_rate"] >= 0.9]
        assert row["time_to_90_s"] == (reached[0] if reached else None)
        best = load_policy(run_dir / "best" / "teacher.npz")
        for level in ("medium", "hard"):
            unseen = evaluate(best, config, None, 4, seed=0, difficulty=level)
            assert row[f"success_{level}"] == unseen.success_rate
    assert out["bench_sim_env_steps_per_s_n256"] > 0
    assert out["machine"]["cpu_count"] == os.cpu_count() and out["machine"]["cpu_model"]
    assert out["eval_episodes"] == 4 and out["eval_seed"] == 0

    # --runs scores the same finished runs again without training: the same numbers, no new run folder; --int8
    # adds each seed's int8 model, scored on the same courses.
    run_dirs = [str(tmp_path / "runs" / "hover" / os.path.basename(row["run"])) for row in rows]
    again = subprocess.run(
        [*cmd, "--runs", ",".join(run_dirs), "--int8"], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr[-3000:]
    rescored = json.loads(again.stdout.strip())
    for key in ("success_medium", "success_hard", "wall_s", "steps"):
        assert [row[key] for row in rescored["per_seed"]] == [row[key] for row in rows]
    for row, run_dir in zip(rescored["per_seed"], run_dirs, strict=True):
        config = read_config(Path(run_dir))
        int8_path, meta = quantized(Path(run_dir) / "best" / "teacher.npz", tmp_path / f"int8-{row['seed']}")
        for level in ("medium", "hard"):
            unseen = evaluate(load_policy(int8_path), config, None, 4, seed=0, difficulty=level)
            assert row[f"int8_success_{level}"] == unseen.success_rate
        # The agreement (on the calibration rollouts) fingerprints which teacher and calibration were quantized.
        assert row["int8_agreement_with_float"] == meta["agreement_with_float_student"]
        assert row["int8_parameter_bytes"] == meta["parameter_bytes"]
    for key in ("int8_success_medium", "int8_success_hard"):
        values = [row[key] for row in rescored["per_seed"]]
        assert rescored[key]["median"] == statistics.median(values) and rescored[key]["worst"] == min(values)
    assert len(list((tmp_path / "runs" / "hover").iterdir())) == 2
    swapped = subprocess.run(
        [*cmd, "--runs", ",".join(reversed(run_dirs))], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert swapped.returncode != 0 and "is not a finished run of seed 0" in swapped.stderr


def test_bench_train_rejects_bad_seed_lists(tmp_path):
    script = str(ROOT / "scripts" / "bench_train.py")
    for seeds, message in (("0,x", "comma-separated integers"), ("1,1", "repeats a seed")):
        done = subprocess.run([sys.executable, script, "--seeds", seeds], capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 2 and message in done.stderr
    done = subprocess.run([sys.executable, script, "--int8"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and "--int8 scores each seed of --seeds" in done.stderr


def bench_module():
    spec = importlib.util.spec_from_file_location("bench_train", ROOT / "scripts" / "bench_train.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_levels_scored_are_the_scenarios_own_and_every_harder_one():
    from tinyrl.tasks.config import load_scenario

    bench = bench_module()
    assert bench.bench_levels(load_scenario("obstacle-course")) == ("medium", "hard")
    assert bench.bench_levels(load_scenario("source-seeking-paper")) == ("easy", "medium", "hard")
    assert bench.bench_levels(load_scenario("obstacle-course", {"difficulty": "hard"})) == ("hard",)


def test_median_and_worst_seed_of_distinct_results():
    bench = bench_module()
    rows = [{"seed": 0, "success_hard": 0.9}, {"seed": 1, "success_hard": 0.7}, {"seed": 2, "success_hard": 0.95}]
    assert bench.summary(rows, "success_hard") == {"median": 0.9, "worst": 0.7, "worst_seed": 1}
    assert bench.summary(rows[:2], "success_hard") == {"median": 0.8, "worst": 0.7, "worst_seed": 1}
    assert (
        bench.first_reaching([{"wall_time_s": 5, "success_rate": 0.89}, {"wall_time_s": 9, "success_rate": 0.9}], 0.9)
        == 9
    )
    assert bench.first_reaching([{"wall_time_s": 5, "success_rate": 0.5}], 0.95) is None
