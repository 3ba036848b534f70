"""Image synthesis by following a classifier's input gradient (Santurkar et al. 2019).

Gradient ascent on log p(target | x) from a starting image: for a robust model, whose gradients are
perceptually aligned, the image changes toward what a person sees as the target class; for a standard
model it changes by imperceptible noise. One function, `generate`, does every task; they differ only
in where they start and what they may change:

- generation from noise: start at `class_gaussian_seeds` (a Gaussian fitted to the class's images),
- counterfactuals: start at an image of another class, stay inside an L2 ball around it,
- denoising: start at a noisy image (`add_noise`), ascend its true class,
- in-painting: start at an image with a region blanked out (`box_masks`), change only that region.

`generate` is the attack loop of `pagutils.core.attacks` (`ascend`) with the log-probability as its loss and an
unconstrained normalised step (`attacks.MaskedStep`) that carries the mask, the noise and the optional ball. How
it ascends (steps, step size, ball, noise and its seed) is one typed value, `Ascent`, checked once.
`psnr` and `masked_mse` measure how close a result is to the clean image.
"""
import functools
from dataclasses import dataclass

import torch

from ..core import checks
from ..core.attacks import Loop, MaskedStep, ascend


def _targets(target, n, device, num_classes=None, where=None):
    """`target` (a class index, or a tensor of one per image) as a (n,) int64 tensor on `device`."""
    if isinstance(target, bool) or not isinstance(target, (int, torch.Tensor)) or (
            isinstance(target, torch.Tensor) and (target.is_floating_point() or target.dtype == torch.bool)):
        checks.fail(where, "target", "be a class index (int) or an integer tensor with one per image", target,
                    error=checks.ArgumentTypeError)
    target = torch.as_tensor(target, dtype=torch.int64, device=device)
    return checks.labels(target.expand(n) if target.dim() == 0 else target, "target", where, n=n,
                         num_classes=num_classes)


def _log_prob(model, x, target):
    """The summed log p(target | x) of a batch: what `generate` ascends."""
    return torch.log_softmax(model(x), dim=1).gather(1, target[:, None]).sum()


@dataclass(frozen=True)
class Ascent:
    """How `generate` ascends: `steps` L2-normalised gradient steps of length `step_size`; within the L2 ball of
    radius `eps` around the start when `eps` is given (None: no ball); with Gaussian noise of standard deviation
    `noise` added to every step (0: none), drawn from a generator seeded with `seed`. Checked once, here.

    Introduced in Chapter 6."""
    steps: int
    step_size: float
    eps: float = None
    noise: float = 0.0
    seed: int = 0

    def __post_init__(self):
        where = "Ascent"
        checks.integer(self.steps, "steps", where, low=0)
        checks.positive(self.step_size, "step_size", where)
        if self.eps is not None:
            checks.positive(self.eps, "eps", where)
        checks.positive(self.noise, "noise", where, allow_zero=True)
        checks.integer(self.seed, "seed", where, low=0)


def generate(model, x_start, target, ascent: Ascent, mask=None, show_progress=True):
    """Images found by `ascent.steps` of L2-normalised gradient ascent on log p(target | x) from `x_start`.

    x <- Π( x + step_size · m ⊙ g / ||m ⊙ g||_2 (+ noise · m ⊙ ξ) ),  g = ∇_x log p(target | x), per image,

    where Π clamps to [0, 1] and, when `ascent.eps` is given, projects onto the L2 ball of radius `eps` around
    `x_start`. `mask` (broadcastable to x, 1 where pixels may change) restricts every change to the
    masked pixels: the others keep their starting values exactly. `ascent.noise` > 0 adds Gaussian noise ξ of
    that standard deviation to every step (Langevin-like), drawn from `ascent.seed`. `target` is a class index
    or one per image. The model is used in eval mode and only input gradients are computed.

    Introduced in Chapter 6."""
    where = "generate"
    checks.images(x_start, "x_start", where)
    if not isinstance(ascent, Ascent):
        checks.fail(where, "ascent", "be a pagutils.aligned_gradients.generation.Ascent (e.g. Ascent(steps=60, "
                    "step_size=0.5))", ascent, error=checks.ArgumentTypeError)
    target = _targets(target, len(x_start), x_start.device, checks.model_logits(model, x_start, "model", where),
                      where)
    if mask is not None:
        checks.tensor(mask, "mask", where, dims=4)
    make_step = functools.partial(MaskedStep, step_size=ascent.step_size, eps=ascent.eps, mask=mask,
                                  noise=ascent.noise, generator=torch.Generator().manual_seed(ascent.seed))
    # the default layout: channels-last convolutions would round differently from the images generate has always made
    return ascend(model, x_start, target, _log_prob, make_step, ascent.steps,
                  Loop(fast_layout=False, desc="gradient ascent" if show_progress and ascent.steps >= 20 else None))


