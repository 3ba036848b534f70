"""The distractor dataset (a digit beside a fixed letter) and the off-manifold measurements."""
import math

import pytest
import torch

from pagutils import data, distractor, models


@pytest.fixture(scope="module")
def digits():
    return data.load("mnist", "test", n=200, seed=3, device="cpu")


def test_letter_is_rendered_in_unit_range():
    a = distractor.render_letter("A")
    assert a.shape == (1, 28, 28) and a.min() == 0 and a.max() > 0.9
    assert 0.05 < (a > 0.5).float().mean() < 0.5
    assert torch.equal(a, distractor.render_letter("A"))
    assert not torch.equal(a, distractor.render_letter("B"))


def test_distractor_images_stack_the_digit_and_the_letter(digits):
    stacked, mask = distractor.make_distractor_data(digits, "A", seed=0)
    assert stacked.x.shape == (200, 1, 56, 28) and mask.shape == (200, 1, 56, 28)
    assert torch.equal(stacked.y, digits.y)
    letter = distractor.render_letter("A")
    top = mask[:, 0, 0, 0] == 1
    assert 0.3 < top.float().mean() < 0.7  # both placements occur
    assert torch.equal(stacked.x[top][:, :, :28], digits.x[top])
    assert torch.equal(stacked.x[top][:, :, 28:], letter.expand(int(top.sum()), 1, 28, 28))
    assert torch.equal(stacked.x[~top][:, :, 28:], digits.x[~top])
    assert torch.equal(stacked.x[~top][:, :, :28], letter.expand(int((~top).sum()), 1, 28, 28))
    assert torch.equal(mask[top][:, :, :28], torch.ones_like(digits.x[top]))
    assert mask[top][:, :, 28:].sum() == 0


def test_distractor_placement_is_seeded(digits):
    a, mask_a = distractor.make_distractor_data(digits, "A", seed=0)
    b, mask_b = distractor.make_distractor_data(digits, "A", seed=0)
    _, mask_c = distractor.make_distractor_data(digits, "A", seed=1)
    assert torch.equal(a.x, b.x) and torch.equal(mask_a, mask_b) and not torch.equal(mask_a, mask_c)


def test_bad_inputs_name_the_argument(digits):
    with pytest.raises(ValueError, match="letter"):
        distractor.make_distractor_data(digits, "AB")
    with pytest.raises(ValueError, match="data"):
        distractor.make_distractor_data(digits.x, "A")
    with pytest.raises(ValueError, match="config"):
        distractor.train_model(dict(arch="mlp"), digits)
    stacked, mask = distractor.make_distractor_data(digits, "A")
    model = distractor.make_classifier("mlp")
    with pytest.raises(ValueError, match="half"):
        distractor.noise_sensitivity(model, stacked.x, mask, 0.1, half="left")
    with pytest.raises(ValueError, match="digit_mask"):
        distractor.gradient_mass(model, stacked.x, stacked.y, mask[:, :, :28])
    with pytest.raises(ValueError, match="arch"):
        distractor.make_classifier("transformer")


class DigitHalfOnly(torch.nn.Module):
    """A linear model that reads only the digit half (given by a fixed mask): it ignores the distractor."""

    def __init__(self, mask):
        super().__init__()
        self.mask = mask
        self.linear = torch.nn.Linear(56 * 28, 10)

    def forward(self, x):
        return self.linear((x * self.mask[: len(x)]).flatten(1))


def test_measurements_on_a_model_that_ignores_the_distractor(digits):
    stacked, mask = distractor.make_distractor_data(digits, "A", seed=0)
    torch.manual_seed(0)
    model = DigitHalfOnly(mask)
    mass = distractor.gradient_mass(model, stacked.x, stacked.y, mask)
    assert mass.shape == (200,) and mass.abs().max() < 1e-6
    assert distractor.noise_sensitivity(model, stacked.x, mask, 0.5, "distractor") < 1e-6
    assert distractor.noise_sensitivity(model, stacked.x, mask, 0.5, "digit") > 1e-3
    assert distractor.noise_sensitivity(model, stacked.x, mask, 0.0, "digit") == 0


def test_trained_model_is_cached_and_learns(digits):
    stacked, _ = distractor.make_distractor_data(digits, "A", seed=0)
    config = dict(arch="mlp", objective="noise_augmentation", objective_args=dict(sigma=0.3), epochs=3, lr=0.05,
                  batch_size=32, seed=0, data=dict(dataset="mnist", n=200, seed=3, letter="A", placement_seed=0))
    model = distractor.train_model(config, stacked, device="cpu", show_progress=False)
    again = distractor.train_model(config, stacked, device="cpu", show_progress=False)
    assert model.trained_now and not again.trained_now
    for p, q in zip(model.parameters(), again.parameters()):
        assert torch.equal(p, q)
    assert model.history[-1]["loss"] < model.history[0]["loss"]
    assert isinstance(model, models.Classifier)


class SumOfHalves(torch.nn.Module):
    """A linear model of the sum of the two halves, the digit half weighted by `weight` (given a fixed mask):
    with weight 1 noise on either half changes it alike (a ratio of about 1)."""

    def __init__(self, mask, weight=1.0):
        super().__init__()
        self.mask, self.weight = mask, weight
        self.linear = torch.nn.Linear(28 * 28, 10)

    def forward(self, x):
        mask = self.mask[: len(x)]
        x = self.weight * x * mask + x * (1 - mask)
        return self.linear((x[:, :, :28] + x[:, :, 28:]).flatten(1))


SIGMAS = [0.0, 0.01, 0.1, 1.0]


