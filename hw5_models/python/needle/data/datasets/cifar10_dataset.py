"""hw5: the CIFAR-10 dataset, read from the official "CIFAR-10 python version" pickle batches.

Each batch file (``data_batch_1`` .. ``data_batch_5`` for training, ``test_batch``) is a pickled
dict with ``b"data"``, a ``(10000, 3072)`` uint8 array whose rows hold the red, green and blue
32x32 planes in turn, and ``b"labels"``, a list of ints in 0..9 (Krizhevsky, "Learning multiple
layers of features from tiny images", 2009; https://www.cs.toronto.edu/~kriz/cifar.html).
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ..data_basic import Dataset

__all__ = ["CIFAR10Dataset", "CIFAR10_CLASSES", "write_cifar10_batch"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")


class CIFAR10Dataset(Dataset):
    """CIFAR-10 images as ``(3, 32, 32)`` float32 arrays in [0, 1] (NCHW once batched), with
    int64 labels.

    Args:
        base_folder: the folder holding the batch files (``cifar-10-batches-py``).
        train: read every ``data_batch_*`` file (sorted by name) when True, else ``test_batch``.
        transforms: applied to each image.

    Raises:
        FileNotFoundError: if the batch files are missing (``make data`` downloads them).
        ValueError: if a batch is not in the CIFAR-10 format.
    """

    def __init__(self, base_folder: str | Path, train: bool, transforms=None):
        super().__init__(transforms)
        folder = Path(base_folder)
        files = sorted(folder.glob("data_batch_*")) if train else [folder / "test_batch"]
        if not files or not files[0].exists():
            raise FileNotFoundError(f"CIFAR10Dataset: no {'data_batch_*' if train else 'test_batch'} "
                                    f"file in {folder}; run `make data` to download CIFAR-10")
        # TODO (hw5, question 5): implement CIFAR10Dataset.__init__ (Data)
        raise NotImplementedError("CIFAR10Dataset.__init__: hw5")

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.int64]:
        # TODO (hw5, question 5): implement CIFAR10Dataset.__getitem__ (Data)
        raise NotImplementedError("CIFAR10Dataset.__getitem__: hw5")

    def __len__(self) -> int:
        # TODO (hw5, question 5): implement CIFAR10Dataset.__len__ (Data)
        raise NotImplementedError("CIFAR10Dataset.__len__: hw5")


def write_cifar10_batch(path: str | Path, images: np.ndarray, labels, name: str = "batch") -> None:
    """Write ``images`` ``(N, 3, 32, 32)`` uint8 and ``labels`` as a CIFAR-10 python batch file,
    in the official format (tests and examples build small ones with this).

    Raises:
        ValueError: for images that are not uint8 of shape ``(N, 3, 32, 32)``.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (3, 32, 32):
        raise ValueError(f"write_cifar10_batch: expected uint8 images (N, 3, 32, 32), got "
                         f"{images.dtype} {images.shape}")
    batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in labels],
             b"data": images.reshape(len(images), -1),
             b"filenames": [f"{i:05d}.png".encode() for i in range(len(images))]}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)
