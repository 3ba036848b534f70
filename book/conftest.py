"""pytest settings for executing the chapters with nbval (`pytest book --nbval-lax`).

Two things make a correct chapter fail under nbval without an error of its own:

- nbval reads a cell's output messages only after the cell has finished. A live progress bar sends several
  messages per update and per bar, the kernel's output socket keeps about a thousand and drops the rest, and
  once the final "idle" message is dropped nbval waits for it in vain ("Timeout ... waiting for output").
  Chapter 5's cell that trains 44 models did exactly that in CI. The chapters run here with
  `PAG_PROGRESS=0`, as the book build does; `tests/test_nbval_progress.py` keeps this true.
- nbval waits at most 5 seconds for each output message; on a busy 2-core machine a long cell's last outputs
  can take longer to arrive. Every chapter cell gets 60 seconds instead (the cell's own time limit is
  `--nbval-cell-timeout`).
"""
import os

OUTPUT_TIMEOUT = 60


def pytest_configure(config):
    # the kernels nbval starts inherit this process's environment
    os.environ["PAG_PROGRESS"] = "0"


def pytest_collection_modifyitems(items):
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = OUTPUT_TIMEOUT
