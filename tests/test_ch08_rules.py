"""Chapter 8: the robust model chosen on a validation split, and rules whose false-positive rate and power are what
the claim box states."""
import math

import pytest
import torch

from pagutils import claims, distractor, experiments, zoo
from pagutils.experiments import ch08

SPEC = experiments.get("ch08_distractor")


def test_validation_split_never_holds_a_voting_test_image():
    cfg = SPEC.settings(profile="quick")
    test = zoo.draw_indices(10000, dict(n=cfg.n_test, seed=1))
    val = zoo.draw_indices(10000, dict(n=cfg.n_val, seed=2, exclude=[dict(n=cfg.n_test, seed=1)]))
    assert len(val) == cfg.n_val and not set(val.tolist()) & set(test.tolist())
    split = ch08.validation_split(cfg, device="cpu")
    assert len(split) == cfg.n_val
    assert ch08.voting_seeds(cfg) == [1, 2, 3] and cfg.selection_seed not in ch08.voting_seeds(cfg)


def test_most_robust_within_picks_the_strongest_that_keeps_its_accuracy():
    accuracy = {"standard": 0.95, "a": 0.94, "b": 0.91, "c": 0.6}
    assert distractor.most_robust_within(accuracy, ["a", "b", "c"], "standard") == "b"
    assert distractor.most_robust_within(accuracy, ["c"], "standard") == "c"  # none keeps it: the first
    with pytest.raises(ValueError, match="candidates"):
        distractor.most_robust_within(accuracy, ["a", "z"], "standard")
    with pytest.raises(ValueError, match="standard"):
        distractor.most_robust_within({"a": 1.0}, ["a"], "standard")


def test_above_rule_false_positive_rate_and_power_by_simulation():
    generator = torch.Generator().manual_seed(0)
    n, sd, trials = 3, 0.2, 4000
    # no effect: both models' seeds from one distribution (mean 2.5, so the floor of 2 does not decide)
    held = 0
    for _ in range(trials):
        values = (2.5 + sd * torch.randn(2 * n, generator=generator)).tolist()
        held += distractor.above_rule(values[:n], values[n:], trials=10)["holds"]
    rule = distractor.above_rule([2.6, 2.9, 2.7], [2.4, 2.5, 2.3])
    assert rule["false_positive_rate"] == claims.chance_separated(3, 3) == 0.05
    assert held / trials == pytest.approx(0.05, abs=3 * math.sqrt(0.05 * 0.95 / trials))
    # at the detectable shift the rule holds with about 80% probability
    standard = [1.2, 1.0, 1.1]
    rule = distractor.above_rule([1.5, 1.8, 1.6], standard)
    shift, spread = rule["detectable"], rule["sd"]
    hits = 0
    for _ in range(trials):
        a = (1.1 + shift + spread * torch.randn(n, generator=generator)).tolist()
        b = (1.1 + spread * torch.randn(n, generator=generator)).tolist()
        hits += min(a) > max(b) and sum(a) / n >= 2
    assert hits / trials == pytest.approx(0.8, abs=0.05)
    assert shift >= 2 - 1.1  # the floor alone needs a rise to 2


def test_about_one_rule_false_positive_rate_at_a_bound():
    generator = torch.Generator().manual_seed(1)
    sigmas, n, trials = [0.0, 0.1, 1.0], 3, 4000
    held = 0
    for _ in range(trials):  # one level sits on the upper bound, the other well inside
        runs = [[math.nan, 1.0 + 0.05 * torch.randn(1, generator=generator).item(),
                 2.0 + 0.1 * torch.randn(1, generator=generator).item()] for _ in range(n)]
        held += distractor.about_one_rule(runs, sigmas)["holds"]
    assert held / trials == pytest.approx(0.5 ** n, abs=3 * math.sqrt(0.125 * 0.875 / trials))
    rule = distractor.about_one_rule([[math.nan, 1.0, 1.1], [math.nan, 1.2, 1.0]], sigmas)
    assert rule["holds"] and rule["false_positive_rate"] == 0.25 and rule["detectable"] > 0
    assert rule["observed"] == pytest.approx(1.05 - 0.5)  # the level means 1.1 and 1.05
    assert not distractor.about_one_rule([[math.nan, 1.0, 2.5], [math.nan, 1.0, 1.0]], sigmas)["holds"]
    one = distractor.about_one_rule([[math.nan, 1.0, 1.1]], sigmas)
    assert one["detectable"] is None and one["false_positive_rate"] == 0.5


def test_rules_bad_inputs_name_the_argument():
    with pytest.raises(Exception, match="robust"):
        distractor.above_rule([], [1.0])
    with pytest.raises(ValueError, match="standard"):
        distractor.above_rule([1.0, 2.0], [1.0, math.inf])
    with pytest.raises(ValueError, match="runs"):
        distractor.about_one_rule([[1.0]], [0.1, 0.2])
    with pytest.raises(ValueError, match="n_val"):
        SPEC.settings(profile="quick", n_val=2)
