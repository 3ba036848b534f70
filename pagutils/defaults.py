"""Shared defaults: the one home of every setting that chapters, tests and benchmarks must agree on.

Chapters share trained models through the zoo's cache, which names a model by its configuration. A chapter
finds the model another chapter trained only when both ask for exactly the same configuration, so the sizes
and radii they share are written here once, per profile, and every notebook's settings cell, the zoo, the
autoencoder and denoiser recipes, `tests/test_full_profile.py` and `benchmarks/full_profile.py` read them:

    from pagutils.defaults import QUICK, FULL
    quick=dict(n_train=QUICK.n_train, epochs=QUICK.epochs, train_eps=QUICK.train_eps, ...)

- `quick`: MNIST / Fashion-MNIST and small CNNs, sized for 2 CPU cores (about 2,000 small-CNN image-steps/s);
- `full`: CIFAR-10 and ResNet-18, sized for one GPU (how it differs from the papers: the Reproduction page).
"""
from dataclasses import dataclass, field

PROFILES = ("quick", "full")


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
SHARED = {"quick": QUICK, "full": FULL}

# the MLP denoiser of the synthetic manifold's vectors (Chapters 7 and 10), the same in both profiles
VECTOR_DENOISER = dict(n_train=10000, epochs=10, width=128, lr=2e-3, batch_size=256, seed=0)


def shared(profile: str) -> Shared:
    """The shared defaults of `profile` ('quick' or 'full')."""
    if profile not in SHARED:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    return SHARED[profile]
