"""Chapter 5's test of Figure 3: Spearman's rho against its exact null, the rule's false-positive rate and
power, transfer counted on the images both models get right, and the chapter's seed checks."""
import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from pagutils import experiments, transfer


def test_the_p_value_of_a_hand_case():
    # x = 1..4, y swaps the last two: rho = 1 - 6 * 2 / (4 * 15) = 0.8. Of the 24 orders, the identity (rho 1) and
    # the three adjacent swaps (sum of squared rank differences 2: rho 0.8) reach it: p = 4 / 24
    result = transfer.spearman_test([1, 2, 3, 4], [1, 2, 4, 3])
    assert result["rho"] == pytest.approx(0.8) and result["exact"]
    assert result["p"] == pytest.approx(4 / 24)
    assert transfer.spearman_test([1, 2, 3, 4], [4, 3, 2, 1])["p"] == pytest.approx(1.0)  # one-sided


def test_the_exact_null_matches_every_order():
    n = 7
    values, probabilities = transfer.spearman_null(n)
    assert probabilities.sum() == pytest.approx(1.0)
    base = np.arange(n, dtype=float)
    counted = {}
    for order in itertools.permutations(range(n)):
        rho = round(transfer.spearman(base, base[list(order)]), 9)
        counted[rho] = counted.get(rho, 0) + 1
    assert sorted(counted) == pytest.approx(list(values))
    assert [counted[k] / math.factorial(n) for k in sorted(counted)] == pytest.approx(list(probabilities))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=n), rng.normal(size=n)
    rx, ry = transfer.ranks(x), transfer.ranks(y)
    rho = transfer.spearman(x, y)
    brute = np.mean([transfer.pearson(rx, ry[list(o)]) >= rho - 1e-9 for o in itertools.permutations(range(n))])
    assert transfer.spearman_test(x, y)["p"] == pytest.approx(brute)


def test_the_rule_at_ten_points_has_the_tabled_critical_value_and_an_exact_rate():
    rule = transfer.spearman_rule(10, 0.05)
    assert rule["critical"] == pytest.approx(0.5636, abs=1e-4)  # the one-sided 5% value of the tables: 0.564
    assert 0.045 < rule["false_positive_rate"] <= 0.05


def test_the_false_positive_rate_by_simulation():
    """Under no association the rule "p <= 0.05" says "holds" at its stated exact rate."""
    n, trials = 10, 4000
    rate = transfer.spearman_rule(n, 0.05)["false_positive_rate"]
    rng = np.random.default_rng(1)
    hits = sum(transfer.spearman_test(rng.normal(size=n), rng.normal(size=n))["p"] <= 0.05 for _ in range(trials))
    assert abs(hits / trials - rate) < 4 * math.sqrt(rate * (1 - rate) / trials)


def test_ties_fall_back_to_random_orders_that_keep_the_level():
    result = transfer.spearman_test([1, 1, 2, 3, 4, 5], [2, 1, 3, 3, 5, 6], n_perm=2000)
    assert not result["exact"] and 0 < result["p"] <= 1
    rng = np.random.default_rng(2)
    trials = 300
    hits = sum(transfer.spearman_test(rng.integers(0, 3, 8), rng.integers(0, 3, 8), n_perm=500)["p"] <= 0.05
               for _ in range(trials))
    assert hits / trials <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / trials)


