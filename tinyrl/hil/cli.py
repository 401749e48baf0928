"""The ``tinyrl hil`` command (registered lazily by :mod:`tinyrl.cli`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tinyrl.cli_options import EnvOption
from tinyrl.common.paths import portable_path


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
    data = {"policy": portable_path(policy), "env": config.name, "seed": seed, **report.to_dict()}
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


def _flight_courses(courses: Path | None, config: Any, index: int, seed: int) -> list[Any]:
    """The course list an episode ``index`` flies: the file's, or the unseen generated ones of ``tinyrl eval``."""
    from tinyrl.common.evaluate import eval_courses
    from tinyrl.tasks.course_checks import load_flyable_courses

    return load_flyable_courses(courses, config) if courses is not None else eval_courses(config, index + 1, seed)


def sitl_command(
    env: EnvOption = "obstacle-course",
    policy: Annotated[
        Path | None, typer.Option(help="Policy folder with policy_int8.tflite, or the .tflite (default: policies/ENV).")
    ] = None,
    course: Annotated[
        Path | None, typer.Option("--course", help="Course file (default: unseen generated, as tinyrl eval).")
    ] = None,
    index: Annotated[int, typer.Option(min=0, help="Episode index: course INDEX % len, seed SEED + INDEX.")] = 0,
    seed: Annotated[int, typer.Option(help="Base seed, as tinyrl eval's.")] = 0,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="UDP port on 127.0.0.1 (cflib scans 19850-19859; 0: any free one).")
    ] = 19850,
    speed: Annotated[
        float, typer.Option(min=0.0, help="Simulated seconds per second (1: real time; 0: as fast as it can).")
    ] = 1.0,
    without_app: Annotated[
        bool, typer.Option("--without-app", help="Serve the firmware without the TinyRL app (to check a client).")
    ] = False,
) -> None:
    """A virtual Crazyflie running the TinyRL app: the simulator and the int8 policy, as CRTP on udp://127.0.0.1."""
    from tinyrl.compress.artefacts import resolve_tflite
    from tinyrl.compress.student import load_int8_policy
    from tinyrl.hil.crtp import app_table
    from tinyrl.hil.sitl import VirtualCrazyflie, bind_loopback, serve, sitl_fault
    from tinyrl.tasks.config import load_scenario

    config = load_scenario(env)
    fault = sitl_fault()
    int8 = load_int8_policy(resolve_tflite(policy if policy is not None else Path("policies") / config.name))
    table = app_table().without_app() if without_app else app_table()
    drone = VirtualCrazyflie(config, int8, _flight_courses(course, config, index, seed), index, seed, table)
    sock = bind_loopback(port)
    states: list[str] = []

    def show(drone: VirtualCrazyflie) -> None:
        if not states or states[-1] != drone.state:
            states.append(drone.state)
            Console(stderr=True).print(f"t = {drone.tick / 100:.2f} s: {drone.state}", highlight=False)

    try:
        # The first line says where to connect: scripts and tests wait for it.
        uri = f"udp://127.0.0.1:{sock.getsockname()[1]}"
        typer.echo(f"virtual Crazyflie on {uri} ({config.name}, episode {index}, seed {seed})")
        sys.stdout.flush()
        serve(drone, sock, speed, on_period=show, fault=fault)
    finally:
        sock.close()
        drone.task.close()


def fly_command(
    uri: Annotated[str, typer.Option(help="radio://0/80/2M/E7E7E7E7E7, usb://0, or udp://127.0.0.1:PORT (sitl).")],
    env: EnvOption = "obstacle-course",
    course: Annotated[
        Path | None, typer.Option("--course", help="Course file (default: unseen generated, as tinyrl eval).")
    ] = None,
    index: Annotated[int, typer.Option(min=0, help="Which course of the list: INDEX % len (as tinyrl sitl).")] = 0,
    seed: Annotated[int, typer.Option(help="Base seed, recorded for tinyrl report's re-simulation.")] = 0,
    log: Annotated[Path | None, typer.Option("--log", help="Flight log to write (.npz).")] = Path("flight.npz"),
) -> None:
    """Fly a Crazyflie running the TinyRL app through one course with cflib, log it, land (also on Ctrl-C)."""
    from tinyrl.hil.fly import check_uri, describe, fly, fly_fault
    from tinyrl.io import ensure_writable
    from tinyrl.tasks.config import load_scenario

    check_uri(uri)
    config = load_scenario(env)
    fault = fly_fault()
    course_list = _flight_courses(course, config, index, seed)
    if log is not None:
        ensure_writable(log)
    result = fly(
        uri,
        config,
        course_list[index % len(course_list)],
        log,
        index=index,
        seed=seed,
        n_courses=len(course_list),
        progress=True,
        fault=fault,
    )
    if result.outcome == "interrupted":  # landed; exits 130 (143 after SIGTERM) like every interrupted command
        Console(stderr=True).print(f"landed: {describe(result)}", highlight=False, soft_wrap=True)
        raise typer.Exit(130)
    typer.echo(describe(result))


def deploy_command(
    policy: Annotated[Path, typer.Option(help="Policy folder with policy_int8.tflite, or the .tflite.")] = Path(
        "policies/obstacle-course"
    ),
    env: EnvOption = "obstacle-course",
    uri: Annotated[
        str | None, typer.Option(help="Flash the image to this Crazyflie (radio://…) with cflib's bootloader.")
    ] = None,
) -> None:
    """Build the Crazyflie app with a policy against $CRAZYFLIE_BASE, and flash it when --uri is given."""
    import os

    from tinyrl.hil.deploy import build_app, check_firmware_base, flash
    from tinyrl.hil.fly import check_uri
    from tinyrl.tasks.config import load_scenario

    base = check_firmware_base(os.environ.get("CRAZYFLIE_BASE"))
    if uri is not None:
        check_uri(uri)
    config = load_scenario(env)
    build = build_app(policy, config.name, base, echo=typer.echo)
    typer.echo(
        f"built {build.binary} ({build.binary.stat().st_size:,} B); the app: flash {build.flash_bytes:,} B, "
        f"RAM {build.ram_bytes:,} B (" + ", ".join(f"{k} {v}" for k, v in sorted(build.app_bytes.items())) + ")"
    )
    if uri is not None:
        flash(build.binary, uri)
        typer.echo(f"flashed {uri}")
