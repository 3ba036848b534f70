"""Chapters under nbval must not lose their last output message to live progress bars.

nbval reads a cell's messages only after the cell finishes; a cell that opens many progress bars overflows
the kernel's output socket and the final "idle" message is dropped, so nbval reports a timeout. CI failed so
on Chapter 5. `book/conftest.py` turns the bars off; this test runs a cell that opens many bars, once with
that conftest (it must pass) and once without (the failure it prevents must still happen, or the test proves
nothing).
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

BOOK_CONFTEST = Path(__file__).resolve().parents[1] / "book" / "conftest.py"
CELL = """\
from pagutils.progress import progress
for _ in range(80):
    for _ in progress(range(40), mininterval=0):
        pass
print("done")
"""


def _run_nbval(folder):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELL)]
    nbformat.write(nb, folder / "bars.ipynb")
    env = {k: v for k, v in os.environ.items() if k != "PAG_PROGRESS"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider",
         "bars.ipynb"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.slow
def test_many_bars_lose_the_idle_message_without_the_conftest(tmp_path):
    result = _run_nbval(tmp_path)
    assert result.returncode != 0
    assert "waiting for output" in result.stdout


@pytest.mark.slow
def test_book_conftest_keeps_nbval_from_losing_it(tmp_path):
    shutil.copy(BOOK_CONFTEST, tmp_path / "conftest.py")
    result = _run_nbval(tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
