"""The robust Gaussian model of Ilyas et al. (2019, Section 4), in closed form and by simulation.

The data: a label y uniform in {-1, +1} and an input x ~ N(y μ*, Σ*) in R^d. A model (μ, Σ) is fitted by
maximum likelihood, and classifies with the sign of its log-odds, the linear rule C(x) = sgn(wᵀx + b) with
w = 2 Σ⁻¹ μ, b = 0. Every function works in float64 on the CPU and checks its arguments.

Losses and adversaries. q(x, y; μ, Σ) = (x - yμ)ᵀ Σ⁻¹ (x - yμ) is twice the Gaussian negative log-likelihood
(NLL) less log det Σ and a constant. The "Lagrangian-penalty" adversary of the paper's Theorem 1 maximises
q(x + δ) - λ ‖δ‖₂² (the NLL with penalty (λ/2)‖δ‖²), a concave problem when λ > 1/σ_min(Σ), solved by
δ* = (λΣ - I)⁻¹ (x - yμ) (`worst_case_perturbation`). (The paper writes the penalty as C‖δ‖₂; its closed
forms below are those of the squared penalty, which is what is implemented.)

- Theorem 1 (`vulnerability_gap`): for the standard MLE (μ*, Σ*) and this adversary with λ = C,
  E[q(x + δ*)] - E[q(x)] = tr[(I + (CΣ* - I)⁻¹)²] - d; for fixed tr Σ* it is smallest when Σ* ∝ I.
  Monte-Carlo: `adversarial_loss_gap`.
- Theorem 2 (`robust_covariance`): the robust MLE, argmin over (μ, Σ) of E[max_δ q(x + δ) - λ‖δ‖² + log det Σ],
  is μ_r = μ* and  Σ_r = ½ Σ* + (1/λ) I + (Σ*/λ + ¼ Σ*²)^½  (the matrix square root; all three terms share
  Σ*'s eigenvectors). The paper bounds λ in terms of the budget ε but does not fix it; here λ is set by ε
  exactly as the multiplier of an adversary whose *mean* squared budget is E‖δ‖² ≤ ε²: the saddle point of
  min_Σ max_{E‖δ‖²≤ε²} E[q(x + δ) + log det Σ] is Σ_r(λ) with λ solving tr[(λΣ_r(λ) - I)⁻² Σ*] = ε², found by
  bisection on log λ (`robust_multiplier`). The left side falls from ∞ (λ → 0) to 0 (λ → ∞), so every
  ε ≥ 0 has one λ; ε → 0 gives λ → ∞ and Σ_r → Σ*, while a large ε gives Σ_r ≈ (1/λ) I ≈ (ε²/d) I. Monte-Carlo: `robust_mle`, adversarial training on
  samples (attack every sample, refit the MLE to the attacked samples, repeat to the fixed point).
- The classifier's error under a per-example L2 attack of radius ε (`robust_error`): for a linear rule the
  worst case moves x by -ε y w/‖w‖, so the error is the mean over y of Φ((ε‖w‖ - y b - wᵀμ*)/(wᵀΣ*w)^½).
  Monte-Carlo: `empirical_robust_error`.
- Theorem 3 (`gradient_alignment`, `worst_case_alignment`): the input gradient of a classifier that is
  monotone in wᵀx + b points along w; its cosine with the inter-class direction μ, and the worst case over μ,
  2√κ/(1+κ) for κ the condition number of Σ (Kantorovich's inequality), which is larger for Σ_r than Σ*.
  Monte-Carlo: `classifier_gradient` (autograd of the log-odds at sampled inputs).

Public functions:
  example_model(dim=2, condition=100.0, snr=1.0) -> (mu_star, sigma_star)
  sample(n, mu, sigma, seed=0) -> (x, y)
  nll(x, y, mu, sigma) -> (N,) tensor
  mle(x, y) -> (mu, sigma)
  worst_case_perturbation(x, y, mu, sigma, lam) -> delta
  vulnerability_gap(sigma_star, C) -> float                      Theorem 1, closed form
  adversarial_loss_gap(x, y, mu, sigma, C) -> float              Theorem 1, Monte-Carlo
  robust_covariance(sigma_star, lam) -> sigma_r                  Theorem 2, closed form for a given λ
  adversary_budget(sigma_star, lam) -> eps                       ε(λ) = tr[(λΣ_r - I)⁻² Σ*]^½
  robust_multiplier(sigma_star, eps) -> lam                      λ(ε) by bisection
  robust_parameters(mu_star, sigma_star, eps) -> (mu_r, sigma_r, lam)
  robust_mle(x, y, eps, iters=500, tol=1e-7) -> (mu, sigma, lam)   Theorem 2, Monte-Carlo
  linear_classifier(mu, sigma) -> (w, b)
  robust_error(w, b, mu_star, sigma_star, eps) -> float
  empirical_robust_error(w, b, x, y, eps) -> float
  classifier_gradient(mu, sigma, x) -> (N, d) tensor
  gradient_alignment(grad, mu) -> tensor of cosines
  worst_case_alignment(sigma) -> float                           Theorem 3
  condition_number(sigma) -> float
  comparison(metric, closed, simulated, note="") -> dict          a results row, MC beside closed form
Figures (matplotlib):
  covariance_ellipse(ax, mean, sigma, n_std=2.0, **style)
  plot_panel(ax, mu_star, sigma_star, eps, x=None, y=None, sigma_mc=None)
  robust_covariance_panels(mu_star, sigma_star, eps_list, x=None, y=None, sigma_mc=None) -> fig
  eps_curves(mu_star, sigma_star, eps_grid) -> fig
"""
import math

