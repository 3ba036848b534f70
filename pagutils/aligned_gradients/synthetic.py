"""A synthetic dataset whose manifold, class densities and Bayes-optimal classifier are known exactly.

A latent point z in R² is drawn from a class-conditional Gaussian p(z | y) and mapped into R^D by a
fixed random smooth generator G (a random plane bent by sinusoids, squashed into (0.1, 0.9)); the data are
x = G(z) + σ_n ε with small isotropic noise ε ~ N(0, I). Then

- the data manifold is the surface {G(z)}, its tangent space at G(z) is the span of the Jacobian ∂G/∂z
  (`SyntheticManifold.tangent_basis`, computed with torch.func);
- the ambient density of class y is the convolution p_σ(x | y) = ∫ N(x; G(z), σ² I) p(z | y) dz, which is
  computed by quadrature on a grid over the latent plane, so the Bayes-optimal posterior p(y | x), its
  input gradient and the score ∇_x log p_σ(x) of the noisy data density are exact up to quadrature error.

The off/on ratio of a gradient's output changes under noise in the normal and in the tangent space fixes its
on-manifold fraction exactly, to first order (`fraction_from_ratio`, `ratio_kappa`); `chance_gradients`,
`linear_changes`, `ratio_rule`, `rise_rule` and `ShrunkToUniform` build the controls and rules that Chapter 7
reads its claims with.

Chapter 10 runs its robustness protocol here first, where the tangent spaces and the Bayes-optimal gradient are
exact: `SweepConfig` says what is trained and measured, `robustness_sweep` trains the four methods of
`robust_losses` at every strength and seed and measures each model with `measure_exact`, `read_robustness_sweep`
reads the regimes and the two-sided claim (`alignment.read_sweep`), and `standard_control` is the sweep of standard
models whose answer is known.

The vectors are stored as (N, 1, 1, D) "images" in a `pagutils.core.data.Data` set, so that training, PGD and
input gradients apply to them unchanged.
"""
import math
import weakref
from dataclasses import dataclass

import torch
from torch import nn

from ..core import checks
from ..core.data import Data
from ..core.models import Classifier
from ..core.train import Recipe, train
from ..core.zoo import cached_model

