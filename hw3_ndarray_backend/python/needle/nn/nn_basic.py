"""hw2: neural network modules, as ``torch.nn``.

Shapes: ``(N, features)`` in and out unless a docstring says otherwise, ``N`` being the batch
size (the course's ``B``, ``docs/notation.md#examples-and-batches``): examples are rows.
``Linear`` keeps its weight as ``(in_features, out_features)`` (CMU needle's layout, so
``X @ W``); PyTorch stores the transpose.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any
from collections.abc import Iterator

import numpy as np

import needle.init as init
from needle import ops
from needle.autograd import Tensor
from needle.checks import integer_ids, positive_int

__all__ = ["Parameter", "Module", "Identity", "Linear", "Flatten", "ReLU", "Sequential",
           "SoftmaxLoss", "BatchNorm1d", "LayerNorm1d", "Dropout", "Residual"]


class Parameter(Tensor):
    """A Tensor that is a learnable parameter of a Module (``requires_grad`` defaults to True)."""

    def __init__(self, array, *, device=None, dtype=None, requires_grad: bool = True):
        super().__init__(array, device=device, dtype=dtype, requires_grad=requires_grad)


def _walk(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """(dotted name, leaf) for Modules and Tensors inside attributes, lists, tuples and dicts."""
    if isinstance(value, (Module, Tensor)):
        yield prefix, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{prefix}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk(item, f"{prefix}.{i}")


class Module:
    """Base class of every layer and model, as ``torch.nn.Module``.

    Sub-modules and Parameters are found in attributes (also inside lists, tuples and dicts);
    non-learnable state (running statistics) is registered with ``register_buffer``.
    ``training`` is True after construction; ``train()`` and ``eval()`` set it recursively.
    """

    def __init__(self):
        self.training = True
        self._buffers: list[str] = []  # names of attributes holding non-learnable state

    def register_buffer(self, name: str, value: Tensor) -> None:
        """Keep ``value`` as state that ``state_dict`` saves but the optimiser does not train."""
        if "_buffers" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before register_buffer")
        self._buffers.append(name)
        setattr(self, name, value)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, value in vars(self).items():
            for child_name, leaf in _walk(value, name):
                if isinstance(leaf, Module):
                    yield child_name, leaf

    def children(self) -> list[Module]:
        """The direct sub-modules, in attribute order."""
        return [child for _, child in self.named_children()]

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) for every parameter of this module and its sub-modules."""
        for name, value in vars(self).items():
            for leaf_name, leaf in _walk(value, name):
                if isinstance(leaf, Parameter):
                    yield prefix + leaf_name, leaf
                elif isinstance(leaf, Module):
                    yield from leaf.named_parameters(prefix + leaf_name + ".")

    def parameters(self) -> list[Parameter]:
        """Every Parameter, each once, in a fixed order."""
        seen, params = set(), []
        for _, param in self.named_parameters():
            if id(param) not in seen:
                seen.add(id(param))
                params.append(param)
        return params

    def modules(self) -> list[Module]:
        """This module and every sub-module, depth first."""
        return [self] + [m for child in self.children() for m in child.modules()]

    def train(self, mode: bool = True) -> Module:
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    def named_state(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """(dotted name, Tensor) for every parameter, then every buffer (the Tensor bound now)."""
        yield from self.named_parameters(prefix)
        for name, module in [("", self)] + [(n + ".", m) for n, m in self._named_modules()]:
            for buffer in module._buffers:
                yield prefix + name + buffer, getattr(module, buffer)

    def state_dict(self, prefix: str = "") -> OrderedDict[str, np.ndarray]:
        """Parameters and buffers by dotted name, as NumPy copies (``np.savez`` can save it)."""
        return OrderedDict((name, tensor.numpy().copy()) for name, tensor in self.named_state(prefix))

    def _named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        for name, child in self.named_children():
            yield prefix + name, child
            yield from child._named_modules(prefix + name + ".")

    def load_state_dict(self, state: dict[str, np.ndarray], strict: bool = True) -> None:
        """Copy values from ``state`` into the parameters and buffers.

        Raises:
            KeyError: with ``strict``, naming missing and unexpected keys.
            ValueError: naming a key whose shape differs.
        """
        targets = dict(self.named_state())
        missing, unexpected = sorted(set(targets) - set(state)), sorted(set(state) - set(targets))
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        for name, value in state.items():
            if name not in targets:
                continue
            value = np.asarray(value)
            if tuple(value.shape) != targets[name].shape:
                raise ValueError(f"load_state_dict: {name} has shape {tuple(value.shape)}, "
                                 f"expected {targets[name].shape}")
            targets[name].data = Tensor(value.astype(targets[name].dtype), device=targets[name].device)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _name(self) -> str:
        """The module as errors name it: its class and size, ``LayerNorm1d(dim=4)``."""
        size = next((f"{key}={vars(self)[key]}" for key in ("dim", "in_features", "input_size",
                                                             "num_embeddings", "in_channels",
                                                             "q_features", "embedding_size")
                     if key in vars(self)), "")
        return f"{type(self).__name__}({size})"

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}.forward")


