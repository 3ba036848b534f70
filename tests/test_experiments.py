"""One spec per chapter (`pagutils.experiments`): the notebook, prefill and the claims all read it."""
import ast
import inspect
import json
import math
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from pagutils import cache, claims, experiments, prefill, profiles, report, spread, zoo
from pagutils.core.claims import Claim

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("ch[0-9][0-9]_*.ipynb"))


def _code(path):
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_every_chapter_has_exactly_one_spec():
    assert [p.stem for p in NOTEBOOKS] == list(experiments.CHAPTERS)
    with pytest.raises(ValueError, match="chapter must be one of"):
        experiments.get("ch99_nothing")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_reads_its_spec_and_names_its_settings(path):
    """The settings cell reads the chapter's own spec, the papermill parameters cell names exactly the spec's
    settings, and no code cell types a verdict or asks the zoo for a configuration it builds itself."""
    code = _code(path)
    spec = experiments.get(path.stem)
    assert any(f'experiments.get("{path.stem}")' in c and "spec.settings(globals())" in c for c in code)
    parameters = json.loads(path.read_text())["cells"]
    cell = next("".join(c["source"]) for c in parameters if "parameters" in c["metadata"].get("tags", []))
    named = {t.id for node in ast.parse(cell).body if isinstance(node, ast.Assign) for t in node.targets}
    assert named == {"profile", *spec.quick}, f"{path.stem}: parameters cell and spec differ"
    for source in code:
        assert "pagutils.settings(" not in source
        # a verdict is typed nowhere: claims.HOLDS / FAILS come from Claim.read (a dict key "holds" is no verdict)
        assert not re.search(r'(?<!\[)"holds"(?!\])', source) and '"does not hold"' not in source
        assert "zoo.get(zoo." not in source, "zoo.get asks for spec.zoo_models(cfg), not a configuration built here"


@pytest.mark.parametrize("profile", profiles.PROFILES)
@pytest.mark.parametrize("chapter", experiments.CHAPTERS)
def test_prefill_prepares_exactly_what_the_spec_asks_for(chapter, profile):
    spec = experiments.get(chapter)
    cfg = spec.settings(profile=profile)
    wanted = {cache.config_key(c) for c in spec.zoo_models(cfg).values()}
    assert {cache.config_key(c) for c in prefill.configurations(chapter, profile)} == wanted
    settings = dict(prefill.chapter_settings(chapter, profile))
    assert {k: v for k, v in settings.items() if k != "started"} == {k: v for k, v in cfg.items() if k != "started"}


def test_prefill_reads_no_notebook():
    source = inspect.getsource(prefill)
    assert ".ipynb" not in source and "import ast" not in source


def test_chapter_10_sweeps_the_standard_model_once_per_seed_in_every_profile():
    spec = experiments.get("ch10_four_ways_three_regimes")
    for profile in profiles.PROFILES:
        cfg = spec.settings(profile=profile)
        configs = spec.zoo_models(cfg)
        standard = [key for key in configs if key[0] == "standard"]
        assert len(standard) == cfg.n_seeds + 1  # the voting seeds and the selection seed
        per_method = sum(len(cfg[name]) for name in ("lam_gradient_norm", "lam_noise_consistency",
                                                     "sigma_noise_augmentation", "eps_pgd"))
        assert len(configs) == (per_method + 1) * (cfg.n_seeds + 1)
        assert len({cache.config_key(c) for c in configs.values()}) == len(configs)


