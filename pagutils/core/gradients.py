"""Input gradients of classifiers: the objects whose perceptual alignment Part II studies.

`input_gradient` is ∇_x log p(y | x); `smoothgrad` averages it over Gaussian noise. Two gradient maps are
compared by `alignment.cosine_alignment` and drawn by `plots.magnified`.
"""
import contextlib

import torch

from . import checks
from .models import evaluating


def input_gradient(model, x, y, create_graph=False):
    """∇_x log p(y | x) for every example: a tensor shaped like x.

    The model is evaluated in eval mode and only the input gradient is computed (parameter
    gradients are untouched). With `create_graph` the result can itself be differentiated
    (double back-propagation), and the model keeps its current mode. x is a finite float batch, not
    necessarily in [0, 1] (gradients are also taken at noisy inputs).

    Introduced in Chapter 6."""
    _check(model, x, y, "input_gradient")
    return _input_gradient(model, x, y, create_graph)


def _check(model, x, y, where):
    checks.images(x, "x", where, dims=None, unit=False)
    checks.labels(y, "y", where, n=len(x), num_classes=checks.model_logits(model, x, "model", where))


def _input_gradient(model, x, y, create_graph=False):
    """`input_gradient` without its argument checks, for callers that checked x, y and the model once."""
    with contextlib.nullcontext() if create_graph else evaluating(model):
        x = x.detach().requires_grad_(True)
        log_p = torch.log_softmax(model(x), dim=1).gather(1, y[:, None]).sum()
        (grad,) = torch.autograd.grad(log_p, x, create_graph=create_graph)
    return grad if create_graph else grad.detach()


def smoothgrad(model, x, y, sigma, n_samples=50, seed=0):
    """SmoothGrad: the input gradient averaged over Gaussian perturbations of the input.

    E_{δ ~ N(0, σ² I)} [∇_x log p(y | x + δ)], estimated by the mean over `n_samples` draws (seeded on the
    CPU). With σ -> 0 it is the plain input gradient. At every σ > 0 this expectation is exactly the input
    gradient of the noise-smoothed model x -> E_δ [log p(y | x + δ)] (the gradient of an average is the
    average of the gradients; no approximation in σ), so SmoothGrad is an unbiased estimate of it.

    Introduced in Chapter 6."""
    _check(model, x, y, "smoothgrad")
    checks.positive(sigma, "sigma", "smoothgrad", allow_zero=True)
    checks.integer(n_samples, "n_samples", "smoothgrad")
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros_like(x)
    for _ in range(n_samples):
        noise = torch.randn(x.shape, generator=generator).to(x)
        total += _input_gradient(model, x + sigma * noise, y)
    return total / n_samples
