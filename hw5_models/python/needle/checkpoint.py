"""hw2: one checkpoint file for a training run: model, optimiser, scheduler, epoch and the
random generators' states, so that a run stopped after epoch ``k`` and resumed from its
checkpoint continues exactly as if it had never stopped (bitwise, on the same backend).

The file is a NumPy ``.npz`` archive read with ``allow_pickle=False``: each array of the
nested state is one entry, and everything else (numbers, strings, the tree's shape) is one
JSON document in the entry ``"meta"``. Nothing in it is ever unpickled, so a checkpoint from
someone else cannot run code when loaded. (``torch.save`` pickles; this follows the spirit
of ``torch.load(weights_only=True)`` and safetensors.)

What it saves: ``model.state_dict()`` (parameters and buffers), ``optimizer.state_dict()``,
``scheduler.state_dict()``, the ``epoch`` number, the state of needle's default generator
(``needle.init.default_generator()``: initialisers, Dropout, an unseeded shuffle) and, with
a ``dataloader``, the state of its shuffling generator (its ``seed``'s, or that of the
``RandomSampler`` it was given). A transform's own generator (such as ``RandomCrop(seed=...)``)
is not saved: a resumed run with random augmentation draws other crops. Loading restores the
default generator only when asked (``restore_rng=True``, as a resumed training run wants):
loading weights to evaluate them leaves needle's random state alone, as ``torch.load`` does.

Example:
    >>> import tempfile, os, needle as ndl
    >>> model = ndl.nn.Linear(2, 1)
    >>> opt = ndl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    >>> path = os.path.join(tempfile.mkdtemp(), "run.npz")
    >>> save_checkpoint(path, model=model, optimizer=opt, epoch=3)
    >>> load_checkpoint(path, model=ndl.nn.Linear(2, 1),
    ...                 optimizer=ndl.optim.SGD(model.parameters(), lr=1.0), restore_rng=True)
    3
"""
from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .data import DataLoader
from .init import default_generator
from .nn import Module
from .optim import LRScheduler, Optimizer

__all__ = ["save_checkpoint", "load_checkpoint"]

_FORMAT = "needle-checkpoint-1"
_ARRAY = "__array__"  # a JSON leaf {"__array__": name} stands for the archive's entry ``name``


def save_checkpoint(path: str | os.PathLike, *, model: Module | None = None,
                    optimizer: Optimizer | None = None, scheduler: LRScheduler | None = None,
                    epoch: int = 0, dataloader: DataLoader | None = None) -> None:
    """Write a checkpoint to ``path`` (``np.savez``'s rules: ``.npz`` is appended if missing).

    Args:
        model, optimizer, scheduler: saved through their ``state_dict()``; any may be None.
        epoch: the number of epochs done, returned by ``load_checkpoint``.
        dataloader: a loader whose shuffling generator (``dataloader.generator``, set by its
            ``seed``) is saved, so the resumed epochs visit the examples in the same orders.

    Raises:
        TypeError: for an argument of the wrong type, or a state holding something that is
            neither an array nor JSON-ready (a number, a string, a list or dict of them).
    """
    _check(model, Module, "model")
    _check(optimizer, Optimizer, "optimizer")
    _check(scheduler, LRScheduler, "scheduler")
    _check(dataloader, DataLoader, "dataloader")
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
        raise TypeError(f"save_checkpoint: epoch must be an int, got {epoch!r}")
    generator = _shuffle_generator(dataloader) if dataloader is not None else None
    tree = {
        "format": _FORMAT, "epoch": int(epoch),
        "model": None if model is None else dict(model.state_dict()),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "default_generator": default_generator().bit_generator.state,
        "dataloader_generator": None if generator is None else generator.bit_generator.state,
    }
    arrays: dict[str, Any] = {}  # entry name -> array (Any: savez's stub types its keywords loosely)
    meta = json.dumps(_split(tree, arrays, "state"))
    arrays["meta"] = np.array(meta)
    np.savez(path, **arrays)  # no object arrays (``_split`` refuses them), so nothing is pickled


