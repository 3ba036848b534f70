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

import torch
import torch.nn.functional as F
from torch import nn

from . import checks
from .data import INFO, load
from .defaults import shared
from .device import resolve
from .models import evaluating
from .progress import progress
from .train import AdamRecipe, fit_with_adam
from .zoo import cached_model


# --------------------------------------------------------------------------------------------------
# projections onto the tangent space and its complement


def _check_basis(v, basis, name="v"):
    if not isinstance(v, torch.Tensor) or v.dim() < 2 or not v.is_floating_point():
        raise ValueError(f"{name} must be a float tensor with a batch dimension (N, ...), got {checks.brief(v)}")
    if not isinstance(basis, torch.Tensor) or basis.dim() != 3:
        raise ValueError(f"basis must be a tensor of shape (N, D, k) with orthonormal columns, got {checks.brief(basis)}")
    n, d = v.shape[0], v[0].numel()
    if basis.shape[0] != n or basis.shape[1] != d:
        raise ValueError(f"basis must have shape ({n}, {d}, k) to match {name} of shape {tuple(v.shape)}, "
                         f"got {tuple(basis.shape)}")
    if basis.shape[2] > d:
        raise ValueError(f"basis has k={basis.shape[2]} columns, more than the dimension D={d}")


def project_onto(v: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """P v = U Uᵀ v for every example: the part of v that lies in the tangent space spanned by `basis`.
    Introduced in Chapter 7."""
    _check_basis(v, basis)
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
    _check_basis(v, basis)
    peak = v.flatten(1).abs().amax(1)
    unit = v / peak.clamp_min(torch.finfo(v.dtype).tiny).view(-1, *([1] * (v.dim() - 1)))  # scale-free, no underflow
    on = project_onto(unit, basis).flatten(1).pow(2).sum(1)
    fraction = (on / unit.flatten(1).pow(2).sum(1)).clamp(0, 1)
    return torch.where(peak > 0, fraction, torch.full_like(fraction, float("nan")))


def orthonormalize(jacobian: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis (N, D, k) of the column space of each (D, k) matrix of `jacobian` (reduced QR).
    Introduced in Chapter 7."""
    if not isinstance(jacobian, torch.Tensor) or jacobian.dim() != 3 or not jacobian.is_floating_point():
        raise ValueError(f"jacobian must be a float tensor of shape (N, D, k), got {checks.brief(jacobian)}")
    if jacobian.shape[2] > jacobian.shape[1]:
        raise ValueError(f"jacobian must have k <= D columns, got shape {tuple(jacobian.shape)}")
    q, _ = torch.linalg.qr(jacobian, mode="reduced")
    return q


def random_basis(n: int, shape, k: int, seed: int = 0) -> torch.Tensor:
    """N random k-dimensional subspaces of R^D (D = prod(shape)): a baseline with on-fraction k / D.
    Introduced in Chapter 7."""
    checks.integer(n, "n", "random_basis")
    d = math.prod(shape)
    if not isinstance(k, int) or not 1 <= k <= d:
        raise ValueError(f"k must be an int between 1 and {d}, got {k!r}")
    gaussian = torch.randn(n, d, k, generator=torch.Generator().manual_seed(seed))
    return orthonormalize(gaussian)


# --------------------------------------------------------------------------------------------------
# robustness on and off the manifold


def projected_noise(x: torch.Tensor, basis: torch.Tensor, sigma: float, direction: str,
                    generator: torch.Generator = None) -> torch.Tensor:
    """Gaussian noise projected onto the tangent space (`direction`='on') or its complement ('off'),
    rescaled to L2 norm exactly `sigma` per example. Introduced in Chapter 7."""
    if direction not in ("on", "off"):
        raise ValueError(f"direction must be 'on' or 'off', got {direction!r}")
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
    _check_basis(x, basis, "x")
    checks.number(sigma, "sigma", "on_off_robustness", low=0)
    checks.integer(n_samples, "n_samples", "on_off_robustness")
    generator = torch.Generator().manual_seed(seed)
    result = {"on": [], "off": []}
    with evaluating(model):
        for start in range(0, len(x), batch_size):
            xb, ub = x[start:start + batch_size], basis[start:start + batch_size]
            clean = torch.softmax(model(xb), dim=1)
            for direction in ("on", "off"):
                change = torch.zeros(len(xb), device=x.device)
                for _ in range(n_samples):
                    delta = projected_noise(xb, ub, float(sigma), direction, generator)
                    change += (torch.softmax(model(xb + delta), dim=1) - clean).abs().sum(1)
                result[direction].append(change / n_samples)
    return {direction: torch.cat(values) for direction, values in result.items()}


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
    if not isinstance(sigmas, (list, tuple)) or not sigmas:
        raise ValueError(f"sigmas must be a non-empty list of noise norms, got {sigmas!r}")
    curves = dict(sigma=list(sigmas), on=[], off=[])
    for sigma in progress(sigmas, desc="noise levels"):
        change = on_off_robustness(model, x, basis, sigma, n_samples, seed)
        curves["on"].append(change["on"].mean().item())
        curves["off"].append(change["off"].mean().item())
    return curves


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
            raise ValueError(f"shape must have height and width divisible by 4, got {shape}")
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
    (`zoo.cached_model`). The recipes live in `pagutils.defaults` (`shared(profile).autoencoder`).
    Introduced in Chapter 9.
    """
    checks.one_of(dataset, INFO, "dataset", "autoencoder")
    recipe = dict(shared(profile).autoencoder)
    unknown = set(overrides) - set(recipe)
    if unknown:
        raise ValueError(f"unknown autoencoder setting(s) {sorted(unknown)}; settings are {sorted(recipe)}")
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
        raise ValueError(f"z must be a tensor of codes (N, k), got {checks.brief(z)}")

    def decode_one(code):
        return ae.decode(code[None])[0].flatten()

    return torch.func.vmap(torch.func.jacfwd(decode_one))(z)


@torch.no_grad()
def tangent_basis(ae: Autoencoder, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """An orthonormal basis (N, D, k) of the estimated tangent space at every image of x: the span of the
    decoder's Jacobian at the code z = encode(x). Introduced in Chapter 9."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != ae.shape:
        raise ValueError(f"x must be a batch of images of shape (N, {', '.join(map(str, ae.shape))}), "
                         f"got {checks.brief(x)}")
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
    ax.legend()
    if title:
        ax.set_title(title)
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
    ax.legend()
    if title:
        ax.set_title(title)
    return ax
