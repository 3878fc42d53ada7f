"""hw3: the strided NDArray and the C++ CPU backend, each checked against NumPy.

Views (question 1) run on both devices; kernels (questions 2-5) on ``cpu()``, the C++
backend, with odd shapes (sizes that are not multiples of any tile or vector width) and
non-compact inputs (permuted, sliced with steps, broadcast, flipped).
"""
from pathlib import Path

import needle as ndl
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from needle.backend_ndarray import NDArray

DEVICES = [ndl.cpu(), ndl.cpu_numpy()]
ODD_SHAPES = [(1,), (7,), (3, 5), (2, 3, 4), (5, 1, 3, 2), (67, 131)]


def nd(a, device=None, dtype=None):
    return NDArray(np.asarray(a), device=device or ndl.cpu(), dtype=dtype)


def random(shape, seed=0, dtype="float32"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ---- the array contract: what ops may call through array_api, on NumPy and on NDArray ---------

def test_backend_ndarray_provides_the_array_contract():
    import needle.backend_ndarray as backend_ndarray
    from needle.array_contract import ARRAY_API, NDARRAY_METHODS
    assert [name for name in ARRAY_API if not callable(getattr(backend_ndarray, name, None))] == []
    for array_type in (NDArray, np.ndarray):
        assert [name for name in NDARRAY_METHODS if not hasattr(array_type, name)] == []


# ---- the backend contract: the kernels NDArray calls, in every backend module ----------------

# The CUDA emulation comes with hw4: checked where its source ships (and is then built).
BACKEND_MODULES = ["ndarray_backend_numpy", "ndarray_backend_cpu"] + (
    ["ndarray_backend_cuda_emu"]
    if (Path(__file__).parents[2] / "src" / "ndarray_backend_cuda_emu.cc").exists() else [])


def pybind_parameters(function):
    """The parameter names in a pybind11 function's signature line, ``name(a: T, b: U) -> V``
    (commas inside the types' brackets skipped)."""
    signature = function.__doc__.splitlines()[0]
    inside = signature[signature.index("(") + 1:signature.rindex(") ->")]
    names, depth, start = [], 0, 0
    for i, char in enumerate(inside + ","):
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == "," and depth == 0:
            names.append(inside[start:i].split(":")[0].strip())
            start = i + 1
    return [name for name in names if name]


@pytest.mark.parametrize("module_name", BACKEND_MODULES)
def test_each_backend_module_provides_every_kernel_of_the_backend_protocol(module_name):
    """Every kernel of ``backend_protocol.Backend``, callable, taking the protocol's parameters
    (by name where the module names them; pybind11's ``arg0, arg1, ...`` by count)."""
    import importlib
    import inspect

    from needle.backend_ndarray import backend_protocol
    module = importlib.import_module(f"needle.backend_ndarray.{module_name}")
    for name in backend_protocol.KERNELS:
        kernel = getattr(module, name, None)
        assert callable(kernel), f"{module_name} has no kernel {name}"
        expected = list(inspect.signature(getattr(backend_protocol.Backend, name)).parameters)[1:]
        if name == "Array":
            continue  # a class: its constructor is checked by every test that makes an array
        try:
            actual = list(inspect.signature(kernel).parameters)
        except ValueError:  # a compiled function: its signature is in its docstring
            actual = pybind_parameters(kernel)
        if all(parameter.startswith("arg") for parameter in actual):
            assert len(actual) == len(expected), f"{module_name}.{name}({', '.join(actual)})"
        else:
            assert actual == expected, f"{module_name}.{name}"


def contract_calls(api, a, b, c):
    """Each array contract function called in its documented forms on (3, 4), (3, 4) and
    (2, 3, 4) arrays: ``{name: [each result as a NumPy array]}`` (for ``empty``, its shape
    and dtype, the values being unset)."""
    def values(*results):
        return [np.asarray(x if isinstance(x, (np.ndarray, np.generic)) else x.numpy()) for x in results]
    empty = api.empty((2, 3), "float64")
    return {
        "array": values(api.array([[1.0, 2.0]], dtype="float32")),
        "empty": [empty.shape, str(empty.dtype)],
        "full": values(api.full((2, 3), 1.5, "float32")),
        "reshape": values(api.reshape(a, (2, -1))),
        "broadcast_to": values(api.broadcast_to(api.reshape(a, (3, 1, 4)), (2, 3, 5, 4))),
        "swapaxes": values(api.swapaxes(c, 0, 2)),
        "flip": values(api.flip(c, 1), api.flip(c, (0, 2))),
        "pad": values(api.pad(a, ((1, 0), (0, 2)))),
        "stack": values(api.stack([a, b], 1)),
        "matmul": values(api.matmul(c, api.swapaxes(a, 0, 1))),
        "sum": values(api.sum(c), api.sum(c, axis=1), api.sum(c, axis=(0, 2), keepdims=True)),
        "max": values(api.max(c), api.max(c, axis=1), api.max(c, axis=(0, 2), keepdims=True)),
        "maximum": values(api.maximum(a, b), api.maximum(a, 0.0)),
        "power": values(api.power(api.exp(a), b), api.power(a, 2.0)),
        "log": values(api.log(api.exp(a))),
        "exp": values(api.exp(a)),
        "tanh": values(api.tanh(a)),
    }


@pytest.mark.question(1)
def test_the_array_contract_means_the_same_on_numpy_and_on_ndarray():
    import needle.backend_ndarray as backend_ndarray
    from needle.array_contract import ARRAY_API
    from needle.backend_numpy import array_api as numpy_api
    a, b, c = (random(shape, seed, "float64") for seed, shape in enumerate([(3, 4), (3, 4), (2, 3, 4)]))
    previous = ndl.default_device()
    ndl.set_default_device(ndl.cpu_numpy())  # the reference kernels: only the views are yours
    try:
        on_ndarray = contract_calls(backend_ndarray, *(nd(x, ndl.cpu_numpy()) for x in (a, b, c)))
    finally:
        ndl.set_default_device(previous)
    on_numpy = contract_calls(numpy_api, a, b, c)
    assert list(on_numpy) == list(on_ndarray) == list(ARRAY_API)
    assert on_ndarray["empty"] == on_numpy["empty"]
    for name in ARRAY_API:
        for got, expected in zip(on_ndarray[name], on_numpy[name], strict=True):
            if name != "empty":
                assert got.shape == expected.shape and got.dtype == expected.dtype, name
                np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=name)


