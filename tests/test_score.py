"""Score estimates from denoisers (pagutils.aligned_gradients.score) and the alignment measures (pagutils.aligned_gradients.alignment)."""
import pytest
import torch

from pagutils import alignment, score, synthetic


def test_learned_score_matches_the_exact_one_on_the_synthetic_manifold():
    surface = synthetic.make_generator(dim=40, seed=0)
    check = score.synthetic_check(surface, 0.1, n_test=300, show_progress=False)
    assert check["cosine"].shape == (300,)
    assert check["cosine"].mean() > 0.85
    assert check["relative_error"].median() < 0.6


def test_score_is_tweedies_formula():
    net = score.make_denoiser((5,), width=8)
    torch.nn.init.zeros_(net.net[-1].weight), torch.nn.init.zeros_(net.net[-1].bias)
    x = torch.randn(4, 5)
    assert score.tweedie_score(net, x, 0.5).abs().max() == 0           # D(x) = x: zero score
    torch.nn.init.constant_(net.net[-1].bias, 1.0)              # D(x) = x + 1: score 1 / σ²
    assert torch.allclose(score.tweedie_score(net, x, 0.5), torch.full_like(x, 4.0))


def test_image_denoiser_is_cached_and_denoises():
    kwargs = dict(n_train=1000, epochs=2, width=8)
    first = score.denoiser("mnist", "quick", sigma=0.5, show_progress=False, **kwargs)
    second = score.denoiser("mnist", "quick", sigma=0.5, show_progress=False, **kwargs)
    assert first.history and second.history == first.history
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)
    assert first.history[-1]["loss"] < 0.5 ** 2 * 784                    # better than returning the noisy input


def test_cosine_alignment_of_a_vector_with_itself_and_its_negative():
    v = torch.randn(6, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(alignment.cosine_alignment(v, v), torch.ones(6), atol=1e-6)
    assert torch.allclose(alignment.cosine_alignment(v, -v), -torch.ones(6), atol=1e-6)
    assert torch.allclose(alignment.cosine_alignment(v, 3 * v), torch.ones(6), atol=1e-6)
    orthogonal = torch.zeros(2, 3)
    assert alignment.cosine_alignment(torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]),
                                      orthogonal + torch.tensor([[0, 1.0, 0], [0, 0, 1.0]])).abs().max() < 1e-7


def test_ssim_of_identical_images_is_one_and_lower_otherwise():
    g = torch.Generator().manual_seed(1)
    a = torch.rand(3, 1, 16, 16, generator=g)
    assert torch.allclose(alignment.ssim(a, a), torch.ones(3), atol=1e-5)
    assert (alignment.ssim(a, torch.rand(3, 1, 16, 16, generator=g)) < 0.5).all()
    assert torch.allclose(alignment.ssim_alignment(a - 0.5, 2 * (a - 0.5)), torch.ones(3), atol=1e-5)
    assert (alignment.ssim_alignment(a - 0.5, 0.5 - a) < -0.5).all()


def test_bad_inputs_raise_errors_naming_the_argument():
    v = torch.zeros(2, 4)
    with pytest.raises(ValueError, match="grad and score must have the same shape"):
        alignment.cosine_alignment(v, torch.zeros(2, 5))
    with pytest.raises(ValueError, match="grad must be a float tensor"):
        alignment.cosine_alignment(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match="a and b must be image batches"):
        alignment.ssim(torch.zeros(2, 1, 8, 8, 1), torch.zeros(2, 1, 8, 8, 1))
    with pytest.raises(ValueError, match="window must be an odd int"):
        alignment.ssim(torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 8, 8), window=4)
    with pytest.raises(ValueError, match="sigma must be a number > 0"):
        score.tweedie_score(score.make_denoiser((3,), 4), torch.zeros(2, 3), 0.0)
    with pytest.raises(ValueError, match="x must be a float tensor"):
        score.tweedie_score(score.make_denoiser((3,), 4), torch.zeros(3), 0.5)
    with pytest.raises(ValueError, match="shape must be"):
        score.make_denoiser((1, 28), 8)
    with pytest.raises(ValueError, match="unknown denoiser setting"):
        score.denoiser("mnist", "quick", sigma=0.5, depth=3)
    with pytest.raises(ValueError, match="dataset must be one of"):
        score.denoiser("svhn", "quick", sigma=0.5)


def test_empirical_denoiser_gives_the_exact_score_and_posterior_gradient():
    g = torch.Generator().manual_seed(3)
    points, labels = torch.rand(30, 1, 4, 4, generator=g, dtype=torch.float64), torch.arange(30) % 3
    sigma = 0.7
    ideal = score.EmpiricalDenoiser(points, labels, sigma, num_classes=3)
    x = torch.rand(5, 1, 4, 4, generator=g, dtype=torch.float64).requires_grad_(True)
    y = torch.tensor([0, 1, 2, 0, 1])
    log_kernel = -torch.cdist(x.flatten(1), points.flatten(1)).pow(2) / (2 * sigma ** 2)   # log p_σ(x | x_i) + const
    log_p = log_kernel.logsumexp(1)
    log_p_given_y = log_kernel.masked_fill(labels[None, :] != y[:, None], float("-inf")).logsumexp(1)
    (exact_score,) = torch.autograd.grad(log_p.sum(), x, retain_graph=True)
    (exact_posterior,) = torch.autograd.grad((log_p_given_y - log_p).sum(), x)
    x = x.detach()
    assert torch.allclose(score.tweedie_score(ideal, x, sigma), exact_score, atol=1e-10)
    assert torch.allclose(score.posterior_gradient(ideal, x, y, sigma), exact_posterior, atol=1e-10)


def test_empirical_denoiser_returns_the_nearest_point_at_small_noise_and_the_mean_at_large():
    points = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    x = torch.tensor([[0.9, 0.1]])
    assert torch.allclose(score.EmpiricalDenoiser(points, labels, 0.05, 2)(x), points[1:2], atol=1e-6)
    assert torch.allclose(score.EmpiricalDenoiser(points, labels, 100.0, 2)(x), points.mean(0, keepdim=True), atol=1e-3)
    assert torch.allclose(score.EmpiricalDenoiser(points, labels, 0.05, 2)(x, torch.tensor([0])), points[:1], atol=1e-6)


def test_class_scores_check_their_labels():
    ideal = score.EmpiricalDenoiser(torch.rand(6, 1, 4, 4), torch.arange(6) % 3, 0.5, num_classes=3)
    x = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 3\)"):
        score.class_score(ideal, x, torch.tensor([0, 3]), 0.5)
    with pytest.raises(ValueError, match="y must be an int64 tensor of 2 labels"):
        score.class_score(ideal, x, torch.tensor([0.0, 1.0]), 0.5)
    with pytest.raises(ValueError, match=r"posterior_gradient: denoiser must be a class-conditional denoiser D\(x, y\)"):
        score.posterior_gradient(score.make_denoiser((1, 8, 8), 4), x, torch.tensor([0, 1]), 0.5)
