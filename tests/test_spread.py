"""Spreads over seeds: the mean with its min-max range, and when two measurements are separated by it."""
import pytest

from pagutils import spread


def test_spread_of_seeds_is_mean_min_and_max():
    s = spread.over_seeds([0.2, 0.5, 0.35])
    assert (s.mean, s.low, s.high, s.n) == (pytest.approx(0.35), 0.2, 0.5, 3)
    assert s.as_row() == dict(mean=pytest.approx(0.35), min=0.2, max=0.5, seeds=3)
    assert s.percent() == "35.0% (20.0–50.0%)"


def test_separated_only_when_the_ranges_do_not_overlap():
    high, low = spread.over_seeds([0.30, 0.34]), spread.over_seeds([0.20, 0.29])
    assert spread.separated(high, low) and not spread.separated(low, high)
    touching = spread.over_seeds([0.29, 0.40])
    assert not spread.separated(touching, low)  # its lowest seed equals the other's highest: not above
    with pytest.raises(TypeError, match="separated: below must be a Spread"):
        spread.separated(high, 0.2)


@pytest.mark.parametrize("values,message", [([], "values must be a non-empty list"),
                                            ([0.1, "a"], "every entry of values"),
                                            ([0.1, float("nan")], "every entry of values")])
def test_bad_seed_values_are_named(values, message):
    with pytest.raises((TypeError, ValueError), match=message):
        spread.over_seeds(values)
