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


def test_class_conditional_alignment_equals_a_hand_computation_on_a_small_mixture():
    """One training point per class: the class score at sigma is (p_y - x) / sigma^2, and a linear model's label
    logit has gradient W_y, so the paper's measure is cos(W_y, p_y - x), averaged over the examples."""
    from pagutils import data as pdata, score
    torch.manual_seed(0)
    points = torch.rand(3, 1, 2, 2)
    labels = torch.tensor([0, 1, 2])
    ideal = score.EmpiricalDenoiser(points, labels, sigma=0.5, num_classes=3)
    x, y = torch.rand(5, 1, 2, 2), torch.tensor([0, 1, 2, 1, 0])
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    references = {s: score.class_score(ideal, x, y, s) for s in (0.5, 1.0)}
    got = alignment.class_conditional_alignment(model, pdata.Data(x, y), references)
    w = model[1].weight.detach()
    hand = torch.nn.functional.cosine_similarity(w[y], (points[y] - x).flatten(1), dim=1).mean().item()
    assert set(got) == {0.5, 1.0}
    # with one point per class, D(x, y) = p_y at every sigma: the same cosine at both levels
    assert got[0.5] == pytest.approx(hand, abs=1e-5) and got[1.0] == pytest.approx(hand, abs=1e-5)
    with pytest.raises(TypeError, match="references must be a non-empty dict"):
        alignment.class_conditional_alignment(model, pdata.Data(x, y), {})
