"""Public tests for hw1 questions 1 and 2: each op's forward against NumPy, and each op's
gradient rule against central differences (broadcasting, several summation axes, batched
matmul included)."""
import needle as ndl
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from needle_testing import check_op_gradient


def rand(*shape, seed=0, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def positive(*shape, seed=0):
    return rand(*shape, seed=seed, low=0.5, high=2.0)


# (name, needle function, NumPy reference, input arrays)
FORWARD_CASES = [
    ("add", ndl.add, np.add, (rand(3, 4), rand(3, 4, seed=1))),
    ("add_scalar", lambda a: ndl.add_scalar(a, 1.7), lambda a: a + 1.7, (rand(5, 2),)),
    ("multiply", ndl.multiply, np.multiply, (rand(3, 4), rand(3, 4, seed=1))),
    ("mul_scalar", lambda a: ndl.mul_scalar(a, -3.0), lambda a: a * -3.0, (rand(5, 2),)),
    ("power", ndl.power, np.power, (positive(3, 4), rand(3, 4, seed=1))),
    ("power_scalar", lambda a: ndl.power_scalar(a, 3), lambda a: a ** 3, (rand(5, 2),)),
    ("divide", ndl.divide, np.divide, (rand(3, 4), positive(3, 4, seed=1))),
    ("divide_scalar", lambda a: ndl.divide_scalar(a, 4.0), lambda a: a / 4.0, (rand(5, 2),)),
    ("negate", ndl.negate, np.negative, (rand(2, 3),)),
    ("log", ndl.log, np.log, (positive(2, 3),)),
    ("exp", ndl.exp, np.exp, (rand(2, 3),)),
    ("relu", ndl.relu, lambda a: np.maximum(a, 0), (rand(4, 5),)),
    ("transpose_last_two", ndl.transpose, lambda a: np.swapaxes(a, -1, -2), (rand(2, 3, 4),)),
    ("transpose_axes", lambda a: ndl.transpose(a, (0, 2)), lambda a: np.swapaxes(a, 0, 2),
     (rand(2, 3, 4),)),
    ("reshape", lambda a: ndl.reshape(a, (4, 6)), lambda a: a.reshape(4, 6), (rand(2, 3, 4),)),
    ("broadcast_to", lambda a: ndl.broadcast_to(a, (2, 3, 4)),
     lambda a: np.broadcast_to(a, (2, 3, 4)), (rand(3, 1),)),
    ("summation_all", ndl.summation, np.sum, (rand(3, 4),)),
    ("summation_axis", lambda a: ndl.summation(a, 1), lambda a: a.sum(axis=1), (rand(3, 4),)),
    ("summation_axes", lambda a: ndl.summation(a, (0, 2)), lambda a: a.sum(axis=(0, 2)),
     (rand(2, 3, 4),)),
    ("summation_negative_axis", lambda a: ndl.summation(a, -1), lambda a: a.sum(axis=-1),
     (rand(2, 3, 4),)),
    ("matmul", ndl.matmul, np.matmul, (rand(3, 4), rand(4, 5, seed=1))),
    ("matmul_batched", ndl.matmul, np.matmul, (rand(2, 3, 4), rand(2, 4, 5, seed=1))),
    ("matmul_broadcast", ndl.matmul, np.matmul, (rand(3, 4), rand(2, 4, 5, seed=1))),
    ("matmul_broadcast_batch_axes", ndl.matmul, np.matmul,
     (rand(2, 1, 3, 4), rand(5, 4, 2, seed=1))),
]


@pytest.mark.question(1)
@pytest.mark.parametrize("name, op, reference, inputs", FORWARD_CASES, ids=[c[0] for c in FORWARD_CASES])
def test_forward_matches_numpy(name, op, reference, inputs):
    out = op(*[ndl.Tensor(a) for a in inputs])
    expected = reference(*inputs)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.question(1)
def test_forward_keeps_float32():
    a, b = ndl.Tensor(rand(2, 3).astype(np.float32)), ndl.Tensor(rand(3, 2).astype(np.float32))
    for out in (a + 1.0, a * 2, a / 3, a ** 2, ndl.exp(a), ndl.relu(a), a @ b, a.sum(axes=0),
                a * np.float64(2.5), a - np.int64(1), 2 ** a, 3.0 / a):
        assert out.dtype == np.float32


@pytest.mark.question(1)
def test_operators_and_reflected_operators():
    a, b = rand(2, 3), positive(2, 3, seed=1)
    A, B = ndl.Tensor(a), ndl.Tensor(b)
    for got, expected in [(A - B, a - b), (A / B, a / b), (2 - A, 2 - a), (3 / B, 3 / b),
                          (2 ** A, 2 ** a), (-A, -a), (B ** A, b ** a), (1 + A, 1 + a),
                          (A @ ndl.Tensor(b.T), a @ b.T), (a.T @ B, a.T @ b)]:
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)


