"""The export report: ``report.json`` in the exported folder and the table ``tinyrl export`` prints."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from tinyrl.compress.model import QuantizedMLP
from tinyrl.export.codegen import describe

# docs/design.md "Budgets": what the default policy is held to on the Cortex-M4.
DESIGN_TARGETS = {"policy_flash_bytes": 4096, "policy_ram_bytes": 512, "instructions_per_inference": 5000}


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
    """A rich table of the report's footprint numbers (with docs/design.md's budgets alongside)."""
    model = report["model"]
    t = Table(title=f"tinyrl export: {model['architecture']} → {report['target']} ({report['rounding']} rounding)")
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_column("design target", justify="right")
    t.add_row("weights + biases", _fmt(model["parameter_bytes"], " B"), "")
    policy = report.get("policy")
    if policy:
        t.add_row(
            "policy flash (text+rodata+data)",
            _fmt(policy["flash_bytes"], " B"),
            _check(policy["flash_bytes"], DESIGN_TARGETS["policy_flash_bytes"]),
        )
        t.add_row("  text / rodata / data", f"{policy['text']:,} / {policy['rodata']:,} / {policy['data']:,}", "")
        t.add_row(
            "policy RAM (data+bss)",
            _fmt(policy["ram_bytes"], " B"),
            _check(policy["ram_bytes"], DESIGN_TARGETS["policy_ram_bytes"]),
        )
        ipi = report["instructions_per_inference"]
        t.add_row(
            "instructions / inference (DSP)",
            _fmt(ipi.get("dsp")),
            _check(ipi.get("dsp"), DESIGN_TARGETS["instructions_per_inference"]),
        )
        t.add_row("instructions / inference (portable)", _fmt(ipi.get("portable")), "")
        t.add_row("  + float quantize/dequantize (DSP)", _fmt(ipi.get("dsp_float")), "")
        fw = report["firmware"]
        t.add_row("firmware image flash / RAM", f"{fw['flash_bytes']:,} B / {fw['ram_bytes']:,} B", "")
    else:
        t.add_row("ARM footprint", report.get("arm", "skipped"), "")
    t.add_row("verified vectors", _fmt(report["verification"]["vectors"]), "0 mismatches")
    return t
