"""Chapter 7: off-manifold robustness, the theory on a synthetic manifold.

Every claim is read against a control whose answer is known by construction (`claims.Control`): a rule that gets
its control wrong is "not a test of the paper". `EARLIER` keeps the rules the chapter used before they were
compared with a control, so that the chapter can show what those controls say about them.
"""
from ..core.claims import Claim
from .spec import Experiment

_EVIDENCE = "Srinivas et al. (2023), Sec. 3 (Theorem on Bayes-optimal classifiers)"
_ROBUST = "Srinivas et al. (2023), Sec. 4: robust training gives off-manifold robustness"
_RISES = "Srinivas et al. (2023), Sec. 3-4: robust training moves gradients onto the manifold"
EXPERIMENT = Experiment(
    chapter="ch07_off_manifold_theory",
    title="Off-manifold robustness: the theory",
    quick=dict(dataset="synthetic", dim=40, noise=0.05, n_train=4000, n_eval=500, n_robust=200, epochs=20,
               robust_eps=[0.3, 0.6], sigmas=[0.1, 0.2, 0.4, 0.8]),
    full=dict(dataset="synthetic", dim=40, noise=0.05, n_train=20000, n_eval=2000, n_robust=1000, epochs=40,
              robust_eps=[0.15, 0.3, 0.6, 1.0], sigmas=[0.1, 0.2, 0.4, 0.8]),
    choices=dict(dataset=("synthetic",)),
    claims=[
        Claim(unit="ratio", key="every_below",
              statement="every model: off-manifold change below on-manifold, beyond chance, at every σ",
              evidence=_EVIDENCE,
              rule="every model's off/on ratio, at every σ, below the chance ratio (that of a gradient with "
                   "on-manifold fraction k/D at every point: c_(D-k)√(D-k) / (c_k√k), 0.89 at k = 2, D = 40) by "
                   "the one-sided 5% margin of its noise draws (synthetic.ratio_rule at the fewest draws of any "
                   "model)"),
        Claim(unit="ratio", key="bayes_ratio", statement="Bayes-optimal: off/on ratio below 0.01", evidence=_EVIDENCE,
              rule="the Bayes-optimal classifier's off/on ratio at the middle σ below 0.01 (the chance ratio is "
                   "0.89 at k = 2, D = 40)"),
        Claim(unit="ratio", key="fraction_rises", statement="on-manifold fraction rises with the PGD radius",
              evidence=_RISES,
              rule="the mean on-manifold gradient fraction rises from standard through every PGD radius, each step "
                   "by more than 1.645 standard errors of its paired differences over the evaluation points "
                   "(synthetic.rise_rule; one training seed per model)"),
        Claim(unit="ratio", key="pgd_reduces",
              statement="PGD reduces the off-manifold change relative to the on-manifold change",
              evidence=_ROBUST,
              rule="every PGD model's off/on ratio at the middle σ below the standard model's by the one-sided 5% "
                   "margin of the noise draws (synthetic.ratio_rule with the standard model's ratio as reference; "
                   "points and training seeds fixed)"),
    ],
)

# the rules before they were read against a control; the chapter reads them against the same controls
EARLIER = {
    "every_below": Claim(unit="ratio", key="every_below_earlier",
                         statement="every model: off-manifold change below on-manifold at every σ",
                         evidence=_EVIDENCE, rule="off < on for every model and noise level"),
    "fraction_rises": Claim(unit="ratio", key="fraction_rises_earlier",
                            statement="on-manifold fraction rises with the PGD radius", evidence=_RISES,
                            rule="the mean on-manifold gradient fraction increases from standard through every "
                                 "PGD radius"),
    "pgd_reduces": Claim(unit="ratio", key="pgd_reduces_earlier", statement="PGD reduces the off-manifold change",
                         evidence=_ROBUST,
                         rule="every PGD model's off-manifold change at the middle σ below the standard model's"),
}
