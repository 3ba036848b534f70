import pickle
import urllib.error
import urllib.request

import pytest
import torch
import torchvision

from cifar_fixture import write_cifar_fixture
from pagutils import data


def test_mnist_is_a_float_tensor_in_unit_range_with_seeded_subsets():
    a = data.load("mnist", "test", n=100, seed=4, device="cpu")
    b = data.load("mnist", "test", n=100, seed=4, device="cpu")
    c = data.load("mnist", "test", n=100, seed=5, device="cpu")
    assert a.x.shape == (100, 1, 28, 28) and a.x.dtype == torch.float32 and a.y.dtype == torch.int64
    assert a.x.min() >= 0 and a.x.max() <= 1 and a.x.max() > 0.9
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    assert a.classes == data.MNIST_DIGITS and a.num_classes == 10


def test_fashion_mnist_has_its_own_classes():
    d = data.load("fashion_mnist", "train", n=50, device="cpu")
    assert d.classes[0] == "T-shirt" and len(d) == 50


def test_full_splits_have_the_official_sizes():
    assert len(data.load("mnist", "test", device="cpu")) == 10000


def test_unknown_dataset_split_or_size_is_refused():
    with pytest.raises(ValueError, match="dataset must be one of"):
        data.load("imagenet")
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        data.load("mnist", "validation")
    with pytest.raises(ValueError, match="n must be an int between 1 and 10000"):
        data.load("mnist", "test", n=20000)


def test_offline_error_names_the_missing_files(tmp_path, monkeypatch):
    """With no files and no network, the error lists what is missing and where it belongs."""
    monkeypatch.delenv("PAGUTILS_OFFLINE", raising=False)

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(FileNotFoundError) as error:
        data.load("fashion_mnist", "test", root=tmp_path)
    message = str(error.value)
    assert "the download failed" in message and "PAGUTILS_DATA_DIR" in message
    assert str(tmp_path / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte") in message


def test_offline_switch_skips_the_download(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGUTILS_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="downloads are off"):
        data.load("mnist", "train", root=tmp_path)


def test_cifar10_loader_reads_cifars_file_format(tmp_path, monkeypatch):
    folder = write_cifar_fixture(tmp_path)
    # the fixture is not the official archive, so torchvision's MD5 check is the one thing bypassed
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: True)
    train = data.load("cifar10", "train", root=tmp_path, device="cpu")
    test = data.load("cifar10", "test", root=tmp_path, device="cpu")
    assert train.x.shape == (30, 3, 32, 32) and test.x.shape == (6, 3, 32, 32)
    raw = pickle.loads((folder / "test_batch").read_bytes())
    expected = torch.as_tensor(raw["data"][2].reshape(3, 32, 32)).float() / 255
    assert torch.equal(test.x[2], expected) and test.y[2].item() == raw["labels"][2]
    assert train.classes == data.CIFAR10_CLASSES


def test_crop_and_flip_augmentation():
    x = torch.rand(8, 3, 32, 32)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(data.augment_crop_flip(x, padding=0, flip=False, generator=g), x)
    out = data.augment_crop_flip(x, padding=4, generator=g)
    assert out.shape == x.shape and not torch.equal(out, x)
    flipped = data.augment_crop_flip(x, padding=0, flip=True, generator=torch.Generator().manual_seed(1))
    for original, result in zip(x, flipped):
        assert torch.equal(result, original) or torch.equal(result, original.flip(2))


def test_data_checks_its_tensors():
    with pytest.raises(ValueError, match=r"Data: x must be a float tensor of shape \(N, C, H, W\)"):
        data.Data(torch.zeros(4, 28, 28), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match="Data: x and y must hold one label per image, got 4 images and 3 labels"):
        data.Data(torch.zeros(4, 1, 28, 28), torch.zeros(3, dtype=torch.int64))
