"""Chapter 3: the robustified datasets D_R and D_NR."""
from ..claims import Claim
from ..defaults import FULL, QUICK
from .spec import Experiment, shared_pair, independent_seeds


def models(cfg) -> dict:
    """The source models of the constructions: the zoo's standard (D_NR) and robust (D_R) models."""
    return shared_pair(cfg, cfg.source_n_train, cfg.source_epochs)


def check(cfg) -> None:
    if cfg.eval_eps not in cfg.curve_eps:
        raise ValueError(f"eval_eps must be one of curve_eps {cfg.curve_eps}, got {cfg.eval_eps}")
    independent_seeds(cfg, models(cfg))


EXPERIMENT = Experiment(
    chapter="ch03_robustified_datasets",
    title="Robustified datasets D_R and D_NR",
    quick=dict(dataset=QUICK.dataset, source_n_train=QUICK.n_train, source_epochs=QUICK.epochs,
               train_eps=QUICK.train_eps, n_construct=2000, steps=120, step_size=0.25, relu="fake",
               max_distance=0.1, min_agreement=0.9, epochs=6, seeds=[1, 2, 3],
               adv_steps=3, n_test=5000, eval_eps=2.0, curve_eps=[0.5, 1.0, 1.5, 2.0, 3.0], n_curve=200,
               curve_steps=10, check_steps=50, check_restarts=2),
    full=dict(dataset=FULL.dataset, source_n_train=FULL.n_train, source_epochs=FULL.epochs,
              train_eps=FULL.train_eps, n_construct=50000, steps=1000, step_size=0.1, relu="fake",
              max_distance=0.1, min_agreement=0.9, epochs=30, seeds=[1, 2, 3],
              adv_steps=7, n_test=10000, eval_eps=0.25, curve_eps=[0.1, 0.25, 0.5, 1.0], n_curve=500,
              curve_steps=10, check_steps=50, check_restarts=2),
    choices=dict(dataset=("mnist", "fashion_mnist", "cifar10"), relu=("fake", "real")),
    models=models,
    check=check,
    claims=[
        Claim(key="dr_above_d",
              statement="standard training on D_R is more robust than standard training on D",
              evidence="Ilyas et al. (2019), Fig. 2(b): D_R 48% at L2 eps 0.25 on CIFAR-10, D 0%",
              rule="robust accuracy at eval_eps: every seed on D_R above every seed on the same original images "
                   "(spread.separated); untested unless D_R converged (max_distance, min_agreement)",
              paper_effect=0.48),
        Claim(key="dr_nr_not_above_d",
              statement="D_NR teaches accuracy but not robustness: as accurate as D, not more robust, less robust "
                        "than D_R",
              evidence="Ilyas et al. (2019), Fig. 2(b): D_NR 88% clean, 0% robust at L2 eps 0.25",
              rule="D_NR's clean accuracy within 10 points of D's, its robust accuracy not separated above D's, and "
                   "D_R separated above D_NR; untested unless both sets converged",
              paper_effect=0.48),
    ],
)
