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
"""
from dataclasses import dataclass, field, fields, replace
import math
from math import comb
from types import MappingProxyType
from typing import Mapping, Optional

from . import checks

HOLDS, FAILS, UNTESTED = "holds", "does not hold", "untested"
OUTCOMES = (HOLDS, FAILS, UNTESTED)
REPRODUCED, PARTLY, NOT_HERE, NO_CLAIM = "reproduced", "partly", "not here", "–"


@dataclass(frozen=True)
class Claim:
    """A paper's statement and this run's test of it. Introduced in Chapter 1.

    `key` names the claim within its chapter (`"dr_above_d"`); `statement` says what the paper claims as this run
    tests it; `evidence` is the paper's own evidence (figure, number); `rule` the decision rule the run applies;
    `false_positive_rate` the probability that the rule says "holds" when there is no effect (None: not stated).
    A read claim also carries its `outcome`, the `measured` values the rule read, `detectable` (the smallest
    effect the rule detects at the measured spread, where stated) and a `note` (where it was read, the control).
    """
    key: str
    statement: str
    evidence: str
    rule: str
    false_positive_rate: Optional[float] = None
    outcome: str = UNTESTED
    measured: Mapping = field(default_factory=dict)
    detectable: Optional[str] = None
    note: str = ""

    def __post_init__(self):
        for name in ("key", "statement", "evidence", "rule"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"Claim: {name} must be a non-empty string, got {getattr(self, name)!r}")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"Claim {self.key!r}: outcome must be one of {OUTCOMES}, got {self.outcome!r}")
        if self.false_positive_rate is not None:
            rate = checks.number(self.false_positive_rate, "false_positive_rate", f"Claim {self.key!r}")
            if not 0 <= rate <= 1:
                raise ValueError(f"Claim {self.key!r}: false_positive_rate must be a probability in [0, 1], "
                                 f"got {rate!r}")
        object.__setattr__(self, "measured", MappingProxyType(dict(self.measured)))

    def read(self, holds, measured: Mapping = None, note: str = "", detectable: str = None,
             false_positive_rate: float = None) -> "Claim":
        """This claim with the run's outcome: `holds` True, False, or None (untested), the `measured` values its
        rule read, and the rule's `false_positive_rate` where it depends on the run (the number of seeds).
        Introduced in Chapter 1."""
        if hasattr(holds, "item") and not isinstance(holds, bool):
            holds = holds.item()  # a one-element tensor or a numpy bool
        if holds is not None and not isinstance(holds, bool):
            raise checks.ArgumentTypeError(f"Claim.read ({self.key!r}): holds must be True, False or None "
                                           f"(untested), got {checks.brief(holds)}")
        outcome = UNTESTED if holds is None else HOLDS if holds else FAILS
        values = {}
        for name, value in (measured or {}).items():
            if hasattr(value, "item") and not isinstance(value, (int, float, str)):
                value = value.item()
            if value is not None and not isinstance(value, (int, float, str, bool)):
                raise checks.ArgumentTypeError(f"Claim.read ({self.key!r}): measured[{name!r}] must be a number "
                                               f"or a string, got {checks.brief(value)}")
            values[name] = value
        rate = self.false_positive_rate if false_positive_rate is None else false_positive_rate
        return replace(self, outcome=outcome, measured=values, note=note or "", detectable=detectable,
                       false_positive_rate=rate)

    @property
    def held(self) -> bool:
        return self.outcome == HOLDS

    def as_dict(self) -> dict:
        """The claim as plain JSON values (the chapter's results file stores it). Introduced in Chapter 1."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["measured"] = dict(self.measured)
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
    if claim.detectable:
        parts.append(f"Detects {claim.detectable} with 80% probability.")
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
            raise ValueError(f"markdown: chapters must name one chapter per claim ({len(claims)}), "
                             f"got {len(chapters)}")
        head.insert(0, "chapter")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, c in enumerate(claims):
        cells = [c.statement, f"**{c.outcome}**", _how(c)]
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


def separated_rule(above, below, power: float = 0.8) -> dict:
    """What `spread.separated` can tell with these per-seed values: its false-positive rate (`chance_separated`)
    and the smallest shift it detects with probability `power` at their pooled standard deviation
    (`detectable_shift`). Introduced in Chapter 3."""
    above, below = [list(map(float, v)) for v in (above, below)]
    if len(above) < 2 or len(below) < 2:
        raise ValueError(f"separated_rule: above and below need at least 2 seeds each to measure a spread, got "
                         f"{len(above)} and {len(below)}")
    squares = sum(sum((v - sum(g) / len(g)) ** 2 for v in g) for g in (above, below))
    sd = math.sqrt(squares / (len(above) + len(below) - 2))
    return dict(false_positive_rate=chance_separated(len(above), len(below)), sd=sd,
                detectable=detectable_shift(len(above), len(below), sd, power), power=power)
