"""Helpers for the assignments' tests: clear failure messages, seeded inputs and tiny models.

otter assign ships this file beside every student notebook and inside every autograder zip (the `files`
entry of each master notebook's ASSIGNMENT CONFIG), so a test imports it with `from checks import ...`
wherever it runs: in the master notebook, in a student's `grader.check("q1")`, and in the grader.
"""
import contextlib
import math

import torch
from torch import nn


def assert_close(actual, expected, what: str, atol: float = 1e-5, rtol: float = 1e-4):
    """AssertionError naming `what` unless `actual` is a tensor (or, where `expected` is a number, a number)
    of `expected`'s shape with close values."""
    expected = torch.as_tensor(expected)
    if expected.dim() == 0 and not isinstance(actual, (torch.Tensor, bool)):
        try:
            actual = torch.as_tensor(float(actual))  # a number where the reference is a number
        except (TypeError, ValueError):
            raise AssertionError(f"{what} must be a number, got {type(actual).__name__}") from None
    if not isinstance(actual, torch.Tensor):
        raise AssertionError(f"{what} must be a torch.Tensor, got {type(actual).__name__}")
    if tuple(actual.shape) != tuple(expected.shape):
        raise AssertionError(f"{what} must have shape {tuple(expected.shape)}, got {tuple(actual.shape)}")
    a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
    if torch.isnan(a).any() and not torch.isnan(e).any():
        raise AssertionError(f"{what} contains NaN")
    if not torch.allclose(a, e, atol=atol, rtol=rtol, equal_nan=True):
        worst = (a - e).abs().nan_to_num(nan=math.inf).max().item()
        raise AssertionError(f"{what} differs from the reference by up to {worst:.3g} "
                             f"(tolerance {atol:g} + {rtol:g} * |reference|)")


@contextlib.contextmanager
def substitute(namespace: dict, **objects):
    """Inside the block, `namespace` (the student's globals: a test's `env`) maps the given names to `objects`;
    afterwards the student's own definitions are back. A test of one question puts the reference in place of
    the functions of other questions that the student's function calls, so one mistake costs one question."""
    if not isinstance(namespace, dict):
        raise TypeError(f"namespace must be a dict such as a test's env, got {type(namespace).__name__}")
    missing, saved = object(), {}
    for name, value in objects.items():
        saved[name] = namespace.get(name, missing)
        namespace[name] = value
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value


def random_images(n: int, shape=(1, 8, 8), seed: int = 0) -> torch.Tensor:
    """`n` seeded random images in [0, 1] of `shape`: a (n, *shape) float tensor."""
    return torch.rand((n, *shape), generator=torch.Generator().manual_seed(seed))


def _seeded(seed, build):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def tiny_classifier(in_shape=(1, 8, 8), num_classes: int = 4, width: int = 16, seed: int = 0) -> nn.Module:
    """A small smooth classifier (flatten, linear, tanh, linear) with seeded weights, in eval mode."""
    return _seeded(seed, lambda: nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), width), nn.Tanh(),
                                               nn.Linear(width, num_classes))).eval()


class Masked(nn.Module):
    """`model` applied to `mask * x`: blind to every pixel where the (1, C, H, W) `mask` is 0."""

    def __init__(self, model: nn.Module, mask: torch.Tensor):
        super().__init__()
        self.model = model
        self.register_buffer("mask", mask)

    def forward(self, x):
        return self.model(self.mask * x)


class SubspaceClassifier(nn.Module):
    """Logits from the coordinates of x in (or, `complement=True`, orthogonal to) the span of one orthonormal
    `basis` (D, k), shared by all examples: blind to every direction off (or on) that subspace."""

    def __init__(self, basis: torch.Tensor, num_classes: int = 4, complement: bool = False, seed: int = 0):
        super().__init__()
        self.register_buffer("basis", basis)
        self.complement = complement
        self.head = _seeded(seed, lambda: nn.Linear(basis.shape[0], num_classes))

    def forward(self, x):
        flat = x.flatten(1)
        on = flat @ self.basis @ self.basis.T
        return self.head(flat - on if self.complement else on)


class LinearAutoencoder(nn.Module):
    """decode(z) = W z + b, reshaped to (C, H, W) images; encode(x) = W^T (x - b). Its decoder Jacobian is W at
    every code, so the tangent space at every image is the column space of `weight` (D, k), exactly."""

    def __init__(self, shape=(1, 4, 4), latent_dim: int = 3, seed: int = 0):
        super().__init__()
        self.shape, self.latent_dim = tuple(shape), latent_dim
        g = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(torch.randn(math.prod(shape), latent_dim, generator=g))
        self.bias = nn.Parameter(torch.rand(math.prod(shape), generator=g))

    def encode(self, x):
        return (x.flatten(1) - self.bias) @ self.weight

    def decode(self, z):
        return (z @ self.weight.T + self.bias).view(-1, *self.shape)

    def forward(self, x):
        return self.decode(self.encode(x))


def tiny_autoencoder(shape=(1, 8, 8), latent_dim: int = 3, width: int = 4, seed: int = 0) -> nn.Module:
    """pagutils' convolutional autoencoder (Chapter 9), small and with seeded untrained weights, in eval mode."""
    from pagutils.aligned_gradients.manifold import Autoencoder
    return _seeded(seed, lambda: Autoencoder(shape, latent_dim, width)).eval()
