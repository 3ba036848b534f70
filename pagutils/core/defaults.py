"""Shared defaults: the one home of every setting that chapters, tests and benchmarks must agree on.

Chapters share trained models through the zoo's cache, which names a model by its configuration. A chapter
finds the model another chapter trained only when both ask for exactly the same configuration, so the sizes
and radii they share are written here once, per profile, and every notebook's settings cell, the zoo, the
autoencoder and denoiser recipes, `tests/test_full_profile.py` and `benchmarks/full_profile.py` read them:

    from pagutils.core.defaults import QUICK, FULL
    quick=dict(n_train=QUICK.n_train, epochs=QUICK.epochs, train_eps=QUICK.train_eps, ...)

- `quick`: MNIST / Fashion-MNIST and small CNNs, sized for 2 CPU cores (about 2,000 small-CNN image-steps/s);
- `full`: CIFAR-10 and ResNet-18, sized for one GPU (how it differs from the papers: the Reproduction page);
- `paper`: the papers' own recipes (`PAPER`, and per chapter `PAPER_SETTINGS`, each setting with its source),
  sized for a cluster (`python -m pagutils.scale.prefill CHAPTER --profile paper`, `pagutils.scale.distributed`).
"""
from dataclasses import dataclass, field

from . import checks

PROFILES = ("quick", "full", "paper")


@dataclass(frozen=True)
class Shared:
    """What the chapters of one profile share. The zoo models' training recipe is `zoo_recipe`; `n_train` and
    `epochs` are its size, `train_eps` the L2 radius of the shared adversarially trained model (trained with
    `train_attack_steps`-step PGD)."""
    dataset: str
    arch: str
    n_train: int
    epochs: int
    lr: float
    batch_size: int
    augment: bool
    train_eps: float
    train_attack_steps: int
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    seed: int = 0
    autoencoder: dict = field(default_factory=dict)  # the manifold autoencoder (Chapters 9 and 10)
    denoiser: dict = field(default_factory=dict)     # the image denoiser behind the learned score (Chapter 10)

    @property
    def zoo_recipe(self) -> dict:
        """The training recipe of the zoo's shared models (a `zoo` configuration without dataset and objective)."""
        return dict(arch=self.arch, n_train=self.n_train, epochs=self.epochs, lr=self.lr,
                    batch_size=self.batch_size, momentum=self.momentum, weight_decay=self.weight_decay,
                    schedule=self.schedule, augment=self.augment, seed=self.seed)


QUICK = Shared(
    dataset="mnist", arch="small_cnn", n_train=12000, epochs=3, lr=0.05, batch_size=128, augment=False,
    train_eps=1.5, train_attack_steps=5,
    autoencoder=dict(latent_dim=16, width=32, n_train=12000, epochs=8, lr=2e-3, batch_size=128, seed=0),
    denoiser=dict(n_train=4000, epochs=2, width=8, lr=3e-3, batch_size=128, seed=0),
)
FULL = Shared(
    dataset="cifar10", arch="resnet18", n_train=50000, epochs=30, lr=0.1, batch_size=256, augment=True,
    train_eps=0.5, train_attack_steps=7,
    autoencoder=dict(latent_dim=64, width=64, n_train=50000, epochs=40, lr=1e-3, batch_size=256, seed=0),
    denoiser=dict(n_train=50000, epochs=30, width=64, lr=1e-3, batch_size=256, seed=0),
)
# Ilyas et al. (2019) on CIFAR-10: ResNet-50, 150 epochs, lr 0.1 divided by 10 every 50 epochs, batch 128,
# weight decay 5e-4, crop-and-flip augmentation (Appendix C; the robustness library's CIFAR defaults), the robust
# model L2 eps 0.5 with 7-step PGD (Appendix C). Part II's CIFAR-10 models (Srinivas et al. 2023) are ResNet-18
# at 200 epochs, lr 0.025, batch 128: `PAPER_SRINIVAS` below, used by Chapter 10.
PAPER = Shared(
    dataset="cifar10", arch="resnet50", n_train=50000, epochs=150, lr=0.1, batch_size=128, augment=True,
    train_eps=0.5, train_attack_steps=7, schedule="step_thirds",
    autoencoder=dict(FULL.autoencoder), denoiser=dict(FULL.denoiser),
)
# the paper profile's Chapter 10 zoo recipe (`part2_recipe`: the overrides Chapter 10 passes)
PAPER_SRINIVAS = dict(arch="resnet18", n_train=50000, epochs=200, lr=0.025, batch_size=128, momentum=0.9,
                      weight_decay=5e-4, schedule="cosine", augment=True)
