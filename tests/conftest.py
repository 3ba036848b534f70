"""Shared fixtures: a small MNIST sample and a briefly trained small CNN (built once per session).

Every test gets its own cache and results folders, so tests never read or write the book's cache.
Figures are drawn with the Agg backend in this process only (notebook kernels keep theirs).
"""
import matplotlib
import pytest
import torch

from pagutils import data, models, train, versions

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def isolated_folders(monkeypatch, tmp_path):
    monkeypatch.setenv("PAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PAG_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("PAG_PROGRESS", "0")
    monkeypatch.setenv("PAG_DEVICE", "cpu")
    # what only the tests use has its version here, not in the library: the cache's scratch kind, and the
    # objective tests/test_reliability.py registers to simulate Ctrl-C
    monkeypatch.setitem(versions.VERSIONS["cache"], "things", 1)
    monkeypatch.setitem(versions.VERSIONS["objective"], "standard_interruptible", 1)


@pytest.fixture(scope="session")
def mnist_train():
    return data.load("mnist", "train", n=3000, seed=0, device="cpu")


@pytest.fixture(scope="session")
def mnist_test():
    return data.load("mnist", "test", n=400, seed=1, device="cpu")


@pytest.fixture(scope="session")
def trained_cnn(mnist_train):
    """A small CNN after 4 epochs of standard training on 3,000 MNIST images."""
    model = models.make_classifier("small_cnn", "mnist", seed=0)
    train.train(model, mnist_train, train.Recipe(epochs=4, seed=0), show_progress=False)
    return model.eval()
