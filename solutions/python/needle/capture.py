"""A captured training step (given code): record one step's kernel calls, replay them without Python.

An eager step spends most of a small model's time in Python: each op builds a Tensor, checks
shapes, picks a kernel and allocates its output, forward and backward, for every layer and every
parameter the optimizer updates. The kernels it ends up calling, and the buffers they read and
write, are the same at every step of a fixed-shape training loop. ``capture(step, state=...)``
records that sequence and replays it: one Python loop over ``(kernel, arguments)`` pairs, with
the same buffers every time (so no allocation either). This is what ``jax.jit`` does by tracing
(Frostig, Johnson & Leary, "Compiling machine learning programs via high-level tracing", SysML
2018), and tinygrad's ``TinyJit`` and CUDA Graphs by recording kernel launches; here it is done
at the narrowest point of needle, the backend modules' functions.

How a call goes, for each signature of the arguments (their shapes, dtypes and devices):

1. The first call runs ``step`` eagerly: a warm-up, since a first step often makes state that
   later steps only update (SGD's momentum buffers, Adam's moments).
2. The second and third calls run it eagerly too, recording its kernel calls, and compare the
   two recordings. Anything that differs between them other than buffers (a number computed
   in Python, such as Adam's bias correction ``1 - beta^t``; a host array, such as a dropout
   mask or labels turned into indices with NumPy; a different sequence of kernels) means that
   the step is not the same computation every time, and it stays eager (``reason`` says why,
   and a warning says so once). Otherwise the third call's recording is kept.
3. Later calls copy the new arguments into the recorded input buffers and the current state
   (parameters, optimizer and module buffers reachable from ``state``) into the buffers the
   recording read it from, replay the kernels, and point the state at the buffers the recording
   left it in.

The replay returns what ``step`` returned (Tensors, or a tuple or list of them) as constant
Tensors over the recorded output buffers: their values are overwritten by the next call, as
CUDA Graphs' outputs are, so read them (``.numpy()``) before calling again.

A host array that a kernel takes and that holds one of the arguments' values (an embedding's
ids, read to the host with ``.numpy()`` and passed to ``take_rows``) is recognised as such in
both recordings, and a replay passes the new argument's values there (checked to be whole
numbers where the kernel takes integers; the kernels check their range).

What a captured step cannot see: Python that reads array values (``.numpy()``) to decide what
to do is not run again, so a step whose kernels depend on such a decision must not be captured
(the two recordings catch it only when it differs between the first two calls); and the state
it updates must be reachable from ``state`` (modules, optimizers, Tensors, and the dicts and
lists they hold). The recording keeps the buffers the step used alive, sharing one buffer
between arrays whose lives do not overlap (``_share_buffers``), so a captured step holds
about its peak memory between calls, as the eager step does only while it runs. ``make
bench``'s MLP and LSTM rows report both a captured and an eager step.

Example::

    model, opt, loss_fn = ...

    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step = ndl.capture(train_step, state=(model, opt))
    for x, y in batches:          # Tensors of the same shapes each time
        loss = step(x, y)
"""
from __future__ import annotations

import math
import types
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .autograd import Tensor
from .backend_ndarray.devices import BackendDevice, all_devices
from .backend_ndarray.ndarray import NDArray
from .nn import Module
from .optim import Optimizer

__all__ = ["capture", "CapturedStep"]

# Kernels whose calls a replay leaves out: reads to the host, whose results only Python used.
_HOST_READS = frozenset({"to_numpy"})


class _Call:
    """One recorded kernel call: the backend's function, its arguments and what it returned."""

    __slots__ = ("args", "fn", "name", "result")

    def __init__(self, name: str, fn: Callable[..., Any], args: tuple[Any, ...], result: Any):
        self.name, self.fn, self.args, self.result = name, fn, args, result


class _Recorder:
    """Stands in for a backend module while a step is recorded: each function call is appended
    to ``calls`` (and run); each buffer made (``Array``) is appended to ``made``."""

    def __init__(self, mod: Any, calls: list[_Call], made: list[Any]):
        self._mod, self._calls, self._made = mod, calls, made

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._mod, name)
        if name == "Array":
            made = self._made

            def make(*args: Any) -> Any:
                made.append(attr(*args))
                return made[-1]
            return make
        if isinstance(attr, type) or not callable(attr):
            return attr
        calls = self._calls

        def call(*args: Any) -> Any:
            result = attr(*args)
            calls.append(_Call(name, attr, args, result))
            return result
        setattr(self, name, call)  # found directly from now on
        return call


