"""hw2: datasets and batching, as ``torch.utils.data``."""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from ..autograd import Tensor
from ..checks import positive_int

__all__ = ["Dataset", "DataLoader"]


class Dataset:
    """An indexable collection of examples; ``transforms`` apply to each example's first item."""

    def __init__(self, transforms: Sequence | None = None):
        self.transforms = list(transforms) if transforms else []

    def __getitem__(self, index) -> tuple:
        raise NotImplementedError()

    def __len__(self) -> int:
        raise NotImplementedError()

    def apply_transforms(self, x: np.ndarray) -> np.ndarray:
        for transform in self.transforms:
            x = transform(x)
        return x


class DataLoader:
    """Batches of a Dataset as tuples of Tensors, each stacked along a new first axis.

    Args:
        dataset: the examples; ``dataset[i]`` is a tuple (or list) of fields, each an array or
            a number, or one bare array or number, which is one field: never split into rows
            (``fields(dataset[i])`` gives the tuple either way).
        batch_size: examples per batch (the last may be smaller unless ``drop_last``).
        shuffle: visit the examples in a new random order each epoch.
        drop_last: skip a last batch smaller than ``batch_size``.
        seed: seeds the shuffling, so that the sequence of epochs is reproducible.

    Each batch is a tuple with one Tensor per field, the field stacked along a new first axis.

    Raises:
        TypeError, ValueError: for a ``batch_size`` that is not a positive integer (2.5, 0).
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None):
        self.dataset = dataset
        self.batch_size = positive_int("DataLoader", "batch_size", batch_size)
        self.shuffle, self.drop_last = shuffle, drop_last
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        """Batches per epoch."""
        full, rest = divmod(len(self.dataset), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        # TODO (hw2, question 5): implement DataLoader.__iter__ (Data pipeline)
        raise NotImplementedError("DataLoader.__iter__: hw2")


def fields(example) -> tuple:
    """A dataset item as a tuple of fields: a tuple or list as it is, anything else (a bare
    array or number) as the one field of a 1-tuple.

    Example:
        >>> len(fields((np.zeros((2, 3)), 1))), len(fields(np.zeros((2, 3))))
        (2, 1)
    """
    return tuple(example) if isinstance(example, (tuple, list)) else (example,)
