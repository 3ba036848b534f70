"""Progress bars for long work; `PAG_PROGRESS=0` turns them off (the book build does)."""
import os

from tqdm.auto import tqdm


def progress(iterable=None, disable=False, leave=False, **kwargs):
    """A tqdm bar over `iterable`; silent when `disable` or when `PAG_PROGRESS=0`."""
    off = os.environ.get("PAG_PROGRESS", "1").lower() in ("0", "false", "no", "off")
    return tqdm(iterable, disable=disable or off, leave=leave, **kwargs)
