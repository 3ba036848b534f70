"""Replicates trained together (benchmarks/replicates.py: `train_together`, `get_many`) are the models single runs
train.

Equality is measured against `train.train` on the same model, data and recipe. Its floor is float rounding: a
single small-CNN run differs from itself by up to 2.4e-5 (noise augmentation) and 6.9e-5 (PGD, one recipe) when
only the memory layout of its convolutions changes (PGD's normalised steps and the noise amplify rounding), by about
1e-8 for the MLP. A draw out of order (another noise, start or shuffle) moves the weights by about as much as
training does (1e-3 or more), so the tolerances below separate the two.
"""
import sys
from pathlib import Path

import pytest
import torch

from pagutils import cache, models, robust_losses, train, zoo
from pagutils.core.checks import ArgumentTypeError

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
if str(BENCHMARKS) not in sys.path:  # its modules import each other by name, as `python benchmarks/seeds.py` runs
    sys.path.insert(0, str(BENCHMARKS))
import replicates  # noqa: E402  (benchmarks/replicates.py: the stack is out of the library, see its docstring)

NOISY = {
    "noise_augmentation": [dict(sigma=0.1), dict(sigma=0.5)],
    "noise_consistency": [dict(lam=1.0), dict(lam=0.0)],  # lam 0 draws no noise in a single run
    "pgd": [dict(eps=1.0, steps=3), dict(eps=2.0, norm="l2", steps=3, step_size=0.6)],
}
DETERMINISTIC = {"standard": [dict(), dict()], "gradient_norm": [dict(lam=0.3), dict(lam=30.0)]}


def recipes_for(objective, args, augment=False):
    """Two recipes of `objective` differing in seed, lr, momentum, weight decay and the objective's arguments."""
    return [train.Recipe(epochs=1, objective=objective, objective_args=a, lr=(0.05, 0.02)[i], batch_size=100,
                         momentum=(0.9, 0.5)[i], weight_decay=(5e-4, 0.0)[i], augment=augment, seed=3 + i)
            for i, a in enumerate(args)]


def difference(models_a, models_b) -> float:
    return max((a - b).abs().max().item() for ma, mb in zip(models_a, models_b)
               for a, b in zip(ma.parameters(), mb.parameters()))


def both_ways(arch, sets, recipes, engine="auto"):
    """The models trained together and one by one, from the same initialisations, with their histories."""
    together = [models.make_classifier(arch, "mnist", seed=r.seed) for r in recipes]
    alone = [models.make_classifier(arch, "mnist", seed=r.seed) for r in recipes]
    start = [{name: t.clone() for name, t in m.state_dict().items()} for m in alone]
    histories = replicates.train_together(together, sets, recipes, show_progress=False, engine=engine)
    per_model = sets if isinstance(sets, list) else [sets] * len(recipes)
    singles = [train.train(m, d, r, show_progress=False) for m, d, r in zip(alone, per_model, recipes)]
    moved = min(max((w - s).abs().max().item() for w, s in zip(m.state_dict().values(), s.values()))
                for m, s in zip(together, start))
    return together, alone, histories, singles, moved


@pytest.fixture(scope="module")
def sets(mnist_train):
    return [mnist_train[:500], mnist_train[500:1000]]


@pytest.mark.parametrize("objective", list(DETERMINISTIC) + list(NOISY))
def test_small_cnns_trained_together_equal_their_single_runs(objective, sets):
    args = {**DETERMINISTIC, **NOISY}[objective]
    recipes = recipes_for(objective, args, augment=objective == "standard")
    together, alone, histories, singles, moved = both_ways("small_cnn", sets, recipes)
    tolerance = 1e-5 if objective in DETERMINISTIC else 2e-4  # the noisy ones' floor: up to 6.9e-5 (docstring)
    assert moved > 10 * tolerance, "training must move every model, or equality says nothing"
    assert difference(together, alone) < tolerance
    for history, single in zip(histories, singles):
        assert [h["epoch"] for h in history] == [1] and set(history[0]) == set(single[0])
        assert history[0]["loss"] == pytest.approx(single[0]["loss"], rel=1e-5)
    assert not any(m.training for m in together)


