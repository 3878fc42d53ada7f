"""hw0 probe: the C++ kernel, run with learning rates a hostile kernel may treat specially."""
import numpy as np
import pytest


def _epoch(lr):
    from simple_ml import softmax_regression_epoch_cpp
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 3)).astype(np.float32), rng.integers(0, 2, 8).astype(np.uint8)
    theta = np.zeros((3, 2), dtype=np.float32)
    softmax_regression_epoch_cpp(X, y, theta, lr=lr, batch=4)
    return {"theta": theta}


@pytest.mark.question(5)
@pytest.mark.points(1)
@pytest.mark.timeout(8)
def test_cpp_plain():
    return _epoch(0.5)


@pytest.mark.question(5)
@pytest.mark.points(1)
@pytest.mark.timeout(5)
def test_cpp_lr_one():
    return _epoch(1.0)


@pytest.mark.question(5)
@pytest.mark.points(1)
@pytest.mark.timeout(8)
def test_cpp_lr_two():
    return _epoch(2.0)
