"""The core: what every chapter stands on, and nothing that knows a Part, the presentation or the cluster.

  checks, paths, defaults, profiles, progress, device, versions   validation, places, shared settings, progress bars
  data, models, attacks, convergence, gradients                   datasets, classifiers, PGD and its loop, the
                                                                   attack ladder, input gradients
  robust_losses, train, zoo, cache, checkpoint                     objectives, training recipes, the model zoo, the
                                                                   safetensors cache, resumable checkpoints
  spread, claims                                                   a measurement over seeds; a paper's claim and its
                                                                   rule, outcome and power
A core module imports only core modules (tests/test_imports.py).
"""
