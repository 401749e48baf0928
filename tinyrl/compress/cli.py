"""``tinyrl distill``, ``tinyrl quantize`` and ``tinyrl compare``, thin over :mod:`tinyrl.compress`.

Only typer and rich load at import; TensorFlow loads when a command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tinyrl.cli_options import EnvOption
from tinyrl.common.paths import portable_path
from tinyrl.compress.options import DistillOptions

err_console = Console(stderr=True)
_DISTILL = DistillOptions()  # the flags' defaults


def distill_command(
    teacher: Annotated[Path, typer.Option(help="Teacher: a policy folder (policies/NAME), run folder or .npz.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for student.keras, distill.json, ...")],
    env: EnvOption = "obstacle-course",
    arch: Annotated[
        str,
        typer.Option(
            help="Hidden widths of the student, comma-separated (32,32: the smallest measured to stay within "
            "2 points of the obstacle-course teacher on every level)."
        ),
    ] = ",".join(map(str, _DISTILL.arch)),
    iterations: Annotated[
        int, typer.Option(min=1, help="DAgger iterations (1 = behaviour cloning only).")
    ] = _DISTILL.iterations,
    steps: Annotated[
        int, typer.Option(min=1, help="Env steps collected per iteration.")
    ] = _DISTILL.steps_per_iteration,
    n_drones: Annotated[int, typer.Option("--n-drones", min=1, help="Drones simulated at once.")] = _DISTILL.n_drones,
    beta: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Teacher mixing: beta**i at iteration i.")
    ] = _DISTILL.beta,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the dataset per iteration.")] = _DISTILL.epochs,
    eval_episodes: Annotated[
        int, typer.Option(min=0, help="Closed-loop episodes per iteration on unseen courses (0: skip).")
    ] = _DISTILL.eval_episodes,
    seed: Annotated[int, typer.Option(help="Seed of rollouts, initial weights and batch order.")] = _DISTILL.seed,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Distil a teacher into a small Keras student with DAgger (writes student.keras, distill.json, calibration.npz)."""
    from tinyrl.compress.artefacts import load_policy
    from tinyrl.compress.distill import distill, write_distill_outputs
    from tinyrl.compress.student import parse_arch
    from tinyrl.tasks.config import load_scenario

    config = load_scenario(env)
    options = DistillOptions(
        arch=parse_arch(arch),
        iterations=iterations,
        n_drones=n_drones,
        steps_per_iteration=steps,
        beta=beta,
        epochs=epochs,
        eval_episodes=eval_episodes,
        seed=seed,
        progress=progress,
    )
    policy = load_policy(teacher)

    def report(entry: dict) -> None:
        success = entry.get("success_rate")
        err_console.print(
            f"iteration {entry['iteration']}: {entry['dataset_size']:,} samples, loss {entry['loss']:.5f}"
            + ("" if success is None else f", student success {success:.1%}"),
            highlight=False,
        )

    result = distill(config, policy, options, on_iteration=report if progress else None)
    summary = write_distill_outputs(
        result, output, options, {"env": portable_path(env), "scenario": config.name, "teacher": portable_path(teacher)}
    )
    teacher_success = summary["teacher_success_rate"]
    typer.echo(
        f"wrote {output}/student.keras ({summary['parameters']} parameters, layers {summary['layer_sizes']}), "
        f"distill.json, calibration.npz ({summary['dataset_size']:,} observations)"
        + ("" if summary["success_rate"] is None else f"; student success {summary['success_rate']:.1%}")
        + ("" if teacher_success is None else f", teacher {teacher_success:.1%}")
    )


def quantize_command(
    student: Annotated[
        Path, typer.Argument(help="Float student (.keras), or a teacher (.npz) small enough to ship as it is.")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="int8 model to write (default: policy_int8.tflite next to the input)."),
    ] = None,
    calibration: Annotated[
        Path | None, typer.Option(help="Calibration .npz (default: calibration.npz next to the student).")
    ] = None,
    env: Annotated[
        str | None, typer.Option(help="Scenario to roll the student out in if there is no calibration file.")
    ] = None,
    qat: Annotated[bool, typer.Option("--qat", help="Quantization-aware fine-tuning before conversion.")] = False,
    qat_epochs: Annotated[int, typer.Option("--qat-epochs", min=1, help="Fine-tuning passes.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of calibration subset, rollouts and fine-tuning.")] = 0,
) -> None:
    """Quantize a student or a small teacher to full-integer int8 .tflite (int8 in/out, per-channel weights) + .json."""
    from tinyrl.compress.artefacts import INT8_FILE
    from tinyrl.compress.shrink import quantize_student

    output = output if output is not None else student.parent / INT8_FILE
    meta = quantize_student(
        student, output, calibration=calibration, env=env, qat=qat, qat_epochs=qat_epochs, seed=seed
    )
    agree = meta["agreement_with_float_student"]
    detail = ", ".join(f"{k} {v:.4g}" for k, v in agree.items())
    typer.echo(
        f"wrote {output} ({meta['parameter_bytes']} bytes of int8 weights + int32 biases, head {meta['head']}, "
        f"calibrated on {meta['calibration']['samples']:,} observations) and {output.with_suffix('.json')}; "
        f"vs float student: {detail}"
    )


def compare_command(
    policy_dir: Annotated[
        Path, typer.Argument(help="Policy folder with teacher.npz, student.keras, policy_int8.tflite.")
    ],
    env: EnvOption = "obstacle-course",
    episodes: Annotated[int, typer.Option(min=1, help="Closed-loop episodes per policy (same courses, seeds).")] = 200,
    seed: Annotated[int, typer.Option(help="Base seed; episode j uses seed + j.")] = 0,
    agreement_steps: Annotated[
        int, typer.Option("--agreement-steps", min=1, help="Teacher-rollout observations for action agreement.")
    ] = 20_000,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the comparison as JSON here.")] = None,
) -> None:
    """Compare teacher, float student and int8: size, action agreement, closed-loop success; updates manifest.json."""
    from tinyrl.compress.compare import compare
    from tinyrl.io import atomic_write_text
    from tinyrl.tasks.config import load_scenario
    from tinyrl.train.ship import update_manifest

    config = load_scenario(env)
    result = compare(policy_dir, config, episodes=episodes, seed=seed, agreement_steps=agreement_steps, progress=True)
    table = Table(title=f"{policy_dir} on {config.name}: {episodes} episodes, seed {seed}")
    discrete = config.action.mode == "discrete"
    agreement = "same action" if discrete else "|Δa| ≤ 0.05"
    columns = ("policy", "params", "bytes", agreement, *(() if discrete else ("mean |Δa|",)), "success", "95 % CI")
    for column in columns:
        table.add_column(column, justify="left" if column == "policy" else "right")
    for row in result["rows"]:
        agree = row["agreement"]
        if discrete:
            cells = [f"{agree['same_action']:.1%}"]
        else:
            cells = [f"{agree['within_0.05']:.1%}", f"{agree['mean_abs_diff']:.4f}"]
        lo, hi = row["success_ci95"]
        table.add_row(
            row["name"],
            f"{row['parameters']:,}",
            f"{row['bytes']:,}",
            *cells,
            f"{row['success_rate']:.1%}",
            f"{lo:.1%}–{hi:.1%}",
        )
    Console().print(table)
    manifest = update_manifest(policy_dir, "compression", result)
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(result, indent=2) + "\n")
    typer.echo(f"updated {manifest}")