# ---- given code: construction, conversion and bad input --------------------------------------

@pytest.mark.parametrize("device", DEVICES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_through_numpy_keeps_values_and_dtype(device, dtype):
    a = random((3, 4), dtype=dtype)
    x = nd(a, device)
    assert x.shape == (3, 4) and x.strides == (4, 1) and x.offset == 0 and x.dtype == dtype
    assert x.device == device and x.is_compact()
    np.testing.assert_array_equal(x.numpy(), a)


def test_lists_numbers_and_integer_arrays_become_float32():
    assert nd([[1, 2], [3, 4]]).dtype == np.float32
    assert nd(np.arange(6)).dtype == np.float32
    np.testing.assert_array_equal(nd(np.array([True, False])).numpy(), [1.0, 0.0])
    assert nd(2.5).shape == () and nd(2.5).numpy() == 2.5


@pytest.mark.parametrize("bad", [np.array([1 + 2j]), np.array(["a"]), np.array([object()])])
def test_complex_string_and_object_arrays_are_refused(bad):
    with pytest.raises(TypeError, match="real numbers"):
        nd(bad)


def test_unsupported_dtype_is_refused_by_name():
    with pytest.raises(TypeError, match="float16"):
        nd([1.0], dtype="float16")


def test_reshape_of_a_non_compact_array_names_its_layout():
    x = nd(random((3, 4))).as_strided((4, 3), (1, 4))  # the transpose
    with pytest.raises(ValueError, match=r"not compact.*compact\(\)"):
        x.reshape((12,))


def test_reshape_to_a_different_size_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5, 2\)"):
        nd(random((3, 4))).reshape((5, 2))


@pytest.mark.parametrize("index, message", [((3, 0), "index 3 is out of range for axis 0 of size 3"),
                                            ((0, -5), "index -5 is out of range for axis 1 of size 4"),
                                            ((0, 0, 0), "too many indices"),
                                            ((0.5,), "expected an int")])
def test_bad_indices_name_the_index_and_axis(index, message):
    with pytest.raises((IndexError, TypeError), match=message):
        nd(random((3, 4)))[index]


def test_mismatched_shapes_name_both():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(3, 2\)"):
        nd(random((2, 3))) + nd(random((3, 2)))
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(2, 3\) do not multiply"):
        nd(random((2, 3))) @ nd(random((2, 3)))
    with pytest.raises(ValueError, match=r"cannot broadcast shape \(2, 3\) to \(4, 3\)"):
        nd(random((2, 3))).broadcast_to((4, 3))