import torch

from ..core import checks

DTYPE = torch.float64
_SYMMETRY_TOL = 1e-8


# ---------------------------------------------------------------------------------------------- checks
def _as_tensor(value, name, dims, where=None):
    try:
        t = torch.as_tensor(value, dtype=DTYPE)
    except (TypeError, ValueError, RuntimeError):
        t = None
    if t is None:
        checks.fail(where, name, f"be a real {dims}-d tensor", value, error=checks.ArgumentTypeError)
    if t.dim() != dims or t.numel() == 0 or not torch.isfinite(t).all():
        checks.fail(where, name, f"be a finite, non-empty {dims}-d tensor", got=f"shape {tuple(t.shape)}")
    return t.cpu()


def _check_vector(value, name, dim=None, where=None):
    v = _as_tensor(value, name, 1, where)
    if dim is not None and v.shape[0] != dim:
        checks.fail(where, name, f"have {dim} entries to match the covariance", got=f"shape {tuple(v.shape)}")
    return v


def _check_covariance(value, name, dim=None, where=None):
    """A symmetric positive-definite (d, d) float64 matrix, or ValueError naming `where` and `name`."""
    s = _as_tensor(value, name, 2, where)
    if s.shape[0] != s.shape[1]:
        checks.fail(where, name, "be a square (d, d) matrix", got=f"shape {tuple(s.shape)}")
    if dim is not None and s.shape[0] != dim:
        checks.fail(where, name, f"be ({dim}, {dim}) to match the mean", got=f"shape {tuple(s.shape)}")
    asymmetry = (s - s.T).abs().max()
    if asymmetry > _SYMMETRY_TOL * max(1.0, s.abs().max().item()):
        checks.fail(where, name, "be symmetric",
                    got=f"a matrix whose largest |s - sᵀ| entry is {asymmetry.item():.3g}")
    smallest = torch.linalg.eigvalsh(s)[0].item()
    if smallest <= 0:
        checks.fail(where, name, "be positive definite (a covariance)", got=f"a smallest eigenvalue of {smallest:.3g}")
    return (s + s.T) / 2


def _check_model(mu, sigma, names=("mu", "sigma"), where=None):
    mu = _as_tensor(mu, names[0], 1, where)
    return mu, _check_covariance(sigma, names[1], mu.shape[0], where)


def _check_samples(x, y, dim=None, where=None):
    x = _as_tensor(x, "x", 2, where)
    if dim is not None and x.shape[1] != dim:
        checks.fail(where, "x", f"have {dim} columns to match the model", got=f"shape {tuple(x.shape)}")
    y = _as_tensor(y, "y", 1, where)
    if y.shape[0] != x.shape[0]:
        checks.fail(where, "y", f"have one label per row of x ({x.shape[0]})", got=f"shape {tuple(y.shape)}")
    if not ((y == 1) | (y == -1)).all():
        checks.fail(where, "y", "hold labels in {-1, +1}", got=f"values in [{y.min().item():g}, {y.max().item():g}]")
    return x, y


# ---------------------------------------------------------------------------------------------- the model
def example_model(dim: int = 2, condition: float = 100.0, snr: float = 1.0):
    """(μ*, Σ*) with diagonal Σ* whose variances fall log-evenly from 1 to 1/`condition`, and μ*_i = snr·σ_i.

    Every coordinate is then equally useful (the same signal-to-noise ratio μ_i/σ_i), but the low-variance
    ones are non-robust: a perturbation of size σ_i, small when σ_i is, moves them by a full standard deviation.
    Introduced in Chapter 2.
    """
    where = "example_model"
    checks.integer(dim, "dim", where)
    checks.number(condition, "condition", where, low=1.0)
    checks.number(snr, "snr", where, strict=True, low=0.0)
    variances = torch.logspace(0, -math.log10(condition), dim, dtype=DTYPE) if dim > 1 else torch.ones(1, dtype=DTYPE)
    return snr * variances.sqrt(), torch.diag(variances)


