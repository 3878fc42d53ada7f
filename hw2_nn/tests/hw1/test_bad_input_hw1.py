"""Bad input to hw1's surface (issue 14): each case raises a ValueError or TypeError naming the
bad value, never a wrong answer; and valid calls once wrongly rejected (``reshape`` with -1,
``summation`` over a NumPy integer axis, ``randb``) give NumPy's answer.

The checks run before any student code, so the error cases pass from the start; the value
cases need question 1's ``compute``.
"""
import needle as ndl
import numpy as np
import pytest
from needle.checks import in_unit_interval, integer_ids, non_negative, positive_int


def rand(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape)


# ---- the checks themselves --------------------------------------------------------------------

@pytest.mark.parametrize("value,error,match", [
    (0, ValueError, "size must be a positive integer, got 0"),
    (-1, ValueError, "got -1"),
    (2.5, TypeError, r"got 2\.5 \(float\)"),
    (2.0, TypeError, r"got 2\.0 \(float\)"),
    (True, TypeError, "got True"),
    (None, TypeError, "got None"),
])
def test_positive_int_rejects(value, error, match):
    with pytest.raises(error, match=match):
        positive_int("Thing", "size", value)


def test_positive_int_accepts_numpy_integers():
    assert positive_int("Thing", "size", np.int64(3)) == 3
    assert type(positive_int("Thing", "size", np.int64(3))) is int


@pytest.mark.parametrize("check,value,match", [
    (non_negative, -0.5, r"lr must be >= 0, got -0\.5"),
    (non_negative, float("nan"), "lr must be >= 0, got nan"),
    (in_unit_interval, 1.0, r"lr must be in \[0, 1\), got 1\.0"),
    (in_unit_interval, -0.1, r"got -0\.1"),
])
def test_number_checks_reject(check, value, match):
    with pytest.raises(ValueError, match=match):
        check("Opt", "lr", value)


@pytest.mark.parametrize("ids,match", [
    ([1.7], r"id 1\.7 is not an integer"),
    ([0.0, np.nan], "id nan is not an integer"),
    ([np.inf], "id inf is not an integer"),
    ([[0, 1], [2, 10]], "id 10 is outside 0..9"),
    ([-1.0], "id -1 is outside 0..9"),
])
def test_integer_ids_rejects(ids, match):
    with pytest.raises(ValueError, match=match):
        integer_ids("Lookup", "id", np.asarray(ids), 10)


def test_integer_ids_accepts_whole_floats_and_tensors():
    ids = integer_ids("Lookup", "id", ndl.Tensor([[1.0, 2.0]]), 3)
    assert ids.dtype == np.int64 and ids.tolist() == [[1, 2]]


# ---- init_basic -------------------------------------------------------------------------------

@pytest.mark.parametrize("labels,match", [
    ([1.7], r"one_hot: label 1\.7 is not an integer"),
    ([np.nan], "one_hot: label nan is not an integer"),
    ([3], "one_hot: label 3 is outside 0..2"),
])
def test_one_hot_rejects_bad_labels(labels, match):
    with pytest.raises(ValueError, match=match):
        ndl.init.one_hot(3, np.asarray(labels))


def test_one_hot_accepts_whole_float_labels():
    out = ndl.init.one_hot(3, ndl.Tensor([2.0, 0.0])).numpy()
    np.testing.assert_array_equal(out, np.eye(3)[[2, 0]])


def test_randb_gives_float_zeros_and_ones():
    mask = ndl.init.randb(3, 4, p=0.5, rng=np.random.default_rng(0))
    assert mask.shape == (3, 4) and mask.dtype == np.float32
    assert set(np.unique(mask.numpy())) <= {0.0, 1.0}
    np.testing.assert_array_equal(ndl.init.randb(2, 3, p=1.0).numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(ndl.init.randb(2, 3, p=0.0).numpy(), np.zeros((2, 3)))


def test_randb_rejects_a_probability_outside_0_1():
    with pytest.raises(ValueError, match=r"randb: p must be in \[0, 1\], got 1\.5"):
        ndl.init.randb(2, 2, p=1.5)


# ---- ops: shapes and axes ---------------------------------------------------------------------

@pytest.mark.parametrize("shape,match", [
    ((4, -1), r"cannot reshape shape \(2, 3\) \(6 elements\) to \(4, -1\)"),
    ((-1, -1), r"shape \(-1, -1\) may hold one -1"),
    ((-2, -3), r"shape \(-2, -3\) may hold one -1 and otherwise sizes >= 0"),
    ((7,), r"cannot reshape shape \(2, 3\) \(6 elements\) to \(7,\)"),
])
def test_reshape_rejects_bad_shapes(shape, match):
    with pytest.raises(ValueError, match=match):
        ndl.reshape(ndl.Tensor(rand(2, 3)), shape)


def test_reshape_rejects_a_fractional_size():
    with pytest.raises(TypeError, match=r"non-integer entry 1\.5"):
        ndl.reshape(ndl.Tensor(rand(2, 3)), (4, 1.5))


@pytest.mark.parametrize("axes,error,match", [
    (1.5, TypeError, r"Summation: axes must be an int, a sequence of ints or None, got 1\.5"),
    ((0, 1.0), TypeError, r"Summation: axis 1\.0 is not an integer"),
    ((2,), ValueError, r"Summation: axis 2 is out of range for 2 axes"),
    ((0, -2), ValueError, r"Summation: axes \(0, -2\) repeat axis 0"),
])
def test_summation_rejects_bad_axes(axes, error, match):
    with pytest.raises(error, match=match):
        ndl.summation(ndl.Tensor(rand(2, 3)), axes)


@pytest.mark.question(1)
@pytest.mark.parametrize("shape", [(-1,), (3, -1), (-1, 2), (1, -1, 3)])
def test_reshape_with_minus_one_matches_numpy(shape):
    x = rand(2, 3)
    for out in (ndl.reshape(ndl.Tensor(x), shape), ndl.Tensor(x).reshape(shape)):
        np.testing.assert_array_equal(out.numpy(), x.reshape(shape))


@pytest.mark.question(2)
def test_reshape_with_minus_one_gradient():
    x = ndl.Tensor(rand(2, 3), requires_grad=True)
    (ndl.reshape(x, (-1,)) * ndl.Tensor(np.arange(6.0))).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(6.0).reshape(2, 3))


@pytest.mark.question(1)
@pytest.mark.parametrize("axes", [np.int64(0), np.int32(1), (np.int64(0), 1)])
def test_summation_accepts_numpy_integer_axes(axes):
    x = rand(2, 3)
    np.testing.assert_allclose(ndl.summation(ndl.Tensor(x), axes).numpy(),
                               x.sum(axis=tuple(np.atleast_1d(axes).tolist())), rtol=1e-12)
