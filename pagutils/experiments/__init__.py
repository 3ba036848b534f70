"""One spec per chapter: what it runs and what it claims, written once (`Experiment`).

    from pagutils import experiments
    spec = experiments.get("ch03_robustified_datasets")
    cfg = spec.settings(globals())                    # the notebook's settings cell
    spec.zoo_models(cfg)                              # what it asks the zoo for; what prefill prepares
    spec.claim("dr_above_d").read(holds, measured=...)   # a claim, read by the run

The chapter notebooks, `pagutils.scale.prefill`, the full-profile test and the Reproduction page read these specs.
"""
from . import ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09, ch10
from ..core import checks
from .spec import Experiment

EXPERIMENTS = {module.EXPERIMENT.chapter: module.EXPERIMENT
               for module in (ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09, ch10)}
CHAPTERS = tuple(EXPERIMENTS)


def get(chapter: str) -> Experiment:
    """The spec of `chapter` (its notebook's name, e.g. 'ch03_robustified_datasets'). Introduced in Chapter 1."""
    checks.one_of(chapter, CHAPTERS, "chapter", "experiments.get")
    return EXPERIMENTS[chapter]
