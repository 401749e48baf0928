"""Training benchmark: env-steps/s during training and wall time to 90 % / 95 % validation success, as JSON.

Runs the scenario's default training (or reads a finished run with ``--run``) and prints one JSON line.
The reference point: gym-pybullet-drones' PPO example trains at about 1,000 env-steps/s on this machine.

Usage: python scripts/bench_train.py [--env obstacle-course] [--steps N] [--inline-eval] [--run RUN_DIR]
       python scripts/bench_train.py [--env obstacle-course] --seeds 0,1,2 [--steps N] [--eval-episodes 200] [--int8]

``--seeds ... --runs DIR,DIR,...`` scores finished runs instead of training them (one per seed, in the same order;
each must have finished with that seed), e.g. runs trained side by side with ``scripts/train.py --seed S``.

``--inline-eval`` evaluates in the training process (the way runs did before evaluations moved to a second
process), for a side-by-side baseline; the learning curve is identical, only the wall time differs.

``--seeds`` trains one run per seed, one after the other, with the default command's settings (``tinyrl train
--env ENV --seed S``), then flies the policy each run ships (its best validated one, or with ``train.average_from``
the mean of its last snapshots) on ``--eval-episodes`` unseen courses of the scenario's own level and of every level
its generator lists after it, the harder ones (``tinyrl eval --difficulty LEVEL --seed 0``:
generator seeds disjoint from the training pool's; the obstacle course: medium and hard; source seeking: easy, medium
and hard) and prints one JSON line: the ``levels`` scored; per seed the success rates (``success_LEVEL``), training
wall time, wall time to 90 % / 95 % validation success (null if never reached) and env-steps/s; the median and the
worst seed of each success rate; with ``--int8`` also each seed's shipped policy quantized as ``tinyrl quantize`` does
(calibrated on its own rollouts, seed 0) and scored on the same courses (``int8_success_LEVEL``, its median and worst,
and its agreement with the float policy on the calibration observations); ``bench_sim``'s env-steps/s of the
scenario with N = 256 drones on this machine (to read wall times relative to the machine); CPU count and model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from tinyrl.common.evaluate import eval_levels
from tinyrl.tasks.config import ScenarioConfig
from tinyrl.train.run import RunOptions, load_state, read_config, shipped_teacher
from tinyrl.train.trainer import train

#: The ``tinyrl eval --seed`` of the unseen courses every seed is scored on.
EVAL_SEED = 0
#: Drones of the ``bench_sim`` env measurement reported next to the training numbers.
SIM_DRONES = 256


def first_reaching(evaluations: list[dict], level: float) -> float | None:
    """Wall time (s) of the first evaluation at or above ``level`` success, or None."""
    return next((e["wall_time_s"] for e in evaluations if e["success_rate"] >= level), None)


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` → ``[0, 1, 2]`` (distinct integers)."""
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds takes comma-separated integers, got {text!r}") from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"--seeds repeats a seed: {text!r}")
    return seeds


def cpu_model() -> str | None:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), or None if unknown."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def summary(per_seed: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Median and worst seed of ``key`` over the per-seed rows."""
    worst = min(per_seed, key=lambda row: row[key])
    return {"median": statistics.median(row[key] for row in per_seed), "worst": worst[key], "worst_seed": worst["seed"]}


def bench_levels(config: ScenarioConfig) -> tuple[str, ...]:
    """The levels a run is scored on: the scenario's own and every one its generator lists after it (the harder)."""
    levels = list(config.course_generator.difficulties)
    return tuple(levels[levels.index(eval_levels(config)[0]) :])


def success_by_level(policy: Any, config: ScenarioConfig, episodes: int, prefix: str = "") -> dict[str, float]:
    """``{PREFIXsuccess_LEVEL: rate}`` of ``policy`` on ``episodes`` unseen courses of each of :func:`bench_levels`."""
    from tinyrl.common.evaluate import evaluate

    return {
        f"{prefix}success_{level}": evaluate(
            policy, config, None, episodes, seed=EVAL_SEED, difficulty=level
        ).success_rate
        for level in bench_levels(config)
    }


def int8_scores(run_dir: Path, teacher: Path, config: ScenarioConfig, episodes: int) -> dict[str, Any]:
    """``teacher`` quantized to int8 as ``tinyrl quantize`` does, scored as :func:`bench_seed` scores the teacher."""
    from tinyrl.compress.artefacts import INT8_FILE, load_policy
    from tinyrl.compress.shrink import quantize_student

    with tempfile.TemporaryDirectory(prefix="bench-int8-") as tmp:
        # A folder of its own: quantize would read a calibration.npz lying next to the teacher.
        source = Path(tmp) / teacher.name
        shutil.copyfile(teacher, source)
        meta = quantize_student(source, Path(tmp) / INT8_FILE, env=str(run_dir / "config.yaml"), seed=0)
        scores: dict[str, Any] = success_by_level(load_policy(Path(tmp) / INT8_FILE), config, episodes, "int8_")
    scores["int8_agreement_with_float"] = meta["agreement_with_float_student"]
    scores["int8_parameter_bytes"] = meta["parameter_bytes"]
    return scores


