"""Chapter 8: a dataset with a known manifold (MNIST with a distractor)."""
from ..claims import Claim
from .spec import Experiment

_FIG5 = "Srinivas et al. (2023), Fig. 5: relative noise robustness about 1 standard, well above 1 robust"
_ABOVE = "peak at least 2 and every seed above the standard model's highest seed at that noise level"
EXPERIMENT = Experiment(
    chapter="ch08_distractor",
    title="A dataset with a known manifold",
    quick=dict(dataset="mnist", letter="A", n_train=12000, n_test=500, arch="mlp", epochs=3,
               noise_train=[0.5, 1.0], pgd_eps=[0.5, 1.0, 2.0], pgd_steps=5,
               noise_eval=[0.0] + [round(10 ** (e / 4), 6) for e in range(-8, 5)], n_draws=4, n_seeds=3),
    full=dict(dataset="mnist", letter="A", n_train=60000, n_test=2000, arch="resnet18", epochs=20,
              noise_train=[0.5, 1.0], pgd_eps=[0.5, 1.0, 2.0, 3.0], pgd_steps=10,
              noise_eval=[0.0] + [round(10 ** (e / 4), 6) for e in range(-8, 5)], n_draws=8, n_seeds=3),
    choices=dict(dataset=("mnist", "fashion_mnist")),
    claims=[
        Claim(unit="ratio", key="standard_about_one", statement="standard: relative noise robustness about 1 (0.5-2)",
              evidence=_FIG5, rule="the mean over seeds between 0.5 and 2 at every noise level"),
        Claim(unit="ratio", key="robust_above", statement="the strongest PGD model: relative noise robustness well above 1",
              evidence=_FIG5, rule=_ABOVE),
        Claim(unit="ratio", key="noise_above", statement="the noisiest noise-trained model: relative noise robustness well above 1",
              evidence=_FIG5, rule=_ABOVE),
    ],
)