CLASSES = ("class 0", "class 1")
_GRIDS = {}  # id(manifold) -> (a weak reference to it, {σ: its quadrature grid}): built once per manifold and σ


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
        _check_latent(z, self.latent_dim, "SyntheticManifold.generate")
        bent = self.scale * z @ self.plane.T + self.amplitude * torch.sin(z @ self.frequencies.T + self.phases)
        return 0.5 + 0.4 * torch.tanh(bent)

    def jacobian(self, z: torch.Tensor) -> torch.Tensor:
        """∂G/∂z at every latent point: (N, D, 2), by forward-mode autodiff vmapped over the batch."""
        _check_latent(z, self.latent_dim, "SyntheticManifold.jacobian")
        return torch.func.vmap(torch.func.jacfwd(lambda one: self.generate(one[None])[0]))(z)

    def tangent_basis(self, z: torch.Tensor) -> torch.Tensor:
        """An orthonormal basis (N, D, 2) of the tangent space of the manifold at G(z)."""
        from .manifold import orthonormalize
        return orthonormalize(self.jacobian(z))

    def sample(self, n: int, seed: int = 0, noise: bool = True):
        """(data, z): `n` labelled points (classes equally likely) as a `Data` set with x of shape (N, 1, 1, D),
        and their latent points z (N, 2). With `noise` False the points lie exactly on the manifold."""
        n = checks.integer(n, "n", "SyntheticManifold.sample")
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
        The grid is built once per manifold and σ and shared by later calls (do not modify it in place).
        """
        grids = _GRIDS.get(id(self))
        if grids is None or grids[0]() is not self:
            grids = (weakref.ref(self), {})
            _GRIDS[id(self)] = grids
            weakref.finalize(self, _GRIDS.pop, id(self), None)
        if float(sigma) not in grids[1]:
            grids[1][float(sigma)] = self._build_grid(float(sigma))
        return grids[1][float(sigma)]

    def _build_grid(self, sigma):
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
        return self._log_likelihoods(x, sigma, "SyntheticManifold.class_log_likelihoods")

    def _log_likelihoods(self, x, sigma, where):
        sigma = self.noise if sigma is None else sigma
        checks.positive(sigma, "sigma", where)  # the noise level of the density
        flat = self._flat(x, where).to(torch.float64)
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
        log_lik, _ = self._log_likelihoods(x, sigma, "SyntheticManifold.bayes_posterior")
        return torch.softmax(log_lik, dim=1).to(x.dtype)

    def bayes_gradient(self, x: torch.Tensor, y: torch.Tensor, sigma: float = None) -> torch.Tensor:
        """∇_x log p(y | x) of the Bayes-optimal classifier, shaped like x.

        ∇ log p(y|x) = ∇ log p(x|y) - Σ_c p(c|x) ∇ log p(x|c), with ∇ log p(x|c) = (E[G(z) | x, c] - x) / σ².
        """
        sigma = self.noise if sigma is None else sigma
        where = "SyntheticManifold.bayes_gradient"
        flat = self._flat(x, where)
        if not isinstance(y, torch.Tensor) or y.shape != (len(flat),):
            checks.fail(where, "y", f"be a tensor of {len(flat)} labels", y,
                        kind=torch.Tensor)
        log_lik, mean_point = self._log_likelihoods(x, sigma, where)
        class_scores = (mean_point - flat.double()[:, None]) / sigma ** 2          # ∇ log p(x | c)
        posterior = torch.softmax(log_lik.double(), dim=1)
        own = class_scores[torch.arange(len(flat)), y]
        # Σ_c p(c|x) (∇ log p(x|y) - ∇ log p(x|c)): no cancellation when p(y|x) is close to 1
        return (posterior[..., None] * (own[:, None] - class_scores)).sum(1).to(x.dtype).view_as(x)

    def exact_score(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        """∇_x log p_σ(x), the score of the data density (classes pooled) convolved with N(0, σ² I), shaped like x."""
        where = "SyntheticManifold.exact_score"
        flat = self._flat(x, where)
        log_lik, class_means = self._log_likelihoods(x, sigma, where)
        posterior = torch.softmax(log_lik, dim=1)                        # uniform class prior
        mean_point = (posterior[..., None] * class_means).sum(1)         # E[G(z) | x]
        return ((mean_point - flat.double()) / sigma ** 2).to(x.dtype).view_as(x)

    def _flat(self, x, where):
        if not isinstance(x, torch.Tensor) or x.dim() < 2 or not x.is_floating_point() or x[0].numel() != self.dim:
            checks.fail(where, "x", f"be a float batch (N, ...) of {self.dim}-dimensional points", x,
                        kind=torch.Tensor)
        return x.flatten(1)


def _check_latent(z, k, where):
    if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != k or not z.is_floating_point():
        checks.fail(where, "z", f"be a float tensor of latent points (N, {k})", z,
                    kind=torch.Tensor)


def make_generator(dim: int = 40, noise: float = 0.05, scale: float = 2.5, amplitude: float = 0.4,
                   seed: int = 0) -> SyntheticManifold:
    """A random smooth 2-D manifold in R^`dim` with two classes, and data noise of standard deviation `noise`.

    G maps the latent plane onto a random plane (`scale`) bent by sinusoids of random frequencies
    (`amplitude`), squashed into (0.1, 0.9). The classes are Gaussians in the latent plane centred at
    (-1, 0.3) and (1, -0.3) with standard deviations 0.6 and (0.5, 0.8): their Bayes decision boundary
    is a curve in the latent plane.
    Introduced in Chapter 7.
    """
    checks.integer(dim, "dim", "make_generator", low=3)  # a 2-D manifold needs room around it
    for name, value in (("noise", noise), ("scale", scale), ("amplitude", amplitude)):
        checks.positive(value, name, "make_generator", allow_zero=name == "amplitude")
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

    The recipe's `objective` is any name registered in `pagutils.core.train` ('standard', 'pgd', ...), e.g.
    `Recipe(20, "pgd", dict(eps=0.5, steps=5))`. The model is in eval mode and carries `config` and `history`
    (`zoo.cached_model`). Introduced in Chapter 7.
    """
    if not isinstance(manifold, SyntheticManifold):
        checks.fail("classifier", "manifold", "be a SyntheticManifold (from make_generator)", manifold,
                    error=checks.ArgumentTypeError)
    recipe = _DEFAULT_RECIPE if recipe is None else recipe
    if not isinstance(recipe, Recipe):
        checks.fail("classifier", "recipe", "be a pagutils.core.train.Recipe (e.g. Recipe(epochs=20))", recipe,
                    error=checks.ArgumentTypeError)
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
    ax.set_xlabel("latent $z_1$")
    ax.set_ylabel("latent $z_2$")
    if arrows:
        from ..present import plots
        plots.legend_below(ax, ncol=len(arrows))
    return ax


