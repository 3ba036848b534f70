"""A teacher's model pack (`pagutils.course.pack`): export the cache, import it elsewhere with every file checked, and
train nothing afterwards."""
import io
import json
import tarfile

import pytest
import torch

from pagutils import cache, pack, paths, zoo

TINY = zoo.standard("mnist", "quick", arch="mlp", n_train=200, epochs=1, batch_size=100)
CURVE = {"evaluation": "accuracy_vs_eps", "model": TINY, "eps": [0.5, 1.0]}


@pytest.fixture
def built(tmp_path, monkeypatch):
    """A cache holding one trained model and one cached curve, exported to a pack; then an empty cache."""
    monkeypatch.setenv("PAG_CACHE_DIR", str(tmp_path / "teacher"))
    model = zoo.get(TINY, device="cpu", show_progress=False)
    cache.cached_values("evaluations", CURVE, lambda: [0.5, 0.25])
    manifest = pack.export_pack(tmp_path / "course.tar", profile="quick")
    monkeypatch.setenv("PAG_CACHE_DIR", str(tmp_path / "student"))
    return tmp_path / "course.tar", manifest, model


def _rewrite(archive, change):
    """The pack with `change(name, data) -> data` applied to every member but the manifest."""
    with tarfile.open(archive) as handle:
        members = [(m.name, handle.extractfile(m).read()) for m in handle.getmembers()]
    with tarfile.open(archive, "w") as handle:
        for name, data in members:
            data = data if name == pack.MANIFEST else change(name, data)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            handle.addfile(info, io.BytesIO(data))


def test_an_imported_pack_loads_every_model_and_trains_nothing(built, monkeypatch):
    archive, manifest, model = built
    assert {f["kind"] for f in manifest["files"]} == {"models", "evaluations"} and manifest["profile"] == "quick"
    assert manifest["bytes"] == sum(f["bytes"] for f in manifest["files"]) > 0
    pack.import_pack(archive)
    monkeypatch.setattr(zoo, "train", lambda *a, **k: pytest.fail("an imported model was trained again"))
    loaded = zoo.get(TINY, device="cpu", show_progress=False)
    assert not loaded.trained_now
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    assert cache.cached_values("evaluations", CURVE, lambda: pytest.fail("recomputed")) == ([0.5, 0.25], False)
    pack.import_pack(archive)  # importing twice is harmless


def test_a_tampered_file_is_refused_and_nothing_is_placed(built):
    archive, manifest, _ = built

    def flip(name, data):
        return data[:-1] + bytes([data[-1] ^ 1]) if name.startswith("models/") else data
    _rewrite(archive, flip)
    with pytest.raises(pack.PackError, match="SHA-256 digest is not the manifest's"):
        pack.import_pack(archive)
    assert not any(paths.cache_dir().glob("*/*.safetensors"))


def test_a_file_under_another_configurations_name_is_refused(built, tmp_path):
    archive, manifest, _ = built
    with tarfile.open(archive) as handle:
        members = {m.name: handle.extractfile(m).read() for m in handle.getmembers()}
    model = next(f for f in manifest["files"] if f["kind"] == "models")
    wrong = dict(model, path="models/0000000000000000.safetensors")
    manifest = dict(manifest, files=[wrong])
    with tarfile.open(archive, "w") as handle:
        for name, data in ((pack.MANIFEST, json.dumps(manifest).encode()), (wrong["path"], members[model["path"]])):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            handle.addfile(info, io.BytesIO(data))
    with pytest.raises(pack.PackError, match="its name is not the key of the configuration it holds"):
        pack.import_pack(archive)


def test_a_pack_with_an_unlisted_or_escaping_member_is_refused(built):
    archive, manifest, _ = built
    with tarfile.open(archive, "a") as handle:
        info = tarfile.TarInfo("../outside.safetensors")
        info.size = 1
        handle.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(pack.PackError, match=r"\.\./outside.safetensors: the manifest does not list it"):
        pack.import_pack(archive)
    assert not (paths.cache_dir().parent / "outside.safetensors").exists()


def test_clear_errors_for_what_is_not_a_pack(tmp_path, monkeypatch):
    monkeypatch.setenv("PAG_CACHE_DIR", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="does not exist; build the book first"):
        pack.export_pack(tmp_path / "x.tar")
    with pytest.raises(FileNotFoundError, match="archive .* does not exist"):
        pack.import_pack(tmp_path / "missing.tar")
    (tmp_path / "text.tar").write_text("not a tar")
    with pytest.raises(pack.PackError, match="is not a pack"):
        pack.import_pack(tmp_path / "text.tar")


def test_the_zoo_estimate_counts_each_configuration_once_at_four_bytes_a_weight(built, monkeypatch):
    from pagutils import models, prefill
    _, manifest, model = built
    other = dict(TINY, seed=1)
    monkeypatch.setattr(prefill, "chapters", lambda: ["ch01", "ch02"])
    monkeypatch.setattr(prefill, "configurations",
                        lambda chapter, profile: [TINY, other] if chapter == "ch01" else [dict(TINY)])
    estimate = pack.zoo_estimate("quick")
    assert estimate == dict(models=2, bytes=2 * 4 * models.count_parameters(model))
    # the trained model's file in the pack holds those weights, and a header of at most a few kilobytes
    (stored,) = [f for f in manifest["files"] if f["kind"] == "models"]
    assert 0 <= stored["bytes"] - estimate["bytes"] // 2 < 16_384
