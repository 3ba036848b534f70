"""Chapter 6: perceptually-aligned gradients."""
from ..claims import Claim
from ..defaults import FULL, QUICK
from .. import zoo
from .spec import Experiment, shared_pair


def models(cfg) -> dict:
    """The zoo's standard and robust models, and a standard judge of another architecture."""
    judge = zoo.standard(cfg.dataset, cfg.profile, arch=cfg.judge_arch, n_train=cfg.n_train, epochs=cfg.epochs)
    return dict(shared_pair(cfg, cfg.n_train, cfg.epochs), judge=judge)


EXPERIMENT = Experiment(
    chapter="ch06_perceptually_aligned_gradients",
    title="Perceptually-aligned gradients",
    quick=dict(dataset=QUICK.dataset, n_train=QUICK.n_train, epochs=QUICK.epochs, train_eps=QUICK.train_eps,
               judge_arch="mlp", n_eval=100, smooth_sigmas=[0.1, 0.3, 0.5], smooth_samples=32, gen_steps=60,
               gen_step_size=0.25, cf_eps=5.0, cf_steps=60, cf_step_size=0.1, noise_sigma=0.5, denoise_steps=40,
               denoise_step_size=0.25, box=12, inpaint_steps=40, inpaint_step_size=0.25),
    full=dict(dataset=FULL.dataset, n_train=FULL.n_train, epochs=FULL.epochs, train_eps=FULL.train_eps,
              judge_arch="vgg11", n_eval=200, smooth_sigmas=[0.05, 0.1, 0.2], smooth_samples=50, gen_steps=60,
              gen_step_size=0.5, cf_eps=10.0, cf_steps=60, cf_step_size=0.25, noise_sigma=0.1, denoise_steps=40,
              denoise_step_size=0.1, box=10, inpaint_steps=60, inpaint_step_size=0.25),
    choices=dict(dataset=("mnist", "fashion_mnist", "cifar10")),
    models=models,
    claims=[
        Claim(key="counterfactuals",
              statement="robust counterfactuals reach their target more often than standard ones, by both judges",
              evidence="Santurkar et al. (2019); Ilyas et al. (2019), Fig. 1: robust gradients change the class",
              rule="target reached more often for the robust model, judged by the other model and by the judge"),
        Claim(key="repairs",
              statement="denoising and in-painting along the robust gradient beat the standard one",
              evidence="Santurkar et al. (2019), image-synthesis tasks with robust classifiers",
              rule="PSNR of the denoised images higher and in-painting error lower for the robust model"),
    ],
)
