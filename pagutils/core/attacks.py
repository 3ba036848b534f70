"""Projected gradient descent (PGD) attacks in L2 and Linf, per example, and the loop they run.

An attack is one typed value, `Attack`: its norm, radius, steps and step size, whether it is targeted, starts at
random or restarts, its budget (per example or per batch), and the precision and compilation its model runs
with. It is checked once, when it is made, with errors that name the field; variants are made from it
(`attack.at(eps)`, `attack.replace(steps=20)`), never by threading its settings through argument lists. Every
function that attacks takes one: `pgd(model, x, y, attack)`, `robust_accuracy(model, data, attack)`,
`accuracy_vs_eps(model, data, eps_list, attack)` (the attack at every radius of the list), the relabelling
constructions of `features` (`make_d_rand`, `make_d_det`), `train.train`'s robust evaluation and the slider of
`widgets`. Its default step size, 2.5 eps / steps (as in the Madry lab's `robustness` library), is computed in
one place, `Attack.step`.

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
point (`pgd`, `robust_accuracy`, ...) checks its own once, and calls an unchecked inner function per batch. A
caller in another module that has checked its arguments once says so (`pgd(..., check=False)`,
`predict(..., check=False)`) instead of reaching for this module's private functions; `check_attack` is the
check of an `Attack` argument that every module uses. How the loop runs (descend or ascend, a random start, the
memory layout, a progress bar) is one typed value, `Loop`.

`Attack(restarts=R)` runs the attack R times from independent random starts and keeps, for every example, its
worst case: an iterate that fools the model (untargeted: any other class; targeted: the target) if any restart
found one, else the one with the highest loss (targeted: the lowest loss of the target).

`Attack(precision="bfloat16")` runs the model's forward and backward passes under bfloat16 autocast (on CPUs with
AVX-512 BF16 or AMX, and on GPUs, about twice as fast); the iterates, steps and projections stay float32.
The adversarial examples then differ slightly from float32 ones: `benchmarks/run.py` measures the cost in
robust accuracy.

`Attack(compile=True)` runs the model's forward and input backward through `torch.compile` (`PAG_COMPILE=1`
makes it the default). It is meant for GPUs, where kernel launches and unfused element-wise work cost time (no GPU run
is recorded yet); on a CPU the convolutions dominate and the measured gain is nil (benchmarks/RESULTS.md).
Parameters are frozen during the attack in either mode, so a compiled backward computes the input gradient
alone.
"""
import contextlib
import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Optional, Union

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


@dataclass(frozen=True)
class Attack:
    """A PGD attack, as one value: what `pgd`, `robust_accuracy`, `accuracy_vs_eps` and the relabelling
    constructions of `features` take.

    - `norm`: 'l2' or 'linf', the ball the perturbation stays in;
    - `eps`: its radius, a number or a (N,) tensor with one per example (None: not chosen yet, for the functions
      that attack at every radius of a list, `accuracy_vs_eps` and `widgets.attack_slider`);
    - `steps`: PGD iterations; `step_size`: the length of each step (None: `Attack.step`'s default);
    - `targeted`: descend the cross-entropy of the labels given as targets instead of ascending that of the true
      labels; `random_start`: start at a uniform random point of the ball instead of the input itself;
    - `restarts`: run the attack this many times from independent random starts and keep each example's worst
      case (see the module's note; it needs `random_start`);
    - `budget`: 'example' (the ball of every example) or 'batch' (L2 only: the whole batch is one vector whose
      norm is at most `eps`, as in Srinivas et al.'s released code, `BatchL2Step`);
    - `precision`: 'float32' or 'bfloat16' (the model runs under bfloat16 autocast; iterates stay float32);
    - `compile`: run the model through torch.compile (None: the `PAG_COMPILE` environment variable decides).

    Every field is checked here, once; an error names the field and what it must be. `attack.at(eps)` and
    `attack.replace(**changes)` make variants (checked again). Introduced in Chapter 1."""
    norm: str
    eps: Union[float, torch.Tensor, None] = None
    steps: int = 10
    step_size: Union[float, torch.Tensor, None] = None
    targeted: bool = False
    random_start: bool = True
    restarts: int = 1
    budget: str = "example"
    precision: str = "float32"
    compile: Optional[bool] = None

    def __post_init__(self):
        where = "Attack"
        checks.norm(self.norm, where)
        for name in ("eps", "step_size"):
            value = getattr(self, name)
            if value is None:
                continue
            checks.radius(value, name, where, allow_zero=name == "eps")
            if not isinstance(value, torch.Tensor):
                object.__setattr__(self, name, float(value))
        checks.integer(self.steps, "steps", where, low=0)
        checks.flag(self.targeted, "targeted", where)
        checks.flag(self.random_start, "random_start", where)
        checks.integer(self.restarts, "restarts", where, low=1)
        checks.one_of(self.budget, BUDGETS, "budget", where)
        checks.one_of(self.precision, PRECISIONS, "precision", where)
        if self.compile is not None:
            resolve_compile(self.compile, where)
        if self.restarts > 1 and not self.random_start:
            checks.fail(where, "restarts", "be 1 when random_start=False (restarts from the input itself are the same "
                        "attack)", self.restarts)
        if self.budget == "batch":
            if self.norm != "l2":
                checks.fail(where, "norm", "be 'l2' with budget='batch' (an Linf ball of the batch is the product of "
                            "the examples' balls)", self.norm)
            if self.restarts > 1:
                checks.fail(where, "restarts", "be 1 with budget='batch' (a worst case chosen per example would "
                            "break the batch's budget)", self.restarts)
            for name in ("eps", "step_size"):
                value = getattr(self, name)
                if isinstance(value, torch.Tensor) and value.numel() != 1:
                    checks.fail(where, name, "be one number for the whole batch with budget='batch'",
                                got=f"{value.numel()} values")

    @property
    def step(self):
        """The step size: `step_size`, or by default 2.5 eps / steps, the default of the Madry lab's
        `robustness` library (computed in float32; a number, or a tensor for a tensor `eps`). Written here
        only: every attack of the library takes its step from this property."""
        if self.step_size is not None:
            return self.step_size
        if self.eps is None:
            checks.fail("Attack.step", "eps", "be set: give the attack a radius first (attack.at(eps))", got="None")
        step = 2.5 * torch.as_tensor(self.eps, dtype=torch.float32) / max(self.steps, 1)
        return step if isinstance(self.eps, torch.Tensor) else step.item()

    def at(self, eps) -> "Attack":
        """The same attack with radius `eps` (checked)."""
        return dataclasses.replace(self, eps=eps)

    def replace(self, **changes) -> "Attack":
        """The same attack with the fields `changes` replaced (checked), e.g. `attack.replace(steps=20)`."""
        return dataclasses.replace(self, **changes)


