"""``tinyrl report``, thin over :func:`tinyrl.report.html.write_report` (imports only typer until it runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tinyrl.cli_options import EnvOption


def report_command(
    policy_dir: Annotated[
        Path,
        typer.Option(
            "--policy", help="Policy folder with teacher.npz / student.keras / policy_int8.tflite and manifest.json."
        ),
    ] = Path("policies/obstacle-course"),
    env: EnvOption = "obstacle-course",
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML page to write.")] = Path("report.html"),
    episodes: Annotated[int, typer.Option(min=1, help="Episodes per policy (unseen courses).")] = 100,
    seed: Annotated[int, typer.Option(help="Base seed; episode j uses seed + j.")] = 0,
    trajectories: Annotated[int, typer.Option(min=0, help="Trajectories drawn per policy.")] = 8,
    export_report: Annotated[
        Path | None,
        typer.Option(help="A `tinyrl export` report.json (default: the policy folder's report.json if present)."),
    ] = None,
    hil_report: Annotated[
        Path | None,
        typer.Option(help="A `tinyrl hil --json` report (default: the policy folder's hil.json if present)."),
    ] = None,
    video: Annotated[bool, typer.Option(help="Embed an episode GIF of the int8 policy.")] = True,
    courses: Annotated[Path | None, typer.Option(help="Course file to fly (default: unseen generated).")] = None,
    robustness: Annotated[
        bool,
        typer.Option(
            help="Fly the teacher and int8 under the robustness conditions of `tinyrl eval --robustness` "
            "(scenarios with randomization)."
        ),
    ] = True,
    flight_log: Annotated[
        Path | None,
        typer.Option(
            help="A `tinyrl fly` flight log: write instead the flight against the int8 policy's simulated episode "
            "of the same course and start (paths, position error, outcome, time to goal)."
        ),
    ] = None,
) -> None:
    """Evaluate teacher, float student and int8 on the same courses and seeds; write one self-contained HTML page."""
    from tinyrl.io import ensure_writable
    from tinyrl.report.html import write_report

    ensure_writable(output)
    if flight_log is not None:
        from tinyrl.compress.artefacts import resolve_tflite
        from tinyrl.compress.student import load_int8_policy
        from tinyrl.report.flight import write_flight_report
        from tinyrl.tasks.config import load_scenario

        int8 = load_int8_policy(resolve_tflite(policy_dir))
        c = write_flight_report(flight_log, int8, load_scenario(env), output)
        error = f", position error max {c.error_m.max():.3f} m" if len(c.error_m) else ""
        typer.echo(f"wrote {output}: flown {c.flown_outcome}, simulated {c.sim_outcome}{error}")
        return
    path = write_report(
        policy_dir,
        output,
        env,
        episodes,
        seed,
        trajectories,
        export_report,
        hil_report,
        video,
        courses,
        robustness=None if robustness else (),
    )
    typer.echo(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


def play_command(
    env: EnvOption = "obstacle-course",
    policy: Annotated[
        Path | None,
        typer.Option(help="Policy folder (its teacher) or artefact (.npz, .keras, .tflite); default policies/ENV."),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Animated GIF to write.")] = Path("episode.gif"),
    courses: Annotated[
        Path | None, typer.Option(help="Course file (default: unseen generated, as tinyrl eval).")
    ] = None,
    index: Annotated[int, typer.Option(min=0, help="Episode / course index: replays episode I of tinyrl eval.")] = 0,
    seed: Annotated[int, typer.Option(help="Base seed as in tinyrl eval; the episode uses seed + index.")] = 0,
    difficulty: Annotated[
        str | None, typer.Option(help="Level of the generated courses (default: the scenario's).")
    ] = None,
    fps: Annotated[float, typer.Option(min=1, max=50, help="Frames per second of the GIF.")] = 10.0,
    speed: Annotated[float, typer.Option(min=0.1, help="Playback speed (1: real time).")] = 1.0,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Stop after this many policy steps.")] = None,
) -> None:
    """Fly one episode and write it as an animated GIF: top-down course, drone, trail, goal, ToF rays."""
    from tinyrl.common.evaluate import eval_courses
    from tinyrl.compress.artefacts import load_policy
    from tinyrl.errors import ConfigError
    from tinyrl.report.episode import record_episode
    from tinyrl.report.video import check_video_path, write_video
    from tinyrl.tasks.config import load_scenario
    from tinyrl.tasks.course_checks import load_flyable_courses

    check_video_path(output)
    if courses is not None and difficulty is not None:
        raise ConfigError("--difficulty picks generated courses; it cannot be combined with --courses")
    config = load_scenario(env)
    loaded = load_policy(policy if policy is not None else Path("policies") / config.name)
    # tinyrl eval flies a list of many courses; a one-course list would give the episode other sensor noise.
    course_list = (
        load_flyable_courses(courses, config)
        if courses is not None
        else eval_courses(config, index + 2, seed, difficulty)
    )
    recording = record_episode(loaded, config, course_list, index, seed + index, max_steps)
    write_video(recording, output, fps, speed)
    typer.echo(
        f"wrote {output}: {recording.outcome} after {recording.time_s:.2f} s ({output.stat().st_size / 1024:.0f} KiB)"
    )
