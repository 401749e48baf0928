"""The ``tinyrl`` command line. Each command is a thin wrapper over a library function."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tinyrl.common.tensorflow_env import quiet_tensorflow
from tinyrl.errors import Terminated, TinyRLError
from tinyrl.processes import sigterm_as_interrupt, sigterm_received

app = typer.Typer(
    name="tinyrl",
    help="Reinforcement learning for nano drones: simulate, train, shrink, export to a microcontroller.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Reinforcement learning for nano drones: simulate, train, shrink, export to a microcontroller.

    Errors print one line; add --debug anywhere for the traceback of an unexpected one.
    """


@app.command()
def version() -> None:
    """Print the TinyRL version."""
    from tinyrl import __version__

    typer.echo(__version__)


courses_app = typer.Typer(help="Generate, inspect and plot obstacle courses.", no_args_is_help=True)
app.add_typer(courses_app, name="courses")


@courses_app.command("generate")
def courses_generate(
    output: Annotated[Path, typer.Option("--output", "-o", help="Course file to write (.json, or .yaml).")],
    env: Annotated[
        str, typer.Option(help="Scenario: envs/NAME.yaml (or a YAML path); uses its course_generator section.")
    ] = ("obstacle-course"),
    n: Annotated[int, typer.Option("--n", min=1, help="Number of courses.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the set; course i depends only on (seed, i).")] = 0,
    difficulty: Annotated[
        str | None, typer.Option(help="Difficulty level (default: the config's default_difficulty).")
    ] = None,
) -> None:
    """Generate a seeded set of courses, each with a checked free path from start to goal."""
    from rich.progress import Progress

    from tinyrl.sim.course import save_courses
    from tinyrl.tasks.config import load_scenario
    from tinyrl.tasks.generator import iter_courses

    scenario = load_scenario(env)
    config = scenario.course_generator
    level = difficulty or scenario.difficulty or config.default_difficulty
    courses = []
    # The bar only helps when generation takes a noticeable while (~1-3 ms per course).
    with Progress(console=err_console, transient=True, disable=n < 200) as progress:
        task = progress.add_task(f"generating {n} {level} courses", total=n)
        for course in iter_courses(config, level, n, seed):
            courses.append(course)
            progress.advance(task)
    save_courses(output, courses)
    typer.echo(f"wrote {n} {level} courses (env {env}, seed {seed}) to {output}")


@courses_app.command("show")
def courses_show(
    path: Annotated[Path, typer.Argument(help="Course file (.json or .yaml).")],
    plot: Annotated[Path | None, typer.Option(help="Also draw top-down views into this image (.png).")] = None,
    max_plots: Annotated[int, typer.Option(min=1, help="Most courses to draw.")] = 24,
    radius_m: Annotated[
        float | None, typer.Option("--radius-m", help="Drone radius for the free-path check (default: Crazyflie).")
    ] = None,
) -> None:
    """Print a table of the courses in a file (and optionally plot them from above)."""
    from rich.table import Table

    from tinyrl.sim.course import load_courses
    from tinyrl.sim.params import DroneParams
    from tinyrl.tasks.course_checks import course_problems
    from tinyrl.tasks.generator import has_free_path

    courses = load_courses(path)
    radius = DroneParams().collision_radius_m if radius_m is None else radius_m
    table = Table(title=f"{path}: {len(courses)} course(s)")
    for column in ("#", "obstacles", "start xyz (m)", "goal xyz (m)", "free path", "problems"):
        table.add_column(column, justify="right" if column in ("#", "obstacles") else "left")
    unfair = 0
    for i, course in enumerate(courses):
        free = has_free_path(course, radius)
        problems = course_problems(course, radius)
        unfair += bool(problems)
        table.add_row(
            str(i),
            str(len(course.obstacles)),
            ", ".join(f"{v:.2f}" for v in course.start.xyz),
            ", ".join(f"{v:.2f}" for v in course.goal.xyz),
            "yes" if free else "[red]no[/]",
            "[red]" + "; ".join(problems) + "[/]" if problems else "",
        )
    Console().print(table)
    if unfair:
        err_console.print(
            f"[bold red]warning:[/] {unfair} course(s) cannot be flown fairly (see problems); "
            "tinyrl eval refuses them (a hover course may start at its goal)",
            highlight=False,
        )
    if plot is not None:
        from tinyrl.common.plots import plot_courses

        plot_courses(courses[:max_plots], plot)
        typer.echo(f"wrote {plot}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for summary.json and trajectory.png.")] = Path("runs/demo"),
    seed: Annotated[int, typer.Option(help="Sensor-noise seed.")] = 0,
    seconds: Annotated[float, typer.Option(min=0.1, help="Time limit (s).")] = 30.0,
) -> None:
    """Fly the packaged demo course with a scripted reactive pilot (the whole simulator, no learning)."""
    from tinyrl.report.demo import fly_demo

    result, _ = fly_demo(seconds=seconds, seed=seed, out_dir=out)
    typer.echo(
        f"outcome: {result.outcome} after {result.time_s:.2f} s, path {result.path_length_m:.2f} m, "
        f"closest approach {result.min_clearance_m:.3f} m; wrote {out}/trajectory.png"
    )