def sample(n: int, mu, sigma, seed: int = 0):
    """(x, y): `n` draws with y uniform in {-1, +1} (float64) and x ~ N(y μ, Σ), from a seeded generator.
    Introduced in Chapter 2."""
    checks.integer(n, "n", "sample")
    mu, sigma = _check_model(mu, sigma, where="sample")
    generator = torch.Generator().manual_seed(seed)
    y = 2.0 * torch.randint(2, (n,), generator=generator, dtype=DTYPE) - 1.0
    noise = torch.randn(n, mu.shape[0], generator=generator, dtype=DTYPE) @ torch.linalg.cholesky(sigma).T
    return y[:, None] * mu + noise, y


def nll(x, y, mu, sigma):
    """The Gaussian negative log-likelihood -log N(x; yμ, Σ) of every sample: a (N,) tensor. Introduced in Chapter 2."""
    mu, sigma = _check_model(mu, sigma, where="nll")
    x, y = _check_samples(x, y, mu.shape[0], where="nll")
    v = x - y[:, None] * mu
    quadratic = (v * torch.linalg.solve(sigma, v.T).T).sum(1)
    return 0.5 * (quadratic + torch.logdet(sigma) + mu.shape[0] * math.log(2 * math.pi))


def mle(x, y):
    """The maximum-likelihood (μ, Σ) from samples: μ = mean of y·x, Σ = mean of (x - yμ)(x - yμ)ᵀ.

    In the population limit these are exactly (μ*, Σ*): standard training learns the data's own covariance.
    Introduced in Chapter 2.
    """
    return _mle(*_check_samples(x, y, where="mle"))


def _mle(x, y):
    mu = (y[:, None] * x).mean(0)
    v = x - y[:, None] * mu
    return mu, v.T @ v / len(x)


# ---------------------------------------------------------------------------------------------- Theorem 1
def worst_case_perturbation(x, y, mu, sigma, lam: float):
    """δ* = (λΣ - I)⁻¹ (x - yμ), the maximiser of q(x + δ) - λ‖δ‖² for the model (μ, Σ); needs λ > 1/σ_min(Σ).
    Introduced in Chapter 2."""
    where = "worst_case_perturbation"
    mu, sigma = _check_model(mu, sigma, where=where)
    x, y = _check_samples(x, y, mu.shape[0], where=where)
    smallest = torch.linalg.eigvalsh(sigma)[0].item()
    checks.number(lam, "lam", where, low=1.0 / smallest, strict=True, finite=False)
    v = x - y[:, None] * mu
    return torch.linalg.solve(lam * sigma - torch.eye(len(mu), dtype=DTYPE), v.T).T


def vulnerability_gap(sigma_star, C: float) -> float:
    """Theorem 1: tr[(I + (CΣ* - I)⁻¹)²] - d, the rise of E[q] (twice the NLL) that the penalty-C adversary
    causes for the standard MLE. Needs C > 1/σ_min(Σ*). Introduced in Chapter 2."""
    sigma_star = _check_covariance(sigma_star, "sigma_star", where="vulnerability_gap")
    variances = torch.linalg.eigvalsh(sigma_star)
    checks.number(C, "C", "vulnerability_gap", low=1.0 / variances[0].item(), strict=True, finite=False)
    return ((1 + 1 / (C * variances - 1)) ** 2 - 1).sum().item()


def adversarial_loss_gap(x, y, mu, sigma, C: float) -> float:
    """Monte-Carlo Theorem 1: mean over samples of q(x + δ*) - q(x) for the model (μ, Σ), i.e. twice the
    rise of the mean NLL under the penalty-C adversary. Introduced in Chapter 2."""
    delta = worst_case_perturbation(x, y, mu, sigma, C)
    return 2 * (nll(x + delta, y, mu, sigma) - nll(x, y, mu, sigma)).mean().item()


# ---------------------------------------------------------------------------------------------- Theorem 2
def _robust_variances(variances, lam):
    if math.isinf(lam):
        return variances.clone()
    return variances / 2 + 1 / lam + torch.sqrt(variances / lam + variances ** 2 / 4)


