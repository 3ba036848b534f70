"""Datasets as tensors on the compute device: MNIST, Fashion-MNIST and CIFAR-10.

Files are read through torchvision from the data root (`PAGUTILS_DATA_DIR`, else `data/` in the
project). A whole split is decoded once into a float tensor in [0, 1] and kept on the device, so
training and attacks never decode images per batch.

Every MNIST / Fashion-MNIST file is checked before it is read: its size and MD5 must be those of the
official file (the decompressed IDX files torchvision reads; torchvision's own MD5s are those of the `.gz`
archives they come from). A file is hashed once per process (keyed by its path, size and modification
time). A missing, truncated or altered file gives an error naming the file and how to fix it. CIFAR-10's
batches are Python pickles: torchvision verifies their official MD5s before it unpickles them, the one
place a pickled file is read (pagutils reads no pickles and no `torch.load` checkpoints itself).
"""
from dataclasses import dataclass
from functools import lru_cache
import hashlib
from pathlib import Path
import os

import torch
import torch.nn.functional as F

from . import paths
from . import checks
from .checks import ArgumentTypeError, CorruptFileError
from .device import resolve

MNIST_DIGITS = tuple(str(i) for i in range(10))
FASHION_CLASSES = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# shape (C, H, W), classes, and the normalisation the models apply inside themselves
INFO = {
    "mnist": dict(shape=(1, 28, 28), classes=MNIST_DIGITS, mean=(0.1307,), std=(0.3081,)),
    "fashion_mnist": dict(shape=(1, 28, 28), classes=FASHION_CLASSES, mean=(0.2860,), std=(0.3530,)),
    "cifar10": dict(shape=(3, 32, 32), classes=CIFAR10_CLASSES, mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616)),
}


# (bytes, MD5) of the decompressed IDX files, made by gunzipping the official .gz files
RAW_FILES = {
    "MNIST": {
        "train-images-idx3-ubyte": (47040016, "6bbc9ace898e44ae57da46a324031adb"),
        "train-labels-idx1-ubyte": (60008, "a25bea736e30d166cdddb491f175f624"),
        "t10k-images-idx3-ubyte": (7840016, "2646ac647ad5339dbf082846283269ea"),
        "t10k-labels-idx1-ubyte": (10008, "27ae3e4e09519cfbb04c329615203637"),
    },
    "FashionMNIST": {
        "train-images-idx3-ubyte": (47040016, "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        "train-labels-idx1-ubyte": (60008, "9018921c3c673c538a1fc5bad174d6f9"),
        "t10k-images-idx3-ubyte": (7840016, "8181f5470baa50b63fa0f6fddb340f0a"),
        "t10k-labels-idx1-ubyte": (10008, "15d484375f8d13e6eb1aabb0c3f46965"),
    },
}


@dataclass(frozen=True)
class Data:
    """A labelled image set held as tensors: `x` is (N, C, H, W) float in [0, 1], `y` is (N,) int64.
    Introduced in Chapter 1."""

    x: torch.Tensor
    y: torch.Tensor
    classes: tuple = MNIST_DIGITS
    name: str = ""

    def __post_init__(self):
        if not isinstance(self.x, torch.Tensor) or self.x.dim() != 4 or not self.x.is_floating_point():
            checks.fail("Data", "x", "be a float tensor of shape (N, C, H, W)", self.x)
        if not isinstance(self.y, torch.Tensor) or self.y.dim() != 1 or self.y.dtype != torch.int64:
            checks.fail("Data", "y", "be an int64 tensor of shape (N,)", self.y)
        if len(self.x) != len(self.y):
            checks.fail("Data", "x and y", "hold one label per image",
                        got=f"{len(self.x)} images and {len(self.y)} labels")

    def __len__(self):
        return len(self.y)

    def __getitem__(self, index):
        return Data(self.x[index], self.y[index], self.classes, self.name)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def device(self) -> torch.device:
        return self.x.device

    def to(self, device) -> "Data":
        return Data(self.x.to(device), self.y.to(device), self.classes, self.name)

    def subset(self, n: int, seed: int = 0) -> "Data":
        """`n` examples drawn without replacement, the same ones for the same seed."""
        if not isinstance(n, int) or n < 1:
            checks.fail("Data.subset", "n", "be a positive int", n)
        if n > len(self):
            checks.fail("Data.subset", "n", f"be at most the {len(self)} examples of {self.name or 'this dataset'}", n)
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        return self[order.to(self.device)]

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator = None):
        """Yield (x, y) batches; with `shuffle`, in an order drawn from `generator` (a CPU generator)."""
        if not isinstance(batch_size, int) or batch_size < 1:
            checks.fail("Data.batches", "batch_size", "be a positive int", batch_size)
        order = torch.randperm(len(self), generator=generator) if shuffle else torch.arange(len(self))
        order = order.to(self.device)
        for start in range(0, len(self), batch_size):
            index = order[start:start + batch_size]
            yield self.x[index], self.y[index]