@pytest.mark.question(1)
@given(a=arrays(np.float64, array_shapes(min_dims=1, max_dims=3, max_side=4),
                elements=st.floats(-100, 100)),
       data=st.data())
def test_summation_over_any_axes_matches_numpy(a, data):
    axes = data.draw(st.lists(st.integers(0, a.ndim - 1), unique=True, max_size=a.ndim), label="axes")
    np.testing.assert_allclose(ndl.summation(ndl.Tensor(a), tuple(axes)).numpy(),
                               a.sum(axis=tuple(axes)), rtol=1e-9, atol=1e-9)


@pytest.mark.question(1)
@given(a=arrays(np.float64, (3, 4), elements=st.floats(-10, 10)),
       b=arrays(np.float64, (3, 4), elements=st.floats(-10, 10)))
def test_elementwise_ops_match_numpy_on_bounded_inputs(a, b):
    A, B = ndl.Tensor(a), ndl.Tensor(b)
    np.testing.assert_allclose((A + B).numpy(), a + b)
    np.testing.assert_allclose((A * B).numpy(), a * b)
    np.testing.assert_allclose(ndl.relu(A).numpy(), np.maximum(a, 0))
    np.testing.assert_allclose(ndl.exp(A).numpy(), np.exp(a), rtol=1e-12)


# (name, function applying one op, inputs): each checked by central differences
GRADIENT_CASES = [
    ("add", ndl.add, (rand(3, 4), rand(3, 4, seed=1))),
    ("add_scalar", lambda a: ndl.add_scalar(a, 2.0), (rand(3, 4),)),
    ("multiply", ndl.multiply, (rand(3, 4), rand(3, 4, seed=1))),
    ("mul_scalar", lambda a: ndl.mul_scalar(a, -1.5), (rand(3, 4),)),
    ("power", ndl.power, (positive(3, 4), rand(3, 4, seed=1))),
    ("power_scalar", lambda a: ndl.power_scalar(a, 3), (rand(3, 4),)),
    ("power_scalar_negative", lambda a: ndl.power_scalar(a, -2), (positive(3, 4),)),
    ("divide", ndl.divide, (rand(3, 4), positive(3, 4, seed=1))),
    ("divide_scalar", lambda a: ndl.divide_scalar(a, 4.0), (rand(3, 4),)),
    ("negate", ndl.negate, (rand(3, 4),)),
    ("log", ndl.log, (positive(3, 4),)),
    ("exp", ndl.exp, (rand(3, 4),)),
    ("relu", ndl.relu, (rand(4, 5) + np.where(rand(4, 5, seed=2) > 0, 0.1, -0.1),)),  # no zeros
    ("transpose_last_two", ndl.transpose, (rand(2, 3, 4),)),
    ("transpose_axes", lambda a: ndl.transpose(a, (0, 1)), (rand(2, 3, 4),)),
    ("reshape", lambda a: ndl.reshape(a, (3, 8)), (rand(2, 3, 4),)),
    ("broadcast_new_leading_axes", lambda a: ndl.broadcast_to(a, (2, 3, 4)), (rand(4),)),
    ("broadcast_length_one_axes", lambda a: ndl.broadcast_to(a, (2, 3, 4)), (rand(2, 1, 4),)),
    ("broadcast_mixed", lambda a: ndl.broadcast_to(a, (2, 3, 4)), (rand(3, 1),)),
    ("broadcast_scalar", lambda a: ndl.broadcast_to(a, (3, 3)), (rand(1),)),
    ("summation_all", ndl.summation, (rand(3, 4),)),
    ("summation_axis", lambda a: ndl.summation(a, 0), (rand(3, 4),)),
    ("summation_two_axes", lambda a: ndl.summation(a, (0, 2)), (rand(2, 3, 4),)),
    ("summation_negative_axes", lambda a: ndl.summation(a, (-1, -2)), (rand(2, 3, 4),)),
    ("matmul", ndl.matmul, (rand(3, 4), rand(4, 5, seed=1))),
    ("matmul_batched", ndl.matmul, (rand(2, 3, 4), rand(2, 4, 5, seed=1))),
    ("matmul_broadcast_left", ndl.matmul, (rand(3, 4), rand(2, 4, 5, seed=1))),
    ("matmul_broadcast_right", ndl.matmul, (rand(2, 3, 4), rand(4, 5, seed=1))),
    ("matmul_broadcast_batch_axes", ndl.matmul, (rand(2, 1, 3, 4), rand(3, 4, 2, seed=1))),
]


