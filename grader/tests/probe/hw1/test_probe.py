"""A three-test hidden suite for the grader's own tests: hostile code goes in EWiseAdd.compute,
so test_add is the one attacked and the other two must pass untouched."""
import pytest


@pytest.mark.question(1)
@pytest.mark.points(1)
@pytest.mark.timeout(8)
def test_add():
    import needle as ndl
    return {"sum": (ndl.Tensor([1.0, 2.0]) + ndl.Tensor([3.0, 4.0])).numpy()}


@pytest.mark.question(1)
@pytest.mark.points(1)
@pytest.mark.timeout(8)
def test_mul():
    import needle as ndl
    return {"product": (ndl.Tensor([1.0, 2.0]) * ndl.Tensor([3.0, 4.0])).numpy()}


@pytest.mark.question(3)
@pytest.mark.points(1)
@pytest.mark.timeout(8)
def test_topo():
    import needle as ndl
    a, b = ndl.Tensor([1.0], requires_grad=True), ndl.Tensor([2.0], requires_grad=True)
    c = a * b
    d = c * a
    nodes = [a, b, c, d]
    return {"order": [next(i for i, n in enumerate(nodes) if n is m) for m in ndl.find_topo_sort([d])]}
