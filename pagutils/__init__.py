"""pagutils: the library behind the course on robust features and perceptually-aligned gradients.

Modules, each named after the idea it computes (and the chapter that introduces it):
  data, models, attacks, train, zoo, cache, profiles, report, plots   the spine (Chapter 1)
  defaults        the settings chapters, tests and benchmarks share, per profile (one home)
  checks          argument validation shared by every public function, called once where a value comes in
  gaussian        the robust Gaussian model of Ilyas et al., Section 4 (Chapter 2)
  features        D_R / D_NR by representation matching, D_rand / D_det by targeted PGD (Chapters 3-5)
  gradients       input gradients and SmoothGrad; generation: gradient ascent on a class (Chapter 6)
  synthetic       a dataset with a known manifold and its Bayes-optimal classifier (Chapter 7)
  manifold        tangent spaces, projections, on/off-manifold robustness, autoencoders (Chapters 7, 9)
  distractor      MNIST with a fixed distractor half (Chapter 8)
  robust_losses   gradient-norm, noise-consistency, noise-augmentation objectives (Chapter 10)
  replicates      several seeds or strengths of one small model trained together in one pass (Chapter 10)
  score, alignment  denoiser scores, the ideal denoiser's Bayes-optimal gradient, alignment (Chapter 10)
  widgets         sliders over pre-rendered pictures that work in the static book (Chapters 1, 2, 9)
"""
from . import (alignment, attacks, cache, checks, data, defaults, distractor, features, gaussian, generation,
               gradients, manifold, models, paths, plots, profiles, replicates, report, robust_losses, score,
               synthetic, train, widgets, zoo)
from .device import default_device
from .profiles import settings

__version__ = "0.1.0"
