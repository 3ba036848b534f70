"""pagutils: the library behind the course on robust features and perceptually-aligned gradients.

Its folders follow the course, each module named after the idea it computes (and the chapter that introduces it):
  core                the spine every chapter stands on (Chapter 1 and on): data, models, attacks, convergence,
                      gradients, robust_losses, train, zoo, cache, checkpoint, spread, claims, and checks, paths,
                      defaults (the settings chapters, tests and benchmarks share), profiles, progress, device,
                      versions
  robust_features     Part I: gaussian, features (D_R / D_NR, D_rand / D_det), transfer (Chapters 2-5)
  aligned_gradients   Part II: generation, synthetic, manifold, distractor, score, alignment (Chapters 6-10)
  experiments         one spec per chapter: its settings per profile, the models it builds and its claims
  present             what a reader sees: plots, widgets, report (results tables), readings
  scale               paper scale, imported on demand: distributed (torchrun), prefill (submitit), imagenet
  course              the course around the book: syllabus, pack (the teacher's model pack), repository
A lower layer never imports a higher one: the core imports no Part, presentation, scale or course module, and a
Part imports no scale or course module (tests/test_imports.py). The modules chapters use are importable from
`pagutils` itself (`from pagutils import attacks, report`), so that notebooks stay short.
"""
import os as _os
import warnings as _warnings

# torch.func.jacfwd (the tangent spaces of Chapters 7, 9 and 10) switches on forward-mode AD, whose first use
# imports torch._decomp.decompositions_for_jvp; that module calls the deprecated torch.jit.script while it is
# imported, and torch 2.9+ then prints a FutureWarning with the path of torch in the venv into the chapter.
# The warning is about torch's own internals, not about anything pagutils or a reader calls: import that
# module once here (under the same condition torch does), with exactly that warning silenced.
if _os.environ.get("PYTORCH_JIT", "1") == "1" and __debug__:
    with _warnings.catch_warnings():
        _warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
        from torch._decomp import decompositions_for_jvp as _decompositions_for_jvp  # noqa: F401

from .core import (attacks, cache, checks, claims, data, defaults, gradients, models, paths, profiles,
                   robust_losses, spread, train, zoo)
from .robust_features import features, gaussian, transfer
from .aligned_gradients import alignment, distractor, generation, manifold, score, synthetic
from .present import plots, report, widgets
from .core.device import default_device
from .core.profiles import settings

# the modules `import pagutils` does not load itself (a few of the core's, the cluster layer, the course tools),
# imported when first named: `from pagutils import pack` is `from pagutils.course import pack`
_ON_DEMAND = {"checkpoint": "core", "convergence": "core", "device": "core", "progress": "core", "versions": "core",
              "readings": "present", "distributed": "scale", "prefill": "scale", "imagenet": "scale",
              "syllabus": "course", "pack": "course", "repository": "course"}


def __getattr__(name):
    if name in _ON_DEMAND:
        import importlib
        return importlib.import_module(f"{__name__}.{_ON_DEMAND[name]}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _version() -> str:
    """pagutils' version, written once, in pyproject.toml: from the installed package's metadata, or from
    pyproject.toml itself in a source checkout that is not installed (CITATION.cff repeats it; tests/test_lock.py)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("pagutils")
    except PackageNotFoundError:
        import re  # tomllib is Python 3.11+; the version line is plain enough for a pattern
        with open(_os.path.join(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))), "pyproject.toml"),
                  encoding="utf-8") as file:
            return re.search(r'^version = "([^"]+)"', file.read(), re.MULTILINE).group(1)


__version__ = _version()
