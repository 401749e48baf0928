"""The ``tinyrl hil`` command (registered lazily by :mod:`tinyrl.cli`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tinyrl.cli_options import EnvOption


def hil_command(
    policy: Annotated[
        Path, typer.Option(help="Policy folder with policy_int8.tflite (+ .json sidecar), or the .tflite.")
    ],
    env: EnvOption = "obstacle-course",
    port: Annotated[
        str | None, typer.Option(help="pyserial URL of a device running the HIL firmware (socket://HOST:PORT, /dev/…).")
    ] = None,
    qemu: Annotated[bool, typer.Option("--qemu", help="Build the HIL firmware and run it under QEMU.")] = False,
    episodes: Annotated[int, typer.Option(min=1, help="Number of episodes.")] = 5,
    courses: Annotated[Path | None, typer.Option(help="Course file to fly (default: unseen generated).")] = None,
    seed: Annotated[int, typer.Option(help="Base seed; episode j uses seed + j (as tinyrl eval).")] = 0,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the report as JSON here (/dev/stdout: last line).")
    ] = None,
    build_dir: Annotated[Path, typer.Option(help="Build folder for the generated C and firmware (--qemu).")] = Path(
        "build/hil"
    ),
    timeout_ms: Annotated[float, typer.Option(min=1, help="Wait this long for an ACT before retrying.")] = 100.0,
    retries: Annotated[int, typer.Option(min=0, help="Retries per step before giving up.")] = 5,
) -> None:
    """Hardware in the loop: fly the simulator with the microcontroller's int8 actions (device or QEMU)."""
    from tinyrl.hil.run import run_hil
    from tinyrl.io import atomic_write_text, ensure_writable
    from tinyrl.tasks.config import load_scenario
    from tinyrl.tasks.course_checks import load_flyable_courses

    config = load_scenario(env)
    course_list = load_flyable_courses(courses, config) if courses is not None else None
    if json_out is not None and str(json_out) not in ("/dev/stdout", "-"):
        ensure_writable(json_out)
    report = run_hil(
        policy,
        config,
        port=port,
        qemu=qemu,
        courses=course_list,
        episodes=episodes,
        seed=seed,
        build_dir=build_dir,
        timeout_s=timeout_ms / 1e3,
        retries=retries,
        progress=True,
    )
    data = {"policy": str(policy), "env": config.name, "seed": seed, **report.to_dict()}
    to_stdout = json_out is not None and str(json_out) in ("/dev/stdout", "-")
    console = Console(stderr=to_stdout)
    table = Table(title=f"HIL: {policy} on {config.name}, {episodes} episodes, seed {seed}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row(
        "success / collision / timeout",
        f"{data['success_rate']:.0%} / {data['collision_rate']:.0%} / {data['timeout_rate']:.0%}",
    )
    table.add_row("round trips", str(report.round_trips))
    table.add_row("loop rate", f"{report.loop_hz:.0f} Hz")
    lat = report.latency_ms
    table.add_row(
        "round trip p50 / p90 / p99 / max",
        f"{lat['p50']:.2f} / {lat['p90']:.2f} / {lat['p99']:.2f} / {lat['max']:.2f} ms",
    )
    table.add_row("action mismatches vs host int8", str(report.mismatches))
    table.add_row("link errors", ", ".join(f"{k} {v}" for k, v in report.link.items() if v) or "none")
    if report.device.get("instructions_per_inference") is not None:
        table.add_row("MCU instructions / inference", str(report.device["instructions_per_inference"]))
    console.print(table)
    if json_out is not None:
        if to_stdout:
            sys.stdout.write(json.dumps(data, separators=(",", ":")) + "\n")
        else:
            atomic_write_text(json_out, json.dumps(data, indent=2) + "\n")
