"""Properties of the attacks, steps, projections, the cosine and the checks over random shapes, norms and radii
(hypothesis)."""
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from pagutils import alignment, attacks, checks, manifold

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOL = 1e-5

shapes = st.tuples(st.integers(1, 5), st.integers(1, 3), st.integers(1, 6), st.integers(1, 6))
norms = st.sampled_from(["l2", "linf"])
radii = st.floats(0.0, 3.0, allow_nan=False)
seeds = st.integers(0, 2**16)


def _batch(shape, seed, spread=1.0):
    """x0 in [0, 1] and a point x around it (possibly far outside the ball and [0, 1])."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.rand(shape, generator=g, dtype=torch.float64)
    return x0, x0 + spread * torch.randn(shape, generator=g, dtype=torch.float64)


def _radius(eps, n, per_example, seed):
    if not per_example:
        return eps
    return torch.rand(n, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64) * eps


def _norms(delta, norm):
    return attacks.per_example_norm(delta, 2 if norm == "l2" else math.inf).flatten()


def _bound(eps, n):
    return torch.as_tensor(eps, dtype=torch.float64).expand(n)


@SETTINGS
@given(shape=shapes, norm=norms, eps=radii, per_example=st.booleans(), seed=seeds, spread=st.floats(0.01, 10))
def test_projection_lands_in_the_ball_and_in_pixel_range_and_is_idempotent(shape, norm, eps, per_example, seed, spread):
    x0, x = _batch(shape, seed, spread)
    eps = _radius(eps, shape[0], per_example, seed)
    step = attacks.STEPS[norm](x0, eps, 0.1)
    projected = step.project(x)
    assert projected.shape == x.shape
    assert projected.min() >= 0 and projected.max() <= 1
    assert (_norms(projected - x0, norm) <= _bound(eps, shape[0]) + TOL).all()
    torch.testing.assert_close(step.project(projected), projected, atol=1e-9, rtol=0)


@SETTINGS
@given(shape=shapes, norm=norms, eps=st.floats(0.01, 3.0), seed=seeds)
def test_points_inside_the_ball_and_the_image_are_not_moved(shape, norm, eps, seed):
    x0, x = _batch(shape, seed)
    step = attacks.STEPS[norm](x0, eps, 0.1)
    inside = step.project(x0 + 0.5 * (step.project(x) - x0))  # half-way to a projected point: inside both sets
    torch.testing.assert_close(step.project(inside), inside, atol=1e-12, rtol=0)


@SETTINGS
@given(shape=shapes, norm=norms, eps=radii, per_example=st.booleans(), seed=seeds)
def test_random_start_is_inside_the_ball_and_reproducible(shape, norm, eps, per_example, seed):
    x0, _ = _batch(shape, seed)
    eps = _radius(eps, shape[0], per_example, seed)
    step = attacks.STEPS[norm](x0, eps, 0.1)
    start = step.random_start(torch.Generator().manual_seed(seed))
    assert start.min() >= 0 and start.max() <= 1
    assert (_norms(start - x0, norm) <= _bound(eps, shape[0]) + TOL).all()
    assert torch.equal(start, step.random_start(torch.Generator().manual_seed(seed)))


@SETTINGS
@given(shape=shapes, p=st.sampled_from([1, 2, math.inf]), seed=seeds)
def test_per_example_norm_is_each_examples_own_norm(shape, p, seed):
    v = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    norms = attacks.per_example_norm(v, p)
    assert norms.shape == (shape[0],) + (1,) * (len(shape) - 1)
    for i in range(shape[0]):
        assert norms.flatten()[i].item() == pytest.approx(torch.linalg.vector_norm(v[i].flatten(), p).item(), rel=1e-12)


@SETTINGS
@given(shape=shapes, seed=seeds, step_size=st.floats(0.01, 2.0), eps=st.one_of(st.none(), st.floats(0.01, 3.0)),
       noise=st.sampled_from([0.0, 0.1]), per_image=st.booleans(), steps=st.integers(1, 4))
def test_the_masked_step_never_changes_an_unmasked_pixel(shape, seed, step_size, eps, noise, per_image, steps):
    """Generation's unconstrained step changes only the masked pixels (the others keep their starting values
    exactly), keeps x in [0, 1] and, with `eps`, in the L2 ball around the start, whatever the gradients."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.rand(shape, generator=g, dtype=torch.float64)
    mask = (torch.rand((shape[0] if per_image else 1, 1, *shape[2:]), generator=g) < 0.5).double()
    step = attacks.MaskedStep(x0, step_size, eps=eps, mask=mask, noise=noise, generator=g)
    x = x0.clone()
    for _ in range(steps):
        x = step.project(step.step(x, 10 * torch.randn(shape, generator=g, dtype=torch.float64)))
    keep = mask.expand_as(x0) == 0
    assert torch.equal(x[keep], x0[keep])
    assert x.min() >= 0 and x.max() <= 1
    if eps is not None:
        assert (_norms(x - x0, "l2") <= eps + TOL).all()


