import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from pagutils import attacks, models, robust_losses, train

PACKAGE = Path(__file__).resolve().parent.parent / "pagutils"


def test_adversarial_training_raises_robust_accuracy(mnist_train, mnist_test, trained_cnn):
    robust = models.make_classifier("small_cnn", "mnist", seed=0)
    history = train.train(robust, mnist_train, train.Recipe(
        epochs=4, objective="pgd", objective_args=dict(eps=2.0, norm="l2", steps=5), seed=0), show_progress=False)
    assert len(history) == 4 and history[-1]["loss"] < history[0]["loss"]
    test = mnist_test[:200]
    attack = attacks.Attack("l2", 2.0, steps=10)
    standard_robust = attacks.robust_accuracy(trained_cnn, test, attack)
    adversarial_robust = attacks.robust_accuracy(robust, test, attack)
    assert adversarial_robust > standard_robust + 0.15
    assert attacks.accuracy(robust, test) > 0.8


def test_history_records_clean_and_robust_accuracy(mnist_train, mnist_test):
    model = models.make_classifier("mlp", "mnist", seed=0)
    history = train.train(model, mnist_train[:1000], train.Recipe(epochs=2), eval_data=mnist_test[:100],
                          eval_attack=attacks.Attack("l2", 1.0), show_progress=False)
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(0 <= h["test_accuracy"] <= 1 and 0 <= h["robust_accuracy"] <= h["test_accuracy"] + 0.05
               for h in history)


def test_training_is_reproducible_with_a_seed(mnist_train):
    weights = []
    for _ in range(2):
        model = models.make_classifier("small_cnn", "mnist", seed=3)
        train.train(model, mnist_train[:500], train.Recipe(epochs=1, seed=3), show_progress=False)
        weights.append(model.head.weight.detach().clone())
    assert (weights[0] - weights[1]).abs().max() == 0


@pytest.mark.parametrize("schedule,fraction,expected", [
    ("cosine", 0.0, 0.1), ("cosine", 0.5, 0.05), ("cosine", 1.0, 0.0),
    ("step", 0.49, 0.1), ("step", 0.5, 0.01), ("step", 0.8, 0.001), ("constant", 0.9, 0.1),
])
def test_learning_rate_schedules(schedule, fraction, expected):
    assert train.learning_rate(0.1, schedule, fraction) == pytest.approx(expected, abs=1e-12)


def test_bad_training_arguments_are_named(mnist_train):
    model = models.make_classifier("mlp", "mnist")
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        train.train(model, mnist_train, train.Recipe(epochs=0))
    with pytest.raises(ValueError, match="objective must be one of"):
        train.train(model, mnist_train, train.Recipe(epochs=1, objective="magic"))
    with pytest.raises(ValueError, match="schedule must be"):
        train.learning_rate(0.1, "linear", 0.5)


def test_the_registry_finds_every_objective_by_name():
    found = train.objectives()
    assert {"standard", "pgd", "gradient_norm", "noise_consistency", "noise_augmentation"} <= set(found)
    assert found["gradient_norm"] is robust_losses.gradient_norm_objective
    assert train.objective_factory("pgd") is train.adversarial_objective
    with pytest.raises(ValueError, match=r"objective must be one of \[.*'gradient_norm'.*\], got 'mixup'"):
        train.objective_factory("mixup")
    with pytest.raises(TypeError, match=r"objective_args must be arguments of objective 'gradient_norm', which takes \(lam\)"):
        train.Recipe(epochs=1, objective="gradient_norm", objective_args=dict(eps=1.0))


def test_the_registry_needs_no_import_side_effect():
    """In a fresh interpreter that imports pagutils.core.train without running pagutils/__init__.py (which imports
    every module), train finds Chapter 10's objectives: it imports robust_losses itself, explicitly."""
    script = textwrap.dedent(f"""
        import sys, types
        package = types.ModuleType("pagutils")
        package.__path__ = [{str(PACKAGE)!r}]
        sys.modules["pagutils"] = package  # the package without its __init__.py
        import pagutils.core.train
        assert "pagutils.core.zoo" not in sys.modules, "robust_losses must not pull in the zoo"
        factory = pagutils.core.train.objective_factory("gradient_norm")
        assert factory is sys.modules["pagutils.core.robust_losses"].gradient_norm_objective
        pagutils.core.train.Recipe(epochs=1, objective="noise_augmentation", objective_args=dict(sigma=0.1))
        print("found", factory.__name__)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["found", "gradient_norm_objective"]
    plain = subprocess.run([sys.executable, "-c", "import pagutils.core.train; "
                            "print(pagutils.core.train.objective_factory('gradient_norm').__name__)"],
                           capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0 and plain.stdout.split() == ["gradient_norm_objective"], plain.stderr


def _one_step_change(data, clip):
    """The L2 norm of the parameter change of one plain gradient step (lr 1, no momentum or weight decay, the
    whole set as one batch): the norm of the step's (clipped) gradient."""
    model = models.make_classifier("mlp", "mnist", seed=0)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    recipe = train.Recipe(epochs=1, lr=1.0, batch_size=len(data), momentum=0.0, weight_decay=0.0,
                          schedule="constant", clip_grad_norm=clip)
    history = train.train(model, data, recipe, show_progress=False)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    return (after - before).norm().item(), history


def test_clipping_bounds_the_gradient_norm_of_every_step(mnist_train):
    data = mnist_train[:256]
    free, history = _one_step_change(data, None)
    assert "clipped" not in history[0]
    threshold = free / 10  # well below the step's own gradient norm: the clip binds
    clipped, history = _one_step_change(data, threshold)
    assert clipped <= threshold * (1 + 1e-4) and clipped == pytest.approx(threshold, rel=1e-3)
    assert history[0]["clipped"] == 1.0
    loose, history = _one_step_change(data, free * 10)  # above the gradient norm: no change to the step
    assert loose == pytest.approx(free, rel=1e-5) and history[0]["clipped"] == 0.0
    with pytest.raises(ValueError, match="clip_grad_norm must be"):
        train.Recipe(epochs=1, clip_grad_norm=0.0)


def test_an_unset_clip_leaves_configurations_and_cache_keys_unchanged():
    from pagutils import cache, zoo
    recipe = train.Recipe(epochs=3)
    # the entries every recipe had before clip_grad_norm existed, and only those
    assert set(recipe.config()) == {"epochs", "objective", "objective_args", "lr", "batch_size", "momentum",
                                    "weight_decay", "schedule", "augment", "seed"}
    assert cache.config_key(recipe.config()) == cache.config_key(train.Recipe(epochs=3, clip_grad_norm=None).config())
    config = zoo.standard("mnist", "quick")
    assert "clip_grad_norm" not in config and train.Recipe.from_config(config).clip_grad_norm is None
    assert train.Recipe.from_config(config).config().items() <= config.items()
    clipped = train.Recipe(epochs=3, clip_grad_norm=5.0).config()
    assert clipped["clip_grad_norm"] == 5.0 and cache.config_key(clipped) != cache.config_key(recipe.config())
    assert train.Recipe.from_config({**config, "clip_grad_norm": 5.0}).clip_grad_norm == 5.0
