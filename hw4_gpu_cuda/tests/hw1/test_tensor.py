"""Public tests of hw1's given code: Tensor, graph recording, no_grad and bad-input errors.

These pass before any question is done: they use a test-local op (``Double``) rather than the
ops students write, and check errors raised before any student code runs.
"""
import copy
import gc

import needle as ndl
import numpy as np
import pytest
from needle.autograd import TensorOp


class Double(TensorOp):
    """``2 a``: a test-local op, so these tests do not depend on any student's ops."""

    def compute(self, a):
        return a * 2

    def gradient(self, out_grad, node):
        return out_grad


class WrongShapeGradient(Double):
    def gradient(self, out_grad, node):
        return ndl.Tensor(np.zeros((1,)))


def test_tensor_from_list_is_float32_and_from_numpy_keeps_dtype():
    assert ndl.Tensor([[1, 2], [3, 4]]).dtype == np.float32
    assert ndl.Tensor(np.zeros(3, dtype=np.float64)).dtype == np.float64
    assert ndl.Tensor(np.zeros(3), dtype="float32").dtype == np.float32
    t = ndl.Tensor(np.arange(6.0).reshape(2, 3))
    assert t.shape == (2, 3) and t.ndim == 2
    np.testing.assert_array_equal(t.numpy(), np.arange(6.0).reshape(2, 3))


def test_requires_grad_defaults_to_false_as_in_pytorch():
    assert not ndl.Tensor([1.0]).requires_grad
    assert ndl.Tensor([1.0], requires_grad=True).requires_grad


def test_an_op_records_its_inputs_only_when_some_input_requires_grad():
    x = ndl.Tensor([1.0, 2.0], requires_grad=True)
    y = Double()(x)
    assert isinstance(y.op, Double) and y.inputs == [x] and y.requires_grad
    np.testing.assert_array_equal(y.numpy(), [2.0, 4.0])
    z = Double()(ndl.Tensor([1.0]))
    assert z.op is None and z.inputs == [] and not z.requires_grad


def test_no_grad_records_nothing_and_restores_the_mode():
    x = ndl.Tensor([1.0, 2.0], requires_grad=True)
    with ndl.no_grad():
        assert not ndl.is_grad_enabled()
        y = Double()(x)
    assert ndl.is_grad_enabled()
    assert y.op is None and y.inputs == [] and not y.requires_grad
    np.testing.assert_array_equal(y.numpy(), [2.0, 4.0])


def test_no_grad_works_as_a_decorator_and_restores_after_an_error():
    @ndl.no_grad()
    def double(t):
        return Double()(t)

    assert not double(ndl.Tensor([1.0], requires_grad=True)).requires_grad
    with pytest.raises(KeyError), ndl.no_grad():
        raise KeyError("boom")
    assert ndl.is_grad_enabled()


def test_one_no_grad_instance_entered_twice_restores_each_level():
    no_grad = ndl.no_grad()
    with no_grad:
        assert not ndl.is_grad_enabled()
        with no_grad:
            assert not ndl.is_grad_enabled()
        assert not ndl.is_grad_enabled()  # the inner exit restores the outer block's mode
    assert ndl.is_grad_enabled()


def test_a_recursive_no_grad_function_restores_each_level():
    modes = []  # (depth, "enter" or "after the inner call", is_grad_enabled())

    @ndl.no_grad()  # one no_grad instance, entered once per call level
    def countdown(depth):
        modes.append((depth, "enter", ndl.is_grad_enabled()))
        if depth > 0:
            countdown(depth - 1)
            modes.append((depth, "after the inner call", ndl.is_grad_enabled()))

    countdown(3)
    assert modes == [(3, "enter", False), (2, "enter", False), (1, "enter", False),
                     (0, "enter", False), (1, "after the inner call", False),
                     (2, "after the inner call", False), (3, "after the inner call", False)]
    assert ndl.is_grad_enabled()


def test_the_numpy_array_api_holds_exactly_the_array_contract():
    from needle.array_contract import ARRAY_API
    from needle.backend_numpy import array_api  # hw1's and hw2's array_api
    assert all(callable(getattr(array_api, name)) for name in ARRAY_API)
    assert {name for name in vars(array_api) if not name.startswith("_")} == {*ARRAY_API, "ndarray"}
    with pytest.raises(AttributeError) as error:
        _ = array_api.add  # a NumPy function the NDArray module of hw3 lacks
    assert "'add'" in str(error.value) and all(name in str(error.value) for name in ARRAY_API)


def test_detach_and_data_cut_the_graph():
    x = ndl.Tensor([1.0, 2.0], requires_grad=True)
    y = Double()(x)
    for cut in (y.detach(), y.data):
        assert cut.op is None and not cut.requires_grad
        np.testing.assert_array_equal(cut.numpy(), [2.0, 4.0])