def robust_covariance(sigma_star, lam: float):
    """Theorem 2: Σ_r = ½Σ* + (1/λ)I + (Σ*/λ + ¼Σ*²)^½ for the multiplier λ > 0 (λ = inf gives Σ*).
    Introduced in Chapter 2."""
    sigma_star = _check_covariance(sigma_star, "sigma_star", where="robust_covariance")
    checks.number(lam, "lam", "robust_covariance", strict=True, low=0.0, finite=False)
    variances, basis = torch.linalg.eigh(sigma_star)
    return basis @ torch.diag(_robust_variances(variances, lam)) @ basis.T


def _budget(variances, lam):
    """tr[(λΣ_r - I)⁻² Σ*]^½ in Σ*'s eigenbasis: with t = λσ, λσ_r - 1 = √t (√t/2 + √(1 + t/4)), so each
    eigen-direction contributes 1/(λ (√t/2 + √(1 + t/4))²)."""
    t = lam * variances
    a = torch.sqrt(t) / 2 + torch.sqrt(1 + t / 4)
    return (1 / (lam * a ** 2)).sum().sqrt().item()


def adversary_budget(sigma_star, lam: float) -> float:
    """ε(λ): the root-mean-square size E[‖δ*‖²]^½ of the adversary's perturbation at the robust solution Σ_r(λ).
    Introduced in Chapter 2."""
    sigma_star = _check_covariance(sigma_star, "sigma_star", where="adversary_budget")
    checks.number(lam, "lam", "adversary_budget", strict=True, low=0.0, finite=False)
    return 0.0 if math.isinf(lam) else _budget(torch.linalg.eigvalsh(sigma_star), lam)


def _solve_decreasing(f, target, start=1.0, iters=80):
    """The u > 0 with f(u) = target for a continuous f falling from above target to below it (bisection on log u)."""
    lo = hi = start
    while f(lo) < target:
        lo /= 10
    while f(hi) > target:
        hi *= 10
    lo, hi = math.log(lo), math.log(hi)
    for _ in range(iters):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(math.exp(mid)) > target else (lo, mid)
    return math.exp((lo + hi) / 2)


def robust_multiplier(sigma_star, eps: float) -> float:
    """λ(ε): the λ with adversary_budget(Σ*, λ) = ε, by bisection on log λ; inf for ε = 0.

    ε(λ) falls from ∞ (λ → 0) to 0 (λ → ∞), so every ε ≥ 0 has exactly one λ. Introduced in Chapter 2."""
    sigma_star = _check_covariance(sigma_star, "sigma_star", where="robust_multiplier")
    variances = torch.linalg.eigvalsh(sigma_star)
    eps = checks.number(eps, "eps", "robust_multiplier", low=0.0)
    if eps == 0:
        return math.inf
    return _solve_decreasing(lambda lam: _budget(variances, lam), eps, start=1.0 / variances.mean().item())


def robust_parameters(mu_star, sigma_star, eps: float):
    """(μ_r, Σ_r, λ): the population robust MLE of Theorem 2 at budget ε (μ_r = μ*). Introduced in Chapter 2."""
    mu_star, sigma_star = _check_model(mu_star, sigma_star, ("mu_star", "sigma_star"), "robust_parameters")
    lam = robust_multiplier(sigma_star, eps)
    return mu_star.clone(), robust_covariance(sigma_star, lam), lam


def _attack_multiplier(v, sigma, eps):
    """The λ > 1/σ_min(Σ) at which the samples' mean ‖(λΣ - I)⁻¹ v‖² is ε² (bisection), and Σ's eigen-pairs."""
    variances, basis = torch.linalg.eigh(sigma)
    z2 = (v @ basis).pow(2).mean(0).tolist()
    ratios = (variances / variances[0]).tolist()
    mean_sq = lambda t: sum(z / ((1 + t) * r - 1) ** 2 for z, r in zip(z2, ratios))
    return (1 + _solve_decreasing(mean_sq, eps ** 2)) / variances[0].item(), variances, basis


