"""Export an int8 policy to self-contained C for the Cortex-M4 (and the host), with a footprint report."""

from tinyrl.export.errors import ExportError
from tinyrl.export.pipeline import ExportResult, export_policy

__all__ = ["ExportError", "ExportResult", "export_policy"]