def plot_surface(manifold: SyntheticManifold, z: torch.Tensor, gradients_at: dict, ax=None, resolution: int = 30):
    """A manifold in R³ (`manifold.dim` == 3) as a surface, with input gradients (name -> (N, 1, 1, 3)) drawn as
    arrows at the points G(z): tangent arrows lie in the surface, off-manifold arrows stick out of it.
    Introduced in Chapter 7."""
    import matplotlib.pyplot as plt
    if manifold.dim != 3:
        checks.fail("plot_surface", "manifold", "live in R^3 to be drawn as a surface", got=f"dim={manifold.dim}")
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
    from ..present import plots
    plots.legend_below(ax)  # not over the arrows
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


# ------------------------------------------------------------------ the off/on ratio and the on-manifold fraction
CHANGES = ("mean", "rms")  # how the output changes under noise are averaged: mean |Δf| (on_off_robustness) or RMS


def _dims(k, dim, where):
    checks.integer(dim, "dim", where, low=2)
    checks.integer(k, "k", where)
    if k >= dim:
        checks.fail(where, "k", f"be an int between 1 and dim - 1 = {dim - 1} (the manifold's dimension below the "
                    f"ambient one)", k)


def sphere_abs_mean(m: int) -> float:
    """E|u₁| for u uniform on the unit sphere of R^m: Γ(m/2) / (√π Γ((m+1)/2)).

    Noise δ of norm σ drawn uniformly in an m-dimensional subspace changes a linear function whose gradient g lies
    in that subspace by |gᵀδ|, which is σ‖g‖ E|u₁| on average: E|u₁| = 2/π for m = 2, about √(2/(πm)) for large m
    (the root mean square of u₁ is exactly 1/√m). Introduced in Chapter 7."""
    checks.integer(m, "m", "sphere_abs_mean")
    return math.exp(math.lgamma(m / 2) - math.lgamma((m + 1) / 2)) / math.sqrt(math.pi)


def ratio_kappa(k: int, dim: int, change: str = "mean") -> float:
    """κ of the relation ρ = 1 / (1 + κ r²) between the off/on ratio r and the on-manifold fraction ρ
    (`fraction_from_ratio`): (‖P⊥∇f‖ / ‖P∇f‖)² = κ r². With `change` 'mean' (mean absolute changes, as
    `manifold.on_off_robustness` measures them) κ = c_k² / c_(D-k)², c_m = `sphere_abs_mean(m)`; with 'rms'
    (root-mean-square changes, per-direction sensitivities) κ = (D - k) / k. Introduced in Chapter 7."""
    _dims(k, dim, "ratio_kappa")
    checks.one_of(change, CHANGES, "change", "ratio_kappa")
    if change == "rms":
        return (dim - k) / k
    return (sphere_abs_mean(k) / sphere_abs_mean(dim - k)) ** 2


def fraction_from_ratio(ratio, k: int, dim: int, change: str = "mean"):
    """The on-manifold fraction ρ = ‖P∇f‖² / ‖∇f‖² of a gradient whose off/on ratio is `ratio`, at one point, to
    first order in the noise norm σ: ρ = 1 / (1 + ratio² κ).

    `change` says what the ratio divides. 'mean' (the chapter's `manifold.on_off_robustness`): the mean change
    |f(x+δ) - f(x)| under noise δ of norm σ drawn uniformly in the normal space (off) and in the tangent space
    (on), so ratio = (c_(D-k) ‖P⊥∇f‖) / (c_k ‖P∇f‖) with c_m = `sphere_abs_mean(m)`, and κ = c_k² / c_(D-k)².
    'rms': root-mean-square changes, i.e. per-direction sensitivities ‖P⊥∇f‖/√(D-k) over ‖P∇f‖/√k, and
    κ = (D - k) / k. The two κ agree for large k and D - k; at k = 2, D = 40 they are 23.9 and 19.
    `ratio` is a number or a tensor of them (one per point; inf gives 0, NaN stays NaN). Introduced in Chapter 7.
    """
    _dims(k, dim, "fraction_from_ratio")
    factor = ratio_kappa(k, dim, change)
    if isinstance(ratio, torch.Tensor):
        if not ratio.is_floating_point():
            checks.fail("fraction_from_ratio", "ratio", "be a number or a float tensor", ratio,
                        error=checks.ArgumentTypeError)
        if (ratio < 0).any():
            checks.fail("fraction_from_ratio", "ratio", "be >= 0 (an off/on ratio)",
                        got=f"a minimum of {ratio.nan_to_num(0).min().item():.3g}")
        return 1 / (1 + ratio.pow(2) * factor)
    ratio = checks.number(ratio, "ratio", "fraction_from_ratio", low=0, finite=False)
    return 0.0 if math.isinf(ratio) else 1 / (1 + ratio ** 2 * factor)


