import copy
import functools

import pytest
import torch
import torch.nn.functional as F

from pagutils import attacks, checks


def _norms(delta, norm):
    flat = delta.flatten(1)
    return flat.norm(dim=1) if norm == "l2" else flat.abs().amax(dim=1)


@pytest.mark.parametrize("norm,eps", [("l2", 1.5), ("linf", 0.1)])
def test_every_example_stays_in_its_ball_and_in_pixel_range(trained_cnn, mnist_test, norm, eps):
    x, y = mnist_test.x[:64], mnist_test.y[:64]
    x_adv = attacks.pgd(trained_cnn, x, y, eps, norm, steps=10)
    assert (_norms(x_adv - x, norm) <= eps + 1e-5).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (_norms(x_adv - x, norm) > 0.5 * eps).float().mean() > 0.9  # the attack uses its budget


def test_per_example_radii_are_respected(trained_cnn, mnist_test):
    x, y = mnist_test.x[:32], mnist_test.y[:32]
    eps = torch.linspace(0.1, 3.0, 32)
    x_adv = attacks.pgd(trained_cnn, x, y, eps, "l2", steps=10)
    assert (_norms(x_adv - x, "l2") <= eps + 1e-5).all()


def test_norms_and_projections_are_per_example_not_per_batch(trained_cnn, mnist_test):
    """An example's attack must not depend on the other examples of its batch (in float64, where batched and
    single-example convolutions agree to rounding; in float32 they drift apart by up to ~1e-2)."""
    model = copy.deepcopy(trained_cnn).double()
    x, y = mnist_test.x[:16].double(), mnist_test.y[:16]
    for norm, eps in (("l2", 1.0), ("linf", 0.1)):
        together = attacks.pgd(model, x, y, eps, norm, steps=5, random_start=False)
        alone = torch.cat([attacks.pgd(model, x[i:i + 1], y[i:i + 1], eps, norm, steps=5, random_start=False)
                           for i in range(len(x))])
        torch.testing.assert_close(together, alone, atol=1e-9, rtol=0)


def test_pgd_raises_the_loss_of_a_trained_model(trained_cnn, mnist_test):
    x, y = mnist_test.x[:128], mnist_test.y[:128]
    x_adv = attacks.pgd(trained_cnn, x, y, 1.5, "l2", steps=10)
    with torch.no_grad():
        clean = F.cross_entropy(trained_cnn(x), y, reduction="none")
        attacked = F.cross_entropy(trained_cnn(x_adv), y, reduction="none")
    assert (attacked >= clean - 1e-4).float().mean() > 0.95
    assert attacked.mean() > 3 * clean.mean() + 0.3


@pytest.mark.parametrize("norm,eps", [("l2", 1.5), ("linf", 0.1)])
def test_bfloat16_attack_stays_in_the_ball_and_matches_float32_strength(trained_cnn, mnist_test, norm, eps):
    """Under bfloat16 autocast the iterates stay float32 and inside the ball, and the attack is about as
    strong as in float32: the robust accuracies differ by a few points at most."""
    x, y = mnist_test.x[:200], mnist_test.y[:200]
    adv = {p: attacks.pgd(trained_cnn, x, y, eps, norm, steps=10, precision=p,
                          generator=torch.Generator().manual_seed(0)) for p in attacks.PRECISIONS}
    assert adv["bfloat16"].dtype == torch.float32
    assert (_norms(adv["bfloat16"] - x, norm) <= eps + 1e-5).all()
    assert adv["bfloat16"].min() >= 0 and adv["bfloat16"].max() <= 1
    accuracy = {p: (attacks.predict(trained_cnn, a) == y).float().mean().item() for p, a in adv.items()}
    assert accuracy["bfloat16"] < (attacks.predict(trained_cnn, x) == y).float().mean().item() - 0.1
    assert abs(accuracy["bfloat16"] - accuracy["float32"]) <= 0.05


