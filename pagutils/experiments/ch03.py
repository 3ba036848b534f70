"""Chapter 3: the robustified datasets D_R and D_NR."""
from ..core import checks
from ..core.claims import Claim
from ..core.defaults import FULL, QUICK
from .spec import Experiment, shared_pair, independent_seeds


def models(cfg) -> dict:
    """The source models of the constructions: the zoo's standard (D_NR) and robust (D_R) models."""
    return shared_pair(cfg, cfg.source_n_train, cfg.source_epochs)


def check(cfg) -> None:
    if cfg.eval_eps is not None and cfg.eval_eps not in cfg.curve_eps:
        checks.fail("ch03 settings", "eval_eps", f"be None (chosen on the selection seed) or one of curve_eps "
                    f"{cfg.curve_eps}", got=f"{cfg.eval_eps}")
    if not any(e <= cfg.train_eps for e in cfg.curve_eps):
        checks.fail("ch03 settings", "curve_eps", f"hold a radius at most train_eps={cfg.train_eps:g} (where the "
                    f"claim's radius is chosen)", got=f"{cfg.curve_eps}")
    if cfg.selection_seed in cfg.seeds:
        checks.fail("ch03 settings", "selection_seed", f"not be one of the voting seeds {list(cfg.seeds)}",
                    got=f"{cfg.selection_seed}")
    independent_seeds(cfg, models(cfg), "ch03 settings")


EXPERIMENT = Experiment(
    chapter="ch03_robustified_datasets",
    title="Robustified datasets D_R and D_NR",
    quick=dict(dataset=QUICK.dataset, source_n_train=QUICK.n_train, source_epochs=QUICK.epochs,
               train_eps=QUICK.train_eps, n_construct=2000, steps=120, step_size=0.25, relu="fake",
               max_distance=0.1, min_agreement=0.9, epochs=6, seeds=[1, 2, 3], selection_seed=4,
               adv_steps=3, n_test=5000, eval_eps=None, min_headroom=0.3, n_val=500,
               curve_eps=[0.5, 1.0, 1.5, 2.0, 3.0], n_curve=200, curve_steps=10, check_steps=50, check_restarts=2,
               apgd_steps=50, scale_sizes=[500, 1000]),
    full=dict(dataset=FULL.dataset, source_n_train=FULL.n_train, source_epochs=FULL.epochs,
              train_eps=FULL.train_eps, n_construct=50000, steps=1000, step_size=0.1, relu="fake",
              max_distance=0.1, min_agreement=0.9, epochs=30, seeds=[1, 2, 3], selection_seed=4,
              adv_steps=7, n_test=10000, eval_eps=None, min_headroom=0.3, n_val=1000,
              curve_eps=[0.1, 0.25, 0.5, 1.0], n_curve=500, curve_steps=10, check_steps=50, check_restarts=2,
              apgd_steps=100, scale_sizes=[10000, 25000]),
    choices=dict(dataset=("mnist", "fashion_mnist", "cifar10"), relu=("fake", "real")),
    models=models,
    check=check,
    claims=[
        Claim(key="dr_above_d", unit="share of the gap",
              statement="standard training on D_R is more robust than standard training on D",
              evidence="Ilyas et al. (2019), Fig. 2(b): D_R 48% at L2 eps 0.25 on CIFAR-10, D 0%; an eps-0.5 "
                       "adversarially trained ResNet-50 reads 82.3% there (the robustness library's README), so "
                       "D_R closes about 58% of the gap between standard and adversarial training",
              rule="robust accuracy under the attack ladder (PGD, PGD with restarts, APGD-CE, APGD-DLR) at the "
                   "radius chosen on the selection seed: every seed on D_R above every seed on the same original "
                   "images (spread.separated); untested unless D_R converged (max_distance, min_agreement); the "
                   "effect is the share of the gap to adversarial training that D_R closes",
              paper_effect=0.48 / 0.823),
        Claim(key="dr_nr_not_above_d",
              statement="D_NR teaches accuracy but not robustness: as accurate as D, not more robust, less robust "
                        "than D_R",
              evidence="Ilyas et al. (2019), Fig. 2(b): D_NR 88% clean, 0% robust at L2 eps 0.25",
              rule="D_NR's clean accuracy within 10 points of D's, its robust accuracy not separated above D's, and "
                   "D_R separated above D_NR; untested unless both sets converged",
              paper_effect=0.48),
    ],
)
