"""The notebooks in notebooks/ run top to bottom (shrunk by MTASIM_NOTEBOOK_SMALL=1) and print their answers."""

from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import NATIVE_KERNEL_NAME     # "python3": ipykernel's own kernel, this venv's
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

# Text each notebook must print (stream or result outputs), and how many figures it must draw.
# The first text of each shows that the kernel saw MTASIM_NOTEBOOK_SMALL and shrank the sizes.
EXPECTED = {
    "01-quickstart.ipynb": (["300 messages uniform", "delivered", "expired", "4.4.7", "exchange-server",
                             "delay warnings"], 2),
    "02-delivery-vs-expiry.ipynb": (["1 replication(s)", "method single-run", "exchange-online (1d)",
                                     "postfix (5d)"], 2),
    "03-tuning-retry-periods.ipynb": (["2,000 messages over 1 replication(s)", "shortest expiry delivering >= 99.9%",
                                       "on the Pareto front", "Recommendation:"], 3),
}


def _text(outputs):
    """All text a cell printed or returned."""
    parts = []
    for out in outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif "data" in out:
            parts.append(out.data.get("text/plain", ""))
    return "".join(parts)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs(name, monkeypatch):
    """The notebook executes without errors, prints its key results and shows its figures."""
    monkeypatch.setenv("MTASIM_NOTEBOOK_SMALL", "1")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name=NATIVE_KERNEL_NAME,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, [f"{e.ename}: {e.evalue}" for e in errors]
    printed = "\n".join(_text(c.outputs) for c in code)
    texts, figures = EXPECTED[name]
    for text in texts:
        assert text in printed, f"{name} did not print {text!r}"
    pngs = sum("image/png" in o.get("data", {}) for c in code for o in c.outputs)
    assert pngs == figures, f"{name} showed {pngs} figures, expected {figures}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_stored_without_outputs(name):
    """The committed notebook carries no outputs or execution counts, so the repository stays small."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