PAPER_REPLICATES = 3  # seeds per (method, strength) in Srinivas et al.'s CIFAR-10 sweeps


def part2_recipe(profile: str) -> dict:
    """The zoo-recipe overrides of Part II's models (Chapter 10) in `profile`: in the paper profile Srinivas et
    al.'s ResNet-18 recipe (`PAPER_SRINIVAS`, less n_train and epochs, which are chapter settings), else none.
    Chapter 10 passes them to `zoo.trained_with`, as `pagutils.scale.prefill` does."""
    if profile != "paper":
        return {}
    return {k: v for k, v in PAPER_SRINIVAS.items() if k not in ("n_train", "epochs")}


SHARED = {"quick": QUICK, "full": FULL, "paper": PAPER}

# the MLP denoiser of the synthetic manifold's vectors (Chapters 7 and 10), the same in both profiles
VECTOR_DENOISER = dict(n_train=10000, epochs=10, width=128, lr=2e-3, batch_size=256, seed=0)


def shared(profile: str) -> Shared:
    """The shared defaults of `profile` ('quick', 'full' or 'paper')."""
    if profile not in SHARED:
        checks.fail("defaults.shared", "profile", f"be one of {PROFILES}", got=repr(profile))
    return SHARED[profile]


def _logspace(low, high, n=30):
    """`n` strengths spaced evenly in log scale from `low` to `high` (Srinivas et al. sweep 30 per method)."""
    import math
    a, b = math.log10(low), math.log10(high)
    return [float(f"{10 ** (a + (b - a) * i / (n - 1)):.6g}") for i in range(n)]


def _entry(source, **values):
    return dict(values=values, source=source)


IL = "Ilyas et al. 2019"
SR = "Srinivas et al. 2023"
FULL_SIZED = "not in the paper: the full profile's value"
# Per chapter, the settings at paper scale (the names of the notebook's `full=dict(...)`) and where each comes
# from. `paper_settings(chapter)` gives the plain dict a notebook passes as `paper=`; names left out keep the
# full profile's value. The ImageNet experiments (Restricted ImageNet, ImageNet-64) are `PAPER_IMAGENET`.
PAPER_SETTINGS_SOURCES = {
    "ch01_adversarial_examples": [
        _entry(f"{IL}, App. C (robustness library CIFAR defaults: ResNet-50, 150 epochs)",
               n_train=50000, epochs=150, train_eps=0.5),
        _entry(f"{IL}, Table 1 / App. C (evaluation: 20-step PGD on the full test set)", n_test=10000,
               attack_steps=20),
    ],
    "ch02_robust_features": [_entry(f"{IL}, Sec. 4 (Gaussian model: closed form; the full values)", dim=50)],
    "ch03_robustified_datasets": [
        _entry(f"{IL}, App. C (source models: ResNet-50, 150 epochs, L2 eps 0.5)", source_n_train=50000,
               source_epochs=150, train_eps=0.5),
        _entry(f"{IL}, App. C.2 (D_R: 1000 steps of normalised gradient descent, step size 0.1, whole training set)",
               n_construct=50000, steps=1000, step_size=0.1),
        _entry(f"{IL}, App. C (training on D_R / D_NR: 150 epochs as the source models)", epochs=150,
               n_test=10000),
        _entry(f"{IL}, App. C (adversarial training on D: 7-step PGD, as the robust source model)", adv_steps=7),
        _entry(f"{IL}, Fig. 2 (robust accuracy of D_R models at L2 eps 0.25)", eval_eps=0.25, curve_steps=20),
    ],
    "ch04_non_robust_features": [
        _entry(f"{IL}, App. C (source model: standard ResNet-50, 150 epochs; not the paper's 50,000 images: 10,000 "
               "are held out for the independent leakage judge and the validation split, as in the full profile)",
               source_n_train=40000, source_epochs=150),
        _entry(f"{IL}, App. C.4 (D_rand / D_det: L2 eps 0.5, step size 0.1, 100 steps, the source's whole training "
               "set; the course sweeps radii around 0.5 to measure leakage)",
               n_construct=40000, sweep_eps=[0.25, 0.5, 1.0, 2.0], steps=100, step_size=0.1),
        _entry(f"{IL}, App. C (training on D_rand / D_det: 150 epochs)", epochs=150, n_test=10000),
    ],
    "ch05_transferability": [
        _entry(f"{IL}, Sec. 5 / App. C (D_rand as in Chapter 4; 150 epochs per architecture)",
               source_n_train=50000, source_epochs=150, n_construct=50000, eps=0.5, steps=100, step_size=0.1,
               epochs=150, n_test=10000),
        _entry(f"{IL}, Fig. 3 (architectures: VGG-16, Inception-v3, ResNet-18, DenseNet, ResNet-50; GoogLeNet "
               f"(Inception-v1) stands in for Inception-v3, whose stem needs inputs of at least 75x75)",
               archs=["vgg16", "googlenet", "resnet18", "densenet121", "resnet50"]),
        _entry(f"{IL}, App. C (the leakage control reads the sets with the robust model of Chapter 1, L2 eps 0.5)",
               train_eps=0.5),
    ],
    "ch06_perceptually_aligned_gradients": [
        _entry(f"{IL}, App. C (the robust ResNet-50 of Chapter 1, here trained on 40,000 images, not the paper's "
               f"50,000: 10,000 are the independent judges' own)", n_train=40000, epochs=150, train_eps=0.5),
        _entry(f"{FULL_SIZED} (image-space tasks follow Santurkar et al. 2019 qualitatively)", n_eval=200),
    ],
    "ch07_off_manifold_theory": [_entry(f"{SR}, Sec. 3 (synthetic; the full values)", n_train=20000)],
    "ch08_distractor": [_entry(f"{SR}, Sec. 4 (MNIST with a distractor; full MNIST, the full values)",
                               n_train=60000, epochs=20),
                        _entry(f"{SR}, Fig. 5 and its code (tml-tuebingen/pags, notebooks/MNISTDistractor.ipynb: "
                               f"ResNet-18 with one input channel, 30 noise levels 0 and logspace(-2, 1))",
                               arch="resnet18",
                               noise_eval=[0.0] + _logspace(0.01, 10.0))],
    "ch09_manifold_real_images": [
        _entry(f"{IL}, App. C (the robust model of Chapter 1)", n_train=50000, epochs=150, train_eps=0.5),
        _entry(f"{SR}, Sec. 5 (autoencoder manifold: {FULL_SIZED})", ae_n_train=50000),
    ],
    "ch10_four_ways_three_regimes": [
        _entry(f"{SR}, App. (CIFAR-10: ResNet-18, 200 epochs, lr 0.025, batch 128; whole training and test set)",
               n_train=50000, epochs=200, n_test=10000),
        _entry(f"{SR}, Sec. 6 / App. (30 log-spaced strengths per method over the full profile's ranges; "
               f"{PAPER_REPLICATES} replicates: `PAPER_REPLICATES`, swept by pagutils.scale.prefill)",
               lam_gradient_norm=_logspace(1e-4, 10.0), lam_noise_consistency=_logspace(1e-3, 100.0),
               sigma_noise_augmentation=_logspace(0.01, 3.0), eps_pgd=_logspace(0.01, 10.0),
               n_seeds=PAPER_REPLICATES),
        _entry(f"{SR}, App. (denoiser for the score: trained on the whole training set, {FULL_SIZED} epochs)",
               denoiser_n_train=50000, reference_n_train=50000),
    ],
}


