"""One self-contained HTML page about a policy folder: figures as embedded PNGs, tables, no external files.

:func:`figures` makes the PNGs (the notebook shows the same ones inline), :func:`summary_rows` and
:func:`tinyrl.report.evaluation.footprint_rows` the tables, :func:`render_html` the page and :func:`write_report`
the whole chain behind ``tinyrl report``.
"""

from __future__ import annotations

import base64
import datetime
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tinyrl.common.plots import plot_flights, plot_learning_curve
from tinyrl.io import atomic_write_text
from tinyrl.report.difficulty import difficulty_rows
from tinyrl.report.evaluation import PolicyDirEvaluation, evaluate_policy_dir, footprint_rows
from tinyrl.report.hil import HIL_FILE, hil_rows, latency_histogram, latency_samples_ms
from tinyrl.report.plots import (
    plot_latency_histogram,
    plot_quantization_error,
    plot_robustness,
    plot_success_by_difficulty,
    plot_success_rates,
    plot_time_to_goal,
)
from tinyrl.report.robustness import robustness_flat_rows
from tinyrl.report.video import render_gif
from tinyrl.tasks.config import load_scenario
from tinyrl.train.robustness import CONDITIONS

__all__ = [
    "Figure",
    "episode_video",
    "export_rows",
    "figures",
    "hil_note",
    "html_table",
    "render_html",
    "robustness_note",
    "robustness_table_rows",
    "summary_rows",
    "write_report",
]

#: The continuous action: a hover setpoint (body vx, vy, yaw rate, height), each scaled to [-1, 1].
SETPOINT_LABELS = ("vx", "vy", "yaw rate", "z")
#: ``(title, caption, png bytes)``.
Figure = tuple[str, str, bytes]


def _success_row(name: str, evaluation: PolicyDirEvaluation) -> dict[str, Any]:
    r = evaluation.reports[name]
    outcomes = {
        "success": r.success_rate,
        "collision": r.collision_rate,
        "left_arena": r.left_arena_rate,
        "timeout": r.timeout_rate,
    }
    return {
        "name": name,
        "episodes": r.episodes,
        "success_rate": r.success_rate,
        "success_ci95": r.success_ci95,
        "outcomes": outcomes,
    }


def figures(evaluation: PolicyDirEvaluation) -> list[Figure]:
    """The report's figures in page order (those whose data is missing are left out)."""
    names = list(evaluation.reports)
    out: list[Figure] = []
    for name in names:
        flights = evaluation.flights(name)
        if flights:
            out.append(
                (
                    f"Trajectories: {name}",
                    f"Top-down view of the first {len(flights)} {evaluation.describe_courses()} flown by the {name} "
                    "(path colour = outcome: blue success, red collision, orange left arena, purple timeout; "
                    "green disc = goal, blue arrow = start heading).",
                    plot_flights(flights),
                )
            )
    out.append(
        (
            "Success rates",
            "Success rate with its 95 % Wilson interval, and the outcome breakdown, on the same "
            f"{evaluation.describe_courses()} and episode seeds for every policy.",
            plot_success_rates([_success_row(n, evaluation) for n in names]),
        )
    )
    if evaluation.by_difficulty:
        out.append(
            (
                "Success vs difficulty",
                "Success rate with its 95 % Wilson interval on unseen generated courses of each difficulty "
                "(the seeds of tinyrl eval).",
                plot_success_by_difficulty(difficulty_rows(evaluation.by_difficulty)),
            )
        )
    if evaluation.robustness:
        out.append(
            (
                "Robustness",
                "Success rate with its 95 % Wilson interval under each robustness condition (tinyrl eval "
                f"--robustness), on the same {evaluation.describe_courses()} and episode seeds: "
                + _conditions_text(evaluation),
                plot_robustness(_robustness_rows(evaluation)),
            )
        )
    times = {n: [e.time_s for e in evaluation.reports[n].episode_results if e.outcome == "success"] for n in names}
    out.append(("Time to goal", "Time to goal of the successful episodes.", plot_time_to_goal(times)))
    q = evaluation.quantization
    if q is not None:
        out.append(
            (
                "int8 quantization error",
                f"|int8 − float student| {q.quantity}s on the observations the float student met in closed loop "
                "(log count; one outline per output).",
                plot_quantization_error(
                    q.abs_diff, q.quantity, SETPOINT_LABELS if q.abs_diff.shape[1] == len(SETPOINT_LABELS) else None
                ),
            )
        )
    hil = evaluation.hil_report
    samples = latency_samples_ms(hil) if hil is not None else None
    if hil is not None and samples is not None and len(samples):
        counts, edges = latency_histogram(samples)
        out.append(
            (
                "HIL latency",
                "Round-trip time of each OBS → ACT exchange with the microcontroller in the HIL run "
                f"({HIL_FILE}; log count).",
                plot_latency_histogram(counts, edges, hil.get("latency_ms")),
            )
        )
    curve = evaluation.manifest.get("teacher", {}).get("learning_curve")
    if curve:
        out.append(
            (
                "Learning curve",
                "Teacher validation success during training (from manifest.json).",
                plot_learning_curve(curve),
            )
        )
    return out


