"""Chapter 10: four ways to robustness, three regimes."""
from ..core.claims import Claim
from ..core.defaults import FULL, QUICK, part2_recipe
from ..core import checks, robust_losses, zoo
from .spec import Experiment

METHODS = ("gradient_norm", "noise_consistency", "noise_augmentation", "pgd")
_SWEPT = dict(gradient_norm="lam_gradient_norm", noise_consistency="lam_noise_consistency",
              noise_augmentation="sigma_noise_augmentation", pgd="eps_pgd")


def strengths(cfg) -> dict:
    """method -> its swept strengths, starting at 0 (the standard model, shared by the four sweeps)."""
    return {method: [0.0] + list(cfg[_SWEPT[method]]) for method in METHODS}


def point(method, s) -> tuple:
    """The model a sweep's point names: strength 0 is the standard model, the same for every method."""
    return ("standard", 0.0) if s == 0 else (method, s)


# the quick profile's batch size: four times the zoo's steps over the same images, so that two epochs on 2,000
# images train the weak end of every sweep (a standard model: training cross-entropy about 0.1, not 0.5 at 128)
QUICK_BATCH_SIZE = 32


def recipe(cfg) -> dict:
    """The recipe entries of the sweep's models beyond the zoo's defaults and the chapter's sizes: Srinivas et
    al.'s recipe in the paper profile (`defaults.part2_recipe`), batches of `QUICK_BATCH_SIZE` in the quick
    profile, none in the full profile."""
    return {**part2_recipe(cfg.profile), **(dict(batch_size=QUICK_BATCH_SIZE) if cfg.profile == "quick" else {})}


def configuration(cfg, method, s, seed) -> dict:
    """The zoo configuration of `method` at strength `s` and `seed` (`recipe`; strong penalties are trained with
    clipped gradients, `zoo.trained_with`)."""
    sizes = dict(n_train=cfg.n_train, epochs=cfg.epochs, seed=seed, **recipe(cfg))
    if method == "standard":
        return zoo.standard(cfg.dataset, cfg.profile, **sizes)
    extra = dict(noise_consistency=dict(objective_args=dict(sigma=cfg.consistency_sigma)),
                 pgd=dict(objective_args=dict(steps=cfg.pgd_steps)))
    return zoo.trained_with(method, s, cfg.dataset, cfg.profile, **sizes, **extra.get(method, {}))


def seeds(cfg) -> list:
    """The voting seeds (0 to n_seeds - 1), then the selection seed that picks each sweep's peak and does not vote."""
    return list(range(cfg.n_seeds)) + [cfg.selection_seed]


def check(cfg) -> None:
    if cfg.selection_seed < cfg.n_seeds:
        checks.fail("ch10 settings", "selection_seed", f"not be a voting seed (0 to n_seeds - 1 = {cfg.n_seeds - 1})",
                    got=f"{cfg.selection_seed}")
    synthetic_config(cfg)  # its own checks, with errors naming the argument


def synthetic_config(cfg):
    """The synthetic manifold's sweep of this run (`synthetic.SweepConfig`), from the settings named synthetic_*."""
    from ..aligned_gradients.synthetic import SweepConfig
    return SweepConfig(strengths={m: list(cfg[f"synthetic_{_SWEPT[m]}"]) for m in METHODS},
                       n_seeds=cfg.synthetic_n_seeds, selection_seed=cfg.synthetic_selection_seed,
                       n_train=cfg.synthetic_n_train, epochs=cfg.synthetic_epochs, n_eval=cfg.synthetic_n_eval,
                       noise_norm=cfg.synthetic_noise_norm, consistency_sigma=cfg.synthetic_consistency_sigma,
                       pgd_steps=cfg.pgd_steps)


def models(cfg) -> dict:
    """(method, strength, seed) -> configuration, every point of the four sweeps (the standard model once), for
    every voting seed and the selection seed."""
    points = dict.fromkeys(point(m, s) for m, values in strengths(cfg).items() for s in values)
    return {p + (seed,): configuration(cfg, *p, seed) for p in points for seed in seeds(cfg)}


# the same protocol on the synthetic manifold (exact tangent spaces and Bayes gradient), the same in both profiles
# but for its training size
_SYNTHETIC = dict(synthetic_n_seeds=5, synthetic_selection_seed=5, synthetic_n_eval=500, synthetic_noise_norm=0.5,
                  synthetic_consistency_sigma=0.1, synthetic_lam_gradient_norm=[0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0],
                  synthetic_lam_noise_consistency=[1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0],
                  synthetic_sigma_noise_augmentation=[0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0],
                  synthetic_eps_pgd=[0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0])

