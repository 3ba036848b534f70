import pytest
import torch

from pagutils import models


@pytest.mark.parametrize("arch", ["mlp", "small_cnn", "wide_cnn", "small_resnet"])
@pytest.mark.parametrize("dataset,shape", [("mnist", (1, 28, 28)), ("cifar10", (3, 32, 32))])
def test_small_models_give_logits_and_a_representation(arch, dataset, shape):
    model = models.make_classifier(arch, dataset).eval()
    x = torch.rand(5, *shape)
    logits, features = model(x), model.representation(x)
    assert logits.shape == (5, 10)
    assert features.dim() == 2 and features.shape[0] == 5
    torch.testing.assert_close(model.head(features), logits)


@pytest.mark.parametrize("arch", ["resnet18", "vgg11", "densenet121"])
def test_cifar_models_keep_spatial_resolution_for_32x32(arch):
    model = models.make_classifier(arch, "cifar10").eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_resnet18_has_the_cifar_stem():
    model = models.make_classifier("resnet18", "cifar10")
    assert model.features.conv1.kernel_size == (3, 3) and model.features.conv1.stride == (1, 1)
    assert isinstance(model.features.maxpool, torch.nn.Identity)
    assert 11_000_000 < models.count_parameters(model) < 11_300_000


def test_normalisation_is_inside_the_model():
    model = models.make_classifier("small_cnn", "mnist")
    assert torch.allclose(model.mean.flatten(), torch.tensor([0.1307])) and model.std.item() == pytest.approx(0.3081)


def test_same_seed_same_initial_weights():
    a, b = models.make_classifier("small_cnn", "mnist", seed=2), models.make_classifier("small_cnn", "mnist", seed=2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="arch must be one of"):
        models.make_classifier("transformer", "mnist")
