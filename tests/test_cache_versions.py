"""Versioned cache keys (pagutils.core.versions): a bumped algorithm rebuilds what it made, and only that."""
import dataclasses
import json
import re
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from pagutils import attacks, cache, data, models, robust_losses, train, versions, zoo

ROOT = Path(__file__).resolve().parent.parent
STANDARD = zoo.standard("mnist", "quick", arch="mlp")
PGD = zoo.robust("mnist", "quick", arch="mlp")


def _builder(calls):
    """A build that records its call and returns a tensor holding the call's number (so files can be told apart)."""
    def build():
        calls.append(1)
        return {"w": torch.full((3,), float(len(calls)))}, {}
    return build


def _bump(monkeypatch, table, name):
    monkeypatch.setitem(versions.VERSIONS[table], name, versions.VERSIONS[table][name] + 1)


# ------------------------------------------------------------------------------------------------ the key
def test_unchanged_version_reuses_the_file():
    calls = []
    cache.cached("models", PGD, _builder(calls))
    tensors, _, built = cache.cached("models", PGD, _builder(calls))
    assert calls == [1] and not built and torch.equal(tensors["w"], torch.ones(3))


def test_bumped_objective_rebuilds_and_the_old_file_is_not_used(monkeypatch):
    calls = []
    cache.cached("models", PGD, _builder(calls))
    old = cache.path_for("models", PGD)
    _bump(monkeypatch, "objective", "pgd")
    tensors, _, built = cache.cached("models", PGD, _builder(calls))
    assert built and calls == [1, 1]
    assert torch.equal(tensors["w"], torch.full((3,), 2.0)), "the tensors must be the new build's, not the old file's"
    new = cache.path_for("models", PGD)
    assert new != old and old.is_file() and new.is_file()
    with safe_open(str(new), "pt") as handle:
        assert json.loads(handle.metadata()["versions"]) == {"cache": {"models": 1}, "objective": {"pgd": 2}}
    assert not cache.cached("models", PGD, _builder(calls))[2], "rebuilt once, then reused"


def test_bumping_one_objective_keeps_the_models_of_the_others(monkeypatch):
    calls = {"standard": [], "pgd": []}
    for config, name in ((STANDARD, "standard"), (PGD, "pgd")):
        cache.cached("models", config, _builder(calls[name]))
    _bump(monkeypatch, "objective", "pgd")
    assert not cache.cached("models", STANDARD, _builder(calls["standard"]))[2]
    assert cache.cached("models", PGD, _builder(calls["pgd"]))[2]
    assert calls == {"standard": [1], "pgd": [1, 1]}


def test_bumped_cache_kind_rebuilds_that_kind_only(monkeypatch):
    calls = {"models": [], "datasets": []}
    config = dict(construction="d_det", eps=1.0)
    for kind in calls:
        cache.cached(kind, config if kind == "datasets" else STANDARD, _builder(calls[kind]))
    _bump(monkeypatch, "cache", "datasets")
    assert cache.cached("datasets", config, _builder(calls["datasets"]))[2]
    assert not cache.cached("models", STANDARD, _builder(calls["models"]))[2]


def test_versions_of_nested_names_enter_the_key(monkeypatch):
    """A construction built from a PGD model (its `source`) and a model trained on it depend on both versions;
    noise_consistency's divergence `kind` is a setting, not a name to version."""
    d_r = dict(construction="robustify", source=PGD, steps=10)
    trained_on = dict(STANDARD, train_data=d_r)
    chunk = dict(chunk_of=d_r, start=0, stop=10)
    penalty = zoo.trained_with("noise_consistency", 0.1, "mnist", objective_args=dict(kind="kl"))
    assert versions.of("models", trained_on) == {"cache": {"models": 1}, "objective": {"standard": 1, "pgd": 1},
                                                 "construction": {"robustify": versions.VERSIONS["construction"]["robustify"]}}
    assert versions.of("models", penalty) == {"cache": {"models": 1}, "objective": {"noise_consistency": 1}}
    before = {kind: cache.path_for(kind, config) for kind, config in
              (("datasets", d_r), ("models", trained_on), ("chunks", chunk))}
    d_det = cache.path_for("datasets", dict(construction="d_det", source=STANDARD))
    _bump(monkeypatch, "objective", "pgd")
    assert all(cache.path_for(kind, config) != before[kind] for kind, config in
               (("datasets", d_r), ("models", trained_on), ("chunks", chunk)))
    _bump(monkeypatch, "construction", "robustify")
    assert cache.path_for("datasets", dict(construction="d_det", source=STANDARD)) == d_det


