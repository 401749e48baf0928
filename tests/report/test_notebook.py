"""notebooks/evaluate_policy.ipynb runs top to bottom in a fresh kernel of this interpreter and shows figures."""

import base64
import io
import json
import os
import re
import sys
from pathlib import Path

import ipykernel  # noqa: F401  (the kernel the notebook runs in; a missing install must fail, not skip)
import nbclient
import nbformat
import pytest
from PIL import Image

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
    # The kernel starts in notebooks/: make it import this checkout's tinyrl, not whichever one is installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name=kernel_name, timeout=300, resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()  # raises CellExecutionError on any cell error
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    pngs = [out["data"]["image/png"] for out in outputs if "image/png" in out.get("data", {})]
    markdown = "\n".join(out["data"].get("text/markdown", "") for out in outputs if "data" in out)
    titles = re.findall(r"^### (.+)$", markdown, flags=re.MULTILINE)
    assert titles == [
        "Trajectories: teacher",
        "Trajectories: student",
        "Trajectories: int8",
        "Success rates",
        "Success vs difficulty",
        "Robustness",
        "Time to goal",
        "int8 quantization error",
        "HIL latency",  # the shipped folder holds hil.json
        "Learning curve",
    ]
    assert len(pngs) == len(titles)
    for data in pngs:
        with Image.open(io.BytesIO(base64.b64decode(data))) as im:
            assert im.format == "PNG" and im.width > 100 and im.height > 100
    gifs = [out["data"]["image/gif"] for out in outputs if "image/gif" in out.get("data", {})]
    assert len(gifs) == 1, "the episode video is missing"
    with Image.open(io.BytesIO(base64.b64decode(gifs[0]))) as im:
        assert im.format == "GIF" and im.n_frames > 1
    html = "".join(out["data"].get("text/html", "") for out in outputs if "data" in out)
    assert "teacher" in html and "int8" in html and "round trip p50" in html
    # The robustness table: every condition for the teacher and the int8 policy.
    for condition in ("nominal", "randomized", "mass_inertia_30", "sensor_noise_x3_latency", "wind_x3"):
        for name in ("teacher", "int8"):
            assert f"<tr><td>{condition}</td><td>{name}</td>" in html
