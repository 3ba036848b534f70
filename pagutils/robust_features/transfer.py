"""Transferability across architectures (Ilyas et al. 2019, Section 5 and Figure 3).

- `target_configs`: the zoo configurations of the target models, one per architecture, every one trained from a
  seed other than the source model's, so that no target is the model that made the adversarial examples (for the
  source's own architecture the target is a second model, not the source: its transfer is not white-box);
- `pearson`: the correlation of two sequences;
- `transfer_on_correct`: transfer success counted only on the images that both the source and the target
  classify correctly, so a target's own clean errors do not count as transfer;
- `spearman`, `spearman_test`, `spearman_rule`, `detectable_rank_correlation`: the test the chapter's claim is
  read with: Spearman's rank correlation against its exact null distribution (every order of n distinct ranks
  equally likely), its one-sided p-value, the rule's false-positive rate (the exact tail mass, at most alpha) and
  the smallest correlation it detects with 80% probability at n architectures.

The leakage control beside them (a robust model reading the new labels of D_rand and D_det) is Chapter 4's
`features.leakage`.
"""
import functools
import math

import numpy as np
import torch

from ..core import checks
from ..core.attacks import predict
from ..core.models import ARCHITECTURES


def target_configs(source_config: dict, archs, recipe: dict = None, seed: int = None) -> dict:
    """{arch: zoo configuration} of the transfer targets, one per architecture in `archs`: `recipe` (a zoo
    configuration; by default the source's own) with `arch` and the seed `seed` (by default the source's seed
    + 1), which must differ from the source's. Every target, also the one of the source's own architecture, is
    then a model of its own, trained from another initialisation and data order, never the model that made the
    adversarial examples. Introduced in Chapter 5."""
    where = "target_configs"
    checks.mapping(source_config, "source_config", where, required=("arch", "seed"))
    recipe = source_config if recipe is None else checks.mapping(recipe, "recipe", where, required=("arch",))
    if isinstance(archs, str) or not isinstance(archs, (list, tuple)) or not archs:
        checks.fail(where, "archs", "be a non-empty list of architecture names", archs, error=checks.ArgumentTypeError)
    for arch in archs:
        checks.one_of(arch, ARCHITECTURES, "archs", where)
    if len(set(archs)) != len(archs):
        checks.fail(where, "archs", "not repeat an architecture", got=repr(list(archs)))
    source_seed = source_config["seed"]
    seed = source_seed + 1 if seed is None else checks.integer(seed, "seed", where, low=0)
    if seed == source_seed:
        checks.fail(where, "seed", f"differ from the source model's seed {source_seed}", seed)
    return {arch: {**recipe, "arch": arch, "seed": seed} for arch in archs}


def _pair(x, y, where):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 3:
        checks.fail(where, "x and y", "be two 1-D sequences of the same length, at least 3",
                    got=f"shapes {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        checks.fail(where, "x and y", "be finite", got="NaN or infinite values")
    return x, y


def _r(x, y):
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float((dx * dx).sum() * (dy * dy).sum()))
    if denominator == 0:
        return float("nan")
    return float(min(1.0, max(-1.0, (dx * dy).sum() / denominator)))  # rounding can step past +-1


def pearson(x, y) -> float:
    """Pearson's correlation coefficient of two sequences (nan when one of them is constant).
    Introduced in Chapter 5."""
    return _r(*_pair(x, y, "pearson"))


def _orders(n, max_exact, n_perm, seed):
    if n <= max_exact:
        import itertools
        return np.array(list(itertools.permutations(range(n))))
    rng = np.random.default_rng(seed)
    return np.concatenate([np.arange(n)[None], np.array([rng.permutation(n) for _ in range(n_perm - 1)])])


