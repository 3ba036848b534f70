"""Chapter 5's pieces: targets that are never the source, Pearson's r with a bootstrap interval and a permutation test
(kept beside the chapter's rank test, tests/test_ch05_rank_test.py), its architectures."""
import math
import numpy as np
import pytest
import torch

from pagutils import transfer, zoo

ARCHS = ["mlp", "small_cnn", "wide_cnn", "small_resnet", "small_vgg"]


def test_no_target_config_is_the_source_config():
    source = zoo.standard("mnist", "quick")
    targets = transfer.target_configs(source, ARCHS)
    assert list(targets) == ARCHS
    for arch, config in targets.items():
        assert config != source
        assert config["arch"] == arch and config["seed"] == source["seed"] + 1
        # the same data, recipe and objective as the source: only the architecture and the seed differ
        assert {k: v for k, v in config.items() if k not in ("arch", "seed")} == \
               {k: v for k, v in source.items() if k not in ("arch", "seed")}
    assert targets["small_cnn"]["arch"] == source["arch"]  # the source's architecture is among the targets
    assert transfer.target_configs(source, ["small_cnn"], seed=7)["small_cnn"]["seed"] == 7
    # another recipe (Chapter 5: the recipe of the models trained on D_rand): still never the source's seed
    recipe = zoo.standard("mnist", "quick", epochs=5, augment=False, n_train=4000)
    for arch, config in transfer.target_configs(source, ARCHS, recipe=recipe).items():
        assert config == {**recipe, "arch": arch, "seed": source["seed"] + 1} and config != source


def test_target_configs_refuses_the_source_seed_and_bad_archs():
    source = zoo.standard("mnist", "quick", seed=3)
    with pytest.raises(ValueError, match="seed must differ from the source model's seed 3"):
        transfer.target_configs(source, ["small_cnn"], seed=3)
    with pytest.raises(ValueError, match="archs must be one of"):
        transfer.target_configs(source, ["small_cnn", "lenet"])
    with pytest.raises(ValueError, match="must not repeat"):
        transfer.target_configs(source, ["mlp", "mlp"])
    with pytest.raises(TypeError, match="archs must be a non-empty list"):
        transfer.target_configs(source, "mlp")
    with pytest.raises(ValueError, match="source_config"):
        transfer.target_configs({"arch": "mlp"}, ["mlp"])


def test_the_target_of_the_source_architecture_is_another_model():
    """A tiny run of the zoo: the source's own architecture's target is trained anew, with other weights."""
    source_config = zoo.standard("mnist", "quick", n_train=200, epochs=1)
    source = zoo.get(source_config, show_progress=False)
    targets = {arch: zoo.get(config, show_progress=False)
               for arch, config in transfer.target_configs(source_config, ["small_cnn", "mlp"]).items()}
    same = targets["small_cnn"]
    assert same.trained_now  # not the source's cache entry
    assert same.config != source.config
    assert all(not torch.equal(p, q) for p, q in zip(same.parameters(), source.parameters()))
    again = zoo.get(source_config, show_progress=False)
    assert not again.trained_now  # the source itself is found in the cache: the target was a new entry


def test_pearson_matches_numpy_and_is_nan_for_a_constant():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=7), rng.normal(size=7)
    assert transfer.pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert transfer.pearson([1, 2, 3], [2, 4, 6.5]) > 0.99
    assert np.isnan(transfer.pearson([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="same length, at least 3"):
        transfer.pearson([1, 2], [1, 2])
    with pytest.raises(ValueError, match="same length"):
        transfer.pearson([1, 2, 3], [1, 2, 3, 4])


@pytest.mark.parametrize("arch,dataset,shape", [
    ("small_vgg", "mnist", (1, 28, 28)), ("small_vgg", "cifar10", (3, 32, 32)), ("vgg16", "cifar10", (3, 32, 32)),
    ("googlenet", "cifar10", (3, 32, 32))])
def test_chapter_5_architectures_give_logits_and_a_representation(arch, dataset, shape):
    from pagutils import models
    model = models.make_classifier(arch, dataset).eval()
    x = torch.rand(2, *shape)
    with torch.no_grad():
        logits, features_ = model(x), model.representation(x)
    assert logits.shape == (2, 10) and features_.dim() == 2
    torch.testing.assert_close(model.head(features_), logits)
    if arch == "googlenet":  # the CIFAR stem: 3x3 stride 1, no pooling before the inception blocks
        assert model.features.conv1.conv.stride == (1, 1)
        assert isinstance(model.features.maxpool1, torch.nn.Identity)
