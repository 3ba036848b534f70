"""Chapter 9: on- and off-manifold robustness of real images."""
from ..core.claims import Claim
from ..core.defaults import FULL, QUICK
from .spec import Experiment, shared_pair


def models(cfg) -> dict:
    """The zoo's shared standard and robust models."""
    return shared_pair(cfg, cfg.n_train, cfg.epochs)


_EVIDENCE = "Srinivas et al. (2023), Sec. 5 (autoencoder tangent spaces)"
_SUPPORT = ("the same rule with random subspaces of each digit's support (dilated by 1 pixel) in place of its "
            "tangent space")
_CONTROLS = "random subspaces of the digit's support and with tangent spaces shuffled across images"
_FRESH = ("the same rule with {n} fresh shuffles in place of the tangent spaces, which may pass no more often than "
          "its 5% false-positive rate allows (one-sided binomial test, 5%)")
_BOOTSTRAP = "by a one-sided 95% paired bootstrap over the evaluated images (2000 resamples, seeded)"
_RATIO_BOUND = ("at every noise level, the {model} model's off/on ratio (mean off-manifold over mean on-manifold "
                "output change) {side} 1 by its one-sided 95% bootstrap {bound} bound, resampling the evaluated "
                "images (2000 resamples, seeded, the same at every level)")
_EVERY = ("at most 5%: with a ratio of exactly 1 at any one level, that level's bound passes about 5% of the "
          "time, and every level must pass")
EXPERIMENT = Experiment(
    chapter="ch09_manifold_real_images",
    title="On- and off-manifold robustness of real images",
    quick=dict(dataset=QUICK.dataset, n_train=QUICK.n_train, epochs=QUICK.epochs, train_eps=QUICK.train_eps,
               latent_dim=QUICK.autoencoder["latent_dim"], ae_n_train=QUICK.autoencoder["n_train"],
               ae_epochs=QUICK.autoencoder["epochs"], n_eval=500, n_noise=4, sigmas=[0.5, 1.0, 2.0, 4.0, 8.0],
               control_noise=1),
    full=dict(dataset=FULL.dataset, n_train=FULL.n_train, epochs=FULL.epochs, train_eps=FULL.train_eps,
              latent_dim=FULL.autoencoder["latent_dim"], ae_n_train=FULL.autoencoder["n_train"],
              ae_epochs=FULL.autoencoder["epochs"], n_eval=1000, n_noise=8,
              sigmas=[0.25, 0.5, 1.0, 2.0, 4.0, 8.0], control_noise=8),
    choices=dict(dataset=("mnist", "fashion_mnist", "cifar10")),
    models=models,
    claims=[
        Claim(unit="ratio", key="standard_ratio",
              statement="standard: off/on ratio above 1 at every σ (95% lower bounds)",
              evidence=f"{_EVIDENCE}: standard models are not off-manifold robust (this rule is stricter than the "
                       f"paper, which compares standard with robust models; at equal noise norms, to first order, "
                       f"any gradient with more than a random direction's on-manifold fraction has a ratio below 1, "
                       f"so the rule reads the paper's statement literally, not a comparison of models)",
              false_positive_rate=0.05,
              rule=f"{_RATIO_BOUND.format(model='standard', side='above', bound='lower')}; false-positive rate "
                   f"{_EVERY}; its detectable effect is the ratio's distance above 1, the same at every level; "
                   f"control: {_SUPPORT}, where the rule must hold (no manifold structure there)"),
        Claim(unit="ratio", key="robust_ratio",
              statement="robust: off/on ratio below 1 at every σ (95% upper bounds)",
              evidence=f"{_EVIDENCE}: robust models are off-manifold robust",
              false_positive_rate=0.05,
              rule=f"{_RATIO_BOUND.format(model='robust', side='below', bound='upper')}; false-positive rate "
                   f"{_EVERY}; its detectable effect is the ratio's distance below 1, the same at every level; "
                   f"control: {_SUPPORT}, where the rule must not hold"),
        Claim(unit="ratio", key="off_below", statement="robust off-manifold change below the standard model's",
              evidence=_EVIDENCE, false_positive_rate=0.05,
              rule=f"at the middle σ, one seed each: the reduction 1 - C_robust / C_standard of the mean "
                   f"off-manifold change C above 0, {_BOOTSTRAP}; control: {_SUPPORT}, where the rule must not hold "
                   f"(noise off a subspace with no manifold structure)"),
        Claim(unit="ratio", key="ratio_below",
              statement="robust off/on ratio below the standard model's, by more than with control subspaces",
              evidence=f"{_EVIDENCE}: robust models are more off-manifold robust than standard ones",
              false_positive_rate=0.05,
              rule=f"at the middle σ, one seed each: the reduction 1 - R_robust / R_standard of the off/on ratio R "
                   f"with the tangent spaces exceeds the reduction with {_CONTROLS}, each {_BOOTSTRAP}; control: "
                   f"{_FRESH.format(n=4)}"),
        Claim(unit="ratio", key="fraction_above",
              statement="robust on-manifold gradient fraction above the standard model's, by more than with "
                        "control subspaces",
              evidence=_EVIDENCE, false_positive_rate=0.05,
              rule=f"one seed each: the gap of the mean on-manifold fractions (robust minus standard) with the "
                   f"tangent spaces exceeds the gap with {_CONTROLS} (the mean over 8 shuffles), each {_BOOTSTRAP}; "
                   f"control: {_FRESH.format(n=20)}"),
    ],
)
