"""Input gradients of classifiers: the objects whose perceptual alignment Part II studies.

`input_gradient` is ∇_x log p(y | x); `smoothgrad` averages it over Gaussian noise; `cosine_similarity`
compares two gradient maps; `as_image` maps gradients to [0, 1] for display.
"""
import torch

from . import checks

def input_gradient(model, x, y, create_graph=False):
    """∇_x log p(y | x) for every example: a tensor shaped like x.

    The model is evaluated in eval mode and only the input gradient is computed (parameter
    gradients are untouched). With `create_graph` the result can itself be differentiated
    (double back-propagation), and the model keeps its current mode.
    """
    _check_batch(x, y, "input_gradient")
    was_training = model.training
    if not create_graph:
        model.eval()
    try:
        x = x.detach().requires_grad_(True)
        logits = model(x)
        checks.labels(y, "y", "input_gradient", num_classes=checks.logits(logits, len(x), "model", "input_gradient"))
        log_p = torch.log_softmax(logits, dim=1).gather(1, y[:, None]).sum()
        (grad,) = torch.autograd.grad(log_p, x, create_graph=create_graph)
    finally:
        model.train(was_training)
    return grad if create_graph else grad.detach()


def _check_batch(x, y, where):
    """x: a finite float batch (not necessarily in [0, 1]: gradients are also taken at noisy inputs);
    y: one integer label per example."""
    checks.images(x, "x", where, dims=None, unit=False)
    checks.labels(y, "y", where, n=len(x))


def smoothgrad(model, x, y, sigma, n_samples=50, seed=0):
    """SmoothGrad: the input gradient averaged over Gaussian perturbations of the input.

    E_{δ ~ N(0, σ² I)} [∇_x log p(y | x + δ)], estimated from `n_samples` draws (seeded on the CPU).
    With σ -> 0 it is the plain input gradient; with σ > 0 it is the input gradient of the
    Gaussian-smoothed model (for small σ, to first order).
    """
    _check_batch(x, y, "smoothgrad")
    checks.positive(sigma, "sigma", "smoothgrad", allow_zero=True)
    checks.integer(n_samples, "n_samples", "smoothgrad")
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros_like(x)
    for _ in range(n_samples):
        noise = torch.randn(x.shape, generator=generator).to(x)
        total += input_gradient(model, x + sigma * noise, y)
    return total / n_samples


def cosine_similarity(a, b):
    """The cosine of the angle between `a[i]` and `b[i]` (flattened) for every example: a (N,) tensor."""
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor) or a.shape != b.shape or a.dim() < 2:
        raise ValueError(f"a and b must be batches of the same shape, got {getattr(a, 'shape', a)} and {getattr(b, 'shape', b)}")
    return torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1), dim=1)


def as_image(grad, signed=True, percentile=99.0):
    """Gradient maps as images in [0, 1] for `plots.image_grid`, each scaled to its own range.

    `signed`: grey is zero, white positive, black negative (channels kept). Otherwise the magnitude
    summed over channels, black zero and white large. Values are scaled by the `percentile` of each
    map's magnitude, so a few extreme pixels do not wash out the rest.
    """
    if not isinstance(grad, torch.Tensor) or grad.dim() != 4:
        raise ValueError(f"grad must be a (N, C, H, W) tensor, got {getattr(grad, 'shape', type(grad).__name__)}")
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
    grad = grad.detach().float().cpu()
    values = grad if signed else grad.abs().sum(1, keepdim=True)
    scale = values.abs().flatten(1).quantile(percentile / 100, dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
    scaled = values / scale
    return (0.5 + 0.5 * scaled).clamp(0, 1) if signed else scaled.clamp(0, 1)
