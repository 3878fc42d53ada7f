"""Hidden tests for hw4: the CUDA kernels on other shapes than the public tests, values returned.

They run on the real GPU when the grading machine has one and on the emulated device
(``ndl.cuda(emulate=True)``) otherwise; the answer key holds the reference kernels' values, which
agree on both within each test's tolerance. Each test calls the backend's kernels directly on
buffers and layouts made with the given ``NDArray.make``, so a question depends on its own
kernels only.
"""
import numpy as np
import pytest


def _device():
    import needle as ndl
    real = ndl.cuda(emulate=False)
    return real if real.enabled() else ndl.cuda(emulate=True)


def _rand(seed, *shape, dtype="float32"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _array(values, dtype=None):
    from needle.backend_ndarray import NDArray
    return NDArray(values, device=_device(), dtype=dtype)


def _empty(shape, dtype="float32"):
    from needle.backend_ndarray import NDArray
    return NDArray.make(shape, device=_device(), dtype=dtype)


# (shape, strides, offset) views of a buffer of 600 elements: transposed, stepped, broadcast,
# flipped, 0-d, and one of 5 axes.
_VIEWS = [((13, 7), (1, 13), 2), ((3, 4, 25), (150, 30, 1), 10), ((6, 70), (0, 5), 200),
          ((9, 11), (-55, -1), 590), ((), (), 300), ((2, 1, 3, 2, 5), (200, 1, 50, 7, 1), 3)]


# ---- Question 1: compact and setitem (20 points) ---------------------------------------------

@pytest.mark.question(1)
@pytest.mark.points(8)
def test_compact_kernel_on_strided_views():
    out = {}
    for dtype in ("float32", "float64"):
        src = _array(_rand(21, 600, dtype=dtype))
        for k, (shape, strides, offset) in enumerate(_VIEWS):
            dest = _empty(shape, dtype)
            _device().compact(src._handle, dest._handle, shape, strides, offset)
            out[f"view{k}_{dtype}"] = dest.numpy()
    return out


@pytest.mark.question(1)
@pytest.mark.points(6)
def test_ewise_setitem_kernel_into_strided_views():
    out = {}
    for k, (shape, strides, offset) in enumerate(v for v in _VIEWS if 0 not in v[1]):
        dest = _array(np.zeros(600), "float32")
        values = _array(_rand(30 + k, *shape))
        _device().ewise_setitem(values._handle, dest._handle, shape, strides, offset)
        out[f"view{k}"] = dest.numpy()
    return out


@pytest.mark.question(1)
@pytest.mark.points(6)
def test_scalar_setitem_kernel_into_strided_views():
    out = {}
    for k, (shape, strides, offset) in enumerate(_VIEWS):
        dest = _array(np.zeros(600), "float64")
        _device().scalar_setitem(int(np.prod(shape)), 1.25 + k, dest._handle, shape, strides, offset)
        out[f"view{k}"] = dest.numpy()
    return out


# ---- Question 2: element-wise kernels (15 points) --------------------------------------------

_BINARY = ["add", "mul", "div", "power", "maximum", "eq", "ge"]


@pytest.mark.question(2)
@pytest.mark.points(6)
@pytest.mark.tolerance(rtol=1e-5, atol=1e-6)
def test_ewise_binary_kernels():
    out = {}
    for n in (1, 256, 999):
        a = np.abs(_rand(40 + n, n)) + 0.5
        b = _rand(50 + n, n)
        b[::5] = a[::5]
        x, y = _array(a), _array(b)
        for name in _BINARY:
            dest = _empty((n,))
            getattr(_device(), f"ewise_{name}")(x._handle, y._handle, dest._handle)
            out[f"{name}_{n}"] = dest.numpy()
    return out


@pytest.mark.question(2)
@pytest.mark.points(5)
@pytest.mark.tolerance(rtol=1e-5, atol=1e-6)
def test_scalar_kernels():
    out = {}
    for dtype in ("float32", "float64"):
        a = np.abs(_rand(60, 777, dtype=dtype)) + 0.25
        x = _array(a)
        for name, val in zip(_BINARY, (-2.5, 3.0, 0.5, 1.5, 0.9, float(a[3]), 0.75), strict=True):
            dest = _empty(a.shape, dtype)
            getattr(_device(), f"scalar_{name}")(x._handle, val, dest._handle)
            out[f"{name}_{dtype}"] = dest.numpy()
    return out


@pytest.mark.question(2)
@pytest.mark.points(4)
@pytest.mark.tolerance(rtol=1e-5, atol=1e-6)
def test_unary_kernels():
    out = {}
    a = _rand(70, 1025) * 2
    for name, values in (("exp", a), ("tanh", a), ("log", np.abs(a) + 1e-2)):
        dest = _empty(a.shape)
        getattr(_device(), f"ewise_{name}")(_array(values)._handle, dest._handle)
        out[name] = dest.numpy()
    return out


# ---- Question 3: reductions (20 points) ------------------------------------------------------

# (outer, size, inner): rows shorter and longer than a 256-thread block, one element, columns.
_REDUCTIONS = [(1, 1, 1), (9, 5, 1), (3, 1000, 1), (2, 257, 1), (1, 7, 300), (4, 33, 65), (6, 1, 9)]


def _reduce(kernel, seed, dtype="float32"):
    out = {}
    for k, (outer, size, inner) in enumerate(_REDUCTIONS):
        x = _array(_rand(seed + k, outer, size, inner, dtype=dtype) - 4.0)
        dest = _empty((outer, inner), dtype)
        getattr(_device(), kernel)(x._handle, dest._handle, outer, size, inner)
        out[f"layout{k}"] = dest.numpy()
    return out


@pytest.mark.question(3)
@pytest.mark.points(10)
@pytest.mark.tolerance(rtol=1e-4, atol=1e-3)
def test_reduce_sum_kernels():
    out = _reduce("reduce_sum", 80)
    out.update({f"{k}_float64": v for k, v in _reduce("reduce_sum", 85, "float64").items()})
    return out


@pytest.mark.question(3)
@pytest.mark.points(10)
def test_reduce_max_kernels():
    return _reduce("reduce_max", 90)  # all values near -4: an initial 0 would show


# ---- Question 4: matrix multiplication (45 points) -------------------------------------------

def _matmul(kernel, shapes, seed, dtype="float32"):
    out = {}
    for k, (batch, m, n, p) in enumerate(shapes):
        a = _array(_rand(seed + k, batch, m, n, dtype=dtype))
        b = _array(_rand(seed + 50 + k, batch, n, p, dtype=dtype))
        dest = _empty((batch, m, p), dtype)
        _device().fill(dest._handle, 321.0)  # a kernel that adds into out must clear it first
        getattr(_device(), kernel)(a._handle, b._handle, dest._handle, batch, m, n, p)
        out[f"shape{k}"] = dest.numpy()
    return out


@pytest.mark.question(4)
@pytest.mark.points(15)
@pytest.mark.tolerance(rtol=1e-4, atol=1e-4)
def test_naive_matmul_kernel():
    return _matmul("matmul_naive", [(1, 1, 1, 1), (1, 15, 4, 17), (2, 33, 9, 5)], 100)


@pytest.mark.question(4)
@pytest.mark.points(20)
@pytest.mark.tolerance(rtol=1e-4, atol=2e-4)
@pytest.mark.timeout(120)
def test_tiled_matmul_kernel_across_tile_edges():
    # Sizes straddle the 128 x 128 output tile and the 8-deep k-slice.
    return _matmul("matmul", [(1, 1, 1, 1), (1, 128, 8, 128), (1, 129, 9, 127), (2, 20, 47, 131),
                              (1, 257, 15, 3)], 110)


@pytest.mark.question(4)
@pytest.mark.points(10)
@pytest.mark.tolerance(rtol=1e-9, atol=1e-9)
@pytest.mark.timeout(120)
def test_tiled_matmul_kernel_float64():
    return _matmul("matmul", [(1, 7, 11, 13), (1, 70, 40, 66)], 120, "float64")
