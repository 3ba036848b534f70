"""A synthetic dataset whose manifold, class densities and Bayes-optimal classifier are known exactly.

A latent point z in R² is drawn from a class-conditional Gaussian p(z | y) and mapped into R^D by a
fixed random smooth generator G (a random plane bent by sinusoids, squashed into (0.1, 0.9)); the data are
x = G(z) + σ_n ε with small isotropic noise ε ~ N(0, I). Then

- the data manifold is the surface {G(z)}, its tangent space at G(z) is the span of the Jacobian ∂G/∂z
  (`SyntheticManifold.tangent_basis`, computed with torch.func);
- the ambient density of class y is the convolution p_σ(x | y) = ∫ N(x; G(z), σ² I) p(z | y) dz, which is
  computed by quadrature on a grid over the latent plane, so the Bayes-optimal posterior p(y | x), its
  input gradient and the score ∇_x log p_σ(x) of the noisy data density are exact up to quadrature error.

The vectors are stored as (N, 1, 1, D) "images" in a `pagutils.data.Data` set, so that training, PGD and
input gradients apply to them unchanged.
"""
import math
from dataclasses import dataclass

import torch
from torch import nn

from . import checks
from .data import Data
from .models import Classifier
from .train import Recipe, train
from .zoo import cached_model

CLASSES = ("class 0", "class 1")


