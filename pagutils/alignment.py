"""Perceptual alignment: how similar a model's input gradient is to the score of the data distribution.

Srinivas et al. (2023) measure perceptual alignment by comparing the input gradient ∇_x log p(y|x)
of a classifier with the score ∇_x log p(x) of a generative model. Two measures, one value per
example: the cosine of the two vectors (`cosine_alignment`, the library's one per-example cosine, which
Chapter 6 also uses to compare gradient maps), and the structural similarity (SSIM, Wang et al. 2004) of the
two drawn as images (`plots.magnified`). `three_regimes` reads the weak / Bayes-aligned / excessive regimes
off a sweep.
"""
import math

import torch
import torch.nn.functional as F

REGIMES = ("weak", "bayes-aligned", "excessive")
REGIME_COLOURS = {"weak": "tab:blue", "bayes-aligned": "tab:green", "excessive": "tab:red"}


def _check_pair(a, b, names=("grad", "score"), min_dim=2):
    for name, value in zip(names, (a, b)):
        if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.dim() < min_dim:
            raise ValueError(f"{name} must be a float tensor with a batch dimension and at least {min_dim} dims, "
                             f"got {type(value).__name__} {tuple(getattr(value, 'shape', ()))}")
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def cosine_alignment(grad, score, eps=1e-12):
    """The cosine between each example's gradient and score, flattened: a (N,) tensor in [-1, 1].

    0 when either vector is 0 (the product of the norms is clamped to `eps`).

    Introduced in Chapter 6."""
    _check_pair(grad, score)
    a, b = grad.flatten(1), score.flatten(1)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(eps)


def _gaussian_window(size, sigma, channels, device, dtype):
    coords = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-coords ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(a, b, data_range=1.0, window=7, window_sigma=1.5):
    """Structural similarity of every pair of images (N, C, H, W): a (N,) tensor, 1 for identical images.

    Local means, variances and covariance under a Gaussian window (per channel, computed with a
    grouped convolution over the valid region), combined as in Wang et al. (2004) with
    C1 = (0.01 L)², C2 = (0.03 L)² for the `data_range` L, and averaged over pixels and channels.

    Introduced in Chapter 10."""
    _check_pair(a, b, names=("a", "b"), min_dim=4)
    if a.dim() != 4:
        raise ValueError(f"a and b must be image batches (N, C, H, W), got {tuple(a.shape)}")
    if data_range <= 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    if not isinstance(window, int) or window < 1 or window % 2 == 0 or window > min(a.shape[-2:]):
        raise ValueError(f"window must be an odd int no larger than the image ({tuple(a.shape[-2:])}), got {window!r}")
    channels = a.shape[1]
    kernel = _gaussian_window(window, window_sigma, channels, a.device, a.dtype)
    blur = lambda t: F.conv2d(t, kernel, groups=channels)
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return index.flatten(1).mean(1)


def ssim_alignment(grad, score, window=7):
    """SSIM between each gradient and score image, both shown as images in [0, 1] with grey for zero: (N,).

    Each is drawn by `plots.magnified` (scaled by its largest absolute value and mapped by v -> 0.5 + 0.5 v),
    so that an image and its negative have opposite structure around the same mean and a negative SSIM;
    comparing the signed images directly would make SSIM's luminance term reward sign flips.

    Introduced in Chapter 10."""
    from .plots import magnified
    _check_pair(grad, score, min_dim=4)
    return ssim(magnified(grad), magnified(score), data_range=1.0, window=window)