class Identity(Module):
    """Returns its input."""

    def forward(self, x: Tensor) -> Tensor:
        return x


class Linear(Module):
    """``X W + b``, the bias row added to every row: ``X`` ``(N, in_features)`` ->
    ``(N, out_features)``.

    ``weight`` ``(in_features, out_features)`` is Kaiming-uniform initialised with fan_in =
    in_features; ``bias`` ``(out_features,)`` is U(-1/sqrt(in_features), 1/sqrt(in_features)),
    as ``torch.nn.Linear``.

    Raises:
        TypeError, ValueError: for a size that is not a positive integer, naming it.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype: str = "float32"):
        super().__init__()
        self.in_features = positive_int("Linear", "in_features", in_features)
        self.out_features = positive_int("Linear", "out_features", out_features)
        # TODO (hw2, question 3): implement Linear.__init__ (Modules)
        raise NotImplementedError("Linear.__init__: hw2")

    def forward(self, X: Tensor) -> Tensor:
        # TODO (hw2, question 3): implement Linear.forward (Modules)
        raise NotImplementedError("Linear.forward: hw2")


class Flatten(Module):
    """``(N, d1, d2, ...)`` -> ``(N, d1 * d2 * ...)``."""

    def forward(self, X: Tensor) -> Tensor:
        # TODO (hw2, question 3): implement Flatten.forward (Modules)
        raise NotImplementedError("Flatten.forward: hw2")


class ReLU(Module):
    """``max(x, 0)`` elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        # TODO (hw2, question 3): implement ReLU.forward (Modules)
        raise NotImplementedError("ReLU.forward: hw2")


class Sequential(Module):
    """Applies ``modules`` in order."""

    def __init__(self, *modules: Module):
        super().__init__()
        self.modules_ = list(modules)

    def forward(self, x: Tensor) -> Tensor:
        # TODO (hw2, question 3): implement Sequential.forward (Modules)
        raise NotImplementedError("Sequential.forward: hw2")


class SoftmaxLoss(Module):
    """Mean cross-entropy of logits ``(N, k)`` against integer labels ``y`` ``(N,)``:
    ``mean_i logsumexp(logits_i) - logits_i[y_i]`` (``torch.nn.CrossEntropyLoss``).

    Raises:
        ValueError: for logits that are not 2-d, labels not of shape ``(N,)``, or a label that
            is fractional, NaN or outside ``0..k-1``, naming it.
    """

    def forward(self, logits: Tensor, y: Tensor) -> Tensor:
        if logits.ndim != 2:
            raise ValueError(f"SoftmaxLoss: expected logits (N, k), got shape {logits.shape}")
        y_shape = tuple(y.shape) if isinstance(y, Tensor) else np.shape(y)  # (or a list, an array)
        if y_shape != logits.shape[:1]:
            raise ValueError(f"SoftmaxLoss: expected labels of shape {logits.shape[:1]} for "
                             f"logits {logits.shape}, got {y_shape}")
        integer_ids("SoftmaxLoss", "label", y, logits.shape[1])
        # TODO (hw2, question 3): implement SoftmaxLoss.forward (Modules)
        raise NotImplementedError("SoftmaxLoss.forward: hw2")


