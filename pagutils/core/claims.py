"""Claims: a statement of a paper, tested by a rule this run computes. One vocabulary, one renderer.

A chapter's experiment spec (`pagutils.experiments`) declares its claims once: the statement, the paper's
evidence, the rule, and the rule's false-positive rate (the chance that it says "holds" when there is no effect,
exact or by simulation; None while it is not stated). The notebook measures, then reads each claim:

    dr = spec.claim("dr_above_d").read(holds, measured=dict(d_r=0.35, d=0.33), note="eps 2, 3 seeds")

and hands the read claims to `report.record`, which stores them in the chapter's JSON; the claim box near the
chapter's top and the Reproduction page's matrix are both drawn by `markdown` from those objects.

An outcome is one of `OUTCOMES`: "holds", "does not hold", or "untested" (a claim the run could not test, which
counts as not reproduced). A chapter's verdict is "reproduced" when every claim holds, "partly" when some do,
"not here" when none does.

Every read claim also carries a *reading*, one of `READINGS`, computed from what the test could see, never typed:

- "holds": the rule passed (its false-positive rate says how often it would by chance);
- "refuted at this scale": the rule failed although it detects an effect of the paper's size (`paper_effect`) with
  80% probability (`detectable` at most `paper_effect`);
- "cannot tell": the rule failed and could not have seen the paper's effect (or its power, or the paper's effect,
  is not stated), or the claim was untested;
- "not a test of the paper": a control where the answer is known by construction (`Control`) got the other answer
  from the same rule, so the rule, not the data, decides the outcome.
"""
from dataclasses import asdict, dataclass, field, fields, replace
import math
from math import comb
from types import MappingProxyType
from typing import Mapping, Optional

from . import checks

HOLDS, FAILS, UNTESTED = "holds", "does not hold", "untested"
OUTCOMES = (HOLDS, FAILS, UNTESTED)
REFUTED, CANNOT_TELL, NOT_A_TEST = "refuted at this scale", "cannot tell", "not a test of the paper"
READINGS = (HOLDS, REFUTED, CANNOT_TELL, NOT_A_TEST)
UNITS = ("accuracy", "correlation", "ratio", "cosine", "relative error", "share of the gap")


def effect_text(value, unit: str) -> str:
    """An effect in its claim's unit, for a reader: accuracy differences in percentage points, shares of a gap
    (`features.gap_share`) in percent, the rest as numbers. Introduced in Chapter 1."""
    if value is None:
        return "not stated"
    if unit == "accuracy":
        return f"{100 * value:.1f} points"
    if unit == "share of the gap":
        return f"{100 * value:.0f}% of the gap"
    return f"{value:.2g}" if unit in ("correlation", "cosine") else f"{value:.2g} ({unit})"


@dataclass(frozen=True)
class Control:
    """A case where the answer is known by construction, read with the claim's own rule: `what` it is, whether the
    rule `should_hold` there, and whether it `held`. When `held != should_hold` the rule decides by itself, and the
    claim's reading is "not a test of the paper". Introduced in Chapter 9."""
    what: str
    should_hold: bool
    held: bool

    def __post_init__(self):
        if not isinstance(self.what, str) or not self.what:
            checks.fail("Control", "what", "be a non-empty string", self.what)
        for name in ("should_hold", "held"):
            value = getattr(self, name)
            if hasattr(value, "item") and not isinstance(value, bool):
                object.__setattr__(self, name, value.item())
            checks.flag(getattr(self, name), name, "Control")

    @property
    def misleads(self) -> bool:
        """True when the rule gives the wrong answer on this control."""
        return self.held != self.should_hold


REPRODUCED, PARTLY, NOT_HERE, NO_CLAIM = "reproduced", "partly", "not here", "–"


