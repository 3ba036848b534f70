"""Chapter 7: off-manifold robustness, the theory on a synthetic manifold."""
from ..claims import Claim
from .spec import Experiment

_EVIDENCE = "Srinivas et al. (2023), Sec. 3 (Theorem on Bayes-optimal classifiers)"
EXPERIMENT = Experiment(
    chapter="ch07_off_manifold_theory",
    title="Off-manifold robustness: the theory",
    quick=dict(dataset="synthetic", dim=40, noise=0.05, n_train=4000, n_eval=500, n_robust=200, epochs=20,
               robust_eps=[0.3, 0.6], sigmas=[0.1, 0.2, 0.4, 0.8]),
    full=dict(dataset="synthetic", dim=40, noise=0.05, n_train=20000, n_eval=2000, n_robust=1000, epochs=40,
              robust_eps=[0.15, 0.3, 0.6, 1.0], sigmas=[0.1, 0.2, 0.4, 0.8]),
    choices=dict(dataset=("synthetic",)),
    claims=[
        Claim(unit="ratio", key="every_below", statement="every model: off-manifold change below on-manifold at every σ",
              evidence=_EVIDENCE, rule="off < on for every model and noise level"),
        Claim(unit="ratio", key="bayes_ratio", statement="Bayes-optimal: off/on ratio below 0.01", evidence=_EVIDENCE,
              rule="the Bayes-optimal classifier's off/on ratio at the middle σ below 0.01"),
        Claim(unit="ratio", key="fraction_rises", statement="on-manifold fraction rises with the PGD radius",
              evidence="Srinivas et al. (2023), Sec. 3-4: robust training moves gradients onto the manifold",
              rule="the mean on-manifold gradient fraction increases from standard through every PGD radius"),
        Claim(unit="ratio", key="pgd_reduces", statement="PGD reduces the off-manifold change",
              evidence="Srinivas et al. (2023), Sec. 4: robust training gives off-manifold robustness",
              rule="every PGD model's off-manifold change at the middle σ below the standard model's"),
    ],
)