@SETTINGS
@given(shape=shapes, seed=seeds, step_size=st.floats(1e-3, 0.5))
def test_the_unconstrained_step_has_length_step_size_and_only_clamps(shape, seed, step_size):
    g = torch.Generator().manual_seed(seed)
    x0, x = _batch(shape, seed)
    grad = torch.randn(shape, generator=g, dtype=torch.float64)
    step = attacks.NormalisedStep(x0, step_size)
    moved = step.step(x0, grad)
    torch.testing.assert_close(_norms(moved - x0, "l2"), torch.full((shape[0],), step_size, dtype=torch.float64))
    torch.testing.assert_close(step.project(x.clone()), x.clamp(0, 1), atol=0, rtol=0)


@SETTINGS
@given(shape=shapes, seed=seeds, scale=st.floats(1e-3, 1e3))
def test_the_one_cosine_agrees_with_torchs(shape, seed, scale):
    g = torch.Generator().manual_seed(seed)
    a, b = (torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(2))
    cosine = alignment.cosine_alignment(a, scale * b)
    torch.testing.assert_close(cosine, F.cosine_similarity(a.flatten(1), b.flatten(1), dim=1))
    torch.testing.assert_close(alignment.cosine_alignment(a, -scale * a), -torch.ones(shape[0], dtype=torch.float64))
    assert (cosine.abs() <= 1 + 1e-12).all()


def _linear_model(shape, classes, seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape[1:]), classes)).double()


@SETTINGS
@given(shape=shapes, norm=norms, eps=radii, per_example=st.booleans(), steps=st.integers(0, 3),
       classes=st.integers(2, 5), targeted=st.booleans(), random_start=st.booleans(), seed=seeds)
def test_pgd_stays_within_eps_and_pixel_range_for_any_shape(shape, norm, eps, per_example, steps, classes, targeted,
                                                           random_start, seed):
    x, _ = _batch(shape, seed)
    y = torch.randint(classes, (shape[0],), generator=torch.Generator().manual_seed(seed))
    eps = _radius(eps, shape[0], per_example, seed)
    model = _linear_model(shape, classes, seed)
    attack = attacks.Attack(norm, eps, steps, targeted=targeted, random_start=random_start)
    run = lambda: attacks.pgd(model, x, y, attack, generator=torch.Generator().manual_seed(seed))
    x_adv = run()
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (_norms(x_adv - x, norm) <= _bound(eps, shape[0]) + TOL).all()
    assert torch.equal(x_adv, run()), "the same generator gives the same attack"
    if steps == 0 and not random_start:
        assert torch.equal(x_adv, x)


@SETTINGS
@given(shape=shapes, seed=seeds, low=st.floats(-2, 1), high=st.floats(0, 3), poison=st.sampled_from([None, "nan", "inf"]))
def test_images_check_accepts_exactly_finite_batches_in_unit_range(shape, seed, low, high, poison):
    x = low + (high - low) * torch.rand(shape, generator=torch.Generator().manual_seed(seed))
    if poison:
        x.view(-1)[seed % x.numel()] = float(poison)
    good = poison is None and x.min() >= 0 and x.max() <= 1
    if good:
        assert checks.images(x) is x
    else:
        with pytest.raises(ValueError, match=r"x must (be finite|hold pixel values in \[0, 1\])"):
            checks.images(x)


@SETTINGS
@given(value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5), st.booleans(),
                       st.text(max_size=3), st.none()))
def test_radius_check_accepts_exactly_finite_non_negative_numbers(value):
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0)
    if ok:
        assert checks.radius(value, "eps") == value
    else:
        with pytest.raises(ValueError, match="eps must be"):
            checks.radius(value, "eps")


@SETTINGS
@given(n=st.integers(1, 4), d=st.integers(1, 12), k=st.integers(1, 12), seed=seeds)
def test_tangent_projections_split_a_vector_into_orthogonal_parts(n, d, k, seed):
    k = min(k, d)
    g = torch.Generator().manual_seed(seed)
    basis = manifold.orthonormalize(torch.randn(n, d, k, generator=g, dtype=torch.float64))
    v = torch.randn(n, d, generator=g, dtype=torch.float64)
    on, off = manifold.project_onto(v, basis), manifold.project_off(v, basis)
    torch.testing.assert_close(on + off, v)
    torch.testing.assert_close(manifold.project_onto(on, basis), on)
    assert ((on * off).sum(1).abs() <= 1e-9 * (1 + v.pow(2).sum(1))).all()
    fraction = manifold.on_manifold_fraction(v, basis)
    assert ((fraction >= 0) & (fraction <= 1)).all()
