"""What to believe (`pagutils.present.readings`): a Part's claims grouped by their computed readings, with the paper's
effect beside this run's, for the Part pages and the Reproduction page."""
import pytest

from pagutils import claims, readings, report
from pagutils.core.claims import Claim

DR = Claim(key="dr", statement="D_R is robust", evidence="Fig. 2(b): 48% against 0%", rule="separated",
           paper_effect=0.48)
NR = Claim(key="nr", statement="D_NR is not", evidence="Fig. 2(b)", rule="separated", paper_effect=0.48)
DET = Claim(key="d_det", statement="D_det generalises", evidence="Table 1", rule="above chance", paper_effect=0.78)


def _table(chapter, read, title="A chapter", dataset="mnist"):
    return report.Table(chapter=chapter, title=title, profile="quick", dataset=dataset, seconds=1.0, settings={},
                        rows=[], recorded="now", glued={}, claims=[c.as_dict() for c in read], zoo=[])


TABLES = [
    _table("ch03_robustified_datasets", [DR.read(False, detectable=0.07, observed=0.015),
                                         NR.read(True, observed=0.2, false_positive_rate=0.05)],
           title="Robustified datasets"),
    _table("ch04_non_robust_features", [DET.read(False, detectable=0.9, observed=0.05)], title="D_rand and D_det"),
]


def test_a_part_page_groups_every_claim_under_its_reading_with_links():
    page = readings.part_page(TABLES, "I")
    assert set(page) == {"overview", "holds", "refuted", "cannot_tell", "not_a_test"}
    assert page["overview"].startswith("This build ran the quick profile (mnist).")
    assert "{doc}`Robustified datasets <ch03_robustified_datasets>`: verdict **partly** (1 holds, 1 refuted" \
        in page["overview"]
    assert "ch02_robust_features: **missing**" in page["overview"]  # no table: said, not skipped
    gaussian = _table("ch02_robust_features", [], dataset=None)  # a chapter without a dataset names none
    assert readings.part_page(TABLES + [gaussian], "I")["overview"].startswith(
        "This build ran the quick profile (mnist).")
    assert "**D_R is robust**" in page["refuted"] and "**D_R is robust**" not in page["holds"]
    assert "effect 1.5 points" in page["refuted"] and "(effect 48.0 points)" in page["refuted"]
    assert "**D_NR is not**" in page["holds"]
    assert "What would tell: a test that detects 78.0 points (this one detects 90.0 points)" in page["cannot_tell"]
    assert page["not_a_test"].endswith("- None in this build.")
    with pytest.raises(ValueError, match="part must be one of"):
        readings.part_page(TABLES, "III")


def test_the_matrix_puts_the_papers_effect_beside_this_runs_in_chapter_order():
    text = readings.matrix(TABLES, ["ch04_non_robust_features", "ch03_robustified_datasets", "ch09_missing"])
    assert text.index("D_rand and D_det") < text.index("Robustified datasets")
    assert "**ch09_missing**: no results recorded" in text
    assert "This run: **does not hold**, effect 1.5 points." in text and "|" not in text  # stacked, no table


def test_what_would_tell_follows_from_what_the_test_could_see():
    assert "power is stated" in readings.what_would_tell(DR.read(False))
    assert "an effect size from the paper" in readings.what_would_tell(
        Claim(key="r", statement="s", evidence="e", rule="r", unit="correlation").read(False, detectable=0.9))
    assert "can be tested (not converged)" in readings.what_would_tell(DR.read(None, note="not converged"))
    assert set(readings.SLUGS) == set(claims.READINGS) == set(readings.HEADINGS)


def test_a_recorded_run_is_named_by_its_record_and_lists_its_part_only(tmp_path):
    import json
    assert readings.recorded_run(tmp_path, "I") == f"No run is recorded in `{tmp_path.name}`."
    for table in TABLES + [_table("ch08_distractor", [DET.read(True)], dataset="fashion_mnist")]:
        (tmp_path / f"{table['chapter']}.json").write_text(json.dumps(dict(table, dataset="fashion_mnist")))
    (tmp_path / "record.json").write_text(json.dumps(dict(recorded="2026-12-06", commit="abc1234", machine="2 CPU cores",
                                                          profile="quick")))
    text = readings.recorded_run(tmp_path, "I")
    assert text.startswith("A run recorded on 2026-12-06 at commit `abc1234` (2 CPU cores): the quick profile on "
                           "fashion_mnist.")
    assert "Robustified datasets" in text and "D_rand and D_det" in text and "ch08" not in text
    assert "and saw none" in text  # the reasons are computed from the recorded claims (D_R: refuted)
    with pytest.raises(ValueError, match="part must be one of"):
        readings.recorded_run(tmp_path, "III")