@dataclass(frozen=True)
class SyntheticManifold:
    """The generator G(z) = 0.5 + 0.4 tanh(c A z + a sin(B z + φ)) (A (D, 2) orthonormal columns, B (D, 2),
    φ (D,), scale c, amplitude a of the bending), the class-conditional latent Gaussians (`means` (C, 2),
    `stds` (C, 2), uniform class prior) and the off-manifold noise `noise` (σ_n). Introduced in Chapter 7."""

    plane: torch.Tensor
    frequencies: torch.Tensor
    phases: torch.Tensor
    scale: float
    amplitude: float
    means: torch.Tensor
    stds: torch.Tensor
    noise: float
    seed: int

    @property
    def dim(self) -> int:
        """The ambient dimension D."""
        return self.plane.shape[0]

    @property
    def latent_dim(self) -> int:
        return self.plane.shape[1]

    @property
    def config(self) -> dict:
        """What identifies this dataset in a cache key."""
        return dict(kind="synthetic_manifold", dim=self.dim, scale=self.scale, amplitude=self.amplitude,
                    noise=self.noise, seed=self.seed)

    # ------------------------------------------------------------------ the manifold
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """G(z): points (N, D) of the manifold for latent points z (N, 2)."""
        _check_latent(z, self.latent_dim)
        bent = self.scale * z @ self.plane.T + self.amplitude * torch.sin(z @ self.frequencies.T + self.phases)
        return 0.5 + 0.4 * torch.tanh(bent)

    def jacobian(self, z: torch.Tensor) -> torch.Tensor:
        """∂G/∂z at every latent point: (N, D, 2), by forward-mode autodiff vmapped over the batch."""
        _check_latent(z, self.latent_dim)
        return torch.func.vmap(torch.func.jacfwd(lambda one: self.generate(one[None])[0]))(z)

    def tangent_basis(self, z: torch.Tensor) -> torch.Tensor:
        """An orthonormal basis (N, D, 2) of the tangent space of the manifold at G(z)."""
        from .manifold import orthonormalize
        return orthonormalize(self.jacobian(z))

    def sample(self, n: int, seed: int = 0, noise: bool = True):
        """(data, z): `n` labelled points (classes equally likely) as a `Data` set with x of shape (N, 1, 1, D),
        and their latent points z (N, 2). With `noise` False the points lie exactly on the manifold."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        generator = torch.Generator().manual_seed(seed)
        y = torch.randint(len(self.means), (n,), generator=generator)
        z = self.means[y] + self.stds[y] * torch.randn(n, self.latent_dim, generator=generator)
        x = self.generate(z)
        if noise:
            x = x + self.noise * torch.randn(x.shape, generator=generator)
        return Data(x.clamp(0, 1).view(n, 1, 1, self.dim), y, CLASSES, "synthetic"), z

    # ------------------------------------------------------------------ exact densities by quadrature
    def latent_grid(self, sigma: float):
        """Quadrature nodes z_j (M, 2), their points G(z_j) (M, D) and log weights log(p(z_j | y) Δz) (C, M).

        The posterior over z given x has a width of at least σ / max ‖∂G/∂z‖; the spacing is that width, so
        that the Riemann sum of this near-Gaussian integrand is exact to about e^(-2π²) ≈ 3e-9 (relative). The
        nodes cover five standard deviations of every class; nodes where every class density is below
        e^-12.5 of its peak are dropped. The number of nodes grows as 1 / σ².
        """
        low = (self.means - 5 * self.stds).amin(0)
        high = (self.means + 5 * self.stds).amax(0)
        coarse = torch.cartesian_prod(*[torch.linspace(lo.item(), hi.item(), 25) for lo, hi in zip(low, high)])
        stretch = torch.linalg.matrix_norm(self.jacobian(coarse), ord=2).max().item()
        spacing = min(sigma / stretch, 0.05)
        axes = [torch.arange(lo.item(), hi.item() + spacing, spacing) for lo, hi in zip(low, high)]
        nodes = torch.cartesian_prod(*axes)
        standardized = (nodes[None] - self.means[:, None]) / self.stds[:, None]
        log_density = (-0.5 * standardized.pow(2).sum(-1) - torch.log(self.stds).sum(-1, keepdim=True)
                       - self.latent_dim * 0.5 * math.log(2 * math.pi))
        keep = (log_density > log_density.amax(1, keepdim=True) - 12.5).any(0)
        nodes, log_density = nodes[keep], log_density[:, keep]
        return nodes, self.generate(nodes), log_density + self.latent_dim * math.log(spacing)

    def class_log_likelihoods(self, x: torch.Tensor, sigma: float = None):
        """(log p_σ(x | y) (N, C), E[G(z) | x, y] (N, C, D)) for the density with noise σ (default σ_n).

        The conditional means give the class scores ∇_x log p_σ(x | y) = (E[G(z) | x, y] - x) / σ².
        """
        sigma = self.noise if sigma is None else sigma
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or sigma <= 0:
            raise ValueError(f"sigma must be a positive number (the noise level of the density), got {sigma!r}")
        flat = self._flat(x).to(torch.float64)
        _, points, log_prior = self.latent_grid(float(sigma))
        points, log_prior = points.to(torch.float64), log_prior.to(torch.float64)
        log_lik, means = [], []
        for chunk in flat.split(32):
            squared = (chunk.pow(2).sum(1, keepdim=True) - 2 * chunk @ points.T + points.pow(2).sum(1)).clamp_min(0)
            log_kernel = -squared / (2 * sigma ** 2) - self.dim * math.log(sigma * math.sqrt(2 * math.pi))
            joint = log_kernel[:, None, :] + log_prior[None]             # (n, C, M)
            total = torch.logsumexp(joint, dim=2)
            log_lik.append(total)
            means.append(torch.exp(joint - total[..., None]) @ points)   # (n, C, D)
        return torch.cat(log_lik), torch.cat(means)

    def bayes_posterior(self, x: torch.Tensor, sigma: float = None) -> torch.Tensor:
        """The Bayes-optimal posterior p(y | x) (N, C) of the noisy data (noise σ, default the data's σ_n)."""
        log_lik, _ = self.class_log_likelihoods(x, sigma)
        return torch.softmax(log_lik, dim=1).to(x.dtype)

    def bayes_gradient(self, x: torch.Tensor, y: torch.Tensor, sigma: float = None) -> torch.Tensor:
        """∇_x log p(y | x) of the Bayes-optimal classifier, shaped like x.

        ∇ log p(y|x) = ∇ log p(x|y) - Σ_c p(c|x) ∇ log p(x|c), with ∇ log p(x|c) = (E[G(z) | x, c] - x) / σ².
        """
        sigma = self.noise if sigma is None else sigma
        flat = self._flat(x)
        if not isinstance(y, torch.Tensor) or y.shape != (len(flat),):
            raise ValueError(f"y must be a tensor of {len(flat)} labels, got {getattr(y, 'shape', type(y).__name__)}")
        log_lik, mean_point = self.class_log_likelihoods(x, sigma)
        class_scores = (mean_point - flat.double()[:, None]) / sigma ** 2          # ∇ log p(x | c)
        posterior = torch.softmax(log_lik.double(), dim=1)
        own = class_scores[torch.arange(len(flat)), y]
        # Σ_c p(c|x) (∇ log p(x|y) - ∇ log p(x|c)): no cancellation when p(y|x) is close to 1
        return (posterior[..., None] * (own[:, None] - class_scores)).sum(1).to(x.dtype).view_as(x)

    def exact_score(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        """∇_x log p_σ(x), the score of the data density (classes pooled) convolved with N(0, σ² I), shaped like x."""
        flat = self._flat(x)
        log_lik, class_means = self.class_log_likelihoods(x, sigma)
        posterior = torch.softmax(log_lik, dim=1)                        # uniform class prior
        mean_point = (posterior[..., None] * class_means).sum(1)         # E[G(z) | x]
        return ((mean_point - flat.double()) / sigma ** 2).to(x.dtype).view_as(x)

    def _flat(self, x):
        if not isinstance(x, torch.Tensor) or x.dim() < 2 or not x.is_floating_point() or x[0].numel() != self.dim:
            raise ValueError(f"x must be a float batch (N, ...) of {self.dim}-dimensional points, got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        return x.flatten(1)


def _check_latent(z, k):
    if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != k or not z.is_floating_point():
        raise ValueError(f"z must be a float tensor of latent points (N, {k}), got {getattr(z, 'shape', type(z).__name__)}")


def make_generator(dim: int = 40, noise: float = 0.05, scale: float = 2.5, amplitude: float = 0.4,
                   seed: int = 0) -> SyntheticManifold:
    """A random smooth 2-D manifold in R^`dim` with two classes, and data noise of standard deviation `noise`.

    G maps the latent plane onto a random plane (`scale`) bent by sinusoids of random frequencies
    (`amplitude`), squashed into (0.1, 0.9). The classes are Gaussians in the latent plane centred at
    (-1, 0.3) and (1, -0.3) with standard deviations 0.6 and (0.5, 0.8): their Bayes decision boundary
    is a curve in the latent plane.
    Introduced in Chapter 7.
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 3:
        raise ValueError(f"dim must be an int >= 3 (a 2-D manifold needs room around it), got {dim!r}")
    for name, value in (("noise", noise), ("scale", scale), ("amplitude", amplitude)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (name != "amplitude" and value == 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    generator = torch.Generator().manual_seed(seed)
    plane, _ = torch.linalg.qr(torch.randn(dim, 2, generator=generator))
    return SyntheticManifold(
        plane=plane, frequencies=torch.randn(dim, 2, generator=generator),
        phases=2 * math.pi * torch.rand(dim, generator=generator), scale=float(scale), amplitude=float(amplitude),
        means=torch.tensor([[-1.0, 0.3], [1.0, -0.3]]), stds=torch.tensor([[0.6, 0.6], [0.5, 0.8]]),
        noise=float(noise), seed=seed)


def mlp(dim: int, num_classes: int = 2, width: int = 128, seed: int = 0) -> Classifier:
    """A two-hidden-layer ReLU classifier for (N, 1, 1, dim) vectors, with `forward` and `representation`.
    Introduced in Chapter 7."""
    checks.integer(dim, "dim", "synthetic.mlp")
    checks.integer(num_classes, "num_classes", "synthetic.mlp")
    checks.integer(width, "width", "synthetic.mlp")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        features = nn.Sequential(nn.Flatten(), nn.Linear(dim, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        return Classifier(features, width, num_classes, mean=(0.5,), std=(0.2,))


_DEFAULT_RECIPE = Recipe(epochs=20)  # classifier's recipe when none is given


def classifier(manifold: SyntheticManifold, recipe: Recipe = None, n_train: int = 4000, width: int = 128,
               show_progress: bool = True) -> Classifier:
    """An MLP of `width` trained on `n_train` samples of `manifold` by `recipe` (a `train.Recipe`; None:
    `Recipe(epochs=20)`, standard training), cached.

    The recipe's `objective` is any name registered in `pagutils.train` ('standard', 'pgd', ...), e.g.
    `Recipe(20, "pgd", dict(eps=0.5, steps=5))`. The model is in eval mode and carries `config` and `history`
    (`zoo.cached_model`). Introduced in Chapter 7.
    """
    if not isinstance(manifold, SyntheticManifold):
        raise checks.ArgumentTypeError(f"classifier: manifold must be a SyntheticManifold (from make_generator), "
                                       f"got {checks.brief(manifold)}")
    recipe = _DEFAULT_RECIPE if recipe is None else recipe
    if not isinstance(recipe, Recipe):
        raise checks.ArgumentTypeError(f"classifier: recipe must be a pagutils.train.Recipe (e.g. Recipe(epochs=20)), "
                                       f"got {checks.brief(recipe)}")
    checks.integer(n_train, "n_train", "classifier")
    config = dict(kind="synthetic_classifier", data=manifold.config, n_train=n_train, objective=recipe.objective,
                  objective_args=recipe.objective_args, epochs=recipe.epochs, width=width, lr=recipe.lr,
                  seed=recipe.seed)
    # the recipe's other settings enter the key only away from their defaults: the keys of the models cached
    # before a recipe was passed stay what they were
    config.update({name: value for name, value in recipe.config().items()
                   if name not in config and value != getattr(_DEFAULT_RECIPE, name)})
    seed = recipe.seed
    fit = lambda model: train(model, manifold.sample(n_train, seed=seed)[0], recipe, show_progress=show_progress)
    return cached_model(config, mlp(manifold.dim, len(manifold.means), width, seed), fit, device="cpu")


def plot_latent(manifold: SyntheticManifold, z: torch.Tensor, y: torch.Tensor, arrows: dict = None, ax=None,
                resolution: int = 60):
    """The latent plane: the Bayes-optimal p(class 1 | G(z)) as a colour map, samples z coloured by class,
    and, for every entry of `arrows` (name -> (N, 1, 1, D) input gradients at G(z)), the on-manifold part
    of each gradient pulled back to the latent plane (J⁺ P ∇), normalised to a common length.
    Introduced in Chapter 7."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    low, high = z.amin(0) - 0.3, z.amax(0) + 0.3
    axes = [torch.linspace(lo.item(), hi.item(), resolution) for lo, hi in zip(low, high)]
    grid = torch.cartesian_prod(*axes)
    posterior = manifold.bayes_posterior(manifold.generate(grid))[:, 1].view(resolution, resolution)
    ax.contourf(axes[0], axes[1], posterior.T, levels=20, cmap="coolwarm", alpha=0.6)
    ax.contour(axes[0], axes[1], posterior.T, levels=[0.5], colors="k", linewidths=1)
    ax.scatter(*z.T, c=y, cmap="coolwarm", s=8, edgecolors="k", linewidths=0.2)
    jacobian = manifold.jacobian(z)
    for i, (name, grads) in enumerate((arrows or {}).items()):
        latent = torch.linalg.lstsq(jacobian, grads.flatten(1)[..., None]).solution[..., 0]
        latent = latent / latent.norm(dim=1, keepdim=True).clamp_min(1e-12)
        ax.quiver(*z.T, *latent.T, color=f"C{i + 2}", angles="xy", scale=25, width=0.004, label=name)
    if arrows:
        ax.legend(loc="upper left")
    ax.set_xlabel("latent $z_1$")
    ax.set_ylabel("latent $z_2$")
    return ax


def plot_surface(manifold: SyntheticManifold, z: torch.Tensor, gradients_at: dict, ax=None, resolution: int = 30):
    """A manifold in R³ (`manifold.dim` == 3) as a surface, with input gradients (name -> (N, 1, 1, 3)) drawn as
    arrows at the points G(z): tangent arrows lie in the surface, off-manifold arrows stick out of it.
    Introduced in Chapter 7."""
    import matplotlib.pyplot as plt
    if manifold.dim != 3:
        raise ValueError(f"manifold must live in R^3 to be drawn as a surface, got dim={manifold.dim}")
    if ax is None:
        ax = plt.figure(figsize=(6, 5)).add_subplot(projection="3d")
    low, high = z.amin(0) - 0.5, z.amax(0) + 0.5
    axes = [torch.linspace(lo.item(), hi.item(), resolution) for lo, hi in zip(low, high)]
    surface = manifold.generate(torch.cartesian_prod(*axes)).view(resolution, resolution, 3)
    ax.plot_surface(*surface.permute(2, 0, 1).numpy(), alpha=0.25, color="tab:gray", linewidth=0)
    points = manifold.generate(z)
    for i, (name, grads) in enumerate(gradients_at.items()):
        g = grads.flatten(1)
        g = 0.12 * g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)
        ax.quiver(*points.T.numpy(), *g.T.numpy(), color=f"C{i}", label=name, linewidth=1.2)
    ax.legend()
    return ax


class BayesOptimal(nn.Module):
    """The Bayes-optimal classifier of `manifold` as a model: `forward(x)` = log p(y | x) (as logits).
    Introduced in Chapter 7."""

    def __init__(self, manifold: SyntheticManifold):
        super().__init__()
        self.manifold = manifold

    def forward(self, x):
        log_lik, _ = self.manifold.class_log_likelihoods(x)
        return torch.log_softmax(log_lik, dim=1).to(x.dtype)
