"""``tinyrl eval``: fly any policy artefact closed-loop, locally or sharded on Ray, and report it.

A command of the top layer: it loads what any stage made (:mod:`tinyrl.compress.artefacts`) and may shard on
Ray (:mod:`tinyrl.scale.ray_eval`), so it lives above both.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from tinyrl.cli_options import EnvOption
from tinyrl.common.paths import portable_path

if TYPE_CHECKING:
    from tinyrl.sim.course import Course
    from tinyrl.tasks.config import ScenarioConfig


def eval_command(
    policy: Annotated[
        Path, typer.Argument(help="Policy folder (policies/NAME: its teacher) or artefact (.npz, .keras, .tflite).")
    ],
    env: EnvOption = "obstacle-course",
    courses: Annotated[Path | None, typer.Option(help="Course file to fly (default: unseen generated).")] = None,
    episodes: Annotated[int, typer.Option(min=1, help="Number of episodes.")] = 200,
    seed: Annotated[int, typer.Option(help="Base seed; episode j uses seed + j.")] = 0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.")] = None,
    backend: Annotated[
        str,
        typer.Option(help="local: this process; ray: shards on Ray (--address, $RAY_ADDRESS, or a local instance)."),
    ] = "local",
    address: Annotated[
        str | None, typer.Option(help="HOST:PORT of a Ray cluster to shard on; implies --backend ray.")
    ] = None,
    difficulty: Annotated[
        str | None,
        typer.Option(
            help="Level of the unseen generated courses: easy, medium, hard (the generator's levels) or mix "
            "(the levels in turn); default: the scenario's."
        ),
    ] = None,
    randomize: Annotated[
        bool,
        typer.Option("--randomize", help="Fly with the scenario's training domain randomization (default: nominal)."),
    ] = False,
    robustness: Annotated[
        bool,
        typer.Option(
            "--robustness",
            help="Fly every robustness condition (nominal, randomized, mass/inertia ±30 %, sensor noise x2-3 with "
            "latency, wind x3) on the same courses and seeds; prints their table, adds 'robustness' to the JSON.",
        ),
    ] = False,
) -> None:
    """Fly a policy closed-loop and report success rate (95 % CI), collisions, timeouts and per-course results."""
    from tinyrl.common.evaluate import check_randomize, eval_difficulty, evaluate
    from tinyrl.compress.artefacts import load_policy
    from tinyrl.errors import ConfigError
    from tinyrl.io import ensure_writable
    from tinyrl.scale.cluster import resolve_address
    from tinyrl.tasks.config import load_scenario
    from tinyrl.tasks.course_checks import load_flyable_courses

    ray_address = resolve_address(backend, address)  # validates --backend
    if courses is not None and difficulty is not None:
        raise ConfigError("--difficulty picks generated courses; it cannot be combined with --courses")
    if robustness and randomize:
        raise ConfigError("--robustness flies its own conditions (randomized among them); drop --randomize")
    if robustness and (backend == "ray" or address is not None):
        raise ConfigError("--robustness runs locally; it cannot be combined with --backend ray or --address")
    config = load_scenario(env)
    level = eval_difficulty(config, difficulty) if courses is None else None  # validates --difficulty
    if randomize:
        check_randomize(config)
    if robustness:
        check_randomize(config, "--robustness")
    course_list = load_flyable_courses(courses, config) if courses is not None else None
    if json_out is not None and not _json_to_stdout(json_out):
        ensure_writable(json_out)
    if robustness:
        _robustness(policy, config, course_list, episodes, seed, difficulty, level, courses, json_out)
        return
    if backend == "ray" or address is not None:
        # Same episodes, courses and seeds as the local path, sharded over Ray workers (tinyrl.scale.ray_eval).
        from tinyrl.scale.ray_eval import evaluate_on_ray

        report = evaluate_on_ray(
            policy,
            config,
            course_list,
            episodes,
            seed=seed,
            address=ray_address,
            progress=True,
            difficulty=difficulty,
            randomize=randomize,
        )
    else:
        report = evaluate(
            load_policy(policy),
            config,
            course_list,
            episodes,
            seed=seed,
            progress=True,
            difficulty=difficulty,
            randomize=randomize,
        )
    console = Console(stderr=_json_to_stdout(json_out))
    lo, hi = report.success_ci95
    flown = f"{level} courses" if level is not None else str(courses)
    drone = "randomized drones" if randomize else "nominal drone"
    table = Table(title=f"{policy} on {config.name}: {episodes} episodes, seed {seed}, {flown}, {drone}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("success rate", f"{report.success_rate:.1%}  (95 % CI {lo:.1%}–{hi:.1%})")
    table.add_row("collision rate", f"{report.collision_rate:.1%}")
    table.add_row("timeout rate", f"{report.timeout_rate:.1%}")
    table.add_row("left arena", f"{report.left_arena_rate:.1%}")
    mean_t = report.mean_time_to_goal_s
    table.add_row("mean time to goal", "-" if mean_t is None else f"{mean_t:.2f} s")
    table.add_row("mean path length", f"{report.mean_path_length_m:.2f} m")
    console.print(table)
    if len(report.per_course) <= 20:
        per = Table(title="per course")
        for column in ("course", "episodes", "success", "outcomes"):
            per.add_column(column)
        for row in report.per_course:
            per.add_row(
                str(row["course"]), str(row["episodes"]), f"{row['success_rate']:.0%}", ", ".join(row["outcomes"])
            )
        console.print(per)
    if json_out is not None:
        _write_eval_json(json_out, policy, config, seed, level, randomize, report.to_dict())


def _json_to_stdout(json_out: Path | None) -> bool:
    """``--json -`` (or /dev/stdout): the JSON goes to stdout, so tables go to stderr."""
    return json_out is not None and str(json_out) in ("/dev/stdout", "-")


def _write_eval_json(
    json_out: Path,
    policy: Path,
    config: ScenarioConfig,
    seed: int,
    level: str | None,
    randomize: bool,
    body: dict[str, Any],
) -> None:
    """An eval's JSON: what was flown, then ``body``; one line on stdout, or an indented file written atomically."""
    from tinyrl.io import atomic_write_text

    data = {
        "policy": portable_path(policy),
        "env": config.name,
        "seed": seed,
        "difficulty": level,
        "randomize": randomize,
    }
    data.update(body)
    if _json_to_stdout(json_out):
        sys.stdout.write(json.dumps(data, separators=(",", ":")) + "\n")
    else:
        atomic_write_text(json_out, json.dumps(data, indent=2) + "\n")