def check_attack(attack, where, radius=True, name="attack"):
    """`attack` if it is an `Attack` (with a radius, when `radius`); else an error naming `where` (the function
    the user called) and `name` (its argument). Introduced in Chapter 1."""
    if not isinstance(attack, Attack):
        checks.fail(where, name, "be a pagutils.core.attacks.Attack (e.g. Attack('l2', eps=1.0, steps=10))", attack,
                    error=checks.ArgumentTypeError)
    if radius and attack.eps is None:
        checks.fail(where, f"{name}.eps", f"be set: give the attack a radius (Attack(..., eps=1.0) or {name}.at(1.0))",
                    got="None")
    return attack


@dataclass(frozen=True)
class Loop:
    """How `ascend` runs its steps (the step itself comes from `make_step`):

    - `descend`: follow minus the gradient, which descends the loss;
    - `evaluate_last`: call `loss` once more at the final iterate, for a loss that records its values;
    - `random_start`: start at `step.random_start(generator)` instead of x, drawing from `generator` (None:
      torch's default generator);
    - `fast_layout`: a convolutional model and x run channels-last (the same values as the default layout up to
      rounding, faster); False keeps their own layout;
    - `desc`: the title of a progress bar over the steps (None: no bar).

    Introduced in Chapter 1."""
    descend: bool = False
    evaluate_last: bool = False
    random_start: bool = False
    generator: Optional[torch.Generator] = None
    fast_layout: bool = True
    desc: Optional[str] = None


def ascend(model, x, y, loss, make_step, steps, loop: Loop = Loop()):
    """The attack loop, written once: `steps` times x <- step.project(step.step(x, ∇_x loss(model, x, y))).

    `loss(model, x, y)` returns the scalar to ascend; `make_step(x0)` returns the step object for the starting
    point x0 (e.g. `functools.partial(L2Step, eps=1.0, step_size=0.25)`); `loop` (a `Loop`) says how the loop
    runs: by default it ascends from x, channels-last, without a progress bar. The model runs in eval mode with
    its parameters frozen (input gradients only). Returns the final iterate, detached and contiguous. No argument
    but `loop` is checked here: callers check theirs once, at their boundary.

    Introduced in Chapter 1."""
    if not isinstance(loop, Loop):
        checks.fail("ascend", "loop", "be a pagutils.core.attacks.Loop (e.g. Loop(descend=True))", loop,
                    error=checks.ArgumentTypeError)
    layout = channels_last(model) if loop.fast_layout else contextlib.nullcontext(False)
    with evaluating(model), layout as convolutional, frozen(model):
        x0 = x.detach()
        if convolutional and x0.dim() == 4:  # convolutions run channels-last (weights and inputs)
            x0 = x0.contiguous(memory_format=torch.channels_last)
        step = make_step(x0)
        x = step.random_start(loop.generator) if loop.random_start else x0.clone()
        iterations = range(steps + loop.evaluate_last)
        for t in iterations if loop.desc is None else progress(iterations, desc=loop.desc):
            x.requires_grad_(True)
            value = loss(model, x, y)
            if t == steps:
                break
            (grad,) = torch.autograd.grad(value, x)
            x = step.project(step.step(x.detach(), grad.neg_() if loop.descend else grad))
    return x.detach().contiguous()


