"""What to believe: a Part's claims gathered by what their outcomes mean. Introduced in the Part summaries.

Every claim a chapter reads carries a computed reading (`claims.READINGS`): it holds, it is refuted at this scale,
the test cannot tell, or the rule is not a test of the paper. `part_page` turns the recorded tables of a Part's
chapters into the page that ends the Part: what the papers say, what this run supports, what it refutes at this
scale, what it cannot tell and what would tell. `matrix` is the Reproduction page's list of every claim with the
paper's effect beside this run's. Both write MyST Markdown with links to the chapters, stacked (no wide table), so
that they read on a phone.
"""
import json
from pathlib import Path

from ..core import checks
from ..core.claims import CANNOT_TELL, HOLDS, NOT_A_TEST, READINGS, REFUTED, effect_text, verdict
from .report import Table, claims as recorded_claims

PARTS = {
    "I": ("ch02_robust_features", "ch03_robustified_datasets", "ch04_non_robust_features",
          "ch05_transferability"),
    "II": ("ch06_perceptually_aligned_gradients", "ch07_off_manifold_theory", "ch08_distractor",
           "ch09_manifold_real_images", "ch10_four_ways_three_regimes"),
}
HEADINGS = {  # the Part pages' section titles
    HOLDS: "What this run supports",
    REFUTED: "What this run refutes at its scale",
    CANNOT_TELL: "What this run cannot tell",
    NOT_A_TEST: "Where the test is not a test of the paper",
}
EXPLAINED = {
    HOLDS: "The rule passed; its false-positive rate says how often it would pass with no effect at all.",
    REFUTED: "The rule failed although it detects an effect of the paper's size with 80% probability: at this "
             "scale the paper's effect is not there.",
    CANNOT_TELL: "The rule failed (or could not be applied) and could not have seen the paper's effect: neither a "
                 "success nor a refutation. What would tell is said with each claim.",
    NOT_A_TEST: "A control whose answer is known by construction got the wrong answer from the same rule: the rule, "
                "not the data, decides the outcome, so the outcome says nothing about the paper.",
}


def _title(table) -> str:
    return table.get("title") or table["chapter"]


def _link(table) -> str:
    return f"{{doc}}`{_title(table)} <{table['chapter']}>`"


def what_would_tell(claim) -> str:
    """For a claim the run cannot tell: what would decide it, from what the test could see. Introduced in the
    Part summaries."""
    if claim.outcome == "untested":
        return f"a run in which the claim can be tested ({claim.note or 'see the chapter'})"
    if claim.detectable is None:
        return "a rule whose power is stated (its detectable effect at the measured spread)"
    if claim.paper_effect is None:
        return (f"an effect size from the paper to compare with the {effect_text(claim.detectable, claim.unit)} "
                f"this test detects")
    return (f"a test that detects {effect_text(claim.paper_effect, claim.unit)} (this one detects "
            f"{effect_text(claim.detectable, claim.unit)}): more seeds, or the full profile's scale")


def _item(table, claim, link=True) -> str:
    parts = [f"**{claim.statement}**" + (f" ({_link(table)})." if link else ".")]
    run = effect_text(claim.observed, claim.unit) if claim.observed is not None else None
    parts.append(f"Paper: {claim.evidence.rstrip('.')}"
                 + (f" (effect {effect_text(claim.paper_effect, claim.unit)})" if claim.paper_effect is not None
                    else "") + ".")
    parts.append(f"This run: **{claim.outcome}**" + (f", effect {run}" if run else "") + f". {claim.reason}")
    if claim.reading == CANNOT_TELL:
        parts.append(f"What would tell: {what_would_tell(claim)}.")
    return "- " + " ".join(parts)


SLUGS = {HOLDS: "holds", REFUTED: "refuted", CANNOT_TELL: "cannot_tell", NOT_A_TEST: "not_a_test"}