def ratio_from_fraction(fraction, k: int, dim: int, change: str = "mean") -> float:
    """The off/on ratio of a gradient whose on-manifold fraction is `fraction` (a number in (0, 1]), the inverse of
    `fraction_from_ratio`: √((1/ρ - 1) / κ). At the chance level ρ = k / D of a direction with no preference for
    the manifold it is 1 with `change` 'rms' and c_(D-k)√(D-k) / (c_k√k) with 'mean' (0.89 at k = 2, D = 40).
    Introduced in Chapter 7."""
    _dims(k, dim, "ratio_from_fraction")
    fraction = checks.number(fraction, "fraction", "ratio_from_fraction", low=0, high=1, strict=True)
    return math.sqrt((1 / fraction - 1) / ratio_kappa(k, dim, change))


def ratio_spread(k: int, dim: int, n_draws: int) -> float:
    """The relative standard error of an off/on ratio of mean changes measured with `n_draws` noise draws in each
    direction (points times samples per point), for a gradient field with the same on-manifold fraction and norm at
    every point, to first order: √(v / n_draws), v = Σ_(m = k, D-k) (1/m) / c_m² - 1, the squared coefficients
    of variation of |u₁| on the two spheres (0.78 at k = 2, D = 40). Introduced in Chapter 7."""
    _dims(k, dim, "ratio_spread")
    checks.integer(n_draws, "n_draws", "ratio_spread")
    variance = sum(1 / (m * sphere_abs_mean(m) ** 2) - 1 for m in (k, dim - k))
    return math.sqrt(variance / n_draws)


def ratio_rule(k: int, dim: int, n_draws: int, reference: float = None, bar: float = None,
               false_positive_rate: float = 0.05, power: float = 0.8) -> dict:
    """What the rule "a measured off/on ratio below `bar`" can tell, with the ratio's log normal of spread
    `ratio_spread(k, dim, n_draws)` about its true value.

    With no effect the ratio is `reference`: by default the chance ratio `ratio_from_fraction(k / dim, k, dim)` of
    a gradient with no preference for the manifold (exact, so the null spread is the ratio's own); a given
    `reference` is another measured ratio with as many draws (the null spread is √2 times the ratio's). With `bar`
    None the bar is set below the reference so that the rule passes with no effect with probability
    `false_positive_rate`; with a `bar` that rate is computed. Returns dict(reference, spread (of the log ratio
    under the null), bar, false_positive_rate, detectable (the smallest drop of the ratio below the reference that
    the rule catches with probability `power`), power). Introduced in Chapter 7."""
    from statistics import NormalDist
    where = "ratio_rule"
    spread = ratio_spread(k, dim, n_draws)
    if reference is None:
        reference = ratio_from_fraction(k / dim, k, dim)
    else:
        reference = checks.number(reference, "reference", where, low=0, strict=True)
        spread *= math.sqrt(2)
    checks.number(power, "power", where, low=0, high=1, strict=True)
    unit = NormalDist()
    if bar is None:
        rate = checks.number(false_positive_rate, "false_positive_rate", where, low=0, high=1, strict=True)
        bar = reference * math.exp(unit.inv_cdf(rate) * spread)
    else:
        bar = checks.number(bar, "bar", where, low=0, strict=True)
        rate = unit.cdf(math.log(bar / reference) / spread)
    detectable = max(0.0, reference - bar * math.exp(-unit.inv_cdf(power) * spread))
    return dict(reference=reference, spread=spread, bar=bar, false_positive_rate=rate, detectable=detectable,
                power=power)


def chance_gradients(basis: torch.Tensor, fraction: float = None, seed: int = 0) -> torch.Tensor:
    """Gradients (N, D) with on-manifold fraction exactly `fraction` at every point of `basis` (N, D, k):
    √ρ t + √(1 - ρ) n, t a random unit vector of the tangent space, n one of the normal space. The default ρ = k / D
    is the chance level: a field as sensitive off the manifold as on it, direction for direction, which no test
    may call off-manifold robust. Introduced in Chapter 7."""
    from .manifold import project_off
    if not isinstance(basis, torch.Tensor) or basis.dim() != 3 or not basis.is_floating_point():
        checks.fail("chance_gradients", "basis", "be a float tensor (N, D, k) of orthonormal tangent bases", basis,
                    kind=torch.Tensor)
    n, dim, k = basis.shape
    fraction = k / dim if fraction is None else checks.number(fraction, "fraction", "chance_gradients", low=0,
                                                               high=1)
    generator = torch.Generator().manual_seed(seed)
    along = torch.einsum("ndk,nk->nd", basis, torch.randn(n, k, generator=generator, dtype=basis.dtype))
    across = project_off(torch.randn(n, dim, generator=generator, dtype=basis.dtype), basis)
    unit = [v / v.norm(dim=1, keepdim=True).clamp_min(1e-12) for v in (along, across)]
    return math.sqrt(fraction) * unit[0] + math.sqrt(1 - fraction) * unit[1]


