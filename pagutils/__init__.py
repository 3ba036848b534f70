"""pagutils: the library behind the course on robust features and perceptually-aligned gradients.

Modules, each named after the idea it computes (and the chapter that introduces it):
  data, models, attacks, train, zoo, cache, profiles, report, plots   the spine (Chapter 1)
  defaults        the settings chapters, tests and benchmarks share, per profile (one home)
  checks          argument validation shared by every public function, called once where a value comes in
  gaussian        the robust Gaussian model of Ilyas et al., Section 4 (Chapter 2)
  features        D_R / D_NR by representation matching, D_rand / D_det by targeted PGD, leakage (Chapters 3-5)
  spread          a measurement over seeds: mean with min-max, and when two are separated by it (Chapter 3)
  transfer        transfer targets never the source model, Pearson r with a bootstrap interval (Chapter 5)
  gradients       input gradients and SmoothGrad; generation: gradient ascent on a class (Chapter 6)
  synthetic       a dataset with a known manifold and its Bayes-optimal classifier (Chapter 7)
  manifold        tangent spaces, projections, on/off-manifold robustness, autoencoders (Chapters 7, 9)
  distractor      MNIST with a fixed distractor half (Chapter 8)
  robust_losses   gradient-norm, noise-consistency, noise-augmentation objectives (Chapter 10)
  score, alignment  denoiser scores, the ideal denoiser's Bayes-optimal gradient, alignment (Chapter 10)
  widgets         sliders over pre-rendered pictures that work in the static book (Chapters 1, 2, 9)
Paper scale (README, 'When one machine is not enough'; imported on demand, not here):
  checkpoint      resumable training: atomic checkpoints, resumed after SIGTERM (SLURM preemption)
  distributed     one model on several GPUs or nodes: torchrun + DistributedDataParallel
  prefill         a chapter's zoo models as a SLURM job array through submitit (or its local executor)
  imagenet        Restricted ImageNet and ImageNet-64, streamed from the user's ImageNet folder
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

from . import (alignment, attacks, cache, checks, data, defaults, distractor, features, gaussian, generation,
               gradients, manifold, models, paths, plots, profiles, report, robust_losses, score, spread,
               synthetic, train, transfer, widgets, zoo)
from .device import default_device
from .profiles import settings


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