def test_more_architectures_detect_weaker_correlations():
    ten = transfer.detectable_rank_correlation(10, trials=4000)
    assert 0.6 < ten < 0.85
    assert transfer.detectable_rank_correlation(6, trials=4000) > ten > transfer.detectable_rank_correlation(
        14, trials=4000)
    # at the detectable correlation the rule passes in at least 80% of fresh draws
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((3000, 10)), rng.standard_normal((3000, 10))
    y = ten * a + math.sqrt(1 - ten ** 2) * b
    critical = transfer.spearman_rule(10)["critical"]
    passed = np.mean([transfer.spearman(u, v) >= critical - 1e-9 for u, v in zip(a, y)])
    assert passed > 0.8 - 4 * math.sqrt(0.16 / 3000)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n must be at most"):
        transfer.spearman_null(15)
    with pytest.raises(ValueError, match="same length"):
        transfer.spearman_test([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="alpha"):
        transfer.spearman_rule(10, 0.0)


class Lookup(nn.Module):
    """Predicts from a table: pixel (0, 0, 0) holds an image's index / 100, pixel (0, 0, 1) is 1 on attacked
    images, which read the `attacked` table."""

    def __init__(self, clean, attacked):
        super().__init__()
        self.clean, self.attacked = torch.tensor(clean), torch.tensor(attacked)

    def forward(self, x):
        index = (x[:, 0, 0, 0] * 100).round().long()
        labels = torch.where(x[:, 0, 0, 1] > 0.5, self.attacked[index], self.clean[index])
        return nn.functional.one_hot(labels, 10).float()


def test_transfer_counts_only_images_both_models_get_right():
    y = torch.tensor([0, 1, 2, 3, 4])
    x = torch.zeros(5, 1, 2, 2)
    x[:, 0, 0, 0] = torch.arange(5) / 100
    x_adv = x.clone()
    x_adv[:, 0, 0, 1] = 1
    source = Lookup([0, 1, 2, 3, 9], [9, 9, 9, 9, 9])  # wrong on image 4
    target = Lookup([0, 1, 2, 9, 4], [5, 1, 7, 9, 9])  # wrong on image 3; fooled on 0 and 2 of 0, 1, 2
    result = transfer.transfer_on_correct(source, target, x, x_adv, y)
    assert result == dict(rate=pytest.approx(2 / 3), counted=3, attacked=5)
    right = torch.tensor([True, True, True, True, False])
    assert transfer.transfer_on_correct(source, target, x, x_adv, y, source_correct=right) == result
    with pytest.raises(ValueError, match="source_correct must be a boolean tensor"):
        transfer.transfer_on_correct(source, target, x, x_adv, y, source_correct=right.float())
    with pytest.raises(ValueError, match="same, non-zero number"):
        transfer.transfer_on_correct(source, target, x, x_adv[:3], y)
    nobody = Lookup([9] * 5, [9] * 5)
    assert math.isnan(transfer.transfer_on_correct(source, nobody, x, x_adv, y)["rate"])


def test_by_architecture_gives_each_architecture_its_seed_range():
    spreads = transfer.by_architecture({("a", 1): 0.2, ("a", 2): 0.4, ("b", 1): 0.5, ("b", 2): 0.5}, ["a", "b"])
    assert spreads["a"].mean == pytest.approx(0.3) and (spreads["a"].low, spreads["a"].high) == (0.2, 0.4)
    assert spreads["b"].n == 2
    with pytest.raises(ValueError, match="no seed of architecture 'c'"):
        transfer.by_architecture({("a", 1): 0.2}, ["a", "c"])


def test_chapter_5_refuses_seeds_a_source_or_a_target_shares():
    spec = experiments.get("ch05_transferability")
    cfg = spec.settings(profile="quick")
    assert len(cfg.archs) >= 10 and len(cfg.seeds) >= 2 and len(cfg.target_seeds) >= 2
    assert 0 not in cfg.seeds and 0 not in cfg.target_seeds and not set(cfg.seeds) & set(cfg.target_seeds)
    with pytest.raises(ValueError, match="target_seeds must differ from seeds"):
        spec.settings(profile="quick", target_seeds=[8, 12])
    with pytest.raises(ValueError, match="at least 2 distinct seeds"):
        spec.settings(profile="quick", seeds=[3])
    with pytest.raises(ValueError, match="at least 3 distinct architectures"):
        spec.settings(profile="quick", archs=["mlp", "mlp", "linear"])


def test_the_trend_test_leaves_out_architectures_without_a_value():
    from pagutils.core.spread import Spread
    nan = Spread(math.nan, math.nan, math.nan, 0, 2)
    x = {a: Spread(v, v, v, 2) for a, v in zip("abcde", [0.1, 0.2, 0.3, 0.4, 0.5])}
    y = dict({a: Spread(v, v, v, 2) for a, v in zip("abcd", [0.2, 0.1, 0.4, 0.5])}, e=nan)
    result = transfer.trend_test(x, y, detectable_trials=0)
    assert result["archs"] == list("abcd") and result["left_out"] == ["e"] and result["n"] == 4
    assert result["rho"] == pytest.approx(0.8) and result["p"] == pytest.approx(4 / 24)
    assert not result["holds"] and result["detectable"] is None
    too_few = transfer.trend_test({"a": x["a"], "e": x["e"]}, {"a": y["a"], "e": nan})
    assert math.isnan(too_few["p"]) and not too_few["holds"]
    with pytest.raises(ValueError, match="same architectures"):
        transfer.trend_test(x, {"a": y["a"]})
    agree = transfer.seed_agreement({("a", 1): 1.0, ("a", 2): 2.0, ("b", 1): 2.0, ("b", 2): 3.0, ("c", 1): 3.0,
                                     ("c", 2): 4.0}, ["a", "b", "c"], [1, 2])
    assert agree["rho"] == pytest.approx(1.0) and agree["p"] == pytest.approx(1 / 6)
    # four seeds: the mean of the first two against the mean of the last two (seed 1 against seed 2 alone: -0.5)
    four = {("a", 1): 5.0, ("a", 2): 0.0, ("a", 3): 2.5, ("a", 4): 2.5, ("b", 1): 2.0, ("b", 2): 2.0,
            ("b", 3): 2.0, ("b", 4): 2.0, ("c", 1): 4.0, ("c", 2): 4.0, ("c", 3): 4.0, ("c", 4): 4.0}
    assert transfer.seed_agreement(four, ["a", "b", "c"], [1, 2, 3, 4])["rho"] == pytest.approx(1.0)
    assert transfer.seed_agreement(four, ["a", "b", "c"], [1, 2])["rho"] == pytest.approx(-0.5)


def test_plot_trend_draws_one_point_with_both_ranges_per_architecture():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pagutils.core.spread import Spread
    x = {"a": Spread(0.2, 0.1, 0.3, 2), "b": Spread(0.5, 0.5, 0.5, 2)}
    y = {"a": Spread(0.4, 0.3, 0.6, 2), "b": Spread(0.1, 0.1, 0.1, 2)}
    fig, ax = plt.subplots()
    transfer.plot_trend(ax, x, y, chance=0.1)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(ax.containers) == 2 and legend == ["a", "b"]  # named in the legend, under the axes
    from pagutils import plots
    assert plots.legend_covers(fig) == [] and plots.small_text(fig) == []
    xerr = ax.containers[0].lines[2][0].get_segments()[0]
    assert xerr[0][0] == pytest.approx(10) and xerr[1][0] == pytest.approx(30)  # a's seed range, in percent
    with pytest.raises(ValueError, match="same architectures"):
        transfer.plot_trend(ax, x, {"a": y["a"]})
    plt.close(fig)