def robust_mle(x, y, eps: float, iters: int = 500, tol: float = 1e-7):
    """Monte-Carlo Theorem 2 by adversarial training on samples: (μ, Σ, λ) at the fixed point of
    attack (δ = (λΣ - I)⁻¹(x - yμ), λ set so that the samples' mean ‖δ‖² is ε²) then refit `mle` to x + δ.

    The fixed point is the saddle point of min_(μ,Σ) max_{mean‖δ‖²≤ε²} of the samples' mean NLL (Danskin:
    the gradient in Σ⁻¹ at the inner maximiser vanishes exactly when Σ is the covariance of the attacked data).
    The plain refit overshoots and oscillates, since along an eigen-direction with g = λσ - 1 the map has slope
    -2/g for Σ (and -1/g for μ); each step therefore moves Σ, in its eigenbasis, the fraction g/(g + 2) of the
    way to the refit (entry (i, j) by the geometric mean of the two fractions), and μ the fraction g/(g + 1),
    which cancels those slopes (λ's own feedback still makes it take tens to a few hundred steps).
    Stops when Σ changes by less than `tol` (relative, Frobenius norm) in a step.
    Introduced in Chapter 2.
    """
    where = "robust_mle"
    x, y = _check_samples(x, y, where=where)
    eps = checks.number(eps, "eps", where, low=0.0)
    checks.integer(iters, "iters", where)
    mu, sigma = _mle(x, y)
    if eps == 0:
        return mu, sigma, math.inf
    for _ in range(iters):
        v = x - y[:, None] * mu
        lam, variances, basis = _attack_multiplier(v, sigma, eps)
        delta = torch.linalg.solve(lam * sigma - torch.eye(len(mu), dtype=DTYPE), v.T).T  # worst_case_perturbation
        refit_mu, refit_sigma = _mle(x + delta, y)
        g = lam * variances - 1
        step_sigma, step_mu = g / (g + 2), g / (g + 1)
        inner = basis.T @ (refit_sigma - sigma) @ basis * torch.outer(step_sigma, step_sigma).sqrt()
        new_sigma = sigma + basis @ inner @ basis.T
        change = ((new_sigma - sigma).norm() / sigma.norm()).item()
        mu = mu + basis @ (step_mu * (basis.T @ (refit_mu - mu)))
        sigma = (new_sigma + new_sigma.T) / 2
        if change < tol:
            break
    return mu, sigma, lam


# ---------------------------------------------------------------------------------------------- classifiers
def linear_classifier(mu, sigma):
    """(w, b) of the model's Bayes rule sgn(wᵀx + b): the log-odds 2μᵀΣ⁻¹x, so w = 2Σ⁻¹μ and b = 0.
    Introduced in Chapter 2."""
    mu, sigma = _check_model(mu, sigma, where="linear_classifier")
    return 2 * torch.linalg.solve(sigma, mu), 0.0


def _check_linear(w, b, where=None):
    w = _check_vector(w, "w", where=where)
    if w.norm() == 0:
        checks.fail(where, "w", "be non-zero", got="a zero vector")
    return w, checks.number(b, "b", where, low=-math.inf)


def robust_error(w, b, mu_star, sigma_star, eps: float) -> float:
    """The error of sgn(wᵀx + b) on the model (μ*, Σ*) when every input may move by ‖δ‖₂ ≤ ε (worst case,
    δ = -ε y w/‖w‖): the mean over y = ±1 of Φ((ε‖w‖ - y b - wᵀμ*)/(wᵀΣ*w)^½). ε = 0 is the clean error.
    Introduced in Chapter 2."""
    where = "robust_error"
    w, b = _check_linear(w, b, where)
    mu_star, sigma_star = _check_model(mu_star, sigma_star, ("mu_star", "sigma_star"), where)
    _check_vector(w, "w", len(mu_star), where)
    eps = checks.number(eps, "eps", where, low=0.0)
    spread = torch.sqrt(w @ sigma_star @ w)
    normal = torch.distributions.Normal(torch.zeros((), dtype=DTYPE), torch.ones((), dtype=DTYPE))
    errors = [normal.cdf((eps * w.norm() - label * b - w @ mu_star) / spread) for label in (1, -1)]
    return (sum(errors) / 2).item()


def empirical_robust_error(w, b, x, y, eps: float) -> float:
    """Monte-Carlo `robust_error`: the fraction of samples misclassified after the move x - ε y w/‖w‖.
    Introduced in Chapter 2."""
    where = "empirical_robust_error"
    w, b = _check_linear(w, b, where)
    x, y = _check_samples(x, y, len(w), where)
    eps = checks.number(eps, "eps", where, low=0.0)
    attacked = x - eps * y[:, None] * w / w.norm()
    return (torch.sign(attacked @ w + b) != y).double().mean().item()


