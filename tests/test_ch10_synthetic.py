"""Chapter 10's protocol where everything is exact (the synthetic manifold), and its two-sided rule's false-positive
rate at 5 voting seeds."""
import math

import pytest
import torch

from pagutils import alignment, claims, synthetic


def _row(cosine, on=0.1, off=0.01, accuracy=0.97):
    return dict(cosine=cosine, on=on, off=off, accuracy=accuracy)


def _constructed(curve, spread=0.01, n=5, collapsed=()):
    """Measure dicts of a sweep whose mean alignment per strength is `curve`: n voters spread evenly by `spread`
    around it, the selection seed on it; strengths in `collapsed` have NaN everywhere."""
    voting, selection = [], []
    for i, mean in enumerate(curve):
        if i in collapsed:
            nan = _row(math.nan, math.nan, math.nan, math.nan)
            voting.append([nan] * n), selection.append(nan)
            continue
        offsets = torch.linspace(-spread, spread, n).tolist()
        voting.append([_row(mean + d) for d in offsets])
        selection.append(_row(mean))
    return voting, selection


STRENGTHS = [0.0, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]


def test_the_protocol_recovers_a_known_interior_peak():
    """A constructed rise and fall with its peak at 1.0: found by the selection seed, both halves beyond the spread."""
    curve = [0.50, 0.55, 0.62, 0.80, 0.70, 0.60, 0.55]
    voting, selection = _constructed(curve)
    read = alignment.read_sweep(STRENGTHS, voting, selection, [False] * 7)
    c = read["claim"]
    assert c["holds"] is True and c["peak"] == 1.0 and c["strongest"] == 1000.0
    assert c["rise_margin"] == pytest.approx(0.80 - 0.01 - 0.51, abs=1e-9)
    assert c["fall_margin"] == pytest.approx(0.80 - 0.01 - 0.56, abs=1e-9)
    assert read["summaries"][3]["cosine"]["mean"] == pytest.approx(0.80)
    # a rise with no fall (monotone) does not hold: the fall half fails
    rising = alignment.read_sweep(STRENGTHS, *_constructed([0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8]), [False] * 7)
    assert rising["claim"]["rise"] and not rising["claim"]["fall"] and rising["claim"]["holds"] is False
    # a spread wider than the effect: neither half is beyond it
    wide = alignment.read_sweep(STRENGTHS, *_constructed(curve, spread=0.3), [False] * 7)
    assert wide["claim"]["holds"] is False


def test_collapsed_trainings_are_left_out_and_too_few_leave_the_claim_untested():
    curve = [0.50, 0.55, 0.62, 0.80, 0.70, 0.60, 0.10]
    voting, selection = _constructed(curve, collapsed={6})
    failed = [False] * 6 + [True]
    read = alignment.read_sweep(STRENGTHS, voting, selection, failed)
    # the collapsed strongest is no fall: the fall is measured against 100, the strongest trained
    assert read["claim"]["strongest"] == 100.0 and read["claim"]["holds"] is True
    assert read["regimes"][6] == alignment.FAILED and alignment.FAILED not in read["regimes"][:6]
    # only 0 and one other trained: untested, which the chapter counts as not reproduced
    voting, selection = _constructed(curve, collapsed={2, 3, 4, 5, 6})
    read = alignment.read_sweep(STRENGTHS, voting, selection, [False, False] + [True] * 5)
    assert read["claim"]["holds"] is None and read["claim"]["peak"] is None
    # the standard model collapsed: nothing to refer to
    read = alignment.read_sweep(STRENGTHS, *_constructed(curve, collapsed={0}), [True] + [False] * 6)
    assert read["claim"]["holds"] is None and set(read["regimes"]) == {alignment.FAILED}


def test_collapsed_reads_divergence_and_chance_not_a_flat_but_right_output():
    assert alignment.collapsed(math.nan, 0.97, 2) and alignment.collapsed(math.inf, 0.97, 2)
    assert alignment.collapsed(0.693, 0.52, 2)
    # two classes, strong smoothing: cross-entropy near ln 2 and decisions right is robust, not collapsed
    assert not alignment.collapsed(0.68, 0.95, 2) and alignment.training_failed(0.68, 2)
    assert alignment.training_failed(math.nan, 10)
    with pytest.raises(ValueError, match="num_classes"):
        alignment.collapsed(0.5, 0.9, 1)


