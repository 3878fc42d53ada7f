"""hw2: datasets, samplers and batching, as ``torch.utils.data``.

A ``DataLoader`` reads the examples whose indices its ``BatchSampler`` gives, one list per
batch, and stacks them into Tensors; the ``BatchSampler`` groups the indices a ``Sampler``
yields (``SequentialSampler`` in order, ``RandomSampler`` shuffled), as in PyTorch.
"""
from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence, Sized
from typing import Generic, TypeVar

import numpy as np

from ..autograd import Tensor
from ..backend_selection import Device
from ..checks import positive_int
from ..init import default_generator

__all__ = ["Dataset", "NDArrayDataset", "Sampler", "SequentialSampler", "RandomSampler",
           "BatchSampler", "DataLoader"]


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


class NDArrayDataset(Dataset):
    """A dataset of aligned arrays (CMU needle's name; ``torch.utils.data.TensorDataset``):
    example ``i`` is the tuple ``(arrays[0][i], arrays[1][i], ...)``.

    Args:
        *arrays: one or more NumPy arrays (or anything ``np.asarray`` takes), each of shape
            ``(m, ...)`` with the same ``m``, the number of examples, such as inputs ``(m, n)``
            and labels ``(m,)``.

    Example:
        >>> data = NDArrayDataset(np.arange(6.0).reshape(3, 2), np.array([0, 1, 0]))
        >>> len(data), data[1][0].tolist(), int(data[1][1])
        (3, [2.0, 3.0], 1)

    Raises:
        ValueError: if no array is given, an array has no first axis (a scalar), or the
            arrays' lengths differ (the message lists them).
    """

    def __init__(self, *arrays):
        super().__init__()
        if not arrays:
            raise ValueError("NDArrayDataset: expected at least one array, got none")
        self.arrays = [np.asarray(a) for a in arrays]
        for i, a in enumerate(self.arrays):
            if a.ndim == 0:
                raise ValueError(f"NDArrayDataset: array {i} is a scalar; every array needs a "
                                 f"first axis of examples")
        lengths = [len(a) for a in self.arrays]
        if len(set(lengths)) > 1:
            raise ValueError(f"NDArrayDataset: the arrays must have the same length (first axis), "
                             f"got lengths {lengths}")

    def __getitem__(self, index) -> tuple:
        return tuple(a[index] for a in self.arrays)

    def __len__(self) -> int:
        return len(self.arrays[0])


T = TypeVar("T")


class Sampler(Generic[T]):
    """Base class: an iterable of dataset indices (or, for ``BatchSampler``, of lists of
    them), one pass per epoch (``torch.utils.data.Sampler``); ``len()`` is the number of items
    in a pass."""

    def __iter__(self) -> Iterator[T]:
        raise NotImplementedError()

    def __len__(self) -> int:
        raise NotImplementedError()