def summary_rows(evaluation: PolicyDirEvaluation) -> list[dict[str, str]]:
    """One display row per policy: success (95 % CI), failure rates, time to goal, path length."""
    rows = []
    compression = evaluation.manifest.get("compression", {})
    shipped = {r.get("name"): r for r in compression.get("rows", [])}
    shipped_label = f"manifest success ({compression.get('episodes', '?')} ep.)"
    for name, r in evaluation.reports.items():
        lo, hi = r.success_ci95
        ref = shipped.get(name)
        rows.append(
            {
                "policy": name,
                "episodes": str(r.episodes),
                "success (95 % CI)": f"{r.success_rate:.1%} ({lo:.1%}–{hi:.1%})",
                "collision": f"{r.collision_rate:.1%}",
                "left arena": f"{r.left_arena_rate:.1%}",
                "timeout": f"{r.timeout_rate:.1%}",
                "mean time to goal": "–" if r.mean_time_to_goal_s is None else f"{r.mean_time_to_goal_s:.2f} s",
                "mean path": f"{r.mean_path_length_m:.2f} m",
                shipped_label: "–" if ref is None else f"{ref['success_rate']:.1%}",
            }
        )
    return rows


def _robustness_rows(evaluation: PolicyDirEvaluation) -> list[dict[str, Any]]:
    config = evaluation.config if evaluation.config is not None else load_scenario(evaluation.env)
    return robustness_flat_rows(evaluation.robustness, config)


def _conditions_text(evaluation: PolicyDirEvaluation) -> str:
    return "; ".join(f"{c.name}: {c.description}" for c in CONDITIONS if c.name in evaluation.robustness) + "."


def robustness_table_rows(evaluation: PolicyDirEvaluation) -> list[dict[str, str]]:
    """One display row per robustness condition and policy: success (95 % CI), change from nominal, failures."""
    rows = []
    for r in _robustness_rows(evaluation):
        lo, hi = r["success_ci95"]
        delta = r["success_vs_nominal"]
        rows.append(
            {
                "condition": r["condition"],
                "policy": r["name"],
                "episodes": str(r["episodes"]),
                "success (95 % CI)": f"{r['success_rate']:.1%} ({lo:.1%}–{hi:.1%})",
                "vs nominal": "–" if delta is None else f"{100 * delta:+.1f} pt",
                "collision": f"{r['collision_rate']:.1%}",
                "left arena": f"{r['left_arena_rate']:.1%}",
                "timeout": f"{r['timeout_rate']:.1%}",
            }
        )
    return rows


