#!/usr/bin/env python
"""Distil a teacher into several student sizes and measure each one, float and int8, on the same unseen courses.

Prints one JSON line per architecture as it finishes, then a summary line ``{"sweep": [...]}`` — the numbers to
pick the default ``tinyrl distill --arch`` by (smallest student within a point of the teacher, int8 ≤ 2 KB)::

    python scripts/sweep_student_arch.py --env obstacle-course --teacher policies/obstacle-course \
        --arch 16,16 --arch 24,24 --arch 32,32 --arch 48,48 --out runs/sweep

``--difficulty medium,hard`` scores every policy on each named level (``tinyrl eval --difficulty``'s unseen
courses): the row's ``teacher_success``, ``student_success`` and ``int8_success`` are the first level's, and
``levels`` holds each level's three. Without it, the scenario's own level is scored.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tinyrl.common.evaluate import eval_difficulty, eval_levels, evaluate
from tinyrl.common.policy import Policy
from tinyrl.compress.artefacts import load_policy
from tinyrl.compress.distill import DistillOptions, distill, write_distill_outputs
from tinyrl.compress.shrink import quantize_student
from tinyrl.compress.student import parse_arch
from tinyrl.errors import TinyRLError
from tinyrl.tasks.config import load_scenario


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="obstacle-course", help="Scenario name or YAML path.")
    parser.add_argument("--teacher", required=True, help="Teacher folder or .npz.")
    parser.add_argument("--arch", action="append", help="Hidden widths, e.g. 32,32 (repeat the flag).")
    parser.add_argument("--iterations", type=int, default=DistillOptions.iterations)
    parser.add_argument("--steps", type=int, default=DistillOptions.steps_per_iteration, help="Env steps/iteration.")
    parser.add_argument("--epochs", type=int, default=DistillOptions.epochs)
    parser.add_argument("--episodes", type=int, default=200, help="Final closed-loop episodes per policy.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/sweep"), help="Folder for one subfolder per arch.")
    parser.add_argument(
        "--difficulty", default=None, help="Comma-separated levels to score on, e.g. medium,hard (default: own)."
    )
    args = parser.parse_args()
    archs = args.arch or ["16,16", "24,24", "32,32", "48,48", "64,64"]

    try:
        config = load_scenario(args.env)
        levels = [level or None for level in args.difficulty.split(",")] if args.difficulty else [None]
        for level in levels:
            eval_levels(config, level)  # an unknown level fails before any distillation

        def score(policy: Policy) -> dict[str, float]:
            """Success on each level's unseen courses, the same courses and episode seeds for every policy."""
            return {
                eval_difficulty(config, level): evaluate(
                    policy, config, None, args.episodes, seed=args.seed, difficulty=level
                ).success_rate
                for level in levels
            }

        teacher = load_policy(args.teacher)
        teacher_success = score(teacher)
        first = next(iter(teacher_success))  # the level the row's top-level figures are from
        rows = []
        for text in archs:
            arch = parse_arch(text)
            start = time.perf_counter()
            options = DistillOptions(
                arch=arch,
                iterations=args.iterations,
                steps_per_iteration=args.steps,
                epochs=args.epochs,
                eval_episodes=0,
                seed=args.seed,
                progress=False,
            )
            folder = args.out / ("arch_" + "x".join(map(str, arch)) if arch else "arch_linear")
            result = distill(config, teacher, options)
            summary = write_distill_outputs(result, folder, options, {"env": args.env, "teacher": args.teacher})
            meta = quantize_student(folder / "student.keras", folder / "policy_int8.tflite", seed=args.seed)
            student = score(load_policy(folder / "student.keras"))
            int8 = score(load_policy(folder / "policy_int8.tflite"))
            row = {
                "arch": list(arch),
                "parameters": summary["parameters"],
                "int8_bytes": meta["parameter_bytes"],
                "teacher_success": teacher_success[first],
                "student_success": student[first],
                "int8_success": int8[first],
                "levels": {
                    name: {"teacher": teacher_success[name], "student": student[name], "int8": int8[name]}
                    for name in teacher_success
                },
                "int8_vs_float": meta["agreement_with_float_student"],
                "seconds": round(time.perf_counter() - start, 1),
                "folder": str(folder),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        print(json.dumps({"env": config.name, "episodes": args.episodes, "seed": args.seed, "sweep": rows}))
    except TinyRLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
