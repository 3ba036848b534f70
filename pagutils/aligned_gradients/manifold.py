"""The data manifold and robustness on and off it (Srinivas, Bordt & Lakkaraju 2023).

Near a data point x the data lie (approximately) on a k-dimensional manifold whose tangent space
T_x is spanned by the columns of an orthonormal basis U (D x k, D the number of pixels). Then

- `project_onto(v, U)` = U Uᵀ v is the part of v along the manifold, `project_off` = (I - U Uᵀ) v the
  part orthogonal to it, and `on_manifold_fraction` = ‖U Uᵀ v‖² / ‖v‖² how much of v lies on it;
- `on_off_robustness` measures how much a model's output changes under noise of norm σ along the
  manifold (on) and orthogonal to it (off): a model is *off-manifold robust* when the off change is small;
- `Autoencoder` / `autoencoder(...)` learn an estimate of the manifold of an image dataset, and
  `tangent_basis(ae, x)` is the orthonormalised Jacobian of its decoder at the code of x.

Batches of bases are (N, D, k) tensors: one basis per example.
"""
import math
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ..core import checks
from ..core.data import INFO, load
from ..core.defaults import shared
from ..core.device import resolve
from ..core.models import evaluating
from ..core.progress import progress
from ..core.train import AdamRecipe, fit_with_adam
from ..core.zoo import cached_model


# --------------------------------------------------------------------------------------------------
# projections onto the tangent space and its complement


