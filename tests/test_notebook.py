"""examples/jupyter_analysis.ipynb runs headless from top to bottom and draws its figures."""
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat (pip install -e '.[test]')")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs nbclient (pip install -e '.[test]')")
pytest.importorskip("ipykernel", reason="the notebook test needs ipykernel (pip install -e '.[test]')")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "jupyter_analysis.ipynb"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def executed():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # Runs where a reader would run it (examples/), so its relative path to the shared data holds.
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()          # raises CellExecutionError, with the cell and traceback, if any cell fails
    return nb


def _tagged(nb, tag):
    return [c for c in nb.cells if c.cell_type == "code" and tag in c.metadata.get("tags", [])]


def _pngs(cell) -> int:
    return sum("image/png" in out.get("data", {}) for out in cell.outputs)


def test_every_figure_cell_produces_png_images(executed):
    cells = _tagged(executed, "figure")
    assert len(cells) == 3
    assert [_pngs(c) for c in cells] == [1, 4, 1]      # record slice; eye, bathtub, histogram, spectrum; bathtubs


def test_reanalysis_with_a_tighter_limit_turns_pass_into_fail(executed):
    (cell,) = _tagged(executed, "reanalyze")
    text = "".join(out.get("text", "") for out in cell.outputs)
    assert "stored verdict PASS" in text and text.strip().endswith(": FAIL")


def test_the_real_uart_capture_is_imported_and_plotted(executed):
    if not (DATA / "keysight_dsox1102g_uart.bin").exists():
        pytest.skip(f"real capture keysight_dsox1102g_uart.bin not present in {DATA}")
    (imported,) = _tagged(executed, "import")
    assert "01_eye-jitter" in "".join(out.get("text", "") for out in imported.outputs)
    (plotted,) = _tagged(executed, "figure-if-data")
    assert _pngs(plotted) == 5                          # the capture, then the procedure's four figures
