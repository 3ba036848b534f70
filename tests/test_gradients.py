"""Input gradients, SmoothGrad and image generation by gradient ascent."""
import pytest
import torch

from pagutils import alignment, generation, gradients, models, plots, train


@pytest.fixture(scope="module")
def robust_cnn(mnist_train):
    """A small CNN briefly adversarially trained (L2 PGD, eps 1.5) on 1,500 MNIST images."""
    model = models.make_classifier("small_cnn", "mnist", seed=0)
    train.train(model, mnist_train.subset(1500, seed=0), train.Recipe(
        epochs=2, objective="pgd", objective_args=dict(eps=1.5, norm="l2", steps=3), seed=0), show_progress=False)
    return model.eval()


def test_smoothgrad_with_tiny_sigma_is_the_plain_gradient(trained_cnn, mnist_test):
    # MNIST's exact zeros make max-pooling ties, where the gradient jumps; a fixed jitter breaks them
    jitter = 0.02 * torch.rand(mnist_test.x[:6].shape, generator=torch.Generator().manual_seed(0))
    x, y = mnist_test.x[:6] + jitter, mnist_test.y[:6]
    plain = gradients.input_gradient(trained_cnn, x, y)

    def relative_error(sigma):
        smooth = gradients.smoothgrad(trained_cnn, x, y, sigma=sigma, n_samples=3, seed=0)
        assert smooth.shape == x.shape
        return ((smooth - plain).flatten(1).norm(dim=1) / plain.flatten(1).norm(dim=1)).max().item()

    errors = [relative_error(sigma) for sigma in (0.3, 1e-2, 1e-5)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.02 and errors[0] > 0.1


def test_smoothgrad_is_seeded_and_changes_with_sigma(trained_cnn, mnist_test):
    x, y = mnist_test.x[:4], mnist_test.y[:4]
    a = gradients.smoothgrad(trained_cnn, x, y, sigma=0.3, n_samples=4, seed=1)
    b = gradients.smoothgrad(trained_cnn, x, y, sigma=0.3, n_samples=4, seed=1)
    assert torch.equal(a, b)
    plain = gradients.input_gradient(trained_cnn, x, y)
    assert alignment.cosine_alignment(a, plain).mean() < 0.99


def test_smoothgrad_is_exactly_the_gradient_of_the_smoothed_log_probability(trained_cnn, mnist_test):
    """At any σ (here a large one), the mean of the noisy gradients is the gradient of the mean of the noisy
    log-probabilities over the same draws: no first-order approximation."""
    x, y = mnist_test.x[:4], mnist_test.y[:4]
    sigma, n_samples = 0.5, 3
    generator = torch.Generator().manual_seed(0)
    draws = [torch.randn(x.shape, generator=generator) for _ in range(n_samples)]
    z = x.clone().requires_grad_(True)
    smoothed = sum(torch.log_softmax(trained_cnn(z + sigma * d), 1).gather(1, y[:, None]).sum() for d in draws)
    (expected,) = torch.autograd.grad(smoothed / n_samples, z)
    torch.testing.assert_close(gradients.smoothgrad(trained_cnn, x, y, sigma, n_samples, seed=0), expected)


@pytest.mark.parametrize("kwargs, name", [(dict(sigma=-0.1), "sigma"), (dict(n_samples=0), "n_samples"),
                                          (dict(sigma="big"), "sigma")])
def test_smoothgrad_rejects_bad_arguments(trained_cnn, mnist_test, kwargs, name):
    args = dict(sigma=0.1, n_samples=2, seed=0) | kwargs
    with pytest.raises(ValueError, match=name):
        gradients.smoothgrad(trained_cnn, mnist_test.x[:2], mnist_test.y[:2], **args)


def test_magnified_maps_to_unit_range_with_grey_zero():
    grad = torch.zeros(2, 1, 8, 8)
    grad[0, 0, 0, 0], grad[1, 0, 1, 1] = 5.0, -3.0
    shown = plots.magnified(grad)
    assert shown.min() >= 0 and shown.max() <= 1
    assert shown[0, 0, 0, 0] == 1.0 and shown[1, 0, 1, 1] == 0.0 and shown[0, 0, 5, 5] == 0.5
    assert plots.magnified(grad, signed=False)[1, 0, 1, 1] == 1.0
    grad[0, 0, 1:4, 1:4] = 1.0  # at the 90th percentile of its magnitudes the peak 5 is clipped to white
    assert plots.magnified(grad, percentile=90)[0, 0, 2, 2] == 1.0 and plots.magnified(grad)[0, 0, 2, 2] == 0.6
    with pytest.raises(ValueError, match="v must be a tensor with 4 dimensions"):
        plots.magnified(torch.zeros(8, 8))
    with pytest.raises(ValueError, match="percentile"):
        plots.magnified(grad, percentile=0)


def test_generation_raises_the_target_probability_of_a_robust_model(robust_cnn, mnist_test):
    x = mnist_test.x[:8]
    target = (mnist_test.y[:8] + 3) % 10
    before = generation.class_log_prob(robust_cnn, x, target)
    after_x = generation.generate(robust_cnn, x, target, generation.Ascent(15, 0.3), show_progress=False)
    after = generation.class_log_prob(robust_cnn, after_x, target)
    assert (after > before).all()
    assert after.exp().mean() > before.exp().mean() + 0.2
    assert after_x.min() >= 0 and after_x.max() <= 1


def test_generation_stays_in_the_eps_ball(robust_cnn, mnist_test):
    x = mnist_test.x[:5]
    out = generation.generate(robust_cnn, x, 2, generation.Ascent(10, 0.5, eps=1.0), show_progress=False)
    assert (out - x).flatten(1).norm(dim=1).max() <= 1.0 + 1e-4


def test_inpainting_changes_only_the_masked_pixels(robust_cnn, mnist_test):
    x, y = mnist_test.x[:6], mnist_test.y[:6]
    masks = generation.box_masks(x, 10, seed=0)
    assert masks.shape == (6, 1, 28, 28) and (masks.flatten(1).sum(1) == 100).all()
    damaged = x * (1 - masks)
    out = generation.generate(robust_cnn, damaged, y, generation.Ascent(10, 0.5), mask=masks, show_progress=False)
    keep = masks.expand_as(x) == 0
    assert torch.equal(out[keep], damaged[keep])
    assert (out - damaged).abs().flatten(1).sum(1).min() > 0


def test_class_gaussian_seeds_follow_their_class(mnist_train):
    targets = torch.tensor([0, 1, 1, 7])
    seeds = generation.class_gaussian_seeds(mnist_train, targets, seed=0)
    again = generation.class_gaussian_seeds(mnist_train, targets, seed=0)
    assert seeds.shape == (4, 1, 28, 28) and torch.equal(seeds, again)
    assert seeds.min() >= 0 and seeds.max() <= 1
    mean_1 = mnist_train.x[mnist_train.y == 1].mean(0)
    mean_0 = mnist_train.x[mnist_train.y == 0].mean(0)
    assert (seeds[1] - mean_1).norm() < (seeds[1] - mean_0).norm()


def test_psnr_and_noise():
    x = torch.full((3, 1, 64, 64), 0.5)
    noisy = generation.add_noise(x, 0.1, seed=0)
    assert torch.equal(noisy, generation.add_noise(x, 0.1, seed=0))
    assert generation.psnr(noisy, x).sub(20).abs().max() < 0.3  # MSE ≈ 0.01 -> 20 dB
    assert generation.masked_mse(x, x).eq(0).all()


@pytest.mark.parametrize("kwargs, name", [(dict(steps=-1), "steps"), (dict(step_size=0), "step_size"),
                                          (dict(eps=-1.0), "eps"), (dict(seed=-1), "seed")])
def test_an_ascent_rejects_bad_settings(kwargs, name):
    with pytest.raises(ValueError, match=f"Ascent: {name}"):
        generation.Ascent(**(dict(steps=2, step_size=0.1) | kwargs))


@pytest.mark.parametrize("kwargs, name", [(dict(target=torch.tensor([1, 2, 3])), "target"),
                                          (dict(x_start=torch.full((2, 1, 28, 28), 2.0)), "x_start"),
                                          (dict(mask=torch.ones(28, 28)), "mask"), (dict(ascent=(2, 0.1)), "ascent")])
def test_generate_rejects_bad_arguments(trained_cnn, mnist_test, kwargs, name):
    args = dict(x_start=mnist_test.x[:2], target=1, ascent=generation.Ascent(2, 0.1), show_progress=False) | kwargs
    with pytest.raises(ValueError, match=name):
        generation.generate(trained_cnn, **args)


def test_helpers_reject_bad_arguments(mnist_train):
    with pytest.raises(ValueError, match="targets"):
        generation.class_gaussian_seeds(mnist_train, torch.tensor([10]))
    with pytest.raises(ValueError, match="size"):
        generation.box_masks(torch.zeros(1, 1, 28, 28), 30)
    with pytest.raises(ValueError, match="sigma"):
        generation.add_noise(torch.zeros(1, 1, 4, 4), -1)


def test_noisy_generation_is_seeded(trained_cnn, mnist_test):
    x = mnist_test.x[:3]
    ascent = generation.Ascent(3, 0.2, noise=0.05, seed=2)
    a = generation.generate(trained_cnn, x, 4, ascent, show_progress=False)
    b = generation.generate(trained_cnn, x, 4, ascent, show_progress=False)
    c = generation.generate(trained_cnn, x, 4, generation.Ascent(3, 0.2, noise=0.05, seed=3), show_progress=False)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert generation.success_rate(trained_cnn, x, mnist_test.y[:3]) == 1.0
