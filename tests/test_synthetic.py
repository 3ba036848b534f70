"""The synthetic manifold: exact tangent spaces, Bayes-optimal posterior and gradient, exact score."""
import pytest
import torch

from pagutils import gradients, manifold, synthetic, train


@pytest.fixture(scope="module")
def world():
    return synthetic.make_generator(dim=40, noise=0.05, seed=0)


def test_samples_are_seeded_in_range_and_near_the_manifold(world):
    data, z = world.sample(300, seed=2)
    again, z_again = world.sample(300, seed=2)
    assert data.x.shape == (300, 1, 1, 40) and z.shape == (300, 2)
    assert torch.equal(data.x, again.x) and torch.equal(z, z_again)
    assert 0 <= data.x.min() and data.x.max() <= 1
    assert set(data.y.tolist()) == {0, 1}
    clean, _ = world.sample(300, seed=2, noise=False)
    torch.testing.assert_close(clean.x.flatten(1), world.generate(z))
    noise_norm = (data.x - clean.x).flatten(1).norm(dim=1).mean().item()
    assert abs(noise_norm - 0.05 * 40 ** 0.5) < 0.03


def test_exact_tangent_space_matches_finite_differences(world):
    z = torch.randn(8, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    jacobian = world.jacobian(z.float())
    for i in range(2):
        step = torch.zeros(2, dtype=torch.float64)
        step[i] = 1e-3
        as_double = synthetic.SyntheticManifold(**{k: (v.double() if torch.is_tensor(v) else v)
                                                   for k, v in vars(world).items()})
        finite = (as_double.generate(z + step) - as_double.generate(z - step)) / 2e-3
        torch.testing.assert_close(jacobian[:, :, i], finite.float(), atol=1e-4, rtol=1e-3)
    basis = world.tangent_basis(z.float())
    torch.testing.assert_close(basis.transpose(1, 2) @ basis, torch.eye(2).expand(8, 2, 2), atol=1e-5, rtol=0)
    assert manifold.on_manifold_fraction(jacobian[:, :, 0].contiguous(), basis).min() > 1 - 1e-5


def test_quadrature_weights_integrate_each_class_density_to_one(world):
    _, _, log_weights = world.latent_grid(world.noise)
    torch.testing.assert_close(log_weights.exp().sum(1), torch.ones(2), atol=1e-4, rtol=0)


def test_bayes_posterior_is_a_distribution_and_classifies_well(world):
    data, _ = world.sample(400, seed=3)
    posterior = world.bayes_posterior(data.x)
    torch.testing.assert_close(posterior.sum(1), torch.ones(400))
    assert (posterior.argmax(1) == data.y).float().mean() > 0.93


def test_bayes_gradient_is_the_gradient_of_the_log_posterior(world):
    data, _ = world.sample(6, seed=4)
    x = data.x.clone().requires_grad_(True)
    log_lik, _ = world.class_log_likelihoods(x)
    log_posterior = torch.log_softmax(log_lik, 1).gather(1, data.y[:, None]).sum()
    (autograd,) = torch.autograd.grad(log_posterior, x)
    torch.testing.assert_close(world.bayes_gradient(data.x, data.y), autograd.float(), atol=1e-5, rtol=1e-4)


def test_bayes_gradient_lies_on_the_manifold(world):
    """The paper's claim, checked: at points of the manifold, ≥ 99% of the Bayes-optimal gradient's squared
    norm lies in the tangent space on average (a random direction would have 2 / 40 = 5%)."""
    clean, z = world.sample(200, seed=5, noise=False)
    fraction = manifold.on_manifold_fraction(world.bayes_gradient(clean.x, clean.y), world.tangent_basis(z))
    assert fraction.nanmean() > 0.99 and torch.nanquantile(fraction, 0.1) > 0.97


def test_exact_score_is_the_gradient_of_the_log_density(world):
    data, _ = world.sample(5, seed=6)
    x = data.x.clone().requires_grad_(True)
    log_lik, _ = world.class_log_likelihoods(x, 0.1)
    (autograd,) = torch.autograd.grad(torch.logsumexp(log_lik, 1).sum(), x)
    torch.testing.assert_close(world.exact_score(data.x, 0.1), autograd.float(), atol=1e-4, rtol=1e-4)
    # a point pushed off the manifold is pulled back: the score points against the push
    clean, z = world.sample(50, seed=7, noise=False)
    push = manifold.projected_noise(clean.x, world.tangent_basis(z), 0.3, "off", torch.Generator().manual_seed(0))
    score = world.exact_score(clean.x + push, 0.1)
    assert ((score * push).flatten(1).sum(1) < 0).all()


def test_trained_classifier_is_cached_and_has_the_classifier_interface(world):
    model = synthetic.classifier(world, train.Recipe(epochs=2), n_train=500, show_progress=False)
    again = synthetic.classifier(world, train.Recipe(2, "standard"), n_train=500, show_progress=False)
    assert model.trained_now and not again.trained_now
    # the cache key is what it was before a Recipe was passed; recipe settings off their defaults enter it
    assert model.config == dict(kind="synthetic_classifier", data=world.config, n_train=500, objective="standard",
                                objective_args={}, epochs=2, width=128, lr=0.05, seed=0)
    other = synthetic.classifier(world, train.Recipe(epochs=2, momentum=0.5), n_train=500, show_progress=False)
    assert other.trained_now and other.config == dict(model.config, momentum=0.5)
    data, _ = world.sample(20, seed=8)
    assert model(data.x).shape == (20, 2) and model.representation(data.x).shape == (20, 128)
    assert gradients.input_gradient(model, data.x, data.y).shape == data.x.shape


def test_bad_inputs_raise_errors_naming_the_argument(world):
    with pytest.raises(ValueError, match="dim must be"):
        synthetic.make_generator(dim=2)
    with pytest.raises(ValueError, match="noise must be"):
        synthetic.make_generator(noise=0)
    with pytest.raises(ValueError, match="n must be"):
        world.sample(0)
    with pytest.raises(ValueError, match=r"z must be a float tensor of latent points \(N, 2\)"):
        world.generate(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="x must be a float batch"):
        world.bayes_posterior(torch.zeros(3, 7))
    with pytest.raises(ValueError, match="sigma must be a positive number"):
        world.exact_score(torch.zeros(3, 40), 0.0)
    with pytest.raises(ValueError, match="y must be a tensor of 3 labels"):
        world.bayes_gradient(torch.zeros(3, 40), torch.zeros(2, dtype=torch.int64))
