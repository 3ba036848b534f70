"""The spread of a measurement over seeds: mean with minimum and maximum, as the papers' error bars show.

A finding over seeds is stated with `separated`: one measurement lies above another by more than the seed spread
when the lowest seed of the one is above the highest seed of the other (their min-max ranges do not overlap).
"""
from dataclasses import dataclass

from . import checks


@dataclass(frozen=True)
class Spread:
    """`mean`, `low` (minimum) and `high` (maximum) of `n` values, one per seed. Introduced in Chapter 3."""
    mean: float
    low: float
    high: float
    n: int

    def as_row(self) -> dict:
        """The three numbers a results row records. Introduced in Chapter 3."""
        return dict(mean=self.mean, min=self.low, max=self.high, seeds=self.n)

    def percent(self) -> str:
        """`'27.1% (24.0-30.5%)'`: mean and min-max range as percentages. Introduced in Chapter 3."""
        return f"{self.mean:.1%} ({100 * self.low:.1f}–{self.high:.1%})"


def over_seeds(values) -> Spread:
    """The `Spread` of `values` (one number per seed). Introduced in Chapter 3."""
    if not isinstance(values, (list, tuple)) or not values:
        raise checks.ArgumentTypeError(f"over_seeds: values must be a non-empty list of numbers (one per seed), "
                                       f"got {checks.brief(values)}")
    values = [checks.number(v, "every entry of values", "over_seeds") for v in values]
    return Spread(sum(values) / len(values), min(values), max(values), len(values))


def separated(above: Spread, below: Spread) -> bool:
    """True when every seed of `above` lies above every seed of `below` (the min-max ranges do not overlap).

    Introduced in Chapter 3."""
    for name, value in (("above", above), ("below", below)):
        if not isinstance(value, Spread):
            raise checks.ArgumentTypeError(f"separated: {name} must be a Spread (spread.over_seeds), got "
                                           f"{checks.brief(value)}")
    return above.low > below.high