def three_regimes(strengths, alignment):
    """The regime of every strength of a sweep, read off the measured alignment (one value per strength).

    The strength with the highest alignment marks the Bayes-aligned regime; smaller strengths are the
    weak regime, larger ones the excessive regime. Returns (regime per strength, the Bayes-aligned strength).

    Introduced in Chapter 10."""
    strengths, alignment = list(strengths), [float(a) for a in alignment]
    if len(strengths) == 0 or len(strengths) != len(alignment):
        raise ValueError(f"strengths and alignment must be non-empty and of equal length, "
                         f"got {len(strengths)} and {len(alignment)}")
    if any(math.isnan(a) for a in alignment):
        raise ValueError(f"alignment must not contain NaN, got {alignment}")
    if sorted(strengths) != strengths:
        raise ValueError(f"strengths must be sorted in increasing order, got {strengths}")
    best = max(range(len(alignment)), key=alignment.__getitem__)
    regimes = [REGIMES[0] if i < best else REGIMES[1] if i == best else REGIMES[2] for i in range(len(strengths))]
    return regimes, strengths[best]


def measure(model, x, y, reference, basis, noise_norm, n_samples=8, seed=0) -> dict:
    """What a point of a robustness sweep is judged by, averaged over the examples (x, y):

    accuracy (clean), on / off (mean L1 change of the softmax under noise of L2 norm `noise_norm`
    along / orthogonal to the tangent spaces `basis`, see `manifold.on_off_robustness`), cosine and
    ssim (alignment of the input gradient ∇_x log p(y|x) with `reference`, a generative model's gradient
    at x, e.g. `score.posterior_gradient`), and on_fraction (the share of the gradient's squared norm in
    the tangent spaces).

    Introduced in Chapter 10."""
    from .attacks import predict
    from .gradients import input_gradient
    from .manifold import on_manifold_fraction, on_off_robustness
    _check_pair(x, reference, names=("x", "reference"))
    grad = input_gradient(model, x, y)
    change = on_off_robustness(model, x, basis, noise_norm, n_samples=n_samples, seed=seed)
    return dict(accuracy=(predict(model, x) == y).float().mean().item(), on=change["on"].mean().item(),
                off=change["off"].mean().item(), cosine=cosine_alignment(grad, reference).mean().item(),
                ssim=ssim_alignment(grad, reference).mean().item(),
                on_fraction=on_manifold_fraction(grad, basis).nanmean().item())


def plot_sweep(ax, strengths, measures, label, metrics=("accuracy", "cosine", "on", "off")):
    """One method's sweep on `ax`: the `metrics` of `measures` (one dict per strength, from `measure`) against
    the strength, with the three regimes, read off the measured cosine alignment, shaded behind them.

    Strengths sit at equal spacing (they usually grow geometrically); 0 is the standard model.
    Returns the regime of every strength.

    Introduced in Chapter 10."""
    regimes, _ = three_regimes(strengths, [m["cosine"] for m in measures])
    positions = range(len(strengths))
    names = dict(accuracy="clean accuracy", cosine="alignment cos(∇ log p(y|x), score)",
                 ssim="alignment SSIM", on="on-manifold change", off="off-manifold change")
    styles = dict(accuracy=("k", "o", "-"), cosine=("tab:green", "s", "-"), ssim=("tab:olive", "^", "-"),
                  on=("tab:purple", "v", "--"), off=("tab:orange", "D", "--"))
    for i, regime in enumerate(regimes):
        ax.axvspan(i - 0.5, i + 0.5, color=REGIME_COLOURS[regime], alpha=0.12, lw=0)
    for metric in metrics:
        colour, marker, line = styles[metric]
        ax.plot(list(positions), [m[metric] for m in measures], color=colour, marker=marker, ls=line,
                label=names[metric])
    shown = [regime for regime in REGIMES if regime in regimes]
    for k, regime in enumerate(shown):  # every other name a line higher: narrow bands' names do not collide
        where = [i for i, r in enumerate(regimes) if r == regime]
        ax.text(sum(where) / len(where), 1.02 if k % 2 == 0 else 1.13, regime, ha="center", va="bottom",
                color=REGIME_COLOURS[regime], transform=ax.get_xaxis_transform())
    ax.set_xticks(list(positions))
    ax.set_xticklabels([f"{s:g}" for s in strengths])
    ax.set_xlim(-0.5, len(strengths) - 0.5)
    ax.set_xlabel(label)
    ax.grid(alpha=0.3)
    return regimes
