"""pytest settings for executing the chapters with nbval (`pytest book --nbval-lax`).

nbval waits at most 5 seconds for each output message after a cell has finished; on a busy 2-core machine
a long cell's last outputs can take longer to arrive, and the cell would fail without an error of its own.
Every chapter cell gets 60 seconds instead (the cell's own time limit is `--nbval-cell-timeout`).
"""
OUTPUT_TIMEOUT = 60


def pytest_collection_modifyitems(items):
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = OUTPUT_TIMEOUT
