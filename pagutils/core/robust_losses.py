"""Four ways to robustness: the training objectives whose strength Srinivas et al. (2023) sweep.

This module defines three training objectives and lists them in `OBJECTIVES`, where `pagutils.core.train`'s
registry (`train.objectives()`) finds them by name; importing this module registers nothing. The fourth, PGD
adversarial training, is train's built-in "pgd":

- "gradient_norm":     CE + lam * ||∇_x CE(x_i)||²             (double back-propagation)
- "noise_consistency": CE + lam * d(f(x_i), f(x_i + sigma ε))   (a smoothness penalty)
- "noise_augmentation": CE(f(x_i + sigma ε))                    (randomized-smoothing training)
- "pgd":               CE(f(x_i + δ_i)), ||δ_i||₂ <= eps         (adversarial training)

Every penalty is computed per example and averaged over the batch, so its size does not depend on
the batch size. Noise is drawn from the training loop's seeded generator. `METHODS` names each
method's strength argument; `zoo.trained_with` gives the zoo configuration of one method at one strength.
"""
import torch
import torch.nn.functional as F

from . import checks

# method -> the objective argument its strength sets, a label for plots, and the strength above which every
# training step's parameter gradient is clipped to the L2 norm CLIP_GRAD_NORM (`Recipe.clip_grad_norm`), so that
# strong penalties stay stable at the full learning rate. (The paper's code divides the learning rate by the
# strength above a threshold instead, which leaves strong models untrained after a fixed number of epochs.)
CLIP_GRAD_NORM = 5.0  # about three times the median gradient norm of standard training of the quick small CNN
METHODS = {
    "gradient_norm": dict(strength="lam", label="gradient-norm regularisation λ", clip_above=1.0),
    "noise_consistency": dict(strength="lam", label="noise-consistency penalty λ", clip_above=1.0),
    "noise_augmentation": dict(strength="sigma", label="noise augmentation σ", clip_above=None),
    "pgd": dict(strength="eps", label="PGD adversarial training ε (L2)", clip_above=None),
}
DIVERGENCES = ("logits", "softmax", "kl")


def _noise(x, sigma, generator):
    """sigma times standard Gaussian noise shaped like x, drawn on the CPU from `generator` (reproducible)."""
    return sigma * torch.randn(x.shape, generator=generator).to(x)


def input_gradient_norms(logits, x, y, create_graph=True):
    """||∇_x CE(f(x_i), y_i)||² for every example i, from logits computed on x (which requires grad).

    The gradient of the summed per-example losses is each example's own input gradient, so this is
    per example. With `create_graph` the result can be differentiated again (double back-propagation).
    Introduced in Chapter 10.
    """
    losses = F.cross_entropy(logits, y, reduction="sum")
    (grad,) = torch.autograd.grad(losses, x, create_graph=create_graph)
    return grad.flatten(1).pow(2).sum(1)


def divergence(logits_a, logits_b, kind="logits"):
    """Per-example divergence between two batches of outputs: (N,).

    'logits': squared L2 distance of the logits (the paper's smoothness penalty); 'softmax': squared L2
    distance of the class probabilities; 'kl': KL(p_a || p_b) of the class distributions.
    Introduced in Chapter 10.
    """
    checks.same_shape(logits_a, logits_b, ("logits_a", "logits_b"), "divergence")
    checks.logits(logits_a, len(logits_a), "logits_a", "divergence")
    checks.one_of(kind, DIVERGENCES, "divergence kind")
    return _divergence(logits_a, logits_b, kind)


def _divergence(logits_a, logits_b, kind):
    """`divergence` over the last axis, unchecked: also for stacked outputs (K, B, classes) -> (K, B)
    (benchmarks/replicates.py trains several models at once with it)."""
    if kind == "logits":
        return (logits_a - logits_b).pow(2).sum(-1)
    if kind == "softmax":
        return (logits_a.softmax(-1) - logits_b.softmax(-1)).pow(2).sum(-1)
    log_a, log_b = logits_a.log_softmax(-1), logits_b.log_softmax(-1)
    return (log_a.exp() * (log_a - log_b)).sum(-1)


def gradient_norm_objective(lam):
    """Cross-entropy plus `lam` times the mean squared input-gradient norm of the per-example loss.

    One forward pass serves both terms; the penalty is differentiated by double back-propagation. (In a
    model with batch norm in training mode an example's gradient also flows through the batch statistics.)
    Introduced in Chapter 10.
    """
    lam = checks.number(lam, "lam", low=0)

    def loss(model, x, y, generator):
        x = x.detach().requires_grad_(True)
        logits = model(x)
        ce = F.cross_entropy(logits, y)
        if lam == 0:
            return ce
        return ce + lam * input_gradient_norms(logits, x, y).mean()
    return loss


def noise_consistency_objective(lam, sigma=0.1, kind="logits"):
    """Cross-entropy on x plus `lam` times the divergence between the outputs on x and on x + N(0, sigma²).
    Introduced in Chapter 10."""
    lam, sigma = checks.number(lam, "lam", low=0), checks.number(sigma, "sigma", low=0)
    checks.one_of(kind, DIVERGENCES, "kind")

    def loss(model, x, y, generator):
        logits = model(x)
        ce = F.cross_entropy(logits, y)
        if lam == 0:
            return ce
        noisy = model(x + _noise(x, sigma, generator))
        return ce + lam * _divergence(logits, noisy, kind).mean()
    return loss


def noise_augmentation_objective(sigma):
    """Cross-entropy on Gaussian-noised inputs x + N(0, sigma²): the training of randomized smoothing.
    Introduced in Chapter 10."""
    sigma = checks.number(sigma, "sigma", low=0)
    return lambda model, x, y, generator: F.cross_entropy(model(x + _noise(x, sigma, generator)), y)


# The objectives of this module by name, for `train.objectives()` (a plain table: nothing registers on import).
OBJECTIVES = {"gradient_norm": gradient_norm_objective, "noise_consistency": noise_consistency_objective,
              "noise_augmentation": noise_augmentation_objective}