def autocast(precision, device):
    """The context the model runs in: nothing for float32, bfloat16 autocast on `device` for 'bfloat16'.

    Introduced in Chapter 1."""
    if precision == "float32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def _check(model, x, y, attack, loss_fn=None, where="pgd"):
    check_attack(attack, where)
    checks.images(x, "x", where, dims=None)
    checks.radius(attack.eps, "attack.eps", where, n=len(x))
    if attack.step_size is not None:
        checks.radius(attack.step_size, "attack.step_size", where, n=len(x), allow_zero=False)
    if loss_fn is None:
        num_classes = checks.model_logits(model, x, "model", where)
        checks.labels(y, "y", where, n=len(x), num_classes=num_classes)
    elif not isinstance(y, torch.Tensor) or len(y) != len(x):
        checks.fail(where, "y", f"be a tensor of {len(x)} labels", y)


def _summed_cross_entropy(logits, labels):
    return F.cross_entropy(logits, labels, reduction="sum")


def pgd(model, x, y, attack: Attack, generator=None, loss_fn=None, check=True):
    """Adversarial inputs within `attack.eps` of x (per example, in the `attack.norm` ball) and in [0, 1].

    Untargeted: ascend the cross-entropy of the true labels `y`. Targeted (`attack.targeted`): descend the
    cross-entropy of the target labels `y`. The random start (and the restarts) draw from `generator` (None: torch's
    default generator). `loss_fn(logits, y)` replaces the summed cross-entropy when given. Every other setting is
    the `Attack`'s: its step size (default `Attack.step`), `restarts` (each example's worst case is kept),
    `precision`, `compile` and `budget`.

    `Attack(budget='batch')` (L2 only) reproduces the released code of Srinivas et al. (2023): the whole batch is
    one vector whose L2 norm is at most `eps` (a number), and the random start, the steps' normalisation and the
    projection are computed over the batch (`BatchL2Step`). Spread evenly over B examples, a batch budget eps
    is eps / sqrt(B) per example. The default 'example' is the per-example ball of every other chapter.

    `check=False` skips the argument checks, for a loop over batches whose caller checked everything once (the
    training objectives and the dataset constructions do).

    Introduced in Chapter 1."""
    if check:
        _check(model, x, y, attack, loss_fn)
    if not isinstance(attack.compile, bool):
        attack = attack.replace(compile=resolve_compile(attack.compile, "pgd"))
    return _pgd(model, x, y, attack, generator, loss_fn)


def _pgd(model, x, y, attack, generator=None, loss_fn=None):
    """`pgd` without its argument checks (`attack.compile` already resolved to True or False): the attack of a
    loop over batches whose caller checked everything once."""
    loss_fn = loss_fn or _summed_cross_entropy

    def loss(model, x, y):
        with autocast(attack.precision, x.device):
            logits = forward(model, x, attack.compile)
        return loss_fn(logits.float(), y)

    step_class = BatchL2Step if attack.budget == "batch" else STEPS[attack.norm]
    make_step = functools.partial(step_class, eps=attack.eps, step_size=attack.step)
    best = None
    for _ in range(attack.restarts):
        x_adv = ascend(model, x, y, loss, make_step, attack.steps,
                       Loop(descend=attack.targeted, random_start=attack.random_start, generator=generator))
        if attack.restarts == 1:
            return x_adv
        best = _worse(best, (x_adv, *_outcome(model, x_adv, y, attack, loss_fn)))
    return best[0]


def _outcome(model, x_adv, y, attack, loss_fn):
    """Per example: whether the attack succeeded (untargeted: the prediction is not y; targeted: it is y), and
    how far it went (the loss it ascends, or minus the loss it descends)."""
    with torch.no_grad(), evaluating(model), autocast(attack.precision, x_adv.device):
        logits = model(x_adv).float()
    if loss_fn is _summed_cross_entropy:
        value = F.cross_entropy(logits, y, reduction="none")
    else:
        value = torch.stack([loss_fn(logits[i:i + 1], y[i:i + 1]) for i in range(len(y))]).float()
    success = logits.argmax(1) == y if attack.targeted else logits.argmax(1) != y
    return success, -value if attack.targeted else value


