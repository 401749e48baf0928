"""Sweep results: one row per trial, a rich table, CSV/JSON, the best config as a scenario, a plot."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from rich.table import Table

from tinyrl.io import atomic_write_bytes, atomic_write_text
from tinyrl.scale.space import SearchSpace, overrides
from tinyrl.tasks.config import ScenarioConfig, load_scenario

#: Trial statuses after which a trial will not run again.
ENDED = ("finished", "stopped early", "error")
#: Statuses of a trial whose config may be recommended: it trained (to the end, or until ASHA stopped it).
USABLE = ("finished", "stopped early")


def best_row(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The trial to recommend from rows sorted best first, or None when no trial trained (all failed)."""
    return rows[0] if rows and rows[0]["status"] in USABLE else None


def rows_from_grid(grid: Any, space: SearchSpace, ended: set[str]) -> list[dict[str, Any]]:
    """One row per trial of a Ray Tune ``ResultGrid``, best first.

    A row holds ``trial``, ``status`` (``finished``, ``stopped early`` by ASHA, ``error``, or ``unfinished``
    after an interruption), ``config`` (dotted field → value), ``success_rate`` (the final evaluation on unseen
    courses when finished, else the last validation), ``validation_success_rate``, ``steps``, ``wall_time_s``
    (s of training, over all attempts), ``curve`` (validation ``{steps, wall_time_s, success_rate}``) and
    ``error``. ``ended`` holds the ids of trials that finished or were stopped by the scheduler; a trial
    that has not reported ``finished`` and is not among them was interrupted.
    """
    rows = []
    for result in grid:
        metrics = result.metrics or {}
        if not metrics.get("trial_id") and not result.config:
            continue
        trial_id = metrics.get("trial_id") or Path(result.path).name
        if result.error is not None:
            label = "error"
        elif metrics.get("finished"):
            label = "finished"
        elif trial_id in ended:
            label = "stopped early"
        else:
            label = "unfinished"
        frame = result.metrics_dataframe
        curve = []
        if frame is not None and "success_rate" in frame:
            done = frame["finished"].fillna(False).astype(bool) if "finished" in frame else None
            for i, rec in enumerate(frame[["steps", "wall_time_s", "success_rate"]].to_dict("records")):
                if done is None or not bool(done.iloc[i]):
                    curve.append({k: float(v) for k, v in rec.items()})
        final = metrics.get("final_success_rate")
        rows.append(
            {
                "trial": trial_id,
                "status": label,
                "config": space.decode(result.config) if result.config else {},
                "success_rate": float(final if final is not None else metrics.get("success_rate", 0.0)),
                "final_episodes": metrics.get("final_episodes"),
                "validation_success_rate": float(metrics.get("success_rate", 0.0)),
                "steps": int(metrics.get("steps", 0)),
                "wall_time_s": round(float(metrics.get("wall_time_s", 0.0)), 2),
                "curve": curve,
                "error": None if result.error is None else str(result.error).splitlines()[0][:300],
            }
        )
    return sorted(rows, key=_rank)


def _rank(row: dict[str, Any]) -> tuple:
    # Finished trials first (their success is on unseen courses), then by success, then by shorter wall time.
    return (row["status"] != "finished", -row["success_rate"], row["wall_time_s"], row["trial"])


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def table(rows: Sequence[dict[str, Any]], title: str = "sweep") -> Table:
    """A rich table: trial, config, status, success rate, steps, wall time."""
    out = Table(title=title)
    for column in ("trial", "config", "status", "success", "steps", "wall time"):
        out.add_column(column, justify="right" if column in ("success", "steps", "wall time") else "left")
    for row in rows:
        config = ", ".join(f"{k.split('.')[-1]}={_value(v)}" for k, v in row["config"].items())
        out.add_row(
            row["trial"],
            config,
            row["status"],
            f"{row['success_rate']:.1%}",
            f"{row['steps']:,}",
            f"{row['wall_time_s']:.1f} s",
        )
    return out


def write_results(sweep_dir: Path, rows: Sequence[dict[str, Any]], base: ScenarioConfig, space: SearchSpace) -> None:
    """Write ``results.csv``, ``results.json``, the plot and the recommendation.

    The recommendation (``best_overrides.yaml``, ``best_scenario.yaml``) needs a trial that trained: a sweep whose
    trials all failed recommends nothing, and stale best files of an earlier pass are removed.
    """
    keys = list(space.params)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["trial", "status", "success_rate", "validation_success_rate", "steps", "wall_time_s", *keys])
    for r in rows:
        params = [json.dumps(r["config"].get(k)) for k in keys]
        head = [r["trial"], r["status"], r["success_rate"], r["validation_success_rate"], r["steps"], r["wall_time_s"]]
        writer.writerow([*head, *params])
    atomic_write_text(sweep_dir / "results.csv", buf.getvalue())
    atomic_write_text(sweep_dir / "results.json", json.dumps(list(rows), indent=2) + "\n")
    best = best_row(rows)
    if rows:
        atomic_write_bytes(sweep_dir / "success_vs_wall_time.png", plot_success_vs_wall_time(rows))
    if best is None:
        for name in ("best_overrides.yaml", "best_scenario.yaml"):
            (sweep_dir / name).unlink(missing_ok=True)
    else:
        nested = overrides(best["config"])
        header = (
            f"# Best of {len(rows)} trial(s) of {sweep_dir.name}: trial {best['trial']} ({best['status']}), "
            f"success {best['success_rate']:.1%}.\n# Deep-merge into envs/{base.name}.yaml, or train "
            f"best_scenario.yaml (the scenario with these values applied).\n"
        )
        atomic_write_text(sweep_dir / "best_overrides.yaml", header + yaml.safe_dump(nested, sort_keys=False))
        scenario = load_scenario(base, nested)
        atomic_write_text(
            sweep_dir / "best_scenario.yaml", yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False)
        )


def plot_success_vs_wall_time(rows: Sequence[dict[str, Any]]) -> bytes:
    """PNG bytes: validation success (%) against training wall time (s), one line per trial."""
    from tinyrl.common.plots import png, pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for row in rows:
        curve = row["curve"]
        if curve:
            ax.plot(
                [c["wall_time_s"] for c in curve],
                [100 * c["success_rate"] for c in curve],
                "o-",
                label=f"{row['trial']} ({row['status']})",
            )
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("validation success (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    if any(r["curve"] for r in rows):
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return png(fig)
