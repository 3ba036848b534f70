"""Part I, Ilyas et al. (2019), "Adversarial Examples Are Not Bugs, They Are Features" (Chapters 2-5).

  gaussian   the robust Gaussian model of Section 4 (Chapter 2)
  features   D_R / D_NR by representation matching, D_rand / D_det by targeted PGD, leakage (Chapters 3-5)
  transfer   transfer targets never the source model, and the transfer measures (Chapter 5)
A Part imports the core, never the cluster layer (pagutils.scale) or the course tools (tests/test_imports.py).
"""
