"""Damaged dataset files, corrupt or mismatched caches, concurrent builds, interrupted runs, unsafe
deserialisation and reproducibility."""
import hashlib
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from pagutils import attacks, cache, checks, data, features, models, paths, train, zoo

ROOT = Path(__file__).resolve().parent.parent
SOURCE = dict(name="an untrained mlp")


# ------------------------------------------------------------------------------------------------ dataset files
@pytest.fixture
def mnist_copy(tmp_path):
    """A data root whose MNIST test files are copies (to damage) and whose train files link to the real ones."""
    real = data.paths.data_dir() / "MNIST" / "raw"
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for path in real.iterdir():
        if path.name.startswith("t10k"):
            (raw / path.name).write_bytes(path.read_bytes())
        else:
            (raw / path.name).symlink_to(path)
    return tmp_path


def test_whole_files_pass_and_load(mnist_copy):
    assert len(data.verify("mnist", "test", root=mnist_copy)) == 2
    assert len(data.load("mnist", "test", n=10, root=mnist_copy, device="cpu")) == 10


def test_truncated_file_is_named_with_the_fix(mnist_copy):
    path = mnist_copy / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:100000])
    with pytest.raises(checks.CorruptFileError) as error:
        data.load("mnist", "test", root=mnist_copy)
    message = str(error.value)
    assert str(path) in message and "truncated" in message and "100000 bytes" in message
    assert f"gunzip -k {path}.gz" in message  # the verified archive beside it can rebuild it


def test_altered_file_is_detected_by_its_checksum(mnist_copy):
    path = mnist_copy / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    raw = bytearray(path.read_bytes())
    raw[5000] = (raw[5000] + 1) % 10  # one label changed, same size
    path.write_bytes(bytes(raw))
    (path.parent / (path.name + ".gz")).unlink()
    with pytest.raises(checks.CorruptFileError, match=r"t10k-labels-idx1-ubyte is damaged: its content was "
                                                       r"altered \(MD5 [0-9a-f]{32}, the official file has 27ae3e4e"):
        data.load("mnist", "test", root=mnist_copy)
    with pytest.raises(checks.CorruptFileError, match="download it again"):  # no archive to rebuild it from
        data.verify("mnist", "test", root=mnist_copy)


def test_missing_file_offline_gives_a_message_not_network_errors(mnist_copy, monkeypatch):
    monkeypatch.setenv("PAGUTILS_OFFLINE", "1")
    (mnist_copy / "MNIST" / "raw" / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"downloads are off\.\nMissing or damaged files:\n  .*t10k-images"):
        data.load("mnist", "test", root=mnist_copy)


def test_checksums_are_computed_once_per_file_version(mnist_copy, monkeypatch):
    data.verify("mnist", "test", root=mnist_copy)
    calls = []
    real_md5 = hashlib.md5
    monkeypatch.setattr(data.hashlib, "md5", lambda *a: calls.append(1) or real_md5(*a))
    data.verify("mnist", "test", root=mnist_copy)
    assert calls == [], "an unchanged file must not be hashed again"
    path = mnist_copy / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    data.verify("mnist", "test", root=mnist_copy)
    assert calls == [1], "a file whose modification time changed is hashed again"


# ------------------------------------------------------------------------------------------------ caches
def _build(value):
    return lambda: ({"w": torch.full((3, 4), float(value))}, {"value": value})


def test_a_flipped_byte_in_a_cache_file_is_detected_and_rebuilt():
    cache.cached("things", {"a": 1}, _build(1.0))
    path = cache.path_for("things", {"a": 1})
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF  # inside the tensor data: safetensors itself cannot notice
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="do not match the digest"):
        tensors, info, built = cache.cached("things", {"a": 1}, _build(1.0))
    assert built and torch.equal(tensors["w"], torch.ones(3, 4))
    assert cache.read(path, {"a": 1}) is not None