def _devices() -> list[BackendDevice]:
    return [d for d in all_devices() if isinstance(d, BackendDevice) and d.enabled()]


@contextmanager
def _recording(calls: list[_Call], made: list[Any] | None = None) -> Iterator[None]:
    """Inside the block, every kernel call on every needle device is appended to ``calls``, and
    every buffer made to ``made``.

    A device caches the kernels it has looked up as its own attributes (``BackendDevice``'s
    ``__getattr__``), so those are set aside for the block and restored after it."""
    saved = []
    made = [] if made is None else made
    for device in _devices():
        attributes = dict(vars(device))
        saved.append((device, attributes))
        vars(device).clear()
        vars(device).update(name=attributes["name"], mod=_Recorder(attributes["mod"], calls, made),
                            _missing=attributes.get("_missing"))
    try:
        yield
    finally:
        for device, attributes in saved:
            vars(device).clear()
            vars(device).update(attributes)


def _is_buffer(value: Any) -> bool:
    """Whether ``value`` is a backend buffer (an ``Array`` of some backend module), or stands
    for one in a recording kept only for comparison (``_BUFFER``)."""
    return value is _BUFFER or type(value).__name__ == "Array"


_BUFFER = object()  # a buffer, in the first recording (which does not keep them alive)


def _same(a: Any, b: Any) -> bool:
    """Whether two recorded arguments (or results) agree: buffers always do (the replay brings
    its own), numbers, tuples and host arrays must be equal (NaN equal to NaN)."""
    if _is_buffer(a) and _is_buffer(b):
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f")))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _difference(first: list[_Call], second: list[_Call]) -> str | None:
    """Why two recordings of one step are not the same computation, or None if they are."""
    for i, (a, b) in enumerate(zip(first, second, strict=False)):  # (lengths compared below)
        if a.name != b.name:
            return f"kernel call {i} was {a.name} at the first step and {b.name} at the second"
        if len(a.args) != len(b.args):
            return f"kernel call {i} ({a.name}) took {len(a.args)} arguments, then {len(b.args)}"
        for j, (x, y) in enumerate(zip(a.args, b.args, strict=True)):
            if not _same(x, y):
                return (f"kernel call {i} ({a.name}): argument {j} was {_show(x)} at the first "
                        f"step and {_show(y)} at the second (a value computed in Python or NumPy "
                        f"from the step's data or its count, which a replay would freeze)")
        if a.name not in _HOST_READS and not _same(a.result, b.result):
            return f"kernel call {i} ({a.name}) returned {_show(a.result)}, then {_show(b.result)}"
    if len(first) != len(second):
        return f"the step made {len(first)} kernel calls at the first step, {len(second)} at the second"
    return None


def _show(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"a host array of shape {value.shape}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _FromInput:
    """Stands, in a recording, for a host array argument that held argument ``index``'s values
    (an embedding's ids, read to the host with ``.numpy()``): a replay passes the new
    argument's values there, as ``dtype`` and ``shape``."""

    __slots__ = ("dtype", "index", "shape")

    def __init__(self, index: int, dtype: np.dtype, shape: tuple[int, ...]):
        self.index, self.dtype, self.shape = index, dtype, shape

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _FromInput) and (self.index, self.dtype, self.shape) == \
            (other.index, other.dtype, other.shape)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"argument {self.index}'s values"


def _mark_inputs(calls: list[_Call], hosts: list[np.ndarray]) -> None:
    """Replace each host array argument of ``calls`` that holds the values of one of the
    step's arguments (``hosts``, their values on the host) by a ``_FromInput``."""
    for call in calls:
        if not any(isinstance(x, np.ndarray) for x in call.args):
            continue
        args = list(call.args)
        for j, x in enumerate(args):
            if not isinstance(x, np.ndarray):
                continue
            for k, host in enumerate(hosts):
                if host.size == x.size and host.size and np.array_equal(
                        x.ravel(), host.ravel().astype(x.dtype, copy=False)):
                    args[j] = _FromInput(k, x.dtype, x.shape)
                    break
        call.args = tuple(args)


