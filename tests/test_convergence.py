"""The attack ladder (pagutils.core.convergence), the radius chosen for headroom and the share of the gap (features)."""
import math
import sys

import pytest
import torch
from torch import nn

from pagutils import attacks, claims, convergence, features
from pagutils.core.attacks import Attack
from pagutils.core.data import Data

LADDER = convergence.Ladder(Attack("l2", steps=5), Attack("l2", steps=20, restarts=2), apgd_steps=20)


def _linear_case(n=200, dim=16, classes=3, seed=0):
    """A linear model and images in the middle of the pixel box, so that the box never binds at the radii below.
    A class's region is an intersection of half-spaces, so the exact L2-robust accuracy at eps is the share of
    images whose margin (w_y - w_j) . x + (b_y - b_j) exceeds eps * ||w_y - w_j|| for every other class j."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(dim, classes))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(classes, dim, generator=g))
        model[1].bias.zero_()
    x = 0.5 + 0.02 * torch.randn(n, 1, 4, dim // 4, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return model.eval(), Data(x.clamp(0.4, 0.6), y, name="linear")


def _exact(model, data, eps):
    w, b = model[1].weight.detach(), model[1].bias.detach()
    logits = data.x.flatten(1) @ w.T + b
    robust = torch.ones(len(data), dtype=torch.bool)
    for j in range(w.shape[0]):
        diff = w[data.y] - w[j]
        margin = logits.gather(1, data.y[:, None])[:, 0] - logits[:, j]
        robust &= (data.y == j) | (margin > eps * diff.norm(dim=1))
    return robust.float().mean().item()


def test_the_ladder_reaches_the_exact_robust_accuracy_of_a_linear_model_and_never_rises():
    model, data = _linear_case()
    for eps in (0.02, 0.05):
        values = convergence.robust_ladder(model, data, eps, LADDER, show_progress=False)
        assert len(values) == len(LADDER.labels) == 4
        assert all(a >= b for a, b in zip(values, values[1:]))
        assert values[-1] == pytest.approx(_exact(model, data, eps), abs=1 / len(data))
        assert 0 < values[-1] < 1  # the case is not trivial at these radii


def test_the_ladder_of_a_model_that_is_wrong_everywhere_is_all_zero():
    """No image standing: every rung has nothing to attack (an empty index must not reach the attack)."""
    model, data = _linear_case()
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.copy_(torch.tensor([0.0, 0.0, 5.0]))  # always class 2
    wrong = Data(data.x, torch.zeros_like(data.y), name="all class 0")
    assert convergence.robust_ladder(model, wrong, 0.05, LADDER, show_progress=False) == [0.0] * 4


def test_a_later_rung_breaks_what_a_weak_first_rung_left_standing(trained_cnn, mnist_test):
    weak = convergence.Ladder(Attack("l2", steps=1, step_size=0.05), Attack("l2", steps=20, restarts=2),
                              apgd_steps=20)
    values = convergence.robust_ladder(trained_cnn, mnist_test[:100], 2.0, weak, show_progress=False)
    assert values[0] - values[-1] > 0.2  # one tiny step is far from converged
    plain = attacks.robust_accuracy(trained_cnn, mnist_test[:100], Attack("l2", eps=2.0, steps=20, restarts=2),
                                    show_progress=False)
    assert values[-1] <= plain + 1e-9  # the worst case over the rungs is at most any one rung's


def test_apgd_leaves_the_global_generator_where_it_was_and_stays_in_the_ball():
    model, data = _linear_case(n=20)
    state = torch.get_rng_state()
    x_adv = convergence.apgd(model, data.x, data.y, Attack("l2", eps=0.05, steps=5))
    assert torch.equal(torch.get_rng_state(), state)
    assert (x_adv - data.x).flatten(1).norm(dim=1).max() <= 0.05 + 1e-5


def test_the_ladder_is_cached_for_a_zoo_model(trained_cnn, mnist_test, monkeypatch):
    trained_cnn.config = dict(objective="standard", seed=0)
    try:
        first = convergence.robust_ladder(trained_cnn, mnist_test[:20], 1.0, LADDER, show_progress=False)
        monkeypatch.setattr(convergence, "_ladder", lambda *a: pytest.fail("recomputed a cached ladder"))
        assert convergence.robust_ladder(trained_cnn, mnist_test[:20], 1.0, LADDER, show_progress=False) == first
    finally:
        del trained_cnn.config


def test_ladder_errors_name_the_argument(monkeypatch):
    with pytest.raises(ValueError, match="attack and strong must attack in one norm"):
        convergence.Ladder(Attack("l2"), Attack("linf"))
    with pytest.raises(ValueError, match="apgd_steps"):
        convergence.Ladder(Attack("l2"), Attack("l2"), apgd_steps=-1)
    with pytest.raises(TypeError, match="ladder must be a pagutils.core.convergence.Ladder"):
        model, data = _linear_case(n=4)
        convergence.robust_ladder(model, data, 0.1, "pgd")
    monkeypatch.setitem(sys.modules, "torchattacks", None)
    model, data = _linear_case(n=4)
    with pytest.raises(ImportError, match="make setup"):
        convergence.robust_ladder(model, data, 0.1, LADDER)
    no_apgd = convergence.Ladder(Attack("l2", steps=2), Attack("l2", steps=4), apgd_steps=0)
    assert len(convergence.robust_ladder(model, data, 0.1, no_apgd, show_progress=False)) == 2
    monkeypatch.undo()
    model, data = _linear_case(n=4, classes=2)
    with pytest.raises(ValueError, match="robust_ladder: model must have at least 3 classes .*, got 2 classes"):
        convergence.robust_ladder(model, data, 0.1, LADDER)


def test_headroom_takes_the_widest_gap_at_or_below_the_source_radius():
    room = features.headroom([0.5, 1.0, 1.5, 2.0], [0.9, 0.7, 0.45, 0.2], [0.95, 0.9, 0.8, 0.6], max_eps=1.5)
    assert room["eps"] == 1.5 and room["gap"] == pytest.approx(0.35) and room["wide"]
    assert room["gaps"][-1] is None  # 2.0 is above the source's radius, although its gap is wider
    narrow = features.headroom([0.5, 1.0], [0.9, 0.8], [0.95, 0.9], max_eps=1.5, min_gap=0.3)
    assert narrow["eps"] == 1.0 and not narrow["wide"]
    with pytest.raises(ValueError, match=r"headroom: radii must hold a radius at most max_eps=1.5 .*, got \[2.0\]"):
        features.headroom([2.0], [0.2], [0.6], max_eps=1.5)
    with pytest.raises(ValueError, match="equal length"):
        features.headroom([1.0, 2.0], [0.2], [0.6], max_eps=1.5)


def test_gap_share_by_hand_and_without_a_gap():
    out = features.gap_share([0.40, 0.44], [0.30, 0.30], [0.50, 0.70])
    assert out["gap"] == pytest.approx(0.30)
    assert out["share"] == pytest.approx((0.42 - 0.30) / 0.30)
    assert out["per_seed"] == pytest.approx([0.5, 0.35])
    none = features.gap_share([0.4], [0.5], [0.5])
    assert none["share"] is None and math.isnan(none["per_seed"][0])
    assert claims.effect_text(0.583, "share of the gap") == "58% of the gap"
