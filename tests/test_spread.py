"""Spreads over seeds: the mean with its min-max range, and when two measurements are separated by it.

`over_seeds` is the library's one reduction over seeds, with one policy for a failed seed (NaN or an infinity):
left out of mean, min and max, counted in `failed`. The chapters' other reductions over seeds (bar charts and
accuracy curves with per-seed values, `alignment.summarise`, `distractor.ratio_summary`) must agree with it.
"""
import math

import matplotlib.pyplot as plt
import pytest

from pagutils import alignment, distractor, plots, spread


def test_spread_of_seeds_is_mean_min_and_max():
    s = spread.over_seeds([0.2, 0.5, 0.35])
    assert (s.mean, s.low, s.high, s.n, s.failed) == (pytest.approx(0.35), 0.2, 0.5, 3, 0)
    assert s.as_row() == dict(mean=pytest.approx(0.35), min=0.2, max=0.5, seeds=3, failed=0)
    assert s.percent() == "35.0% (20.0–50.0%)"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_failed_seed_is_left_out_of_mean_min_and_max_and_counted(bad):
    s = spread.over_seeds([0.2, bad, 0.6, 0.4])
    assert (s.mean, s.low, s.high) == (pytest.approx(0.4), 0.2, 0.6)
    assert (s.n, s.failed) == (3, 1)  # n counts the seeds that entered the mean
    assert s.percent() == "40.0% (20.0–60.0%; 1 failed)"
    assert s.as_row()["failed"] == 1


def test_when_every_seed_failed_the_spread_is_nan():
    s = spread.over_seeds([math.nan, math.nan])
    assert math.isnan(s.mean) and math.isnan(s.low) and math.isnan(s.high)
    assert (s.n, s.failed) == (0, 2)
    finished = spread.over_seeds([0.1, 0.2])
    assert not spread.separated(s, finished) and not spread.separated(finished, s)


def test_separated_only_when_the_ranges_do_not_overlap():
    high, low = spread.over_seeds([0.30, 0.34]), spread.over_seeds([0.20, 0.29])
    assert spread.separated(high, low) and not spread.separated(low, high)
    touching = spread.over_seeds([0.29, 0.40])
    assert not spread.separated(touching, low)  # its lowest seed equals the other's highest: not above
    assert spread.separated(spread.over_seeds([0.30, math.nan]), low)  # judged by the seeds that finished
    with pytest.raises(TypeError, match="separated: below must be a Spread"):
        spread.separated(high, 0.2)


@pytest.mark.parametrize("values,message", [([], "values must be a non-empty list"),
                                            ((0.1, "a"), "every entry of values must be a number"),
                                            ([0.1, True], "every entry of values must be a number"),
                                            (0.1, "values must be a non-empty list")])
def test_bad_seed_values_are_named(values, message):
    with pytest.raises((TypeError, ValueError), match=message):
        spread.over_seeds(values)


def test_a_caller_names_its_own_argument():
    with pytest.raises(ValueError, match=r"^summarise: every entry of per_seed's 'cosine' values must be a number"):
        alignment.summarise([dict(cosine=0.2), dict(cosine="high")])
    with pytest.raises(ValueError, match=r"^bar_chart: every entry of series\['x'\]\[1\] must be a number"):
        plots.bar_chart(["a", "b"], {"x": [0.1, [0.2, "c"]]})


SEEDS = [0.2, math.nan, 0.6, 0.3]   # one seed diverged: over_seeds gives mean 0.3667, min 0.2, max 0.6


def test_the_four_reductions_over_seeds_agree_with_over_seeds():
    s = spread.over_seeds(SEEDS)
    assert (s.n, s.failed) == (3, 1) and s.mean == pytest.approx(1.1 / 3)

    summary = alignment.summarise([dict(cosine=v) for v in SEEDS])["cosine"]
    assert (summary["mean"], summary["min"], summary["max"]) == (pytest.approx(s.mean), s.low, s.high)
    assert summary["values"][0] == 0.2 and math.isnan(summary["values"][1])  # every seed's value is kept

    ratios = distractor.ratio_summary([[math.nan, v] for v in SEEDS], [0.0, 0.5])
    assert ratios["sigma"] == [0.5]  # the level with a failed seed is kept, its seed left out
    assert (ratios["mean"], ratios["low"], ratios["high"]) == ([pytest.approx(s.mean)], [s.low], [s.high])
    assert (ratios["peak"], ratios["peak_low"], ratios["peak_high"]) == (pytest.approx(s.mean), s.low, s.high)

    ax = plots.bar_chart(["a", "b"], {"accuracy": [SEEDS, 0.5]}, percent=True)
    assert ax.patches[0].get_height() == pytest.approx(100 * s.mean)
    error = ax.collections[0].get_segments()[0]  # the first bar's error bar: min to max
    assert (error[0][1], error[1][1]) == (pytest.approx(100 * s.low), pytest.approx(100 * s.high))
    plt.close(ax.figure)

    ax = plots.accuracy_curves([1.0, 2.0], {"D_R": [[v, 0.1] for v in SEEDS]})
    assert ax.lines[0].get_ydata()[0] == pytest.approx(100 * s.mean)
    band = ax.collections[0].get_paths()[0].vertices
    at_first = band[band[:, 0] == 1.0][:, 1]  # the band's edges at the first epsilon
    assert (at_first.min(), at_first.max()) == (pytest.approx(100 * s.low), pytest.approx(100 * s.high))
    plt.close(ax.figure)