def test_compiled_attack_gives_the_eager_examples_and_leaves_the_model_as_it_was(trained_cnn, mnist_test):
    """torch.compile changes how the model runs, not what the attack computes; the parameters' requires_grad
    flags (frozen during the attack) come back as they were, one of them off."""
    model = copy.deepcopy(trained_cnn)
    head = list(model.parameters())[-1]
    head.requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    x, y = mnist_test.x[:16], mnist_test.y[:16]
    eager = attacks.pgd(model, x, y, 1.5, "l2", steps=3, random_start=False, compile=False)
    compiled = attacks.pgd(model, x, y, 1.5, "l2", steps=3, random_start=False, compile=True)
    assert (eager - x).abs().max() > 0.1
    assert (compiled - eager).abs().max() < 1e-4
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())


def test_pag_compile_is_the_default_and_a_bad_value_is_named(trained_cnn, mnist_test, monkeypatch):
    from pagutils import device
    monkeypatch.setenv("PAG_COMPILE", "1")
    assert device.resolve_compile(None, "pgd") is True
    assert device.resolve_compile(False, "pgd") is False
    monkeypatch.setenv("PAG_COMPILE", "yes")
    with pytest.raises(ValueError, match=r"PAG_COMPILE='yes': expected '1' \(compile attacked models\) or '0'"):
        attacks.pgd(trained_cnn, mnist_test.x[:4], mnist_test.y[:4], 1.0, steps=1)


def test_targeted_pgd_reaches_the_target_on_most_examples(trained_cnn, mnist_test):
    x, y = mnist_test.x[:100], mnist_test.y[:100]
    target = (y + 1) % 10
    x_adv = attacks.pgd(trained_cnn, x, target, eps=6.0, norm="l2", steps=100, targeted=True)
    assert (attacks.predict(trained_cnn, x_adv) == target).float().mean() > 0.8


def test_attack_leaves_parameter_gradients_and_mode_untouched(trained_cnn, mnist_test):
    model = trained_cnn
    model.train()
    marks = [torch.full_like(p, 0.123) for p in model.parameters()]
    for p, mark in zip(model.parameters(), marks):
        p.grad = mark.clone()
    attacks.pgd(model, mnist_test.x[:32], mnist_test.y[:32], 1.0, "l2", steps=3)
    assert model.training, "the model's mode must be restored after the attack"
    for p, mark in zip(model.parameters(), marks):
        assert torch.equal(p.grad, mark)
    for p in model.parameters():
        p.grad = None
    attacks.pgd(model, mnist_test.x[:32], mnist_test.y[:32], 1.0, "linf", steps=3)
    assert all(p.grad is None for p in model.parameters())
    model.eval()


