import copy
import functools

import pytest
import torch
import torch.nn.functional as F

from pagutils import attacks, checks
from pagutils.core.attacks import Attack


def _norms(delta, norm):
    flat = delta.flatten(1)
    return flat.norm(dim=1) if norm == "l2" else flat.abs().amax(dim=1)


@pytest.mark.parametrize("norm,eps", [("l2", 1.5), ("linf", 0.1)])
def test_every_example_stays_in_its_ball_and_in_pixel_range(trained_cnn, mnist_test, norm, eps):
    x, y = mnist_test.x[:64], mnist_test.y[:64]
    x_adv = attacks.pgd(trained_cnn, x, y, Attack(norm, eps, steps=10))
    assert (_norms(x_adv - x, norm) <= eps + 1e-5).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (_norms(x_adv - x, norm) > 0.5 * eps).float().mean() > 0.9  # the attack uses its budget


def test_per_example_radii_are_respected(trained_cnn, mnist_test):
    x, y = mnist_test.x[:32], mnist_test.y[:32]
    eps = torch.linspace(0.1, 3.0, 32)
    x_adv = attacks.pgd(trained_cnn, x, y, Attack("l2", eps, steps=10))
    assert (_norms(x_adv - x, "l2") <= eps + 1e-5).all()


def test_norms_and_projections_are_per_example_not_per_batch(trained_cnn, mnist_test):
    """An example's attack must not depend on the other examples of its batch (in float64, where batched and
    single-example convolutions agree to rounding; in float32 they drift apart by up to ~1e-2)."""
    model = copy.deepcopy(trained_cnn).double()
    x, y = mnist_test.x[:16].double(), mnist_test.y[:16]
    for norm, eps in (("l2", 1.0), ("linf", 0.1)):
        attack = Attack(norm, eps, steps=5, random_start=False)
        together = attacks.pgd(model, x, y, attack)
        alone = torch.cat([attacks.pgd(model, x[i:i + 1], y[i:i + 1], attack) for i in range(len(x))])
        torch.testing.assert_close(together, alone, atol=1e-9, rtol=0)