def linear_changes(gradients: torch.Tensor, basis: torch.Tensor, sigma: float = 1.0, n_samples: int = 8,
                   seed: int = 0) -> dict:
    """The mean change |gᵀδ| of the linear function with gradient g (one per point, (N, ...)) under noise δ of norm
    `sigma` in the tangent space (on) and in the normal space (off): dict(on=(N,), off=(N,)). The noise is that of
    `manifold.on_off_robustness` with the same `seed` and `n_samples` (for up to 500 points, its batch), so a
    control read with this function sees the draws the models saw. Introduced in Chapter 7."""
    from .manifold import projected_noise
    checks.basis(gradients, basis, "gradients")
    checks.positive(sigma, "sigma", "linear_changes")
    checks.integer(n_samples, "n_samples", "linear_changes")
    generator = torch.Generator().manual_seed(seed)
    flat = gradients.flatten(1)
    changes = {}
    for direction in ("on", "off"):
        total = torch.zeros(len(flat), dtype=flat.dtype)
        for _ in range(n_samples):
            delta = projected_noise(gradients, basis, float(sigma), direction, generator).flatten(1)
            total += (flat * delta).sum(1).abs()
        changes[direction] = total / n_samples
    return changes


def rise_rule(series: list, false_positive_rate: float = 0.05, power: float = 0.8) -> dict:
    """The rule "the mean rises at every step": `series` lists per-point values (each (N,), the same points, NaN
    dropped pairwise) in order; each step's mean paired difference must exceed z(1 - `false_positive_rate`) times
    its standard error over the points. Returns dict(holds, rises (each step's mean difference), spread (the largest
    standard error), false_positive_rate (with no effect at any step, at most the rate of one step),
    detectable (the rise every step needs to pass with probability about `power`), power).
    Introduced in Chapter 7."""
    from statistics import NormalDist
    series = list(series)
    if len(series) < 2 or not all(isinstance(s, torch.Tensor) and s.dim() == 1 for s in series):
        checks.fail("rise_rule", "series", "be a list of at least 2 tensors (N,) of per-point values",
                    got=str([checks.brief(s) for s in series]),
                    error=ValueError if all(isinstance(s, torch.Tensor) for s in series) else checks.ArgumentTypeError)
    rate = checks.number(false_positive_rate, "false_positive_rate", "rise_rule", low=0, high=1, strict=True)
    checks.number(power, "power", "rise_rule", low=0, high=1, strict=True)
    z = NormalDist().inv_cdf(1 - rate)
    rises, errors = [], []
    for before, after in zip(series, series[1:]):
        if before.shape != after.shape:
            checks.fail("rise_rule", "series", "hold the same points in every entry",
                        got=f"shapes {tuple(before.shape)} and {tuple(after.shape)}")
        step = (after - before).double()
        step = step[~torch.isnan(step)]
        if len(step) < 2:
            checks.fail("rise_rule", "series", "have at least 2 points with values on both sides of every step")
        rises.append(step.mean().item())
        errors.append(step.std().item() / math.sqrt(len(step)))
    holds = all(rise > z * error for rise, error in zip(rises, errors))
    spread = max(errors)
    return dict(holds=holds, rises=rises, spread=spread, false_positive_rate=rate,
                detectable=(z + NormalDist().inv_cdf(power)) * spread, power=power)