def _check_name(name: str) -> str:
    return checks.one_of(name, INFO, "dataset")


def _torchvision_class(name: str):
    import torchvision.datasets as tvd
    return {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[name]


def expected_files(name: str, root=None) -> list:
    """The files torchvision reads for dataset `name` under `root`. Introduced in Chapter 1."""
    root = Path(root) if root is not None else paths.data_dir()
    cls = _torchvision_class(_check_name(name))
    if name == "cifar10":
        names = [entry[0] for entry in cls.train_list + cls.test_list] + [cls.meta["filename"]]
        return [root / cls.base_folder / n for n in names]
    return [root / cls.__name__ / "raw" / Path(url).name.removesuffix(".gz") for url, _ in cls.resources]


_MD5_SEEN = {}  # (path, size, mtime) -> MD5: every file is hashed at most once per process


def file_md5(path) -> str:
    """The MD5 of a file, computed once per process for each (path, size, modification time).
    Introduced in Chapter 1."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _MD5_SEEN:
        digest = hashlib.md5()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        _MD5_SEEN[key] = digest.hexdigest()
    return _MD5_SEEN[key]


def verify(name: str, split: str = None, root=None) -> list:
    """Check the size and MD5 of every present file of dataset `name` (of one `split`, or both) against the
    official ones; raise `CorruptFileError` naming the first bad file and how to fix it. Returns the checked
    paths. (CIFAR-10 is verified by torchvision itself when it opens the files.) Introduced in Chapter 1."""
    root = Path(root) if root is not None else paths.data_dir()
    cls = _torchvision_class(_check_name(name))
    checked = []
    for path in expected_files(name, root):
        official = RAW_FILES.get(cls.__name__, {}).get(path.name)
        if official is None or not path.is_file() or (split and not path.name.startswith(_PREFIX[split])):
            continue
        size, md5 = path.stat().st_size, None
        if size == official[0]:
            md5 = file_md5(path)
        if md5 != official[1]:
            raise _corrupt_error(name, path, size, md5, official, cls)
        checked.append(path)
    return checked


_PREFIX = {"train": "train-", "test": "t10k-"}


def _corrupt_error(name, path, size, md5, official, cls) -> CorruptFileError:
    what = (f"it is truncated or padded ({size} bytes, the official file has {official[0]})" if md5 is None
            else f"its content was altered (MD5 {md5}, the official file has {official[1]})")
    archive = path.with_name(path.name + ".gz")
    archive_md5 = dict((Path(url).name, m) for url, m in cls.resources).get(archive.name)
    if archive.is_file() and file_md5(archive) == archive_md5:
        fix = (f"Delete it and re-create it from the verified archive beside it: gunzip -k {archive} "
               f"(or delete it and call pagutils.core.data.load({name!r}) with the network on).")
    else:
        fix = (f"Delete it and call pagutils.core.data.load({name!r}) with the network on to download it again, "
               f"or copy a good copy there, or set PAGUTILS_DATA_DIR to a folder holding the official files.")
    return CorruptFileError(f"Dataset file {path} is damaged: {what}.\n{fix}")


def _open(name: str, train: bool, root: Path, download: bool):
    cls = _torchvision_class(name)
    try:
        return cls(str(root), train=train, download=False)
    except RuntimeError:
        if not download or os.environ.get("PAGUTILS_OFFLINE", "0") == "1":
            raise _missing_error(name, root, reason="downloads are off") from None
    try:
        return cls(str(root), train=train, download=True)
    except Exception as error:  # torchvision raises several kinds when the network is unreachable
        raise _missing_error(name, root, reason=f"the download failed ({type(error).__name__}: {error})") from None


def _missing_error(name: str, root: Path, reason: str) -> FileNotFoundError:
    missing = [str(f) for f in expected_files(name, root) if not f.is_file()]
    if name == "cifar10":  # torchvision refuses files whose MD5 is not the official one: name them
        from torchvision.datasets import cifar
        md5s = {entry[0]: entry[1] for entry in cifar.CIFAR10.train_list + cifar.CIFAR10.test_list}
        md5s[cifar.CIFAR10.meta["filename"]] = cifar.CIFAR10.meta["md5"]
        missing += [f"{f} (present, but its MD5 is not the official {md5s[f.name]}: damaged or not CIFAR-10)"
                    for f in expected_files(name, root) if f.is_file() and not cifar.check_integrity(str(f), md5s[f.name])]
    listing = "\n  ".join(missing) or "(all present, but torchvision could not read them)"
    return FileNotFoundError(
        f"Dataset {name!r} is not under the data root {root}, and {reason}.\n"
        f"Missing or damaged files:\n  {listing}\n"
        f"Put the files there (torchvision's layout), or set PAGUTILS_DATA_DIR to a folder that has them."
    )


@lru_cache(maxsize=8)
def _whole_split(name: str, train: bool, root: str, download: bool):
    verify(name, "train" if train else "test", root)
    dataset = _open(name, train, Path(root), download)
    if name == "cifar10":
        x = torch.as_tensor(dataset.data).permute(0, 3, 1, 2).contiguous()
        y = torch.as_tensor(dataset.targets, dtype=torch.int64)
    else:
        x = dataset.data.unsqueeze(1).contiguous()
        y = dataset.targets.to(torch.int64)
    return x, y  # uint8 images, kept compact in memory


def load(name: str, split: str = "train", n: int = None, seed: int = 0, device=None, root=None,
         download: bool = True) -> Data:
    """Dataset `name` ('mnist', 'fashion_mnist', 'cifar10'), `split` 'train' or 'test', as tensors on `device`.

    `n` draws a seeded subset of that many examples. Missing files are downloaded when `download`
    is on and the network answers; otherwise the error lists the missing files.
    Introduced in Chapter 1.
    """
    _check_name(name)
    if split not in ("train", "test"):
        checks.fail("load", "split", "be 'train' or 'test'", got=repr(split))
    if isinstance(seed, bool) or not isinstance(seed, int):
        checks.fail("load", "seed", "be an int", seed, error=ArgumentTypeError)
    root = Path(root) if root is not None else paths.data_dir()
    x, y = _whole_split(name, split == "train", str(root), download)
    if n is not None:
        if not isinstance(n, int) or not 1 <= n <= len(y):
            checks.fail("load", "n", f"be an int between 1 and {len(y)} (the size of {name} {split})", n)
        index = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:n]
        x, y = x[index], y[index]
    device = resolve(device)
    return Data(x.to(device).float().div_(255), y.to(device), INFO[name]["classes"], name)


def augment_crop_flip(x: torch.Tensor, padding: int = 4, flip: bool = True, generator: torch.Generator = None):
    """Random crops (after reflect-padding by `padding`) and horizontal flips, per example, on x's device.
    Introduced in Chapter 1."""
    checks.images(x, "x", "augment_crop_flip")
    checks.integer(padding, "padding", "augment_crop_flip", low=0)
    n, c, h, w = x.shape
    shifts = torch.randint(0, 2 * padding + 1, (2, n), generator=generator).to(x.device)
    padded = F.pad(x, (padding,) * 4, mode="reflect")
    rows = (shifts[0, :, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (shifts[1, :, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    out = padded[batch, channel, rows, cols]
    if flip:
        mirror = (torch.rand(n, generator=generator) < 0.5).to(x.device)[:, None, None, None]
        out = torch.where(mirror, out.flip(3), out)
    return out
