"""Transferability across architectures (Ilyas et al. 2019, Section 5 and Figure 3).

- `target_configs`: the zoo configurations of the target models, one per architecture, every one trained from a
  seed other than the source model's, so that no target is the model that made the adversarial examples (for the
  source's own architecture the target is a second model, not the source: its transfer is not white-box);
- `pearson`, `pearson_bootstrap`: the correlation across architectures between learning from non-robust features
  and transfer, with a percentile bootstrap interval over architectures (with five points it is wide);
- `permutation_test`, `detectable_correlation`: the test the chapter's claim is read with (exact over every order
  of the architectures, so its false-positive rate is at most its level) and what it can detect at this size.

The leakage control beside them (a robust model reading the new labels of D_rand and D_det) is Chapter 4's
`features.leakage`.
"""
import math

import numpy as np

from . import checks
from .models import ARCHITECTURES


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
        raise checks.ArgumentTypeError(f"{where}: archs must be a non-empty list of architecture names, got "
                                       f"{checks.brief(archs)}")
    for arch in archs:
        checks.one_of(arch, ARCHITECTURES, "archs", where)
    if len(set(archs)) != len(archs):
        raise ValueError(f"{where}: archs must not repeat an architecture, got {list(archs)}")
    source_seed = source_config["seed"]
    seed = source_seed + 1 if seed is None else checks.integer(seed, "seed", where, low=0)
    if seed == source_seed:
        raise ValueError(f"{where}: seed must differ from the source model's seed {source_seed}, got {seed}")
    return {arch: {**recipe, "arch": arch, "seed": seed} for arch in archs}


def _pair(x, y, where):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 3:
        raise ValueError(f"{where}: x and y must be two 1-D sequences of the same length, at least 3, got shapes "
                         f"{x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError(f"{where}: x and y must be finite")
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


def pearson_bootstrap(x, y, n_boot: int = 2000, level: float = 0.95, seed: int = 0, min_distinct: int = 3) -> dict:
    """Pearson's r of (x, y) with a percentile bootstrap interval: the points (architectures) are resampled with
    replacement `n_boot` times. A resample holding fewer than `min_distinct` distinct points is dropped (through
    two points r is +-1 whatever the data: with five points about one resample in ten), and so is one in which x
    or y is constant (r undefined); `valid` counts the rest.

    Returns dict(r, low, high, n (points), level, n_boot, valid). With few points the interval is wide: with
    five, a resample holds on average only about three distinct points. Introduced in Chapter 5."""
    where = "pearson_bootstrap"
    x, y = _pair(x, y, where)
    checks.integer(n_boot, "n_boot", where, low=10)
    checks.number(level, "level", where, low=0, high=1, strict=True)
    if level >= 1:
        raise ValueError(f"{where}: level must be < 1, got {level}")
    checks.integer(seed, "seed", where, low=0)
    checks.integer(min_distinct, "min_distinct", where, low=2)
    if min_distinct > len(x):
        raise ValueError(f"{where}: min_distinct must be at most the number of points {len(x)}, got {min_distinct}")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(x), size=(n_boot, len(x)))
    rs = np.array([_r(x[i], y[i]) if len(set(i.tolist())) >= min_distinct else math.nan for i in index])
    rs = rs[np.isfinite(rs)]
    tail = (1 - level) / 2
    low, high = (np.quantile(rs, [tail, 1 - tail]) if len(rs) else (math.nan, math.nan))
    return dict(r=_r(x, y), low=float(low), high=float(high), n=len(x), level=float(level), n_boot=n_boot,
                valid=int(len(rs)))


def permutation_test(x, y, max_exact: int = 8, n_perm: int = 20000, seed: int = 0) -> dict:
    """Pearson's r of (x, y) and its one-sided p-value under no association (H0: y is unrelated to x), from the
    permutation distribution of r: exact over all n! orders of y for n <= `max_exact` points, else over `n_perm`
    seeded random orders. p is the share of orders whose r is at least the observed one (the observed order
    included), so a rule "p <= alpha" says "holds" under H0 with probability at most alpha, whatever the
    distribution of the points. Returns dict(r, p, n, orders). Introduced in Chapter 5."""
    where = "permutation_test"
    x, y = _pair(x, y, where)
    checks.integer(max_exact, "max_exact", where)
    checks.integer(n_perm, "n_perm", where, low=10)
    checks.integer(seed, "seed", where, low=0)
    orders = _orders(len(x), max_exact, n_perm, seed)
    rs = _rs(x, y[orders])
    r = _r(x, y)
    return dict(r=r, p=float((rs >= r - 1e-12).mean()) if math.isfinite(r) else math.nan, n=len(x),
                orders=len(orders))


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


def detectable_correlation(n: int, alpha: float = 0.05, power: float = 0.8, trials: int = 2000,
                           seed: int = 0) -> float:
    """The smallest true correlation that `permutation_test`'s rule "p <= alpha" detects with probability `power`
    among `n` points drawn from a bivariate normal distribution, by simulation (seeded, on a grid of 0.05): what
    the rule can tell with this many architectures. Introduced in Chapter 5."""
    where = "detectable_correlation"
    checks.integer(n, "n", where, low=3)
    checks.number(alpha, "alpha", where, low=0, high=1)
    checks.number(power, "power", where, low=0, high=1)
    rng = np.random.default_rng(seed)
    orders = _orders(n, 8, 2000, seed)
    a, b = rng.standard_normal((trials, n)), rng.standard_normal((trials, n))
    for rho in np.arange(0.0, 1.0001, 0.05):
        x, y = a, rho * a + math.sqrt(max(0.0, 1 - rho ** 2)) * b
        caught = 0
        for xi, yi in zip(x, y):
            rs = _rs(xi, yi[orders])
            caught += (rs >= _r(xi, yi) - 1e-12).mean() <= alpha
        if caught / trials >= power:
            return float(round(rho, 2))
    return math.nan