@app.command()
def trust(
    folder: Annotated[Path, typer.Argument(help="A run or sweep folder whose pickles you trust.")],
) -> None:
    """Sign a run's or sweep's pickles (SB3 checkpoints, Ray Tune state) with your key, so --resume loads them.

    Only for folders you trust: loading a pickle can run any code its author put in it (docs/security.md).
    """
    from tinyrl import provenance

    if not folder.is_dir():
        raise provenance.UntrustedFileError(f"{folder}: not a folder")
    signed = provenance.trust(folder)
    typer.echo(f"signed {len(signed)} file(s) in {folder} with {provenance.key_source()}")


@app.command("export")
def export_command(
    model: Annotated[
        Path | None,
        typer.Argument(help="int8 .tflite or policy folder (default: policies/obstacle-course/policy_int8.tflite)."),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the C sources and report.json.")] = Path(
        "build/policy"
    ),
    target: Annotated[
        str,
        typer.Option(
            help="cortex-m4, cortex-m0plus, cortex-m3, cortex-m7, cortex-m33, cortex-m55, riscv32 (each verified "
            "and measured under QEMU) or host."
        ),
    ] = "cortex-m4",
    rounding: Annotated[str, typer.Option(help="tflm (TFLite Micro, CMSIS-NN) or tflite (TFLite interpreter).")] = (
        "tflm"
    ),
    env: Annotated[
        str | None,
        typer.Option(
            help="Scenario whose observation layout to emit as tinyrl_obs_layout.h; its policy rate sets the "
            "fits-on table's % of one core (default: obstacle-course's)."
        ),
    ] = None,
    fits_on: Annotated[
        bool,
        typer.Option(
            "--fits-on/--no-fits-on",
            help="Also verify on every other target's emulated core and print which boards the policy fits on.",
        ),
    ] = True,
) -> None:
    """Export an int8 policy as self-contained C, verify it on the target, and report its footprint."""
    from tinyrl.export import export_policy
    from tinyrl.export.report import fits_on_table, table

    result = export_policy(model, output, target=target, rounding=rounding, env=env, fits_on=fits_on)
    console = Console()
    console.print(table(result.report))
    boards = fits_on_table(result.report)
    if boards is not None:
        console.print(boards)
    typer.echo(f"wrote {output} ({', '.join(result.report['files'])})")


def _register_train_commands() -> None:
    from tinyrl.eval_cli import eval_command
    from tinyrl.train.cli import ship_command, train_command

    app.command("train")(train_command)
    app.command("eval")(eval_command)
    app.command("ship")(ship_command)


_register_train_commands()


def _register_compress_commands() -> None:
    from tinyrl.compress.cli import compare_command, distill_command, quantize_command

    app.command("distill")(distill_command)
    app.command("quantize")(quantize_command)
    app.command("compare")(compare_command)


_register_compress_commands()


def _register_hil_command() -> None:
    # tinyrl.hil.cli imports only typer and rich; the bridge, pyserial and the simulator load when the command runs.
    from tinyrl.hil.cli import deploy_command, fly_command, hil_command, sitl_command

    app.command("hil")(hil_command)
    app.command("sitl")(sitl_command)
    app.command("fly")(fly_command)
    app.command("deploy")(deploy_command)


_register_hil_command()


def _register_report_command() -> None:
    # tinyrl.report.cli imports only typer; evaluation, TensorFlow and matplotlib load when the command runs.
    from tinyrl.report.cli import play_command, report_command

    app.command("report")(report_command)
    app.command("play")(play_command)


_register_report_command()


def _register_scale_commands() -> None:
    # tinyrl.scale.cli imports only typer; Ray, Optuna and the trainer load when the command runs.
    from tinyrl.scale.cli import sweep_command

    app.command("sweep")(sweep_command)


_register_scale_commands()


#: Anywhere on the command line: an unexpected error prints its full traceback instead of one line.
DEBUG_FLAG = "--debug"


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``tinyrl`` console script and of ``python -m tinyrl``; ``args`` replaces ``sys.argv[1:]``.

    Every failure ends in one line on stderr: TinyRL's own errors (bad input: exit 2) and whatever else a library
    raised (exit 1), unless ``--debug`` is given, which shows the traceback of the latter. Ctrl-C exits 130 and
    SIGTERM 143, both after the command has stopped every process it started.
    """
    quiet_tensorflow()  # the compress commands load TensorFlow, whose start-up banners would bury a one-line error
    argv = list(sys.argv[1:] if args is None else args)
    debug = DEBUG_FLAG in argv
    argv = [a for a in argv if a != DEBUG_FLAG]
    try:
        # SIGTERM raises Terminated like Ctrl-C raises KeyboardInterrupt, so every command's finally blocks stop
        # what they started (QEMU, Ray, worker processes) before it exits.
        with sigterm_as_interrupt():
            app(args=argv)
    except SystemExit as exc:
        # Typer ends an interrupted command with exit code 130; after SIGTERM it is 143.
        if exc.code == 130 and sigterm_received():
            err_console.print("terminated")
            sys.exit(143)
        raise
    except TinyRLError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt as exc:
        err_console.print("terminated" if isinstance(exc, Terminated) else "interrupted")
        sys.exit(143 if isinstance(exc, Terminated) else 130)
    except Exception as exc:
        if debug:
            raise
        err_console.print(
            f"[bold red]error:[/] {describe_error(exc)} (run again with {DEBUG_FLAG} for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)


def describe_error(exc: BaseException) -> str:
    """One line for an exception a library raised: the file it concerns when it names one, its type and message."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"
