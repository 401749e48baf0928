"""Fixtures of the compression tests (helpers live in compress_support.py: ``conftest`` is not a unique module name)."""

from compress_support import run_reference  # noqa: F401  (re-exported so pytest finds the fixture)
