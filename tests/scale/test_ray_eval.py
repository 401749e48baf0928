import json
import os
import subprocess
import sys

import yaml
from scenario_support import ROOT, leaning_mlp

from tinyrl.common.evaluate import evaluate
from tinyrl.scale.ray_eval import evaluate_on_ray, shard_bounds
from tinyrl.sim.course import load_courses
from tinyrl.tasks.config import load_scenario


def forward_policy(path):
    """A seeded random MLP that leans forward, so episodes end in a mix of outcomes."""
    policy = leaning_mlp()
    policy.save(path, {"note": "test"})
    return policy


def test_shard_bounds_cover_every_episode_once():
    for episodes, shards in [(200, 4), (7, 3), (5, 10), (1, 1), (1000, 8)]:
        bounds = shard_bounds(episodes, shards)
        assert [j for a, b in bounds for j in range(a, b)] == list(range(episodes))
        assert len(bounds) <= shards


def test_ray_eval_equals_local_eval_on_200_courses(tmp_path):
    forward_policy(tmp_path / "p.npz")
    # Shorter episodes keep the test quick; every course and seed is still the local evaluation's.
    data = yaml.safe_load((ROOT / "envs" / "obstacle-course.yaml").read_text())
    data["episode_s"] = 6.0
    env = tmp_path / "short.yaml"
    env.write_text(yaml.safe_dump(data))
    env_vars = {**os.environ, "PYTHONPATH": str(ROOT)}
    results = {}
    for backend in ("local", "ray"):
        out = tmp_path / f"{backend}.json"
        cmd = [sys.executable, "-m", "tinyrl", "eval", str(tmp_path / "p.npz"), "--env", str(env)]
        cmd += ["--episodes", "200", "--seed", "7", "--backend", backend, "--json", str(out)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env_vars)
        assert done.returncode == 0, done.stderr[-3000:]
        results[backend] = json.loads(out.read_text())
    local, ray = results["local"], results["ray"]
    assert local == ray  # aggregates, per-course rows and every episode (course, seed, outcome, time, reward)
    assert local["episodes"] == 200 and len({e["course"] for e in local["episode_results"]}) == 200
    assert [e["seed"] for e in ray["episode_results"]] == list(range(7, 207))
    assert len({e["outcome"] for e in local["episode_results"]}) >= 2  # a comparison with something to compare


def test_ray_eval_with_a_course_file_keeps_course_and_seed_of_each_episode(tmp_path):
    policy = forward_policy(tmp_path / "p.npz")
    config = load_scenario("obstacle-course", {"episode_s": 4.0})
    courses = load_courses(ROOT / "envs" / "courses" / "handmade.json")
    episodes = 3 * len(courses) + 2  # wraps around the file, and shards start mid-file
    local = evaluate(policy, config, courses, episodes, seed=3)
    sharded = evaluate_on_ray(tmp_path / "p.npz", config, courses, episodes, seed=3, shards=3)
    assert sharded.to_dict() == local.to_dict()


def test_ray_eval_of_mixed_randomized_courses_equals_local(tmp_path):
    policy = forward_policy(tmp_path / "p.npz")
    config = load_scenario("obstacle-course", {"episode_s": 4.0})
    local = evaluate(policy, config, None, 10, seed=2, difficulty="mix", randomize=True)
    sharded = evaluate_on_ray(tmp_path / "p.npz", config, None, 10, seed=2, shards=3, difficulty="mix", randomize=True)
    assert sharded.to_dict() == local.to_dict()
    assert local.to_dict() != evaluate(policy, config, None, 10, seed=2, difficulty="mix").to_dict()