EXPERIMENT = Experiment(
    chapter="ch10_four_ways_three_regimes",
    title="Four ways to robustness, three regimes",
    quick=dict(dataset="mnist", n_train=2000, epochs=2, n_seeds=3, selection_seed=3, n_test=150,
               lam_gradient_norm=[0.1, 0.3, 1.0, 3.0, 10.0, 30.0],
               lam_noise_consistency=[0.1, 0.3, 1.0, 3.0, 10.0, 30.0],
               sigma_noise_augmentation=[0.05, 0.1, 0.2, 0.4, 0.8, 1.6], eps_pgd=[0.25, 0.5, 1.0, 2.0, 4.0, 8.0],
               consistency_sigma=0.3, pgd_steps=3, score_sigma=0.5,
               denoiser_n_train=QUICK.denoiser["n_train"], denoiser_epochs=QUICK.denoiser["epochs"],
               ae_n_train=QUICK.autoencoder["n_train"], ae_epochs=QUICK.autoencoder["epochs"],
               reference_sigmas=[0.5, 1.0, 1.5, 2.0, 3.0, 4.0], reference_neighbours=100, reference_n_train=12000,
               noise_norm=2.0, on_kept=0.5, accuracy_drop=0.05, synthetic_sigma=0.1,
               alignment_sigmas=[0.5, 1.0, 2.0],
               **_SYNTHETIC, synthetic_n_train=2000, synthetic_epochs=20),
    full=dict(dataset="cifar10", n_train=50000, epochs=30, n_seeds=3, selection_seed=3, n_test=1000,
              lam_gradient_norm=[1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0],
              lam_noise_consistency=[1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0],
              sigma_noise_augmentation=[0.01, 0.03, 0.1, 0.3, 1.0, 3.0], eps_pgd=[0.01, 0.1, 0.5, 1.0, 5.0, 10.0],
              consistency_sigma=0.1, pgd_steps=10, score_sigma=0.5, denoiser_n_train=FULL.denoiser["n_train"],
              denoiser_epochs=FULL.denoiser["epochs"], ae_n_train=FULL.autoencoder["n_train"],
              ae_epochs=FULL.autoencoder["epochs"], reference_sigmas=[1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0],
              reference_neighbours=100, reference_n_train=50000, noise_norm=2.0, on_kept=0.5, accuracy_drop=0.05,
              synthetic_sigma=0.1, alignment_sigmas=[0.5, 1.2, 2.0],
              **_SYNTHETIC, synthetic_n_train=8000, synthetic_epochs=40),
    choices=dict(dataset=("mnist", "fashion_mnist", "cifar10")),
    models=models,
    check=check,
    # the chapter reads the synthetic manifold first, then MNIST
    claims=[Claim(unit="cosine", key=f"synthetic_{method}",
             statement=f"{robust_losses.METHODS[method]['label']}, on the synthetic manifold (exact tangent spaces "
                       "and Bayes gradient): alignment rises with robustness, then falls when it becomes excessive",
             evidence="Srinivas et al. (2023), Fig. 3 and Sec. 6: alignment peaks at an intermediate strength",
             rule="cos(∇ log p(y|x), exact Bayes-optimal ∇ log p(y|x)) at the peak (the interior strength the "
                  "selection seed aligns best) above strength 0 and above the strongest trained strength, every "
                  "voting seed above every seed of each; a strength with a collapsed training (diverged, or "
                  "training accuracy within 0.1 of chance) left out; untested with fewer than three left")
       for method in METHODS]
    + [Claim(unit="cosine", key=method,
                  statement=f"{robust_losses.METHODS[method]['label']}: alignment rises with robustness, then falls "
                            "when it becomes excessive",
                  evidence="Srinivas et al. (2023), Fig. 3 and Sec. 6: alignment peaks at an intermediate strength",
                  rule="the peak (the interior strength the selection seed aligns best) above strength 0 and above "
                       "the strongest trained strength, every voting seed above every seed of each; a strength "
                       "whose training failed (any seed's training loss >= 0.9 ln C, a near-uniform output) left "
                       "out; untested with fewer than three left")
            for method in METHODS],
)