def class_log_prob(model, x, target) -> torch.Tensor:
    """log p(target | x) for every image: a (N,) tensor.

    Introduced in Chapter 6."""
    checks.images(x, "x", "class_log_prob")
    target = _targets(target, len(x), x.device, checks.model_logits(model, x, "model", "class_log_prob"),
                      "class_log_prob")
    with torch.no_grad():
        return torch.log_softmax(model(x), dim=1).gather(1, target[:, None]).squeeze(1)


def class_gaussian_seeds(data, targets, seed=0, ridge=1e-3, max_per_class=5000) -> torch.Tensor:
    """Starting images for generation: for each `targets[i]`, a draw from N(μ_c, Σ_c), clamped to [0, 1].

    μ_c and Σ_c are the mean and covariance of class c's images in `data` (a `Data` set; at most
    `max_per_class` of them), as Santurkar et al. seed class-conditional generation. `ridge` is added
    to the diagonal so that Σ_c is positive definite.

    Introduced in Chapter 6."""
    where = "class_gaussian_seeds"
    checks.nonempty(data, "data", where)
    targets = torch.as_tensor(targets, dtype=torch.int64)
    if targets.dim() != 1 or len(targets) == 0 or targets.min() < 0 or targets.max() >= data.num_classes:
        checks.fail(where, "targets", f"be a non-empty 1-d tensor of class indices in [0, {data.num_classes})",
                    got=f"values in [{int(targets.min())}, {int(targets.max())}]" if targets.dim() == 1 and len(targets)
                    else checks.brief(targets))
    checks.positive(ridge, "ridge", where)
    generator = torch.Generator().manual_seed(seed)
    shape, d = data.x.shape[1:], data.x[0].numel()
    out = torch.empty(len(targets), d, dtype=torch.float64)
    for c in targets.unique().tolist():
        images = data.x[data.y == c][:max_per_class].flatten(1).double().cpu()
        if len(images) < 2:
            checks.fail("class_gaussian_seeds", "data", f"hold at least 2 images of class {c} to fit its Gaussian",
                        got=f"{len(images)}")
        mean = images.mean(0)
        cov = torch.cov(images.T) + ridge * torch.eye(d, dtype=torch.float64)
        chol = torch.linalg.cholesky(cov)
        where = (targets == c).nonzero().squeeze(1)
        out[where] = mean + torch.randn(len(where), d, generator=generator, dtype=torch.float64) @ chol.T
    return out.float().clamp(0, 1).view(len(targets), *shape).to(data.device)


def add_noise(x, sigma, seed=0) -> torch.Tensor:
    """x plus Gaussian noise of standard deviation `sigma` (seeded), clamped to [0, 1].

    Introduced in Chapter 6."""
    checks.images(x, "x", "add_noise")
    checks.positive(sigma, "sigma", "add_noise", allow_zero=True)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)).to(x)
    return (x + sigma * noise).clamp(0, 1)


def box_masks(x, size, seed=0, margin=4) -> torch.Tensor:
    """One square of side `size` per image at a random (seeded) place at least `margin` pixels from the
    border: a (N, 1, H, W) tensor, 1 inside the square (the pixels to in-paint) and 0 elsewhere.

    Introduced in Chapter 6."""
    checks.images(x, "x", "box_masks")
    n, _, h, w = x.shape
    checks.integer(size, "size", "box_masks")
    if size + 2 * margin > min(h, w):
        checks.fail("box_masks", "size + 2 * margin", f"fit in the {h}x{w} image", got=f"size={size}, margin={margin}")
    generator = torch.Generator().manual_seed(seed)
    top = torch.randint(margin, h - margin - size + 1, (n,), generator=generator)
    left = torch.randint(margin, w - margin - size + 1, (n,), generator=generator)
    rows, cols = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
    inside = ((rows >= top[:, None, None]) & (rows < top[:, None, None] + size)
              & (cols >= left[:, None, None]) & (cols < left[:, None, None] + size))
    return inside[:, None].float().to(x.device)


def psnr(x, reference) -> torch.Tensor:
    """Peak signal-to-noise ratio of every image against `reference`, in dB (pixels in [0, 1]): a (N,) tensor.

    Introduced in Chapter 6."""
    mse = masked_mse(x, reference)
    return 10 * torch.log10(1 / mse.clamp_min(1e-12))


def masked_mse(x, reference, mask=None) -> torch.Tensor:
    """Mean squared error per image against `reference`, over the pixels where `mask` is 1 (all by default).

    Introduced in Chapter 6."""
    if not isinstance(x, torch.Tensor) or not isinstance(reference, torch.Tensor) or x.shape != reference.shape \
            or x.dim() < 2:
        checks.fail("masked_mse", "x and reference", "be batches (N, ...) of the same shape",
                    got=f"{checks.brief(x)} and {checks.brief(reference)}",
                    error=ValueError if isinstance(x, torch.Tensor) and isinstance(reference, torch.Tensor)
                    else checks.ArgumentTypeError)
    checks.finite(x, "x", "masked_mse")
    checks.finite(reference, "reference", "masked_mse")
    mask = torch.ones_like(x) if mask is None else mask.to(x).expand_as(x)
    return ((x - reference) ** 2 * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1)


