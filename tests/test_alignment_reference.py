"""The noise level of Chapter 10's alignment reference, chosen by the ideal denoiser's effective number of
neighbours, and the paper's own alignment measure."""
import pytest
import torch

from pagutils import alignment, models, score


def _denoiser(points, sigma=1.0):
    return score.EmpiricalDenoiser(points, torch.zeros(len(points), dtype=torch.long), sigma, 1)


def test_effective_neighbours_by_hand():
    # two training points at squared distances 0 and 2 from x: weights softmax(0, -1/σ²) at sigma σ
    points = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    x = torch.zeros(1, 2)
    for sigma in (0.5, 1.0, 3.0):
        w = torch.softmax(torch.tensor([0.0, -2 / (2 * sigma ** 2)]), 0)
        expected = 1 / w.pow(2).sum()
        assert score.effective_neighbours(_denoiser(points, sigma), x)[0] == pytest.approx(expected.item(), rel=1e-5)
    many = score.effective_neighbours(_denoiser(points), x, sigmas=[0.01, 1e3])
    assert many.shape == (2, 1)
    assert many[0, 0] == pytest.approx(1.0) and many[1, 0] == pytest.approx(2.0, rel=1e-4)  # one point, all


def test_reference_sigma_is_the_smallest_that_reaches_the_threshold():
    g = torch.Generator().manual_seed(0)
    points = torch.randn(500, 10, generator=g)
    x = torch.randn(20, 10, generator=g)
    ideal = _denoiser(points)
    sigmas = [4.0, 0.3, 1.0, 2.0]
    chosen = score.reference_sigma(ideal, x, sigmas, neighbours=50)
    assert chosen["sigmas"] == [0.3, 1.0, 2.0, 4.0]
    medians = chosen["median"]
    assert medians == sorted(medians)  # more noise, more neighbours
    first = next(s for s, m in zip(chosen["sigmas"], medians) if m >= 50)
    assert chosen["sigma"] == first and chosen["reached"]
    out_of_reach = score.reference_sigma(ideal, x, sigmas, neighbours=10_000)  # more than the 500 points
    assert out_of_reach["sigma"] == 4.0 and not out_of_reach["reached"]
    with pytest.raises(ValueError, match="neighbours must be a number >= 1"):
        score.reference_sigma(ideal, x, sigmas, neighbours=0)
    with pytest.raises(ValueError, match="denoiser must be an EmpiricalDenoiser"):
        score.effective_neighbours(score.make_denoiser((10,), 4), x)


def test_logit_sum_gradient_of_a_linear_model_is_the_sum_of_its_rows():
    model = models.make_classifier("mlp", "mnist", seed=0)
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    x = torch.rand(3, 1, 28, 28)
    expected = linear[1].weight.sum(0).view(1, 1, 28, 28).expand_as(x)
    torch.testing.assert_close(alignment.logit_sum_gradient(linear, x), expected)
    assert alignment.logit_sum_gradient(model, x).shape == x.shape