def paper_settings(chapter: str) -> dict:
    """The paper profile's settings of `chapter` (e.g. 'ch01_adversarial_examples') as one plain dict."""
    if chapter not in PAPER_SETTINGS_SOURCES:
        checks.fail("defaults.paper_settings", "chapter", f"be one of {sorted(PAPER_SETTINGS_SOURCES)}",
                    got=repr(chapter))
    return {name: value for entry in PAPER_SETTINGS_SOURCES[chapter] for name, value in entry["values"].items()}


PAPER_SETTINGS = {chapter: paper_settings(chapter) for chapter in PAPER_SETTINGS_SOURCES}

# The papers' ImageNet-class experiments (`pagutils.scale.imagenet` reads the data; trained with `pagutils.scale.distributed`)
PAPER_IMAGENET = {
    "restricted_imagenet": dict(
        source=f"{IL}, App. C; class ranges from the robustness library's RestrictedImageNet; lr, batch, weight decay "
               f"and schedule are the robustness library's ImageNet-style defaults, not verified offline", arch="resnet50", image_size=224,
        epochs=150, lr=0.1, batch_size=256, weight_decay=1e-4, schedule="step_thirds", train_eps=3.0,
        train_attack_steps=7, norm="l2"),
    "imagenet64": dict(
        source=f"{SR}, App. (ImageNet at 64x64; transform Resize(256), CenterCrop(224), Resize(64) as in "
               f"tml-tuebingen/pags); the recipe is ASSUMED equal to their CIFAR-10 one (not verified offline)",
        arch="resnet18", image_size=64, epochs=200, lr=0.025, batch_size=128, weight_decay=5e-4,
        schedule="cosine", strengths=30, replicates=PAPER_REPLICATES),
}
