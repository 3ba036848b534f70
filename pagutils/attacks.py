"""Projected gradient descent (PGD) attacks in L2 and Linf, per example.

An attack step is a small object with `random_start`, `step` and `project`, as in the Madry lab's
`robustness` library. Norms, steps and projections are computed for each example separately (never
over the batch), adversarial inputs stay in [0, 1], the model is attacked in eval mode, and only
input gradients are computed: the model's parameter gradients are never touched.
"""
import math

import torch
import torch.nn.functional as F

from .progress import progress


def _per_example_norm(v: torch.Tensor, p) -> torch.Tensor:
    """The p-norm of every example of a batch, shaped (N, 1, 1, ...) for broadcasting."""
    flat = v.flatten(1)
    norms = flat.abs().amax(dim=1) if p == math.inf else flat.norm(p=p, dim=1)
    return norms.view(-1, *([1] * (v.dim() - 1)))


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
        return x + self.step_size * grad / _per_example_norm(grad, 2).clamp_min(1e-12)

    def project(self, x):
        delta = x - self.x0
        scale = (self.eps / _per_example_norm(delta, 2).clamp_min(1e-12)).clamp(max=1.0)
        return (self.x0 + delta * scale).clamp(0, 1)


class LinfStep:
    """Signed-gradient steps of size `step_size`; projection onto the Linf ball of radius `eps`."""

    def __init__(self, x0, eps, step_size):
        self.x0, self.eps, self.step_size = x0, _per_example(eps, x0), _per_example(step_size, x0)

    def random_start(self, generator=None):
        noise = torch.rand(self.x0.shape, generator=generator, device="cpu").to(self.x0) * 2 - 1
        return self.project(self.x0 + noise * self.eps)

    def step(self, x, grad):
        return x + self.step_size * grad.sign()

    def project(self, x):
        return torch.minimum(torch.maximum(x, self.x0 - self.eps), self.x0 + self.eps).clamp(0, 1)


STEPS = {"l2": L2Step, "linf": LinfStep}


def _check(model, x, y, eps, norm, steps, step_size):
    if norm not in STEPS:
        raise ValueError(f"norm must be 'l2' or 'linf', got {norm!r}")
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or not x.is_floating_point():
        raise ValueError(f"x must be a float tensor with a batch dimension, got {type(x).__name__} {getattr(x, 'shape', '')}")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"x must hold pixel values in [0, 1], got values in [{x.min().item():.3g}, {x.max().item():.3g}]")
    if not isinstance(y, torch.Tensor) or y.shape != x.shape[:1]:
        raise ValueError(f"y must be a tensor of {len(x)} labels, got {getattr(y, 'shape', type(y).__name__)}")
    if torch.as_tensor(eps).lt(0).any():
        raise ValueError(f"eps must be >= 0, got {eps}")
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    if step_size is not None and torch.as_tensor(step_size).le(0).any():
        raise ValueError(f"step_size must be > 0, got {step_size}")


def pgd(model, x, y, eps, norm="l2", steps=10, step_size=None, targeted=False, random_start=True,
        generator=None, loss_fn=None):
    """Adversarial inputs within `eps` of x (per example, in the `norm` ball) and in [0, 1].

    Untargeted: ascend the cross-entropy of the true labels `y`. Targeted: descend the cross-entropy
    of the target labels `y`. `step_size` defaults to 2.5 * eps / steps. `eps` is a float or one value
    per example. `loss_fn(logits, y)` replaces the summed cross-entropy when given.
    """
    _check(model, x, y, eps, norm, steps, step_size)
    if step_size is None:
        step_size = 2.5 * torch.as_tensor(eps, dtype=torch.float32) / max(steps, 1)
    x0 = x.detach()
    attack = STEPS[norm](x0, eps, step_size)
    loss_fn = loss_fn or (lambda logits, labels: F.cross_entropy(logits, labels, reduction="sum"))
    was_training = model.training
    model.eval()
    try:
        x_adv = attack.random_start(generator) if random_start else x0.clone()
        for _ in range(steps):
            x_adv.requires_grad_(True)
            loss = loss_fn(model(x_adv), y)
            (grad,) = torch.autograd.grad(loss, x_adv)
            x_adv = attack.project(attack.step(x_adv.detach(), -grad if targeted else grad))
    finally:
        model.train(was_training)
    return x_adv.detach()


@torch.no_grad()
def predict(model, x, batch_size=1000):
    """Predicted labels for a batch of any size, in eval mode."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(chunk).argmax(1) for chunk in x.split(batch_size)])
    finally:
        model.train(was_training)


def accuracy(model, data, batch_size=1000) -> float:
    """Clean accuracy of `model` on a `Data` set, as a fraction."""
    return (predict(model, data.x, batch_size) == data.y).float().mean().item()


def robust_accuracy(model, data, eps, norm="l2", steps=20, step_size=None, batch_size=500, seed=0,
                    show_progress=True) -> float:
    """Accuracy under untargeted PGD of radius `eps` (a fraction); eps 0 is clean accuracy."""
    if eps == 0:
        return accuracy(model, data)
    generator = torch.Generator().manual_seed(seed)
    correct = 0
    batches = data.batches(batch_size)
    if show_progress:
        batches = progress(batches, total=math.ceil(len(data) / batch_size), desc=f"PGD {norm} eps={eps:g}")
    for x, y in batches:
        x_adv = pgd(model, x, y, eps, norm, steps, step_size, generator=generator)
        correct += (predict(model, x_adv) == y).sum().item()
    return correct / len(data)


def accuracy_vs_eps(model, data, eps_list, norm="l2", steps=20, **kwargs) -> list:
    """Robust accuracy at every epsilon of `eps_list`."""
    return [robust_accuracy(model, data, eps, norm, steps, **kwargs) for eps in eps_list]
