import warnings

import pytest
import torch

from pagutils import cache, zoo

TINY = zoo.standard("mnist", "quick", arch="mlp", n_train=300, epochs=1, batch_size=100)


def _count_training(monkeypatch):
    calls = []
    real = zoo.train
    monkeypatch.setattr(zoo, "train", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def test_second_request_loads_identical_weights_without_training(monkeypatch):
    calls = _count_training(monkeypatch)
    first = zoo.get(TINY, device="cpu", show_progress=False)
    second = zoo.get(TINY, device="cpu", show_progress=False)
    assert calls == [1]
    assert first.trained_now and not second.trained_now
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name
    assert second.history == first.history


def test_different_configurations_get_different_files():
    other = dict(TINY, seed=1)
    assert cache.path_for("models", TINY) != cache.path_for("models", other)
    assert cache.config_key(TINY) == cache.config_key(dict(reversed(list(TINY.items()))))


def test_truncated_cache_file_is_detected_and_rebuilt(monkeypatch):
    zoo.get(TINY, device="cpu", show_progress=False)
    path = cache.path_for("models", TINY)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    calls = _count_training(monkeypatch)
    with pytest.warns(UserWarning, match="Ignoring the cache file"):
        model = zoo.get(TINY, device="cpu", show_progress=False)
    assert calls == [1] and model.trained_now
    assert cache.read(path, TINY) is not None, "the rebuilt file must be whole again"


def test_file_made_for_another_configuration_is_not_used():
    other = dict(TINY, seed=5)
    tensors, info, built = cache.cached("things", other, lambda: ({"w": torch.ones(3)}, {}))
    cache.path_for("things", TINY).parent.mkdir(parents=True, exist_ok=True)
    cache.path_for("things", other).rename(cache.path_for("things", TINY))
    with pytest.warns(UserWarning, match="another configuration"):
        tensors, _, built = cache.cached("things", TINY, lambda: ({"w": torch.zeros(3)}, {}))
    assert built and torch.equal(tensors["w"], torch.zeros(3))


def test_writes_are_atomic_and_leave_no_temporary_files():
    def failing_build():
        raise KeyboardInterrupt("interrupted")
    with pytest.raises(KeyboardInterrupt):
        cache.cached("things", {"a": 1}, failing_build)
    assert not cache.path_for("things", {"a": 1}).exists()
    cache.cached("things", {"a": 1}, lambda: ({"w": torch.arange(4.0)}, {"note": "x"}))
    folder = cache.path_for("things", {"a": 1}).parent
    assert [p.name for p in folder.iterdir() if p.suffix != ".lock"] == [cache.path_for("things", {"a": 1}).name]


def test_unserialisable_configuration_is_refused():
    with pytest.raises(ValueError, match="config must hold only JSON values"):
        cache.config_key({"model": object()})


def test_a_bumped_objective_version_retrains_its_models_only(monkeypatch):
    from pagutils import versions
    zoo.get(TINY, device="cpu", show_progress=False)
    calls = _count_training(monkeypatch)
    monkeypatch.setitem(versions.VERSIONS["objective"], "pgd", versions.VERSIONS["objective"]["pgd"] + 1)
    assert not zoo.get(TINY, device="cpu", show_progress=False).trained_now, "a standard model outlives pgd's bump"
    monkeypatch.setitem(versions.VERSIONS["objective"], "standard", versions.VERSIONS["objective"]["standard"] + 1)
    assert zoo.get(TINY, device="cpu", show_progress=False).trained_now and calls == [1]
    assert not zoo.get(TINY, device="cpu", show_progress=False).trained_now and calls == [1]
