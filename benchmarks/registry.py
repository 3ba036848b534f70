"""The registry of the benchmark's parts: `run.py` runs the parts `--only` names, in the order registered.

A part is one function registered by `@part`: it takes the run's `Context` and returns JSON-able rows, which the
results file keeps under the part's key and the table prints with the part's `show`. To add a part (the hook
for later ones, e.g. "seeds"), write one decorated function in parts.py:

    @part("seeds", devices=("cpu", "cuda"), needs=("torchattacks",), show=tables.seeds)  # show: optional
    def run_seeds(ctx):
        return [... one dict a measurement ...]

A part whose device kind or needs are not met is skipped, with the reason printed and saved.
"""
import importlib.util
import os
from dataclasses import dataclass
from typing import Callable

import torch

import tables
from timing import Timer

PARTS = {}  # name -> Part, in registration order


@dataclass(frozen=True)
class Context:
    """What every part is given: the device and its kind ("cpu" or "cuda": the sizes' key), the models, the
    PGD batch sizes and repetitions per model, the torch CPU threads (None: torch's) and the run's timer."""
    device: torch.device
    kind: str
    models: list
    batches: dict
    reps: dict
    threads: int | None
    timer: Timer


# what a part may need, each with a check that it is there
NEEDS = {
    "torchattacks": lambda: importlib.util.find_spec("torchattacks") is not None,
    "procfs": lambda: os.path.exists("/proc/self/status"),  # Linux's per-process memory counters
}


@dataclass(frozen=True)
class Part:
    """A registered part: its `name` (for `--only`), the function that measures, the device kinds it runs on,
    what it needs (names in NEEDS), the key of its rows in the results file and how its table prints."""
    name: str
    measure: Callable
    devices: tuple
    needs: tuple
    key: str
    show: Callable = None

    def unmet(self, kind):
        """Why this part cannot run on a device of `kind` here, or None when it can."""
        if kind not in self.devices:
            return f"runs on {' and '.join(self.devices)} only"
        missing = [need for need in self.needs if not NEEDS[need]()]
        return f"needs {', '.join(missing)}" if missing else None

    def lines(self, rows, results):
        """The table's lines for this part's rows (`results`: the whole run, for its clock)."""
        return self.show(rows, results) if self.show else tables.plain(self.name, rows)


def part(name, devices=("cpu", "cuda"), needs=(), key=None, show=None):
    """Register the decorated function `measure(ctx) -> rows` as the part `name` (rows saved under `key`,
    default `name`; printed by `show(rows, results) -> lines`, default one line a row)."""
    if name in PARTS:
        raise ValueError(f"part {name!r} is already registered")
    unknown = [need for need in needs if need not in NEEDS]
    if unknown:
        raise ValueError(f"part {name!r}: unknown needs {unknown} (known: {sorted(NEEDS)})")

    def register(measure):
        PARTS[name] = Part(name, measure, tuple(devices), tuple(needs), key or name, show)
        return measure
    return register


class UnknownPart(ValueError):
    """`--only` named a part that is not registered."""


def select(only=None):
    """The registered parts that `only` (comma-separated names; None: all) names, in registration order."""
    if only is None:
        return list(PARTS.values())
    names = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [name for name in names if name not in PARTS]
    if unknown or not names:
        raise UnknownPart(f"unknown part(s) {', '.join(map(repr, unknown)) or repr(only)}; "
                          f"known parts: {', '.join(PARTS)}")
    return [p for p in PARTS.values() if p.name in names]