def test_compact_of_a_compact_array_is_itself():
    x = nd(random((3, 4)))
    assert x.compact() is x


def test_backend_checks_views_against_the_buffer():
    """A bad call into the C++ module raises a Python exception, never reads out of bounds."""
    buffer = ndl.cpu().Array(6, "float32")
    with pytest.raises(IndexError, match="reaches elements"):
        ndl.cpu().to_numpy(buffer, (2, 3), (3, 2), 0)
    with pytest.raises(ValueError, match="dtype float16"):
        ndl.cpu().Array(4, "float16")
    with pytest.raises(TypeError, match="float64 and float32 differ"):
        ndl.cpu().ewise_add(ndl.cpu().Array(6, "float64"), buffer, buffer)


# ---- given code: CMU needle's names (process_slice, matmul_tiled) ---------------------------

@pytest.mark.parametrize("sl", [slice(None), slice(1, 4), slice(-3, None), slice(None, -1),
                                slice(1, 6, 2), slice(None, None, -1), slice(-2, 0, -2),
                                slice(4, None, -3), slice(10, 20), slice(-20, 2)])
def test_process_slice_makes_the_bounds_explicit(sl):
    x = nd(np.zeros((2, 6, 3)))
    explicit = x.process_slice(sl, 1)
    assert isinstance(explicit.start, int) and isinstance(explicit.step, int)
    assert 0 <= explicit.start <= 6 and (explicit.stop is None or 0 <= explicit.stop <= 6)
    assert list(range(6))[explicit] == list(range(6))[sl]  # the same elements, in order


def test_process_slice_rejects_bad_input():
    x = nd(np.zeros((2, 6)))
    with pytest.raises(IndexError, match="dim 2 is not an axis of an array of shape"):
        x.process_slice(slice(None), 2)
    with pytest.raises(TypeError, match="expected a slice, got int"):
        x.process_slice(3, 0)
    with pytest.raises(ValueError, match="slice step cannot be zero"):
        x.process_slice(slice(None, None, 0), 1)


