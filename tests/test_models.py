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


CHAPTER_5_VARIANTS = ["linear", "narrow_mlp", "deep_mlp", "narrow_cnn", "deep_cnn", "narrow_vgg", "vgg_bn",
                      "narrow_resnet"]


@pytest.mark.parametrize("arch", CHAPTER_5_VARIANTS)
@pytest.mark.parametrize("dataset,shape", [("mnist", (1, 28, 28)), ("cifar10", (3, 32, 32))])
def test_chapter_5_variants_give_logits_and_a_representation(arch, dataset, shape):
    model = models.make_classifier(arch, dataset).eval()
    x = torch.rand(3, *shape)
    with torch.no_grad():
        logits, features = model(x), model.representation(x)
    assert logits.shape == (3, 10) and features.dim() == 2 and features.shape[0] == 3
    torch.testing.assert_close(model.head(features), logits)
    assert arch in models.SMALL_ARCHITECTURES


def test_chapter_5_variants_differ_from_their_bases_in_width_or_depth():
    count = lambda arch: models.count_parameters(models.make_classifier(arch, "mnist"))  # noqa: E731
    assert count("narrow_mlp") < count("mlp") < count("deep_mlp")
    assert count("narrow_cnn") < count("small_cnn") and count("narrow_vgg") < count("vgg_bn")
    assert count("narrow_resnet") < count("small_resnet")
    assert count("linear") == 28 * 28 * 10 + 10
    bn = [m for m in models.make_classifier("vgg_bn", "mnist").modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bn) == 4
    with pytest.raises(ValueError, match="fake_relu: model must be"):  # no ReLU ends linear's representation
        with models.fake_relu(models.make_classifier("linear", "mnist"), torch.rand(1, 1, 28, 28)):
            pass


@pytest.mark.parametrize("arch,parameters,weight", [
    ("mlp", 269322, 5725.15174), ("small_cnn", 421642, 4237.679761), ("wide_cnn", 1682954, 11863.147107),
    ("small_resnet", 77754, 2607.952456), ("small_vgg", 218490, 3181.366196)])
def test_the_quick_architectures_keep_their_weights(arch, parameters, weight):
    """Adding Chapter 5's variants changed no existing architecture: the same parameters and the same seed-0
    initial weights (sum of absolute values), so every cached model of them stays valid."""
    model = models.make_classifier(arch, "mnist", seed=0)
    assert models.count_parameters(model) == parameters
    assert sum(p.double().abs().sum().item() for p in model.parameters()) == pytest.approx(weight, abs=1e-4)
