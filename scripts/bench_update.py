"""PPO's update in one process and split over two (``gradient_processes``), side by side, as one JSON line.

Flies one rollout with the scenario's training settings and a fresh policy (the obstacle course: 256 drones x 64
steps, minibatches of 4,096 rows, 4 epochs), then times PPO's update on that rollout with 1 and with 2 processes in
turn, each time from the same weights, and prints the median seconds of each, their ratio and the machine.

Usage: python scripts/bench_update.py [--env obstacle-course] [--repeats 7] [--seed 0]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from bench_train import cpu_model

from tinyrl.tasks.config import load_scenario
from tinyrl.tasks.vec_env import TinyRLVecEnv
from tinyrl.train.run import make_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="obstacle-course")
    parser.add_argument("--repeats", type=int, default=7, help="updates timed per setting")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    torch.set_num_threads(1)  # as training does
    config = load_scenario(args.env, {"train": {"seed": args.seed}})
    if config.train.algo != "ppo":
        parser.error(f"{args.env} trains {config.train.algo}; this benchmark times PPO's update")
    critic_inputs = bool(config.train.critic_features)
    env = TinyRLVecEnv(config, n_envs=config.train.n_envs, seed=args.seed, critic_inputs=critic_inputs)
    with tempfile.TemporaryDirectory() as tmp:
        model = make_model(config, env, Path(tmp))
        model.gradient_processes = 1
        model.learn(model.n_steps * env.num_envs)  # one rollout in the buffer, one update on it
        weights = copy.deepcopy(model.policy.state_dict())
        optimizer = copy.deepcopy(model.policy.optimizer.state_dict())
        seconds: dict[int, list[float]] = {1: [], 2: []}
        try:
            for repeat in range(args.repeats + 1):  # the first round warms up (and starts the helper): not timed
                for processes in (1, 2):
                    model.policy.load_state_dict(weights)
                    model.policy.optimizer.load_state_dict(optimizer)
                    model.gradient_processes = processes
                    start = time.perf_counter()
                    model.train()
                    if repeat:
                        seconds[processes].append(time.perf_counter() - start)
        finally:
            model.stop_helper()
            env.close()
    one, two = statistics.median(seconds[1]), statistics.median(seconds[2])
    print(
        json.dumps(
            {
                "bench": "ppo_update",
                "env": args.env,
                "rollout_rows": model.n_steps * config.train.n_envs,
                "batch_size": model.batch_size,
                "n_epochs": model.n_epochs,
                "net_arch": list(config.train.net_arch),
                "repeats": args.repeats,
                "one_process_s": round(one, 4),
                "two_processes_s": round(two, 4),
                "speedup": round(one / two, 3),
                "machine": {"cpu_count": os.cpu_count(), "cpu_model": cpu_model(), "python": platform.python_version()},
            }
        )
    )


if __name__ == "__main__":
    main()
