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
        ### BEGIN SOLUTION hw2
        from simple_ml import parse_mnist  # your hw0 parser, in src/simple_ml.py
        X, self.y = parse_mnist(image_filename, label_filename)
        self.X = X.reshape(-1, 28, 28, 1)
        ### END SOLUTION

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        ### BEGIN SOLUTION hw2
        return self.apply_transforms(self.X[index]), self.y[index]
        ### END SOLUTION

    def __len__(self) -> int:
        ### BEGIN SOLUTION hw2
        return len(self.y)
        ### END SOLUTION