def test_pgd_raises_the_loss_of_a_trained_model(trained_cnn, mnist_test):
    x, y = mnist_test.x[:128], mnist_test.y[:128]
    x_adv = attacks.pgd(trained_cnn, x, y, Attack("l2", 1.5, steps=10))
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
    adv = {p: attacks.pgd(trained_cnn, x, y, Attack(norm, eps, steps=10, precision=p),
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
    attack = Attack("l2", 1.5, steps=3, random_start=False)
    eager = attacks.pgd(model, x, y, attack.replace(compile=False))
    compiled = attacks.pgd(model, x, y, attack.replace(compile=True))
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
    with pytest.raises(ValueError, match=r"PAG_COMPILE must be '1' \(compile attacked models\) or '0' .*, got 'yes'"):
        attacks.pgd(trained_cnn, mnist_test.x[:4], mnist_test.y[:4], Attack("l2", 1.0, steps=1))


def test_targeted_pgd_reaches_the_target_on_most_examples(trained_cnn, mnist_test):
    x, y = mnist_test.x[:100], mnist_test.y[:100]
    target = (y + 1) % 10
    x_adv = attacks.pgd(trained_cnn, x, target, Attack(norm="l2", eps=6.0, steps=100, targeted=True))
    assert (attacks.predict(trained_cnn, x_adv) == target).float().mean() > 0.8


def test_attack_leaves_parameter_gradients_and_mode_untouched(trained_cnn, mnist_test):
    model = trained_cnn
    model.train()
    marks = [torch.full_like(p, 0.123) for p in model.parameters()]
    for p, mark in zip(model.parameters(), marks):
        p.grad = mark.clone()
    attacks.pgd(model, mnist_test.x[:32], mnist_test.y[:32], Attack("l2", 1.0, steps=3))
    assert model.training, "the model's mode must be restored after the attack"
    for p, mark in zip(model.parameters(), marks):
        assert torch.equal(p.grad, mark)
    for p in model.parameters():
        p.grad = None
    attacks.pgd(model, mnist_test.x[:32], mnist_test.y[:32], Attack("linf", 1.0, steps=3))
    assert all(p.grad is None for p in model.parameters())
    model.eval()


def test_seeded_random_start_is_reproducible(trained_cnn, mnist_test):
    x, y = mnist_test.x[:16], mnist_test.y[:16]
    a = attacks.pgd(trained_cnn, x, y, Attack("l2", 1.0, steps=3), generator=torch.Generator().manual_seed(7))
    b = attacks.pgd(trained_cnn, x, y, Attack("l2", 1.0, steps=3), generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_robust_accuracy_at_eps_zero_is_clean_accuracy_and_falls_with_eps(trained_cnn, mnist_test):
    clean = attacks.accuracy(trained_cnn, mnist_test)
    curve = attacks.accuracy_vs_eps(trained_cnn, mnist_test[:200], [0.0, 1.0, 2.5], Attack("l2", steps=10))
    assert curve[0] == pytest.approx(attacks.accuracy(trained_cnn, mnist_test[:200]))
    assert clean > 0.9
    assert curve[0] > curve[1] > curve[2]


@pytest.mark.parametrize("kwargs,message", [
    (dict(norm="l1"), "Attack: norm must be 'l2' or 'linf'"),
    (dict(eps=-0.5), "Attack: eps must be >= 0"),
    (dict(steps=2.5), "Attack: steps must be a non-negative int"),
    (dict(step_size=0.0), "Attack: step_size must be > 0"),
    (dict(precision="float16"), r"Attack: precision must be one of \('float32', 'bfloat16'\)"),
    (dict(compile="yes"), r"Attack: compile must be True, False or None \(None: the PAG_COMPILE environment "
                          r"variable decides\), got 'yes'"),
    (dict(targeted="yes"), r"Attack: targeted must be True or False, got 'yes'"),
    (dict(restarts=0), r"Attack: restarts must be a positive int, got 0"),
    (dict(restarts=3, random_start=False), r"Attack: restarts must be 1 when random_start=False .*, got 3"),
    (dict(restarts=3, budget="batch"), r"Attack: restarts must be 1 with budget='batch' .*, got 3"),
])
def test_bad_attacks_are_named_when_they_are_made(kwargs, message):
    """An Attack is checked once, when it is made (or varied), and the error names the field."""
    args = dict(eps=1.0, norm="l2", steps=3) | kwargs
    with pytest.raises(ValueError, match=message):
        Attack(**args)
    with pytest.raises(ValueError, match=message):
        Attack("l2", 1.0, 3).replace(**kwargs)


def test_an_attack_is_one_value_and_its_default_step_is_written_once():
    """Attack.step is the default step size 2.5 eps / steps (float32, as pgd has always computed it), or
    step_size; `at` and `replace` make checked variants; pgd refuses anything else and an attack without a
    radius."""
    attack = Attack(norm="l2", eps=2.0, steps=10)
    assert attack.step == 0.5 and isinstance(attack.step, float)
    assert attack.replace(step_size=0.3).step == 0.3
    assert attack.at(4.0) == Attack("l2", 4.0, 10) and attack.at(4.0).step == 1.0
    per_example = Attack("l2", torch.tensor([1.0, 2.0]), steps=5).step
    assert torch.equal(per_example, torch.tensor([0.5, 1.0]))
    assert isinstance(Attack("l2", 1).eps, float)  # numbers are stored as floats
    with pytest.raises(AttributeError):
        attack.eps = 3.0  # frozen
    x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    with pytest.raises(TypeError, match=r"pgd: attack must be a pagutils.core.attacks.Attack"):
        attacks.pgd(model, x, y, 1.0)
    with pytest.raises(ValueError, match=r"pgd: attack.eps must be set: give the attack a radius"):
        attacks.pgd(model, x, y, Attack("l2"))
    with pytest.raises(ValueError, match=r"Attack.step: eps must be set: give the attack a radius first .*, got None"):
        Attack("l2").step
    with pytest.raises(ValueError, match=r"robust_accuracy: attack must be untargeted"):
        from pagutils.core.data import Data
        attacks.robust_accuracy(model, Data(x, y), attack.replace(targeted=True))


def test_restarts_keep_each_examples_worst_case(trained_cnn, mnist_test):
    """With restarts, every example gets the iterate of the restart that fooled the model, else the one with the
    highest loss; restart r is the single attack run r-th from the same generator, so the result can only be
    stronger than one run, and robust accuracy can only fall."""
    x, y = mnist_test.x[:64], mnist_test.y[:64]
    attack = Attack("l2", 1.5, steps=1)  # one step from a random start: the starts matter
    generator = torch.Generator().manual_seed(3)
    runs = torch.stack([attacks.pgd(trained_cnn, x, y, attack, generator=generator) for _ in range(3)])
    best = attacks.pgd(trained_cnn, x, y, attack.replace(restarts=3), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        logits = torch.stack([trained_cnn(run) for run in runs])
    fooled = logits.argmax(2) != y
    loss = torch.stack([F.cross_entropy(lg, y, reduction="none") for lg in logits])
    assert fooled.any(0).float().mean() > fooled[0].float().mean()  # the restarts find more than one run
    chosen = torch.where(fooled.any(0), torch.where(fooled, loss, -torch.inf).argmax(0), loss.argmax(0))
    assert torch.equal(best, runs[chosen, torch.arange(len(x))])
    assert ((attacks.predict(trained_cnn, best) != y) == fooled.any(0)).all()
    data = mnist_test[:64]  # one batch, seeded as above: robust accuracy counts exactly the examples not fooled
    once = attacks.robust_accuracy(trained_cnn, data, attack, batch_size=64, seed=3, show_progress=False)
    thrice = attacks.robust_accuracy(trained_cnn, data, attack.replace(restarts=3), batch_size=64, seed=3,
                                     show_progress=False)
    assert once == pytest.approx(1 - fooled[0].float().mean().item())
    assert thrice == pytest.approx(1 - fooled.any(0).float().mean().item()) and thrice < once
    targeted, target = attack.replace(targeted=True, eps=2.5), (y + 1) % 10
    reached = {r: attacks.predict(trained_cnn, attacks.pgd(trained_cnn, x, target, targeted.replace(restarts=r),
                                                           generator=torch.Generator().manual_seed(4))) == target
               for r in (1, 3)}
    assert (reached[3] | ~reached[1]).all()  # every target one run reaches, the restarts reach too


def test_inputs_outside_pixel_range_are_refused(trained_cnn, mnist_test):
    with pytest.raises(ValueError, match=r"x must hold pixel values in \[0, 1\]"):
        attacks.pgd(trained_cnn, mnist_test.x[:4] * 255, mnist_test.y[:4], Attack("l2", 1.0))
    with pytest.raises(ValueError, match="y must be a tensor of 4 labels"):
        attacks.pgd(trained_cnn, mnist_test.x[:4], mnist_test.y[:3], Attack("l2", 1.0))


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
    attack = Attack(norm, eps, 4, step_size, targeted=targeted, random_start=random_start)
    expected = attacks.pgd(trained_cnn, x, y, attack, generator=torch.Generator().manual_seed(5))
    make_step = functools.partial(attacks.STEPS[norm], eps=eps, step_size=step_size)
    loop = attacks.Loop(descend=targeted, random_start=random_start, generator=torch.Generator().manual_seed(5))
    ours = attacks.ascend(trained_cnn, x, y, _summed_cross_entropy, make_step, 4, loop)
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
                           5, attacks.Loop(evaluate_last=True))
    assert len(values) == 6 and values[-1] > values[0]
    assert (_norms(x_adv - x, "l2") <= 1.5 + 1e-5).all() and x_adv.min() >= 0 and x_adv.max() <= 1
    assert not torch.equal(x_adv, attacks.pgd(trained_cnn, x, y, Attack("l2", 1.5, 5, 0.5, random_start=False)))
    with torch.no_grad():
        assert (trained_cnn(x_adv)[:, 3] > trained_cnn(x)[:, 3]).all()


def test_robust_accuracy_checks_once_not_per_batch(trained_cnn, mnist_test, monkeypatch):
    """The entry point checks the data once; the attack and the predictions of its batches check nothing."""
    seen = []
    images = checks.images
    monkeypatch.setattr(checks, "images", lambda x, name="x", *args, **kwargs: seen.append(name) or images(
        x, name, *args, **kwargs))
    attacks.robust_accuracy(trained_cnn, mnist_test[:40], Attack("l2", 1.0, steps=1), batch_size=10,
                            show_progress=False)
    assert seen == ["data.x"]
    with pytest.raises(ValueError, match=r"robust_accuracy: data.y must hold class indices in \[0, 10\)"):
        bad = mnist_test[:4]
        attacks.robust_accuracy(trained_cnn, type(bad)(bad.x, bad.y + 10), Attack("l2", 1.0, steps=1),
                                show_progress=False)


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
    x_adv = attacks.pgd(trained_cnn, x, y, Attack("l2", eps, steps=5, budget="batch"),
                        generator=torch.Generator().manual_seed(0))
    delta = x_adv - x
    assert delta.norm() <= eps + 1e-4 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert delta.norm() > 0.5 * eps  # the attack uses the budget
    norms = _norms(delta, "l2")
    assert norms.max() > 1.5 * norms.min()  # unevenly spread over the examples
    start = attacks.BatchL2Step(x, eps, 0.1).random_start(torch.Generator().manual_seed(0))
    assert (start - x).norm() <= eps + 1e-4
    # the default stays the per-example budget
    default = attacks.pgd(trained_cnn, x, y, Attack("l2", 1.5, steps=5), generator=torch.Generator().manual_seed(0))
    explicit = attacks.pgd(trained_cnn, x, y, Attack("l2", 1.5, steps=5, budget="example"),
                           generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(default, explicit, atol=0, rtol=0)
    with pytest.raises(ValueError, match="Attack: norm must be 'l2' with budget='batch'"):
        Attack("linf", 0.1, budget="batch")
    with pytest.raises(ValueError, match="Attack: eps must be one number for the whole batch .*, got 32 values"):
        Attack("l2", torch.full((32,), 1.0), budget="batch")
    with pytest.raises(ValueError, match="Attack: budget must be one of"):
        Attack("l2", 1.0, budget="batches")
