"""Projected gradient descent (PGD) attacks in L2 and Linf, per example.

An attack step is a small object with `random_start`, `step` and `project`, as in the Madry lab's
`robustness` library. Norms, steps and projections are computed for each example separately (never
over the batch), adversarial inputs stay in [0, 1], the model is attacked in eval mode, and only
input gradients are computed: the model's parameter gradients are never touched.

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
import math

import torch
import torch.nn.functional as F

from . import checks
from .device import resolve_compile
from .models import channels_last, forward, frozen
from .progress import progress


def _per_example_norm(v: torch.Tensor, p) -> torch.Tensor:
    """The p-norm of every example of a batch, shaped (N, 1, 1, ...) for broadcasting (in any memory layout)."""
    return torch.linalg.vector_norm(v, ord=p, dim=tuple(range(1, v.dim())), keepdim=True)


def _per_example(eps, x):
    """eps as a tensor broadcastable over x: a float, or one value per example."""
    eps = torch.as_tensor(eps, dtype=x.dtype, device=x.device)
    return eps.view(-1, *([1] * (x.dim() - 1))) if eps.dim() == 1 else eps


class L2Step:
    """Steps of length `step_size` along the normalised gradient; projection onto the L2 ball of radius `eps`."""

    def __init__(self, x0, eps, step_size):
        self.x0, self.eps, self.step_size = x0, _per_example(eps, x0), _per_example(step_size, x0)

    def random_start(self, generator=None):
        noise = torch.randn(self.x0.shape, generator=generator, device="cpu").to(self.x0)
        direction = noise / _per_example_norm(noise, 2).clamp_min(1e-12)
        radius = torch.rand(len(self.x0), generator=generator).to(self.x0) ** (1 / self.x0[0].numel())
        return self.project(self.x0 + direction * radius.view_as(_per_example_norm(noise, 2)) * self.eps)

    def step(self, x, grad):
        return torch.addcmul(x, grad, self.step_size / _per_example_norm(grad, 2).clamp_min(1e-12))

    def project(self, x):
        delta = x - self.x0
        scale = (self.eps / _per_example_norm(delta, 2).clamp_min(1e-12)).clamp(max=1.0)
        return torch.addcmul(self.x0, delta, scale).clamp_(0, 1)


class LinfStep:
    """Signed-gradient steps of size `step_size`; projection onto the Linf ball of radius `eps`."""

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


STEPS = {"l2": L2Step, "linf": LinfStep}
PRECISIONS = ("float32", "bfloat16")


def autocast(precision, device):
    """The context the model runs in: nothing for float32, bfloat16 autocast on `device` for 'bfloat16'."""
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
        raise ValueError(f"{where}: y must be a tensor of {len(x)} labels, got {checks.describe(y)}")


def pgd(model, x, y, eps, norm="l2", steps=10, step_size=None, targeted=False, random_start=True,
        generator=None, loss_fn=None, precision="float32", compile=None):
    """Adversarial inputs within `eps` of x (per example, in the `norm` ball) and in [0, 1].

    Untargeted: ascend the cross-entropy of the true labels `y`. Targeted: descend the cross-entropy
    of the target labels `y`. `step_size` defaults to 2.5 * eps / steps. `eps` is a float or one value
    per example. `loss_fn(logits, y)` replaces the summed cross-entropy when given. `precision` is
    'float32' or 'bfloat16' (the model runs under bfloat16 autocast; see the module's note). `compile`: run
    the model through torch.compile (None: `PAG_COMPILE` decides; see the module's note).
    """
    _check(model, x, y, eps, norm, steps, step_size, loss_fn, precision=precision)
    compile = resolve_compile(compile, "pgd")
    if step_size is None:
        step_size = 2.5 * torch.as_tensor(eps, dtype=torch.float32) / max(steps, 1)
    loss_fn = loss_fn or (lambda logits, labels: F.cross_entropy(logits, labels, reduction="sum"))
    was_training = model.training
    model.eval()
    try:  # convolutions run channels-last (weights and inputs): the same values, a faster layout
        with channels_last(model) as convolutional, frozen(model):
            x0 = x.detach()
            if convolutional and x0.dim() == 4:
                x0 = x0.contiguous(memory_format=torch.channels_last)
            attack = STEPS[norm](x0, eps, step_size)
            x_adv = attack.random_start(generator) if random_start else x0.clone()
            for _ in range(steps):
                x_adv.requires_grad_(True)
                with autocast(precision, x_adv.device):
                    logits = forward(model, x_adv, compile)
                (grad,) = torch.autograd.grad(loss_fn(logits.float(), y), x_adv)
                x_adv = attack.project(attack.step(x_adv.detach(), grad.neg_() if targeted else grad))
    finally:
        model.train(was_training)
    return x_adv.detach().contiguous()


@torch.no_grad()
def predict(model, x, batch_size=1000):
    """Predicted labels for a batch of any size, in eval mode."""
    checks.images(x, "x", "predict", dims=None, unit=False)
    checks.integer(batch_size, "batch_size", "predict")
    checks.model_logits(model, x, "model", "predict")
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(chunk).argmax(1) for chunk in x.split(batch_size)])
    finally:
        model.train(was_training)


def accuracy(model, data, batch_size=1000) -> float:
    """Clean accuracy of `model` on a `Data` set, as a fraction."""
    checks.nonempty(data, "data", "accuracy")
    return (predict(model, data.x, batch_size) == data.y).float().mean().item()


def robust_accuracy(model, data, eps, norm="l2", steps=20, step_size=None, batch_size=500, seed=0,
                    show_progress=True, precision="float32", compile=None) -> float:
    """Accuracy under untargeted PGD of radius `eps` (a fraction); eps 0 is clean accuracy.

    `precision` and `compile` are the attack's (`pgd`); the final predictions are always made eagerly in float32."""
    checks.nonempty(data, "data", "robust_accuracy")
    checks.positive(eps, "eps", "robust_accuracy", allow_zero=True)
    checks.norm(norm, "robust_accuracy")
    checks.integer(steps, "steps", "robust_accuracy", low=0)
    checks.integer(batch_size, "batch_size", "robust_accuracy")
    checks.one_of(precision, PRECISIONS, "precision", "robust_accuracy")
    compile = resolve_compile(compile, "robust_accuracy")
    if eps == 0:
        return accuracy(model, data)
    generator = torch.Generator().manual_seed(seed)
    correct = 0
    batches = data.batches(batch_size)
    if show_progress:
        batches = progress(batches, total=math.ceil(len(data) / batch_size), desc=f"PGD {norm} eps={eps:g}")
    for x, y in batches:
        x_adv = pgd(model, x, y, eps, norm, steps, step_size, generator=generator, precision=precision,
                    compile=compile)
        correct += (predict(model, x_adv) == y).sum().item()
    return correct / len(data)


def accuracy_vs_eps(model, data, eps_list, norm="l2", steps=20, **kwargs) -> list:
    """Robust accuracy at every epsilon of `eps_list`."""
    if not isinstance(eps_list, (list, tuple)) or not eps_list:
        raise checks.ArgumentTypeError(f"accuracy_vs_eps: eps_list must be a non-empty list of radii, got "
                                       f"{checks.describe(eps_list)}")
    for eps in eps_list:
        checks.positive(eps, "every entry of eps_list", "accuracy_vs_eps", allow_zero=True)
    return [robust_accuracy(model, data, eps, norm, steps, **kwargs) for eps in eps_list]