def test_a_cache_file_with_other_shapes_is_rebuilt_not_used():
    cache.write(cache.path_for("things", {"a": 2}), {"a": 2}, {"w": torch.ones(5)})
    with pytest.warns(UserWarning, match=r"its tensor 'w' has shape \(5,\), expected \(3, any\)"):
        tensors, _, built = cache.cached("things", {"a": 2}, _build(2.0), expect={"w": (3, None)})
    assert built and tensors["w"].shape == (3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not cache.cached("things", {"a": 2}, _build(2.0), expect={"w": (3, 4)})[2]


def test_a_zoo_file_holding_another_architecture_is_retrained(monkeypatch):
    config = zoo.standard("mnist", "quick", arch="mlp", n_train=100, epochs=1, batch_size=50)
    other = models.make_classifier("small_cnn", "mnist")
    cache.write(cache.path_for("models", config), config, other.state_dict(), {"history": []})
    with pytest.warns(UserWarning, match="Ignoring the cache file"):
        model = zoo.get(config, device="cpu", show_progress=False)
    assert model.trained_now and isinstance(model.features[1], torch.nn.Linear)


CONCURRENT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import torch
    from pagutils import cache, versions
    versions.VERSIONS["cache"]["things"] = 1  # the tests' scratch kind (tests/conftest.py)
    folder = Path(sys.argv[1])
    (folder / f"ready-{sys.argv[2]}").touch()
    while len(list(folder.glob("ready-*"))) < 2:  # start both builds at the same moment
        time.sleep(0.01)

    def build():
        with open(folder / "builds.txt", "a") as log:
            log.write(sys.argv[2] + "\\n")
        time.sleep(1.0)
        return {"w": torch.arange(100000.0)}, {"by": sys.argv[2]}

    tensors, info, built = cache.cached("things", {"shared": True}, build)
    print(built, float(tensors["w"].sum()), info["by"])
""")


def test_two_processes_building_the_same_artefact_build_it_once(tmp_path):
    env = dict(os.environ, PAG_CACHE_DIR=str(tmp_path / "cache"))
    runs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, str(tmp_path), name], env=env, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert all(run.returncode == 0 for run in runs), [err for _, err in outputs]
    lines = sorted(out.split() for out, _ in outputs)
    assert (tmp_path / "builds.txt").read_text().split() in (["a"], ["b"]), "exactly one process builds"
    assert [line[0] for line in lines] == ["False", "True"]
    assert lines[0][1:] == lines[1][1:], "both get the same tensors and info"
    folder = tmp_path / "cache" / "things"
    assert [p.name for p in folder.iterdir() if p.suffix != ".lock"] == [cache.path_for("things", {"shared": True}).name]


# ------------------------------------------------------------------------------------------------ interruptions
def _interrupt_after(monkeypatch, module, name, k):
    """Make module.name raise KeyboardInterrupt on its (k+1)-th call; return the list of calls made."""
    calls, real = [], getattr(module, name)
    real = getattr(real, "__wrapped__", real)

    def wrapped(*args, **kwargs):
        if k is not None and len(calls) >= k:
            raise KeyboardInterrupt("simulated interrupt")
        calls.append(1)
        return real(*args, **kwargs)
    wrapped.__wrapped__ = real
    monkeypatch.setattr(module, name, wrapped)
    return calls


def _files(kind):
    folder = paths.cache_dir() / kind
    return sorted(p.name for p in folder.glob("*.safetensors")) if folder.is_dir() else []


@pytest.mark.parametrize("construction", ["robustify", "make_d_det"])
def test_an_interrupted_construction_resumes_from_its_finished_chunks(construction, monkeypatch, tmp_path):
    monkeypatch.setattr(features, "CHUNK_BATCHES", 1)
    model = models.make_classifier("mlp", "mnist", seed=0).eval()
    subset = data.load("mnist", "test", n=64, seed=3, device="cpu")
    inner = "_match" if construction == "robustify" else "pgd"   # the per-batch work
    make = (lambda: features.robustify(model, subset, features.Matching(3, 0.5), batch_size=16, source=SOURCE,
                                       show_progress=False)) if construction == "robustify" else \
        (lambda: features.make_d_det(model, subset, attacks.Attack("l2", 1.0, 3), batch_size=16, source=SOURCE,
                                     show_progress=False))
    calls = _interrupt_after(monkeypatch, features, inner, 2)
    with pytest.raises(KeyboardInterrupt):
        make()
    assert calls == [1, 1]
    assert _files("datasets") == [], "an interrupted construction leaves no partial set"
    assert len(_files("chunks")) == 2, "the two finished chunks are kept"

    calls = _interrupt_after(monkeypatch, features, inner, None)
    resumed, info = make()
    assert calls == [1, 1], "the re-run computes only the two missing chunks"
    assert len(_files("datasets")) == 1 and _files("chunks") == [], "chunks are dropped once the set is whole"

    monkeypatch.setenv("PAG_CACHE_DIR", str(tmp_path / "fresh"))
    whole, whole_info = make()
    assert torch.equal(resumed.x, whole.x) and torch.equal(resumed.y, whole.y)
    assert info == whole_info


INTERRUPT = {"after": None, "batches": 0}


@train.register_objective("standard_interruptible")
def _interruptible_objective():
    """Cross-entropy, raising KeyboardInterrupt after INTERRUPT['after'] batches (a simulated Ctrl-C)."""
    def loss(model, x, y, generator):
        INTERRUPT["batches"] += 1
        if INTERRUPT["after"] is not None and INTERRUPT["batches"] > INTERRUPT["after"]:
            raise KeyboardInterrupt("simulated interrupt")
        return F.cross_entropy(model(x), y)
    return loss


def test_interrupted_training_leaves_no_model_and_restarts_cleanly(monkeypatch):
    config = dict(zoo.standard("mnist", "quick", arch="mlp", n_train=200, epochs=2, batch_size=50),
                  objective="standard_interruptible")
    INTERRUPT.update(after=5, batches=0)
    with pytest.raises(KeyboardInterrupt):
        zoo.get(config, device="cpu", show_progress=False)
    assert _files("models") == []
    assert [p for p in (paths.cache_dir() / "models").iterdir() if p.suffix == ".tmp"] == []
    INTERRUPT.update(after=None, batches=0)
    model = zoo.get(config, device="cpu", show_progress=False)
    assert model.trained_now and len(model.history) == 2 and INTERRUPT["batches"] == 8
    assert not zoo.get(config, device="cpu", show_progress=False).trained_now


# ------------------------------------------------------------------------------------------------ untrusted files
UNSAFE = [
    (re.compile(r"\bpickle\.loads?\s*\("), "pickle.load/loads runs code stored in the file"),
    (re.compile(r"\b(cPickle|dill|joblib)\b"), "pickle-based loaders run code stored in the file"),
    (re.compile(r"allow_pickle\s*=\s*True"), "numpy's allow_pickle runs code stored in the file"),
    (re.compile(r"\bmarshal\.loads?\s*\("), "marshal.load runs untrusted byte code"),
]


def _calls(text, name):
    """The argument text of every call `name(...)` in `text` (parentheses matched)."""
    for match in re.finditer(re.escape(name) + r"\s*\(", text):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                yield text[start:i]
                break


def _project_sources():
    """Every Python file of the package and the code of every notebook."""
    import json
    for path in sorted((ROOT / "pagutils").rglob("*.py")):
        yield path, path.read_text()
    for path in sorted((ROOT / "book").rglob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        yield path, "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def test_nothing_loads_checkpoints_or_user_files_by_unpickling():
    """Checkpoints are safetensors files. torch.load is allowed only with weights_only=True and no pickle loader
    is used at all (CIFAR-10's own pickled batches are read by torchvision after it verified their MD5s)."""
    problems = []
    for path, text in _project_sources():
        for args in _calls(text, "torch.load"):
            if not re.search(r"weights_only\s*=\s*True", args):
                problems.append(f"{path.relative_to(ROOT)}: torch.load({args}) without weights_only=True")
        for pattern, why in UNSAFE:
            for match in pattern.finditer(text):
                problems.append(f"{path.relative_to(ROOT)}: {match.group(0)!r}: {why}")
    assert problems == []


def test_the_unsafe_use_scanner_finds_unsafe_calls():
    assert list(_calls("x = torch.load(f, map_location=dict(a=1))", "torch.load")) == ["f, map_location=dict(a=1)"]
    assert any(p.search("state = pickle.load(handle)") for p, _ in UNSAFE)
    assert not any(p.search("from safetensors.torch import load_file") for p, _ in UNSAFE)


# ------------------------------------------------------------------------------------------------ determinism
PIPELINE = textwrap.dedent("""
    import hashlib, torch
    from pagutils import attacks, data, models, train

    def pipeline():
        torch.manual_seed(12345)  # the global RNG state must not matter
        torch.rand(7)
        subset = data.load("mnist", "train", n=384, seed=1, device="cpu")
        test = data.load("mnist", "test", n=64, seed=2, device="cpu")
        model = models.make_classifier("small_cnn", "mnist", seed=0)
        history = train.train(model, subset, train.Recipe(epochs=1, batch_size=128, seed=0), show_progress=False)
        attack = attacks.Attack("l2", 1.0, steps=3)
        x_adv = attacks.pgd(model, test.x, test.y, attack, generator=torch.Generator().manual_seed(0))
        robust = attacks.robust_accuracy(model, test, attack, show_progress=False)
        h = hashlib.sha256()
        for t in [*model.state_dict().values(), x_adv]:
            h.update(t.detach().contiguous().numpy().tobytes())
        return h.hexdigest(), history[0]["loss"], attacks.accuracy(model, test), robust
""")


def test_the_same_seed_gives_bitwise_the_same_numbers_on_cpu():
    namespace = {}
    exec(PIPELINE, namespace)
    first = namespace["pipeline"]()
    torch.manual_seed(999)  # a different global state in between
    second = namespace["pipeline"]()
    assert first == second
    script = PIPELINE + "\nprint(repr(pipeline()))\n"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, PAG_PROGRESS="0"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == repr(first), "another process with the same seeds gets the same bits"


def test_damaged_cifar_files_are_named(tmp_path, monkeypatch):
    """torchvision refuses CIFAR-10 batches whose MD5 is not the official one; the error names each of them."""
    monkeypatch.setenv("PAGUTILS_OFFLINE", "1")
    for path in data.expected_files("cifar10", tmp_path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not a pickle")
    with pytest.raises(FileNotFoundError, match=r"data_batch_1 \(present, but its MD5 is not the official "
                                                r"c99cafc152244af753f735de768cd75f"):
        data.load("cifar10", "test", root=tmp_path)
