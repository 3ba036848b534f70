"""Chapter 9's ratio rules: the off/on ratio's one-sided bootstrap bound on the claimed side of 1 at every noise
level (`manifold.ratio_bound_rule`), its false-positive rate at a ratio of exactly 1 and its detectable distance."""
from statistics import NormalDist

import pytest
import torch

from pagutils import manifold


def _changes(ratios, n, generator):
    """One model's per-image changes at len(ratios) noise levels: on-manifold changes uniform on [0, 2], the
    off-manifold ones `ratio` times an independent draw of the same law, so the population's off/on ratio (of the
    means) is exactly `ratio` at each level."""
    on = 2 * torch.rand(len(ratios), n, generator=generator)
    off = torch.stack([r * 2 * torch.rand(n, generator=generator) for r in ratios])
    return dict(sigma=[0.5 * 2 ** j for j in range(len(ratios))], on=on, off=off)


def _pass_rate(ratios, below, trials, n=200, n_boot=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    return sum(manifold.ratio_bound_rule(_changes(ratios, n, g), below=below, n_boot=n_boot, seed=t)["holds"]
               for t in range(trials)) / trials


def test_the_bounds_lie_on_the_claimed_side_of_1_for_a_population_clearly_below_1():
    change = _changes([0.5, 0.6, 0.7], 500, torch.Generator().manual_seed(1))
    below = manifold.ratio_bound_rule(change, below=True)
    assert below["holds"] and below["false_positive_rate"] == pytest.approx(0.05)
    assert below["ratio"] == pytest.approx(manifold.off_on_ratios(dict(m=change))["m"], rel=1e-5)
    assert all(r < b < 1 for r, b in zip(below["ratio"], below["bound"]))  # upper bounds, above the estimates
    assert below["worst"] == max(below["bound"])
    above = manifold.ratio_bound_rule(change, below=False)
    assert not above["holds"] and all(b < r for r, b in zip(above["ratio"], above["bound"]))
    assert above["worst"] == min(above["bound"])
    # one level at the wrong side of 1 is enough to fail the rule "below 1 at every level"
    mixed = manifold.ratio_bound_rule(_changes([0.5, 1.3], 500, torch.Generator().manual_seed(2)))
    assert not mixed["holds"] and mixed["bound"][0] < 1 < mixed["bound"][1]


@pytest.mark.parametrize("below", [True, False])
def test_at_a_ratio_of_exactly_1_the_rule_passes_at_most_its_false_positive_rate(below):
    """The least favourable case of "every level": one level at exactly 1, the others clearly on the claimed
    side. The simulation's pass rate may exceed 5% only by its binomial error (2 standard errors)."""
    trials, far = 400, 0.5 if below else 1.5
    rate = _pass_rate([1.0, far], below, trials)
    assert rate <= 0.05 + 2 * (0.05 * 0.95 / trials) ** 0.5
    assert _pass_rate([far, far], below, 50) == 1.0  # the same simulation passes where the claim is true


def test_the_detectable_distance_is_detected_about_80_percent_of_the_time():
    g = torch.Generator().manual_seed(3)
    pilot = manifold.ratio_bound_rule(_changes([0.8, 0.8, 0.8], 200, g), n_boot=400)
    z = NormalDist().inv_cdf
    assert pilot["detectable"] >= 0.95 * (z(0.95) + z(0.8)) * max(pilot["sd"])
    one = manifold.ratio_bound_rule(dict(sigma=[1.0], on=_draw(g), off=_draw(g)), n_boot=400)
    assert one["detectable"] == pytest.approx((z(0.95) + z(0.8)) * one["sd"][0], rel=0.15)
    rate = _pass_rate([1 - pilot["detectable"]] * 3, True, 200, seed=4)
    assert abs(rate - 0.8) < 0.1


def _draw(g, n=200):
    return 2 * torch.rand(1, n, generator=g)


def test_ratio_bound_rule_names_bad_arguments():
    with pytest.raises(ValueError, match=r"ratio_bound_rule: change must have the key\(s\) .*, got a dict missing the key\(s\) \['off'\]"):
        manifold.ratio_bound_rule(dict(sigma=[1.0], on=torch.rand(1, 5)))
    with pytest.raises(ValueError, match=r"ratio_bound_rule: change must hold on and off changes shaped \(S, N\)"):
        manifold.ratio_bound_rule(dict(sigma=[1.0], on=torch.rand(5), off=torch.rand(5)))
    with pytest.raises(TypeError, match="below must be True or False"):
        manifold.ratio_bound_rule(dict(sigma=[1.0], on=torch.rand(1, 5), off=torch.rand(1, 5)), below=1)