def _share_buffers(calls: list[_Call], made: list[Any], keep: set[int]) -> int:
    """Let the buffers made during a recording share memory where their lives do not overlap:
    each buffer's life runs from the first call that names it to the last; when one begins, it
    takes a buffer of the same size and dtype whose life has ended (a greedy first fit by call
    order, as PyTorch's caching allocator and XLA's buffer assignment reuse memory), and
    ``calls`` are rewritten to use it. A buffer ends after its last call, so no kernel gets the
    same buffer as an input and its output. Buffers in ``keep`` (ids: the step's outputs, and
    the state it leaves behind) are never shared. Returns the bytes saved."""
    fresh = {id(h): h for h in made if id(h) not in keep}
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for i, call in enumerate(calls):
        for x in call.args:
            if id(x) in fresh:
                first.setdefault(id(x), i)
                last[id(x)] = i
    starts: dict[int, list[int]] = {}
    ends: dict[int, list[int]] = {}
    for h, i in first.items():
        starts.setdefault(i, []).append(h)
    for h, i in last.items():
        ends.setdefault(i, []).append(h)
    free: dict[tuple[int, str], list[Any]] = {}
    use: dict[int, Any] = {}  # id of a recorded buffer -> the buffer it uses
    saved = 0
    for i, call in enumerate(calls):
        for h in starts.get(i, ()):
            buffer = fresh[h]
            pool = free.get((buffer.size, str(buffer.dtype)))
            if pool:
                use[h] = pool.pop()
                saved += buffer.size * np.dtype(str(buffer.dtype)).itemsize
        if any(id(x) in use for x in call.args):
            call.args = tuple(use.get(id(x), x) for x in call.args)
        for h in ends.get(i, ()):
            buffer = use.get(h, fresh[h])
            free.setdefault((buffer.size, str(buffer.dtype)), []).append(buffer)
    return saved


# ---- the state a step updates ------------------------------------------------------------------

def _state_slots(roots: tuple[Any, ...]) -> dict[tuple[int, Any], tuple[Any, Any]]:
    """Every place under ``roots`` that holds a Tensor or NDArray (or None, for a Tensor's
    ``grad``): ``{(id(container), key): (container, key)}``. Containers are Modules, Optimizers
    (any object with a ``__dict__``, reached from a root), Tensors (their ``cached_data`` and
    ``grad``), dicts and lists."""
    slots: dict[tuple[int, Any], tuple[Any, Any]] = {}
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (NDArray, np.ndarray, str, bytes, int, float, type,
                                               types.ModuleType, types.FunctionType)):
            continue
        seen.add(id(obj))
        if isinstance(obj, Tensor):
            for key in ("cached_data", "grad"):
                slots[(id(obj), key)] = (obj, key)
            if obj.grad is not None:
                stack.append(obj.grad)
            continue
        if isinstance(obj, dict):
            items: Any = obj.items()
        elif isinstance(obj, list):
            items = enumerate(obj)
        elif isinstance(obj, tuple):
            stack.extend(obj)
            continue
        elif isinstance(obj, (Module, Optimizer)) or (hasattr(obj, "__dict__") and not callable(obj)):
            # Modules are callable (``__call__`` runs ``forward``) but hold state; other
            # callables (functions, methods, classes) are code, not state.
            items = vars(obj).items()
        else:
            continue
        for key, value in items:
            if isinstance(value, (Tensor, NDArray)):
                slots[(id(obj), key)] = (obj, key)
            if not isinstance(value, NDArray):
                stack.append(value)
    return slots


def _get(container: Any, key: Any) -> Any:
    return container[key] if isinstance(container, (dict, list)) else getattr(container, key)


def _set(container: Any, key: Any, value: Any) -> None:
    if isinstance(container, (dict, list)):
        container[key] = value
    else:
        object.__setattr__(container, key, value)


def _array(value: Any) -> NDArray | None:
    """The NDArray a slot's value holds (a Tensor's data, or the NDArray itself), or None."""
    if isinstance(value, Tensor):
        return value.cached_data
    return value if isinstance(value, NDArray) else None


# ---- the captured step -------------------------------------------------------------------------

