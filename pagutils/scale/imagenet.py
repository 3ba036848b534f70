"""ImageNet-class data for the paper profile: Restricted ImageNet (Ilyas et al.) and ImageNet-64 (Srinivas et al.).

Both are read from an ImageNet copy the user already has, nothing is downloaded. The expected layout is
torchvision's `ImageNet` folder (after its one-time preparation) or any `ImageFolder` copy of ImageNet:

    $PAGUTILS_DATA_DIR/imagenet/train/n01440764/*.JPEG   ... 1000 class folders named by WordNet id
    $PAGUTILS_DATA_DIR/imagenet/val/n01440764/*.JPEG     ... the same 1000 folders

A class's index is its folder's position in sorted order (as `ImageFolder` and torchvision's `ImageNet` number
them), which is what the class ranges below refer to.

- Restricted ImageNet: 9 super-classes, each a range of ImageNet classes (the robustness library's
  `RestrictedImageNet`, ranges inclusive), images at 224x224 (train: random-resized crop, flip, colour jitter;
  test: Resize(256), CenterCrop(224)).
- ImageNet-64: all 1000 classes, Resize(256), CenterCrop(224), Resize(64) (the pags code's transform).

Neither fits on the device as one tensor (the small datasets' path, `pagutils.core.data`), so they are streamed
with a `DataLoader` and worker processes (`loader`).
"""
import os
import re
from pathlib import Path

import torch

from ..core import checks, paths

RESTRICTED_RANGES = ((151, 268), (281, 285), (30, 32), (33, 37), (80, 100), (365, 382), (389, 397), (118, 121),
                     (300, 319))
RESTRICTED_CLASSES = ("dog", "cat", "frog", "turtle", "bird", "primate", "fish", "crab", "insect")
NUM_CLASSES = 1000
SPLITS = ("train", "val")
EXTENSIONS = (".jpeg", ".jpg", ".png")
_WNID = re.compile(r"n\d{8}")
LAYOUT = ("<root>/train/<wnid>/*.JPEG and <root>/val/<wnid>/*.JPEG with the 1000 ImageNet class folders "
          "named by WordNet id (n01440764, ...), as torchvision's ImageNet or ImageFolder read them")


def default_root() -> Path:
    """Where ImageNet is looked for: `imagenet/` under the data root (`PAGUTILS_DATA_DIR`)."""
    return paths.data_dir() / "imagenet"


def restricted_label(index: int):
    """The Restricted ImageNet super-class of ImageNet class `index`, or None when it is in none of the ranges."""
    for label, (low, high) in enumerate(RESTRICTED_RANGES):
        if low <= index <= high:
            return label
    return None


def class_folders(root, split: str) -> list:
    """The sorted class folders of `split`, checked: the split exists and holds the 1000 WordNet-id folders."""
    checks.one_of(split, SPLITS, "split", "imagenet")
    folder = Path(root) / split
    if not folder.is_dir():
        raise FileNotFoundError(f"imagenet: no folder {folder}. Expected {LAYOUT}; root is {root} "
                                f"(PAGUTILS_DATA_DIR/imagenet unless given). Nothing is downloaded.")
    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    odd = [p.name for p in classes if not _WNID.fullmatch(p.name)]
    if len(classes) != NUM_CLASSES or odd:
        checks.fail("imagenet", f"{folder}", f"hold {NUM_CLASSES} class folders (expected {LAYOUT})",
                    got=f"{len(classes)} class folders" + (f" (not WordNet ids: {', '.join(odd[:3])})" if odd else ""))
    return classes


def samples(root, split: str, restricted: bool) -> list:
    """(image path, label) of every image of `split`: ImageNet's label, or the Restricted ImageNet super-class
    (images of other classes left out)."""
    found = []
    for index, folder in enumerate(class_folders(root, split)):
        label = restricted_label(index) if restricted else index
        if label is None:
            continue
        found += [(str(p), label) for p in sorted(folder.iterdir()) if p.suffix.lower() in EXTENSIONS]
    if not found:
        checks.fail("imagenet", f"the class folders of {Path(root) / split}",
                    f"hold images (.JPEG, .jpg, .png) (expected {LAYOUT})", got="no image")
    return found


def transform(name: str, split: str):
    """The torchvision transform of dataset `name` ('restricted_imagenet' or 'imagenet64') for `split`."""
    from torchvision import transforms as T
    if name == "imagenet64":
        return T.Compose([T.Resize(256), T.CenterCrop(224), T.Resize(64), T.ToTensor()])
    if split == "train":
        return T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ColorJitter(0.25, 0.25, 0.25),
                          T.ToTensor()])
    return T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor()])


class ImageFiles(torch.utils.data.Dataset):
    """Images decoded from files on demand (in the DataLoader's workers), as (tensor in [0, 1], label)."""

    def __init__(self, items, transform, classes):
        self.items, self.transform, self.classes = items, transform, classes

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        from PIL import Image
        path, label = self.items[i]
        with Image.open(path) as image:
            return self.transform(image.convert("RGB")), label


DATASETS = ("restricted_imagenet", "imagenet64")


def dataset(name: str, split: str = "train", root=None) -> ImageFiles:
    """Dataset `name` ('restricted_imagenet' or 'imagenet64'), `split` 'train' or 'val', from `root` (default
    `PAGUTILS_DATA_DIR/imagenet`)."""
    checks.one_of(name, DATASETS, "name", "imagenet.dataset")
    root = Path(root) if root is not None else default_root()
    restricted = name == "restricted_imagenet"
    classes = RESTRICTED_CLASSES if restricted else tuple(p.name for p in class_folders(root, split))
    return ImageFiles(samples(root, split, restricted), transform(name, split), classes)


def loader(name: str, split: str = "train", batch_size: int = 256, workers: int = None, seed: int = 0, root=None,
           sampler=None) -> torch.utils.data.DataLoader:
    """A DataLoader over `dataset(name, split)`: shuffled (seeded) for 'train', `workers` decoding processes
    (default: the CPU count, at most 8). Give `sampler` (e.g. a `DistributedSampler`) under torchrun."""
    checks.integer(batch_size, "batch_size", "imagenet.loader")
    data = dataset(name, split, root)
    workers = min(8, os.cpu_count() or 1) if workers is None else workers
    shuffle = split == "train" and sampler is None
    return torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=shuffle, sampler=sampler,
                                       num_workers=workers, pin_memory=torch.cuda.is_available(),
                                       generator=torch.Generator().manual_seed(seed) if shuffle else None,
                                       persistent_workers=workers > 0)