def _worse(best, new):
    """The per-example worst case of two restarts (x_adv, success, value): a success beats a failure, then the
    larger value wins; ties keep the earlier restart."""
    if best is None:
        return new
    (x_best, s_best, v_best), (x_new, s_new, v_new) = best, new
    take = (s_new & ~s_best) | ((s_new == s_best) & (v_new > v_best))
    return (torch.where(take.view(-1, *([1] * (x_new.dim() - 1))), x_new, x_best), torch.where(take, s_new, s_best),
            torch.where(take, v_new, v_best))


def predict(model, x, batch_size=1000, check=True):
    """Predicted labels for a batch of any size, in eval mode. `check=False` skips the argument checks, for a
    caller that checked them once.

    Introduced in Chapter 1."""
    if check:
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


def robust_accuracy(model, data, attack: Attack, batch_size=500, seed=0, show_progress=True) -> float:
    """Accuracy under the untargeted `attack` (a fraction); `attack.eps` 0 is clean accuracy.

    The data is attacked in batches of `batch_size`, the random starts drawn from one generator seeded with `seed`;
    the final predictions are always made eagerly in float32. The arguments are checked once; the attack of every
    batch checks nothing again.

    Introduced in Chapter 1."""
    where = "robust_accuracy"
    check_attack(attack, where)
    checks.nonempty(data, "data", where)
    checks.positive(attack.eps, "attack.eps", where, allow_zero=True)
    if attack.step_size is not None:
        checks.positive(attack.step_size, "attack.step_size", where)
    if attack.targeted:
        checks.fail(where, "attack", "be untargeted (robust accuracy attacks the true labels)", got="targeted=True")
    checks.integer(batch_size, "batch_size", where)
    attack = attack.replace(compile=resolve_compile(attack.compile, where))
    if attack.eps == 0:
        return accuracy(model, data)
    checks.images(data.x, "data.x", where)
    checks.labels(data.y, "data.y", where, num_classes=checks.model_logits(model, data.x, "model", where))
    generator = torch.Generator().manual_seed(seed)
    correct = 0
    batches = data.batches(batch_size)
    if show_progress:
        batches = progress(batches, total=math.ceil(len(data) / batch_size),
                           desc=f"PGD {attack.norm} eps={attack.eps:g}")
    for x, y in batches:
        x_adv = _pgd(model, x, y, attack, generator=generator)
        correct += (_predict(model, x_adv) == y).sum().item()
    return correct / len(data)


def accuracy_vs_eps(model, data, eps_list, attack: Attack, batch_size=500, seed=0, show_progress=True) -> list:
    """Robust accuracy at every epsilon of `eps_list`: `robust_accuracy` of `attack.at(eps)` (the attack's own
    `eps`, None or a number, is not used), `batch_size`, `seed` and `show_progress` as there.

    A model that carries its `config` (as every zoo model does) has its curve cached (`cache.cached_values`),
    keyed by that config, digests of its weights and of `data`, the radii and the attack's settings: asked again,
    it is read, not recomputed. Introduced in Chapter 1."""
    where = "accuracy_vs_eps"
    if not isinstance(eps_list, (list, tuple)) or not eps_list:
        checks.fail(where, "eps_list", "be a non-empty list of radii", eps_list, error=checks.ArgumentTypeError)
    for eps in eps_list:
        checks.positive(eps, "every entry of eps_list", where, allow_zero=True)
    check_attack(attack, where, radius=False)
    checks.integer(batch_size, "batch_size", where)
    curve = lambda: [robust_accuracy(model, data, attack.at(eps), batch_size, seed, show_progress)
                     for eps in eps_list]
    if not isinstance(getattr(model, "config", None), dict):
        return curve()
    return cache.cached_values("evaluations", _curve_config(model, data, eps_list, attack, batch_size, seed),
                               curve)[0]


def _curve_config(model, data, eps_list, attack, batch_size, seed) -> dict:
    """The cache key of `accuracy_vs_eps`: the model, the images, the radii and every setting of the attack (its
    fields but the radius, which `eps_list` gives, then `batch_size` and `seed`)."""
    checks.nonempty(data, "data", "accuracy_vs_eps")
    settings = {f.name: getattr(attack, f.name) for f in dataclasses.fields(attack) if f.name != "eps"}
    settings.update(step_size=None if attack.step_size is None else float(attack.step_size), batch_size=batch_size,
                    seed=seed)
    return dict(evaluation="accuracy_vs_eps", model=model.config, weights=cache.tensor_digest(model.state_dict()),
                data=cache.tensor_digest({"x": data.x, "y": data.y}), eps=[float(eps) for eps in eps_list],
                attack=settings)
