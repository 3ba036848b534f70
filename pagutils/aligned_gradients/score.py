"""The score ∇_x log p_σ(x) of the data distribution, estimated with a denoiser trained in the course.

A denoiser D trained to minimise E ||D(x + σ ε) - x||² (ε standard Gaussian) estimates E[x | x̃], and
Tweedie's formula turns it into the score of the noised data density p_σ = p * N(0, σ² I)
(denoising score matching, Vincent 2011):

    s_σ(x̃) = ∇ log p_σ(x̃) = (D(x̃) - x̃) / σ².

Images get a small convolutional encoder-decoder, vectors (the synthetic manifold data) an MLP; both
predict a residual, D(x̃) = x̃ + net(x̃). `denoiser(dataset, profile, sigma)` trains one once and keeps
it in the cache; `tweedie_score(D, x, sigma)` evaluates the estimate. On the synthetic data the exact score is
known, and `learned_vs_exact` measures how well the learned one matches it.

`EmpiricalDenoiser` is the ideal denoiser of a finite training set in closed form (the posterior mean),
class-conditional too: `class_score` and `posterior_gradient` read ∇ log p_σ(x | y) and the Bayes-optimal
classifier's ∇ log p_σ(y | x) off it. `effective_neighbours` says how many training examples it averages over
at a point, and `reference_sigma` picks its noise level by that number.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..core import checks
from ..core.data import INFO, load
from ..core.defaults import VECTOR_DENOISER, shared
from ..core.device import resolve
from ..core.train import AdamRecipe, fit_with_adam
from ..core.zoo import cached_model



class ConvDenoiser(nn.Module):
    """A small encoder-decoder on (N, C, H, W): one full-resolution layer, two downsampling stages with
    skip connections, and D(x) = x + net(x). Most of its work happens at half and quarter resolution.
    Introduced in Chapter 10."""

    def __init__(self, channels, width=16):
        super().__init__()
        act, w = nn.SiLU, width
        self.enc = nn.Sequential(nn.Conv2d(channels, w, 3, 1, 1), act())
        self.down1 = nn.Sequential(nn.Conv2d(w, 2 * w, 3, 2, 1), act(), nn.Conv2d(2 * w, 2 * w, 3, 1, 1), act())
        self.down2 = nn.Sequential(nn.Conv2d(2 * w, 2 * w, 3, 2, 1), act(), nn.Conv2d(2 * w, 2 * w, 3, 1, 1), act())
        self.up2 = nn.Sequential(nn.Conv2d(2 * w, 2 * w, 3, 1, 1), act(), nn.Conv2d(2 * w, w, 1), act())
        self.out = nn.Conv2d(w, channels, 3, 1, 1)

    def forward(self, x):
        h1 = self.enc(x)
        h2 = self.down1(h1)
        h3 = self.down2(h2)
        u2 = self.up2(F.interpolate(h3, size=h2.shape[-2:], mode="nearest") + h2)
        return x + self.out(F.interpolate(u2, size=h1.shape[-2:], mode="bilinear", align_corners=False) + h1)


class MLPDenoiser(nn.Module):
    """A three-layer MLP on vectors (N, D); D(x) = x + net(x). Introduced in Chapter 10."""

    def __init__(self, dim, width=128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                                 nn.Linear(width, dim))

    def forward(self, x):
        return x + self.net(x)


class EmpiricalDenoiser(nn.Module):
    """The ideal denoiser of a finite training set {(x_i, y_i)} at noise level sigma, in closed form.

    For x̃ = x_i + σε with x_i drawn uniformly from the set, the best denoiser in mean squared error is the
    posterior mean D(x̃) = Σ_i w_i(x̃) x_i with w = softmax_i(-‖x̃ - x_i‖² / 2σ²), restricted to the examples
    of class y for D(x̃, y). It is what a denoiser network trained on the same set converges to, and
    Tweedie's formula turns it into the exact score of the set's empirical distribution convolved with
    N(0, σ² I). `score`, `class_score` and `posterior_gradient` take it like a trained denoiser.
    Introduced in Chapter 10.
    """

    def __init__(self, x, y, sigma, num_classes):
        super().__init__()
        where = "EmpiricalDenoiser"
        _check_batch(x, where)
        if not isinstance(y, torch.Tensor) or y.shape != x.shape[:1]:
            checks.fail(where, "y", f"hold one label per example of x ({len(x)})", y,
                        kind=torch.Tensor)
        self.sigma, self.num_classes = _check_sigma(sigma, where), num_classes
        self.register_buffer("points", x.flatten(1))
        self.register_buffer("labels", y)

    def forward(self, x, y=None):
        log_w = -torch.cdist(x.flatten(1), self.points).pow(2) / (2 * self.sigma ** 2)
        if y is not None:
            log_w = log_w.masked_fill(self.labels[None, :] != y[:, None], float("-inf"))
        return (log_w.softmax(1) @ self.points).view_as(x)


def effective_neighbours(denoiser, x, sigmas=None, batch_size=500) -> torch.Tensor:
    """The effective number of training examples the ideal denoiser averages over at every example of x:
    1 / Σ_i w_i(x)², with w its unconditional softmax weights. 1 when one training example takes all the weight
    (the denoiser returns the nearest neighbour, and the Bayes-optimal gradient vanishes), the number of training
    examples when all weigh the same.

    `denoiser` is an `EmpiricalDenoiser`; `sigmas` (a list) evaluates other noise levels from the same distances
    (default: the denoiser's own). Returns (N,) for one sigma, (len(sigmas), N) for a list. Introduced in
    Chapter 10."""
    where = "effective_neighbours"
    _check_batch(x, where)
    if not isinstance(denoiser, EmpiricalDenoiser):
        checks.fail(where, "denoiser", "be an EmpiricalDenoiser", got=type(denoiser).__name__,
                    error=checks.ArgumentTypeError)
    single = sigmas is None
    sigmas = [denoiser.sigma] if single else [_check_sigma(s, where, "sigmas[...]") for s in sigmas]
    if not sigmas:
        checks.fail(where, "sigmas", "be a non-empty list of noise levels", sigmas)
    points = denoiser.points.to(x)
    result = torch.empty(len(sigmas), len(x))
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            squared = torch.cdist(x[start:start + batch_size].flatten(1), points).pow(2)
            for k, sigma in enumerate(sigmas):
                w = (-squared / (2 * sigma ** 2)).softmax(1)
                result[k, start:start + len(squared)] = 1 / w.pow(2).sum(1).cpu()
    return result[0] if single else result


def reference_sigma(denoiser, x, sigmas, neighbours) -> dict:
    """The noise level of the alignment reference by a stated criterion: the smallest of `sigmas` at which the
    ideal denoiser's median effective number of neighbours (`effective_neighbours`) at the examples x is at least
    `neighbours`. When none reaches it (a small training set), the largest sigma. Returns dict(sigma=the chosen
    one, median=[median effective neighbours per sigma], sigmas=sorted sigmas, reached=whether one reached it).
    Introduced in Chapter 10."""
    where = "reference_sigma"
    checks.sequence(sigmas, "sigmas", where, of="noise levels")
    checks.number(neighbours, "neighbours", where, low=1)
    sigmas = sorted(_check_sigma(s, where, "sigmas[...]") for s in sigmas)
    median = effective_neighbours(denoiser, x, sigmas).median(dim=1).values.tolist()
    reached = [s for s, m in zip(sigmas, median) if m >= neighbours]
    return dict(sigma=reached[0] if reached else sigmas[-1], median=median, sigmas=sigmas, reached=bool(reached))


def empirical_denoiser(dataset, sigma, n_train=12000, seed=0, device=None) -> EmpiricalDenoiser:
    """The ideal denoiser (`EmpiricalDenoiser`) of `n_train` training images of `dataset` at noise level `sigma`.
    Introduced in Chapter 10."""
    checks.one_of(dataset, INFO, "dataset", "empirical_denoiser")
    train = load(dataset, "train", n=n_train, seed=seed, device=resolve(device))
    return EmpiricalDenoiser(train.x, train.y, sigma, len(INFO[dataset]["classes"]))


def make_denoiser(shape, width, seed=0) -> nn.Module:
    """A freshly initialised denoiser for examples of `shape`: (C, H, W) gives a ConvDenoiser, (D,) an MLP.
    Introduced in Chapter 10."""
    shape = tuple(shape)
    if len(shape) not in (1, 3) or min(shape) < 1:
        checks.fail("make_denoiser", "shape", "be (D,) for vectors or (C, H, W) for images", shape)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ConvDenoiser(shape[0], width) if len(shape) == 3 else MLPDenoiser(shape[0], width)


def _check_sigma(sigma, where, name="sigma"):
    return checks.number(sigma, name, where, low=0, strict=True)


def _check_batch(x, where, name="x"):
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() not in (2, 4):
        checks.fail(where, name, "be a float tensor (N, D) or (N, C, H, W)", x,
                    kind=torch.Tensor)


def train_denoiser(net, x, sigma, epochs, lr=2e-3, batch_size=128, seed=0, show_progress=True) -> list:
    """Train `net` in place to denoise x + N(0, sigma²) back to x (mean squared error, Adam, cosine schedule).

    `x` holds the clean training examples, (N, D) or (N, C, H, W). Returns the history, one record
    dict(epoch, loss) per epoch (the mean loss).
    Introduced in Chapter 10.
    """
    _check_batch(x, "train_denoiser")
    sigma = _check_sigma(sigma, "train_denoiser")
    def denoising_loss(net, clean, generator):
        noisy = clean + sigma * torch.randn(clean.shape, generator=generator).to(clean)
        return (net(noisy) - clean).pow(2).flatten(1).sum(1).mean()
    return fit_with_adam(net, x, denoising_loss, AdamRecipe(epochs, lr, batch_size),
                         torch.Generator().manual_seed(seed), f"denoiser σ={sigma:g}", show_progress)


def cached_denoiser(config: dict, x_train, device=None, show_progress=True) -> nn.Module:
    """The denoiser described by `config` (shape, width, sigma, epochs, lr, batch_size, seed and what
    identifies the data), trained on `x_train()` once and then loaded from the cache (`zoo.cached_model`).
    Introduced in Chapter 10."""
    device = resolve(device)
    net = make_denoiser(config["shape"], config["width"], config["seed"]).to(device)
    fit = lambda net: train_denoiser(net, x_train().to(device), config["sigma"], config["epochs"], config["lr"],
                                     config["batch_size"], config["seed"], show_progress)
    return cached_model(config, net, fit, device)


def denoiser(dataset, profile="quick", sigma=0.5, device=None, show_progress=True, **overrides) -> nn.Module:
    """The image denoiser at noise level `sigma` for `dataset` (trained on its training split, cached).

    `overrides` replace entries of the profile's recipe (`defaults.shared(profile).denoiser`: n_train, epochs,
    width, lr, batch_size, seed). Introduced in Chapter 10.
    """
    recipe = _recipe(shared(profile).denoiser, overrides, "denoiser")
    checks.one_of(dataset, INFO, "dataset", "denoiser")
    config = dict(kind="denoiser", dataset=dataset, sigma=_check_sigma(sigma, "denoiser"),
                  shape=list(INFO[dataset]["shape"]), **recipe)
    images = lambda: load(dataset, "train", n=recipe["n_train"], seed=recipe["seed"], device=device).x
    return cached_denoiser(config, images, device, show_progress)


def _recipe(defaults, overrides, where):
    """A denoiser recipe: `defaults` with `overrides` replacing some of its entries (no other names)."""
    unknown = set(overrides) - set(defaults)
    if unknown:
        checks.fail(where, "settings", f"be among {sorted(defaults)}",
                    got=f"unknown denoiser setting(s) {sorted(unknown)}")
    return {**defaults, **overrides}


def _check_labels(denoiser, x, y, where):
    classes = getattr(denoiser, "num_classes", 0)
    if not classes:
        checks.fail(where, "denoiser", "be a class-conditional denoiser D(x, y), such as score.empirical_denoiser",
                    got=f"a {type(denoiser).__name__} without classes")
    if not isinstance(y, torch.Tensor) or y.shape != x.shape[:1] or y.dtype != torch.long:
        checks.fail(where, "y", f"be an int64 tensor of {len(x)} labels", y,
                    kind=torch.Tensor)
    if len(y) and not 0 <= int(y.min()) <= int(y.max()) < classes:
        checks.fail(where, "y", f"hold labels in [0, {classes})", got=f"values in [{int(y.min())}, {int(y.max())}]")


@torch.no_grad()
def tweedie_score(denoiser, x, sigma, batch_size=1000) -> torch.Tensor:
    """The score estimate s_σ(x) = (D(x) - x) / σ² for every example of x (same shape as x).
    Introduced in Chapter 10."""
    return _tweedie_score(denoiser, x, sigma, batch_size, "tweedie_score")


@torch.no_grad()
def _tweedie_score(denoiser, x, sigma, batch_size, where):
    _check_batch(x, where)
    sigma = _check_sigma(sigma, where)
    denoiser.eval()
    return torch.cat([(denoiser(chunk) - chunk) / sigma ** 2 for chunk in x.split(batch_size)])


@torch.no_grad()
def class_score(denoiser, x, y, sigma, batch_size=1000) -> torch.Tensor:
    """The class-conditional score estimate s_σ(x | y) = (D(x, y) - x) / σ² of a class-conditional denoiser.
    Introduced in Chapter 10."""
    return _class_score(denoiser, x, y, sigma, batch_size, "class_score")


@torch.no_grad()
def _class_score(denoiser, x, y, sigma, batch_size, where):
    _check_batch(x, where)
    _check_labels(denoiser, x, y, where)
    sigma = _check_sigma(sigma, where)
    denoiser.eval()
    return torch.cat([(denoiser(xs, ys) - xs) / sigma ** 2 for xs, ys in zip(x.split(batch_size), y.split(batch_size))])


def posterior_gradient(denoiser, x, y, sigma, batch_size=1000) -> torch.Tensor:
    """The generative model's ∇_x log p_σ(y | x) = s_σ(x | y) - s_σ(x) = (D(x, y) - D(x)) / σ².

    By Bayes' rule this is the input gradient of the Bayes-optimal classifier of the noised data, read off
    a class-conditional denoiser: what a classifier's ∇_x log p(y | x) is compared with in Chapter 10.
    Introduced in Chapter 10.
    """
    where = "posterior_gradient"
    return (_class_score(denoiser, x, y, sigma, batch_size, where)
            - _tweedie_score(denoiser, x, sigma, batch_size, where))


def learned_vs_exact(denoiser, x, sigma, exact_score) -> torch.Tensor:
    """The cosine between the learned score and `exact_score(x, sigma)` at every point of x: (N,).
    Introduced in Chapter 10."""
    from .alignment import cosine_alignment
    learned = _tweedie_score(denoiser, x, sigma, 1000, "learned_vs_exact")
    exact = exact_score(x, sigma)
    if exact.shape != learned.shape:
        checks.fail("learned_vs_exact", "exact_score", f"return a tensor shaped like x {tuple(x.shape)}",
                    got=str(tuple(exact.shape)))
    return cosine_alignment(learned, exact.to(learned))


def synthetic_denoiser(manifold, sigma, device=None, show_progress=True, **overrides) -> nn.Module:
    """An MLP denoiser at noise level `sigma` for the synthetic manifold (`pagutils.aligned_gradients.synthetic`), cached.

    It is trained on noise-free samples G(z) of the manifold, so its score estimate targets exactly
    `manifold.exact_score(x, sigma)`, the score of the manifold's density convolved with N(0, sigma² I).
    `overrides` replace entries of `defaults.VECTOR_DENOISER`. Introduced in Chapter 7.
    """
    recipe = _recipe(VECTOR_DENOISER, overrides, "synthetic_denoiser")
    config = dict(kind="denoiser", data=manifold.config, sigma=_check_sigma(sigma, "synthetic_denoiser"),
                  shape=[manifold.dim], **recipe)
    points = lambda: manifold.sample(recipe["n_train"], seed=recipe["seed"], noise=False)[0].x.flatten(1)
    return cached_denoiser(config, points, device, show_progress)


def synthetic_check(manifold, sigma, n_test=500, seed=1, device=None, show_progress=True, **overrides) -> dict:
    """How well a learned score matches the exact one on the synthetic manifold.

    Test points are drawn from the noised density itself (manifold points plus N(0, sigma²) noise, seed
    `seed`, unseen in training). Returns dict(cosine=(N,) cosine of learned and exact score per point,
    relative_error=(N,) ||s_learned - s_exact|| / ||s_exact||, denoiser=the trained MLP).
    Introduced in Chapter 10.
    """
    net = synthetic_denoiser(manifold, sigma, device, show_progress, **overrides)
    points = manifold.sample(n_test, seed=seed, noise=False)[0].x.flatten(1)
    generator = torch.Generator().manual_seed(seed)
    x = points + sigma * torch.randn(points.shape, generator=generator)
    device = next(net.parameters()).device
    learned, exact = tweedie_score(net, x.to(device), sigma).cpu(), manifold.exact_score(x, sigma)
    from .alignment import cosine_alignment
    error = (learned - exact).norm(dim=1) / exact.norm(dim=1).clamp_min(1e-12)
    return dict(cosine=cosine_alignment(learned, exact), relative_error=error, denoiser=net)
