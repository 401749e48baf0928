"""Fixtures of the exporter tests (helpers live in export_support.py: ``conftest`` is not a unique module name)."""

from export_support import default_export, tflite_file  # noqa: F401  (re-exported so pytest finds the fixtures)
