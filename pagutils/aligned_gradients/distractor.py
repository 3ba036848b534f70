"""A dataset whose data manifold is known: digits stacked with a fixed distractor (Srinivas et al. 2023).

Each image is 2H x W: a digit in the top or the bottom half (at random, seeded) and, in the other half,
the same rendered letter for every image. The letter never varies, so the data manifold is flat along
the distractor half: any change there is off-manifold by construction. A model that is robust off the
manifold ignores noise in the distractor half and puts no gradient there; a standard model need not.

- `render_letter`: a letter drawn with matplotlib's own font, no files read.
- `make_distractor_data`: the stacked set and the mask of the digit half.
- `train_model`: a classifier for the stacked images, trained once and cached by its configuration.
- `noise_sensitivity`, `gradient_mass`: the two measurements of off-manifold robustness.
- `relative_noise_robustness`: Srinivas et al.'s Figure 5, the output change under noise on the digit half
  divided by that under noise on the distractor half, at every noise level.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

from ..core import checks
from ..core.data import INFO, Data
from ..core.device import resolve
from ..core.gradients import input_gradient
from ..core.models import ARCHITECTURES, Classifier, evaluating
from ..core.progress import progress
from ..core.train import Recipe, train
from ..core.zoo import cached_model


def render_letter(letter="A", size=(28, 28), fontsize=22) -> torch.Tensor:
    """`letter` drawn white on black, centred, as a (1, H, W) float tensor in [0, 1]. Introduced in Chapter 8."""
    if not isinstance(letter, str) or len(letter) != 1 or not letter.isprintable() or letter.isspace():
        checks.fail("render_letter", "letter", "be a single visible character", letter,
                    kind=str)
    if len(size) != 2 or min(size) < 8:
        checks.fail("render_letter", "size", "be (H, W) with both at least 8 pixels", size)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    h, w = size
    fig = Figure(figsize=(w / 72, h / 72), dpi=72, facecolor="black")  # at 72 dpi a point is a pixel
    canvas = FigureCanvasAgg(fig)
    fig.text(0.5, 0.5, letter, color="white", fontsize=fontsize, ha="center", va="center",
             family="DejaVu Sans", weight="bold")
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., 0].astype(np.float32) / 255
    return torch.from_numpy(pixels.copy())[None]


def make_distractor_data(data, letter="A", seed=0):
    """(stacked Data, digit_mask): each (1, H, W) image of `data` stacked with the rendered `letter`.

    The digit goes in the top half or the bottom half with probability 1/2 each (drawn from `seed`),
    the letter in the other half. `digit_mask` is a (N, 1, 2H, W) float tensor, 1 on the digit half.
    Introduced in Chapter 8.
    """
    checks.nonempty(data, "data", "make_distractor_data")
    checks.images(data.x, "data.x", "make_distractor_data")
    if data.x.shape[1] != 1:
        checks.fail("make_distractor_data", "data", "hold single-channel images (MNIST or Fashion-MNIST)",
                    got=f"{data.x.shape[1]} channels")
    n, _, h, w = data.x.shape
    glyph = render_letter(letter, (h, w)).to(data.x)
    top = (torch.rand(n, generator=torch.Generator().manual_seed(seed)) < 0.5).to(data.device)[:, None, None, None]
    fixed = glyph.expand(n, 1, h, w)
    x = torch.where(top, torch.cat([data.x, fixed], 2), torch.cat([fixed, data.x], 2))
    ones, zeros = torch.ones_like(data.x), torch.zeros_like(data.x)
    mask = torch.where(top, torch.cat([ones, zeros], 2), torch.cat([zeros, ones], 2))
    return Data(x.contiguous(), data.y, data.classes, f"{data.name}+{letter}"), mask


def make_classifier(arch, source="mnist", in_shape=(1, 56, 28), num_classes=10, seed=0) -> Classifier:
    """A freshly initialised `arch` classifier for stacked images of shape `in_shape`, normalised as `source`.
    Introduced in Chapter 8."""
    checks.one_of(arch, ARCHITECTURES, "arch", "distractor.make_classifier")
    checks.one_of(source, INFO, "source", "distractor.make_classifier")
    if len(in_shape) != 3 or not all(isinstance(v, int) and v > 0 for v in in_shape):
        checks.fail("distractor.make_classifier", "in_shape", "be (C, H, W) of positive ints", in_shape)
    checks.integer(num_classes, "num_classes", "distractor.make_classifier")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        features, dim = ARCHITECTURES[arch](tuple(in_shape))
        return Classifier(features, dim, num_classes, INFO[source]["mean"], INFO[source]["std"])


def train_model(config, train_data, device=None, show_progress=True) -> Classifier:
    """The classifier trained with `config` on `train_data` (stacked images), from the cache or trained now.

    `config` holds arch, objective, objective_args, epochs, lr, batch_size, seed and `data` (what
    identifies `train_data`: the source dataset, its size and seed, the letter and the placement seed);
    the whole dict is the cache key. The model comes back in eval mode with `.config` and `.history`
    (`zoo.cached_model`). Introduced in Chapter 8.
    """
    required = {"arch", "objective", "objective_args", "epochs", "lr", "batch_size", "seed", "data"}
    checks.mapping(config, "config", "distractor.train_model", required=required)
    checks.nonempty(train_data, "train_data", "distractor.train_model")
    device = resolve(device)
    model = make_classifier(config["arch"], config["data"]["dataset"], tuple(train_data.x.shape[1:]),
                            train_data.num_classes, config["seed"]).to(device)
    recipe = Recipe(epochs=config["epochs"], objective=config["objective"], objective_args=config["objective_args"],
                    lr=config["lr"], batch_size=config["batch_size"], seed=config["seed"])
    fit = lambda model: train(model, train_data.to(device), recipe, show_progress=show_progress)
    model = cached_model({"kind": "distractor", **config}, model, fit, device)
    model.config = config
    return model


def _check_mask(x, digit_mask, where):
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        checks.fail(where, "x", "be a (N, C, H, W) tensor", x,
                    kind=torch.Tensor)
    checks.finite(x, "x", where)
    if not isinstance(digit_mask, torch.Tensor) or digit_mask.shape != (len(x), 1, *x.shape[2:]):
        checks.fail(where, "digit_mask", f"be a (N, 1, H, W) tensor matching x {tuple(x.shape)}", digit_mask,
                    kind=torch.Tensor)


@torch.no_grad()
def noise_sensitivity(model, x, digit_mask, sigma, half="distractor", n_draws=4, seed=0) -> float:
    """Mean L1 distance between softmax outputs with and without Gaussian noise (std `sigma`, not clamped)
    added to one half of every image: `half` is 'digit' or 'distractor'. Averaged over `n_draws` draws.
    Introduced in Chapter 8."""
    _check_mask(x, digit_mask, "noise_sensitivity")
    checks.one_of(half, ("digit", "distractor"), "half", "noise_sensitivity")
    checks.positive(sigma, "sigma", "noise_sensitivity", allow_zero=True)
    checks.integer(n_draws, "n_draws", "noise_sensitivity")
    with evaluating(model):
        return _sensitivity(model, x, digit_mask, torch.softmax(model(x), 1), sigma, half, n_draws, seed)


def _sensitivity(model, x, digit_mask, clean, sigma, half, n_draws, seed):
    """`noise_sensitivity` given the clean softmax outputs `clean` (the model already in eval mode)."""
    region = (digit_mask if half == "digit" else 1 - digit_mask).to(x)
    generator = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(n_draws):
        noise = torch.randn(x.shape, generator=generator).to(x)
        total += (torch.softmax(model(x + sigma * region * noise), 1) - clean).abs().sum(1).mean().item()
    return total / n_draws


def gradient_mass(model, x, y, digit_mask) -> torch.Tensor:
    """The fraction of every input gradient's squared L2 norm that lies on the distractor half: a (N,) tensor.

    0 means the model's gradient lives on the digit alone, 1 that it lives on the distractor alone; a
    gradient spread evenly over all pixels gives 1/2.
    Introduced in Chapter 8.
    """
    _check_mask(x, digit_mask, "gradient_mass")
    checks.labels(y, "y", "gradient_mass", n=len(x))
    grad = input_gradient(model, x, y)
    squared = grad.pow(2).sum(1, keepdim=True)
    return (squared * (1 - digit_mask.to(x))).flatten(1).sum(1) / squared.flatten(1).sum(1).clamp_min(1e-30)


def sensitivity_curves(models, x, digit_mask, sigmas, n_draws=4, seed=0, show_progress=True) -> dict:
    """{(name, half): [noise_sensitivity at every sigma]} for every named model of `models` and both halves.
    Introduced in Chapter 8."""
    if not isinstance(models, dict) or not models:
        checks.fail("sensitivity_curves", "models", "be a non-empty dict of name -> model", models,
                    kind=dict)
    checks.sequence(sigmas, "sigmas", "sensitivity_curves", of="noise levels")
    curves = {}
    work = [(name, half) for name in models for half in ("digit", "distractor")]
    for name, half in progress(work, desc="noise sensitivity", disable=not show_progress):
        curves[name, half] = [noise_sensitivity(models[name], x, digit_mask, s, half, n_draws, seed) for s in sigmas]
    return curves


def noise_ratio(digit: float, distractor: float) -> float:
    """The relative noise robustness at one noise level: the output change under noise on the digit half divided
    by that under noise on the distractor half.

    Above 1, the model is more robust to the distractor (off the manifold) than to the digit; about 1, it treats
    both halves alike. Where both changes are 0 (at σ = 0 always) the ratio is undefined and NaN; where only the
    distractor change is 0 it is infinite. Srinivas et al.'s code adds 1e-12 to the denominator instead, which
    turns σ = 0 into a ratio of 0. Introduced in Chapter 8."""
    checks.number(digit, "digit", "noise_ratio", low=0)
    checks.number(distractor, "distractor", "noise_ratio", low=0)
    if distractor == 0:
        return math.nan if digit == 0 else math.inf
    return digit / distractor


def relative_noise_robustness(model, x, digit_mask, sigmas, n_draws=4, seed=0) -> dict:
    """Srinivas et al.'s Figure 5 for one model: at every noise level of `sigmas`, the mean output change under
    Gaussian noise on the digit half (`noise_sensitivity`), on the distractor half, and their ratio (`noise_ratio`).

    Returns dict(sigma=[...], digit=[...], distractor=[...], ratio=[...]) of floats, one entry per sigma. The paper
    runs σ over 0 and `numpy.logspace(-2, 1, 30)` and expects a ratio of about 1 for a standard model and well
    above 1 for robust ones. Introduced in Chapter 8."""
    _check_mask(x, digit_mask, "relative_noise_robustness")
    checks.sequence(sigmas, "sigmas", "relative_noise_robustness", of="noise levels")
    for sigma in sigmas:
        checks.positive(sigma, "sigmas", "relative_noise_robustness", allow_zero=True)
    checks.integer(n_draws, "n_draws", "relative_noise_robustness")
    result = dict(sigma=[float(s) for s in sigmas], digit=[], distractor=[], ratio=[])
    with torch.no_grad(), evaluating(model):
        clean = torch.softmax(model(x), 1)
        for sigma in sigmas:
            for half in ("digit", "distractor"):
                result[half].append(_sensitivity(model, x, digit_mask, clean, sigma, half, n_draws, seed))
            result["ratio"].append(noise_ratio(result["digit"][-1], result["distractor"][-1]))
    return result


def ratio_summary(runs, sigmas) -> dict:
    """The relative noise robustness of one model over its seeds: `runs` is a list of ratio curves, one per seed,
    each with one entry per noise level of `sigmas` (`relative_noise_robustness(...)["ratio"]`).

    Every noise level is reduced over seeds by `spread.over_seeds`: a NaN ratio (both changes 0, undefined) is a
    failed seed there, left out. Left out entirely are σ = 0, the levels where some seed's ratio is infinite (a
    distractor change of exactly 0: a ratio no mean holds) and those where no seed has a ratio.

    Returns dict(sigma, mean, low, high) over the levels kept, `low`/`high` the minimum and maximum over seeds,
    and the peak of the mean: `peak`, `peak_sigma`, `peak_low`, `peak_high`. Introduced in Chapter 8."""
    from ..core.spread import over_seeds
    checks.sequence(runs, "runs", "ratio_summary", of="ratio curves")
    if not isinstance(sigmas, (list, tuple)) or any(len(run) != len(sigmas) for run in runs):
        checks.fail("ratio_summary", "runs", f"have one ratio per sigma in every curve ({len(sigmas)} sigmas)")
    kept, spreads = [], []   # the noise levels kept and the Spread of their ratios over seeds
    for j, sigma in enumerate(sigmas):
        ratios = [run[j] for run in runs]
        if sigma > 0 and not any(r in (math.inf, -math.inf) for r in ratios):
            spread = over_seeds(ratios, name=f"the ratios of runs at sigmas[{j}]", where="ratio_summary")
            if spread.n:
                kept.append(float(sigma))
                spreads.append(spread)
    if not kept:
        checks.fail("ratio_summary", "runs", "hold a finite ratio for some seed at some noise level above 0")
    best = max(range(len(spreads)), key=lambda i: spreads[i].mean)
    return dict(sigma=kept, mean=[s.mean for s in spreads], low=[s.low for s in spreads],
                high=[s.high for s in spreads], peak=spreads[best].mean, peak_sigma=kept[best],
                peak_low=spreads[best].low, peak_high=spreads[best].high)


def plot_relative_robustness(ratios, sigmas, ax=None):
    """Srinivas et al.'s Figure 5: the relative noise robustness against the noise level (log scale), one line per
    model, the mean over its seeds with a band from their minimum to their maximum.

    `ratios` maps a model's name to a list of ratio curves, one per seed (`relative_noise_robustness(...)["ratio"]`);
    noise levels where a ratio is undefined (σ = 0) or infinite are left out. A dashed line marks 1, a model that
    treats both halves alike. Introduced in Chapter 8."""
    import matplotlib.pyplot as plt
    if not isinstance(ratios, dict) or not ratios:
        checks.fail("plot_relative_robustness", "ratios", "be a non-empty dict of name -> list of curves", ratios,
                    kind=dict)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 5.2), layout="constrained")
    for i, (name, runs) in enumerate(ratios.items()):
        summary = ratio_summary(runs, sigmas)
        label = f"{name} ({len(runs)} seeds)" if len(runs) > 1 else name
        ax.plot(summary["sigma"], summary["mean"], marker="o", ms=4, color=f"C{i}", label=label)
        if len(runs) > 1:
            ax.fill_between(summary["sigma"], summary["low"], summary["high"], color=f"C{i}", alpha=0.2, lw=0)
    ax.axhline(1, color="k", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("noise standard deviation σ")
    ax.set_ylabel("change (digit noise) /\nchange (distractor noise)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)  # below the axes, off the lines
    return ax


def plot_sensitivity(curves, sigmas, axes=None):
    """Two panels, one above the other, noise on the digit half (top) and on the distractor half (bottom): output
    change against noise level (log scale; σ = 0 is left out). Introduced in Chapter 8."""
    import matplotlib.pyplot as plt
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(7, 6.4), sharey=True, sharex=True, layout="constrained")
    names = list(dict.fromkeys(name for name, _ in curves))
    keep = [j for j, s in enumerate(sigmas) if s > 0]
    for ax, half in zip(axes, ("digit", "distractor")):
        for name in names:
            ax.plot([sigmas[j] for j in keep], [curves[name, half][j] for j in keep], marker="o", ms=4, label=name)
        ax.set_xscale("log")
        ax.set_title(f"noise on the {half} half")
        ax.grid(alpha=0.3)
    for ax in axes:
        ax.set_ylabel("‖softmax(x + δ) − softmax(x)‖₁")
    axes[-1].set_xlabel("noise standard deviation σ")
    axes[1].legend()
    return axes


def most_robust_within(accuracy, candidates, reference, tolerance=0.05) -> str:
    """The last (strongest) name of `candidates` whose accuracy (`accuracy[name]`, on a validation split) is at
    least `accuracy[reference]` - `tolerance`; the first candidate when none is. A model that lost its accuracy
    reacts to nothing, which says nothing about the manifold. Introduced in Chapter 8."""
    where = "most_robust_within"
    checks.mapping(accuracy, "accuracy", where, required=(reference,))
    if isinstance(candidates, str) or not candidates:
        checks.fail(where, "candidates", "be a non-empty list of model names", candidates,
                    error=checks.ArgumentTypeError)
    missing = [name for name in candidates if name not in accuracy]
    if missing:
        checks.fail(where, "candidates", "be names of accuracy", got=f"{missing} that it does not hold")
    checks.number(tolerance, "tolerance", where, low=0, high=1)
    near = [name for name in candidates if accuracy[name] >= accuracy[reference] - tolerance]
    return (near or list(candidates)[:1])[-1]


def _seed_values(runs, name, where):
    """`runs` (a list of per-seed values) as a float64 tensor, at least one value, all finite."""
    if not isinstance(runs, (list, tuple)) or not runs:
        checks.fail(where, name, "be a non-empty list of per-seed values", runs, error=checks.ArgumentTypeError)
    values = torch.tensor([float(v) for v in runs], dtype=torch.float64)
    if not torch.isfinite(values).all():
        checks.fail(where, name, "be finite numbers", got=str(list(runs)))
    return values


def about_one_rule(runs, sigmas, low=0.5, high=2.0, power=0.8) -> dict:
    """Chapter 8's rule for "a standard model's relative noise robustness is about 1": every seed's ratio
    (`runs`: one ratio curve per seed over `sigmas`, as `relative_noise_robustness(...)["ratio"]`) between `low`
    and `high` at every positive noise level.

    With n seeds it says "holds" falsely, when the true ratio sits on a bound at some level (the nearest a model
    that is not "about 1" comes), with probability 0.5 ** n: its `false_positive_rate`. `detectable` is the
    distance from the nearer bound at which it holds with probability `power` at the seeds' pooled spread over the
    levels (`claims.threshold_power`; None with one seed), `observed` the smallest distance of a level's mean from
    the nearer bound (negative: outside). Introduced in Chapter 8."""
    from ..core.claims import pooled_sd, threshold_power
    where = "about_one_rule"
    checks.number(low, "low", where, low=0)
    checks.number(high, "high", where, low=low, strict=True)
    levels = _finite_levels(runs, sigmas, where)
    n = len(runs)
    inside = all(low <= r <= high for j in levels for r in (run[j] for run in runs))
    means = [sum(run[j] for run in runs) / n for j in levels]
    observed = min(min(m - low, high - m) for m in means)
    sd = pooled_sd([[run[j] for run in runs] for j in levels]) if n > 1 else None
    rule = threshold_power(sd, n, -high, -high, power) if sd is not None else dict(false_positive_rate=0.5 ** n)
    return dict(holds=inside, false_positive_rate=0.5 ** n, detectable=rule.get("detectable"), observed=observed,
                sd=sd, n=n, low=min(min(run[j] for run in runs) for j in levels),
                high=max(max(run[j] for run in runs) for j in levels))


def _finite_levels(runs, sigmas, where):
    """The indices of the positive levels of `sigmas` where every curve of `runs` has a finite ratio."""
    checks.sequence(runs, "runs", where, of="ratio curves")
    if not isinstance(sigmas, (list, tuple)) or any(len(run) != len(sigmas) for run in runs):
        checks.fail(where, "runs", f"have one ratio per sigma in every curve ({len(sigmas)} sigmas)")
    levels = [j for j, s in enumerate(sigmas) if s > 0 and all(math.isfinite(run[j]) for run in runs)]
    if not levels:
        checks.fail(where, "runs", "hold a finite ratio for every seed at some noise level above 0")
    return levels


def above_rule(robust, standard, floor=2.0, power=0.8, trials=20000) -> dict:
    """Chapter 8's rule for "a robust model's relative noise robustness is well above 1", at one noise level
    chosen beforehand: every seed of the robust model (`robust`, its ratios there, one per seed) above every seed
    of the standard model (`standard`), and the robust model's mean at least `floor`.

    With no effect (both sets of seeds from one distribution) the first part alone holds with probability
    1 / C(n + m, n) (`claims.chance_separated`), so the rule's `false_positive_rate` is at most that. `detectable`
    is the smallest shift of the robust model's mean above the standard model's at which the rule holds with
    probability `power`, with every seed normal around its mean at the pooled spread of both (`claims.pooled_sd`)
    and the standard model's mean where it was measured (seeded simulation; None with fewer than 2 seeds each);
    `observed` the measured shift of the means. Introduced in Chapter 8."""
    from ..core.claims import chance_separated, pooled_sd
    where = "above_rule"
    robust, standard = _seed_values(robust, "robust", where), _seed_values(standard, "standard", where)
    checks.number(floor, "floor", where)
    checks.number(power, "power", where, low=0, high=1)
    checks.integer(trials, "trials", where)
    n, m = len(robust), len(standard)
    holds = bool(robust.min() > standard.max() and robust.mean() >= floor)
    detectable = sd = None
    if n > 1 and m > 1:
        sd = pooled_sd([robust.tolist(), standard.tolist()])
        generator = torch.Generator().manual_seed(0)
        a = torch.randn(trials, n, generator=generator, dtype=torch.float64) * sd
        b = torch.randn(trials, m, generator=generator, dtype=torch.float64) * sd
        # the shift each simulated run needs: above every standard seed, and its mean at the floor
        need = torch.maximum(b.max(1).values - a.min(1).values,
                             floor - standard.mean() - a.mean(1)).sort().values
        detectable = max(0.0, float(need[min(trials - 1, math.ceil(power * trials) - 1)]))
    return dict(holds=holds, false_positive_rate=chance_separated(n, m), detectable=detectable,
                observed=float(robust.mean() - standard.mean()), sd=sd, n=n, m=m, floor=floor,
                robust_mean=float(robust.mean()), standard_mean=float(standard.mean()))