def part_page(tables, part: str) -> dict:
    """The Markdown of the page that ends Part `part` ("I" or "II"), in sections: `"overview"` (this build's
    profile and dataset, each chapter's verdict and readings), then one section per reading (keyed by `SLUGS`:
    "holds", "refuted", "cannot_tell", "not_a_test") listing its claims with links. `tables` are the recorded
    results tables (`report.load_all`); a chapter without a table is named as missing. Introduced in the Part
    summaries."""
    checks.one_of(part, sorted(PARTS), "part", "part_page")
    by_chapter = {t["chapter"]: t for t in tables}
    grouped = {reading: [] for reading in READINGS}
    ran = [t for t in by_chapter.values() if t["chapter"] in PARTS[part]]
    built = []
    for profile in sorted({t["profile"] for t in ran}):
        datasets = sorted({t["dataset"] for t in ran if t["profile"] == profile and t.get("dataset")})
        built.append(f"the {profile} profile" + (f" ({', '.join(datasets)})" if datasets else ""))
    lines = [f"This build ran {' and '.join(built) or 'no chapter of this Part'}.", ""]
    for chapter in PARTS[part]:
        table = by_chapter.get(chapter)
        if table is None:
            lines.append(f"- {chapter}: **missing**, no results recorded; run the chapter to record them.")
            continue
        read = recorded_claims(table)
        counts = ", ".join(f"{sum(c.reading == r for c in read)} {r}" for r in READINGS
                           if any(c.reading == r for c in read))
        lines.append(f"- {_link(table)}: verdict **{verdict(read)}** ({counts or 'no claim'}).")
        for claim in read:
            grouped[claim.reading].append((table, claim))
    sections = {"overview": "\n".join(lines)}
    for reading in READINGS:
        items = [_item(t, c) for t, c in grouped[reading]] or ["- None in this build."]
        sections[SLUGS[reading]] = "\n".join([EXPLAINED[reading], ""] + items)
    return sections


def matrix(tables, chapters) -> str:
    """Every claim of the recorded `tables`, chapter by chapter in the order of `chapters`: the paper's evidence
    and effect beside this run's outcome, effect and reading. Stacked, one block per claim, so that it reads on
    a phone. Introduced in the Part summaries."""
    by_chapter = {t["chapter"]: t for t in tables}
    lines = []
    for chapter in chapters:
        table = by_chapter.get(chapter)
        if table is None:
            lines += [f"**{chapter}**: no results recorded; run the chapter to record them.", ""]
            continue
        read = recorded_claims(table)
        lines += [f"**{_link(table)}** ({table['profile']} profile, {table.get('dataset') or 'no dataset'}): "
                  f"verdict **{verdict(read)}**.", ""]
        lines += [_item(table, c, link=False) for c in read] or ["- No claim."]
        lines.append("")
    return "\n".join(lines).rstrip()


def recorded_run(folder, part: str) -> str:
    """The claims of Part `part` as a run recorded with the book reads them (e.g. the quick profile on
    Fashion-MNIST, whose chapters this build does not execute): a line naming the run from its `record.json`
    (`syllabus.record`: profile, dataset, commit, machine, date), then `matrix` of the Part's chapters from its
    results tables (`chNN_*.json`). A folder without tables gives one line saying so. Introduced in the Part
    summaries."""
    checks.one_of(part, sorted(PARTS), "part", "recorded_run")
    folder = Path(folder)
    tables = [Table(json.loads(p.read_text())) for p in sorted(folder.glob("ch[0-9][0-9]_*.json"))]
    if not tables:
        return f"No run is recorded in `{folder.name}`."
    record = json.loads((folder / "record.json").read_text()) if (folder / "record.json").exists() else {}
    datasets = ", ".join(sorted({t.get("dataset") or "–" for t in tables}))
    head = (f"A run recorded on {record.get('recorded', 'an unknown date')} at commit "
            f"`{record.get('commit', 'unknown')}` ({record.get('machine', 'machine not stated')}): the "
            f"{tables[0]['profile']} profile on {datasets}. Its numbers are that run's, not this build's.")
    return head + "\n\n" + matrix(tables, [c for c in PARTS[part] if any(t["chapter"] == c for t in tables)])