def test_spec_settings_check_their_values_once():
    spec = experiments.get("ch03_robustified_datasets")
    assert spec.settings(profile="full").eval_eps is None  # chosen on the selection seed
    assert spec.settings(profile="paper").eval_eps == 0.25  # the paper's radius over that choice
    assert spec.settings(profile="paper").steps == 1000  # the paper's value over the full profile's
    with pytest.raises(ValueError, match=r"eval_eps must be None \(chosen on the selection seed\) or one of"):
        spec.settings(eval_eps=0.7)
    with pytest.raises(ValueError, match=r"selection_seed must not be one of the voting seeds"):
        spec.settings(selection_seed=2)
    with pytest.raises(ValueError, match=r"curve_eps must hold a radius at most train_eps"):
        spec.settings(curve_eps=[2.0, 3.0], eval_eps=2.0)
    with pytest.raises(NameError, match=r"unknown parameter\(s\) \['epoch'\]"):
        spec.settings(epoch=3)
    with pytest.raises(ValueError, match="parameter 'dataset' must be one of"):
        spec.settings(dataset="svhn")


def test_zoo_records_what_a_run_asked_for(monkeypatch):
    asked = []
    monkeypatch.setattr(zoo, "cached_model", lambda config, model, fit, device: asked.append(config) or model)
    monkeypatch.setattr(zoo, "_REQUESTED", {})
    config = zoo.standard("mnist", "quick", n_train=10, epochs=1)
    zoo.get(config)
    assert zoo.requested() == {cache.config_key(config): config} and asked == [config]


# -------------------------------------------------------------------------------------------------------------
# Claims


CLAIM = Claim(key="dr", statement="D_R is robust", evidence="Fig. 2", rule="every seed above")


def test_a_claim_is_untested_until_read_and_reads_bools_tensors_and_none():
    assert CLAIM.outcome == claims.UNTESTED and not CLAIM.held
    assert CLAIM.read(True).outcome == claims.HOLDS
    assert CLAIM.read(torch.tensor(0.3) > 0.5).outcome == claims.FAILS
    assert CLAIM.read(None).outcome == claims.UNTESTED
    read = CLAIM.read(True, measured=dict(d_r=torch.tensor(0.4), where="eps 2"), false_positive_rate=0.05)
    assert read.measured == {"d_r": pytest.approx(0.4), "where": "eps 2"} and read.false_positive_rate == 0.05
    assert CLAIM.outcome == claims.UNTESTED  # reading makes a new claim; the spec's stays unread
    assert Claim.from_dict(json.loads(json.dumps(read.as_dict()))) == read


def test_claims_refuse_what_they_cannot_mean():
    with pytest.raises(TypeError, match="holds must be True, False or None"):
        CLAIM.read("holds")
    with pytest.raises(ValueError, match="outcome must be one of"):
        Claim(key="k", statement="s", evidence="e", rule="r", outcome="maybe")
    with pytest.raises(ValueError, match=r"false_positive_rate must be a probability in \[0, 1\]"):
        Claim(key="k", statement="s", evidence="e", rule="r", false_positive_rate=1.5)
    with pytest.raises(ValueError, match="statement must be a non-empty string"):
        Claim(key="k", statement="", evidence="e", rule="r")


def test_the_verdict_counts_untested_claims_as_not_reproduced():
    held, failed, untested = CLAIM.read(True), CLAIM.read(False), CLAIM.read(None)
    assert claims.verdict([held, held]) == "reproduced"
    assert claims.verdict([held, untested]) == "partly"
    assert claims.verdict([failed, untested]) == "not here"
    assert claims.verdict([]) == "–"


def test_one_renderer_for_the_claim_box_and_the_matrix():
    box = claims.markdown([CLAIM.read(True, note="eps 2", false_positive_rate=0.05), CLAIM.read(None)])
    assert ("| D_R is robust | **holds**. The rule passed; with no effect it passes with probability 0.05. | every "
            "seed above. False-positive rate: 0.05. Read at: eps 2. Paper: Fig. 2. |") in box
    assert "| **untested**, cannot tell. Untested; counts as not reproduced. |" in box
    assert "False-positive rate: not stated." in box
    assert box.endswith("Verdict of this run: **partly**.")
    matrix = claims.markdown([CLAIM.read(False)], chapters=["ch03"])
    assert matrix.splitlines()[2].startswith("| ch03 | D_R is robust | **does not hold**, cannot tell. The test's "
                                             "power is not stated")
    with pytest.raises(ValueError, match="one chapter per claim"):
        claims.markdown([CLAIM], chapters=[])


