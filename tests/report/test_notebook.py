"""notebooks/evaluate_policy.ipynb runs top to bottom in a fresh kernel of this interpreter and shows figures."""

import json
import sys
from pathlib import Path

import ipykernel  # noqa: F401  (the kernel the notebook runs in; a missing install must fail, not skip)
import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "evaluate_policy.ipynb"
KERNEL = "tinyrl-test"


@pytest.fixture
def kernel_name(tmp_path, monkeypatch):
    """A kernelspec that runs *this* interpreter (the installed "python3" spec may say just "python")."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return KERNEL


def test_committed_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, "clear the notebook's outputs before committing"


def test_notebook_executes_and_shows_figures(kernel_name, monkeypatch):
    monkeypatch.setenv("TINYRL_NOTEBOOK_EPISODES", "12")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name=kernel_name, timeout=300, resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()  # raises CellExecutionError on any cell error
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) >= 6
    html = "".join(out["data"].get("text/html", "") for out in outputs if "data" in out)
    assert "teacher" in html and "int8" in html
