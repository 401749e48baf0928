"""The export report: ``report.json`` in the exported folder and the table ``tinyrl export`` prints."""

from __future__ import annotations

from typing import Any

from rich.console import JustifyMethod
from rich.table import Table

from tinyrl.compress.model import QuantizedMLP
from tinyrl.export.codegen import describe

# docs/design.md "Budgets": what the default policy is held to on the Cortex-M4.
DESIGN_TARGETS = {"policy_flash_bytes": 8192, "policy_ram_bytes": 1024, "instructions_per_inference": 20000}


def model_summary(model: QuantizedMLP, sha256: str, source: str) -> dict[str, Any]:
    """``{"layers", "parameters", "parameter_bytes", "sha256", ...}`` of the exported model."""
    return {
        "source": source,
        "sha256": sha256,
        "architecture": describe(model),
        "layers": len(model.layers),
        "widths": [model.in_features] + [layer.out_features for layer in model.layers],
        "parameters": int(sum(layer.weights.size + layer.bias.size for layer in model.layers)),
        "parameter_bytes": int(model.parameter_bytes),
        "macs": int(sum(layer.weights.size for layer in model.layers)),
        "input": {"scale": model.input.scale, "zero_point": model.input.zero_point},
        "output": {"scale": model.output.scale, "zero_point": model.output.zero_point},
    }


def _fmt(value: object, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return str(value)


def _check(value: object, limit: int) -> str:
    if not isinstance(value, int):
        return ""
    return "[green]ok[/]" if value <= limit else f"[yellow]> {limit:,}[/]"


def table(report: dict[str, Any]) -> Table:
    """A rich table of the report's footprint numbers (with docs/design.md's Cortex-M4 budgets alongside)."""
    model = report["model"]
    t = Table(title=f"tinyrl export: {model['architecture']} → {report['target']} ({report['rounding']} rounding)")
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_column("design target", justify="right")
    budgets = report["target"] == "cortex-m4"  # the design budgets are the Crazyflie's

    def check(value: object, key: str) -> str:
        return _check(value, DESIGN_TARGETS[key]) if budgets else ""

    t.add_row("weights + biases", _fmt(model["parameter_bytes"], " B"), "")
    policy = report.get("policy")
    if policy:
        core = report.get("core")
        if core:
            t.add_row("core", f"{core['description']}", "")
        t.add_row(
            "policy flash (text+rodata+data)",
            _fmt(policy["flash_bytes"], " B"),
            check(policy["flash_bytes"], "policy_flash_bytes"),
        )
        t.add_row("  text / rodata / data", f"{policy['text']:,} / {policy['rodata']:,} / {policy['data']:,}", "")
        t.add_row(
            "policy RAM (data+bss)", _fmt(policy["ram_bytes"], " B"), check(policy["ram_bytes"], "policy_ram_bytes")
        )
        ipi = report["instructions_per_inference"]
        if "dsp" in ipi:
            t.add_row(
                "instructions / inference (DSP)", _fmt(ipi["dsp"]), check(ipi["dsp"], "instructions_per_inference")
            )
        t.add_row("instructions / inference (portable)", _fmt(ipi.get("portable")), "")
        kernels = policy["kernels"]
        label = "DSP" if kernels == "dsp" else kernels
        t.add_row(f"  + float quantize/dequantize ({label})", _fmt(ipi.get(f"{kernels}_float")), "")
        helpers = report.get("int8_path", {}).get("helpers")
        if helpers is not None:
            t.add_row("int8 path: float / division", "none", "")
            t.add_row("int8 path: library helpers", ", ".join(helpers) or "none", "")
        fw = report["firmware"]
        t.add_row("firmware image flash / RAM", f"{fw['flash_bytes']:,} B / {fw['ram_bytes']:,} B", "")
    else:
        t.add_row("ARM footprint", report.get("arm", "skipped"), "")
    t.add_row("verified vectors", _fmt(report["verification"]["vectors"]), "0 mismatches")
    return t


def _kb(value: object) -> str:
    return "—" if not isinstance(value, int) else f"{value / 1024:,.0f}"


def fits_on_table(report: dict[str, Any]) -> Table | None:
    """A rich table of the report's "fits on" boards, or ``None`` when the export has none (``--target host``)."""
    fits = report.get("fits_on")
    if not fits:
        return None
    rate = fits["policy_rate_hz"]
    t = Table(
        title=f"fits on: % of one core at {rate:g} Hz ({fits['policy_rate_from']})",
        caption=f"* {fits['timing']} ~ estimate: the named target's numbers, clock-scaled.",
        caption_justify="left",
    )
    columns: list[tuple[str, JustifyMethod]] = [
        ("board", "left"),
        ("core @ MHz", "left"),
        ("RAM / flash KB", "right"),
        ("policy flash / RAM B", "right"),
        ("instr.", "right"),
        ("µs*", "right"),
        ("% core", "right"),
        ("fits, measured on", "left"),
    ]
    for name, justify in columns:
        t.add_column(name, justify=justify)
    for row in fits["boards"]:
        head = [
            row["board"],
            f"{row['core']} @ {row['clock_mhz']:g}",
            f"{_kb(row['ram_bytes'])} / {_kb(row['flash_bytes'])}",
        ]
        if row["basis"] == "not measured":
            t.add_row(*head, "—", "—", "—", "—", f"? {row['target']}: {row['note']}")
            continue
        estimate = row["basis"] == "estimate"
        mark = "~" if estimate else ""
        fits_text = "[green]yes[/]" if row["fits"] else "[red]no[/]"
        where = f"estimate from {row['target']}" if estimate else row["target"]
        t.add_row(
            *head,
            f"{mark}{row['policy_flash_bytes']:,} / {mark}{row['policy_ram_bytes']:,}",
            f"{mark}{row['instructions_per_inference']:,}",
            f"{mark}{row['us_per_inference']:,.1f}",
            f"{mark}{row['core_percent']:.3f}",
            f"{fits_text} {where} ({row['kernels']})",
        )
    return t
