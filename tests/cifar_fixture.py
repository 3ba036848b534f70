"""A tiny CIFAR-10 in CIFAR's own file format (the real one is not available offline), for the loader test and
the full-profile runs of the chapters."""
import pickle

import numpy as np

from pagutils import data

# The fixture is not the official archive, whose MD5s torchvision checks before it unpickles a batch: a kernel
# started with this file's folder on PYTHONPATH (as `sitecustomize`) skips that one check, for the fixture only.
SITECUSTOMIZE = '''import torchvision.datasets.cifar as _cifar
_cifar.check_integrity = lambda *args, **kwargs: True
_cifar.CIFAR10._check_integrity = lambda self: True
'''


def write_cifar_fixture(root, n_per_batch=6, seed=0):
    """Five training batches and a test batch of `n_per_batch` images each: pickled dicts of uint8 rows
    (3072 = 3x32x32, channel-major) and labels (every class equally often, shuffled), as in
    `cifar-10-batches-py`. Returns the folder."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
                 "labels": rng.permutation(np.arange(n_per_batch) % 10).tolist()}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": list(data.CIFAR10_CLASSES)}))
    return folder
