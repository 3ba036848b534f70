"""pagutils: the library behind the course on robust features and perceptually-aligned gradients.

Modules, each named after the idea it computes:
  data      datasets as tensors on the device        models    classifiers with a representation
  attacks   PGD in L2 and Linf, robust accuracy       train     standard and adversarial training
  zoo       train once, reuse everywhere              cache     keyed, atomic safetensors cache
  profiles  quick / full settings for notebooks       report    results tables beside the papers'
  plots     the figures the chapters share
"""
from . import attacks, cache, data, gradients, models, paths, plots, profiles, report, train, zoo
from .device import default_device
from .profiles import settings

__version__ = "0.1.0"
