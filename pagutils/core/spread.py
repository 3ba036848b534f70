"""The spread of a measurement over seeds: mean with minimum and maximum, as the papers' error bars show.

`over_seeds` is the library's one reduction over seeds: every mean, minimum and maximum over seeds that a chapter
shows (`plots.bar_chart` and `plots.accuracy_curves` with per-seed values, `alignment.summarise`,
`distractor.ratio_summary`) is computed by it, with one policy for a seed that has no value:

- NaN (or an infinity) marks a failed seed: a diverged run, whose loss turned NaN or overflowed, or a
  measurement that is undefined for that seed. It is left out of the mean, the minimum and the maximum, and
  counted in `Spread.failed`; `Spread.n` counts the seeds that entered them.
- When every seed failed, mean, low and high are NaN (and n is 0): nothing is made up.
- Anything else that is not a number (a string, a bool, a tensor) is refused with an error naming the argument.

A finding over seeds is stated with `separated`: one measurement lies above another by more than the seed spread
when the lowest seed of the one is above the highest seed of the other (their min-max ranges do not overlap). A
measurement whose every seed failed is separated from nothing.
"""
import math
import numbers
from dataclasses import dataclass

from . import checks


@dataclass(frozen=True)
class Spread:
    """`mean`, `low` (minimum) and `high` (maximum) over the `n` seeds with a value; `failed` seeds (NaN or
    infinite) are left out of all three. Introduced in Chapter 3."""
    mean: float
    low: float
    high: float
    n: int
    failed: int = 0

    def as_row(self) -> dict:
        """The numbers a results row records. Introduced in Chapter 3."""
        return dict(mean=self.mean, min=self.low, max=self.high, seeds=self.n, failed=self.failed)

    def percent(self) -> str:
        """`'27.1% (24.0–30.5%)'`: mean and min-max range as percentages, with `'; 1 failed'` inside the
        brackets when seeds failed. Introduced in Chapter 3."""
        failed = f"; {self.failed} failed" if self.failed else ""
        return f"{self.mean:.1%} ({100 * self.low:.1f}–{self.high:.1%}{failed})"


def over_seeds(values, *, name="values", where="over_seeds") -> Spread:
    """The `Spread` of `values` (one number per seed; NaN or an infinity for a failed seed, see the module's note).

    `name` and `where` name the argument and the function in errors, for callers that reduce their own
    argument with it. Introduced in Chapter 3."""
    if not isinstance(values, (list, tuple)) or not values:
        checks.fail(where, name, "be a non-empty list of numbers (one per seed)", values,
                    error=checks.ArgumentTypeError)
    kept, failed = [], 0
    for value in values:
        if isinstance(value, numbers.Real) and not math.isfinite(value):
            failed += 1
        else:
            kept.append(checks.number(value, f"every entry of {name}", where))
    if not kept:
        return Spread(math.nan, math.nan, math.nan, 0, failed)
    return Spread(sum(kept) / len(kept), min(kept), max(kept), len(kept), failed)


def separated(above: Spread, below: Spread) -> bool:
    """True when every seed of `above` lies above every seed of `below` (the min-max ranges do not overlap).

    False when either has no seed with a value (its range is NaN). Introduced in Chapter 3."""
    for name, value in (("above", above), ("below", below)):
        if not isinstance(value, Spread):
            checks.fail("separated", name, "be a Spread (spread.over_seeds)", value, error=checks.ArgumentTypeError)
    return above.low > below.high