def success_rate(model, x, target) -> float:
    """The fraction of images `x` that `model` classifies as `target` (a class index or one per image).

    Introduced in Chapter 6."""
    from ..core.attacks import predict
    checks.images(x, "x", "success_rate")
    return (predict(model, x) == _targets(target, len(x), x.device, where="success_rate")).float().mean().item()


def per_image_success(model, x, target) -> torch.Tensor:
    """1.0 where `model` classifies the image of `x` as its `target`, else 0.0: a (N,) tensor, the per-image
    outcome `success_rate` averages (what `paired_rule` compares, image by image). Introduced in Chapter 6."""
    from ..core.attacks import predict
    checks.images(x, "x", "per_image_success")
    return (predict(model, x) == _targets(target, len(x), x.device, where="per_image_success")).float()


def paired_test(differences, alpha=0.05, flips=20000, seed=0) -> dict:
    """The one-sided exact sign-flip test that per-image `differences` (better minus worse, one per image) have a
    mean above 0.

    With no effect, the two results of an image are exchangeable, so each difference is as likely to have its
    sign as the other: the p-value is the share of `flips` random sign patterns (seeded, with the observed one
    counted in) whose mean is at least the observed mean. It is a valid p-value, so the test says "holds" (p at
    most `alpha`) with probability at most `alpha` when there is no effect, for 0/1 outcomes (McNemar's test)
    and continuous errors alike. Returns dict(holds, p, mean, sd, n). Introduced in Chapter 6."""
    where = "paired_test"
    d = checks.tensor(differences, "differences", where, dims=1, floating=True).detach().double().cpu()
    checks.finite(d, "differences", where)
    if len(d) < 2:
        checks.fail(where, "differences", "hold at least 2 images", got=f"{len(d)}")
    checks.number(alpha, "alpha", where, low=0, high=1)
    checks.integer(flips, "flips", where)
    signs = torch.randint(0, 2, (flips, len(d)), generator=torch.Generator().manual_seed(seed)).double() * 2 - 1
    observed = d.mean().item()
    null = (signs * d).mean(1)
    p = (1 + (null >= observed - 1e-12 * max(1.0, abs(observed))).sum().item()) / (flips + 1)
    return dict(holds=bool(p <= alpha), p=p, mean=observed, sd=d.std().item(), n=len(d))


def paired_rule(differences, alpha=0.05, power=0.8, scale=None) -> dict:
    """Several `paired_test`s that must all hold: `differences` maps a name (a judge, a task) to its per-image
    differences, better minus worse. What the claim box states about the rule:

    - `holds`: every test's p-value at most `alpha`;
    - `false_positive_rate`: `alpha`, a bound: with no effect every test holds with probability at most `alpha`,
      so all of them do too, whatever their dependence;
    - `detectable`: the smallest mean difference that every test detects together with probability `power`, at
      each test's measured spread (normal approximation: (z(1 - alpha) + z(power ** (1/k))) * sd / sqrt(n) for
      k tests, the largest over the tests; exact for independent tests and conservative for positively
      dependent ones), divided by `scale[name]` where given (the worse result's mean error: a relative change);
    - `observed`: the smallest mean difference (divided by its scale), and per test its p, mean and sd.

    Introduced in Chapter 6."""
    from statistics import NormalDist
    where = "paired_rule"
    checks.mapping(differences, "differences", where)
    if not differences:
        checks.fail(where, "differences", "name at least one test", got="none")
    checks.number(power, "power", where, low=0, high=1)
    scale = dict(scale or {})
    unknown = sorted(set(scale) - set(differences))
    if unknown:
        checks.fail(where, "scale", "name only tests of differences", got=f"{unknown} that differences does not hold")
    unit = NormalDist()
    z = unit.inv_cdf(1 - alpha) + unit.inv_cdf(power ** (1 / len(differences)))
    tests, detectable, observed = {}, 0.0, None
    for name, d in differences.items():
        test = paired_test(d, alpha)
        s = checks.positive(scale.get(name, 1.0), f"scale[{name!r}]", where)
        tests[name] = test
        detectable = max(detectable, z * test["sd"] / test["n"] ** 0.5 / s)
        effect = test["mean"] / s
        observed = effect if observed is None else min(observed, effect)
    return dict(holds=all(t["holds"] for t in tests.values()), false_positive_rate=float(alpha),
                detectable=detectable, observed=observed, tests=tests, alpha=alpha, power=power)
