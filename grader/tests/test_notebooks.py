"""The solution notebooks run top to bottom, as a student's would once every question is done."""
import os
import sys
from pathlib import Path

import nbformat
import pytest

from grader.course import SOLUTIONS, load_course

nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[dev]' to run the notebooks")

NOTEBOOKS = {hw.notebook: hw.id for hw in load_course() if hw.notebook}
ALL_TESTS = "!make test PYTHON={sys.executable}"  # a last cell of some notebooks: the handout's tests


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_solution_notebook_runs_top_to_bottom(name, monkeypatch):
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    notebook = nbformat.read(SOLUTIONS / name, as_version=4)
    # In a handout, `make test` runs that homework's tests; in solutions/ (HW empty) it would
    # run every homework's, which make test-solutions does once already. Run the handout's.
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.source == ALL_TESTS:
            cell.source = f"!make test HW={NOTEBOOKS[name]} PYTHON={{sys.executable}}"
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(SOLUTIONS)}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    text = "\n".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                     for output in cell.outputs)
    assert "failed" not in text and "*** " not in text and " passed" in text, text[-2000:]
