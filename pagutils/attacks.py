"""Projected gradient descent (PGD) attacks in L2 and Linf, per example, and the loop they run.

The loop is written once, as in the Madry lab's `robustness` library (`Attacker.forward` with a custom loss):
`ascend(model, x, y, loss, make_step, steps)` follows the input gradient of `loss(model, x, y)` with a step
object, which has `random_start`, `step` and `project`. `pgd` is that loop with the cross-entropy and a step
constrained to an L2 or Linf ball (`L2Step`, `LinfStep`); representation inversion
(`features.match_representation`) and image generation (`generation.generate`) are the same loop with another
loss and an unconstrained step (`NormalisedStep`; `MaskedStep` with generation's mask, noise and optional ball).

Norms, steps and projections are computed for each example separately (`per_example_norm`; over the whole
batch only when `pgd` is asked for the batch-level budget of Srinivas et al.'s code, `BatchL2Step`), iterates
stay in [0, 1], the model runs in eval mode, and only input gradients are
computed: the model's parameter gradients are never touched. The loop checks no arguments: each public entry
point (`pgd`, `robust_accuracy`, ...) checks its own once, and calls an unchecked inner function per batch.

`precision="bfloat16"` runs the model's forward and backward passes under bfloat16 autocast (on CPUs with
AVX-512 BF16 or AMX, and on GPUs, about twice as fast); the iterates, steps and projections stay float32.
The adversarial examples then differ slightly from float32 ones: `benchmarks/run.py` measures the cost in
robust accuracy.

`compile=True` runs the model's forward and input backward through `torch.compile` (`PAG_COMPILE=1` makes it
the default). It is meant for GPUs, where kernel launches and unfused element-wise work cost time (no GPU run
is recorded yet); on a CPU the convolutions dominate and the measured gain is nil (benchmarks/RESULTS.md).
Parameters are frozen during the attack in either mode, so a compiled backward computes the input gradient
alone.
"""
import contextlib
import functools
import inspect
import math

import torch
import torch.nn.functional as F

from . import cache, checks
from .device import resolve_compile
from .models import channels_last, evaluating, forward, frozen
from .progress import progress


def per_example_norm(v: torch.Tensor, p=2) -> torch.Tensor:
    """The p-norm of every example of a batch, shaped (N, 1, 1, ...) for broadcasting (in any memory layout).

    Introduced in Chapter 1."""
    return torch.linalg.vector_norm(v, ord=p, dim=tuple(range(1, v.dim())), keepdim=True)


def _per_example(eps, x):
    """eps as a tensor broadcastable over x: a float, or one value per example."""
    eps = torch.as_tensor(eps, dtype=x.dtype, device=x.device)
    return eps.view(-1, *([1] * (x.dim() - 1))) if eps.dim() == 1 else eps


def _ball_scale(delta, eps):
    """The factor, per example, that shrinks `delta` into the L2 ball of radius `eps` (1 inside it)."""
    return (eps / per_example_norm(delta, 2).clamp_min(1e-12)).clamp(max=1.0)


class L2Step:
    """Steps of length `step_size` along the normalised gradient; projection onto the L2 ball of radius `eps`.

    Introduced in Chapter 1."""

    def __init__(self, x0, eps, step_size):
        self.x0, self.eps, self.step_size = x0, _per_example(eps, x0), _per_example(step_size, x0)

    def random_start(self, generator=None):
        noise = torch.randn(self.x0.shape, generator=generator, device="cpu").to(self.x0)
        direction = noise / per_example_norm(noise, 2).clamp_min(1e-12)
        radius = torch.rand(len(self.x0), generator=generator).to(self.x0) ** (1 / self.x0[0].numel())
        return self.project(self.x0 + direction * radius.view_as(per_example_norm(noise, 2)) * self.eps)

    def step(self, x, grad):
        return torch.addcmul(x, grad, self.step_size / per_example_norm(grad, 2).clamp_min(1e-12))

    def project(self, x):
        delta = x - self.x0
        return torch.addcmul(self.x0, delta, _ball_scale(delta, self.eps)).clamp_(0, 1)


