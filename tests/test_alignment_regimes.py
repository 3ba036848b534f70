"""Chapter 10's regimes, read off a sweep's measured on/off signature, and the test of the paper's claim."""
import math

import matplotlib.pyplot as plt
import pytest
import torch

from pagutils import alignment, claims

# A synthetic sweep with a known crossover: an off/on ratio at least the standard model's (1.6) at strengths 0
# and 0.1 (weak), below it from 1 on; at 10 on-manifold change and accuracy still near the standard model's
# (Bayes-aligned); at 100 both collapse (excessive).
STRENGTHS = [0.0, 0.1, 1.0, 10.0, 100.0]
ROWS = [dict(on=0.50, off=0.80, accuracy=0.95),
        dict(on=0.48, off=0.78, accuracy=0.95),
        dict(on=0.45, off=0.20, accuracy=0.94),
        dict(on=0.30, off=0.05, accuracy=0.92),
        dict(on=0.05, off=0.01, accuracy=0.40)]


def test_regimes_follow_the_crossover_and_the_collapse():
    assert alignment.regimes(STRENGTHS, ROWS) == ["weak", "weak", "bayes-aligned", "bayes-aligned", "excessive"]


def test_the_tolerances_are_the_arguments():
    # keeping 80% of the standard model's on-manifold change: strength 10 (0.30 < 0.8 * 0.5) is excessive
    assert alignment.regimes(STRENGTHS, ROWS, on_kept=0.8)[3] == "excessive"
    # an accuracy drop of at most 1 point: strength 1 (0.94) still near, 10 (0.92) not
    assert alignment.regimes(STRENGTHS, ROWS, accuracy_drop=0.01)[2:] == ["bayes-aligned", "excessive", "excessive"]
    # a constant predictor (no change anywhere) is excessive, not weak, although off >= on
    flat = ROWS[:1] + [dict(on=0.0, off=0.0, accuracy=0.1)]
    assert alignment.regimes([0, 1], flat) == ["weak", "excessive"]


def test_the_crossover_is_at_the_standard_models_ratio():
    rows = [dict(on=0.5, off=0.5, accuracy=0.9), dict(on=0.5, off=0.4999, accuracy=0.9)]
    assert alignment.regimes([0, 1], rows) == ["weak", "bayes-aligned"]
    # relative, not absolute: a standard model already more robust off the manifold (off/on 0.3) leaves room
    # for weak strengths below off = on, and for Bayes-aligned ones below its own ratio
    rows = [dict(on=0.5, off=0.15, accuracy=0.9), dict(on=0.5, off=0.16, accuracy=0.9),
            dict(on=0.5, off=0.10, accuracy=0.9)]
    assert alignment.regimes([0, 1, 2], rows) == ["weak", "weak", "bayes-aligned"]


def test_the_claim_needs_the_rise_and_the_fall_beyond_the_seed_spread():
    voters = [[0.40, 0.42, 0.44], [0.41, 0.43, 0.45], [0.50, 0.52, 0.55], [0.46, 0.49, 0.60], [0.1, 0.1, 0.2]]
    selection = [0.4, 0.5, 0.6, 0.55, 0.1]  # the selection seed picks strength 1.0 as the peak
    result = alignment.alignment_claim(STRENGTHS, voters, selection)
    assert result["holds"] and result["peak"] == 1.0 and result["strongest"] == STRENGTHS[-1]
    assert result["rise_margin"] == pytest.approx(0.50 - 0.44) and result["fall_margin"] == pytest.approx(0.5 - 0.2)
    assert result["rise_mean"] == pytest.approx((0.50 + 0.52 + 0.55 - 0.40 - 0.42 - 0.44) / 3)
    # the detectable shift is claims.detectable_shift at the voters' pooled spread: it grows with that spread
    pooled = torch.tensor(voters)
    sd = ((pooled - pooled.mean(1, keepdim=True)) ** 2).sum().div(5 * 2).sqrt().item()
    assert result["detectable"] == pytest.approx(claims.detectable_shift(3, 3, sd))
    risen_only = [list(v) for v in voters[:-1]] + [[0.5, 0.6, 0.7]]  # no fall: the strongest is as aligned
    result = alignment.alignment_claim(STRENGTHS, risen_only, selection)
    assert result["rise"] and not result["fall"] and result["holds"] is False
    # the peak is the selection seed's, not the voters': a voter-favoured strength does not get picked
    picked = alignment.alignment_claim(STRENGTHS, voters, [0.4, 0.9, 0.1, 0.1, 0.1])
    assert picked["peak"] == STRENGTHS[1] and picked["holds"] is False


