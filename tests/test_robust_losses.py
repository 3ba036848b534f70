"""The three robustness objectives of pagutils.core.robust_losses: each moves the quantity it targets."""
import pytest
import torch

from pagutils import models, robust_losses, train, zoo
from pagutils.core.attacks import accuracy
from pagutils.core.data import Data


def _trained(data, objective="standard", args=None, epochs=6):
    """An MLP (fast on a CPU) trained on `data` with a registered objective."""
    model = models.make_classifier("mlp", "mnist", seed=0)
    train.train(model, data, train.Recipe(epochs=epochs, objective=objective, objective_args=args, seed=0),
                show_progress=False)
    return model.eval()


@pytest.fixture(scope="module")
def small(mnist_train):
    return mnist_train[:2000]


@pytest.fixture(scope="module")
def standard(small):
    return _trained(small)


def test_objectives_are_listed_and_found_by_train():
    assert set(robust_losses.OBJECTIVES) == {"gradient_norm", "noise_consistency", "noise_augmentation"}
    for name in ("gradient_norm", "noise_consistency", "noise_augmentation", "pgd"):
        assert name in train.objectives()
    for name, factory in robust_losses.OBJECTIVES.items():
        assert train.objective_factory(name) is factory


def test_gradient_norms_are_per_example(standard, mnist_test):
    x, y = mnist_test.x[:6], mnist_test.y[:6]
    x = x.clone().requires_grad_(True)
    together = robust_losses.input_gradient_norms(standard(x), x, y, create_graph=False)
    for i in range(6):
        xi = mnist_test.x[i:i + 1].clone().requires_grad_(True)
        single = robust_losses.input_gradient_norms(standard(xi), xi, y[i:i + 1], create_graph=False)
        assert together[i].item() == pytest.approx(single.item(), rel=1e-4, abs=1e-8)


def test_gradient_norm_training_shrinks_input_gradients(small, standard, mnist_test):
    regularised = _trained(small, "gradient_norm", dict(lam=10.0))
    x, y = mnist_test.x[:200], mnist_test.y[:200]

    def mean_norm(model):
        xg = x.clone().requires_grad_(True)
        return robust_losses.input_gradient_norms(model(xg), xg, y, create_graph=False).sqrt().mean().item()

    assert mean_norm(regularised) < 0.5 * mean_norm(standard)


def test_noise_consistency_reduces_output_change_under_noise(small, standard, mnist_test):
    regularised = _trained(small, "noise_consistency", dict(lam=3.0, sigma=0.3))
    x = mnist_test.x[:200]
    noise = 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(5))

    @torch.no_grad()
    def change(model):
        return robust_losses.divergence(model(x), model(x + noise), "logits").mean().item()

    assert change(regularised) < 0.5 * change(standard)


def test_noise_augmentation_improves_accuracy_on_noisy_inputs(small, standard, mnist_test):
    augmented = _trained(small, "noise_augmentation", dict(sigma=1.0))
    test = mnist_test[:300]
    noise = 1.0 * torch.randn(test.x.shape, generator=torch.Generator().manual_seed(6))
    noisy = Data(test.x + noise, test.y, test.classes, "noisy")
    assert accuracy(augmented, noisy) > accuracy(standard, noisy) + 0.05
    assert accuracy(augmented, test) > 0.7


def test_zero_strength_is_the_standard_objective(mnist_test, standard):
    x, y = mnist_test.x[:32], mnist_test.y[:32]
    g = torch.Generator().manual_seed(0)
    plain = train.objective("standard")(standard, x, y, g)
    for name in ("gradient_norm", "noise_consistency"):
        assert train.objective(name, lam=0.0)(standard, x, y, g).item() == pytest.approx(plain.item(), rel=1e-6)
    assert train.objective("noise_augmentation", sigma=0.0)(standard, x, y, g).item() == pytest.approx(plain.item(), rel=1e-6)


def test_divergences(standard, mnist_test):
    logits = standard(mnist_test.x[:10]).detach()
    for kind in robust_losses.DIVERGENCES:
        same = robust_losses.divergence(logits, logits, kind)
        assert same.shape == (10,) and same.abs().max() < 1e-6
        assert (robust_losses.divergence(logits, logits.flip(0), kind) >= -1e-6).all()


def test_config_names_the_method_and_strength():
    assert zoo.trained_with("gradient_norm", 0, "mnist") == zoo.standard("mnist", "quick")
    cfg = zoo.trained_with("noise_consistency", 0.3, "mnist", n_train=500, objective_args=dict(sigma=0.2))
    assert cfg["objective"] == "noise_consistency" and cfg["objective_args"] == dict(lam=0.3, sigma=0.2)
    assert cfg["n_train"] == 500
    assert zoo.trained_with("pgd", 1.5, "mnist") == zoo.robust("mnist", "quick", eps=1.5)
    assert zoo.trained_with("noise_augmentation", 0.5, "mnist")["objective_args"] == dict(sigma=0.5)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="lam must be a number >= 0"):
        train.objective("gradient_norm", lam=-1.0)
    with pytest.raises(ValueError, match="sigma must be a number >= 0"):
        train.objective("noise_augmentation", sigma="big")
    with pytest.raises(ValueError, match="kind must be one of"):
        train.objective("noise_consistency", lam=1.0, kind="cosine")
    with pytest.raises(ValueError, match="method must be one of"):
        zoo.trained_with("mixup", 1.0, "mnist")
    with pytest.raises(ValueError, match="strength must be a number >= 0"):
        zoo.trained_with("pgd", -0.5, "mnist")
    with pytest.raises(ValueError, match="divergence kind must be one of"):
        robust_losses.divergence(torch.zeros(2, 3), torch.zeros(2, 3), "js")


def test_strong_penalties_are_clipped_at_the_full_learning_rate():
    base = zoo.standard("mnist", "quick")
    weak = zoo.trained_with("gradient_norm", 0.5, "mnist")
    assert weak["lr"] == base["lr"] and "clip_grad_norm" not in weak  # at or below clip_above: no entry
    for method in ("gradient_norm", "noise_consistency"):
        strong = zoo.trained_with(method, 10.0, "mnist")
        assert strong["lr"] == base["lr"]  # no learning-rate division
        assert strong["clip_grad_norm"] == robust_losses.CLIP_GRAD_NORM
        assert train.Recipe.from_config(strong).clip_grad_norm == robust_losses.CLIP_GRAD_NORM
    assert zoo.trained_with("gradient_norm", 10.0, "mnist", clip_grad_norm=2.0)["clip_grad_norm"] == 2.0
    for method in ("noise_augmentation", "pgd"):  # never clipped, as the paper never divides their rates
        assert "clip_grad_norm" not in zoo.trained_with(method, 8.0, "mnist")
    assert "clip_grad_norm" not in zoo.trained_with("pgd", 1.0, "mnist", clip_grad_norm=None)