def batch_norm(v: torch.Tensor) -> torch.Tensor:
    """The L2 norm of a whole batch taken as one vector (a 0-dim tensor): the norm of the paper's code's PGD.

    Introduced in Chapter 10."""
    return torch.linalg.vector_norm(v)


class BatchL2Step(L2Step):
    """`L2Step` with the budget of Srinivas et al.'s released code: the whole batch is one vector, so the random
    start, the step's normalisation and the projection use `batch_norm` and a single radius `eps` (a number)
    bounds ||δ||₂ of the batch, not of each example. An example may then move far more than eps / sqrt(B) while
    another barely moves. Introduced in Chapter 10."""

    def __init__(self, x0, eps, step_size):
        self.x0, self.eps, self.step_size = x0, float(eps), float(step_size)

    def random_start(self, generator=None):
        noise = torch.randn(self.x0.shape, generator=generator, device="cpu").to(self.x0)
        radius = torch.rand(1, generator=generator).item() ** (1 / self.x0.numel())
        return self.project(self.x0 + noise * (radius * self.eps / batch_norm(noise).clamp_min(1e-12)))

    def step(self, x, grad):
        return x + grad * (self.step_size / batch_norm(grad).clamp_min(1e-12))

    def project(self, x):
        delta = x - self.x0
        scale = (self.eps / batch_norm(delta).clamp_min(1e-12)).clamp(max=1.0)
        return (self.x0 + delta * scale).clamp_(0, 1)


class LinfStep:
    """Signed-gradient steps of size `step_size`; projection onto the Linf ball of radius `eps`.

    Introduced in Chapter 1."""

    def __init__(self, x0, eps, step_size):
        self.x0, self.eps, self.step_size = x0, _per_example(eps, x0), _per_example(step_size, x0)
        # the Linf ball intersected with [0, 1]: one clamp per step
        self.low, self.high = (x0 - self.eps).clamp_(min=0), (x0 + self.eps).clamp_(max=1)

    def random_start(self, generator=None):
        noise = torch.rand(self.x0.shape, generator=generator, device="cpu").to(self.x0) * 2 - 1
        return self.project(self.x0 + noise * self.eps)

    def step(self, x, grad):
        return torch.addcmul(x, grad.sign(), self.step_size)

    def project(self, x):
        return torch.clamp(x, self.low, self.high)


class NormalisedStep(L2Step):
    """`L2Step` without a ball: steps of length `step_size` (a number) along the normalised gradient, kept in
    [0, 1] only. Representation inversion descends with it (`features.match_representation`).

    Introduced in Chapter 3."""

    def __init__(self, x0, step_size):
        self.x0, self.step_size = x0, step_size

    def random_start(self, generator=None):
        raise NotImplementedError("an unconstrained step has no set to start at random in: pass the start as x")

    def project(self, x):
        return x.clamp_(0, 1)


class MaskedStep(NormalisedStep):
    """`NormalisedStep` for image generation: along the masked gradient m ⊙ g, plus Gaussian noise of standard
    deviation `noise` (masked, drawn from `generator`) when `noise` > 0; then clamped to [0, 1], shrunk into
    the L2 ball of radius `eps` around x0 when `eps` is given, and x0 restored where `mask` is 0.

    `mask` (broadcastable to x0, 1 where pixels may change; all pixels by default) makes every change stay in
    the masked pixels: the others keep their starting values exactly. The order of these operations (and
    `(step_size · g) / ||g||` rather than `NormalisedStep`'s `g · (step_size / ||g||)`) is the one
    `generation.generate` has always computed, so its images are reproduced bit for bit.

    Introduced in Chapter 6."""

    def __init__(self, x0, step_size, eps=None, mask=None, noise=0.0, generator=None):
        super().__init__(x0, step_size)
        self.mask = torch.ones_like(x0[:1]) if mask is None else mask.to(x0)
        self.keep = self.mask.bool().expand_as(x0)
        self.eps, self.noise, self.generator = eps, noise, generator

    def step(self, x, grad):
        grad = grad * self.mask
        x = x + self.step_size * grad / per_example_norm(grad, 2).clamp_min(1e-12)
        if self.noise:
            x = x + self.noise * self.mask * torch.randn(x.shape, generator=self.generator).to(x)
        return x

    def project(self, x):
        delta = x.clamp(0, 1) - self.x0
        if self.eps is not None:
            delta = delta * _ball_scale(delta, self.eps)
        return torch.where(self.keep, self.x0 + delta, self.x0)


