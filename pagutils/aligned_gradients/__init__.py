"""Part II, Srinivas, Bordt & Lakkaraju (2023), "Which Models have Perceptually-Aligned Gradients?"
(Chapters 6-10).

  generation   gradient ascent on a class, counterfactuals (Chapter 6)
  synthetic    a dataset with a known manifold and its Bayes-optimal classifier (Chapter 7)
  manifold     tangent spaces, projections, on/off-manifold robustness, autoencoders (Chapters 7, 9)
  distractor   MNIST with a fixed distractor half (Chapter 8)
  score, alignment   denoiser scores, the ideal denoiser's Bayes-optimal gradient, alignment (Chapter 10)
A Part imports the core, never the cluster layer (pagutils.scale) or the course tools (tests/test_imports.py).
"""
