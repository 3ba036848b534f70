"""Chapter 5: transferability and non-robust features."""
from ..core import checks
from ..core.claims import Claim
from ..core.defaults import FULL, QUICK
from .spec import Experiment, shared_pair


def models(cfg) -> dict:
    """The standard source of D_det and of the transferred adversarial examples, and the robust model that reads
    the set's leakage."""
    pair = shared_pair(cfg, cfg.source_n_train, cfg.source_epochs)
    return dict(source=pair["standard"], robust=pair["robust"])


def _check(cfg) -> None:
    source_seed = models(cfg)["source"].get("seed", 0)
    for name in ("seeds", "target_seeds"):
        if source_seed in cfg[name]:
            checks.fail("ch05 settings", name, f"not hold the source model's seed {source_seed}",
                        got=f"{list(cfg[name])}")
        if len(set(cfg[name])) != len(cfg[name]) or len(cfg[name]) < 2:
            checks.fail("ch05 settings", name, "hold at least 2 distinct seeds (a spread per architecture)",
                        got=f"{list(cfg[name])}")
    if set(cfg.seeds) & set(cfg.target_seeds):
        checks.fail("ch05 settings", "target_seeds", "differ from seeds (a target never shares its initialisation "
                    "with a model trained on D_det)", got=f"{list(cfg.target_seeds)} and seeds {list(cfg.seeds)}")
    if len(set(cfg.archs)) != len(cfg.archs) or len(cfg.archs) < 3:
        checks.fail("ch05 settings", "archs", "hold at least 3 distinct architectures", got=f"{list(cfg.archs)}")


# eleven small architectures that learn under the quick recipe (2,000 images, 5 epochs): four of Chapter 1 (not
# wide_cnn, which costs as much as four of the others) and width and depth variants of them (pagutils.core.models);
# the VGG-style networks with batch norm (without it, small_vgg stayed at chance on D_det and one of its targets
# did not start learning). The seeds: 8, 9, 12, 13 (on D_det) and 10, 11, 14, 15 (targets) are fresh; an exploratory
# run on seeds 1, 2 and 6, 7 chose the architectures and the measure (transfer less random noise: there the residual
# networks were fooled by random directions of the same norm as often as by the attack), so the claim is read on
# seeds that played no part in those choices, none of them a source's (0), Chapter 4's selection seed (4) or its
# judge's (5). Four and four, not two and two: with 8, 9 and 10, 11 alone the outcome sat on the critical value and
# moved with float rounding (rho 0.536 trained on one thread, 0.482 on two); 12, 13 and 14, 15 alone read 0.882.
# Both halves are kept and voted together (0.773), so that a seed set's luck no longer decides the outcome; the
# full profile uses the same seeds.
QUICK_ARCHS = ["linear", "narrow_mlp", "mlp", "deep_mlp", "narrow_cnn", "small_cnn", "deep_cnn", "narrow_vgg",
               "vgg_bn", "narrow_resnet", "small_resnet"]
RULE = ("Spearman's rho between the architectures' transfer success beyond noise (on the images source and target "
        "both classify correctly: the share the source's adversarial examples fool less the share random directions "
        "of the same L2 norm fool; mean of the target seeds) and their D_det test accuracy (mean of the training "
        "seeds), one-sided exact p-value <= alpha (0.05); targets never the source, and of seeds other than the "
        "source's and the D_det models'")
EXPERIMENT = Experiment(
    chapter="ch05_transferability",
    title="Transferability",
    # eps 4.0 is Chapter 4's quiet radius on MNIST in the quick profile (chosen there on its selection seed and a
    # validation split, never on a voting seed or the test set): the same D_det, from the same cache
    quick=dict(dataset=QUICK.dataset, source_n_train=QUICK.n_train, source_epochs=QUICK.epochs,
               n_construct=2000, eps=4.0, steps=10, step_size=0.0, epochs=5, archs=QUICK_ARCHS,
               seeds=[8, 9, 12, 13], target_seeds=[10, 11, 14, 15], alpha=0.05, train_eps=QUICK.train_eps, n_test=2000, n_transfer=1000,
               transfer_eps=2.0, transfer_steps=20),
    full=dict(dataset=FULL.dataset, source_n_train=FULL.n_train, source_epochs=FULL.epochs, n_construct=50000,
              eps=0.5, steps=100, step_size=0.1, epochs=30,
              archs=["vgg16", "googlenet", "resnet18", "densenet121", "resnet50"], seeds=[8, 9, 12, 13],
              target_seeds=[10, 11, 14, 15], alpha=0.05, train_eps=FULL.train_eps, n_test=10000, n_transfer=1000,
              transfer_eps=0.5, transfer_steps=20),
    choices=dict(dataset=("mnist", "fashion_mnist", "cifar10")),
    models=models,
    check=_check,
    claims=[Claim(
        key="transfer_trend",
        statement="transfer success (beyond what random noise of the same norm does) rises with D_det accuracy "
                  "across architectures (Figure 3)",
        evidence="Ilyas et al. (2019), Fig. 3: five CIFAR-10 architectures, transfer success from a ResNet-50 "
                 "against D_det accuracy, close to a line; no coefficient is stated, read here as a strong "
                 "correlation of at least 0.8",
        rule=RULE,
        paper_effect=0.8,
        unit="correlation")],
)
