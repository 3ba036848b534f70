"""Chapter 9: on- and off-manifold robustness of real images."""
from ..claims import Claim
from ..defaults import FULL, QUICK
from .spec import Experiment, shared_pair


def models(cfg) -> dict:
    """The zoo's shared standard and robust models."""
    return shared_pair(cfg, cfg.n_train, cfg.epochs)


_EVIDENCE = "Srinivas et al. (2023), Sec. 5 (autoencoder tangent spaces)"
EXPERIMENT = Experiment(
    chapter="ch09_manifold_real_images",
    title="On- and off-manifold robustness of real images",
    quick=dict(dataset=QUICK.dataset, n_train=QUICK.n_train, epochs=QUICK.epochs, train_eps=QUICK.train_eps,
               latent_dim=QUICK.autoencoder["latent_dim"], ae_n_train=QUICK.autoencoder["n_train"],
               ae_epochs=QUICK.autoencoder["epochs"], n_eval=500, n_noise=4, sigmas=[0.5, 1.0, 2.0, 4.0, 8.0]),
    full=dict(dataset=FULL.dataset, n_train=FULL.n_train, epochs=FULL.epochs, train_eps=FULL.train_eps,
              latent_dim=FULL.autoencoder["latent_dim"], ae_n_train=FULL.autoencoder["n_train"],
              ae_epochs=FULL.autoencoder["epochs"], n_eval=1000, n_noise=8,
              sigmas=[0.25, 0.5, 1.0, 2.0, 4.0, 8.0]),
    choices=dict(dataset=("mnist", "fashion_mnist", "cifar10")),
    models=models,
    claims=[
        Claim(unit="ratio", key="standard_ratio", statement="standard: off/on ratio >= 1 at every σ",
              evidence=f"{_EVIDENCE}: standard models are as sensitive or more off the manifold",
              rule="the standard model's off/on ratio at least 1 at every noise level"),
        Claim(unit="ratio", key="robust_ratio", statement="robust: off/on ratio < 1 at every σ",
              evidence=f"{_EVIDENCE}: robust models are off-manifold robust",
              rule="the robust model's off/on ratio below 1 at every noise level"),
        Claim(unit="ratio", key="off_below", statement="robust off-manifold change below the standard model's",
              evidence=_EVIDENCE, rule="at the middle σ, one seed each"),
        Claim(unit="ratio", key="fraction_above", statement="robust on-manifold gradient fraction above the standard model's",
              evidence=_EVIDENCE, rule="mean on-manifold fraction over the evaluated images, one seed each"),
    ],
)