def test_a_file_of_other_versions_renamed_into_place_is_rebuilt(monkeypatch):
    calls = []
    cache.cached("models", PGD, _builder(calls))
    old = cache.path_for("models", PGD)
    _bump(monkeypatch, "objective", "pgd")
    old.rename(cache.path_for("models", PGD))
    with pytest.warns(UserWarning, match="made by other versions"):
        tensors, _, built = cache.cached("models", PGD, _builder(calls))
    assert built and torch.equal(tensors["w"], torch.full((3,), 2.0))


def test_a_name_without_a_version_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"the cache 'nowhere' must have a version \(add it to VERSIONS\['cache'\]"):
        cache.cached("nowhere", {"a": 1}, _builder([]))
    with pytest.raises(ValueError, match=r"the objective 'brand_new' must have a version"):
        cache.path_for("models", dict(STANDARD, objective="brand_new"))
    with pytest.raises(ValueError, match=r"the construction 'd_new' must have a version"):
        cache.cached("datasets", dict(construction="d_rand", source=dict(construction="d_new")), _builder([]))
    assert not (cache.path_for("datasets", {"a": 1}).parent / "nowhere").exists()


# ----------------------------------------------------------------------------- every name has a version
def _source_names(pattern):
    text = "\n".join(path.read_text() for path in sorted((ROOT / "pagutils").rglob("*.py")))
    return set(re.findall(pattern, text))


def test_every_cache_kind_used_in_pagutils_has_a_version():
    kinds = _source_names(r"\b(?:cached|cached_values|path_for|remove)\(\s*[\"'](\w+)[\"']")
    if _source_names(r"\bcached_model\("):
        kinds.add("models")
    assert {"models", "datasets", "chunks", "evaluations"} <= kinds, "the pattern must find the kinds in use"
    assert kinds - set(versions.VERSIONS["cache"]) == set()


def test_every_registered_objective_has_a_version():
    registry = train.objectives() if hasattr(train, "objectives") else train.OBJECTIVES  # every objective by name
    registered = {name for name, factory in registry.items() if factory.__module__.startswith("pagutils")}
    registered |= _source_names(r"register_objective\(\s*[\"'](\w+)[\"']")
    assert {"standard", "pgd", "gradient_norm", "noise_consistency", "noise_augmentation"} <= registered
    assert registered - set(versions.VERSIONS["objective"]) == set()


def test_every_construction_and_model_kind_has_a_version():
    constructions = _source_names(r"construction=[\"'](\w+)[\"']") | _source_names(r"_relabel_config\([\"'](\w+)[\"']")
    kinds = _source_names(r"dict\(kind=[\"'](\w+)[\"']") | _source_names(r"\{[\"']kind[\"']: [\"'](\w+)[\"']")
    assert {"robustify", "d_rand", "d_det"} <= constructions and {"autoencoder", "denoiser"} <= kinds
    assert constructions - set(versions.VERSIONS["construction"]) == set()
    assert kinds - set(versions.VERSIONS["kind"]) == set()


def test_every_version_is_a_positive_int():
    for table, entries in versions.VERSIONS.items():
        for name, version in entries.items():
            assert isinstance(version, int) and not isinstance(version, bool) and version >= 1, (table, name)


