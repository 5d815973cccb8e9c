"""examples/tutorial.ipynb: stored without outputs, and runs top to bottom (nbclient)."""

from __future__ import annotations

import nbformat
import pytest

from conftest import REPO

NOTEBOOK = REPO / "examples" / "tutorial.ipynb"


def stripped(nb) -> bool:
    """True if no code cell carries outputs or an execution count."""
    return all(not c.get("outputs") and c.get("execution_count") is None
               for c in nb.cells if c.cell_type == "code")


def test_the_tutorial_notebook_is_stored_without_outputs_and_runs_top_to_bottom():
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert stripped(nb)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    tables = [o for o in outputs if "text/html" in o.get("data", {})]
    assert len(images) == 5 and len(tables) == 3  # every figure and table was shown
    assert not stripped(nb)  # the check sees outputs once there are some
