"""hw2: the MNIST dataset, read with hw0's ``parse_mnist``."""
from __future__ import annotations

import numpy as np

from ..data_basic import Dataset

__all__ = ["MNISTDataset"]


class MNISTDataset(Dataset):
    """MNIST images as ``(28, 28, 1)`` float32 arrays in [0, 1], with uint8 labels.

    ``dataset[i]`` is ``(image, label)``; ``transforms`` apply to the image.
    """

    def __init__(self, image_filename: str, label_filename: str, transforms=None):
        super().__init__(transforms)
        # TODO (hw2, question 5): implement MNISTDataset.__init__ (Data pipeline)
        raise NotImplementedError("MNISTDataset.__init__: hw2")

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        # TODO (hw2, question 5): implement MNISTDataset.__getitem__ (Data pipeline)
        raise NotImplementedError("MNISTDataset.__getitem__: hw2")

    def __len__(self) -> int:
        # TODO (hw2, question 5): implement MNISTDataset.__len__ (Data pipeline)
        raise NotImplementedError("MNISTDataset.__len__: hw2")
