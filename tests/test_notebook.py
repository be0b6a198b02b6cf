"""notebooks/explore.ipynb runs end to end (shrunk with WAVEGAN_NOTEBOOK_SMOKE=1) and is stored without outputs."""
import os
import time

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import REPO

NOTEBOOK = REPO / "notebooks" / "explore.ipynb"


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)


@pytest.mark.heavy
def test_notebook_runs_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("WAVEGAN_NOTEBOOK_SMOKE", "1")
    monkeypatch.setenv("PYTHONPATH", str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    print(f"notebook ran in {time.perf_counter() - t0:.1f} s")
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "step 3 after" in text and "real test split" in text
    audio = [o for c in nb.cells for o in c.get("outputs", []) if "text/html" in o.get("data", {})
             and "<audio" in o["data"]["text/html"]]
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(audio) == 5 and len(images) == 2  # 4 generated clips + the interpolation; 2 figures
    assert (tmp_path / "runs" / "notebook" / "checkpoints").is_dir()
