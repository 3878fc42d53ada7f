"""hw2: data augmentation on images of shape ``(H, W, C)`` (NumPy arrays)."""
from __future__ import annotations

import numpy as np

__all__ = ["Transform", "RandomFlipHorizontal", "RandomCrop"]


class Transform:
    """A random transformation; ``seed`` makes its draws reproducible."""

    def __init__(self, seed: int | None = None):
        self.rng = np.random.default_rng(seed)

    def __call__(self, img: np.ndarray) -> np.ndarray:
        raise NotImplementedError()


class RandomFlipHorizontal(Transform):
    """Mirror the image left-right (along W) with probability ``p``."""

    def __init__(self, p: float = 0.5, seed: int | None = None):
        super().__init__(seed)
        self.p = p

    def __call__(self, img: np.ndarray) -> np.ndarray:
        ### BEGIN SOLUTION hw2
        return img[:, ::-1, :] if self.rng.random() < self.p else img
        ### END SOLUTION


class RandomCrop(Transform):
    """Zero-pad by ``padding`` on each side of H and W, then crop back to ``(H, W)`` at a random
    offset: the image shifts by up to ``padding`` pixels in each direction (as CMU needle)."""

    def __init__(self, padding: int = 3, seed: int | None = None):
        super().__init__(seed)
        self.padding = padding

    def __call__(self, img: np.ndarray) -> np.ndarray:
        ### BEGIN SOLUTION hw2
        p = self.padding
        shift_x, shift_y = self.rng.integers(-p, p + 1, size=2)
        padded = np.pad(img, ((p, p), (p, p), (0, 0)))
        h, w = img.shape[:2]
        return padded[p + shift_x:p + shift_x + h, p + shift_y:p + shift_y + w, :]
        ### END SOLUTION