PAPER = replace(CLAIM, paper_effect=0.48)


def test_a_failure_is_refuted_only_where_the_test_could_see_the_papers_effect():
    refuted = PAPER.read(False, detectable=0.07)
    assert refuted.reading == claims.REFUTED and "7.0 points" in refuted.reason and "48.0 points" in refuted.reason
    weak = PAPER.read(False, detectable=0.6)
    assert weak.reading == claims.CANNOT_TELL and "detects only 60.0 points" in weak.reason
    assert CLAIM.read(False, detectable=0.01).reading == claims.CANNOT_TELL  # the paper states no effect size
    assert PAPER.read(False).reading == claims.CANNOT_TELL  # power not stated
    assert PAPER.read(None, detectable=0.01).reading == claims.CANNOT_TELL
    assert PAPER.read(True, detectable=0.6).reading == claims.HOLDS


def test_a_control_the_rule_gets_wrong_makes_the_claim_not_a_test():
    """Chapter 9's case: a rule that fails even for a direction with no manifold structure decides by itself."""
    blind = claims.Control("random directions on the digit's support", should_hold=True, held=False)
    read = PAPER.read(False, detectable=0.01, control=blind)
    assert read.reading == claims.NOT_A_TEST and 'says "does not hold" on random directions' in read.reason
    fine = claims.Control("shuffled labels", should_hold=False, held=False)
    assert PAPER.read(True, control=fine).reading == claims.HOLDS
    assert PAPER.read(True, control=claims.Control("shuffled labels", False, True)).reading == claims.NOT_A_TEST
    assert Claim.from_dict(json.loads(json.dumps(read.as_dict()))) == read
    with pytest.raises(TypeError, match="held must be True or False"):
        claims.Control("x", should_hold=True, held="no")
    with pytest.raises(ValueError, match="unit must be one of"):
        replace(CLAIM, unit="furlongs")
    with pytest.raises(ValueError, match="detectable must be a size, at least 0"):
        CLAIM.read(False, detectable=-0.1)


def test_threshold_power_matches_a_simulation_of_every_seed_above_a_threshold():
    rule = claims.threshold_power(sd=0.02, n=3, threshold=0.15, null=0.10)
    generator = torch.Generator().manual_seed(2)
    trials = 20000
    null = 0.10 + 0.02 * torch.randn(trials, 3, generator=generator)
    assert (null > 0.15).all(1).float().mean().item() == pytest.approx(rule["false_positive_rate"], abs=2e-4)
    shifted = null + rule["detectable"]
    assert (shifted > 0.15).all(1).float().mean().item() == pytest.approx(0.8, abs=0.01)
    measured = claims.threshold_rule([0.31, 0.33, 0.35], threshold=0.15, null=0.10)
    assert measured["sd"] == pytest.approx(0.02) and measured["detectable"] == pytest.approx(rule["detectable"])
    with pytest.raises(ValueError, match="at least 2 seeds"):
        claims.threshold_rule([0.3], threshold=0.15, null=0.1)


def test_record_stores_read_claims_and_the_reproduction_page_reads_them(tmp_path, monkeypatch):
    monkeypatch.setenv("PAG_RESULTS_DIR", str(tmp_path))
    read = [CLAIM.read(True), CLAIM.read(False)]
    report.record("ch03_test", [dict(metric="accuracy", value=0.9)], dict(profile="quick"), claims=read)
    table = report.load_all(tmp_path)[0]
    assert report.claims(table) == read and report.verdict(table) == "partly"
    assert "claim: D_R is robust" in repr(table) and report._GLUED["ch03_claims"].startswith("| claim |")
    with pytest.raises(TypeError, match=r"claims\[0\] must be a claims.Claim"):
        report.record("ch03_test", [], dict(profile="quick"), claims=[dict(metric="claim: x", value="holds")])