@dataclass(frozen=True)
class Claim:
    """A paper's statement and this run's test of it. Introduced in Chapter 1.

    `key` names the claim within its chapter (`"dr_above_d"`); `statement` says what the paper claims as this run
    tests it; `evidence` is the paper's own evidence (figure, number); `rule` the decision rule the run applies;
    `false_positive_rate` the probability that the rule says "holds" when there is no effect (None: not stated);
    `paper_effect` the size of the paper's effect in the rule's `unit` (for example 0.48: D_R 48% against D 0%).
    A read claim also carries its `outcome`, the `observed` effect (this run's, in `unit`, beside the paper's),
    the `measured` values the rule read, `detectable` (the smallest
    effect the rule detects with 80% probability at the measured spread, in `unit`), a `note` (where it was read)
    and the `control` it was checked against; `reading` and `reason` follow from them.
    """
    key: str
    statement: str
    evidence: str
    rule: str
    false_positive_rate: Optional[float] = None
    paper_effect: Optional[float] = None
    unit: str = "accuracy"
    outcome: str = UNTESTED
    observed: Optional[float] = None
    measured: Mapping = field(default_factory=dict)
    detectable: Optional[float] = None
    note: str = ""
    control: Optional[Control] = None

    def __post_init__(self):
        for name in ("key", "statement", "evidence", "rule"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                checks.fail("Claim", name, "be a non-empty string", getattr(self, name))
        checks.one_of(self.outcome, OUTCOMES, "outcome", f"Claim {self.key!r}")
        if self.false_positive_rate is not None:
            rate = checks.number(self.false_positive_rate, "false_positive_rate", f"Claim {self.key!r}")
            if not 0 <= rate <= 1:
                checks.fail(f"Claim {self.key!r}", "false_positive_rate", "be a probability in [0, 1]", rate)
        checks.one_of(self.unit, UNITS, "unit", f"Claim {self.key!r}")
        for name in ("paper_effect", "detectable"):
            value = getattr(self, name)
            if value is not None:
                value = checks.number(value, name, f"Claim {self.key!r}")
                if not value >= 0:
                    checks.fail(f"Claim {self.key!r}", name, "be a size, at least 0", value)
                object.__setattr__(self, name, float(value))
        if self.observed is not None:  # a tensor's value is read; NaN (no seed trained) is no observation
            value = self.observed.item() if hasattr(self.observed, "item") else self.observed
            value = None if isinstance(value, float) and math.isnan(value) else checks.number(
                value, "observed", f"Claim {self.key!r}")
            object.__setattr__(self, "observed", value)
        if isinstance(self.control, Mapping):
            object.__setattr__(self, "control", Control(**self.control))
        if self.control is not None and not isinstance(self.control, Control):
            checks.fail(f"Claim {self.key!r}", "control", "be a claims.Control", self.control,
                        error=checks.ArgumentTypeError)
        object.__setattr__(self, "measured", MappingProxyType(dict(self.measured)))

    def read(self, holds, measured: Mapping = None, note: str = "", detectable: float = None,
             false_positive_rate: float = None, control: Control = None, observed: float = None) -> "Claim":
        """This claim with the run's outcome: `holds` True, False, or None (untested), the `measured` values its
        rule read, `detectable`: the smallest effect the rule detects with 80% probability at this run's spread (in
        the claim's unit), the rule's `false_positive_rate` where it depends on the run (the number of seeds), and a
        `Control` the same rule was applied to, and the `observed` effect (this run's, comparable with
        `paper_effect`). Introduced in Chapter 1."""
        if hasattr(holds, "item") and not isinstance(holds, bool):
            holds = holds.item()  # a one-element tensor or a numpy bool
        if holds is not None and not isinstance(holds, bool):
            checks.fail(f"Claim.read ({self.key!r})", "holds", "be True, False or None (untested)", holds,
                        error=checks.ArgumentTypeError)
        outcome = UNTESTED if holds is None else HOLDS if holds else FAILS
        values = {}
        for name, value in (measured or {}).items():
            if hasattr(value, "item") and not isinstance(value, (int, float, str)):
                value = value.item()
            if value is not None and not isinstance(value, (int, float, str, bool)):
                checks.fail(f"Claim.read ({self.key!r})", f"measured[{name!r}]", "be a number or a string", value,
                            error=checks.ArgumentTypeError)
            values[name] = value
        rate = self.false_positive_rate if false_positive_rate is None else false_positive_rate
        return replace(self, outcome=outcome, measured=values, note=note or "", detectable=detectable,
                       false_positive_rate=rate, control=control, observed=observed)

    @property
    def held(self) -> bool:
        return self.outcome == HOLDS

    @property
    def reading(self) -> str:
        """What the outcome means (one of `READINGS`), from the outcome, the control, the detectable effect and the
        paper's effect. Introduced in Chapter 1."""
        if self.outcome == UNTESTED:
            return CANNOT_TELL
        if self.control is not None and self.control.misleads:
            return NOT_A_TEST
        if self.held:
            return HOLDS
        if self.detectable is not None and self.paper_effect is not None and self.detectable <= self.paper_effect:
            return REFUTED
        return CANNOT_TELL

    @property
    def reason(self) -> str:
        """One sentence saying why the reading is what it is. Introduced in Chapter 1."""
        reading, unit = self.reading, self.unit
        if self.outcome == UNTESTED:
            return f"Untested{': ' + self.note if self.note else ''}; counts as not reproduced."
        if reading == NOT_A_TEST:
            said = "holds" if self.control.held else "does not hold"
            return (f"The same rule says \"{said}\" on {self.control.what}, where the answer is known to be the "
                    f"other: the rule decides by itself.")
        if reading == HOLDS:
            return f"The rule passed; with no effect it passes with probability {_rate(self.false_positive_rate)}."
        detect, paper = effect_text(self.detectable, unit), effect_text(self.paper_effect, unit)
        if reading == REFUTED:
            return (f"The test detects {detect} with 80% probability, no more than the paper's effect ({paper}), and "
                    f"saw none.")
        if self.detectable is None:
            return "The test's power is not stated, so a failure cannot tell."
        if self.paper_effect is None:
            return f"The test detects {detect}; the paper states no effect size to compare it with."
        return f"The test detects only {detect}, more than the paper's effect ({paper})."

    def as_dict(self) -> dict:
        """The claim as plain JSON values (the chapter's results file stores it). Introduced in Chapter 1."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["measured"] = dict(self.measured)
        out["control"] = None if self.control is None else asdict(self.control)
        return out

    @classmethod
    def from_dict(cls, values: Mapping) -> "Claim":
        """The claim `as_dict` wrote. Introduced in Chapter 1."""
        return cls(**values)


def verdict(claims) -> str:
    """'reproduced' when every claim holds, 'partly' when some do, 'not here' when none does, '–' without claims.
    An untested claim counts as not reproduced. Introduced in Chapter 1."""
    claims = list(claims)
    if not claims:
        return NO_CLAIM
    held = sum(c.held for c in claims)
    return REPRODUCED if held == len(claims) else PARTLY if held else NOT_HERE


def _rate(value) -> str:
    return "not stated" if value is None else f"{value:.3g}"


def _how(claim) -> str:
    """The rule, its false-positive rate and detectable effect, where it was read, and the paper's evidence: one
    cell, so that the table stays three columns wide on a narrow page."""
    parts = [f"{claim.rule.rstrip('.')}.", f"False-positive rate: {_rate(claim.false_positive_rate)}."]
    if claim.detectable is not None:
        parts.append(f"Detects {effect_text(claim.detectable, claim.unit)} with 80% probability.")
    if claim.paper_effect is not None:
        parts.append(f"Paper's effect: {effect_text(claim.paper_effect, claim.unit)}.")
    if claim.control is not None:
        parts.append(f"Control: {claim.control.what}.")
    if claim.note:
        parts.append(f"Read at: {claim.note}.")
    parts.append(f"Paper: {claim.evidence}.")
    return " ".join(parts)


def markdown(claims, chapters: list = None) -> str:
    """The claims as one Markdown table (claim, this run's outcome, how it was tested) and the verdict under it: the
    claim box a chapter shows near its top, and, with `chapters` (one chapter name per claim), the Reproduction
    page's matrix. Introduced in Chapter 1."""
    claims = list(claims)
    head = ["claim", "this run", "how it was tested"]
    if chapters is not None:
        if len(chapters) != len(claims):
            checks.fail("markdown", "chapters", f"name one chapter per claim ({len(claims)})",
                        got=f"{len(chapters)} chapters")
        head.insert(0, "chapter")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, c in enumerate(claims):
        said = f"**{c.outcome}**" + ("" if c.reading == c.outcome else f", {c.reading}")
        cells = [c.statement, f"{said}. {c.reason}", _how(c)]
        if chapters is not None:
            cells.insert(0, chapters[i])
        lines.append("| " + " | ".join(cell.replace("|", "/").replace("\n", " ") for cell in cells) + " |")
    return "\n".join(lines + ["", f"Verdict of this run: **{verdict(claims)}**."])


def chance_separated(n_above: int, n_below: int) -> float:
    """The false-positive rate of `spread.separated`: the chance that every one of `n_above` seeds lies above every
    one of `n_below` seeds when all come from one continuous distribution (no effect): 1 / C(n + m, n).
    1/20 for 3 seeds against 3. Introduced in Chapter 3."""
    for name, n in (("n_above", n_above), ("n_below", n_below)):
        checks.integer(n, name, "chance_separated")
    return 1 / comb(n_above + n_below, n_above)


def detectable_shift(n_above: int, n_below: int, sd: float, power: float = 0.8, trials: int = 20000) -> float:
    """The smallest difference of means that `spread.separated` detects with probability `power` when every seed
    varies around its mean with standard deviation `sd` (normal), by simulation (seeded, so reproducible): the
    rule's detectable effect at a measured spread. Introduced in Chapter 3."""
    import torch
    where = "detectable_shift"
    for name, n in (("n_above", n_above), ("n_below", n_below), ("trials", trials)):
        checks.integer(n, name, where)
    sd = checks.number(sd, "sd", where, low=0)
    checks.number(power, "power", where, low=0, high=1)
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(trials, n_above, generator=generator, dtype=torch.float64).min(1).values
    b = torch.randn(trials, n_below, generator=generator, dtype=torch.float64).max(1).values
    gap = (b - a).sort().values  # separated at shift k (in sd) when k > b - a: the power is the share of gaps < k
    return float(gap[min(trials - 1, math.ceil(power * trials) - 1)]) * sd


def pooled_sd(groups) -> float:
    """The pooled standard deviation of several groups of per-seed values (each group one setting, its seeds
    varying around its own mean): sqrt(sum of squared deviations from each group's mean / sum of (size - 1)).
    One group gives its sample standard deviation. Introduced in Chapter 3."""
    groups = [[float(v) for v in g] for g in groups]
    degrees = sum(len(g) - 1 for g in groups if g)
    if degrees < 1:
        checks.fail("pooled_sd", "groups", "hold a group of at least 2 values to measure a spread",
                    got=f"sizes {[len(g) for g in groups]}")
    squares = sum(sum((v - sum(g) / len(g)) ** 2 for v in g) for g in groups if g)
    return math.sqrt(squares / degrees)


def separated_rule(above, below, power: float = 0.8) -> dict:
    """What `spread.separated` can tell with these per-seed values: its false-positive rate (`chance_separated`)
    and the smallest shift it detects with probability `power` at their pooled standard deviation
    (`detectable_shift`). Introduced in Chapter 3."""
    above, below = [list(map(float, v)) for v in (above, below)]
    if len(above) < 2 or len(below) < 2:
        checks.fail("separated_rule", "above and below", "hold at least 2 seeds each to measure a spread",
                    got=f"{len(above)} and {len(below)}")
    sd = pooled_sd([above, below])
    return dict(false_positive_rate=chance_separated(len(above), len(below)), sd=sd,
                detectable=detectable_shift(len(above), len(below), sd, power), power=power)


def threshold_power(sd: float, n: int, threshold: float, null: float, power: float = 0.8) -> dict:
    """What the rule "every one of `n` normal values with standard deviation `sd` lies above `threshold`" can tell
    when no effect puts their mean at `null`: its false-positive rate (every value of a mean-`null` population
    passes) and `detectable`, the smallest effect (mean minus `null`) it detects with probability `power`.
    Introduced in Chapter 1."""
    from statistics import NormalDist
    where = "threshold_power"
    sd = max(checks.number(sd, "sd", where, low=0), 1e-12)
    checks.integer(n, "n", where)
    threshold = checks.number(threshold, "threshold", where)
    null = checks.number(null, "null", where)
    checks.number(power, "power", where, low=0, high=1)
    unit = NormalDist()
    return dict(false_positive_rate=unit.cdf((null - threshold) / sd) ** n, sd=sd, power=power,
                detectable=max(0.0, threshold - null + sd * unit.inv_cdf(power ** (1 / n))))


def threshold_rule(values, threshold: float, null: float, power: float = 0.8) -> dict:
    """`threshold_power` of the rule "every seed above `threshold`" at the standard deviation of the per-seed
    `values` (at least 2). Introduced in Chapter 4."""
    values = [float(v) for v in values]
    if len(values) < 2:
        checks.fail("threshold_rule", "values", "hold at least 2 seeds to measure a spread", got=f"{len(values)}")
    return threshold_power(pooled_sd([values]), len(values), threshold, null, power)