# ---------------------------------------------------------------------------------------------- Theorem 3
def classifier_gradient(mu, sigma, x):
    """∇ₓ of the model's log-odds log N(x; μ, Σ) - log N(x; -μ, Σ) at every row of x, by autograd through the
    two Gaussian log-densities (analytically 2Σ⁻¹μ at every x: the classifier is linear). Introduced in Chapter 2."""
    where = "classifier_gradient"
    mu, sigma = _check_model(mu, sigma, where=where)
    x = _as_tensor(x, "x", 2, where)
    if x.shape[1] != len(mu):
        checks.fail(where, "x", f"have {len(mu)} columns to match the model", got=f"shape {tuple(x.shape)}")
    x = x.clone().requires_grad_(True)
    ones = torch.ones(len(x), dtype=DTYPE)
    (nll(x, -ones, mu, sigma) - nll(x, ones, mu, sigma)).sum().backward()
    return x.grad


def gradient_alignment(grad, mu):
    """The cosine between gradient(s) `grad` ((d,) or (N, d)) and the inter-class direction(s) `mu` (broadcast).
    Introduced in Chapter 2."""
    grad = torch.as_tensor(grad, dtype=DTYPE)
    mu = torch.as_tensor(mu, dtype=DTYPE)
    if grad.dim() not in (1, 2) or mu.dim() not in (1, 2) or grad.shape[-1] != mu.shape[-1]:
        checks.fail("gradient_alignment", "grad and mu", "be (d,) or (N, d) with the same d",
                    got=f"{tuple(grad.shape)} and {tuple(mu.shape)}")
    return torch.nn.functional.cosine_similarity(grad, mu, dim=-1)


def condition_number(sigma) -> float:
    """σ_max/σ_min of a covariance. Introduced in Chapter 2."""
    variances = torch.linalg.eigvalsh(_check_covariance(sigma, "sigma", where="condition_number"))
    return (variances[-1] / variances[0]).item()


def worst_case_alignment(sigma) -> float:
    """Theorem 3's quantity min over μ of cos(Σ⁻¹μ, μ) = 2√κ/(1 + κ), κ = condition_number(Σ).
    Introduced in Chapter 2."""
    kappa = condition_number(sigma)
    return 2 * math.sqrt(kappa) / (1 + kappa)


# ---------------------------------------------------------------------------------------------- figures
STYLE = dict(data=dict(color="black", lw=1.5, label="data Σ* (= standard MLE)"),
             robust=dict(color="tab:red", lw=2, label="robust Σ_r (Theorem 2)"),
             mc=dict(color="tab:orange", lw=1.5, ls=":", label="robust, adversarial training"),
             standard_boundary=dict(color="tab:blue", lw=1.5, ls="--", label="standard boundary"),
             robust_boundary=dict(color="tab:red", lw=1.5, ls="--", label="robust boundary"))


def covariance_ellipse(ax, mean, sigma, n_std: float = 2.0, **style):
    """Draw the `n_std`-standard-deviation ellipse of a 2-D Gaussian on `ax`. Introduced in Chapter 2."""
    from matplotlib.patches import Ellipse
    sigma = _check_covariance(sigma, "sigma", 2, "covariance_ellipse")
    variances, basis = torch.linalg.eigh(sigma)
    angle = math.degrees(math.atan2(basis[1, 1].item(), basis[0, 1].item()))
    width, height = (2 * n_std * variances.flip(0).sqrt()).tolist()
    ax.add_patch(Ellipse(tuple(torch.as_tensor(mean, dtype=DTYPE).tolist()), width, height, angle=angle,
                         fill=False, **style))


def _boundary(ax, w, extent, **style):
    """The line wᵀx = 0 across the box ±extent."""
    direction = torch.stack([-w[1], w[0]]) / w.norm()
    ends = torch.stack([-direction, direction]) * 2 * max(extent)
    ax.plot(ends[:, 0], ends[:, 1], **style)


def plot_panel(ax, mu_star, sigma_star, eps: float, x=None, y=None, sigma_mc=None, extent=(3.2, 1.6)):
    """One 2-D panel: samples, the data covariance and the robust one at ±μ*, and both decision boundaries.
    Introduced in Chapter 2."""
    where = "plot_panel"
    mu_star, sigma_star = _check_model(mu_star, sigma_star, ("mu_star", "sigma_star"), where)
    if len(mu_star) != 2:
        checks.fail(where, "mu_star", "have 2 entries (plot_panel draws 2-D models)",
                    got=f"shape {tuple(mu_star.shape)}")
    _, sigma_r, lam = robust_parameters(mu_star, sigma_star, eps)
    if x is not None:
        x, y = _check_samples(x, y, 2, where)
        ax.scatter(x[:, 0], x[:, 1], c=["tab:green" if label > 0 else "tab:purple" for label in y],
                   s=3, alpha=0.25, linewidths=0)
    for sign in (1, -1):
        labelled = sign == 1
        covariance_ellipse(ax, sign * mu_star, sigma_star, **_label(STYLE["data"], labelled))
        covariance_ellipse(ax, sign * mu_star, sigma_r, **_label(STYLE["robust"], labelled))
        if sigma_mc is not None:
            covariance_ellipse(ax, sign * mu_star, sigma_mc, **_label(STYLE["mc"], labelled))
    _boundary(ax, linear_classifier(mu_star, sigma_star)[0], extent, **STYLE["standard_boundary"])
    _boundary(ax, linear_classifier(mu_star, sigma_r)[0], extent, **STYLE["robust_boundary"])
    ax.set_xlim(-extent[0], extent[0])
    ax.set_ylim(-extent[1], extent[1])
    ax.set_aspect("equal")
    ax.set_title(f"ε = {eps:g}" + ("" if math.isinf(lam) else f"  (1/λ = {1 / lam:.3g})"))
    ax.set_xlabel("x₁ (robust feature)")
    return ax