@pytest.mark.question(2)
@pytest.mark.parametrize("name, op, inputs", GRADIENT_CASES, ids=[c[0] for c in GRADIENT_CASES])
def test_gradient_matches_central_differences(name, op, inputs):
    check_op_gradient(op, *inputs)


@pytest.mark.question(2)
def test_sum_to_shape_sums_broadcast_axes():
    x = ndl.Tensor(np.arange(24.0).reshape(2, 3, 4))
    np.testing.assert_allclose(ndl.sum_to_shape(x, (3, 1)).numpy(),
                               np.arange(24.0).reshape(2, 3, 4).sum(axis=(0, 2)).reshape(3, 1))
    np.testing.assert_allclose(ndl.sum_to_shape(x, (4,)).numpy(),
                               np.arange(24.0).reshape(2, 3, 4).sum(axis=(0, 1)))
    assert ndl.sum_to_shape(x, (2, 3, 4)).shape == (2, 3, 4)


@pytest.mark.question(1)
def test_an_op_object_applied_twice_reads_each_input_afresh():
    # The given checks resolve a -1 (Reshape) or a negative axis (Flip) for each input, without
    # overwriting what the op was given: one op object can serve inputs of different shapes.
    reshape = ndl.ops.Reshape((-1,))
    assert reshape(ndl.Tensor(rand(2, 3))).shape == (6,)
    assert reshape(ndl.Tensor(rand(4, 1))).shape == (4,)


# ---- NumPy scalars and one-element arrays as scalar operands (CMU needle passes them) ---------

SCALAR_OPERANDS = {"f32": np.float32(2.5), "f64": np.float64(2.5), "(1,)": np.array([2.5], np.float32),
                   "(1,1)": np.array([[2.5]], np.float32), "int(1,)": np.array([2]),
                   "int(1,1,1)": np.array([[[2]]])}


@pytest.mark.question(1)
@pytest.mark.parametrize("op", [
    lambda a, b: a + b, lambda a, b: b + a, lambda a, b: a - b, lambda a, b: b - a,
    lambda a, b: a * b, lambda a, b: b * a, lambda a, b: a / b, lambda a, b: b / a,
    lambda a, b: a ** b,
], ids=["add", "radd", "sub", "rsub", "mul", "rmul", "div", "rdiv", "pow"])
def test_scalar_operands_follow_numpys_shapes_and_keep_the_tensors_dtype(op):
    """NumPy scalars and one-element arrays act as scalars (CMU needle passes both): values and
    shape as NumPy's broadcasting gives them, dtype the tensor's (weak scalars, as PyTorch).
    Every operand kind on a (2, 3) and a 0-d tensor: one test per operator, naming the case."""
    for shape in [(2, 3), ()]:
        a = np.random.default_rng(0).uniform(0.5, 2.0, shape).astype(np.float32)
        for name, value in SCALAR_OPERANDS.items():
            case = f"a tensor of shape {shape} with a {name} operand"
            out = op(ndl.Tensor(a), value)
            expected = op(a, value)
            assert isinstance(out, ndl.Tensor) and out.shape == np.shape(expected), case
            assert out.dtype == np.float32, case
            np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, err_msg=case)


def test_a_wider_one_element_float_array_is_refused_not_silently_narrowed():
    """NumPy and PyTorch would make float32 * float64-array float64; needle's scalar ops keep
    the tensor's dtype, so they refuse rather than differ."""
    with pytest.raises(TypeError, match="would promote this float32 tensor's result to float64"):
        ndl.Tensor([1.0], dtype="float32") * np.array([3.0])
    with pytest.raises(TypeError, match="expected a Tensor or a number"):
        ndl.Tensor([1.0]) * np.array([1.0, 2.0])