class _Replay:
    """One signature's recorded step: the kernel calls, and the buffers to fill and to hand back."""

    def __init__(self, calls: list[_Call], inputs: list[NDArray],
                 state_in: list[tuple[Any, Any, NDArray]],
                 state_out: list[tuple[Any, Any, Any]], outputs: Any):
        self.calls = [(c.fn, c.args) for c in calls if c.name not in _HOST_READS]
        self.inputs, self.state_in, self.state_out, self.outputs = inputs, state_in, state_out, outputs
        # (call, argument, _FromInput): host arrays a replay fills with the new arguments' values
        self.from_inputs = [(i, j, x) for i, (_, args) in enumerate(self.calls)
                            for j, x in enumerate(args) if isinstance(x, _FromInput)]

    def __call__(self, tensors: list[Tensor]) -> Any:
        hosts: dict[int, np.ndarray] = {}
        for i, j, marker in self.from_inputs:
            if marker.index not in hosts:
                hosts[marker.index] = tensors[marker.index].numpy()
            values = hosts[marker.index].reshape(marker.shape)
            cast = np.ascontiguousarray(values, dtype=marker.dtype)
            if cast.dtype.kind in "iu" and not np.array_equal(cast, values):
                bad = values.ravel()[np.flatnonzero(cast.ravel() != values.ravel())[0]]
                raise ValueError(f"capture: argument {marker.index} holds {bad.item()!r}, where the step "
                                 f"reads whole numbers (ids or labels)")
            fn, args = self.calls[i]
            self.calls[i] = (fn, (*args[:j], cast, *args[j + 1:]))
        for tensor, recorded in zip(tensors, self.inputs, strict=True):
            if tensor.cached_data._handle is not recorded._handle:
                tensor.cached_data._compact_into(recorded)
        for container, key, recorded in self.state_in:
            data = _array(_get(container, key))
            if data is None:
                raise RuntimeError(f"capture: the state the step read at {_where(container, key)} "
                                   f"is gone (None now); capture the step again")
            if data._handle is not recorded._handle or data.strides != recorded.strides \
                    or data._offset != recorded._offset:
                if data.shape != recorded.shape:
                    raise RuntimeError(f"capture: the state at {_where(container, key)} has shape "
                                       f"{data.shape} now, {recorded.shape} when recorded")
                data._compact_into(recorded)
        for fn, args in self.calls:
            fn(*args)
        for container, key, value in self.state_out:
            _set(container, key, value)
        return _constants(self.outputs)


def _where(container: Any, key: Any) -> str:
    return f"{type(container).__name__}[{key!r}]" if isinstance(container, (dict, list)) \
        else f"{type(container).__name__}.{key}"


def _constants(outputs: Any) -> Any:
    """``outputs`` (a Tensor, or a tuple or list of them, or None) as new constant Tensors over
    the same arrays."""
    if outputs is None:
        return None
    if isinstance(outputs, Tensor):
        return Tensor.make_const(outputs.cached_data)
    return type(outputs)(_constants(o) for o in outputs)


def _check_outputs(outputs: Any) -> None:
    if outputs is None or isinstance(outputs, Tensor):
        return
    if isinstance(outputs, (tuple, list)) and all(isinstance(o, Tensor) for o in outputs):
        return
    raise TypeError(f"capture: the step must return None, a Tensor, or a tuple or list of "
                    f"Tensors (a replay returns arrays, not Python values); it returned "
                    f"{type(outputs).__name__}")