class ShrunkToUniform(nn.Module):
    """`model` with its predicted probabilities moved a fraction `weight` of the way to uniform:
    `forward(x)` = log((1 - w) softmax(model(x)) + w / C), so softmax(forward(x)) = (1 - w) p(x) + w / C. Every
    change of the probabilities, in every direction, is (1 - w) times the model's, and its gradients point where the
    model's do: a model less sensitive everywhere and no more robust off the manifold than on it.
    Introduced in Chapter 7."""

    def __init__(self, model: nn.Module, weight: float = 0.5):
        super().__init__()
        if not isinstance(model, nn.Module):
            checks.fail("ShrunkToUniform", "model", "be a torch.nn.Module (a classifier)", model,
                        error=checks.ArgumentTypeError)
        self.model = model
        self.weight = checks.number(weight, "weight", "ShrunkToUniform", low=0, high=1, strict=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probabilities = torch.softmax(self.model(x), dim=1)
        return torch.log((1 - self.weight) * probabilities + self.weight / probabilities.shape[1])


# ------------------------------------------------------------------ Chapter 10's sweep, where everything is exact
SWEPT = ("gradient_norm", "noise_consistency", "noise_augmentation", "pgd")  # robust_losses.METHODS' order


@dataclass(frozen=True)
class SweepConfig:
    """What a robustness sweep on the synthetic manifold trains and measures (Chapter 10).

    `strengths`: method (one of `SWEPT`) -> its strengths above 0, increasing (0, the standard model, is added and
    shared by the methods); seeds 0 to `n_seeds` - 1 vote and `selection_seed` picks each sweep's peak; every model
    is an MLP of `width` trained for `epochs` on `n_train` samples drawn with its seed (`classifier`, cached), by
    SGD at the recipe's learning rate for every strength (no division by the strength). The models are measured on
    `n_eval` points drawn with `eval_seed`: on/off-manifold changes under noise of norm `noise_norm` (`n_samples`
    draws) in the exact tangent spaces. `consistency_sigma` is the noise inside the noise-consistency penalty,
    `pgd_steps` the steps of adversarial training. Introduced in Chapter 10."""

    strengths: dict
    n_seeds: int = 5
    selection_seed: int = 5
    n_train: int = 2000
    epochs: int = 20
    width: int = 64
    n_eval: int = 500
    eval_seed: int = 1000
    noise_norm: float = 0.5
    n_samples: int = 8
    consistency_sigma: float = 0.1
    pgd_steps: int = 3

    def __post_init__(self):
        where = "SweepConfig"
        if not isinstance(self.strengths, dict) or not self.strengths or set(self.strengths) - set(SWEPT):
            checks.fail(where, "strengths", f"be a non-empty dict from methods of {SWEPT} to lists of strengths",
                        self.strengths,
                        kind=dict)
        cleaned = {}
        for method, values in self.strengths.items():
            values = [checks.number(v, f"strengths[{method!r}]", where, low=0, strict=True) for v in values]
            if len(values) < 2 or sorted(set(values)) != values:
                checks.fail(where, f"strengths[{method!r}]", "hold at least 2 increasing positive strengths",
                            got=str(values))
            cleaned[method] = tuple(values)
        object.__setattr__(self, "strengths", {m: cleaned[m] for m in SWEPT if m in cleaned})
        for name in ("n_seeds", "n_train", "epochs", "width", "n_eval", "n_samples", "pgd_steps"):
            checks.integer(getattr(self, name), name, where)
        for name in ("selection_seed", "eval_seed"):
            checks.integer(getattr(self, name), name, where, low=0)
        if self.selection_seed < self.n_seeds:
            checks.fail(where, "selection_seed", f"not be a voting seed (0 to {self.n_seeds - 1})",
                        self.selection_seed)
        checks.positive(self.noise_norm, "noise_norm", where)
        checks.positive(self.consistency_sigma, "consistency_sigma", where)

    @property
    def seeds(self) -> list:
        """The voting seeds, then the selection seed."""
        return list(range(self.n_seeds)) + [self.selection_seed]

    def swept(self) -> dict:
        """method -> its strengths from 0 (the standard model)."""
        return {method: [0.0, *values] for method, values in self.strengths.items()}

    def recipe(self, method: str, strength: float, seed: int) -> Recipe:
        """The `train.Recipe` of `method` at `strength` (0: standard training) and `seed`."""
        from ..core.robust_losses import METHODS
        checks.one_of(method, SWEPT, "method", "SweepConfig.recipe")
        if strength == 0:
            return Recipe(self.epochs, seed=seed)
        args = {METHODS[method]["strength"]: float(strength)}
        args.update(dict(noise_consistency=dict(sigma=self.consistency_sigma),
                         pgd=dict(steps=self.pgd_steps)).get(method, {}))
        return Recipe(self.epochs, method, args, seed=seed)


def exact_references(manifold: SyntheticManifold, n: int, seed: int) -> dict:
    """What a model of `manifold` is compared with, exactly, at `n` points drawn (with the data's noise) with `seed`:
    dict(data= (the `Data` set), basis= (the tangent spaces at G(z), (N, D, 2)), bayes= (∇ log p(y | x) of the
    Bayes-optimal classifier at the data's noise σ_n), class_score= (∇ log p_σn(x | y), the class-conditional score
    the paper's Figure 3 compares ∇ f_y with)). Introduced in Chapter 10."""
    checks.integer(n, "n", "exact_references")
    data, z = manifold.sample(n, seed=seed)
    _, class_means = manifold.class_log_likelihoods(data.x)
    own = class_means[torch.arange(n), data.y]
    class_score = ((own - data.x.flatten(1).double()) / manifold.noise ** 2).to(data.x.dtype).view_as(data.x)
    return dict(data=data, basis=manifold.tangent_basis(z), bayes=manifold.bayes_gradient(data.x, data.y),
                class_score=class_score)


def measure_exact(model, references: dict, train_data: Data, noise_norm: float, n_samples: int = 8) -> dict:
    """One model of a sweep, measured where everything is exact (`references` from `exact_references`):

    accuracy (at the reference points), on / off (mean L1 change of the softmax under noise of norm `noise_norm`
    in the exact tangent / normal spaces, `manifold.on_off_robustness`), on_fraction (of ∇ log p(y|x)'s squared
    norm in the tangent spaces), cosine (of ∇ log p(y | x) with the Bayes-optimal one), logit_cosine (of the label
    logit's gradient ∇ f_y with the Bayes-optimal ∇ log p(y | x)), class_cosine (of ∇ f_y with the class-conditional
    score, the paper's comparison) and train_loss / train_accuracy (clean cross-entropy and accuracy on
    `train_data`, the model's own training set). A model with non-finite weights gives NaN. Introduced in
    Chapter 10."""
    import torch.nn.functional as F
    from .alignment import cosine_alignment, label_logit_gradient
    from ..core.gradients import input_gradient
    from .manifold import on_manifold_fraction, on_off_robustness
    data, basis = references["data"], references["basis"]
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        return dict.fromkeys(("accuracy", "on", "off", "on_fraction", "cosine", "logit_cosine", "class_cosine",
                              "train_loss", "train_accuracy"), math.nan)
    with torch.no_grad():
        logits, train_logits = model(data.x), model(train_data.x)
    grad, logit_grad = input_gradient(model, data.x, data.y), label_logit_gradient(model, data.x, data.y)
    change = on_off_robustness(model, data.x, basis, noise_norm, n_samples=n_samples)
    return dict(accuracy=(logits.argmax(1) == data.y).float().mean().item(), on=change["on"].mean().item(),
                off=change["off"].mean().item(), on_fraction=on_manifold_fraction(grad, basis).nanmean().item(),
                cosine=cosine_alignment(grad, references["bayes"]).mean().item(),
                logit_cosine=cosine_alignment(logit_grad, references["bayes"]).mean().item(),
                class_cosine=cosine_alignment(logit_grad, references["class_score"]).mean().item(),
                train_loss=F.cross_entropy(train_logits, train_data.y).item(),
                train_accuracy=(train_logits.argmax(1) == train_data.y).float().mean().item())


def robustness_sweep(manifold: SyntheticManifold, config: SweepConfig, show_progress: bool = True) -> dict:
    """Chapter 10's protocol on `manifold`: every method of `config` at every strength and seed trained
    (`classifier`, cached; the standard model once per seed) and measured by `measure_exact`.

    Returns dict(strengths= (method -> its strengths from 0), measures= ((method, strength, seed) -> the
    `measure_exact` dict; strength 0 is the standard model, the same dict under every method), references=
    (`exact_references`)). Introduced in Chapter 10."""
    from ..core.progress import progress
    if not isinstance(manifold, SyntheticManifold):
        checks.fail("robustness_sweep", "manifold", "be a SyntheticManifold", manifold, error=checks.ArgumentTypeError)
    if not isinstance(config, SweepConfig):
        checks.fail("robustness_sweep", "config", "be a synthetic.SweepConfig", config, error=checks.ArgumentTypeError)
    references = exact_references(manifold, config.n_eval, config.eval_seed)
    swept = config.swept()
    first = next(iter(swept))
    points = [(m, s) for m, values in swept.items() for s in values if s or m == first]
    measures = {}
    for (method, s), seed in progress([(p, seed) for p in points for seed in config.seeds], desc="synthetic models",
                                      disable=not show_progress):
        model = classifier(manifold, config.recipe(method, s, seed), n_train=config.n_train, width=config.width,
                           show_progress=False)
        train_data = manifold.sample(config.n_train, seed=seed)[0]
        measures[method, s, seed] = measure_exact(model, references, train_data, config.noise_norm,
                                                  config.n_samples)
    for method in swept:  # the standard model under every method's name
        for seed in config.seeds:
            measures[method, 0.0, seed] = measures[first, 0.0, seed]
    return dict(strengths=swept, measures=measures, references=references)


def read_robustness_sweep(sweep: dict, config: SweepConfig, metric: str = "cosine", on_kept: float = 0.5,
                          accuracy_drop: float = 0.05, margin: float = 0.1) -> dict:
    """Every method of a `robustness_sweep` read by `alignment.read_sweep`: method -> dict(summaries, regimes,
    claim, failed). A strength failed when any of its seeds collapsed (`alignment.collapsed` with `margin`:
    diverged, or training accuracy within `margin` of chance). Introduced in Chapter 10."""
    from .alignment import collapsed, read_sweep
    out = {}
    for method, values in sweep["strengths"].items():
        rows = [[sweep["measures"][method, s, seed] for seed in config.seeds] for s in values]
        failed = [any(collapsed(r["train_loss"], r["train_accuracy"], len(CLASSES), margin) for r in seeds)
                  for seeds in rows]
        voting = [seeds[:config.n_seeds] for seeds in rows]
        selection = [seeds[config.n_seeds] for seeds in rows]
        out[method] = dict(read_sweep(values, voting, selection, failed, metric, on_kept, accuracy_drop),
                           failed=failed)
    return out


def standard_control(manifold: SyntheticManifold, config: SweepConfig, references: dict = None,
                     n_strengths: int = None, first_seed: int = 100) -> dict:
    """The control of the sweep's claim: a "sweep" in which every strength is standard training, each with its own
    seeds (`first_seed` on, none shared with the sweep), so the answer is known: no strength is better aligned
    than another, and the rule must not say "holds". `n_strengths` (default: the most of any method, 0 included)
    pseudo-strengths 0, 1, 2, ...; read by `alignment.read_sweep` like a method. Returns its dict(summaries,
    regimes, claim) with strengths=. Introduced in Chapter 10."""
    from .alignment import read_sweep
    if not isinstance(config, SweepConfig):
        checks.fail("standard_control", "config", "be a synthetic.SweepConfig", config, error=checks.ArgumentTypeError)
    references = references or exact_references(manifold, config.n_eval, config.eval_seed)
    n_strengths = n_strengths or 1 + max(len(v) for v in config.strengths.values())
    checks.integer(n_strengths, "n_strengths", "standard_control", low=3)
    checks.integer(first_seed, "first_seed", "standard_control", low=config.selection_seed + 1)
    per_seed = len(config.seeds)
    rows = []
    for i in range(n_strengths):
        row = []
        for j in range(per_seed):
            seed = first_seed + i * per_seed + j
            model = classifier(manifold, config.recipe(SWEPT[0], 0.0, seed), n_train=config.n_train,
                               width=config.width, show_progress=False)
            row.append(measure_exact(model, references, manifold.sample(config.n_train, seed=seed)[0],
                                     config.noise_norm, config.n_samples))
        rows.append(row)
    strengths = [float(i) for i in range(n_strengths)]
    result = read_sweep(strengths, [r[:config.n_seeds] for r in rows], [r[config.n_seeds] for r in rows],
                        [False] * n_strengths)
    return dict(result, strengths=strengths)


def claim_sentence(method: str, strengths, reading: dict, outcome: str) -> str:
    """One method's reading on the synthetic manifold (a `read_robustness_sweep` entry) and the claim's `outcome`,
    as one markdown sentence: the regimes, the collapsed strengths, the peak's alignment against strength 0's and the
    strongest trained strength's (mean and the seeds' range), both margins and the detectable shift.
    Introduced in Chapter 10."""
    from ..core.robust_losses import METHODS
    checks.one_of(method, SWEPT, "method", "claim_sentence")
    strengths = [float(s) for s in strengths]
    summaries, labels, c = reading["summaries"], reading["regimes"], reading["claim"]
    if len(summaries) != len(strengths) or len(labels) != len(strengths):
        checks.fail("claim_sentence", "reading", f"hold one summary and one regime per strength ({len(strengths)})",
                    got=f"{len(summaries)} and {len(labels)}")
    regimes_text = ", ".join(f"{s:g} {r}" for s, r in zip(strengths, labels))
    head = f"**{METHODS[method]['label']}** ({regimes_text}): "
    if c["holds"] is None:
        return head + f"fewer than three strengths trained: untested, the claim **{outcome}**."

    def at(s):
        row = summaries[strengths.index(s)]["cosine"]
        return f"{row['mean']:.3f} [{row['min']:.3f}, {row['max']:.3f}]"
    return head + (f"the selection seed peaks at {c['peak']:g}, alignment {at(c['peak'])}, against {at(0.0)} at 0 "
                   f"(rise margin {c['rise_margin']:+.3f}) and {at(c['strongest'])} at {c['strongest']:g}, the "
                   f"strongest trained (fall margin {c['fall_margin']:+.3f}); a shift of {c['detectable']:.3f} is "
                   f"detected with 80% probability: the claim **{outcome}**.")