def test_every_spec_claim_states_its_evidence_and_rule():
    for chapter in experiments.CHAPTERS:
        spec = experiments.get(chapter)
        assert spec.claims, f"{chapter} declares no claim"
        for claim in spec.claims:
            assert claim.outcome == claims.UNTESTED and claim.evidence and claim.rule
            assert spec.claim(claim.key) is claim


@pytest.mark.parametrize("n,m", [(3, 3), (5, 5), (2, 4)])
def test_chance_separated_is_the_false_positive_rate_of_spread_separated(n, m):
    """Exact: 1 / C(n + m, n); checked by simulation of `spread.separated` with no effect."""
    assert claims.chance_separated(n, m) == pytest.approx(1 / math.comb(n + m, n))
    generator = torch.Generator().manual_seed(0)
    trials, hits = 4000, 0
    for _ in range(trials):
        a, b = torch.randn(n, generator=generator).tolist(), torch.randn(m, generator=generator).tolist()
        hits += spread.separated(spread.over_seeds(a), spread.over_seeds(b))
    p = claims.chance_separated(n, m)
    assert abs(hits / trials - p) < 4 * math.sqrt(p * (1 - p) / trials) + 1e-3


def test_detectable_shift_is_the_shift_the_rule_catches_with_80_percent_power():
    shift = claims.detectable_shift(3, 3, sd=1.0)
    generator = torch.Generator().manual_seed(1)
    trials = 4000
    a = shift + torch.randn(trials, 3, generator=generator)
    b = torch.randn(trials, 3, generator=generator)
    caught = (a.min(1).values > b.max(1).values).float().mean().item()
    assert caught == pytest.approx(0.8, abs=0.03)
    assert claims.detectable_shift(3, 3, sd=0.02) == pytest.approx(0.02 * shift)
    # "every seed above every seed" grows stricter with more seeds: a lower false-positive rate, less power
    assert claims.detectable_shift(5, 5, sd=1.0) > shift and claims.chance_separated(5, 5) < 0.05


def test_pooled_sd_is_the_within_group_spread():
    # deviations from each group's own mean: (±0.01) and (±0.02) over 1 + 1 degrees of freedom
    assert claims.pooled_sd([[0.35, 0.37], [0.1, 0.14]]) == pytest.approx(((2e-4 + 8e-4) / 2) ** 0.5)
    assert claims.pooled_sd([[0.31, 0.33, 0.35]]) == pytest.approx(0.02)  # one group: its sample sd
    assert claims.pooled_sd([[5.0, 5.0], [1.0, 1.0]]) == 0  # the groups' means differ: not spread
    with pytest.raises(ValueError, match="at least 2 values"):
        claims.pooled_sd([[0.3], [0.2]])


def test_separated_rule_reads_the_spread_of_the_seeds():
    rule = claims.separated_rule([0.36, 0.34, 0.35], [0.33, 0.35, 0.34])
    assert rule["false_positive_rate"] == pytest.approx(0.05) and rule["sd"] == pytest.approx(0.01)
    assert rule["detectable"] == pytest.approx(claims.detectable_shift(3, 3, 0.01))
    with pytest.raises(ValueError, match="at least 2 seeds each"):
        claims.separated_rule([0.3], [0.2, 0.1])


@pytest.mark.parametrize("chapter", ["ch03_robustified_datasets", "ch04_non_robust_features"])
def test_models_trained_in_a_chapter_never_share_a_seed_with_its_sources(chapter):
    spec = experiments.get(chapter)
    for profile in profiles.PROFILES:
        cfg = spec.settings(profile=profile)
        sources = {c.get("seed", 0) for c in spec.zoo_models(cfg).values()}
        assert not sources & set(cfg.seeds)
    with pytest.raises(ValueError, match="seeds"):
        spec.settings(seeds=[0, 1, 2])