def project_onto(v: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """P v = U Uᵀ v for every example: the part of v that lies in the tangent space spanned by `basis`.
    Introduced in Chapter 7."""
    checks.basis(v, basis)
    flat = v.flatten(1).to(basis.dtype)
    coefficients = torch.einsum("ndk,nd->nk", basis, flat)
    return torch.einsum("ndk,nk->nd", basis, coefficients).to(v.dtype).view_as(v)


def project_off(v: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """(I - P) v for every example: the part of v orthogonal to the tangent space. Introduced in Chapter 7."""
    return v - project_onto(v, basis)


def on_manifold_fraction(v: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """‖P v‖² / ‖v‖² per example, in [0, 1]: 1 when v lies in the tangent space, 0 when orthogonal to it.

    A random direction in D dimensions has an expected fraction of k / D. The fraction of a zero vector
    is undefined and returned as NaN.
    Introduced in Chapter 7.
    """
    checks.basis(v, basis)
    peak = v.flatten(1).abs().amax(1)
    unit = v / peak.clamp_min(torch.finfo(v.dtype).tiny).view(-1, *([1] * (v.dim() - 1)))  # scale-free, no underflow
    on = project_onto(unit, basis).flatten(1).pow(2).sum(1)
    fraction = (on / unit.flatten(1).pow(2).sum(1)).clamp(0, 1)
    return torch.where(peak > 0, fraction, torch.full_like(fraction, float("nan")))


def orthonormalize(jacobian: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis (N, D, k) of the column space of each (D, k) matrix of `jacobian` (reduced QR).
    Introduced in Chapter 7."""
    if not isinstance(jacobian, torch.Tensor) or jacobian.dim() != 3 or not jacobian.is_floating_point():
        checks.fail("orthonormalize", "jacobian", "be a float tensor of shape (N, D, k)", jacobian,
                    kind=torch.Tensor)
    if jacobian.shape[2] > jacobian.shape[1]:
        checks.fail("orthonormalize", "jacobian", "have k <= D columns", got=f"shape {tuple(jacobian.shape)}")
    q, _ = torch.linalg.qr(jacobian, mode="reduced")
    return q


def random_basis(n: int, shape, k: int, seed: int = 0) -> torch.Tensor:
    """N random k-dimensional subspaces of R^D (D = prod(shape)): a baseline with on-fraction k / D.
    Introduced in Chapter 7."""
    checks.integer(n, "n", "random_basis")
    d = math.prod(shape)
    if not isinstance(k, int) or not 1 <= k <= d:
        checks.fail("random_basis", "k", f"be an int between 1 and {d}", k,
                    kind=int)
    gaussian = torch.randn(n, d, k, generator=torch.Generator().manual_seed(seed))
    return orthonormalize(gaussian)


# --------------------------------------------------------------------------------------------------
# robustness on and off the manifold


def projected_noise(x: torch.Tensor, basis: torch.Tensor, sigma: float, direction: str,
                    generator: torch.Generator = None) -> torch.Tensor:
    """Gaussian noise projected onto the tangent space (`direction`='on') or its complement ('off'),
    rescaled to L2 norm exactly `sigma` per example. Introduced in Chapter 7."""
    checks.one_of(direction, ("on", "off"), "direction", "projected_noise")
    checks.positive(sigma, "sigma", "projected_noise", allow_zero=True)
    noise = torch.randn(x.shape, generator=generator).to(x)
    noise = project_onto(noise, basis) if direction == "on" else project_off(noise, basis)
    norms = noise.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (x.dim() - 1)))
    return sigma * noise / norms


@torch.no_grad()
def on_off_robustness(model, x: torch.Tensor, basis: torch.Tensor, sigma: float, n_samples: int = 8,
                      seed: int = 0, batch_size: int = 500) -> dict:
    """Mean L1 change of the softmax output, ‖p(x + δ) - p(x)‖₁, under noise δ of L2 norm `sigma`.

    `on`: δ is Gaussian noise projected onto the tangent space spanned by `basis` (then rescaled to norm
    sigma); `off`: projected onto its orthogonal complement. Averaged over `n_samples` draws; returns
    dict(on=(N,), off=(N,)). Eval mode, no gradients, the same noise for the same seed.
    Introduced in Chapter 7.
    """
    checks.basis(x, basis, "x")
    checks.number(sigma, "sigma", "on_off_robustness", low=0)
    checks.integer(n_samples, "n_samples", "on_off_robustness")
    with evaluating(model):
        return _changes(model, x, basis, [sigma], n_samples, seed, batch_size)[0]


def _changes(model, x, basis, sigmas, n_samples, seed, batch_size=500) -> list:
    """`on_off_robustness` at every σ of `sigmas` (a list of dict(on, off)), the clean output computed once;
    the generator is seeded afresh at every σ, so each σ draws what `on_off_robustness` draws."""
    clean = [torch.softmax(model(xb), dim=1) for xb in x.split(batch_size)]
    out = []
    for sigma in sigmas:
        generator = torch.Generator().manual_seed(seed)
        result = {"on": [], "off": []}
        for i, start in enumerate(range(0, len(x), batch_size)):
            xb, ub = x[start:start + batch_size], basis[start:start + batch_size]
            for direction in ("on", "off"):
                change = torch.zeros(len(xb), device=x.device)
                for _ in range(n_samples):
                    delta = projected_noise(xb, ub, float(sigma), direction, generator)
                    change += (torch.softmax(model(xb + delta), dim=1) - clean[i]).abs().sum(1)
                result[direction].append(change / n_samples)
        out.append({direction: torch.cat(values) for direction, values in result.items()})
    return out


def off_on_ratio(off: float, on: float) -> float:
    """The mean output change under off-manifold noise divided by that under on-manifold noise (from
    `on_off_robustness` or `robustness_vs_sigma`): below 1, a model is more robust off the manifold than on it,
    the signature of perceptually aligned gradients. Introduced in Chapter 7."""
    checks.number(off, "off", "off_on_ratio", low=0)
    checks.number(on, "on", "off_on_ratio", low=0)
    return off / max(on, 1e-12)


def robustness_vs_sigma(model, x, basis, sigmas, n_samples=8, seed=0) -> dict:
    """`on_off_robustness` averaged over the examples at every noise level of `sigmas`:
    dict(sigma=[...], on=[...], off=[...]) of floats, one entry per sigma. Introduced in Chapter 7."""
    checks.sequence(sigmas, "sigmas", "robustness_vs_sigma", of="noise norms")
    checks.basis(x, basis, "x")
    for sigma in sigmas:
        checks.number(sigma, "sigmas[...]", "robustness_vs_sigma", low=0)
    checks.integer(n_samples, "n_samples", "robustness_vs_sigma")
    with evaluating(model):  # the clean output once, every σ's noise seeded as `on_off_robustness` seeds it
        per_sigma = _changes(model, x, basis, list(sigmas), n_samples, seed)
    return dict(sigma=list(sigmas), on=[c["on"].mean().item() for c in per_sigma],
                off=[c["off"].mean().item() for c in per_sigma])


# --------------------------------------------------------------------------------------------------
# an autoencoder as an estimate of an image manifold

class Autoencoder(nn.Module):
    """x -> `encode` -> z in R^latent_dim -> `decode` -> x̂ in [0, 1], for (C, H, W) images with H, W divisible by 4.

    Two strided convolutions down, a linear bottleneck, two transposed convolutions up; smooth (SiLU)
    activations, so the decoder's Jacobian, whose span is the estimated tangent space, varies smoothly.
    Introduced in Chapter 9.
    """

    def __init__(self, shape=(1, 28, 28), latent_dim=16, width=32):
        super().__init__()
        c, h, w = shape
        if h % 4 or w % 4:
            checks.fail("Autoencoder", "shape", "have height and width divisible by 4", shape)
        self.shape, self.latent_dim = tuple(shape), latent_dim
        inner = (2 * width, h // 4, w // 4)
        self.encoder = nn.Sequential(
            nn.Conv2d(c, width, 4, 2, 1), nn.SiLU(), nn.Conv2d(width, 2 * width, 4, 2, 1), nn.SiLU(),
            nn.Flatten(), nn.Linear(math.prod(inner), latent_dim))
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, math.prod(inner)), nn.SiLU(), nn.Unflatten(1, inner),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.SiLU(), nn.ConvTranspose2d(width, c, 4, 2, 1),
            nn.Sigmoid())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def train_autoencoder(ae: Autoencoder, data, epochs: int, lr: float = 1e-3, batch_size: int = 128, seed: int = 0,
                      show_progress: bool = True) -> list:
    """Train `ae` in place to reconstruct `data.x` (mean squared error, Adam, cosine schedule); returns the
    history, one record dict(epoch, loss) per epoch. Introduced in Chapter 9."""
    checks.nonempty(data, "data", "train_autoencoder")
    checks.images(data.x, "data.x", "train_autoencoder")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    return fit_with_adam(ae, data.x, lambda net, x, _: F.mse_loss(net(x), x), AdamRecipe(epochs, lr, batch_size),
                         generator, "autoencoder", show_progress, postfix="mse")


def autoencoder(dataset: str, profile: str = "quick", latent_dim: int = None, device=None, show_progress=True,
                **overrides) -> Autoencoder:
    """The autoencoder of `dataset` for `profile`, trained once and cached (keyed by its configuration).

    `latent_dim` (default: the profile's) is the dimension k of the estimated manifold; `overrides`
    replace other recipe entries (width, n_train, epochs, lr, batch_size, seed). The returned model is
    in eval mode and carries `config`, `history` (per-epoch reconstruction MSE) and `trained_now`
    (`zoo.cached_model`). The recipes live in `pagutils.core.defaults` (`shared(profile).autoencoder`).
    Introduced in Chapter 9.
    """
    checks.one_of(dataset, INFO, "dataset", "autoencoder")
    recipe = dict(shared(profile).autoencoder)
    unknown = set(overrides) - set(recipe)
    if unknown:
        checks.fail("autoencoder", "settings", f"be among {sorted(recipe)}",
                    got=f"unknown autoencoder setting(s) {sorted(unknown)}")
    recipe.update(overrides)
    if latent_dim is not None:
        recipe["latent_dim"] = latent_dim
    checks.integer(recipe["latent_dim"], "latent_dim", "autoencoder")
    config = dict(kind="autoencoder", dataset=dataset, **recipe)
    device = resolve(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe["seed"])
        ae = Autoencoder(INFO[dataset]["shape"], recipe["latent_dim"], recipe["width"]).to(device)

    def fit(ae):
        train_set = load(dataset, "train", n=recipe["n_train"], seed=recipe["seed"], device=device)
        return train_autoencoder(ae, train_set, recipe["epochs"], recipe["lr"], recipe["batch_size"],
                                 recipe["seed"], show_progress)

    return cached_model(config, ae, fit, device)


def decoder_jacobian(ae: Autoencoder, z: torch.Tensor) -> torch.Tensor:
    """∂ decode(z) / ∂z for every code: (N, D, k), with torch.func (forward mode, vmapped over the batch).
    Introduced in Chapter 9."""
    if not isinstance(z, torch.Tensor) or z.dim() != 2:
        checks.fail("decoder_jacobian", "z", "be a tensor of codes (N, k)", z,
                    kind=torch.Tensor)

    def decode_one(code):
        return ae.decode(code[None])[0].flatten()

    return torch.func.vmap(torch.func.jacfwd(decode_one))(z)


@torch.no_grad()
def tangent_basis(ae: Autoencoder, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """An orthonormal basis (N, D, k) of the estimated tangent space at every image of x: the span of the
    decoder's Jacobian at the code z = encode(x). Introduced in Chapter 9."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != ae.shape:
        checks.fail("tangent_basis", "x", f"be a batch of images of shape (N, {', '.join(map(str, ae.shape))})", x,
                    kind=torch.Tensor)
    with evaluating(ae):
        bases = [orthonormalize(decoder_jacobian(ae, ae.encode(chunk))) for chunk in x.split(batch_size)]
    return torch.cat(bases)


# --------------------------------------------------------------------------------------------------
# figures


def plot_fractions(fractions: dict, baseline: float = None, ax=None, title=None):
    """Histograms of on-manifold fractions, one per entry of `fractions` (name -> (N,) tensor);
    `baseline` (k / D, a random direction's expected fraction) is drawn as a dashed line. Introduced in Chapter 7."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.5))
    bins = torch.linspace(0, 1, 26).tolist()
    for name, values in fractions.items():
        values = values[~torch.isnan(values)].cpu()
        ax.hist(values.tolist(), bins=bins, alpha=0.55, label=f"{name} (mean {values.mean():.2f})")
    if baseline is not None:
        ax.axvline(baseline, color="k", ls="--", lw=1, label=f"random direction ({baseline:.2f})")
    ax.set_xlabel("on-manifold fraction ‖P∇‖² / ‖∇‖²")
    ax.set_ylabel("examples")
    if title:
        ax.set_title(title)
    from ..present import plots
    plots.legend_below(ax)
    return ax


def plot_robustness_curves(curves: dict, ax=None, title=None):
    """Mean output change against the noise norm σ, on (solid) and off (dashed) the manifold, one colour
    per entry of `curves` (name -> dict(sigma, on, off) from `robustness_vs_sigma`). Introduced in Chapter 7."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.5))
    for i, (name, curve) in enumerate(curves.items()):
        color = f"C{i}"
        ax.plot(curve["sigma"], curve["on"], marker="o", color=color, label=f"{name}, on-manifold noise")
        ax.plot(curve["sigma"], curve["off"], marker="s", ls="--", color=color, label=f"{name}, off-manifold noise")
    ax.set_xlabel("noise norm σ")
    ax.set_ylabel("mean ‖p(x+δ) − p(x)‖₁")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    from ..present import plots
    plots.legend_below(ax)
    return ax


# --------------------------------------------------------------------------------------------------
# controls: subspaces with the digit's support, or another image's tangent space, in place of T_x


def digit_support(x: torch.Tensor, threshold: float = 0.1, dilation: int = 1) -> torch.Tensor:
    """The pixels of each image's digit: a bool mask shaped like x, True where any channel of a pixel exceeds
    `threshold`, grown by `dilation` pixels in every direction (a square neighbourhood), the same for every
    channel. On MNIST it holds the strokes and their rim; on natural images nearly every pixel.
    Introduced in Chapter 9."""
    where = "digit_support"
    checks.images(x, "x", where)
    threshold = checks.number(threshold, "threshold", where, low=0, high=1)
    dilation = checks.integer(dilation, "dilation", where, low=0)
    lit = (x > threshold).any(1, keepdim=True).float()
    if dilation:
        lit = F.max_pool2d(lit, 2 * dilation + 1, stride=1, padding=dilation)
    return lit.bool().expand_as(x).contiguous()


def support_basis(x: torch.Tensor, k: int, seed: int = 0, threshold: float = 0.1, dilation: int = 1) -> torch.Tensor:
    """A random k-dimensional subspace of each image's digit support (`digit_support`), as an orthonormal basis
    (N, D, k): Gaussian columns set to zero off the support, orthonormalised, and zero off the support.

    It has the support of the digit and the dimension of the tangent space but no manifold structure: the
    control that says how much of an on-manifold fraction or an off/on ratio only reflects that a gradient
    lives on the digit's strokes. Introduced in Chapter 9.
    """
    where = "support_basis"
    mask = digit_support(x, threshold, dilation).flatten(1)
    n, d = mask.shape
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= d:
        checks.fail(where, "k", f"be an int between 1 and D={d}", k,
                    error=checks.ArgumentTypeError if isinstance(k, bool) or not isinstance(k, int) else ValueError)
    size = mask.sum(1)
    if size.min().item() < k:
        checks.fail(where, "k", f"be at most the smallest digit support ({int(size.min())} pixels, image "
                    f"{int(size.argmin())})",
                    got=f"k={k}: lower threshold ({threshold:g}) or raise dilation ({dilation})")
    on_support = mask[:, :, None].to(x.dtype)
    gaussian = torch.randn(n, d, k, generator=torch.Generator().manual_seed(seed)).to(x) * on_support
    return orthonormalize(gaussian) * on_support  # the span lies on the support; the mask removes rounding


def shuffled_basis(basis: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Every example's basis replaced by another example's: basis[order] for the seeded derangement `order` of
    `features.start_order` (one random cycle through the batch, so no example keeps its own).

    The shuffled tangent spaces keep what the images' tangent spaces share (where digits are drawn, how strokes
    move in general) and lose what ties a tangent space to its own image: the control of a per-image manifold
    effect. Introduced in Chapter 9.
    """
    if not isinstance(basis, torch.Tensor) or basis.dim() != 3 or len(basis) < 2:
        checks.fail("shuffled_basis", "basis", "be a tensor (N, D, k) of N >= 2 bases", basis,
                    kind=torch.Tensor)
    from ..robust_features.features import start_order
    return basis[start_order(len(basis), seed).to(basis.device)]


def shuffled_fraction(v: torch.Tensor, basis: torch.Tensor, seeds=range(8)) -> torch.Tensor:
    """The on-manifold fraction of every example of v in other examples' tangent spaces, averaged over the
    shuffles `shuffled_basis(basis, seed)` of `seeds`: the shuffled control of `on_manifold_fraction` with the
    luck of a single shuffle averaged out (which assignment of other images' tangent spaces one shuffle draws
    moves the mean fraction too, and a bootstrap over the images does not see it). Introduced in Chapter 9."""
    seeds = list(seeds)
    if not seeds:
        checks.fail("shuffled_fraction", "seeds", "name at least one shuffle", got="none")
    total = torch.zeros(len(v), dtype=v.dtype, device=v.device)
    for seed in seeds:
        total += on_manifold_fraction(v, shuffled_basis(basis, seed))
    return total / len(seeds)


def passes_beyond_chance(passes: int, draws: int, rate: float = 0.05, level: float = 0.05) -> bool:
    """True when a rule with false-positive rate `rate` passed `passes` times in `draws` independent draws
    without an effect more often than chance allows: the binomial probability of at least `passes` passes is
    below `level`. (With 20 draws at a rate of 0.05: 4 passes or more.) Introduced in Chapter 9."""
    where = "passes_beyond_chance"
    checks.integer(draws, "draws", where)
    checks.integer(passes, "passes", where, low=0)
    if passes > draws:
        checks.fail(where, "passes", f"be at most draws ({draws})", passes)
    checks.number(rate, "rate", where, low=0, high=1)
    checks.number(level, "level", where, low=0, high=1)
    tail = sum(math.comb(draws, j) * rate ** j * (1 - rate) ** (draws - j) for j in range(passes, draws + 1))
    return tail < level


def shuffle_calibration(rule, basis: torch.Tensor, n_draws: int = 20, seed: int = 100, rate: float = 0.05) -> dict:
    """How often `rule(u) -> bool` passes with `n_draws` fresh shuffles u = `shuffled_basis(basis, s)` (seeds s
    from `seed` on, apart from those of the controls): tangent spaces with nothing the shuffled control lacks,
    where a valid rule of false-positive rate `rate` passes about that often. Returns dict(passes, draws,
    beyond_chance (`passes_beyond_chance`)). Introduced in Chapter 9."""
    if not callable(rule):
        checks.fail("shuffle_calibration", "rule", "be a function of a basis returning True or False", rule,
                    error=checks.ArgumentTypeError)
    checks.integer(n_draws, "n_draws", "shuffle_calibration")
    passes = sum(bool(rule(shuffled_basis(basis, s))) for s in range(seed, seed + n_draws))
    return dict(passes=passes, draws=n_draws, beyond_chance=passes_beyond_chance(passes, n_draws, rate))


def control_bases(x: torch.Tensor, basis: torch.Tensor, seed: int = 0, dilation: int = 1) -> dict:
    """The two controls of the tangent bases `basis` (N, D, k) at the images x, in place of `basis`:
    dict(support=`support_basis`(x, k, seed, dilation=dilation), shuffled=`shuffled_basis`(basis, seed)).
    Introduced in Chapter 9."""
    checks.basis(x, basis, "x")
    return dict(support=support_basis(x, basis.shape[2], seed, dilation=dilation),
                shuffled=shuffled_basis(basis, seed))


def changes_per_image(models: dict, x: torch.Tensor, basis: torch.Tensor, sigmas, n_samples: int = 8,
                      seed: int = 0) -> dict:
    """`on_off_robustness` of every model of `models` (name -> model) at every noise norm of `sigmas`, kept per
    image: name -> dict(sigma=[...], on=(S, N), off=(S, N)) for S noise norms and N images. The same seed at
    every σ, as in `robustness_vs_sigma`, whose curves are the means over the images (`mean_curves`).
    Introduced in Chapter 9."""
    where = "changes_per_image"
    checks.mapping(models, "models", where)
    checks.basis(x, basis, "x")
    checks.sequence(sigmas, "sigmas", where, of="noise norms")
    for sigma in sigmas:
        checks.number(sigma, "sigmas[...]", where, low=0)
    checks.integer(n_samples, "n_samples", where)
    out = {}
    for name, model in progress(models.items(), desc="models", total=len(models)):
        with torch.no_grad(), evaluating(model):
            per_sigma = _changes(model, x, basis, list(sigmas), n_samples, seed)
        out[name] = dict(sigma=list(sigmas), on=torch.stack([c["on"] for c in per_sigma]),
                         off=torch.stack([c["off"] for c in per_sigma]))
    return out


def _check_changes(changes, where):
    checks.mapping(changes, "changes", where)
    for name, change in changes.items():
        checks.mapping(change, f"changes[{name!r}]", where, required=("sigma", "on", "off"))


def mean_curves(changes: dict) -> dict:
    """The curves of `changes_per_image`'s measurements: name -> dict(sigma, on, off) of floats, one per σ, the
    means over the images (what `robustness_vs_sigma` returns). Introduced in Chapter 9."""
    _check_changes(changes, "mean_curves")
    return {name: dict(sigma=list(c["sigma"]), on=c["on"].mean(1).tolist(), off=c["off"].mean(1).tolist())
            for name, c in changes.items()}


def off_on_ratios(changes: dict) -> dict:
    """name -> the off/on ratio (`off_on_ratio` of the means over the images) at every σ of `changes_per_image`'s
    measurements. Introduced in Chapter 9."""
    return {name: [off_on_ratio(off, on) for off, on in zip(c["off"], c["on"])]
            for name, c in mean_curves(changes).items()}


def at_sigma(changes: dict, sigma: float) -> dict:
    """`changes_per_image`'s measurements at the one noise norm `sigma` of their sigmas: name -> dict(sigma=[sigma],
    on=(1, N), off=(1, N)), to compare with measurements made at that norm only. Introduced in Chapter 9."""
    _check_changes(changes, "at_sigma")
    out = {}
    for name, c in changes.items():
        if sigma not in c["sigma"]:
            checks.fail("at_sigma", "sigma", f"be one of the measured noise norms {c['sigma']}", sigma)
        j = c["sigma"].index(sigma)
        out[name] = dict(sigma=[sigma], on=c["on"][j:j + 1], off=c["off"][j:j + 1])
    return out


def change_reduction(changes: dict, index: torch.Tensor = None, direction: str = "off", sigma_index: int = 0,
                     robust: str = "robust", standard: str = "standard") -> torch.Tensor:
    """1 - C_robust / C_standard, C a model's mean output change (`changes_per_image`) under noise `direction`
    ('on' or 'off') at sigmas[sigma_index] over the images `index` ((..., n) image indices as in
    `ratio_reduction`; None: every image once): how much smaller the robust model's change is, as a share of
    the standard model's. Introduced in Chapter 9."""
    where = "change_reduction"
    checks.mapping(changes, "changes", where, required=(robust, standard))
    checks.one_of(direction, ("on", "off"), "direction", where)
    checks.integer(sigma_index, "sigma_index", where, low=0)
    change = {}
    for name in (robust, standard):
        values = changes[name][direction][sigma_index]
        change[name] = values[_images(index, len(values))].mean(-1)
    return 1 - change[robust] / change[standard].clamp_min(1e-12)

def _images(index, n):
    return torch.arange(n)[None] if index is None else index


def ratio_reduction(changes: dict, index: torch.Tensor = None, sigma_index: int = 0, robust: str = "robust",
                    standard: str = "standard") -> torch.Tensor:
    """1 - R_robust / R_standard at sigmas[sigma_index], R a model's off/on ratio of the mean changes (from
    `changes_per_image`) over the images `index`: how much lower the robust model's ratio is, as a share of the
    standard model's. `index` holds image indices shaped (..., n), e.g. bootstrap resamples (B, n); None: every
    image once. Returns a tensor shaped like index without its last dimension. Introduced in Chapter 9."""
    where = "ratio_reduction"
    checks.mapping(changes, "changes", where, required=(robust, standard))
    checks.integer(sigma_index, "sigma_index", where, low=0)
    ratio = {}
    for name in (robust, standard):
        on, off = changes[name]["on"][sigma_index], changes[name]["off"][sigma_index]
        chosen = _images(index, len(on))
        ratio[name] = off[chosen].mean(-1) / on[chosen].mean(-1).clamp_min(1e-12)
    return 1 - ratio[robust] / ratio[standard].clamp_min(1e-12)


def fraction_gap(fractions: dict, index: torch.Tensor = None, above: str = "robust",
                 below: str = "standard") -> torch.Tensor:
    """The mean on-manifold fraction (`on_manifold_fraction`, NaN left out) of model `above` minus that of model
    `below` over the images `index` ((..., n) image indices as in `ratio_reduction`; None: every image once).
    Introduced in Chapter 9."""
    checks.mapping(fractions, "fractions", "fraction_gap", required=(above, below))
    chosen = _images(index, len(fractions[above]))
    return fractions[above][chosen].nanmean(-1) - fractions[below][chosen].nanmean(-1)


def paired_bootstrap(statistic, n_images: int, n_boot: int = 2000, seed: int = 0, level: float = 0.95,
                     power: float = 0.8) -> dict:
    """The rule "`statistic` is above 0 at the one-sided `level` of a bootstrap over the images".

    `statistic(index)` maps image indices (B, n) to B values; it is evaluated at every image once and at
    `n_boot` resamples of the `n_images` images drawn with replacement (seeded: the same seed gives the same
    resamples, so statistics bootstrapped with one seed are paired). Returns dict(value, lower (the 1 - level
    quantile of the resampled values), sd, holds (lower > 0), false_positive_rate (1 - level: the bootstrap's
    one-sided level, approximately), detectable ((z_level + z_power) sd, the smallest true value the rule
    detects with probability `power`, normal approximation), resampled (the `n_boot` resampled values, float64,
    for rules that read several statistics on the same resamples jointly, as `ratio_bound_rule` does)).
    Introduced in Chapter 9.
    """
    from statistics import NormalDist
    where = "paired_bootstrap"
    if not callable(statistic):
        checks.fail(where, "statistic", "be a function of image indices (B, n)", statistic,
                    error=checks.ArgumentTypeError)
    checks.integer(n_images, "n_images", where, low=2)
    checks.integer(n_boot, "n_boot", where, low=2)
    checks.number(level, "level", where, low=0.5, high=1, strict=True)
    checks.number(power, "power", where, low=0, high=1, strict=True)
    index = torch.randint(n_images, (n_boot, n_images), generator=torch.Generator().manual_seed(seed))
    value = float(torch.as_tensor(statistic(torch.arange(n_images)[None])).reshape(-1)[0])
    resampled = torch.as_tensor(statistic(index), dtype=torch.float64).reshape(-1)
    if resampled.numel() != n_boot:
        checks.fail(where, "statistic", f"return one value per resample ({n_boot})", got=f"{resampled.numel()}")
    lower = resampled.quantile(1 - level).item()
    sd = resampled.std().item()
    z = NormalDist().inv_cdf
    return dict(value=value, lower=lower, sd=sd, holds=lower > 0, false_positive_rate=1 - level,
                detectable=(z(level) + z(power)) * sd, resampled=resampled)


def ratio_bound_rule(change: dict, below: bool = True, n_boot: int = 2000, seed: int = 0, level: float = 0.95,
                     power: float = 0.8) -> dict:
    """The rule "one model's off/on ratio is below 1 at every noise level" (`below`; otherwise "above 1 at every
    noise level"), read with `paired_bootstrap` over the images: at every σ, the one-sided `level` upper bound of
    the ratio below 1 (`below`), or its lower bound above 1.

    `change` is one model's entry of `changes_per_image` (dict(sigma, on (S, N), off (S, N))); the ratio over a
    set of images is the mean off-manifold change over the mean on-manifold change (`off_on_ratios`). Every σ is
    read on the same seeded resamples. Returns dict(sigma, ratio (per σ), bound (per σ: the upper bound when
    `below`, the lower bound otherwise), sd (per σ: the bootstrap standard error of the ratio), worst (the bound
    closest to failing: the highest upper bound, or the lowest lower bound), holds (every bound on its side of 1),
    false_positive_rate, detectable).

    `false_positive_rate` is 1 - level: with no effect the ratio is 1 (or on the wrong side) at some σ, that σ's
    bound passes with probability at most about 1 - level, and the rule needs every σ to pass, so it passes no
    more often, whatever the other noise levels do. `detectable` is the smallest distance of the ratio from 1,
    the same at every σ, at which every bound passes with probability `power`: the `power` quantile over the
    resamples of max over σ of (z_level sd_σ - e_σ), e_σ a resample's deviation from the resamples' mean (normal
    approximation, with the joint spread of the noise levels that the shared resamples measure). With one σ it
    is (z_level + z_power) sd, as in `paired_bootstrap`; with several, about that at the largest sd or more.
    Introduced in Chapter 9.
    """
    from statistics import NormalDist
    where = "ratio_bound_rule"
    checks.mapping(change, "change", where, required=("sigma", "on", "off"))
    checks.flag(below, "below", where)
    checks.number(power, "power", where, low=0, high=1, strict=True)
    on, off = change["on"], change["off"]
    if not isinstance(on, torch.Tensor) or on.dim() != 2 or on.shape != getattr(off, "shape", None):
        checks.fail(where, "change", "hold on and off changes shaped (S, N), one row per noise level",
                    got=f"on {checks.brief(on)} and off {checks.brief(off)}")
    sign = -1.0 if below else 1.0

    def distance(j, index):  # how far the ratio lies on the claimed side of 1
        ratio = off[j][index].double().mean(-1) / on[j][index].double().mean(-1).clamp_min(1e-12)
        return sign * (ratio - 1)

    reads = [paired_bootstrap(partial(distance, j), on.shape[1], n_boot, seed, level, power)
             for j in range(len(on))]
    bound = [1 + sign * read["lower"] for read in reads]
    z = NormalDist().inv_cdf(level)
    spread = torch.stack([r["resampled"] - r["resampled"].mean() for r in reads])  # (S, n_boot)
    sd = torch.tensor([r["sd"] for r in reads], dtype=torch.float64)
    needed = (z * sd[:, None] - spread).amax(0)  # the distance each resample needs to pass at every σ
    return dict(sigma=list(change["sigma"]), ratio=[1 + sign * r["value"] for r in reads], bound=bound,
                sd=sd.tolist(), worst=max(bound) if below else min(bound), holds=all(r["holds"] for r in reads),
                false_positive_rate=1 - level, detectable=max(0.0, needed.quantile(power).item()))


def excess_over_controls(statistic, measured: dict, controls=("support", "shuffled"), tested: str = "tangent",
                         n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """Does the effect `statistic` measured with the `tested` bases exceed the effect with every control basis?

    `measured` maps a basis name (`tested` and every name of `controls`) to what `statistic(measured[name],
    index)` reads, e.g. `changes_per_image`'s results with `ratio_reduction`, or fractions with `fraction_gap`.
    Each control is read with `paired_bootstrap` of the excess statistic(tested) - statistic(control) over the
    same resampled images; the rule holds when every excess is above 0 at the one-sided `level`. Returns
    dict(value (basis -> effect), excess, lower, sd (control -> ...), holds, false_positive_rate (1 - level: the
    rule needs every control to pass, so its level is that of each), detectable (the largest over the
    controls: the excess each must show to be detected with 80% probability)). Introduced in Chapter 9.
    """
    where = "excess_over_controls"
    checks.mapping(measured, "measured", where, required=(tested, *controls))
    if not controls:
        checks.fail(where, "controls", "name at least one control basis of measured", controls)
    n = next((len(v) for v in _leaves(measured[tested])), 0)
    if n < 2:
        checks.fail(where, f"measured[{tested!r}]", "hold per-image tensors of at least 2 images (the last dimension)",
                    measured[tested])
    value = {name: float(statistic(measured[name], None).reshape(-1)[0]) for name in (tested, *controls)}
    out = dict(value=value, excess={}, lower={}, sd={}, holds=True, false_positive_rate=1 - level, detectable=0.0)
    for name in controls:
        read = paired_bootstrap(lambda index: statistic(measured[tested], index) - statistic(measured[name], index),
                                n, n_boot, seed, level)
        out["excess"][name], out["lower"][name], out["sd"][name] = read["value"], read["lower"], read["sd"]
        out["holds"] = out["holds"] and read["holds"]
        out["detectable"] = max(out["detectable"], read["detectable"])
    return out


def _leaves(values):
    """The per-image tensors (their last dimension: the images) of a nested dict of measurements."""
    if isinstance(values, torch.Tensor):
        yield values.reshape(-1, values.shape[-1])[0]
    elif isinstance(values, dict):
        for value in values.values():
            yield from _leaves(value)


def plot_controls(changes: dict, fractions: dict, baseline: float = None, axes=None):
    """Two panels: the off/on ratio against the noise norm σ for every basis (line style: the first solid) and
    model (colour) of `changes` (basis -> `changes_per_image` measurements), and the mean on-manifold fraction of
    every model's gradient in every basis (bars; `fractions`: basis -> model -> (N,)), with `baseline` (k / D,
    a random direction's fraction) dashed. Returns the two axes. Introduced in Chapter 9."""
    import matplotlib.pyplot as plt
    checks.mapping(changes, "changes", "plot_controls")
    checks.mapping(fractions, "fractions", "plot_controls")
    if axes is None:  # one panel above the other, so that the text stays readable on a phone
        fig, axes = plt.subplots(2, 1, figsize=(6.5, 9.5))
        fig.subplots_adjust(hspace=0.75)
    left, right = axes
    styles = ["-", "--", ":", "-."]
    sigmas = []
    for j, (basis_name, per_model) in enumerate(changes.items()):
        for i, (name, ratios) in enumerate(off_on_ratios(per_model).items()):
            sigmas = per_model[name]["sigma"]
            left.plot(sigmas, ratios, ls=styles[j % len(styles)], marker="o", ms=3, color=f"C{i}",
                      label=f"{name}, {basis_name}")
    left.axhline(1, color="k", lw=0.8)
    left.set_xscale("log")
    left.set_xticks(sigmas, [f"{s:g}" for s in sigmas])
    left.minorticks_off()
    left.set_ylim(0, None)
    left.set_xlabel("noise norm σ (log scale)")
    left.set_ylabel("off/on ratio")
    left.grid(alpha=0.3)
    left.legend(ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.17))
    names = list(fractions)
    models = list(next(iter(fractions.values())))
    width = 0.8 / len(models)
    for i, name in enumerate(models):
        means = [fractions[b][name].nanmean().item() for b in names]
        right.bar([j + (i - (len(models) - 1) / 2) * width for j in range(len(names))], means, width,
                  color=f"C{i}", label=name)
    if baseline is not None:
        right.axhline(baseline, color="k", ls="--", lw=1, label=f"random direction ({baseline:.3f})")
    right.set_xticks(range(len(names)), names)
    right.set_ylabel("mean on-manifold fraction")
    right.legend(ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return axes


def controls_markdown(changes: dict, fractions: dict, sigma_index: int = 0) -> str:
    """A Markdown table with one row per model and basis (five columns, so that it reads on a narrow page): the
    off/on ratio at sigmas[sigma_index], its range over σ, and the mean on-manifold fraction of the gradient
    (`changes`: basis -> `changes_per_image` measurements; `fractions`: basis -> model -> (N,)).
    Introduced in Chapter 9."""
    checks.mapping(changes, "changes", "controls_markdown")
    checks.integer(sigma_index, "sigma_index", "controls_markdown", low=0)
    first = next(iter(changes.values()))
    sigma = next(iter(first.values()))["sigma"][sigma_index]
    lines = [f"| model | basis | off/on at σ = {sigma:g} | range over σ | on-manifold fraction |", "|---" * 5 + "|"]
    for name in first:
        for basis_name, per_model in changes.items():
            r = off_on_ratios(per_model)[name]
            lines.append(f"| {name} | {basis_name} | {r[sigma_index]:.2f} | {min(r):.2f} to {max(r):.2f} | "
                         f"{fractions[basis_name][name].nanmean().item():.3f} |")
    return "\n".join(lines)