@pytest.mark.parametrize("m, n, p", [(1, 1, 1), (2, 2, 3), (1, 2, 1), (3, 3, 3)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_tiled_multiplies_tile_by_tile(m, n, p, dtype):
    """CMU needle's ``matmul_tiled``: arrays stored as (rows/T, cols/T, T, T) tiles, T = 8."""
    cpu = ndl.cpu()
    t = cpu.__tile_size__
    assert t == 8

    def tiles(matrix):  # (r*T, c*T) -> (r, c, T, T)
        rows, cols = matrix.shape
        return matrix.reshape(rows // t, t, cols // t, t).transpose(0, 2, 1, 3).copy()

    a, b = random((m * t, n * t), seed=1, dtype=dtype), random((n * t, p * t), seed=2, dtype=dtype)
    A, B = nd(tiles(a), dtype=dtype), nd(tiles(b), dtype=dtype)
    C = NDArray.make((m, p, t, t), device=cpu, dtype=dtype)
    cpu.matmul_tiled(A._handle, B._handle, C._handle, m * t, n * t, p * t)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(C.numpy(), tiles(a.astype(np.float64) @ b), rtol=rtol, atol=rtol)


def test_matmul_tiled_rejects_sizes_off_the_tile_grid():
    cpu = ndl.cpu()
    buffer = cpu.Array(64 * 4, "float32")
    with pytest.raises(ValueError, match="multiples of the tile size 8, got 8, 12 and 8"):
        cpu.matmul_tiled(buffer, buffer, buffer, 8, 12, 8)
    with pytest.raises(ValueError, match="holds 64 elements"):
        cpu.matmul_tiled(cpu.Array(64, "float32"), buffer, buffer, 8, 16, 8)


# ---- question 1: strided views --------------------------------------------------------------

@pytest.mark.question(1)
@pytest.mark.parametrize("device", DEVICES, ids=str)
def test_reshape_is_a_view_with_compact_strides(device):
    x = nd(random((2, 3, 4)), device)
    y = x.reshape((4, -1))
    assert y.shape == (4, 6) and y.strides == (6, 1) and y._handle is x._handle
    np.testing.assert_array_equal(y.numpy(), x.numpy().reshape(4, 6))


@pytest.mark.question(1)
@pytest.mark.parametrize("device", DEVICES, ids=str)
def test_permute_reorders_shape_and_strides_without_copying(device):
    a = random((2, 3, 4))
    x = nd(a, device)
    y = x.permute((2, 0, 1))
    assert (y.shape, y.strides, y.offset) == ((4, 2, 3), (1, 12, 4), 0)
    assert y._handle is x._handle and not y.is_compact()
    np.testing.assert_array_equal(y.numpy(), a.transpose(2, 0, 1))


@pytest.mark.question(1)
@pytest.mark.parametrize("device", DEVICES, ids=str)
def test_broadcast_to_gives_repeated_axes_stride_zero(device):
    a = random((3, 1))
    y = nd(a, device).broadcast_to((2, 3, 5))
    assert y.shape == (2, 3, 5) and y.strides == (0, 1, 0)
    np.testing.assert_array_equal(y.numpy(), np.broadcast_to(a, (2, 3, 5)))


@pytest.mark.question(1)
@pytest.mark.parametrize("device", DEVICES, ids=str)
@pytest.mark.parametrize("index", [
    (1, slice(None)), (slice(1, 3), slice(None, None, 2)), (slice(None, None, -1), 2),
    (slice(-2, None), slice(-1, 0, -2)), (Ellipsis, 1), (slice(3, 1),), (-1, -1),
], ids=str)
def test_getitem_matches_numpy_and_shares_memory(device, index):
    a = random((4, 5))
    x = nd(a, device)
    y = x[index]
    expected = a[index]
    assert y.shape == expected.shape
    assert y.strides == tuple(s // 4 for s in expected.strides) or expected.size == 0
    assert y._handle is x._handle
    np.testing.assert_array_equal(y.numpy(), expected)


@pytest.mark.question(1)
@pytest.mark.parametrize("device", DEVICES, ids=str)
def test_offset_of_a_slice_is_its_first_element(device):
    y = nd(np.arange(60.0).reshape(3, 4, 5), device)[1:, 2, 3::-1]
    assert (y.shape, y.strides, y.offset) == ((2, 4), (20, -1), 20 + 10 + 3)


@pytest.mark.question(1)
@pytest.mark.parametrize("device", DEVICES, ids=str)
def test_flip_is_a_view_with_negative_strides(device):
    a = random((3, 4, 2))
    y = nd(a, device).flip((0, 2))
    assert y.strides == (-8, 2, -1) and y.offset == 2 * 8 + 1
    np.testing.assert_array_equal(y.numpy(), np.flip(a, (0, 2)))


@pytest.mark.question(1)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), data=st.data())
def test_any_chain_of_views_matches_numpy(shape, data):
    a = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    x = nd(a, ndl.cpu_numpy())
    axes = data.draw(st.permutations(range(len(shape))))
    a, x = a.transpose(axes), x.permute(axes)
    index = tuple(slice(data.draw(st.integers(0, n - 1)), None, data.draw(st.sampled_from([1, 2, -1])))
                  for n in a.shape)
    a, x = a[index], x[index]
    np.testing.assert_array_equal(x.numpy(), a)
    np.testing.assert_array_equal(x.flip(0).numpy(), np.flip(a, 0))


# ---- question 2: compact and setitem (C++) ----------------------------------------------------

def non_compact_views(a):
    """(name, NumPy view, needle view) for several non-compact views of the array ``a``."""
    x = nd(a)
    yield "permuted", a.transpose(1, 0, 2), x.permute((1, 0, 2))
    yield "stepped", a[1::2, ::-3, 1:], x[1::2, ::-3, 1:]
    broadcast = (2, *a[:, :1].shape)
    yield "broadcast", np.broadcast_to(a[:, :1], broadcast), x[:, :1].broadcast_to(broadcast)
    yield "flipped", np.flip(a, 1), x.flip(1)
    yield "int-indexed", a[2], x[2]


@pytest.mark.question(2)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compact_copies_every_kind_of_view_in_row_major_order(dtype):
    a = random((5, 7, 3), dtype=dtype)
    for name, expected, view in non_compact_views(a):
        out = view.compact()
        assert out.is_compact() and out._handle is not view._handle, name
        np.testing.assert_array_equal(out._device.to_numpy(out._handle, out.shape, out.strides, 0),
                                      expected, err_msg=name)


@pytest.mark.question(2)
def test_setitem_writes_through_to_the_base_array():
    a = random((6, 5))
    x = nd(a)
    x[1:5:2, ::-2] = nd(np.arange(6.0).reshape(2, 3))
    a[1:5:2, ::-2] = np.arange(6.0).reshape(2, 3)
    x[0] = 7.5
    a[0] = 7.5
    x.permute((1, 0))[4, 2:] = -1.0
    a.T[4, 2:] = -1.0
    np.testing.assert_array_equal(x.numpy(), a)


@pytest.mark.question(2)
def test_setitem_broadcasts_and_copies_from_a_non_compact_source():
    a, b = random((4, 6)), random((6, 4), seed=1)
    x = nd(a)
    x[:, 1:5] = nd(b).permute((1, 0))[:, :4]
    a[:, 1:5] = b.T[:, :4]
    x[2:, :] = nd(np.arange(6.0))
    a[2:, :] = np.arange(6.0)
    np.testing.assert_array_equal(x.numpy(), a)


@pytest.mark.question(2)
def test_fill_and_pad():
    x = nd(random((2, 3)))
    x[:, 1].fill(4.0)
    assert x.numpy()[:, 1].tolist() == [4.0, 4.0]
    a = random((2, 3))
    np.testing.assert_array_equal(nd(a).pad(((1, 0), (2, 1))).numpy(), np.pad(a, ((1, 0), (2, 1))))


# ---- question 3: element-wise kernels (C++) ---------------------------------------------------

BINARY = {"+": (lambda x, y: x + y, np.add), "*": (lambda x, y: x * y, np.multiply),
          "/": (lambda x, y: x / y, np.divide), "-": (lambda x, y: x - y, np.subtract),
          "maximum": (lambda x, y: x.maximum(y), np.maximum),
          "==": (lambda x, y: x == y, lambda a, b: (a == b).astype(np.float32)),
          ">=": (lambda x, y: x >= y, lambda a, b: (a >= b).astype(np.float32))}


@pytest.mark.question(3)
@pytest.mark.parametrize("shape", ODD_SHAPES, ids=str)
@pytest.mark.parametrize("op", BINARY)
def test_ewise_and_scalar_ops_match_numpy(shape, op):
    ours, theirs = BINARY[op]
    a, b = random(shape), random(shape, seed=1)
    b[..., ::3] = a[..., ::3]  # some ties, for == and >=
    np.testing.assert_allclose(ours(nd(a), nd(b)).numpy(), theirs(a, b), rtol=1e-6)
    np.testing.assert_allclose(ours(nd(a), 0.5).numpy(), theirs(a, np.float32(0.5)), rtol=1e-6)


@pytest.mark.question(3)
@pytest.mark.parametrize("shape", ODD_SHAPES, ids=str)
def test_unary_ops_and_power_match_numpy(shape):
    a = random(shape)
    positive = np.abs(a) + 0.1
    np.testing.assert_allclose(nd(a).exp().numpy(), np.exp(a), rtol=1e-6)
    np.testing.assert_allclose(nd(positive).log().numpy(), np.log(positive), rtol=1e-6)
    np.testing.assert_allclose(nd(a).tanh().numpy(), np.tanh(a), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose((nd(positive) ** 1.5).numpy(), positive ** 1.5, rtol=1e-6)
    np.testing.assert_allclose((nd(positive) ** nd(a)).numpy(), positive ** a, rtol=1e-5)


@pytest.mark.question(3)
def test_ewise_ops_on_non_compact_float64_operands():
    a = random((5, 7, 3), dtype="float64")
    for name, expected, view in non_compact_views(a):
        np.testing.assert_allclose((view * 2 + view.exp()).numpy(), expected * 2 + np.exp(expected),
                                   rtol=1e-12, err_msg=name)


@pytest.mark.question(3)
def test_large_ewise_ops_match_numpy():
    """Large enough to run on several threads."""
    a, b = random(300_001), random(300_001, seed=1)
    np.testing.assert_allclose((nd(a) + nd(b)).numpy(), a + b, rtol=1e-6)
    np.testing.assert_allclose(nd(a).exp().numpy(), np.exp(a), rtol=1e-6)


# ---- question 4: reductions (C++) -------------------------------------------------------------

@pytest.mark.question(4)
@pytest.mark.parametrize("axis", [None, 0, 1, 2, (0, 2), (1, 2), (0, 1, 2), -1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_and_max_match_numpy(axis, keepdims):
    a = random((5, 13, 3))
    np.testing.assert_allclose(nd(a).sum(axis=axis, keepdims=keepdims).numpy(),
                               a.sum(axis=axis, keepdims=keepdims), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(nd(a).max(axis=axis, keepdims=keepdims).numpy(),
                                  a.max(axis=axis, keepdims=keepdims))


@pytest.mark.question(4)
@pytest.mark.parametrize("shape, axis", [((1000, 37), 0), ((37, 1003), 1), ((3, 600, 70), 1)], ids=str)
def test_large_reductions_match_numpy(shape, axis):
    a = random(shape, dtype="float64")
    np.testing.assert_allclose(nd(a).sum(axis=axis).numpy(), a.sum(axis=axis), rtol=1e-10)
    np.testing.assert_array_equal(nd(a).max(axis=axis).numpy(), a.max(axis=axis))


@pytest.mark.question(4)
def test_reductions_of_non_compact_views():
    a = random((5, 7, 3))
    for name, expected, view in non_compact_views(a):
        np.testing.assert_allclose(view.sum(axis=0).numpy(), expected.sum(axis=0), rtol=1e-5,
                                   atol=1e-6, err_msg=name)
        np.testing.assert_array_equal(view.max(axis=-1).numpy(), expected.max(axis=-1), err_msg=name)


@pytest.mark.question(4)
def test_max_of_all_negative_values():
    a = -np.abs(random((4, 9))) - 1
    np.testing.assert_array_equal(nd(a).max(axis=1).numpy(), a.max(axis=1))


# ---- question 5: matrix multiplication (C++) --------------------------------------------------

MATMUL_SHAPES = [(1, 1, 1), (2, 3, 4), (7, 5, 9), (16, 16, 16), (33, 65, 17), (130, 257, 131)]


@pytest.mark.question(5)
@pytest.mark.parametrize("m, n, p", MATMUL_SHAPES, ids=str)
def test_naive_matmul_matches_numpy(m, n, p):
    a, b = random((m, n), dtype="float64"), random((n, p), seed=1, dtype="float64")
    out = ndl.backend_ndarray.matmul(nd(a), nd(b), naive=True)
    np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-10, atol=1e-12)


@pytest.mark.question(5)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("m, n, p", [*MATMUL_SHAPES, (300, 600, 299), (1, 1000, 1), (513, 1, 7)], ids=str)
def test_tiled_matmul_matches_numpy(m, n, p, dtype):
    a, b = random((m, n), dtype=dtype), random((n, p), seed=1, dtype=dtype)
    tol = 1e-4 if dtype == "float32" else 1e-12
    np.testing.assert_allclose((nd(a) @ nd(b)).numpy(), a.astype(np.float64) @ b, rtol=tol,
                               atol=tol * np.sqrt(n))


@pytest.mark.question(5)
def test_batched_and_non_compact_matmul():
    a, b = random((4, 1, 6, 5)), random((3, 5, 7), seed=1)
    np.testing.assert_allclose((nd(a) @ nd(b)).numpy(), a @ b, rtol=1e-5, atol=1e-6)
    c = random((7, 6), seed=2)
    np.testing.assert_allclose((nd(c).permute((1, 0)) @ nd(c)[::-1]).numpy(), c.T @ c[::-1],
                               rtol=1e-5, atol=1e-5)


@pytest.mark.question(5)
def test_matmul_with_an_empty_inner_axis_is_zero():
    np.testing.assert_array_equal((nd(np.zeros((3, 0))) @ nd(np.zeros((0, 2)))).numpy(),
                                  np.zeros((3, 2)))


@pytest.mark.question(3)
def test_float32_exp_is_accurate_over_its_whole_range():
    # The backend's float32 exp is a vectorisable polynomial (given code): within 2 ulp of the
    # exact value, 0 and inf past the ends of the range, subnormals near the bottom, nan kept.
    x = np.concatenate([np.linspace(-110, 95, 200_001, dtype=np.float32),
                        np.array([np.nan, np.inf, -np.inf, 0.0, 88.72, -87.4, -103.9], dtype=np.float32)])
    got, exact = nd(x).exp().numpy(), np.exp(x.astype(np.float64))
    normal = (exact > np.finfo(np.float32).tiny) & (exact < np.finfo(np.float32).max)
    np.testing.assert_allclose(got[normal], exact[normal], rtol=2 * np.finfo(np.float32).eps)
    assert np.all(got[exact > np.finfo(np.float32).max] == np.inf)
    tiny = exact <= np.finfo(np.float32).tiny
    np.testing.assert_allclose(got[tiny], exact[tiny], rtol=0, atol=2e-45)
    assert np.isnan(got[-7]) and got[-5] == 0.0 and got[-4] == 1.0
