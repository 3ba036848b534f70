"""Chapter 6: perceptually-aligned gradients.

The generated images are read by two **judges** that share nothing with the standard and the robust model they
judge: another architecture (`judge_arch`), other seeds (`judge_seeds`), and training images neither model
trained on (`zoo.disjoint`); one judge is trained in the standard way, the other adversarially (`judge_eps`), so
that neither the standard model's non-robust features nor the robust model's robust ones are favoured by both.
The **control** is a pair of models of one recipe that differ only in their seed (`control_seeds`), read with the
same rules and judges: no effect by construction, so a rule that holds there decides by itself.
"""
import functools

from ..core import checks, zoo
from ..core.claims import Claim
from ..core.defaults import FULL, QUICK
from .spec import Experiment, shared_pair


def pair(cfg) -> dict:
    """The zoo's shared standard and robust models, the pair the chapter compares."""
    return shared_pair(cfg, cfg.n_train, cfg.epochs)


# the published sizes of the training splits, for a dataset that is not on disk (a spec is read without data)
_TRAIN_SIZES = {"mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000}


@functools.lru_cache(maxsize=None)
def _split_size(dataset: str) -> int:
    """The number of images of `dataset`'s training split as on disk (read once per process), else its published
    size."""
    from ..core.data import load
    try:
        return len(load(dataset, "train", device="cpu"))
    except FileNotFoundError:
        return _TRAIN_SIZES[dataset]


def _left(dataset: str, others: list) -> int:
    """How many images of `dataset`'s training split none of the zoo configurations `others` trains on."""
    total = _split_size(dataset)
    taken = set()
    for other in others:
        taken.update(zoo.draw_indices(total, zoo.training_draw(other)).tolist())
    return total - len(taken)


def _unique(configs) -> list:
    """The configurations of `configs` with distinct training draws (a draw named twice is excluded once)."""
    seen, out = [], []
    for config in configs:
        draw = zoo.training_draw(config)
        if draw not in seen:
            seen.append(draw)
            out.append(config)
    return out


def _apart(config: dict, others: list, name: str) -> dict:
    """`config` made `zoo.disjoint` from `others`; a ValueError names `name` when `others` leave fewer training
    images than it needs."""
    others = _unique(others)
    left = _left(config["dataset"], others)
    if left < config["n_train"]:
        checks.fail("ch06 settings", f"{name}'s n_train", f"be at most the {left} training images of "
                    f"{config['dataset']!r} that the models it must not share images with leave (lower n_train, the "
                    f"pair's training images, or judge_share)", got=f"{config['n_train']}")
    return zoo.disjoint(config, *others)


def _judge_n_train(cfg) -> int:
    """The judges' (and the control pair's) training images: `judge_share` of the pair's `n_train`."""
    return max(1, round(cfg.judge_share * cfg.n_train))


def judges(cfg) -> dict:
    """The two judges: `judge_arch` models of seeds `judge_seeds`, one standard and one PGD-trained at L2 radius
    `judge_eps`, each on `judge_share` times the pair's number of training images, none of which either model of
    the pair trained on."""
    recipe = dict(arch=cfg.judge_arch, n_train=_judge_n_train(cfg), epochs=cfg.judge_epochs)
    seed_standard, seed_robust = cfg.judge_seeds
    models = list(pair(cfg).values())
    return dict(
        judge_standard=_apart(zoo.standard(cfg.dataset, cfg.profile, seed=seed_standard, **recipe), models,
                              "judge_standard"),
        judge_robust=_apart(zoo.robust(cfg.dataset, cfg.profile, eps=cfg.judge_eps, seed=seed_robust, **recipe),
                            models, "judge_robust"))


def controls(cfg) -> dict:
    """The control pair: two standard `control_arch` models of one recipe, seeds `control_seeds`, each on as many
    images as a judge, none of which either judge trained on (no effect between them by construction)."""
    judged_by = list(judges(cfg).values())
    return {f"control_{i}": _apart(zoo.standard(cfg.dataset, cfg.profile, arch=cfg.control_arch, seed=seed,
                                                n_train=_judge_n_train(cfg), epochs=cfg.epochs), judged_by,
                                   f"control_{i}")
            for i, seed in enumerate(cfg.control_seeds)}


def models(cfg) -> dict:
    """The pair, its two independent judges and the control pair."""
    return {**pair(cfg), **judges(cfg), **controls(cfg)}


def _check(cfg) -> None:
    if not 0 < cfg.judge_share <= 1:
        checks.fail("ch06 settings", "judge_share", "be in (0, 1]", got=repr(cfg.judge_share))
    models_ = pair(cfg)
    archs = {c["arch"] for c in models_.values()}
    seeds = {c.get("seed", 0) for c in models_.values()}
    if cfg.judge_arch in archs:
        checks.fail("ch06 settings", "judge_arch", f"differ from the judged models' architecture {sorted(archs)}",
                    got=repr(cfg.judge_arch))
    for name in ("judge_seeds", "control_seeds"):
        value = list(cfg[name])
        if len(value) != 2 or len(set(value)) != 2:
            checks.fail("ch06 settings", name, "be two different seeds", got=f"{value}")
        if set(value) & seeds:
            checks.fail("ch06 settings", name, f"differ from the judged models' seeds {sorted(seeds)}", got=f"{value}")
    if set(cfg.judge_seeds) & set(cfg.control_seeds):
        checks.fail("ch06 settings", "control_seeds", f"differ from judge_seeds {list(cfg.judge_seeds)}",
                    got=f"{list(cfg.control_seeds)}")


_JUDGES = ("by each of two judges of another architecture, seeds and training images than both models (one "
           "standard, one adversarially trained)")
_TEST = ("one-sided exact sign-flip test over the test images (McNemar's for 0/1 outcomes), p <= 0.05 for each; "
         "control: two models of one recipe, seeds apart, through the same rule")
EXPERIMENT = Experiment(
    chapter="ch06_perceptually_aligned_gradients",
    title="Perceptually-aligned gradients",
    # the judges: MLPs (not the pair's small CNN), 3 epochs on as many images as the pair (judge_share 1), none
    # of them the pair's; PGD at the shared radius for the robust one (MLP training is a few seconds)
    quick=dict(dataset=QUICK.dataset, n_train=QUICK.n_train, epochs=QUICK.epochs, train_eps=QUICK.train_eps,
               judge_arch="mlp", judge_seeds=[6, 7], judge_eps=QUICK.train_eps, judge_share=1.0,
               judge_epochs=3, control_arch="mlp", control_seeds=[8, 9], n_eval=100, smooth_sigmas=[0.1, 0.3, 0.5],
               smooth_samples=32, gen_steps=60, gen_step_size=0.25, cf_eps=5.0, cf_steps=60, cf_step_size=0.1,
               noise_sigma=0.5, denoise_steps=40, denoise_step_size=0.25, box=12, inpaint_steps=40,
               inpaint_step_size=0.25),
    # CIFAR-10 has 50,000 training images: the pair trains on 40,000 (as Chapter 4's source) so that the judges
    # and the control pair have 10,000 images (judge_share 0.25) of their own
    full=dict(dataset=FULL.dataset, n_train=40000, epochs=FULL.epochs, train_eps=FULL.train_eps,
              judge_arch="vgg11", judge_seeds=[6, 7], judge_eps=FULL.train_eps, judge_share=0.25,
              judge_epochs=FULL.epochs, control_arch="small_vgg", control_seeds=[8, 9], n_eval=200,
              smooth_sigmas=[0.05, 0.1, 0.2], smooth_samples=50, gen_steps=60, gen_step_size=0.5, cf_eps=10.0,
              cf_steps=60, cf_step_size=0.25, noise_sigma=0.1, denoise_steps=40, denoise_step_size=0.1, box=10,
              inpaint_steps=60, inpaint_step_size=0.25),
    choices=dict(dataset=("mnist", "fashion_mnist", "cifar10")),
    models=models,
    check=_check,
    claims=[
        Claim(key="counterfactuals",
              statement="robust counterfactuals reach their target more often than standard ones, by both judges",
              evidence="Santurkar et al. (2019); Ilyas et al. (2019), Fig. 1: robust gradients change the class",
              rule=f"the robust model's counterfactuals read as the target on more images than the standard "
                   f"model's, {_JUDGES}: {_TEST}", false_positive_rate=0.05),
        Claim(key="repairs", unit="relative error",
              statement="denoising and in-painting along the robust gradient beat the standard one",
              evidence="Santurkar et al. (2019), image-synthesis tasks with robust classifiers",
              rule=f"the robust model's error (squared error of the denoised image; squared error in the in-painted "
                   f"square) below the standard model's, image by image, for both tasks: {_TEST}",
              false_positive_rate=0.05),
    ],
)
