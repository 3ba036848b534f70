"""Chapter 1: adversarial examples and adversarial training."""
from ..core import checks
from ..core.claims import Claim
from ..core.defaults import FULL, QUICK
from .spec import Experiment, shared_pair


def models(cfg) -> dict:
    """The zoo's shared standard and robust models (seed 0, which the figures show), and for every other seed of
    `cfg.seeds` the same pair trained from that seed (initialisation and batch order): 'standard_seed1', ..."""
    pair = shared_pair(cfg, cfg.n_train, cfg.epochs)
    out = dict(pair)
    for seed in cfg.seeds:
        if seed != 0:  # seed 0 is the shared pair itself (`_check` asks for it)
            out.update({f"{name}_seed{seed}": dict(config, seed=seed) for name, config in pair.items()})
    return out


def seed_pairs(cfg, models: dict) -> dict:
    """seed -> (standard, robust) models (or configurations) of that seed, from the dict `models` names."""
    return {seed: tuple(models[name if seed == 0 else f"{name}_seed{seed}"] for name in ("standard", "robust"))
            for seed in cfg.seeds}


def _check(cfg) -> None:
    if 0 not in cfg.seeds or len(set(cfg.seeds)) != len(cfg.seeds):
        checks.fail("ch01 settings", "seeds", "hold 0 (the zoo's shared models, which the figures show) and no seed "
                    "twice", got=f"{list(cfg.seeds)}")


EXPERIMENT = Experiment(
    chapter="ch01_adversarial_examples",
    title="Adversarial examples and adversarial training",
    quick=dict(dataset=QUICK.dataset, n_train=QUICK.n_train, n_test=500, epochs=QUICK.epochs,
               train_eps=QUICK.train_eps, eps_l2=[0.0, 0.5, 1.0, 1.5, 2.0, 3.0],
               eps_linf=[0.0, 0.05, 0.1, 0.2, 0.3], attack_steps=10, n_check=200, check_steps=50,
               check_restarts=2, apgd_steps=50, seeds=[0, 1, 2]),
    full=dict(dataset=FULL.dataset, n_train=FULL.n_train, n_test=1000, epochs=FULL.epochs,
              train_eps=FULL.train_eps, eps_l2=[0.0, 0.25, 0.5, 1.0, 2.0],
              eps_linf=[0.0, 2 / 255, 4 / 255, 8 / 255], attack_steps=20, n_check=1000, check_steps=100,
              check_restarts=5, apgd_steps=100, seeds=[0, 1, 2]),
    choices=dict(dataset=("mnist", "fashion_mnist", "cifar10")),
    models=models,
    check=_check,
    claims=[Claim(
        key="robust_keeps_more",
        statement="at the training radius the robust model keeps more accuracy than the standard one, by over "
                  "10 points",
        evidence="the robust CIFAR-10 ResNet-50 models of Ilyas et al. (2019) (MadryLab/robustness): trained at "
                 "L2 eps 0.5, 70.2% at eps 0.5 against 0.3% for standard training",
        rule="robust minus standard accuracy above 0.10 for every seed (seed s's robust model against seed s's "
             "standard model), read with the attack ladder (the curves' PGD, check_steps PGD steps from "
             "check_restarts random starts, APGD-CE and APGD-DLR) on the first n_check test images at the "
             "curve's radius nearest the training radius",
        paper_effect=0.699)],
)