def robustness_note(evaluation: PolicyDirEvaluation) -> str:
    """What the robustness table shows, or why it is missing."""
    if evaluation.robustness:
        names = list(dict.fromkeys(n for row in evaluation.robustness.values() for n in row))
        flown = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        return (
            f"The {flown} flown under each condition on the same {evaluation.describe_courses()} and episode seeds "
            f"(tinyrl eval --robustness): " + _conditions_text(evaluation)
        )
    config = evaluation.config if evaluation.config is not None else load_scenario(evaluation.env)
    if not config.randomization.enabled:
        return f"Scenario {evaluation.env} trains without domain randomization, so there is no robustness table."
    return "Robustness conditions not flown (tinyrl report --no-robustness)."


def export_rows(report: dict[str, Any]) -> list[dict[str, str]]:
    """Display rows of a `tinyrl export` report.json: flash, RAM, instructions per inference, verification."""
    rows = [{"what": "architecture", "value": str(report.get("model", {}).get("architecture", "–"))}]
    policy = report.get("policy")
    if policy:
        rows += [
            {"what": "policy flash (text+rodata+data)", "value": f"{policy['flash_bytes']:,} B"},
            {"what": "policy RAM (data+bss)", "value": f"{policy['ram_bytes']:,} B"},
        ]
        for kind, n in (report.get("instructions_per_inference") or {}).items():
            rows.append({"what": f"instructions / inference ({kind})", "value": f"{n:,}"})
    else:
        rows.append({"what": "ARM footprint", "value": str(report.get("arm", "not measured"))})
    verification = report.get("verification", {})
    if verification:
        rows.append({"what": "verified vectors", "value": str(verification.get("vectors", "–"))})
    return rows


def html_table(rows: list[dict[str, Any]]) -> str:
    """An HTML ``<table>`` of dict rows (the first row's keys are the header); values are escaped."""
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('–' if v is None else str(v))}</td>" for v in row.values()) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def hil_note(evaluation: PolicyDirEvaluation) -> str | None:
    """Why the HIL latency histogram is missing (no report, or one without samples); None when it is shown."""
    if evaluation.hil_report is None:
        return (
            f"No {HIL_FILE} in the policy folder, so no HIL latency histogram: run `tinyrl hil --policy "
            f"{evaluation.policy_dir} --env {evaluation.env} --qemu --json {evaluation.policy_dir / HIL_FILE}`."
        )
    if latency_samples_ms(evaluation.hil_report) is None:
        return "The HIL report keeps only latency percentiles (made before latency_samples_ms): re-run tinyrl hil."
    return None


