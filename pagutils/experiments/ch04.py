"""Chapter 4: non-robust features suffice, D_rand and D_det."""
from ..claims import Claim
from ..defaults import FULL, QUICK
from .spec import Experiment, shared_pair, independent_seeds


def models(cfg) -> dict:
    """The standard source of the targeted attacks and the robust judge of leakage (the zoo's shared models)."""
    pair = shared_pair(cfg, cfg.source_n_train, cfg.source_epochs)
    return dict(source=pair["standard"], judge=pair["robust"])


_RULE = ("at the quiet radius (leakage at most max_leakage, the best model more than margin above chance), every "
         "seed's test accuracy above chance + margin")
EXPERIMENT = Experiment(
    chapter="ch04_non_robust_features",
    title="Non-robust features suffice: D_rand and D_det",
    quick=dict(dataset=QUICK.dataset, source_n_train=QUICK.n_train, source_epochs=QUICK.epochs,
               n_construct=2000, sweep_eps=[1.0, 2.0, 3.0, 4.0], steps=10, step_size=0.0, epochs=5,
               selection_seed=4, seeds=[1, 2, 3], max_leakage=0.2, margin=0.05, attack_noise=0.3, remedy_steps=30, n_test=5000),
    full=dict(dataset=FULL.dataset, source_n_train=FULL.n_train, source_epochs=FULL.epochs, n_construct=50000,
              sweep_eps=[0.25, 0.5, 1.0, 2.0], steps=100, step_size=0.1, epochs=30, selection_seed=4, seeds=[1, 2, 3],
              max_leakage=0.2, margin=0.05, attack_noise=0.05, remedy_steps=300, n_test=10000),
    choices=dict(dataset=("mnist", "fashion_mnist", "cifar10")),
    models=models,
    check=lambda cfg: independent_seeds(cfg, models(cfg)),
    claims=[
        Claim(key="d_rand", statement="a model trained on D_rand generalises to the true labels, without leakage",
              evidence="Ilyas et al. (2019), Table 1: D_rand 63.3% on CIFAR-10 (L2 eps 0.5)", rule=_RULE,
              paper_effect=0.633 - 0.1),
        Claim(key="d_det", statement="a model trained on D_det generalises to the true labels, without leakage",
              evidence="Ilyas et al. (2019), Table 1: D_det 87.9% on CIFAR-10 (L2 eps 0.5)", rule=_RULE,
              paper_effect=0.879 - 0.1),
    ],
)