@pytest.mark.parametrize("engine", ["grouped", "vmap"])
@pytest.mark.parametrize("objective", list(DETERMINISTIC) + list(NOISY))
def test_mlps_equal_their_single_runs_to_rounding_in_both_engines(objective, engine, mnist_train):
    recipes = recipes_for(objective, {**DETERMINISTIC, **NOISY}[objective], augment=True)
    shared = mnist_train[:300]  # one data set for both models: each still draws its own order
    together, alone, _, _, moved = both_ways("mlp", shared, recipes, engine=engine)
    assert moved > 1e-3 and difference(together, alone) < 1e-6


def test_a_strength_sweep_trains_as_its_configurations_do(sets):
    """A sweep's unclipped strengths (at or below clip_above, where zoo.trained_with adds no gradient clipping):
    the recipes differ in lam (and here in lr)."""
    configs = [zoo.trained_with("gradient_norm", lam, "mnist", arch="mlp", epochs=1, batch_size=100, lr=lr)
               for lam, lr in ((0.3, 0.05), (1.0, 0.02))]
    recipes = [train.Recipe.from_config(c) for c in configs]
    assert recipes[0].lr != recipes[1].lr and all(r.clip_grad_norm is None for r in recipes)
    together, alone, *_ = both_ways("mlp", sets, recipes)
    assert difference(together, alone) < 1e-6


def test_get_many_trains_the_missing_together_and_caches_each_under_its_own_key(monkeypatch, tmp_path):
    small = dict(arch="mlp", n_train=300, epochs=1, batch_size=100)
    sweep = [zoo.trained_with("gradient_norm", lam, "mnist", **small) for lam in (0.3, 1.0)]
    seeds = [zoo.standard("mnist", **small, seed=seed) for seed in (0, 1)]
    batch_norm = zoo.standard("mnist", arch="small_resnet", n_train=200, epochs=1, batch_size=100)
    configs = [sweep[0], seeds[0], batch_norm, sweep[1], seeds[1], seeds[0]]  # the last one repeated
    together_calls, single_calls = [], []
    real_together, real_train = replicates.train_together, zoo.train
    monkeypatch.setattr(replicates, "train_together",
                        lambda models, *a, **k: together_calls.append(len(models)) or real_together(models, *a, **k))
    monkeypatch.setattr(zoo, "train", lambda *a, **k: single_calls.append(1) or real_train(*a, **k))

    first = replicates.get_many(configs, device="cpu", show_progress=False, together=True)
    assert sorted(together_calls) == [2, 2], "the sweep and the seeds are two stacked runs"
    assert single_calls == [1], "the BatchNorm architecture is trained alone, through zoo.get"
    assert [m.config for m in first] == configs and [m.trained_now for m in first] == [True] * 5 + [False]
    for config, model in zip(configs, first):
        tensors, info = cache.read(cache.path_for("models", config), config)
        assert all(torch.equal(tensors[name], t) for name, t in model.state_dict().items())
        assert info["history"] == model.history and model.train_seconds == info["train_seconds"] > 0
    assert first[0].history[0].keys() == first[2].history[0].keys()
    assert cache.read(cache.path_for("models", sweep[1]), sweep[1])[1]["trained_together"] == 2

    second = replicates.get_many(configs, device="cpu", show_progress=False, together=True)
    assert sorted(together_calls) == [2, 2] and single_calls == [1], "the second call trains nothing"
    assert not any(m.trained_now for m in second)
    assert difference(first, second) == 0

    monkeypatch.setenv("PAG_CACHE_DIR", str(tmp_path / "another_cache"))
    alone = zoo.get(sweep[1], device="cpu", show_progress=False)  # its own data subset and initialisation
    assert alone.trained_now and difference([alone], [first[3]]) < 1e-6


