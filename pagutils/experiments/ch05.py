"""Chapter 5: transferability and non-robust features."""
from ..claims import Claim
from ..defaults import FULL, QUICK
from .spec import Experiment, shared_pair


def models(cfg) -> dict:
    """The standard source of D_rand / D_det and the robust model that reads their leakage."""
    pair = shared_pair(cfg, cfg.source_n_train, cfg.source_epochs)
    return dict(source=pair["standard"], robust=pair["robust"])


EXPERIMENT = Experiment(
    chapter="ch05_transferability",
    title="Transferability",
    quick=dict(dataset=QUICK.dataset, source_n_train=QUICK.n_train, source_epochs=QUICK.epochs,
               n_construct=2000, eps=4.0, steps=10, step_size=0.0, epochs=5,
               archs=["mlp", "small_cnn", "wide_cnn", "small_resnet", "small_vgg"], train_eps=QUICK.train_eps,
               n_test=5000, n_transfer=500, transfer_eps=2.0, transfer_steps=20),
    full=dict(dataset=FULL.dataset, source_n_train=FULL.n_train, source_epochs=FULL.epochs, n_construct=50000,
              eps=0.5, steps=100, step_size=0.1, epochs=30,
              archs=["vgg16", "googlenet", "resnet18", "densenet121", "resnet50"], train_eps=FULL.train_eps,
              n_test=10000, n_transfer=1000, transfer_eps=0.5, transfer_steps=20),
    choices=dict(dataset=("mnist", "fashion_mnist", "cifar10")),
    models=models,
    claims=[Claim(
        key="transfer_trend",
        statement="transfer success rises with D_det accuracy across architectures (Figure 3)",
        evidence="Ilyas et al. (2019), Fig. 3: five architectures, transfer success against D_det accuracy",
        rule="Pearson r across architectures, one-sided exact permutation test, p <= 0.05; targets never the "
             "source",
        unit="correlation")],
)