class BatchNorm1d(Module):
    """Batch normalisation over ``(N, dim)`` (Ioffe & Szegedy, ICML 2015), as ``torch.nn.BatchNorm1d``.

    Each feature ``j`` (column) is normalised over the batch (the rows):
    ``weight[j] * (x[:, j] - mean[j]) / sqrt(var[j] + eps) + bias[j]``.

    Training: normalise with the batch mean and biased variance, and update the running
    statistics as ``running = (1 - momentum) * running + momentum * batch`` (the running
    variance from the unbiased batch variance, as PyTorch). Evaluation: use the running ones.
    The running statistics are constants (``op`` None, no graph behind them), so that a
    training step leaves no graph alive once its loss is gone.

    Raises:
        TypeError, ValueError: for a ``dim`` that is not a positive integer; in ``forward``,
            ValueError for input that is not ``(N, dim)``, or a batch of fewer than 2 examples
            in training (no variance to take, as PyTorch).
    """

    running_mean: Tensor  # buffers: saved in state_dict, never trained
    running_var: Tensor

    def __init__(self, dim: int, eps: float = 1e-5, momentum: float = 0.1, device=None,
                 dtype: str = "float32"):
        super().__init__()
        self.dim = positive_int(type(self).__name__, "dim", dim)
        self.eps, self.momentum = eps, momentum
        self.weight = Parameter(init.ones(dim, device=device, dtype=dtype))
        self.bias = Parameter(init.zeros(dim, device=device, dtype=dtype))
        self.register_buffer("running_mean", init.zeros(dim, device=device, dtype=dtype))
        self.register_buffer("running_var", init.ones(dim, device=device, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        _check_features(self, x)
        _check_batch_statistics(self, x, x.shape[0])
        # TODO (hw2, question 3): implement BatchNorm1d.forward (Modules)
        raise NotImplementedError("BatchNorm1d.forward: hw2")


class LayerNorm1d(Module):
    """Layer normalisation over the last axis of ``(N, dim)`` (Ba et al., 2016), as
    ``torch.nn.LayerNorm(dim)``: each example ``i`` (row) is normalised over its features,
    ``weight * (x[i] - mean_i) / sqrt(var_i + eps) + bias``, with the biased variance;
    learnable ``weight`` and ``bias`` ``(dim,)``, no running statistics.

    Raises:
        TypeError, ValueError: for a ``dim`` that is not a positive integer; in ``forward``,
            ValueError for input that is not ``(N, dim)``.
    """

    def __init__(self, dim: int, eps: float = 1e-5, device=None, dtype: str = "float32"):
        super().__init__()
        self.dim, self.eps = positive_int("LayerNorm1d", "dim", dim), eps
        self.weight = Parameter(init.ones(dim, device=device, dtype=dtype))
        self.bias = Parameter(init.zeros(dim, device=device, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        _check_features(self, x)
        # TODO (hw2, question 3): implement LayerNorm1d.forward (Modules)
        raise NotImplementedError("LayerNorm1d.forward: hw2")


def _check_batch_statistics(module: Module, x: Tensor, values_per_channel: int) -> None:
    """Raise ValueError, naming ``module``, if ``module`` is training on fewer than 2 values
    per channel: an empty batch has no mean, and one value has no variance (PyTorch raises
    "Expected more than 1 value per channel when training" for the same input)."""
    if module.training and values_per_channel < 2:
        raise ValueError(f"{module._name()} got input {x.shape} in training: expected more than "
                         f"1 value per channel, got {values_per_channel}")


def _check_features(module: BatchNorm1d | LayerNorm1d, x: Tensor) -> None:
    """Raise ValueError, naming ``module``, unless ``x`` is ``(N, module.dim)``."""
    if x.ndim != 2:
        raise ValueError(f"{module._name()} expected input (N, {module.dim}), got shape {x.shape}")
    if x.shape[1] != module.dim:
        raise ValueError(f"{module._name()} got features of size {x.shape[1]} (input {x.shape})")


class Dropout(Module):
    """In training, zero each entry with probability ``p`` and scale the rest by ``1 / (1 - p)``
    (inverted dropout; Srivastava et al., JMLR 2014): ``x * mask / (1 - p)`` with each entry of
    ``mask`` 1 with probability ``1 - p`` (``init.randb``), so that the expected output is
    ``x``; the identity in evaluation."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        # TODO (hw2, question 3): implement Dropout.forward (Modules)
        raise NotImplementedError("Dropout.forward: hw2")


class Residual(Module):
    """``fn(x) + x`` (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016):
    the adjoint of ``x`` is ``fn``'s plus the output's own, passed down the identity."""

    def __init__(self, fn: Module):
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        # TODO (hw2, question 3): implement Residual.forward (Modules)
        raise NotImplementedError("Residual.forward: hw2")