def test_seeded_random_start_is_reproducible(trained_cnn, mnist_test):
    x, y = mnist_test.x[:16], mnist_test.y[:16]
    a = attacks.pgd(trained_cnn, x, y, 1.0, steps=3, generator=torch.Generator().manual_seed(7))
    b = attacks.pgd(trained_cnn, x, y, 1.0, steps=3, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_robust_accuracy_at_eps_zero_is_clean_accuracy_and_falls_with_eps(trained_cnn, mnist_test):
    clean = attacks.accuracy(trained_cnn, mnist_test)
    curve = attacks.accuracy_vs_eps(trained_cnn, mnist_test[:200], [0.0, 1.0, 2.5], "l2", steps=10)
    assert curve[0] == pytest.approx(attacks.accuracy(trained_cnn, mnist_test[:200]))
    assert clean > 0.9
    assert curve[0] > curve[1] > curve[2]


@pytest.mark.parametrize("kwargs,message", [
    (dict(norm="l1"), "norm must be 'l2' or 'linf'"),
    (dict(eps=-0.5), "eps must be >= 0"),
    (dict(steps=2.5), "steps must be a non-negative int"),
    (dict(step_size=0.0), "step_size must be > 0"),
    (dict(precision="float16"), r"precision must be one of \('float32', 'bfloat16'\)"),
    (dict(compile="yes"), r"pgd: compile must be True, False or None \(None: the PAG_COMPILE environment variable "
                          r"decides\), got 'yes'"),
])
def test_bad_arguments_are_named(trained_cnn, mnist_test, kwargs, message):
    args = dict(eps=1.0, norm="l2", steps=3) | kwargs
    with pytest.raises(ValueError, match=message):
        attacks.pgd(trained_cnn, mnist_test.x[:4], mnist_test.y[:4], **args)


def test_inputs_outside_pixel_range_are_refused(trained_cnn, mnist_test):
    with pytest.raises(ValueError, match=r"x must hold pixel values in \[0, 1\]"):
        attacks.pgd(trained_cnn, mnist_test.x[:4] * 255, mnist_test.y[:4], 1.0)
    with pytest.raises(ValueError, match="y must be a tensor of 4 labels"):
        attacks.pgd(trained_cnn, mnist_test.x[:4], mnist_test.y[:3], 1.0)


def _summed_cross_entropy(model, x, y):
    return F.cross_entropy(model(x), y, reduction="sum")


@pytest.mark.parametrize("norm,eps,step_size", [("l2", 1.0, 0.25), ("linf", 0.1, 0.02)])
@pytest.mark.parametrize("targeted,random_start", [(False, False), (True, False), (False, True)])
def test_the_loop_with_pgds_loss_and_step_is_pgd(trained_cnn, mnist_test, norm, eps, step_size, targeted,
                                                 random_start):
    """pgd is the attack loop with the summed cross-entropy and a ball step: given them, the loop reproduces it
    bit for bit (targeted: the loss is descended)."""
    x, y = mnist_test.x[:16], mnist_test.y[:16]
    y = (y + 1) % 10 if targeted else y
    expected = attacks.pgd(trained_cnn, x, y, eps, norm, 4, step_size, targeted=targeted, random_start=random_start,
                           generator=torch.Generator().manual_seed(5))
    ours = attacks.ascend(trained_cnn, x, y, _summed_cross_entropy,
                          functools.partial(attacks.STEPS[norm], eps=eps, step_size=step_size), 4, descend=targeted,
                          random_start=random_start, generator=torch.Generator().manual_seed(5))
    assert not torch.equal(expected, x)
    assert torch.equal(ours, expected)


def test_the_loop_ascends_any_loss_and_its_step_keeps_the_ball(trained_cnn, mnist_test):
    """Another loss (a logit of one class) moves the loop elsewhere than pgd, inside the same ball; a loss that
    records its values is called once more at the last iterate with `evaluate_last`."""
    x, y = mnist_test.x[:16], mnist_test.y[:16]
    values = []

    def logit_of_three(model, x, y):
        value = model(x)[:, 3].sum()
        values.append(value.item())
        return value

    x_adv = attacks.ascend(trained_cnn, x, y, logit_of_three, functools.partial(attacks.L2Step, eps=1.5, step_size=0.5),
                           5, evaluate_last=True)
    assert len(values) == 6 and values[-1] > values[0]
    assert (_norms(x_adv - x, "l2") <= 1.5 + 1e-5).all() and x_adv.min() >= 0 and x_adv.max() <= 1
    assert not torch.equal(x_adv, attacks.pgd(trained_cnn, x, y, 1.5, "l2", 5, 0.5, random_start=False))
    with torch.no_grad():
        assert (trained_cnn(x_adv)[:, 3] > trained_cnn(x)[:, 3]).all()


def test_robust_accuracy_checks_once_not_per_batch(trained_cnn, mnist_test, monkeypatch):
    """The entry point checks the data once; the attack and the predictions of its batches check nothing."""
    seen = []
    images = checks.images
    monkeypatch.setattr(checks, "images", lambda x, name="x", *args, **kwargs: seen.append(name) or images(
        x, name, *args, **kwargs))
    attacks.robust_accuracy(trained_cnn, mnist_test[:40], 1.0, steps=1, batch_size=10, show_progress=False)
    assert seen == ["data.x"]
    with pytest.raises(ValueError, match=r"robust_accuracy: data.y must hold class indices in \[0, 10\)"):
        bad = mnist_test[:4]
        attacks.robust_accuracy(trained_cnn, type(bad)(bad.x, bad.y + 10), 1.0, steps=1, show_progress=False)


def test_batch_budget_projects_the_whole_batch_as_one_vector():
    """budget='batch' (Srinivas et al.'s code): the projection shrinks the batch's perturbation as one vector,
    computed here by hand, and one step moves along the gradient normalised over the batch."""
    x0 = torch.full((3, 1, 2, 2), 0.5)
    step = attacks.BatchL2Step(x0, eps=0.3, step_size=0.1)
    delta = torch.zeros_like(x0)
    delta[0, 0, 0, 0], delta[1, 0, 1, 1], delta[2, 0, 0, 1] = 0.3, -0.4, 0.0  # batch norm 0.5 > eps
    projected = step.project(x0 + delta)
    expected = x0.clone()
    expected[0, 0, 0, 0], expected[1, 0, 1, 1] = 0.5 + 0.3 * 0.3 / 0.5, 0.5 - 0.4 * 0.3 / 0.5
    torch.testing.assert_close(projected, expected)
    # the per-example projection would leave example 0 (0.3 <= eps) alone and shrink only example 1
    per_example = attacks.L2Step(x0, 0.3, 0.1).project(x0 + delta)
    assert per_example[0, 0, 0, 0] == pytest.approx(0.8) and not torch.allclose(per_example, projected)
    inside = x0 + 0.5 * delta  # batch norm 0.25 <= eps: unchanged
    torch.testing.assert_close(step.project(inside), inside)
    grad = torch.zeros_like(x0)
    grad[0, 0, 0, 0], grad[2, 0, 0, 0] = 3.0, 4.0
    moved = step.step(x0, grad) - x0
    assert moved[0, 0, 0, 0] == pytest.approx(0.1 * 3 / 5) and moved[2, 0, 0, 0] == pytest.approx(0.1 * 4 / 5)


def test_batch_budget_bounds_the_batch_norm_not_each_example(trained_cnn, mnist_test):
    x, y = mnist_test.x[:32], mnist_test.y[:32]
    eps = 1.5 * 32 ** 0.5  # per example 1.5 if spread evenly
    x_adv = attacks.pgd(trained_cnn, x, y, eps, "l2", steps=5, budget="batch",
                        generator=torch.Generator().manual_seed(0))
    delta = x_adv - x
    assert delta.norm() <= eps + 1e-4 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert delta.norm() > 0.5 * eps  # the attack uses the budget
    norms = _norms(delta, "l2")
    assert norms.max() > 1.5 * norms.min()  # unevenly spread over the examples
    start = attacks.BatchL2Step(x, eps, 0.1).random_start(torch.Generator().manual_seed(0))
    assert (start - x).norm() <= eps + 1e-4
    # the default stays the per-example budget
    default = attacks.pgd(trained_cnn, x, y, 1.5, "l2", steps=5, generator=torch.Generator().manual_seed(0))
    explicit = attacks.pgd(trained_cnn, x, y, 1.5, "l2", steps=5, budget="example",
                           generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(default, explicit, atol=0, rtol=0)
    with pytest.raises(ValueError, match="budget='batch' is defined for the L2 norm only"):
        attacks.pgd(trained_cnn, x, y, 0.1, "linf", budget="batch")
    with pytest.raises(ValueError, match="eps must be one number for the whole batch"):
        attacks.pgd(trained_cnn, x, y, torch.full((32,), 1.0), "l2", budget="batch")
    with pytest.raises(ValueError, match="budget"):
        attacks.pgd(trained_cnn, x, y, 1.0, "l2", budget="batches")
