"""`book/conftest.py`: what it does for the chapters under nbval.

- Chapters must not lose their last output message to live progress bars. nbval reads a cell's messages only
  after the cell finishes; a cell that opens many progress bars overflows the kernel's output socket and the
  final "idle" message is dropped, so nbval reports a timeout. CI failed so on Chapter 5. The conftest turns
  the bars off; a cell that opens many bars runs once with that conftest (it must pass) and once without (the
  failure it prevents must still happen, or the test proves nothing).
- A notebook that passed under nbval is stored in the book build's execution cache, so that the book build
  does not run it again: found there by jupyter-cache's own match (the call the book build makes), with
  nbval's outputs and the source's cell metadata, and with the outputs Jupyter would show (a closing `;` hides
  a cell's value); a notebook with a failing cell, or with a widget, is not.
- `make test` runs the chapters two at a time under pytest-xdist: each worker runs whole notebooks in order, the
  longest chapters are handed out first, and every worker stores what it ran.
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
from pagutils.core.progress import progress
for _ in range(80):
    for _ in progress(range(40), mininterval=0):
        pass
print("done")
"""


KERNEL = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
          "language_info": {"name": "python"}}


def _run_nbval(folder, *sources, name="bars.ipynb", options=()):
    nb = nbformat.v4.new_notebook(metadata=KERNEL)
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources or (CELL,)]
    nbformat.write(nb, folder / name)
    env = {k: v for k, v in os.environ.items() if k != "PAG_PROGRESS"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider", *options, "."],
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


def _book(tmp_path):
    """A book project: `_config.yml` at its root, the book's conftest in `book/`."""
    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "book").mkdir()
    shutil.copy(BOOK_CONFTEST, tmp_path / "book" / "conftest.py")
    return tmp_path / "book"


def _cached(tmp_path, name):
    """The notebook `book/name` merged with its execution in the book build's cache (None when none)."""
    from jupyter_cache import get_cache

    nb = nbformat.read(tmp_path / "book" / name, as_version=4)
    try:
        return get_cache(str(tmp_path / "_build" / ".jupyter_cache")).merge_match_into_notebook(nb)[1]
    except KeyError:
        return None


@pytest.mark.slow
def test_a_passing_notebook_is_stored_for_the_book_build_with_its_outputs(tmp_path):
    book = _book(tmp_path)
    figure = "import matplotlib.pyplot as plt\nprint('hello')\nplt.plot([1, 2])\nplt.show()"
    glued = "from myst_nb import glue\nglue('x', 3.5, display=False)\n1 + 1"
    quiet = "1 + 1;  # the semicolon hides the value, as in Jupyter"
    result = _run_nbval(book, figure, glued, quiet, name="chapter.ipynb")
    assert result.returncode == 0, result.stdout[-2000:]
    merged = _cached(tmp_path, "chapter.ipynb")
    assert merged is not None, "the passing notebook is not in the book build's cache"
    printed, shown = merged.cells[0].outputs
    assert printed.text == "hello\n"
    assert "image/png" in shown.data
    glue, value = merged.cells[1].outputs
    assert glue.metadata["scrapbook"]["name"] == "x"
    assert value.data["text/plain"] == "2"
    assert merged.cells[2].outputs == []


@pytest.mark.slow
def test_a_failing_or_widget_notebook_is_left_for_the_book_build_to_run(tmp_path):
    book = _book(tmp_path)
    nbformat.write(nbformat.v4.new_notebook(metadata=KERNEL, cells=[nbformat.v4.new_code_cell(
        "import ipywidgets\nipywidgets.IntSlider()")]), book / "widget.ipynb")
    result = _run_nbval(book, "print('ran')", "1 / 0", name="failing.ipynb")
    assert result.returncode != 0
    assert _cached(tmp_path, "failing.ipynb") is None
    assert _cached(tmp_path, "widget.ipynb") is None


@pytest.mark.slow
def test_outside_a_book_project_nothing_is_stored(tmp_path):
    shutil.copy(BOOK_CONFTEST, tmp_path / "conftest.py")
    assert _run_nbval(tmp_path, "print(1)").returncode == 0
    assert not any(tmp_path.parent.glob("_build")) and not (tmp_path / "_build").exists()


@pytest.mark.slow
def test_two_workers_run_whole_notebooks_the_longest_first_and_store_each(tmp_path):
    """As `make test` runs the chapters (its NBVAL options): each notebook runs in one kernel, in order (a later
    cell reads an earlier cell's variable), the chapters named longest are handed out first, and both workers'
    executions are in the cache."""
    book = _book(tmp_path)
    log = tmp_path / "order.log"
    names = ["ch07_pag_real_images", "ch03_robustified_datasets", "ch10_four_ways_three_regimes"]
    for name in names[1:]:
        nbformat.write(nbformat.v4.new_notebook(metadata=KERNEL, cells=[nbformat.v4.new_code_cell(source) for source in (
            f"import time\nopen({str(log)!r}, 'a').write('{name}\\n')\nvalue = '{name}'\ntime.sleep(2)",
            f"assert value == '{name}'\nprint(value)")]), book / f"{name}.ipynb")
    result = _run_nbval(book, f"open({str(log)!r}, 'a').write('{names[0]}\\n')", name=f"{names[0]}.ipynb",
                        options=("-n", "2", "--dist", "loadfile", "--no-loadscope-reorder"))
    assert result.returncode == 0, result.stdout[-2000:]
    assert "5 passed" in result.stdout, result.stdout[-2000:]
    started = log.read_text().split()
    assert set(started[:2]) == set(names[1:]), started  # the two long chapters first, one on each worker
    for name in names:
        merged = _cached(tmp_path, f"{name}.ipynb")
        assert merged is not None, f"{name} is not in the book build's cache"
    assert merged.cells[1].outputs[0].text == f"{names[2]}\n"
