"""Hidden tests for hw3: views, kernels and matmul on other shapes than the public tests.

Question 1 runs on ``cpu_numpy()`` (the given NumPy kernels), so it grades the student's views
alone. Questions 2-5 call the C++ backend's kernels directly on buffers and strided layouts
made with the given ``NDArray.make`` / ``as_strided``, so each question depends on its own
kernels only, not on the student's views or on another question's kernels.
"""
import numpy as np
import pytest


def _rand(seed, *shape, dtype="float32"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _layout(x):
    """A view's shape, strides and offset as one integer array."""
    return np.array(list(x.shape) + list(x.strides) + [x.offset], dtype=np.int64)


# ---- Question 1: strided views (20 points) ----------------------------------------------------

@pytest.mark.question(1)
@pytest.mark.points(6)
def test_reshape_permute_and_broadcast_layouts():
    import needle as ndl
    from needle.backend_ndarray import NDArray
    x = NDArray(_rand(1, 2, 3, 5), device=ndl.cpu_numpy())
    r = x.reshape((5, 6))
    inferred = x.reshape((3, -1, 1))
    p = x.permute((2, 0, 1))
    b = NDArray(_rand(2, 4, 1), device=ndl.cpu_numpy()).broadcast_to((3, 4, 7))
    return {"reshape": _layout(r), "inferred": _layout(inferred), "permute": _layout(p),
            "broadcast": _layout(b), "permute_values": p.numpy(), "broadcast_values": b.numpy()}


@pytest.mark.question(1)
@pytest.mark.points(8)
def test_getitem_layouts_and_values():
    import needle as ndl
    from needle.backend_ndarray import NDArray
    x = NDArray(_rand(3, 5, 6, 7), device=ndl.cpu_numpy())
    views = {"steps": x[1:5:2, ::3, -2], "negative": x[-1, -3:, 1:-1:4],
             "ellipsis": x[..., 5], "reversed": x[::-2, 4, :]}
    out = {}
    for name, v in views.items():
        out[f"{name}_layout"] = _layout(v)
        out[f"{name}_values"] = v.numpy()
    return out


@pytest.mark.question(1)
@pytest.mark.points(6)
def test_flip_and_writes_through_views():
    import needle as ndl
    from needle.backend_ndarray import NDArray
    x = NDArray(_rand(4, 4, 3, 5), device=ndl.cpu_numpy())
    f = x.flip((0, 2))
    all_axes = x.flip(None)
    base = NDArray(np.zeros((4, 6)), device=ndl.cpu_numpy())
    base[1:4:2, ::-3] = 7.0                 # through a sliced, reversed view
    base.permute((1, 0))[5, 0] = -1.0       # through a permuted view
    return {"flip_layout": _layout(f), "flip_values": f.numpy(), "all_layout": _layout(all_axes),
            "all_values": all_axes.numpy(), "written": base.numpy()}


# ---- Question 2: compact and setitem (20 points) ---------------------------------------------

# (shape, strides, offset) views of a buffer of 200 elements: transposed, stepped, broadcast,
# flipped (negative strides), a 0-d element and a view with a size-1 axis.
_VIEWS = [((7, 5), (1, 7), 3), ((3, 4, 2), (40, 9, 2), 5), ((4, 6), (0, 3), 11),
          ((5, 3), (-6, -1), 190), ((), (), 123), ((2, 1, 9), (70, 1, 7), 1)]


@pytest.mark.question(2)
@pytest.mark.points(8)
def test_compact_of_strided_views():
    import needle as ndl
    from needle.backend_ndarray import NDArray
    out = {}
    for dtype in ("float32", "float64"):
        src = NDArray(_rand(31, 200, dtype=dtype), device=ndl.cpu())
        for k, (shape, strides, offset) in enumerate(_VIEWS):
            dest = NDArray.make(shape, device=ndl.cpu(), dtype=dtype)
            ndl.cpu().compact(src._handle, dest._handle, shape, strides, offset)
            out[f"view{k}_{dtype}"] = dest.numpy()
    return out


@pytest.mark.question(2)
@pytest.mark.points(6)
def test_ewise_setitem_into_strided_views():
    import needle as ndl
    from needle.backend_ndarray import NDArray
    out = {}
    for k, (shape, strides, offset) in enumerate(v for v in _VIEWS if 0 not in v[1]):
        dest = NDArray(np.zeros(200), device=ndl.cpu(), dtype="float32")
        values = NDArray(_rand(40 + k, *shape), device=ndl.cpu())
        ndl.cpu().ewise_setitem(values._handle, dest._handle, shape, strides, offset)
        out[f"view{k}"] = dest.numpy()
    return out


@pytest.mark.question(2)
@pytest.mark.points(6)
def test_scalar_setitem_into_strided_views():
    import needle as ndl
    from needle.backend_ndarray import NDArray
    out = {}
    for k, (shape, strides, offset) in enumerate(_VIEWS):
        dest = NDArray(np.zeros(200), device=ndl.cpu(), dtype="float32")
        ndl.cpu().scalar_setitem(int(np.prod(shape)), -2.5 - k, dest._handle, shape, strides, offset)
        out[f"view{k}"] = dest.numpy()
    return out


# ---- Question 3: element-wise kernels (15 points) --------------------------------------------

_BINARY = ["add", "mul", "div", "power", "maximum", "eq", "ge"]


@pytest.mark.question(3)
@pytest.mark.points(6)
@pytest.mark.tolerance(rtol=1e-5, atol=1e-6)
def test_ewise_binary_kernels_on_odd_sizes():
    import needle as ndl
    from needle.backend_ndarray import NDArray
    out = {}
    for n in (1, 13, 1031, 70001):   # below, around and above any vector width or thread cut-off
        a = np.abs(_rand(50 + n, n)) + 0.5
        b = _rand(60 + n, n)
        b[::3] = a[::3]                  # equal entries, for eq and ge
        x, y = NDArray(a, device=ndl.cpu()), NDArray(b, device=ndl.cpu())
        for name in _BINARY:
            dest = NDArray.make((n,), device=ndl.cpu())
            getattr(ndl.cpu(), f"ewise_{name}")(x._handle, y._handle, dest._handle)
            out[f"{name}_{n}"] = dest.numpy()
    return out


@pytest.mark.question(3)
@pytest.mark.points(5)
@pytest.mark.tolerance(rtol=1e-5, atol=1e-6)
def test_scalar_kernels_in_both_dtypes():
    import needle as ndl
    from needle.backend_ndarray import NDArray
    out = {}
    for dtype in ("float32", "float64"):
        a = np.abs(_rand(70, 3001, dtype=dtype)) + 0.25
        x = NDArray(a, device=ndl.cpu())
        for name, val in zip(_BINARY, (1.5, -3.0, 7.0, 2.5, 0.75, float(a[17]), 1.0), strict=True):
            dest = NDArray.make(a.shape, device=ndl.cpu(), dtype=dtype)
            getattr(ndl.cpu(), f"scalar_{name}")(x._handle, val, dest._handle)
            out[f"{name}_{dtype}"] = dest.numpy()
    return out


@pytest.mark.question(3)
@pytest.mark.points(4)
@pytest.mark.tolerance(rtol=1e-5, atol=1e-6)
def test_unary_kernels():
    import needle as ndl
    from needle.backend_ndarray import NDArray
    out = {}
    for n in (5, 4099, 65537):
        a = _rand(80 + n, n) * 3
        x, pos = NDArray(a, device=ndl.cpu()), NDArray(np.abs(a) + 1e-3, device=ndl.cpu())
        for name, src in (("exp", x), ("tanh", x), ("log", pos)):
            dest = NDArray.make((n,), device=ndl.cpu())
            getattr(ndl.cpu(), f"ewise_{name}")(src._handle, dest._handle)
            out[f"{name}_{n}"] = dest.numpy()
    return out


# ---- Question 4: reductions (15 points) ------------------------------------------------------

# (outer, size, inner) layouts: a row reduction, a column reduction, a middle axis, odd sizes,
# sizes past the thread cut-off, and a one-element reduction.
_REDUCTIONS = [(1, 1, 1), (7, 13, 1), (1, 9, 600), (5, 17, 3), (3, 70001, 1), (2, 300, 1030), (11, 1, 4)]


def _reduce(kernel, seed, dtype="float32"):
    import needle as ndl
    from needle.backend_ndarray import NDArray
    out = {}
    for k, (outer, size, inner) in enumerate(_REDUCTIONS):
        x = NDArray(_rand(seed + k, outer, size, inner, dtype=dtype) - 3.0, device=ndl.cpu())
        dest = NDArray.make((outer, inner), device=ndl.cpu(), dtype=dtype)
        getattr(ndl.cpu(), kernel)(x._handle, dest._handle, outer, size, inner)
        out[f"layout{k}"] = dest.numpy()
    return out


@pytest.mark.question(4)
@pytest.mark.points(8)
@pytest.mark.tolerance(rtol=1e-4, atol=1e-3)
def test_reduce_sum_layouts():
    out = _reduce("reduce_sum", 90)
    out.update({f"{k}_float64": v for k, v in _reduce("reduce_sum", 95, "float64").items()})
    return out


@pytest.mark.question(4)
@pytest.mark.points(7)
def test_reduce_max_layouts():
    return _reduce("reduce_max", 100)   # all values near -3: an initial 0 would show


# ---- Question 5: matrix multiplication (30 points) -------------------------------------------

def _matmul(kernel, shapes, seed, dtype="float32"):
    import needle as ndl
    from needle.backend_ndarray import NDArray
    out = {}
    for k, (batch, m, n, p) in enumerate(shapes):
        a = NDArray(_rand(seed + k, batch, m, n, dtype=dtype), device=ndl.cpu())
        b = NDArray(_rand(seed + 50 + k, batch, n, p, dtype=dtype), device=ndl.cpu())
        dest = NDArray.make((batch, m, p), device=ndl.cpu(), dtype=dtype)
        ndl.cpu().fill(dest._handle, 123.0)   # a kernel that adds into out must clear it first
        getattr(ndl.cpu(), kernel)(a._handle, b._handle, dest._handle, batch, m, n, p)
        out[f"shape{k}"] = dest.numpy()
    return out


@pytest.mark.question(5)
@pytest.mark.points(10)
@pytest.mark.tolerance(rtol=1e-4, atol=1e-4)
def test_naive_matmul_odd_shapes():
    return _matmul("matmul_naive", [(1, 1, 1, 1), (1, 3, 7, 2), (1, 17, 1, 9), (3, 10, 21, 6)], 110)


@pytest.mark.question(5)
@pytest.mark.points(12)
@pytest.mark.tolerance(rtol=1e-4, atol=2e-4)
@pytest.mark.timeout(60)
def test_tiled_matmul_odd_and_panel_crossing_shapes():
    # Sizes straddle the register tile (6 or 8 rows, 16 or 32 columns), the k-panel (256) and
    # the row block, so every edge case of the packing shows.
    return _matmul("matmul", [(1, 1, 1, 1), (1, 5, 3, 15), (1, 9, 257, 33), (2, 97, 300, 17),
                              (1, 130, 513, 70)], 120)


@pytest.mark.question(5)
@pytest.mark.points(8)
@pytest.mark.tolerance(rtol=1e-9, atol=1e-9)
@pytest.mark.timeout(60)
def test_tiled_matmul_float64():
    return _matmul("matmul", [(1, 7, 11, 13), (2, 49, 260, 9), (1, 200, 64, 129)], 130, "float64")