def _robustness(
    policy: Path,
    config: ScenarioConfig,
    course_list: list[Course] | None,
    episodes: int,
    seed: int,
    difficulty: str | None,
    level: str | None,
    courses: Path | None,
    json_out: Path | None,
) -> None:
    """``tinyrl eval --robustness``: the conditions' table; the JSON is the nominal eval's plus ``robustness``."""
    from tinyrl.compress.artefacts import load_policy
    from tinyrl.train.robustness import robustness_reports, robustness_rows

    reports = robustness_reports(load_policy(policy), config, episodes, seed, difficulty, course_list, progress=True)
    rows = robustness_rows(reports, config)
    console = Console(stderr=_json_to_stdout(json_out))
    flown = f"{level} courses" if level is not None else str(courses)
    table = Table(
        title=f"{policy} on {config.name}: robustness, {episodes} episodes per condition, seed {seed}, {flown} "
        "(rates in %, differences in points)",
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),
        pad_edge=False,
        show_edge=False,
        caption_justify="left",
    )
    table.add_column("condition", no_wrap=True)
    for column in ("success", "95 %\nCI", "vs\nnominal", "collision", "left\narena", "timeout"):  # 80 columns
        table.add_column(column, justify="right")
    for row in rows:
        lo, hi = row["success_ci95"]
        delta = row["success_vs_nominal"]
        table.add_row(
            row["condition"],
            f"{100 * row['success_rate']:.1f}",
            f"{100 * lo:.0f}–{100 * hi:.0f}",
            "–" if delta is None else f"{100 * delta:+.1f}",
            *(f"{100 * row[key]:.1f}" for key in ("collision_rate", "left_arena_rate", "timeout_rate")),
        )
    table.caption = "\n".join(f"{row['condition']}: {row['description']}" for row in rows)
    console.print(table)
    if json_out is not None:
        _write_eval_json(
            json_out, policy, config, seed, level, False, {**reports["nominal"].to_dict(), "robustness": rows}
        )