class SequentialSampler(Sampler[int]):
    """The indices ``0, 1, ..., len(data_source) - 1`` in order
    (``torch.utils.data.SequentialSampler``).

    Example:
        >>> list(SequentialSampler(range(4)))
        [0, 1, 2, 3]
    """

    def __init__(self, data_source: Sized):
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """The indices of ``data_source`` in a random order, a new one each pass
    (``torch.utils.data.RandomSampler``).

    Without replacement a pass is ``generator.permutation(n)`` (``n = len(data_source)``);
    ``num_samples`` larger than ``n`` chains whole permutations and a part of one, as PyTorch.
    With replacement a pass is ``num_samples`` independent draws ``generator.integers(0, n)``.

    Args:
        data_source: the dataset (only its ``len()`` is used).
        replacement: draw with replacement.
        num_samples: indices per pass (default ``n``).
        generator: the ``numpy.random.Generator`` to draw from; None (the default) draws from
            needle's default generator (``needle.init.default_generator()``, reset by
            ``needle.manual_seed``) at the start of each pass, as PyTorch draws from its global
            generator. Its state (``generator.bit_generator.state``) is all a resumed run needs
            to continue the same sequence of passes.

    Example:
        >>> sampler = RandomSampler(range(5), generator=np.random.default_rng(0))
        >>> sorted(sampler), len(sampler)
        ([0, 1, 2, 3, 4], 5)

    Raises:
        TypeError, ValueError: for a ``num_samples`` that is not a positive integer.
        TypeError: for a ``generator`` that is not a ``numpy.random.Generator``, or a
            ``replacement`` that is not a bool.
    """

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, generator: np.random.Generator | None = None):
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement must be a bool, got {replacement!r}")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(f"RandomSampler: generator must be a numpy.random.Generator or None, "
                            f"got {type(generator).__name__}")
        self.data_source, self.replacement, self.generator = data_source, replacement, generator
        self._num_samples = (None if num_samples is None
                             else positive_int("RandomSampler", "num_samples", num_samples))

    @property
    def num_samples(self) -> int:
        """Indices per pass: ``num_samples`` if given, else ``len(data_source)``."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n, rng = len(self.data_source), self.generator or default_generator()
        if self.replacement:
            return iter(rng.integers(0, n, size=self.num_samples).tolist())
        whole, rest = divmod(self.num_samples, n) if n else (0, 0)
        order = [i for _ in range(whole) for i in rng.permutation(n).tolist()]
        return iter(order + (rng.permutation(n)[:rest].tolist() if rest else []))

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler[list[int]]):
    """Groups a sampler's indices into lists of ``batch_size`` (``torch.utils.data.BatchSampler``).

    Args:
        sampler: any iterable of indices (a Sampler, a list, a range).
        batch_size: indices per batch; the last batch may be shorter.
        drop_last: leave out a last batch shorter than ``batch_size``.

    Example:
        >>> list(BatchSampler(range(7), batch_size=3, drop_last=False))
        [[0, 1, 2], [3, 4, 5], [6]]

    Raises:
        TypeError, ValueError: for a ``batch_size`` that is not a positive integer.
        TypeError: for a ``drop_last`` that is not a bool.
    """

    def __init__(self, sampler: Sampler[int] | Sequence[int], batch_size: int, drop_last: bool):
        self.sampler = sampler
        self.batch_size = positive_int("BatchSampler", "batch_size", batch_size)
        if not isinstance(drop_last, bool):
            raise TypeError(f"BatchSampler: drop_last must be a bool, got {drop_last!r}")
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        """One pass: the sampler's indices, in its order, in consecutive lists of
        ``batch_size`` Python ints; a shorter last list is yielded unless ``drop_last``."""
        ### BEGIN SOLUTION hw2
        batch: list[int] = []
        for index in self.sampler:
            batch.append(int(index))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch
        ### END SOLUTION

    def __len__(self) -> int:
        """Batches per pass."""
        full, rest = divmod(len(self.sampler), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)


class DataLoader:
    """Batches of a Dataset as tuples of Tensors, each stacked along a new first axis
    (``torch.utils.data.DataLoader`` without workers).

    Args:
        dataset: the examples; ``dataset[i]`` is a tuple (or list) of fields, each an array or
            a number, or one bare array or number, which is one field: never split into rows
            (``fields(dataset[i])`` gives the tuple either way).
        batch_size: examples per batch (the last may be smaller unless ``drop_last``).
        shuffle: visit the examples in a new random order each epoch (a ``RandomSampler``).
        drop_last: skip a last batch smaller than ``batch_size``.
        seed: seeds the shuffling (``generator = np.random.default_rng(seed)``), so that the
            sequence of epochs is reproducible; None shuffles with needle's default generator
            (reset by ``needle.manual_seed``), as PyTorch's global generator.
        sampler: the order of the indices, instead of ``shuffle``: any iterable of indices
            with a ``len()`` (a Sampler, a list).
        batch_sampler: the batches' indices, one list per batch, instead of ``batch_size``,
            ``shuffle``, ``sampler`` and ``drop_last``.
        device: the needle device every batch's Tensors are placed on (default None: the
            ``default_device()`` at the time the batch is made), so a training loop need not
            move them; an example's fields are read and stacked on the host first.
        dtype: ``"float32"`` or ``"float64"``, the dtype of each floating-point field's Tensor
            (default None: the field's own); any other field (integer labels) is left to
            ``Tensor``'s own rule: kept on the NumPy backend, float32 on NDArray's, which holds
            floats only.

    ``self.batch_sampler`` is always set: the one given, or ``BatchSampler(sampler,
    batch_size, drop_last)`` over ``sampler``, a ``RandomSampler`` (with ``shuffle``) or a
    ``SequentialSampler``. ``self.generator`` is the shuffling's generator (None without a
    ``seed``); save ``generator.bit_generator.state`` to resume the same sequence of epochs
    (``needle.checkpoint`` does).

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
        ValueError: for ``sampler`` with ``shuffle``, or ``batch_sampler`` with any of
            ``batch_size`` (other than 1), ``shuffle``, ``sampler`` or ``drop_last``
            (PyTorch's messages).
        TypeError: for a ``seed`` that is not an integer, a ``device`` that is not a needle
            device, or a ``dtype`` that is not a floating-point dtype's name.
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None, *,
                 sampler: Sampler[int] | Sequence[int] | None = None,
                 batch_sampler: Sampler[list[int]] | Sequence[list[int]] | None = None,
                 device: Device | None = None, dtype: str | None = None):
        self.dataset = dataset
        self.batch_size = positive_int("DataLoader", "batch_size", batch_size)
        self.shuffle, self.drop_last = shuffle, drop_last
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None
                                          or drop_last):
            raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                             "batch_size, shuffle, sampler, and drop_last")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise TypeError(f"DataLoader: seed must be an integer or None, got {seed!r}")
        self.generator = None if seed is None else np.random.default_rng(seed)
        if batch_sampler is None:
            if sampler is None:
                sampler = (RandomSampler(dataset, generator=self.generator) if shuffle
                           else SequentialSampler(dataset))
            batch_sampler = BatchSampler(sampler, self.batch_size, drop_last)
        self.sampler, self.batch_sampler = sampler, batch_sampler
        if device is not None and not isinstance(device, Device):
            raise TypeError(f"DataLoader: device must be a needle device such as ndl.cpu() or None, "
                            f"got {device!r} ({type(device).__name__})")
        if dtype is not None and (not isinstance(dtype, str) or dtype not in _FLOAT_DTYPES):
            raise TypeError(f"DataLoader: dtype must be one of {sorted(_FLOAT_DTYPES)} or None, "
                            f"got {dtype!r}")
        self.device, self.dtype = device, dtype

    def __len__(self) -> int:
        """Batches per epoch: ``len(self.batch_sampler)``."""
        return len(self.batch_sampler)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        """One epoch of batches, as the class docstring describes.

        Each list of indices ``self.batch_sampler`` yields is one batch: a tuple with one
        Tensor per field (``fields(dataset[i])``), made by ``self.to_tensor`` from that field's
        values in the batch's examples, in the list's order, stacked with ``np.stack`` along a
        new first axis, so that it lies on ``self.device`` with the dtype ``self.dtype`` asks for.
        """
        ### BEGIN SOLUTION hw2
        for indices in self.batch_sampler:
            examples = [fields(self.dataset[int(i)]) for i in indices]
            yield tuple(self.to_tensor(np.stack([np.asarray(example[j]) for example in examples]))
                        for j in range(len(examples[0])))
        ### END SOLUTION

    def to_tensor(self, column: np.ndarray) -> Tensor:
        """One field of a batch, its examples stacked as a NumPy array of shape
        ``(N, *field_shape)`` (``N`` the batch's size), as a Tensor on ``self.device``; a floating-point field is cast
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