def test_relative_noise_robustness_is_infinite_for_a_model_that_ignores_the_distractor(digits):
    stacked, mask = distractor.make_distractor_data(digits, "A", seed=0)
    torch.manual_seed(0)
    curve = distractor.relative_noise_robustness(DigitHalfOnly(mask), stacked.x, mask, SIGMAS, n_draws=2)
    assert curve["sigma"] == SIGMAS and len(curve["ratio"]) == len(SIGMAS)
    assert curve["digit"][0] == 0 and curve["distractor"][0] == 0 and math.isnan(curve["ratio"][0])  # σ = 0
    assert all(d == 0 for d in curve["distractor"]) and all(c > 0 for c in curve["digit"][1:])
    assert all(r == math.inf for r in curve["ratio"][1:])


def test_relative_noise_robustness_is_about_one_for_a_model_symmetric_in_both_halves(digits):
    stacked, mask = distractor.make_distractor_data(digits, "A", seed=0)
    torch.manual_seed(0)
    model = SumOfHalves(mask)
    curve = distractor.relative_noise_robustness(model, stacked.x, mask, SIGMAS, n_draws=4)
    assert math.isnan(curve["ratio"][0])
    for digit, distract, ratio in zip(curve["digit"][1:], curve["distractor"][1:], curve["ratio"][1:]):
        assert ratio == pytest.approx(digit / distract) and ratio == pytest.approx(1.0, abs=0.1)
    # the same model made to read the digit half ten times as strongly has a ratio well above 1
    stronger = SumOfHalves(mask, weight=10.0)
    stronger.linear = model.linear
    ratios = distractor.relative_noise_robustness(stronger, stacked.x, mask, SIGMAS[1:3], n_draws=2)["ratio"]
    assert all(r > 3 for r in ratios)


def test_noise_ratio_defines_the_edge_cases_and_names_bad_input():
    assert distractor.noise_ratio(0.2, 0.1) == pytest.approx(2.0)
    assert math.isnan(distractor.noise_ratio(0.0, 0.0)) and distractor.noise_ratio(0.1, 0.0) == math.inf
    with pytest.raises(ValueError, match="distractor"):
        distractor.noise_ratio(0.1, -1.0)
    with pytest.raises(ValueError, match="sigmas"):
        distractor.relative_noise_robustness(DigitHalfOnly(torch.ones(2, 1, 56, 28)), torch.zeros(2, 1, 56, 28), torch.ones(2, 1, 56, 28), [])


def test_plot_relative_robustness_leaves_out_undefined_levels():
    import matplotlib
    matplotlib.use("Agg")
    ax = distractor.plot_relative_robustness({"a": [[math.nan, 1.0, 2.0], [math.nan, 3.0, 2.0]], "b": [[math.nan, 1, 1]]},
                                             [0.0, 0.1, 1.0])
    line = ax.get_lines()[0]
    assert list(line.get_xdata()) == [0.1, 1.0] and list(line.get_ydata()) == [2.0, 2.0]  # the mean over seeds


def test_a_one_channel_resnet18_reads_the_stacked_images():
    model = distractor.make_classifier("resnet18", "mnist", (1, 56, 28)).eval()
    assert model.features.conv1.in_channels == 1 and model.features.conv1.stride == (1, 1)
    with torch.no_grad():
        assert model(torch.rand(2, 1, 56, 28)).shape == (2, 10)


def test_ratio_summary_takes_mean_min_and_max_over_seeds_and_finds_the_peak():
    summary = distractor.ratio_summary([[math.nan, 1.0, 4.0, 2.0], [math.nan, 3.0, 6.0, math.inf]],
                                       [0.0, 0.1, 1.0, 10.0])
    assert summary["sigma"] == [0.1, 1.0]  # σ = 0 and the level with an infinite ratio are left out
    assert summary["mean"] == [2.0, 5.0] and summary["low"] == [1.0, 4.0] and summary["high"] == [3.0, 6.0]
    assert (summary["peak"], summary["peak_sigma"], summary["peak_low"], summary["peak_high"]) == (5.0, 1.0, 4.0, 6.0)
    with pytest.raises(ValueError, match="one ratio per sigma"):
        distractor.ratio_summary([[1.0, 2.0]], [0.1, 1.0, 10.0])


def test_ratio_summary_leaves_an_undefined_seed_out_of_its_level_as_over_seeds_does():
    summary = distractor.ratio_summary([[2.0, math.nan, 1.0], [4.0, math.nan, math.nan]], [0.1, 1.0, 10.0])
    assert summary["sigma"] == [0.1, 10.0]  # σ = 1 has no seed with a ratio: left out
    assert summary["mean"] == [3.0, 1.0] and summary["low"] == [2.0, 1.0] and summary["high"] == [4.0, 1.0]
    with pytest.raises(ValueError, match="ratio_summary: runs must hold a finite ratio for some seed at some noise level above 0"):
        distractor.ratio_summary([[math.nan, math.inf]], [0.0, 1.0])
    with pytest.raises(ValueError, match=r"ratio_summary: every entry of the ratios of runs at sigmas\[0\]"):
        distractor.ratio_summary([["high"]], [1.0])


def test_relative_noise_robustness_uses_the_draws_of_noise_sensitivity(digits):
    stacked, mask = distractor.make_distractor_data(digits, "A", seed=0)
    torch.manual_seed(0)
    model = SumOfHalves(mask)
    curve = distractor.relative_noise_robustness(model, stacked.x, mask, [0.3], n_draws=2, seed=5)
    for half in ("digit", "distractor"):
        assert curve[half][0] == pytest.approx(distractor.noise_sensitivity(model, stacked.x, mask, 0.3, half, 2, 5))