STEPS = {"l2": L2Step, "linf": LinfStep}
PRECISIONS = ("float32", "bfloat16")
BUDGETS = ("example", "batch")


def ascend(model, x, y, loss, make_step, steps, descend=False, random_start=False, generator=None,
           fast_layout=True, evaluate_last=False, desc=None):
    """The attack loop, written once: `steps` times x <- step.project(step.step(x, ∇_x loss(model, x, y))).

    `loss(model, x, y)` returns the scalar to ascend (to descend with `descend`: its gradient is negated);
    `make_step(x0)` returns the step object for the starting point x0 (e.g.
    `functools.partial(L2Step, eps=1.0, step_size=0.25)`). The loop starts at x, or at
    `step.random_start(generator)` with `random_start`. The model runs in eval mode with its parameters
    frozen (input gradients only); with `fast_layout` a convolutional model and x run channels-last (the same
    values as the default layout up to rounding, faster). `evaluate_last` calls `loss` once more at the final
    iterate, for a loss that records its values; `desc` shows a progress bar. Returns the final iterate,
    detached and contiguous. No argument is checked here: callers check theirs once, at their boundary.

    Introduced in Chapter 1."""
    layout = channels_last(model) if fast_layout else contextlib.nullcontext(False)
    with evaluating(model), layout as convolutional, frozen(model):
        x0 = x.detach()
        if convolutional and x0.dim() == 4:  # convolutions run channels-last (weights and inputs)
            x0 = x0.contiguous(memory_format=torch.channels_last)
        step = make_step(x0)
        x = step.random_start(generator) if random_start else x0.clone()
        iterations = range(steps + evaluate_last)
        for t in iterations if desc is None else progress(iterations, desc=desc):
            x.requires_grad_(True)
            value = loss(model, x, y)
            if t == steps:
                break
            (grad,) = torch.autograd.grad(value, x)
            x = step.project(step.step(x.detach(), grad.neg_() if descend else grad))
    return x.detach().contiguous()


def autocast(precision, device):
    """The context the model runs in: nothing for float32, bfloat16 autocast on `device` for 'bfloat16'.

    Introduced in Chapter 1."""
    if precision == "float32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def _check(model, x, y, eps, norm, steps, step_size, loss_fn=None, where="pgd", precision="float32"):
    checks.norm(norm, where)
    checks.one_of(precision, PRECISIONS, "precision", where)
    checks.images(x, "x", where, dims=None)
    checks.radius(eps, "eps", where, n=len(x))
    checks.integer(steps, "steps", where, low=0)
    if step_size is not None:
        checks.radius(step_size, "step_size", where, n=len(x), allow_zero=False)
    if loss_fn is None:
        num_classes = checks.model_logits(model, x, "model", where)
        checks.labels(y, "y", where, n=len(x), num_classes=num_classes)
    elif not isinstance(y, torch.Tensor) or len(y) != len(x):
        raise ValueError(f"{where}: y must be a tensor of {len(x)} labels, got {checks.brief(y)}")


def _summed_cross_entropy(logits, labels):
    return F.cross_entropy(logits, labels, reduction="sum")


