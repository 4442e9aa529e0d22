"""The notebooks in notebooks/: built from their sources with no outputs, and each one run top to bottom.

Each notebook runs in a fresh kernel through nbclient (Jupyter's own executor, which nbconvert and papermill
are built on; it is maintained with Jupyter and needs no pytest plugin), from the notebooks' folder, and fails
on the first cell that raises. Each has a time limit, its cells together, well above its time on 2 CPU cores.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
# notebooks/build.py, the converter from the sources (loaded by path: "build" is also a PyPI package's name)
_spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

# seconds each notebook may take, all its cells together (measured on 2 cores: see notebooks/README.md)
TIME_LIMITS = {
    "backprop.ipynb": 60,
    "lets_build_gpt.ipynb": 180,  # its last cell runs all its cells again on PyTorch
    "inside_gpt.ipynb": 150,
    "gradients_of_gradients.ipynb": 60,
}


def test_every_notebook_has_a_time_limit():
    assert sorted(TIME_LIMITS) == sorted(build.target_of(NOTEBOOKS / name).name for name in build.SOURCES)


@pytest.mark.parametrize("source", build.SOURCES)
def test_notebook_is_built_from_its_source_without_outputs(source):
    target = build.target_of(NOTEBOOKS / source)
    assert target.exists(), f"{target.name} is missing: run python notebooks/build.py"
    text = target.read_text(encoding="utf-8")
    assert text == build.text_of(build.notebook_of(NOTEBOOKS / source)), "stale: run python notebooks/build.py"
    notebook = json.loads(text)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    first_code = next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")
    assert "pip" in "".join(first_code["source"]), "the first code cell installs the engine where it is missing"


def test_build_refuses_a_file_it_did_not_make(tmp_path, monkeypatch):
    (tmp_path / "backprop.py").write_text("# %%\nprint(1)\n")
    (tmp_path / "backprop.ipynb").write_text('{"a user": "notebook"}')
    monkeypatch.setattr(build, "HERE", tmp_path)
    monkeypatch.setattr(build, "SOURCES", ("backprop.py",))
    with pytest.raises(SystemExit, match="refusing to replace"):
        build.build()
    assert (tmp_path / "backprop.ipynb").read_text() == '{"a user": "notebook"}'


def test_cells_of_the_percent_format():
    cells = build.cells_of("# %% [markdown]\n# # Title\n#\n# text\n\n# %%\nx = 1\n\n\n# %%\nx\n")
    assert cells == [
        {"cell_type": "markdown", "source": "# Title\n\ntext"},
        {"cell_type": "code", "source": "x = 1"},
        {"cell_type": "code", "source": "x"},
    ]


def run_notebook(name: str) -> tuple[dict, float]:
    """Run ``notebooks/NAME`` in a fresh kernel; returns the executed notebook and the seconds it took."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=TIME_LIMITS[name],  # per cell; the whole notebook's limit is asserted below
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    saved = dict(os.environ)
    os.environ.pop("MPLBACKEND", None)  # the kernel inherits this environment: its inline backend draws, as in Jupyter
    try:
        start = time.perf_counter()
        client.execute()
        return notebook, time.perf_counter() - start
    finally:
        os.environ.clear()
        os.environ.update(saved)


def outputs_text(notebook) -> str:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", "") or "".join(output.get("data", {}).get("text/plain", "")))
    return "\n".join(texts)


@pytest.mark.parametrize("name", sorted(TIME_LIMITS))
def test_notebook_runs_top_to_bottom(name):
    if not os.environ.get("TINYSHAKESPEARE") and name in ("lets_build_gpt.ipynb", "inside_gpt.ipynb"):
        pytest.skip("set TINYSHAKESPEARE to a local copy of tinyshakespeare (the notebook would download it)")
    notebook, seconds = run_notebook(name)
    text = outputs_text(notebook)
    shown = {kind for cell in notebook.cells for output in cell.get("outputs", []) for kind in output.get("data", {})}
    if name == "backprop.ipynb":
        assert "image/svg+xml" in shown  # the graph drawn inline
    if name == "inside_gpt.ipynb":
        html = [
            o["data"]["text/html"]
            for c in notebook.cells
            for o in c.get("outputs", [])
            if "text/html" in o.get("data", {})
        ]
        assert any(page.startswith("<iframe srcdoc=") for page in html)  # the explorer, inline
    if name != "lets_build_gpt.ipynb":
        assert "image/png" in shown  # figures drawn inline (the plots, loss.png)
    if name == "lets_build_gpt.ipynb":
        # the notebook's last cells ran its own training cells again on PyTorch: the losses must be the same
        torch_available = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode == 0
        if torch_available:
            assert "the same losses on both libraries" in text
        assert re.search(r"sample:\n", text)
    assert seconds < TIME_LIMITS[name], f"{name} took {seconds:.0f} s, over its limit of {TIME_LIMITS[name]} s"
