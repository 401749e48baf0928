"""Train a policy: ``python scripts/train.py --env obstacle-course``.

Training has not landed yet (issue #4). Until it does, this entry point runs what exists end to end:
the flight model, PID cascade, course world and sensors, flown by a scripted reactive pilot, and writes
a trajectory plot and summary to ``runs/ENV/YYYYmmdd-HHMMSS/``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console

from tinyrl.errors import TinyRLError
from tinyrl.report.demo import fly_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="obstacle-course", help="scenario name (envs/NAME.yaml)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs"), help="folder for run outputs")
    args = parser.parse_args(argv)
    console = Console()
    console.print(
        "[yellow]Training has not landed yet (issue #4):[/] running the end-to-end flight demo "
        "(flight model + PID cascade + world + sensors, scripted pilot)."
    )
    out_dir = args.out / args.env / time.strftime("%Y%m%d-%H%M%S")
    try:
        result, _ = fly_demo(seed=args.seed, out_dir=out_dir)
    except TinyRLError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        return 2
    console.print(
        f"outcome: [bold]{result.outcome}[/] after {result.time_s:.2f} s, path {result.path_length_m:.2f} m, "
        f"closest approach {result.min_clearance_m:.3f} m"
    )
    console.print(f"wrote {out_dir}/summary.json, trajectory.png, trajectory.npz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
