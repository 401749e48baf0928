"""What ships in ``policies/`` names no folder of the machine that made it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p for p in (ROOT / "policies").glob("*/*") if p.suffix in (".json", ".yaml"))


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)] + [k for k in value if isinstance(k, str)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _absolute_paths(text: str) -> list[str]:
    """Words of ``text`` that are absolute paths (``/tmp/x``, ``--out=/home/u/runs``); ``/`` alone is not one."""
    words = (w.strip("\"'(),;<>") for w in text.replace("=", " ").split())
    return [w for w in words if w.startswith("/") and len(w) > 1]


def test_the_scan_finds_a_machine_path():
    assert _absolute_paths("python scripts/train.py --out=/tmp/runs --seed 1") == ["/tmp/runs"]
    assert _absolute_paths("<runs> 5 / 2") == []


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_files_record_no_absolute_path(path: Path):
    data = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
    found = [p for s in _strings(data) for p in _absolute_paths(s)]
    assert not found, f"{path.relative_to(ROOT)} records {found[:3]}"


def test_every_policy_folder_is_scanned():
    assert {p.parent.name for p in SHIPPED} >= {"hover", "obstacle-course", "source-seeking", "source-seeking-paper"}
