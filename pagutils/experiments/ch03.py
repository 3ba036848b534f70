"""Chapter 3: the robustified datasets D_R and D_NR."""
from ..claims import Claim
from ..defaults import FULL, QUICK
from .. import zoo
from .spec import Experiment


def models(cfg) -> dict:
    """The source models of the constructions: the zoo's standard (D_NR) and robust (D_R) models."""
    recipe = dict(n_train=cfg.source_n_train, epochs=cfg.source_epochs)
    return dict(standard=zoo.standard(cfg.dataset, cfg.profile, **recipe),
                robust=zoo.robust(cfg.dataset, cfg.profile, eps=cfg.train_eps, **recipe))


def check(cfg) -> None:
    if cfg.eval_eps not in cfg.curve_eps:
        raise ValueError(f"eval_eps must be one of curve_eps {cfg.curve_eps}, got {cfg.eval_eps}")


EXPERIMENT = Experiment(
    chapter="ch03_robustified_datasets",
    title="Robustified datasets D_R and D_NR",
    quick=dict(dataset=QUICK.dataset, source_n_train=QUICK.n_train, source_epochs=QUICK.epochs,
               train_eps=QUICK.train_eps, n_construct=2000, steps=60, step_size=0.25, epochs=6, seeds=[0, 1, 2],
               adv_steps=3, n_test=5000, eval_eps=2.0, curve_eps=[0.5, 1.0, 1.5, 2.0, 3.0], n_curve=200,
               curve_steps=10),
    full=dict(dataset=FULL.dataset, source_n_train=FULL.n_train, source_epochs=FULL.epochs,
              train_eps=FULL.train_eps, n_construct=50000, steps=1000, step_size=0.1, epochs=30, seeds=[0, 1, 2],
              adv_steps=7, n_test=10000, eval_eps=0.25, curve_eps=[0.1, 0.25, 0.5, 1.0], n_curve=500,
              curve_steps=10),
    choices=dict(dataset=("mnist", "fashion_mnist", "cifar10")),
    models=models,
    check=check,
    claims=[
        Claim(key="dr_above_d",
              statement="standard training on D_R is more robust than standard training on D",
              evidence="Ilyas et al. (2019), Fig. 2(b): D_R 48% at L2 eps 0.25 on CIFAR-10, D 0%",
              rule="robust accuracy at eval_eps: every seed on D_R above every seed on the same original images "
                   "(spread.separated)"),
        Claim(key="dr_nr_not_above_d",
              statement="standard training on D_NR is not more robust than standard training on D",
              evidence="Ilyas et al. (2019), Fig. 2(b): D_NR 0% at L2 eps 0.25",
              rule="robust accuracy at eval_eps: D_NR not separated above D (holds by default when there is no "
                   "effect)"),
    ],
)