def load_checkpoint(path: str | os.PathLike, model: Module | None = None,
                    optimizer: Optimizer | None = None, scheduler: LRScheduler | None = None,
                    dataloader: DataLoader | None = None, *, restore_rng: bool = False) -> int:
    """Restore what ``save_checkpoint`` wrote into freshly built objects of the same kinds
    and shapes; returns the saved ``epoch``.

    Each object given is restored by its ``load_state_dict``; an object not given is left
    alone. Restores the optimiser after the scheduler, so that the optimiser's saved ``lr``
    is the one in force. With ``restore_rng``, also needle's default generator (Dropout, the
    initialisers, unseeded shuffles): what an exact resume of a training run needs.

    Raises:
        ValueError: if the file is not a needle checkpoint (no ``meta`` entry, another format,
            a state tree without the entries ``save_checkpoint`` writes), or lacks the state of
            an object given (the message names it); the objects' own ``load_state_dict``
            errors for mismatched names, counts, shapes or values.
    """
    with np.load(path, allow_pickle=False) as archive:
        if "meta" not in archive.files:
            raise ValueError(f"load_checkpoint: {os.fspath(path)!r} is not a needle checkpoint "
                             f"(no 'meta' entry)")
        tree = _join(json.loads(str(archive["meta"])), archive)
    if not isinstance(tree, dict) or tree.get("format") != _FORMAT:
        found = tree.get("format") if isinstance(tree, dict) else type(tree).__name__
        raise ValueError(f"load_checkpoint: {os.fspath(path)!r} has format {found!r}, "
                         f"expected {_FORMAT!r}")
    missing = sorted(_ENTRIES - set(tree))
    if missing or isinstance(tree["epoch"], bool) or not isinstance(tree["epoch"], int):
        raise ValueError(f"load_checkpoint: {os.fspath(path)!r} is a damaged checkpoint: "
                         + (f"no {missing}" if missing else f"epoch {tree['epoch']!r}"))
    for name, target in (("model", model), ("scheduler", scheduler), ("optimizer", optimizer)):
        if target is None:
            continue
        if tree[name] is None:
            raise ValueError(f"load_checkpoint: the checkpoint holds no {name} state")
        target.load_state_dict(tree[name])
    if restore_rng:
        _restore(default_generator(), tree["default_generator"], "needle's default generator")
    if dataloader is not None:
        saved, generator = tree["dataloader_generator"], _shuffle_generator(dataloader)
        if (saved is None) != (generator is None):
            raise ValueError("load_checkpoint: the checkpoint's dataloader "
                             f"{'had no' if saved is None else 'had a'} seeded generator, this one "
                             f"{'has' if generator is not None else 'has none'}")
        if generator is not None:
            _restore(generator, saved, "the dataloader's generator")
    return tree["epoch"]


_ENTRIES = {"format", "epoch", "model", "optimizer", "scheduler", "default_generator",
            "dataloader_generator"}


def _shuffle_generator(dataloader: DataLoader) -> np.random.Generator | None:
    """The generator a loader shuffles with: its ``seed``'s, or that of the ``RandomSampler``
    it was given (directly or inside a ``BatchSampler``); None if it draws from needle's
    default generator or does not shuffle."""
    if dataloader.generator is not None:
        return dataloader.generator
    sampler = getattr(dataloader.batch_sampler, "sampler", dataloader.sampler)
    generator = getattr(sampler, "generator", None)
    return generator if isinstance(generator, np.random.Generator) else None


def _restore(generator: np.random.Generator, state: Any, name: str) -> None:
    """Set ``generator``'s state, a ValueError naming ``name`` if the saved one does not fit."""
    try:
        generator.bit_generator.state = state
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(f"load_checkpoint: the saved state of {name} does not fit it: "
                         f"{error}") from None


def _check(value: object, kind: type, name: str) -> None:
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"save_checkpoint: {name} must be a {kind.__name__} or None, "
                        f"got {type(value).__name__}")


def _split(node: Any, arrays: dict[str, np.ndarray], key: str) -> Any:
    """``node`` as JSON-ready data, its arrays moved into ``arrays`` under path-like names."""
    if isinstance(node, np.ndarray):
        if node.dtype.hasobject:
            raise TypeError(f"save_checkpoint: {key} is an array of Python objects")
        arrays[key] = node
        return {_ARRAY: key}
    if isinstance(node, dict):
        return {str(k): _split(v, arrays, f"{key}/{k}") for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_split(v, arrays, f"{key}/{i}") for i, v in enumerate(node)]
    if isinstance(node, np.generic):
        return node.item()
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    raise TypeError(f"save_checkpoint: {key} is a {type(node).__name__}, which a checkpoint "
                    f"cannot hold (arrays, numbers, strings, lists and dicts only)")


def _join(node: Any, archive: Any) -> Any:
    """Undo ``_split``: put the archive's arrays back in place of their references."""
    if isinstance(node, dict):
        if set(node) == {_ARRAY}:
            return archive[node[_ARRAY]]
        return {k: _join(v, archive) for k, v in node.items()}
    if isinstance(node, list):
        return [_join(v, archive) for v in node]
    return node
