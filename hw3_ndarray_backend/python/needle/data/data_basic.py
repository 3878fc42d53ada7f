"""hw2: datasets and batching, as ``torch.utils.data``."""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from ..autograd import Tensor
from ..backend_selection import Device
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
        device: the needle device every batch's Tensors are placed on (default None: the
            ``default_device()`` at the time the batch is made), so a training loop need not
            move them; an example's fields are read and stacked on the host first.
        dtype: ``"float32"`` or ``"float64"``, the dtype of each floating-point field's Tensor
            (default None: the field's own); any other field (integer labels) is left to
            ``Tensor``'s own rule: kept on the NumPy backend, float32 on NDArray's, which holds
            floats only.

    Each batch is a tuple with one Tensor per field, the field stacked along a new first axis,
    made by ``to_tensor``.

    Example:
        >>> import needle as ndl
        >>> class Squares(Dataset):
        ...     def __getitem__(self, i): return np.array([i, i * i], dtype=np.float64), i % 2
        ...     def __len__(self): return 5
        >>> X, y = next(iter(DataLoader(Squares(), batch_size=2, device=ndl.cpu(),
        ...                          dtype="float32")))
        >>> X.shape, str(X.dtype), X.device == ndl.cpu(), y.numpy().tolist() == [0, 1]
        ((2, 2), 'float32', True, True)

    Raises:
        TypeError, ValueError: for a ``batch_size`` that is not a positive integer (2.5, 0).
        TypeError: for a ``device`` that is not a needle device, or a ``dtype`` that is not a
            floating-point dtype's name.
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None, device: Device | None = None,
                 dtype: str | None = None):
        self.dataset = dataset
        self.batch_size = positive_int("DataLoader", "batch_size", batch_size)
        self.shuffle, self.drop_last = shuffle, drop_last
        self.rng = np.random.default_rng(seed)
        if device is not None and not isinstance(device, Device):
            raise TypeError(f"DataLoader: device must be a needle device such as ndl.cpu() or None, "
                            f"got {device!r} ({type(device).__name__})")
        if dtype is not None and (not isinstance(dtype, str) or dtype not in _FLOAT_DTYPES):
            raise TypeError(f"DataLoader: dtype must be one of {sorted(_FLOAT_DTYPES)} or None, "
                            f"got {dtype!r}")
        self.device, self.dtype = device, dtype

    def __len__(self) -> int:
        """Batches per epoch."""
        full, rest = divmod(len(self.dataset), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        """One epoch of batches, as the class docstring describes.

        The examples are visited in order (``0, 1, ..., len(dataset) - 1``), or with ``shuffle``
        in the order ``self.rng.permutation(len(dataset))``, drawn afresh at the start of each
        epoch. Consecutive runs of ``batch_size`` of them form the batches; a last, shorter one
        is yielded unless ``drop_last``. Each batch is a tuple with one Tensor per field
        (``fields(dataset[i])``), made by ``self.to_tensor`` from the field's values stacked with
        ``np.stack`` along a new first axis, so that it lies on ``self.device`` with the dtype
        ``self.dtype`` asks for.
        """
        # TODO (hw2, question 5): implement DataLoader.__iter__ (Data pipeline)
        raise NotImplementedError("DataLoader.__iter__: hw2")

    def to_tensor(self, column: np.ndarray) -> Tensor:
        """One field of a batch, its examples stacked as a NumPy array of shape
        ``(batch, *field_shape)``, as a Tensor on ``self.device``; a floating-point field is cast
        to ``self.dtype`` when that is set, any other is left to ``Tensor``'s dtype rule."""
        floating = np.issubdtype(column.dtype, np.floating)
        return Tensor(column, device=self.device, dtype=self.dtype if floating else None)


_FLOAT_DTYPES = {"float32", "float64"}  # the dtypes every backend holds


def fields(example) -> tuple:
    """A dataset item as a tuple of fields: a tuple or list as it is, anything else (a bare
    array or number) as the one field of a 1-tuple.

    Example:
        >>> len(fields((np.zeros((2, 3)), 1))), len(fields(np.zeros((2, 3))))
        (2, 1)
    """
    return tuple(example) if isinstance(example, (tuple, list)) else (example,)
