"""The exporter's error type."""

from __future__ import annotations

from tinyrl.errors import TinyRLError


class ExportError(TinyRLError):
    """The model cannot be exported for the target, or a build tool is missing or failed; the message says which."""