# ------------------------------------------------------------------------------------------- evaluations
def _images(n=12, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return data.Data(torch.rand(n, 1, 28, 28, generator=generator), torch.arange(n) % 10, data.MNIST_DIGITS, "random")


def _zoo_model(seed=0):
    model = models.make_classifier("mlp", "mnist", seed=seed).eval()
    model.config = STANDARD
    return model


def _count_attacks(monkeypatch):
    calls, real = [], attacks.robust_accuracy
    monkeypatch.setattr(attacks, "robust_accuracy", lambda *a, **k: calls.append(a[2].eps) or real(*a, **k))
    return calls


def test_a_curve_is_computed_once_then_read(monkeypatch):
    calls, model, images = _count_attacks(monkeypatch), _zoo_model(), _images()
    first = attacks.accuracy_vs_eps(model, images, [0.0, 2.0], attacks.Attack("l2", steps=2), show_progress=False)
    assert calls == [0.0, 2.0]
    again = attacks.accuracy_vs_eps(model, images, [0.0, 2.0], attacks.Attack("l2", 5.0, steps=2, compile=None),
                                    seed=0, show_progress=False)
    assert calls == [0.0, 2.0], "the second call (defaults named or not, any eps) must read the cached curve"
    assert again == first and all(isinstance(a, float) for a in again)


def test_a_curves_key_holds_every_setting_of_the_attack():
    """The key's `attack` entry names every field of the Attack but its radius (the radii are `eps`), then
    batch_size and seed: a restarted attack is another curve."""
    model, images = _zoo_model(), _images()
    key = attacks._curve_config(model, images, [1.0], attacks.Attack("l2", steps=2), 500, 0)
    fields = {f.name for f in dataclasses.fields(attacks.Attack)} - {"eps"}
    assert set(key["attack"]) == fields | {"batch_size", "seed"} and key["eps"] == [1.0]
    assert key["attack"]["steps"] == 2 and key["attack"]["restarts"] == 1 and key["attack"]["step_size"] is None
    restarted = attacks._curve_config(model, images, [1.0], attacks.Attack("l2", steps=2, restarts=2), 500, 0)
    assert restarted["attack"] == dict(key["attack"], restarts=2)


@pytest.mark.parametrize("change", ["images", "eps_list", "attack", "weights", "version"])
def test_a_curve_is_recomputed_when_what_it_depends_on_changes(monkeypatch, change):
    calls, model, images = _count_attacks(monkeypatch), _zoo_model(), _images()
    attacks.accuracy_vs_eps(model, images, [1.0], attacks.Attack("l2", steps=2), show_progress=False)
    eps_list, steps = [1.0], 2
    if change == "images":
        images = _images(seed=1)
    elif change == "eps_list":
        eps_list = [1.0, 2.0]
    elif change == "attack":
        steps = 3
    elif change == "weights":
        model = _zoo_model(seed=1)  # same config, other weights
    else:
        _bump(monkeypatch, "evaluation", "accuracy_vs_eps")
    attacks.accuracy_vs_eps(model, images, eps_list, attacks.Attack("l2", steps=steps), show_progress=False)
    assert len(calls) == 1 + len(eps_list)


def test_a_model_without_a_config_is_evaluated_every_time(monkeypatch):
    calls, model, images = _count_attacks(monkeypatch), models.make_classifier("mlp", "mnist").eval(), _images()
    for _ in range(2):
        attacks.accuracy_vs_eps(model, images, [1.0], attacks.Attack("l2", steps=2), show_progress=False)
    assert calls == [1.0, 1.0]
    assert not (cache.path_for("evaluations", {"evaluation": "accuracy_vs_eps"}).parent).exists()


def test_cached_values_checks_its_arguments():
    with pytest.raises(ValueError, match=r"config must have the key\(s\) .*, got a dict missing the key\(s\) \['evaluation'\]"):
        cache.cached_values("evaluations", {"a": 1}, lambda: [1.0])
    with pytest.raises(TypeError, match=r"build for 'accuracy_vs_eps' must return a list of numbers"):
        cache.cached_values("evaluations", {"evaluation": "accuracy_vs_eps"}, lambda: torch.ones(2))
    assert cache.cached_values("evaluations", {"evaluation": "accuracy_vs_eps"}, lambda: [0.5, 1 / 3]) == \
        ([0.5, 1 / 3], True)
