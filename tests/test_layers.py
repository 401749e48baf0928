"""The import layers (``scripts/check_layers.py``, run by ``make lint``) hold, and the check catches a breach."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKER = ROOT / "scripts" / "check_layers.py"


def _run(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECKER), "--root", str(root)], capture_output=True, text=True, check=False
    )


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    """A fixture package ``tinyrl`` with one module per layer plus ``files`` (path -> source)."""
    base = {
        "tinyrl/__init__.py": "",
        "tinyrl/errors.py": "",
        "tinyrl/sim/__init__.py": "",
        "tinyrl/sim/drone.py": "from tinyrl.errors import *\n",
        "tinyrl/tasks/__init__.py": "",
        "tinyrl/tasks/core.py": "import tinyrl.sim.drone\n",
        "tinyrl/train/__init__.py": "",
        "tinyrl/train/trainer.py": "from tinyrl.tasks import core\n",
        "tinyrl/report/__init__.py": "",
        "tinyrl/report/plots.py": "",
        "tinyrl/scale/__init__.py": "",
        "tinyrl/scale/sweep.py": "from tinyrl.train.trainer import train\n",
    }
    for rel, text in {**base, **files}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_package_keeps_its_layers():
    result = _run(ROOT)
    assert result.returncode == 0, result.stderr


def test_a_clean_fixture_tree_passes(tmp_path):
    result = _run(_tree(tmp_path, {}))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("files", "message"),
    [
        # An import back up, hidden inside a function, as lazy imports are.
        (
            {"tinyrl/sim/drone.py": "def f():\n    from tinyrl.train.trainer import train\n"},
            "tinyrl.sim.drone imports tinyrl.train.trainer, up",
        ),
        # Siblings on one layer must not lean on each other.
        ({"tinyrl/scale/sweep.py": "import tinyrl.report.plots\n"}, "sideways"),
        # A cycle inside one layer.
        (
            {"tinyrl/tasks/a.py": "from tinyrl.tasks import b\n", "tinyrl/tasks/b.py": "import tinyrl.tasks.a\n"},
            "import cycle: tinyrl.tasks.a <-> tinyrl.tasks.b",
        ),
        # A module no layer claims.
        ({"tinyrl/plugins/x.py": ""}, "in no layer"),
    ],
    ids=["back-edge-in-function", "sibling", "cycle", "unplaced"],
)
def test_a_breach_fails_the_check(tmp_path, files, message):
    result = _run(_tree(tmp_path, files))
    assert result.returncode == 1
    assert message in result.stderr


def test_type_checking_imports_are_exempt(tmp_path):
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tinyrl.train.trainer import X\n"
    result = _run(_tree(tmp_path, {"tinyrl/sim/drone.py": source}))
    assert result.returncode == 0, result.stderr