def pgd(model, x, y, eps, norm="l2", steps=10, step_size=None, targeted=False, random_start=True,
        generator=None, loss_fn=None, precision="float32", compile=None, budget="example"):
    """Adversarial inputs within `eps` of x (per example, in the `norm` ball) and in [0, 1].

    Untargeted: ascend the cross-entropy of the true labels `y`. Targeted: descend the cross-entropy
    of the target labels `y`. `step_size` defaults to 2.5 * eps / steps. `eps` is a float or one value
    per example. `loss_fn(logits, y)` replaces the summed cross-entropy when given. `precision` is
    'float32' or 'bfloat16' (the model runs under bfloat16 autocast; see the module's note). `compile`: run
    the model through torch.compile (None: `PAG_COMPILE` decides; see the module's note).

    `budget='batch'` (L2 only) reproduces the released code of Srinivas et al. (2023): the whole batch is one
    vector whose L2 norm is at most `eps` (a number), and the random start, the steps' normalisation and the
    projection are computed over the batch (`BatchL2Step`). Spread evenly over B examples, a batch budget eps
    is eps / sqrt(B) per example. The default 'example' is the per-example ball of every other chapter.

    Introduced in Chapter 1."""
    _check(model, x, y, eps, norm, steps, step_size, loss_fn, precision=precision)
    checks.one_of(budget, BUDGETS, "budget", "pgd")
    if budget == "batch":
        if norm != "l2":
            raise ValueError(f"pgd: budget='batch' is defined for the L2 norm only (an Linf ball of the batch is "
                             f"the product of the examples' balls), got norm={norm!r}")
        for name, value in (("eps", eps), ("step_size", step_size)):
            if isinstance(value, torch.Tensor) and value.numel() != 1:
                raise ValueError(f"pgd: with budget='batch', {name} must be one number for the whole batch, "
                                 f"got {value.numel()} values")
    return _pgd(model, x, y, eps, norm, steps, step_size, targeted, random_start, generator, loss_fn, precision,
                resolve_compile(compile, "pgd"), budget)


def _pgd(model, x, y, eps, norm="l2", steps=10, step_size=None, targeted=False, random_start=True, generator=None,
         loss_fn=None, precision="float32", compile=False, budget="example"):
    """`pgd` without its argument checks (`compile` already resolved): the attack of a loop over batches whose
    caller checked everything once."""
    if step_size is None:
        step_size = 2.5 * torch.as_tensor(eps, dtype=torch.float32) / max(steps, 1)
    loss_fn = loss_fn or _summed_cross_entropy

    def loss(model, x, y):
        with autocast(precision, x.device):
            logits = forward(model, x, compile)
        return loss_fn(logits.float(), y)

    step_class = BatchL2Step if budget == "batch" else STEPS[norm]
    return ascend(model, x, y, loss, functools.partial(step_class, eps=eps, step_size=step_size), steps,
                  descend=targeted, random_start=random_start, generator=generator)


def predict(model, x, batch_size=1000):
    """Predicted labels for a batch of any size, in eval mode.

    Introduced in Chapter 1."""
    checks.images(x, "x", "predict", dims=None, unit=False)
    checks.integer(batch_size, "batch_size", "predict")
    checks.model_logits(model, x, "model", "predict")
    return _predict(model, x, batch_size)


@torch.no_grad()
def _predict(model, x, batch_size=1000):
    """`predict` without its argument checks, for callers that checked x and the model once."""
    with evaluating(model):
        return torch.cat([model(chunk).argmax(1) for chunk in x.split(batch_size)])


def accuracy(model, data, batch_size=1000) -> float:
    """Clean accuracy of `model` on a `Data` set, as a fraction.

    Introduced in Chapter 1."""
    checks.nonempty(data, "data", "accuracy")
    return (predict(model, data.x, batch_size) == data.y).float().mean().item()