def test_failed_training_is_neither_the_fall_nor_counted():
    voters = [[0.40, 0.42, 0.44], [0.50, 0.52, 0.55], [0.45, 0.46, 0.47], [0.1, 0.1, 0.1]]
    result = alignment.alignment_claim([0, 1, 2, 3], voters, [0.4, 0.6, 0.5, 0.1], failed=[0, 0, 0, 1])
    assert result["strongest"] == 2 and result["holds"] is True
    untested = alignment.alignment_claim([0, 1, 2], voters[:3], [0.4, 0.6, 0.5], failed=[0, 0, 1])
    assert untested["holds"] is None and untested["peak"] is None
    assert alignment.training_failed(2.2, 10) and not alignment.training_failed(0.5, 10)


def test_the_two_sided_rule_has_the_stated_false_positive_rate():
    """No effect: every strength's seeds from one distribution. The rule says "holds" with probability
    1 / C(3n, n) for n voters (1/84 for 3), by simulation."""
    generator = torch.Generator().manual_seed(0)
    trials, hits, n = 6000, 0, 3
    for _ in range(trials):
        values = torch.randn(6, n + 1, generator=generator)
        result = alignment.alignment_claim([0, 1, 2, 3, 4, 5], values[:, 1:].tolist(), values[:, 0].tolist())
        hits += bool(result["holds"])
    p = claims.chance_separated(n, 2 * n)
    assert p == pytest.approx(1 / 84)
    assert abs(hits / trials - p) < 4 * math.sqrt(p * (1 - p) / trials)


def test_summarise_gives_mean_min_max_over_seeds():
    summary = alignment.summarise([dict(cosine=0.2, on=1.0), dict(cosine=0.4, on=3.0), dict(cosine=0.6, on=math.nan)])
    assert summary["cosine"]["mean"] == pytest.approx(0.4)
    assert (summary["cosine"]["min"], summary["cosine"]["max"]) == (0.2, 0.6)
    assert summary["on"]["mean"] == pytest.approx(2.0)  # NaN left out
    assert summary["on"]["values"][:2] == [1.0, 3.0]
    undefined = alignment.summarise([dict(on_fraction=math.nan), dict(on_fraction=math.nan)])["on_fraction"]
    assert all(math.isnan(undefined[k]) for k in ("mean", "min", "max"))  # every seed failed: NaN, not made up


def test_plot_sweep_draws_a_band_per_metric_and_the_given_regimes():
    summaries = [alignment.summarise([dict(row, cosine=0.4), dict(row, cosine=0.5)]) for row in ROWS]
    labels = alignment.regimes(STRENGTHS, [{k: s[k]["mean"] for k in ("on", "off", "accuracy")} for s in summaries])
    fig, ax = plt.subplots()
    alignment.plot_sweep(ax, STRENGTHS, summaries, "λ", labels, metrics=("cosine", "on"))
    assert len(ax.lines) == 2 and len(ax.collections) == 2  # a mean line and a min-max band each
    texts = {t.get_text() for t in ax.texts}
    assert texts == {"weak", "bayes-aligned", "excessive"}
    plt.close(fig)


def test_bad_inputs_raise_errors_naming_the_argument():
    with pytest.raises(ValueError, match="strengths and rows must be non-empty and of equal length"):
        alignment.regimes([0, 1], ROWS[:1])
    with pytest.raises(ValueError, match="start at 0"):
        alignment.regimes([1, 2], ROWS[:2])
    with pytest.raises(ValueError, match="sorted"):
        alignment.regimes([0, 2, 1], ROWS[:3])
    with pytest.raises(ValueError, match="missing \\['accuracy'\\]"):
        alignment.regimes([0], [dict(on=1, off=1)])
    with pytest.raises(ValueError, match="must not hold NaN"):
        alignment.regimes([0], [dict(on=math.nan, off=1, accuracy=1)])
    with pytest.raises(ValueError, match="on_kept and accuracy_drop"):
        alignment.regimes([0], ROWS[:1], on_kept=2)
    with pytest.raises(ValueError, match="start at 0"):
        alignment.alignment_claim([1, 2], [[0.1], [0.2]], [0.1, 0.2])
    with pytest.raises(ValueError, match="equal length"):
        alignment.alignment_claim([0, 1], [[0.1], [0.2]], [0.1])
    with pytest.raises(ValueError, match="per_seed must be a non-empty list"):
        alignment.summarise([])
