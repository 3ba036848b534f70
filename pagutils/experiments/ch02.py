"""Chapter 2: robust and non-robust features in the robust Gaussian model."""
from ..core.claims import Claim
from .spec import Experiment

EXPERIMENT = Experiment(
    chapter="ch02_robust_features",
    title="Features, robust and non-robust: the Gaussian model",
    quick=dict(dim=10, condition=100.0, n_samples=200_000, eps_list=[0.0, 0.1, 0.25, 0.5, 1.0], seed=0),
    full=dict(dim=50, condition=100.0, n_samples=1_000_000, eps_list=[0.0, 0.1, 0.25, 0.5, 1.0], seed=0),
    claims=[Claim(
        key="closed_forms",
        statement="every closed form of Section 4 matches its Monte-Carlo estimate within 5%",
        evidence="Ilyas et al. (2019), Sec. 4, Theorems 1-3",
        rule="largest relative error of the closed forms against Monte-Carlo at most 0.05",
        unit="relative error")],
)
