"""hw5: Penn-Treebank-style text for language models: ``Dictionary``, ``Corpus``, ``batchify``
and ``get_batch`` (the layout of PyTorch's ``examples/word_language_model``).

A corpus folder holds three plain-text files, one sentence per line, named ``*train.txt``,
``*valid.txt`` and ``*test.txt`` (``ptb.train.txt`` for the Penn Treebank of Mikolov et al.,
``news.train.txt`` for the repository's sample). Each line's words are followed by ``<eos>``.
"""
from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np

from ...autograd import Tensor
from ...checks import positive_int

__all__ = ["Dictionary", "Corpus", "batchify", "get_batch"]


class Dictionary:
    """Word <-> id, ids given in order of first appearance.

    Attributes:
        word2idx: word -> id.
        idx2word: the words, by id.
    """

    def __init__(self):
        self.word2idx: dict[str, int] = {}
        self.idx2word: list[str] = []

    def add_word(self, word: str) -> int:
        """The id of ``word``, adding it with the next id when it is new."""
        # TODO (hw5, question 5): implement Dictionary.add_word (Data)
        raise NotImplementedError("Dictionary.add_word: hw5")

    def __len__(self) -> int:
        # TODO (hw5, question 5): implement Dictionary.__len__ (Data)
        raise NotImplementedError("Dictionary.__len__: hw5")


class Corpus:
    """The train, valid and test splits of a folder as int64 id arrays, with one ``Dictionary``.

    Args:
        base_dir: the folder holding ``*train.txt``, ``*valid.txt`` and ``*test.txt``.
        max_lines: read at most this many lines of each file (None: all).

    Raises:
        FileNotFoundError: if a split's file is missing or ambiguous.
    """

    def __init__(self, base_dir: str | Path, max_lines: int | None = None):
        self.dictionary = Dictionary()
        self.train = self.tokenize(_split_file(base_dir, "train"), max_lines)
        self.valid = self.tokenize(_split_file(base_dir, "valid"), max_lines)
        self.test = self.tokenize(_split_file(base_dir, "test"), max_lines)

    def tokenize(self, path: str | Path, max_lines: int | None = None) -> np.ndarray:
        """The ids of the words of the first ``max_lines`` lines of ``path``, each line followed by
        ``<eos>``, adding new words to the dictionary. Returns an int64 array ``(num_tokens,)``."""
        # TODO (hw5, question 5): implement Corpus.tokenize (Data)
        raise NotImplementedError("Corpus.tokenize: hw5")


def _split_file(base_dir: str | Path, split: str) -> Path:
    matches = sorted(Path(base_dir).glob(f"*{split}.txt"))
    if len(matches) != 1:
        found = [m.name for m in matches] or "none"
        raise FileNotFoundError(f"Corpus: expected one *{split}.txt file in {base_dir}, found {found}")
    return matches[0]


def batchify(data: np.ndarray, batch_size: int, device=None, dtype: str = "float32") -> np.ndarray:
    """Cut a token stream into ``batch_size`` equal columns: ``(num_tokens,)`` -> ``(num_tokens //
    batch_size, batch_size)``, column ``j`` holding the ``j``-th consecutive stretch (the tail that
    does not fill a row is dropped). ``device`` and ``dtype`` are accepted for CMU's signature;
    the result stays a NumPy array.

    Raises:
        TypeError, ValueError: for a ``batch_size`` that is not a positive integer; ValueError
            if there are fewer tokens than ``batch_size``.

    Example:
        >>> batchify(np.arange(7), 2).tolist()
        [[0, 3], [1, 4], [2, 5]]
    """
    positive_int("batchify", "batch_size", batch_size)
    if len(data) < batch_size:
        raise ValueError(f"batchify: cannot cut {len(data)} tokens into {batch_size} columns")
    # TODO (hw5, question 5): implement batchify (Data)
    raise NotImplementedError("batchify: hw5")


def get_batch(batches: np.ndarray, i: int, bptt: int, device=None,
              dtype: str = "float32") -> tuple[Tensor, Tensor]:
    """Rows ``i .. i + bptt - 1`` of ``batchify``'s output and the tokens that follow them.

    Returns:
        ``data`` ``(seq_len, batch_size)`` and ``target`` ``(seq_len * batch_size,)``, the next
        token of every entry of ``data`` flattened row by row, with ``seq_len = min(bptt,
        len(batches) - 1 - i)``; both Tensors of ``dtype`` on ``device``.

    Raises:
        TypeError, ValueError: for a ``bptt`` that is not a positive integer.
        IndexError: if ``i`` leaves no target (``i >= len(batches) - 1``).
    """
    positive_int("get_batch", "bptt", bptt)
    if isinstance(i, bool) or not isinstance(i, numbers.Integral):
        raise TypeError(f"get_batch: row i must be an integer, got {i!r}")
    if not 0 <= i < len(batches) - 1:
        raise IndexError(f"get_batch: row {i} has no next row in {len(batches)} rows")
    # TODO (hw5, question 5): implement get_batch (Data)
    raise NotImplementedError("get_batch: hw5")