def _rs(x, ys):
    """Pearson's r of x with every row of ys (nan where a row is constant)."""
    dx = x - x.mean()
    dy = ys - ys.mean(axis=-1, keepdims=True)
    denominator = np.sqrt((dx * dx).sum() * (dy * dy).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip((dy * dx).sum(axis=-1) / denominator, -1, 1)


# ---------------------------------------------------------------------------------------------------------------
# Transfer counted on the images both models get right, and Spearman's rank correlation with its exact null


def transfer_on_correct(source, target, x, x_adv, y, batch_size=1000, source_correct=None) -> dict:
    """Transfer success of adversarial inputs `x_adv` made on `source` from the clean images `x` (labels `y`),
    counted only on the images that both `source` and `target` classify correctly: the share of those that
    `target` misclassifies after the attack. An image the target already gets wrong, or one the source got wrong
    (its attack started from a mistake), says nothing about transfer.

    `source_correct` (a boolean tensor, one per image) gives `source`'s clean verdicts when they are known, so
    that many targets do not each run the source again. Returns dict(rate, counted (images both models get
    right), attacked (all images)); rate is nan when no image is counted. Introduced in Chapter 5."""
    where = "transfer_on_correct"
    checks.images(x, "x", where, dims=None)
    checks.images(x_adv, "x_adv", where, dims=None)
    checks.labels(y, "y", where)
    if not (len(x) == len(x_adv) == len(y)) or len(y) == 0:
        checks.fail(where, "x, x_adv and y", "hold the same, non-zero number of examples",
                    got=f"{len(x)}, {len(x_adv)} and {len(y)}")
    if x.shape != x_adv.shape:
        checks.fail(where, "x_adv", f"have the shape of x {tuple(x.shape)}", got=str(tuple(x_adv.shape)))
    checks.integer(batch_size, "batch_size", where)
    checks.model_logits(target, x, "target", where)
    y = y.to(x.device)
    if source_correct is None:
        checks.model_logits(source, x, "source", where)
        source_correct = predict(source, x, batch_size) == y
    elif (not isinstance(source_correct, torch.Tensor) or source_correct.dtype != torch.bool
          or source_correct.shape != y.shape):
        checks.fail(where, "source_correct", f"be a boolean tensor of shape {tuple(y.shape)}", source_correct,
                    error=checks.ArgumentTypeError)
    both = source_correct.to(y.device) & (predict(target, x, batch_size) == y)
    fooled = (predict(target, x_adv, batch_size) != y) & both
    counted = int(both.sum())
    return dict(rate=float(fooled.sum()) / counted if counted else math.nan, counted=counted, attacked=len(y))


def ranks(values) -> np.ndarray:
    """The ranks 1..n of `values`, tied values sharing the mean of their ranks. Introduced in Chapter 5."""
    v = np.asarray(values, dtype=float)
    order = np.argsort(v, kind="stable")
    r = np.empty(len(v))
    r[order] = np.arange(1, len(v) + 1)
    for value in np.unique(v):
        tied = v == value
        if tied.sum() > 1:
            r[tied] = r[tied].mean()
    return r


def spearman(x, y) -> float:
    """Spearman's rank correlation of two sequences: Pearson's r of their ranks (`ranks`); nan when one of them
    is constant. Introduced in Chapter 5."""
    x, y = _pair(x, y, "spearman")
    return _r(ranks(x), ranks(y))


# the largest number of points whose null distribution `spearman_null` counts exactly (2**n subsets)
MAX_EXACT = 14


@functools.lru_cache(maxsize=None)
def spearman_null(n: int) -> tuple:
    """The exact null distribution of Spearman's rho for `n` distinct values: (rho values ascending, their
    probabilities), every one of the n! orders equally likely.

    rho is an increasing function of T = sum_i i * pi(i) over a permutation pi of 0..n-1
    (rho = 1 - 6 * sum_i (i - pi(i))**2 / (n (n**2 - 1))), so the distribution of T is counted exactly by dynamic
    programming over the subsets of values already placed (2**n subsets, up to n = `MAX_EXACT`).
    Introduced in Chapter 5."""
    checks.integer(n, "n", "spearman_null", low=3)
    if n > MAX_EXACT:
        checks.fail("spearman_null", "n", f"be at most {MAX_EXACT} (the exact count needs 2**n subsets)", n)
    top = sum(i * i for i in range(n))
    layer = {0: np.zeros(top + 1, dtype=np.int64)}
    layer[0][0] = 1
    for position in range(n):
        following = {}
        for mask, counts in layer.items():
            for value in range(n):
                if mask >> value & 1:
                    continue
                shift = position * value
                grown = following.setdefault(mask | 1 << value, np.zeros(top + 1, dtype=np.int64))
                grown[shift:] += counts[:top + 1 - shift]
        layer = following
    counts = layer[(1 << n) - 1]
    t = np.nonzero(counts)[0]
    squares = 2 * sum(i * i for i in range(n)) - 2 * t
    rho = 1 - 6 * squares / (n * (n * n - 1))
    return rho, counts[t] / math.factorial(n)


def spearman_test(x, y, n_perm: int = 20000, seed: int = 0) -> dict:
    """Spearman's rho of (x, y) and its one-sided p-value under no association (H0: every order of y against x
    equally likely): the probability, under H0, of a rho at least the observed one.

    Exact (`spearman_null`) when neither sequence has ties and n <= `MAX_EXACT`; otherwise over `n_perm` seeded
    random orders of y, the observed order included (a valid p-value too: under H0 P(p <= alpha) <= alpha).
    Returns dict(rho, p, n, exact). Introduced in Chapter 5."""
    where = "spearman_test"
    x, y = _pair(x, y, where)
    checks.integer(n_perm, "n_perm", where, low=10)
    checks.integer(seed, "seed", where, low=0)
    rx, ry = ranks(x), ranks(y)
    rho = _r(rx, ry)
    n = len(x)
    if not math.isfinite(rho):
        return dict(rho=rho, p=math.nan, n=n, exact=False)
    exact = n <= MAX_EXACT and len(set(x.tolist())) == n and len(set(y.tolist())) == n
    if exact:
        values, probabilities = spearman_null(n)
        p = float(probabilities[values >= rho - 1e-9].sum())
    else:
        rs = _rs(rx, ry[_orders(n, 0, n_perm, seed)])
        p = float((rs >= rho - 1e-12).mean())
    return dict(rho=rho, p=min(1.0, p), n=n, exact=exact)


def spearman_rule(n: int, alpha: float = 0.05) -> dict:
    """What the rule "one-sided exact p <= `alpha`" of `spearman_test` is at `n` points without ties: the
    smallest rho that passes (`critical`) and its false-positive rate, the exact probability under no
    association that rho reaches `critical` (at most alpha; less where the null distribution steps past it).
    Introduced in Chapter 5."""
    where = "spearman_rule"
    checks.integer(n, "n", where, low=3)
    checks.number(alpha, "alpha", where, low=0, high=1, strict=True)
    values, probabilities = spearman_null(n)
    tail = np.cumsum(probabilities[::-1])[::-1]  # P(rho >= values[i])
    passing = np.nonzero(tail <= alpha + 1e-12)[0]
    if not len(passing):
        return dict(critical=math.inf, false_positive_rate=0.0, n=n, alpha=float(alpha))
    first = passing[0]
    return dict(critical=float(values[first]), false_positive_rate=float(tail[first]), n=n, alpha=float(alpha))


def detectable_rank_correlation(n: int, alpha: float = 0.05, power: float = 0.8, trials: int = 20000,
                                seed: int = 0) -> float:
    """The smallest true correlation that `spearman_rule`'s rule detects with probability `power` among `n`
    points of a bivariate normal population with that (Pearson) correlation, by simulation (seeded; the same
    draws for every correlation, on a grid of 0.01): what the rule can tell with this many architectures; nan
    when even a correlation of 1 is not detected that often. Introduced in Chapter 5."""
    where = "detectable_rank_correlation"
    checks.integer(n, "n", where, low=3)
    checks.number(power, "power", where, low=0, high=1, strict=True)
    checks.integer(trials, "trials", where, low=100)
    critical = spearman_rule(n, alpha)["critical"]
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((trials, n)), rng.standard_normal((trials, n))
    rx = a.argsort(axis=1).argsort(axis=1).astype(float)
    for rho in np.round(np.arange(0.0, 1.0001, 0.01), 2):
        y = rho * a + math.sqrt(max(0.0, 1 - rho ** 2)) * b
        ry = y.argsort(axis=1).argsort(axis=1).astype(float)
        caught = (_rank_r(rx, ry) >= critical - 1e-9).mean()
        if caught >= power:
            return float(rho)
    return math.nan


def _rank_r(rx, ry):
    """Spearman's rho of every row pair of rank arrays without ties."""
    n = rx.shape[1]
    return 1 - 6 * ((rx - ry) ** 2).sum(axis=1) / (n * (n * n - 1))


def by_architecture(values: dict, archs) -> dict:
    """{arch: `spread.Spread`} of per-seed `values` keyed (arch, seed): each architecture's mean and min-max range
    over its seeds, in the order of `archs`. Introduced in Chapter 5."""
    from ..core.spread import over_seeds
    checks.mapping(values, "values", "by_architecture")
    out = {}
    for arch in archs:
        mine = [v for (a, _), v in sorted(values.items(), key=lambda kv: str(kv[0])) if a == arch]
        if not mine:
            checks.fail("by_architecture", "values", "hold a seed of every architecture of archs",
                        got=f"no seed of architecture {arch!r}")
        out[arch] = over_seeds(mine, name=f"values of {arch}", where="by_architecture")
    return out


def plot_trend(ax, x: dict, y: dict, chance: float = None, legend: bool = True):
    """One point per architecture at the means of `x` and `y` ({arch: Spread}, as `by_architecture` gives),
    with error bars over each axis's seed range (min to max), one colour per architecture, named in a legend under
    the axes (`legend`; several panels of the same architectures need it once); in percent. A dotted line marks
    `chance` on the vertical axis. Introduced in Chapter 5."""
    import matplotlib
    archs = list(x)
    if set(archs) != set(y):
        checks.fail("plot_trend", "x and y", "name the same architectures", got=f"{sorted(x)} and {sorted(y)}")
    colours = matplotlib.colormaps["tab20"]  # twenty distinct colours: one per architecture
    for i, arch in enumerate(archs):
        sx, sy = x[arch], y[arch]
        ax.errorbar(100 * sx.mean, 100 * sy.mean, xerr=[[100 * (sx.mean - sx.low)], [100 * (sx.high - sx.mean)]],
                    yerr=[[100 * (sy.mean - sy.low)], [100 * (sy.high - sy.mean)]], fmt="o", color=colours(i % 20),
                    capsize=2, markersize=5, label=arch)
    if chance is not None:
        ax.axhline(100 * chance, ls=":", color="black", lw=1)
    ax.grid(alpha=0.3)
    if legend:
        from ..present.plots import legend_below
        legend_below(ax, ncol=3)
    return ax


def trend_test(x: dict, y: dict, alpha: float = 0.05, detectable_trials: int = 20000) -> dict:
    """The chapter's test of Figure 3's trend: `spearman_test` of the architectures' mean `x` against their mean
    `y` ({arch: Spread}, as `by_architecture` gives), with the rule's critical rho, false-positive rate
    (`spearman_rule`: exact without ties, else at most `alpha`) and detectable correlation
    (`detectable_rank_correlation` with `detectable_trials` draws; None with 0). An architecture whose mean is
    not finite on either axis (every seed failed, e.g. no image that both models classify correctly) is left out
    and named in `left_out`; with fewer than 3 points left the test is not run (rho and p nan, `holds` False).

    Returns dict(rho, p, n, exact, holds (p <= alpha), critical, false_positive_rate, detectable, archs,
    left_out). Introduced in Chapter 5."""
    where = "trend_test"
    checks.mapping(x, "x", where)
    checks.mapping(y, "y", where)
    if set(x) != set(y):
        checks.fail(where, "x and y", "name the same architectures", got=f"{sorted(x)} and {sorted(y)}")
    checks.number(alpha, "alpha", where, low=0, high=1, strict=True)
    archs = [a for a in x if math.isfinite(x[a].mean) and math.isfinite(y[a].mean)]
    left_out = [a for a in x if a not in archs]
    if len(archs) < 3:
        return dict(rho=math.nan, p=math.nan, n=len(archs), exact=False, holds=False, critical=math.nan,
                    false_positive_rate=None, detectable=None, archs=archs, left_out=left_out)
    test = spearman_test([x[a].mean for a in archs], [y[a].mean for a in archs])
    exact_n = len(archs) <= MAX_EXACT
    rule = spearman_rule(len(archs), alpha) if exact_n else dict(critical=math.nan, false_positive_rate=alpha)
    detectable = (detectable_rank_correlation(len(archs), alpha, trials=detectable_trials)
                  if exact_n and detectable_trials else None)
    return dict(test, holds=bool(test["p"] <= alpha), critical=rule["critical"],
                false_positive_rate=rule["false_positive_rate"] if test["exact"] else float(alpha),
                detectable=detectable, archs=archs, left_out=left_out)


def seed_agreement(values: dict, archs, seeds) -> dict:
    """Do independent seeds rank the architectures alike? `trend_test` (without the detectable correlation) of the
    architectures' mean per-seed `values` ({(arch, seed): value}) over the first half of `seeds` against their
    mean over the second half (with two seeds: one seed against the other): a high rho says that the measure is a
    property of the architecture more than of the seeds. Introduced in Chapter 5."""
    seeds = list(seeds)
    if len(seeds) < 2:
        checks.fail("seed_agreement", "seeds", "hold at least 2 seeds", got=repr(seeds))
    half = len(seeds) // 2
    first, second = (by_architecture({k: v for k, v in values.items() if k[1] in part}, archs)
                     for part in (seeds[:half], seeds[half:]))
    return trend_test(first, second, detectable_trials=0)