def bench_seed(options: RunOptions, episodes: int, int8: bool = False) -> dict[str, Any]:
    """Train one run and score the policy it ships (and, with ``int8``, its int8 model) on unseen courses of each of
    :func:`bench_levels`."""
    from rich.console import Console

    from tinyrl.compress.artefacts import load_policy

    run_dir = train(options, Console(stderr=True))  # stdout: the JSON line only
    state = load_state(run_dir)
    config = read_config(run_dir)
    teacher = shipped_teacher(run_dir)
    row: dict[str, Any] = {"seed": config.train.seed, "run": str(run_dir)}
    row.update(success_by_level(load_policy(teacher), config, episodes))
    if int8:
        row.update(int8_scores(run_dir, teacher, config, episodes))
    row.update(
        wall_s=round(state.wall_time_s, 1),
        time_to_90_s=first_reaching(state.evaluations, 0.90),
        time_to_95_s=first_reaching(state.evaluations, 0.95),
        env_steps_per_s=round(state.num_timesteps / max(state.wall_time_s, 1e-9)),
        steps=state.num_timesteps,
        best_validation_success=max((e["success_rate"] for e in state.evaluations), default=None),
    )
    return row


def seed_options(args: argparse.Namespace, seed: int, run: Path | None) -> RunOptions:
    """How seed ``seed`` is trained, or (``run``) the finished run that stands for it.

    Raises:
        SystemExit: ``run`` has not finished, or was trained with another seed.
    """
    if run is None:
        return RunOptions(
            env=args.env,
            steps=args.steps,
            seed=seed,
            out=args.out,
            progress=False,
            background_eval=not args.inline_eval,
        )
    try:
        state, config = load_state(run), read_config(run)
    except Exception as exc:  # one line, whatever is wrong with the folder
        raise SystemExit(f"bench_train.py: --runs: {run}: {exc}") from None
    if not state.finished or config.train.seed != seed:
        raise SystemExit(f"bench_train.py: --runs: {run} is not a finished run of seed {seed}")
    return RunOptions(resume=run, progress=False)


def bench_seeds(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--seeds`` benchmark (see the module docstring) as a JSON-ready dict."""
    runs = args.runs if args.runs is not None else [None] * len(args.seeds)
    per_seed = [
        bench_seed(seed_options(args, seed, run), args.eval_episodes, args.int8)
        for seed, run in zip(args.seeds, runs, strict=True)
    ]
    # Imported once training is done: bench_sim pins BLAS to one thread for the measurement's process.
    from bench_sim import env_steps_per_s

    config = read_config(Path(per_seed[0]["run"]))
    levels = bench_levels(config)
    scored = [f"success_{level}" for level in levels]
    if args.int8:
        scored += [f"int8_success_{level}" for level in levels]
    return {
        "bench": "train_seeds",
        "env": config.name,
        "algo": config.train.algo,
        "seeds": args.seeds,
        "background_eval": not args.inline_eval,
        "eval_episodes": args.eval_episodes,
        "eval_seed": EVAL_SEED,
        "levels": list(levels),
        "per_seed": per_seed,
        **{key: summary(per_seed, key) for key in scored},
        f"bench_sim_env_steps_per_s_n{SIM_DRONES}": round(env_steps_per_s(args.env, SIM_DRONES, args.sim_seconds)),
        "machine": {"cpu_count": os.cpu_count(), "cpu_model": cpu_model(), "python": platform.python_version()},
    }


def bench_run(args: argparse.Namespace) -> dict[str, Any]:
    """One run (trained now, or ``--run``): env-steps/s, wall time to 90 % / 95 %, final success."""
    options = RunOptions(
        env=args.env, steps=args.steps, out=args.out, progress=False, background_eval=not args.inline_eval
    )
    run_dir = args.run or train(options)
    state = load_state(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    evaluations = state.evaluations
    return {
        "bench": "train",
        "run": str(run_dir),
        "env": metrics["env"],
        "algo": metrics["algo"],
        "background_eval": not args.inline_eval if args.run is None else None,
        "steps": state.num_timesteps,
        "wall_time_s": round(state.wall_time_s, 1),
        "env_steps_per_s": round(state.num_timesteps / max(state.wall_time_s, 1e-9)),
        "wall_time_to_90pct_s": first_reaching(evaluations, 0.90),
        "wall_time_to_95pct_s": first_reaching(evaluations, 0.95),
        "best_validation_success": max((e["success_rate"] for e in evaluations), default=None),
        "final_success_unseen": metrics["evaluation"]["success_rate"],
        "final_success_ci95": metrics["evaluation"]["success_ci95"],
        "baseline_gym_pybullet_drones_env_steps_per_s": 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="obstacle-course")
    parser.add_argument("--steps", type=int, default=None, help="env steps (default: the scenario's)")
    parser.add_argument("--run", type=Path, default=None, help="summarize this finished run instead of training")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    parser.add_argument("--inline-eval", action="store_true", help="evaluate in the training process (baseline)")
    parser.add_argument("--seeds", type=parse_seeds, default=None, help="train these seeds, e.g. 0,1,2")
    parser.add_argument("--eval-episodes", type=int, default=200, help="--seeds: unseen courses per level scored")
    parser.add_argument("--int8", action="store_true", help="--seeds: also quantize and score each seed's int8")
    parser.add_argument("--sim-seconds", type=float, default=1.0, help="--seeds: bench_sim measuring time")
    parser.add_argument(
        "--runs",
        type=lambda text: [Path(p) for p in text.split(",")],
        default=None,
        help="--seeds: score these finished runs (one per seed, same order) instead of training",
    )
    args = parser.parse_args()
    if args.runs is not None and (args.seeds is None or len(args.runs) != len(args.seeds)):
        parser.error("--runs needs --seeds with one run per seed")
    if args.seeds is not None and args.run is not None:
        parser.error("--seeds trains new runs; it cannot be combined with --run")
    if args.int8 and args.seeds is None:
        parser.error("--int8 scores each seed of --seeds")
    if args.eval_episodes < 1:
        parser.error("--eval-episodes must be at least 1")
    print(json.dumps(bench_seeds(args) if args.seeds is not None else bench_run(args)))


if __name__ == "__main__":
    main()