def robust_accuracy(model, data, eps, norm="l2", steps=20, step_size=None, batch_size=500, seed=0,
                    show_progress=True, precision="float32", compile=None) -> float:
    """Accuracy under untargeted PGD of radius `eps` (a fraction); eps 0 is clean accuracy.

    `precision` and `compile` are the attack's (`pgd`); the final predictions are always made eagerly in float32.
    The arguments are checked once; the attack of every batch checks nothing again.

    Introduced in Chapter 1."""
    where = "robust_accuracy"
    checks.nonempty(data, "data", where)
    checks.positive(eps, "eps", where, allow_zero=True)
    checks.norm(norm, where)
    checks.integer(steps, "steps", where, low=0)
    checks.integer(batch_size, "batch_size", where)
    checks.one_of(precision, PRECISIONS, "precision", where)
    compile = resolve_compile(compile, where)
    if eps == 0:
        return accuracy(model, data)
    if step_size is not None:
        checks.positive(step_size, "step_size", where)
    checks.images(data.x, "data.x", where)
    checks.labels(data.y, "data.y", where, num_classes=checks.model_logits(model, data.x, "model", where))
    generator = torch.Generator().manual_seed(seed)
    correct = 0
    batches = data.batches(batch_size)
    if show_progress:
        batches = progress(batches, total=math.ceil(len(data) / batch_size), desc=f"PGD {norm} eps={eps:g}")
    for x, y in batches:
        x_adv = _pgd(model, x, y, eps, norm, steps, step_size, generator=generator, precision=precision,
                     compile=compile)
        correct += (_predict(model, x_adv) == y).sum().item()
    return correct / len(data)


_SETTINGS = inspect.signature(robust_accuracy)  # the attack settings (and defaults) accuracy_vs_eps caches under


def accuracy_vs_eps(model, data, eps_list, norm="l2", steps=20, **kwargs) -> list:
    """Robust accuracy at every epsilon of `eps_list` (`robust_accuracy`, whose settings `kwargs` are).

    A model that carries its `config` (as every zoo model does) has its curve cached (`cache.cached_values`),
    keyed by that config, digests of its weights and of `data`, the radii and the attack's settings: asked again,
    it is read, not recomputed. Introduced in Chapter 1."""
    if not isinstance(eps_list, (list, tuple)) or not eps_list:
        raise checks.ArgumentTypeError(f"accuracy_vs_eps: eps_list must be a non-empty list of radii, got "
                                       f"{checks.brief(eps_list)}")
    for eps in eps_list:
        checks.positive(eps, "every entry of eps_list", "accuracy_vs_eps", allow_zero=True)
    curve = lambda: [robust_accuracy(model, data, eps, norm, steps, **kwargs) for eps in eps_list]
    if not isinstance(getattr(model, "config", None), dict):
        return curve()
    return cache.cached_values("evaluations", _curve_config(model, data, eps_list, norm, steps, kwargs), curve)[0]


def _curve_config(model, data, eps_list, norm, steps, kwargs) -> dict:
    """The cache key of `accuracy_vs_eps`: the model, the images, the radii and every setting of the attack
    (`robust_accuracy`'s defaults filled in, so leaving one out or naming its default gives the same key)."""
    checks.nonempty(data, "data", "accuracy_vs_eps")
    try:
        bound = _SETTINGS.bind(model, data, 0.0, norm, steps, **kwargs)
    except TypeError as error:
        raise checks.ArgumentTypeError(f"accuracy_vs_eps: kwargs must be settings of robust_accuracy, got "
                                       f"{sorted(kwargs)}: {error}") from None
    bound.apply_defaults()
    attack = {name: value for name, value in bound.arguments.items()
              if name not in ("model", "data", "eps", "show_progress")}
    if attack["step_size"] is not None:
        attack["step_size"] = float(attack["step_size"])
    return dict(evaluation="accuracy_vs_eps", model=model.config, weights=cache.tensor_digest(model.state_dict()),
                data=cache.tensor_digest({"x": data.x, "y": data.y}), eps=[float(eps) for eps in eps_list],
                attack=attack)
