"""Training benchmark: env-steps/s during training and wall time to 90 % / 95 % validation success, as JSON.

Runs the scenario's default training (or reads a finished run with ``--run``) and prints one JSON line.
The reference point: gym-pybullet-drones' PPO example trains at about 1,000 env-steps/s on this machine.

Usage: python scripts/bench_train.py [--env obstacle-course] [--steps N] [--inline-eval] [--run RUN_DIR]

``--inline-eval`` evaluates in the training process (the way runs did before evaluations moved to a second
process), for a side-by-side baseline; the learning curve is identical, only the wall time differs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tinyrl.train.run import RunOptions, load_state
from tinyrl.train.trainer import train


def first_reaching(evaluations: list[dict], level: float) -> float | None:
    """Wall time (s) of the first evaluation at or above ``level`` success, or None."""
    return next((e["wall_time_s"] for e in evaluations if e["success_rate"] >= level), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="obstacle-course")
    parser.add_argument("--steps", type=int, default=None, help="env steps (default: the scenario's)")
    parser.add_argument("--run", type=Path, default=None, help="summarize this finished run instead of training")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    parser.add_argument("--inline-eval", action="store_true", help="evaluate in the training process (baseline)")
    args = parser.parse_args()
    options = RunOptions(
        env=args.env, steps=args.steps, out=args.out, progress=False, background_eval=not args.inline_eval
    )
    run_dir = args.run or train(options)
    state = load_state(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    evaluations = state.evaluations
    print(
        json.dumps(
            {
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
        )
    )


if __name__ == "__main__":
    main()