def test_the_two_sided_rule_at_five_seeds_has_the_stated_false_positive_rate():
    """No effect: every strength's seeds from one distribution. With 5 voters the rule says "holds" with probability
    1 / C(15, 5) = 1/3003 (the peak's five above the ten of strength 0 and the strongest), and each half with
    1 / C(10, 5) = 1/252, by simulation."""
    generator = torch.Generator().manual_seed(1)
    trials, n = 60000, 5
    values = torch.randn(trials, 7, n + 1, generator=generator, dtype=torch.float64)
    holds = rises = falls = 0
    for trial in values:
        result = alignment.alignment_claim(STRENGTHS, trial[:, 1:].tolist(), trial[:, 0].tolist())
        holds, rises, falls = holds + result["holds"], rises + result["rise"], falls + result["fall"]
    p, half = claims.chance_separated(n, 2 * n), claims.chance_separated(n, n)
    assert p == pytest.approx(1 / 3003) and half == pytest.approx(1 / 252)
    for hits, rate in ((holds, p), (rises, half), (falls, half)):
        assert abs(hits / trials - rate) < 4 * math.sqrt(rate * (1 - rate) / trials) + 1 / trials


def test_a_sweep_config_refuses_a_voting_selection_seed_and_unordered_strengths():
    with pytest.raises(ValueError, match="selection_seed"):
        synthetic.SweepConfig(strengths=dict(pgd=[0.1, 0.2]), n_seeds=5, selection_seed=3)
    with pytest.raises(ValueError, match=r"strengths\['pgd'\]"):
        synthetic.SweepConfig(strengths=dict(pgd=[0.2, 0.1]))
    with pytest.raises(ValueError, match="strengths"):
        synthetic.SweepConfig(strengths=dict(dropout=[0.1, 0.2]))
    config = synthetic.SweepConfig(strengths=dict(pgd=[0.1, 0.2], gradient_norm=[1, 2]))
    assert list(config.strengths) == ["gradient_norm", "pgd"] and config.seeds == [0, 1, 2, 3, 4, 5]
    assert config.recipe("pgd", 0.2, 3).objective_args == dict(eps=0.2, steps=3)
    assert config.recipe("pgd", 0.0, 3).objective == "standard"


def test_the_bayes_optimal_classifier_is_exactly_aligned():
    """The measures are exact: the Bayes-optimal classifier's own gradient has cosine 1 with the reference."""
    surface = synthetic.make_generator()
    references = synthetic.exact_references(surface, 40, seed=7)
    train = surface.sample(40, seed=8)[0]
    measured = synthetic.measure_exact(synthetic.BayesOptimal(surface), references, train, noise_norm=0.5)
    assert measured["cosine"] == pytest.approx(1.0, abs=1e-4)
    assert measured["on_fraction"] > 0.9  # the Bayes gradient lies (almost) in the tangent spaces
    assert measured["off"] < measured["on"]


def test_a_tiny_real_sweep_shares_the_standard_model_and_measures_every_point():
    config = synthetic.SweepConfig(strengths=dict(noise_augmentation=[0.1, 0.5], pgd=[0.05, 0.2]), n_seeds=2,
                                   selection_seed=2, n_train=256, epochs=2, width=16, n_eval=40, n_samples=2)
    sweep = synthetic.robustness_sweep(synthetic.make_generator(), config, show_progress=False)
    assert len(sweep["measures"]) == 2 * 3 * 3
    assert sweep["measures"]["pgd", 0.0, 1] is sweep["measures"]["noise_augmentation", 0.0, 1]
    for row in sweep["measures"].values():
        assert -1 <= row["cosine"] <= 1 and 0 <= row["accuracy"] <= 1 and row["train_loss"] > 0
    read = synthetic.read_robustness_sweep(sweep, config)
    assert set(read) == {"noise_augmentation", "pgd"}
    assert all(len(r["regimes"]) == 3 and r["claim"]["holds"] in (True, False, None) for r in read.values())