def episode_video(
    evaluation: PolicyDirEvaluation, name: str | None = None, index: int = 0, fps: float = 8.0, max_frames: int = 160
) -> bytes:
    """GIF of episode ``index`` of row ``name`` (default: the last row, int8 when present), as flown above.

    Real time, or faster when a long episode would need more than ``max_frames`` frames (keeps pages small).
    """
    name = name or list(evaluation.reports)[-1]
    recording = evaluation.replay(name, index)
    speed = max(1.0, recording.time_s * fps / max_frames)
    return render_gif(recording, fps=fps, speed=speed, width_in=5.0, dpi=64)


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; }
figure { margin: 1em 0 2em; }
figcaption { font-size: 0.9em; color: #555; }
"""


def page_head(title: str) -> list[str]:
    """The opening of a self-contained report page: doctype, head with ``title`` and the style, the ``<h1>``."""
    return [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]


def html_figure(title: str, image: bytes, caption: str = "", mime: str = "image/png") -> str:
    """A ``<figure>``: ``title`` as its heading, ``image`` embedded as ``data:MIME;base64``, then ``caption`` if any."""
    data = base64.b64encode(image).decode("ascii")
    below = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return (
        f"<figure><h3>{html.escape(title)}</h3>"
        f'<img alt="{html.escape(title)}" src="data:{mime};base64,{data}">{below}</figure>'
    )


def render_html(evaluation: PolicyDirEvaluation, figs: list[Figure] | None = None, video: bytes | None = None) -> str:
    """The page as a string: summary, footprint, HIL, every figure as a ``data:image/png;base64`` ``<img>``.

    Args:
        evaluation: What to show.
        figs: The figures (default: :func:`figures` of ``evaluation``).
        video: An episode GIF (e.g. :func:`episode_video`) embedded as ``data:image/gif;base64``; none if None.
    """
    figs = figures(evaluation) if figs is None else figs
    title = f"TinyRL report: {evaluation.policy_dir} on {evaluation.env}"
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    n = next(iter(evaluation.reports.values())).episodes
    parts = [
        *page_head(title),
        f"<p>{n} episodes per policy on {len(evaluation.courses)} {html.escape(evaluation.describe_courses())}, "
        f"base seed {evaluation.seed} (episode j: course j mod {len(evaluation.courses)}, seed {evaluation.seed} + j); "
        f"domain randomization off except under Robustness. Generated {stamp} "
        "by <code>tinyrl report</code>.</p>",
        "<h2>Summary</h2>",
        html_table(summary_rows(evaluation)),
    ]
    if evaluation.quantization is not None:
        q = evaluation.quantization.summary()
        parts += ["<h3>int8 vs float student</h3>", html_table([{k: f"{v:.4g}" for k, v in q.items()}])]
    parts += ["<h2>Robustness</h2>", f"<p>{html.escape(robustness_note(evaluation))}</p>"]
    if evaluation.robustness:
        parts.append(html_table(robustness_table_rows(evaluation)))
    parts += ["<h2>Footprint</h2>", html_table(footprint_rows(evaluation))]
    if evaluation.export_report is not None:
        parts += ["<h3>Export report (report.json)</h3>", html_table(export_rows(evaluation.export_report))]
    parts.append("<h2>Hardware in the loop</h2>")
    if evaluation.hil_report is not None:
        parts.append(html_table(hil_rows(evaluation.hil_report)))
    note = hil_note(evaluation)
    if note is not None:
        parts.append(f"<p>{html.escape(note)}</p>")
    parts.append("<h2>Figures</h2>")
    parts += [html_figure(fig_title, png, caption) for fig_title, caption, png in figs]
    if video is not None:
        name = list(evaluation.reports)[-1]
        parts.append(
            html_figure(
                f"Episode video: {name}",
                video,
                f"Episode 0 of the {name} above, replayed (tinyrl play): trail, heading and the four horizontal ToF "
                "rays (dotted: nothing in range).",
                mime="image/gif",
            )
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(
    policy_dir: str | Path,
    output: str | Path,
    env: str = "obstacle-course",
    episodes: int = 100,
    seed: int = 0,
    n_trajectories: int = 8,
    export_report: str | Path | None = None,
    hil_report: str | Path | None = None,
    video: bool = True,
    courses: str | Path | None = None,
    robustness: Sequence[str] | None = None,
) -> Path:
    """Evaluate a policy folder (see :func:`~tinyrl.report.evaluation.evaluate_policy_dir`) and write the page.

    Args:
        policy_dir: The policy folder.
        output: The HTML page to write.
        env: Scenario name or YAML path.
        episodes: Episodes per policy (and per policy and difficulty).
        seed: Base seed.
        n_trajectories: Trajectories drawn per policy.
        export_report: A ``tinyrl export`` report.json (default: the folder's, if any).
        hil_report: A ``tinyrl hil --json`` report (default: the folder's hil.json, if any).
        video: Embed a GIF of the last row's first episode.
        courses: A course file to fly instead of unseen generated courses.
        robustness: Rows to fly under the robustness conditions (default: teacher and int8 when the scenario
            randomizes; ``()`` skips them).

    Returns:
        ``output`` as a :class:`~pathlib.Path`, written atomically.
    """
    evaluation = evaluate_policy_dir(
        policy_dir,
        env,
        episodes,
        seed,
        n_trajectories,
        export_report,
        hil_report=hil_report,
        courses=courses,
        robustness=robustness,
    )
    output = Path(output)
    atomic_write_text(output, render_html(evaluation, video=episode_video(evaluation) if video else None))
    return output