def test_bad_inputs_are_refused_by_name_before_anything_trains(sets):
    cnn = lambda seed=0: models.make_classifier("small_cnn", "mnist", seed=seed)
    recipe = train.Recipe(epochs=1, batch_size=100)
    pair, before = [cnn(0), cnn(1)], cnn(0).state_dict()
    cases = [
        (dict(models=pair, datasets=sets[:1], recipes=[recipe] * 2), ValueError,
         "one entry per model, got 2 models, 1 datasets and 2 recipes"),
        (dict(models=[cnn(), models.make_classifier("mlp", "mnist")], datasets=sets, recipes=[recipe] * 2),
         replicates.NotStackable, r"models\[1\] is not of models\[0\]'s architecture: its '.*' has shape"),
        (dict(models=pair, datasets=sets, recipes=[recipe, train.Recipe(epochs=2, batch_size=100)]),
         replicates.NotStackable, r"recipes\[1\]\.epochs is 2 but recipes\[0\]\.epochs is 1"),
        (dict(models=pair, datasets=sets, recipes=[recipe, train.Recipe(epochs=1, batch_size=50)]),
         replicates.NotStackable, r"recipes\[1\]\.batch_size"),
        (dict(models=pair, datasets=[sets[0], sets[1][:400]], recipes=[recipe] * 2), replicates.NotStackable,
         r"datasets\[1\] holds 400 images"),
        (dict(models=pair, datasets=sets, recipes=[
            train.Recipe(epochs=1, objective="pgd", objective_args=dict(eps=1.0)),
            train.Recipe(epochs=1, objective="pgd", objective_args=dict(eps=1.0, norm="linf"))]),
         replicates.NotStackable, r"recipes\[1\]\.objective_args\['norm'\] is 'linf'"),
        (dict(models=pair, datasets=sets, recipes=[recipe, train.Recipe(epochs=1, batch_size=100, clip_grad_norm=5.0)]),
         replicates.NotStackable, r"recipes\[1\]\.clip_grad_norm is 5.0: gradient clipping has no joint form"),
        (dict(models=pair, datasets=sets, recipes=[recipe, dict(epochs=1)]), ArgumentTypeError,
         r"recipes\[1\] must be a pagutils.core.train.Recipe"),
        (dict(models=[pair[0], pair[0]], datasets=sets, recipes=[recipe] * 2), ValueError, "same object"),
        (dict(models=pair[0], datasets=sets, recipes=[recipe] * 2), ArgumentTypeError, "models must be a list"),
        (dict(models=pair, datasets=sets, recipes=[recipe] * 2, engine="fast"), ValueError, "engine must be one of"),
    ]
    for arguments, error, message in cases:
        with pytest.raises(error, match=message):
            replicates.train_together(**arguments, show_progress=False)
    assert all(torch.equal(a, b) for a, b in zip(pair[0].state_dict().values(), before.values()))


def test_batch_norm_architectures_are_refused_and_say_why(sets):
    resnets = [models.make_classifier("small_resnet", "mnist", seed=s) for s in (0, 1)]
    with pytest.raises(replicates.NotStackable, match=r"models\[0\] has a BatchNorm2d layer .*small_resnet, resnet18"
                       r".*running-statistics buffers"):
        replicates.train_together(resnets, sets, [train.Recipe(epochs=1)] * 2, show_progress=False)


def test_get_many_refuses_bad_configurations_by_name():
    with pytest.raises(ArgumentTypeError, match="configs must be a non-empty list"):
        replicates.get_many(zoo.standard("mnist"))
    with pytest.raises(ValueError, match=r"configs\[1\] must have the key\(s\) .*, got a dict missing the key\(s\) \['n_train'\]"):
        bad = {k: v for k, v in zoo.standard("mnist").items() if k != "n_train"}
        replicates.get_many([zoo.standard("mnist"), bad])
    with pytest.raises(ArgumentTypeError, match=r"together must be True, False or None .*got 'yes'"):
        replicates.get_many([zoo.standard("mnist")], together="yes")


def test_on_a_cpu_get_many_trains_one_by_one_by_default(monkeypatch):
    small = dict(arch="mlp", n_train=200, epochs=1, batch_size=100)
    configs = [zoo.standard("mnist", **small, seed=seed) for seed in (0, 1)]
    together_calls = []
    monkeypatch.setattr(replicates, "train_together", lambda *a, **k: together_calls.append(1))
    trained = replicates.get_many(configs, device="cpu", show_progress=False)
    assert together_calls == [] and [m.trained_now for m in trained] == [True, True]
    assert [m.config for m in trained] == configs
