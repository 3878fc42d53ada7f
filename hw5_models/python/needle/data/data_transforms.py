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
        # TODO (hw2, question 5): implement RandomFlipHorizontal.__call__ (Data pipeline)
        raise NotImplementedError("RandomFlipHorizontal.__call__: hw2")


class RandomCrop(Transform):
    """Zero-pad by ``padding`` on each side of H and W, then crop back to ``(H, W)`` at a random
    offset: the image shifts by up to ``padding`` pixels in each direction (as CMU needle)."""

    def __init__(self, padding: int = 3, seed: int | None = None):
        super().__init__(seed)
        self.padding = padding

    def __call__(self, img: np.ndarray) -> np.ndarray:
        # TODO (hw2, question 5): implement RandomCrop.__call__ (Data pipeline)
        raise NotImplementedError("RandomCrop.__call__: hw2")