class CapturedStep:
    """``step`` (a function of Tensors) recorded and replayed without Python; see the module
    docstring. Made by ``capture``.

    Attributes:
        replayed: how many calls were replays (not eager runs).
        reason: why the step stays eager, for the last signature refused (None if none was).
        shared_bytes: the memory the recordings saved by letting buffers whose lives do not
            overlap share it (``_share_buffers``), in bytes.
    """

    def __init__(self, step: Callable[..., Any], state: tuple[Any, ...]):
        self.step, self.state = step, state
        self._warm: set[tuple[Any, ...]] = set()
        self._first: dict[tuple[Any, ...], list[_Call]] = {}
        self._replays: dict[tuple[Any, ...], _Replay | str] = {}
        self.replayed = 0
        self.reason: str | None = None
        self.shared_bytes = 0

    def __call__(self, *args: Tensor) -> Any:
        for i, a in enumerate(args):
            if not isinstance(a, Tensor):
                raise TypeError(f"capture: argument {i} is a {type(a).__name__}; a captured step "
                                f"takes Tensors (make one with ndl.Tensor(array, device=...))")
        key = tuple((a.shape, a.dtype, a.device.name) for a in args)
        replay = self._replays.get(key)
        if isinstance(replay, _Replay):
            self.replayed += 1
            return replay(list(args))
        if isinstance(replay, str):  # refused: eager
            return self.step(*args)
        if key not in self._warm:  # the first call: a warm-up, for state made at the first step
            self._warm.add(key)
            outputs = self.step(*args)
            _check_outputs(outputs)
            return outputs
        if key not in self._first:
            calls: list[_Call] = []
            hosts = [a.numpy() for a in args]
            with _recording(calls):
                outputs = self.step(*args)
            _check_outputs(outputs)
            _mark_inputs(calls, hosts)
            # Kept only to compare: the buffers go, so that they are not held until the next call.
            self._first[key] = [_Call(c.name, c.fn, tuple(_BUFFER if _is_buffer(x) else x for x in c.args),
                                      _BUFFER if _is_buffer(c.result) else c.result) for c in calls]
            return outputs
        return self._record(key, args)

    def _record(self, key: tuple[Any, ...], args: tuple[Tensor, ...]) -> Any:
        before = _state_slots(self.state)
        values_before = {k: _array(_get(*slot)) for k, slot in before.items()}
        calls: list[_Call] = []
        made: list[Any] = []
        hosts = [a.numpy() for a in args]
        with _recording(calls, made):
            outputs = self.step(*args)
        _check_outputs(outputs)
        _mark_inputs(calls, hosts)
        reason = _difference(self._first.pop(key), calls)
        if reason is None and not calls:
            reason = "the step made no kernel calls (its arrays are not on a needle device)"
        inputs = [a.cached_data for a in args]
        strided = [i for i, a in enumerate(inputs) if not a.is_compact()]
        if reason is None and strided:
            reason = (f"argument {strided[0]} is a strided view; a replay copies arguments into "
                      f"compact arrays (pass a compact Tensor)")
        used = {id(x) for c in calls for x in c.args if _is_buffer(x)}
        state_in: list[tuple[Any, Any, NDArray]] = []
        for k, array in values_before.items():
            if array is not None and id(array._handle) in used:
                if not array.is_compact():
                    reason = reason or (f"the state at {_where(*before[k])} is a strided view; a "
                                        f"replay copies state into compact arrays")
                state_in.append((*before[k], array))
        after = _state_slots(self.state)
        state_out = [(*slot, _get(*slot)) for slot in after.values()]
        if reason is not None:
            self._replays[key] = reason
            self.reason = reason
            warnings.warn(f"capture: {getattr(self.step, '__name__', 'the step')} runs eagerly "
                          f"for arguments {list(key)}: {reason}", RuntimeWarning, stacklevel=3)
            return outputs
        results = _constants(outputs)
        kept = [_array(value) for *_, value in state_out] + inputs + \
            [r.cached_data for r in ([results] if isinstance(results, Tensor) else results or [])]
        self.shared_bytes += _share_buffers(calls, made, {id(a._handle) for a in kept if a is not None})
        self._replays[key] = _Replay(calls, inputs, state_in, state_out, results)
        return outputs


def capture(step: Callable[..., Any], state: Any = ()) -> CapturedStep:
    """``step`` recorded at its second and third calls (for each signature of its arguments)
    and replayed from the fourth without Python dispatch, as ``jax.jit`` or tinygrad's
    ``TinyJit``.

    Args:
        step: a function of Tensors that runs needle ops (a training step: forward, backward,
            optimizer) and returns None, a Tensor, or a tuple or list of Tensors.
        state: what the step updates and reads besides its arguments: modules, optimizers (or a
            tuple of them); their parameters, gradients, buffers and optimizer state are found
            from these.

    Returns:
        A ``CapturedStep``: call it as ``step``. The first three calls (per signature) run eagerly
        and return ``step``'s own results; replays return constant Tensors whose values the next
        call overwrites.

    Raises:
        TypeError: at a call, for an argument that is not a Tensor, or a step that returns
            something other than Tensors.
    """
    if not callable(step):
        raise TypeError(f"capture: step must be a function, got {type(step).__name__}")
    return CapturedStep(step, state if isinstance(state, tuple) else (state,))
