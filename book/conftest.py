"""pytest settings for executing the chapters with nbval (`pytest book --nbval-lax`).

Two things make a correct chapter fail under nbval without an error of its own:

- nbval reads a cell's output messages only after the cell has finished. A live progress bar sends several
  messages per update and per bar, the kernel's output socket keeps about a thousand and drops the rest, and
  once the final "idle" message is dropped nbval waits for it in vain ("Timeout ... waiting for output").
  Chapter 5's cell that trains 44 models did exactly that in CI. The chapters run here with
  `PAG_PROGRESS=0`, as the book build does; `tests/test_book_conftest.py` keeps this true.
- nbval waits at most 5 seconds for each output message; on a busy 2-core machine a long cell's last outputs
  can take longer to arrive. Every chapter cell gets 60 seconds instead (the cell's own time limit is
  `--nbval-cell-timeout`).

One thing makes nbval's outputs differ from Jupyter's: nbval sends each cell to the kernel with
`store_history=False`, so IPython cannot see a cell's closing `;` and shows the value it should hide (a figure
cell ending in `ax.legend();` gets a second output, which the book build would read as a second figure). The
kernels here execute as Jupyter and the book build do, with `store_history=True`.

And one thing saves the book build from running a chapter a second time: a notebook whose every cell passed
under nbval is stored, with the outputs nbval received, in the book build's execution cache
(`_build/.jupyter_cache`, jupyter-cache, which `execute_notebooks: cache` in `_config.yml` reads). The book
build then renders those outputs instead of executing the chapter again, as it would after an earlier build
of the same code. Only a notebook inside a book project (a `_config.yml` above it) is stored. A notebook with
an interactive widget is not: nbval does not keep the widgets' state, so the book build runs it itself.
`tests/test_book_conftest.py` checks all of this.

`make test` runs the chapters two at a time (pytest-xdist, `-n 2 --dist loadfile`: each worker runs whole
notebooks, each kernel on one thread). The chapters are collected the longest first (`LONGEST_FIRST`, measured),
so that no long chapter is left to run alone at the end; with `--no-loadscope-reorder` xdist hands them out in
that order. A chapter that needs another's models builds them itself, or waits for the other under the model
cache's lock. The workers store their executions one at a time, under a file lock.
"""
import copy
import fcntl
import os
from collections import defaultdict
from pathlib import Path

OUTPUT_TIMEOUT = 60
# the chapters the longest first: seconds of a cold quick-profile nbval run on 2 cores, two threads (fresh clone,
# 17437eb): Chapter 3 about 275, 10 about 245, 1 about 205, 4 about 190, 5 about 65 (about 125 since it votes on
# four seeds a side, from its one-thread time), 8 about 45, the rest under 35
LONGEST_FIRST = ("ch03_robustified_datasets", "ch10_four_ways_three_regimes", "ch01_adversarial_examples",
                 "ch04_non_robust_features", "ch05_transferability", "ch08_distractor",
                 "ch09_manifold_real_images")
WIDGET = "application/vnd.jupyter.widget-view+json"

_cells = defaultdict(list)  # notebook path -> its nbval cell items, in order
_passed = {}  # node id of a cell that ran and passed -> the seconds it took


def pytest_configure(config):
    # the kernels nbval starts inherit this process's environment
    os.environ["PAG_PROGRESS"] = "0"
    try:
        from nbval.kernel import RunningKernel
    except ImportError:  # nbval is not installed: nothing of it to set
        return
    RunningKernel.execute_cell_input = _execute_as_jupyter_does


def _execute_as_jupyter_does(kernel, cell_input, allow_stdin=None):
    """nbval's `RunningKernel.execute_cell_input`, with the history Jupyter keeps (a closing `;` hides the value)."""
    return kernel.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False)


def _rank(item):
    stem = Path(str(item.fspath)).stem
    return LONGEST_FIRST.index(stem) if stem in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(items):
    items.sort(key=_rank)  # stable: a notebook's cells keep their order
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = OUTPUT_TIMEOUT
        if hasattr(item, "cell") and hasattr(item.parent, "nb"):
            _cells[Path(str(item.parent.fspath)).resolve()].append(item)


def pytest_runtest_logreport(report):
    if report.when == "call" and report.passed:
        _passed[report.nodeid] = report.duration


def book_cache(notebook: Path):
    """The book build's execution cache for `notebook`: `_build/.jupyter_cache` of the first folder above it
    that holds a `_config.yml`; None outside a book project."""
    for folder in notebook.resolve().parents:
        if (folder / "_config.yml").exists():
            return folder / "_build" / ".jupyter_cache"
    return None


def executed(items):
    """The notebook of `items` (one notebook's nbval cells, in order) with the outputs nbval received, or None
    when a cell did not pass or did not run, or an output is a widget."""
    if not items or any(item.nodeid not in _passed for item in items):
        return None
    nb = copy.deepcopy(items[0].parent.nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    if len(code) != len(items):
        return None
    for cell, item in zip(code, items):
        if any(WIDGET in out.get("data", {}) for out in item.test_outputs):
            return None
        cell.outputs = item.test_outputs
    return nb


def pytest_sessionfinish(session):
    for path, items in _cells.items():
        where = book_cache(path)
        nb = executed(items)
        if where is None or nb is None:
            continue
        from jupyter_cache import get_cache
        from jupyter_cache.base import CacheBundleIn

        where.mkdir(parents=True, exist_ok=True)
        with open(where.parent / ".jupyter_cache.lock", "w") as lock:  # xdist's workers write one at a time
            fcntl.flock(lock, fcntl.LOCK_EX)
            get_cache(str(where)).cache_notebook_bundle(
                CacheBundleIn(nb, str(path), data={"execution_seconds": sum(_passed[i.nodeid] for i in items)}),
                check_validity=False, overwrite=True)
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"book/conftest.py: {path.name}'s execution stored for the book build")