def _label(style, keep):
    return style if keep else {k: v for k, v in style.items() if k != "label"}


def robust_covariance_panels(mu_star, sigma_star, eps_list, x=None, y=None, sigma_mc=None):
    """`plot_panel`s, one per ε, two to a row (`sigma_mc`: optional list of sample-based robust covariances),
    drawn for the page (7 inches wide). Introduced in Chapter 2."""
    import matplotlib.pyplot as plt
    columns = min(2, len(eps_list))
    rows = -(-len(eps_list) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(7, 2.6 * rows), squeeze=False)
    for i, (ax, eps) in enumerate(zip(axes.flat, eps_list)):
        plot_panel(ax, mu_star, sigma_star, eps, x, y, None if sigma_mc is None else sigma_mc[i])
    for ax in axes.flat[len(eps_list):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("x₂ (non-robust)")
    handles, labels = axes.flat[len(eps_list) - 1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=2, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout()
    return fig


def eps_curves(mu_star, sigma_star, eps_grid):
    """Three panels against ε, one above the other: the condition number of Σ_r, the gradient-μ* cosine (at μ* and worst case
    over μ), and the error under an L2 attack of radius ε of the standard and the robust classifier.
    Introduced in Chapter 2."""
    import matplotlib.pyplot as plt
    mu_star, sigma_star = _check_model(mu_star, sigma_star, ("mu_star", "sigma_star"), "eps_curves")
    w_std, _ = linear_classifier(mu_star, sigma_star)
    rows = []
    for eps in eps_grid:
        _, sigma_r, _ = robust_parameters(mu_star, sigma_star, eps)
        w_rob, _ = linear_classifier(mu_star, sigma_r)
        rows.append((condition_number(sigma_r), gradient_alignment(w_rob, mu_star).item(),
                     worst_case_alignment(sigma_r), robust_error(w_std, 0.0, mu_star, sigma_star, eps),
                     robust_error(w_rob, 0.0, mu_star, sigma_star, eps)))
    kappa, cos_mu, cos_worst, err_std, err_rob = zip(*rows)
    fig, axes = plt.subplots(3, 1, figsize=(7, 9), sharex=True)
    axes[0].semilogy(eps_grid, kappa, color="tab:red")
    axes[0].axhline(1, color="gray", lw=0.8)
    axes[0].set_ylabel("condition number of Σ_r")
    axes[1].plot(eps_grid, cos_mu, color="tab:red", label="robust, at μ*")
    axes[1].plot(eps_grid, cos_worst, color="tab:red", ls=":", label="robust, worst μ")
    axes[1].axhline(gradient_alignment(w_std, mu_star).item(), color="tab:blue", label="standard, at μ*")
    axes[1].axhline(worst_case_alignment(sigma_star), color="tab:blue", ls=":", label="standard, worst μ")
    axes[1].set_ylabel("cos(∇ₓf, μ)")
    axes[1].set_ylim(0, 1.02)
    axes[1].legend()
    axes[2].plot(eps_grid, [100 * e for e in err_std], color="tab:blue", label="standard classifier")
    axes[2].plot(eps_grid, [100 * e for e in err_rob], color="tab:red", label="robust classifier (trained at ε)")
    axes[2].set_ylabel("error under L2 attack\nof radius ε (%)")
    axes[2].legend()
    axes[2].set_xlabel("ε")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------- results
def comparison(metric: str, closed: float, simulated: float, note: str = "") -> dict:
    """A results row for `pagutils.present.report.record`: the Monte-Carlo value, with the closed form and the
    relative error between them in the note. Introduced in Chapter 2."""
    error = abs(simulated - closed) / max(abs(closed), 1e-300)
    text = f"closed form {closed:.5g}, Monte-Carlo {simulated:.5g}, rel. error {100 * error:.2f}%"
    return dict(metric=metric, value=float(simulated), paper=None, note=f"{text}; {note}" if note else text,
                closed=float(closed), rel_error=error)


def theorem2_rows(name: str, mu, sigma, x, y, eps_list, condition: float):
    """Theorem 2 against adversarial training on the samples (`robust_mle`) at every ε > 0 of `eps_list`.

    Returns (rows, fits): three `comparison` rows per ε (trace and condition number of Σ_r, the multiplier λ),
    and fits {ε: (μ_MC, Σ_MC)}, the adversarially trained parameters. Prints one line per ε: λ and how far the
    Monte-Carlo parameters are from the closed form. `name` labels the model ("d=2"); `condition` is Σ*'s.
    Introduced in Chapter 2.
    """
    rows, fits = [], {}
    for eps in [e for e in eps_list if e > 0]:
        _, sigma_r, lam = robust_parameters(mu, sigma, eps)
        mu_mc, sigma_mc, lam_mc = robust_mle(x, y, eps)
        fits[eps] = mu_mc, sigma_mc
        rows.append(comparison(f"{name}: ε={eps:g}, trace of Σ_r", torch.trace(sigma_r).item(),
                               torch.trace(sigma_mc).item(), "Theorem 2"))
        rows.append(comparison(f"{name}: ε={eps:g}, condition number of Σ_r", condition_number(sigma_r),
                               condition_number(sigma_mc), f"Σ* has {condition:g}; Theorem 2: falls toward 1 as ε grows"))
        rows.append(comparison(f"{name}: ε={eps:g}, multiplier λ", lam, lam_mc))
        print(f"{name} ε={eps:<5g} λ = {lam:9.4g} (MC {lam_mc:9.4g})   ‖Σ_r - Σ_MC‖/‖Σ_r‖ = "
              f"{((sigma_r - sigma_mc).norm() / sigma_r.norm()).item():.2%}   ‖μ_MC - μ*‖/‖μ*‖ = "
              f"{((mu_mc - mu).norm() / mu.norm()).item():.2%}   κ(Σ_r) = {condition_number(sigma_r):.3g}")
    return rows, fits


def theorem3_rows(name: str, mu, sigma, x, y, eps_list, fits, n_gradient: int = 2000) -> list:
    """Gradient alignment (Theorem 3) and errors under attack, closed form against Monte-Carlo, for the standard
    model and the robust one at every ε > 0 of `eps_list` (`fits` from `theorem2_rows`).

    The Monte-Carlo gradients are taken by autograd at the first `n_gradient` samples, of classifiers whose
    parameters were estimated from the samples (standard MLE, adversarial training). Prints the worst-case
    cosine over μ of the standard model and of the robust one at the largest ε. Introduced in Chapter 2.
    """
    w_std, _ = linear_classifier(mu, sigma)
    at = x[:n_gradient]
    cos_std_mc = gradient_alignment(classifier_gradient(*mle(x, y), at), mu).mean().item()
    rows = [comparison(f"{name}: cos(gradient, μ*), standard", gradient_alignment(w_std, mu).item(), cos_std_mc,
                       "Theorem 3"),
            comparison(f"{name}: standard clean error", robust_error(w_std, 0.0, mu, sigma, 0.0),
                       empirical_robust_error(w_std, 0.0, x, y, 0.0))]
    for eps in [e for e in eps_list if e > 0]:
        w_rob, _ = linear_classifier(mu, robust_parameters(mu, sigma, eps)[1])
        cos_rob_mc = gradient_alignment(classifier_gradient(*fits[eps], at), mu).mean()
        rows.append(comparison(f"{name}: ε={eps:g}, cos(gradient, μ*), robust", gradient_alignment(w_rob, mu).item(),
                               cos_rob_mc.item(), "Theorem 3: larger than standard"))
        for model, w, attack in (("standard", w_std, eps), ("robust", w_rob, 0.0), ("robust", w_rob, eps)):
            rows.append(comparison(f"{name}: ε={eps:g}, {model} error under L2 attack {attack:g}",
                                   robust_error(w, 0.0, mu, sigma, attack), empirical_robust_error(w, 0.0, x, y, attack)))
    largest = max(eps_list)
    print(f"{name}: worst-case cos over μ: standard {worst_case_alignment(sigma):.3f}, robust (ε={largest:g}) "
          f"{worst_case_alignment(robust_parameters(mu, sigma, largest)[1]):.3f}")
    return rows