def test_data_setter_checks_shape():
    x = ndl.Tensor([1.0, 2.0])
    x.data = ndl.Tensor([5.0, 6.0])
    np.testing.assert_array_equal(x.numpy(), [5.0, 6.0])
    with pytest.raises(ValueError, match=r"shape \(3,\).*expected shape \(2,\)"):
        x.data = ndl.Tensor([1.0, 2.0, 3.0])


def test_item_of_a_one_element_tensor():
    assert ndl.Tensor([[2.5]]).item() == 2.5
    with pytest.raises(ValueError, match=r"shape \(2,\) has 2 elements"):
        ndl.Tensor([1.0, 2.0]).item()


def test_backward_without_out_grad_needs_a_one_element_output():
    y = Double()(ndl.Tensor([1.0, 2.0], requires_grad=True))
    with pytest.raises(RuntimeError, match=r"only for a one-element output.*\(2,\)"):
        y.backward()


def test_backward_checks_out_grad_shape_and_requires_grad():
    y = Double()(ndl.Tensor([1.0, 2.0], requires_grad=True))
    with pytest.raises(ValueError, match=r"out_grad has shape \(3,\), expected \(2,\)"):
        y.backward(ndl.Tensor([1.0, 1.0, 1.0]))
    with pytest.raises(RuntimeError, match="does not require grad"):
        ndl.Tensor([1.0]).backward()


def test_gradient_as_tuple_rejects_an_adjoint_of_the_wrong_shape():
    x = ndl.Tensor([1.0, 2.0], requires_grad=True)
    y = WrongShapeGradient()(x)
    with pytest.raises(ValueError, match=r"adjoint 0 has shape \(1,\) but input 0 has shape \(2,\)"):
        y.op.gradient_as_tuple(ndl.Tensor([1.0, 1.0]), y)


@pytest.mark.parametrize("make, message", [
    (lambda: ndl.add(ndl.Tensor(np.ones((2, 3))), ndl.Tensor(np.ones(3))),
     r"EWiseAdd: operand shapes \(2, 3\) and \(3,\) differ"),
    (lambda: ndl.Tensor(np.ones((2, 3))) * ndl.Tensor(np.ones((3, 2))),
     r"EWiseMul: operand shapes \(2, 3\) and \(3, 2\)"),
    (lambda: ndl.matmul(ndl.Tensor(np.ones((2, 3))), ndl.Tensor(np.ones((4, 5)))),
     r"MatMul: shapes \(2, 3\) and \(4, 5\) do not multiply"),
    (lambda: ndl.matmul(ndl.Tensor(np.ones((2, 2, 3))), ndl.Tensor(np.ones((3, 3, 1)))),
     r"MatMul: shapes \(2, 2, 3\) and \(3, 3, 1\)"),
    (lambda: ndl.matmul(ndl.Tensor(np.ones(3)), ndl.Tensor(np.ones((3, 1)))),
     r"MatMul: shapes \(3,\) and \(3, 1\)"),
    (lambda: ndl.reshape(ndl.Tensor(np.ones((2, 3))), (4,)),
     r"cannot reshape shape \(2, 3\) \(6 elements\) to \(4,\)"),
    (lambda: ndl.broadcast_to(ndl.Tensor(np.ones((2, 3))), (3, 3)),
     r"cannot broadcast shape \(2, 3\) to \(3, 3\)"),
    (lambda: ndl.summation(ndl.Tensor(np.ones((2, 3))), (0, 2)),
     r"Summation: axis 2 is out of range for 2 axes"),
    (lambda: ndl.summation(ndl.Tensor(np.ones((2, 3))), (1, -1)), r"axes \(1, -1\)"),
    (lambda: ndl.transpose(ndl.Tensor(np.ones(3))), r"Transpose: axis -2 is out of range for 1 axis"),
])
def test_bad_shapes_raise_naming_the_shapes(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_tensor_counter_counts_live_tensors():
    """``needle.autograd.TENSOR_COUNTER`` (CMU's name): up as tensors are made, down as freed."""
    def live():
        return ndl.autograd.TENSOR_COUNTER

    gc.collect()
    before = live()
    x = ndl.Tensor([1.0, 2.0])
    y = x.detach()
    assert live() == before + 2
    del x, y
    gc.collect()
    assert live() == before
    with pytest.raises((TypeError, ValueError)):  # NumPy's ValueError, NDArray's TypeError
        ndl.Tensor(["not", "numbers"])  # a failed construction is counted and freed once
    gc.collect()
    assert live() == before
    x = ndl.Tensor([1.0])
    y = copy.copy(x)  # made by __new__ without __init__, and freed like any other
    assert live() == before + 2
    del x, y
    gc.collect()
    assert live() == before


def test_operators_reject_non_numbers():
    x = ndl.Tensor([1.0])
    with pytest.raises(TypeError, match="expected a Tensor or a number"):
        x + "1"
    with pytest.raises(TypeError, match="input 1 is a list"):
        ndl.add(x, [1.0])
