"""Public tests for hw1 questions 5 and 6: softmax loss and the two-layer net, with needle."""
import os
import subprocess
import sys
from pathlib import Path

import needle as ndl
import numpy as np
import pytest
import simple_ml
from apps.simple_ml_needle import loss_err, nn_epoch, softmax_loss, train_nn
from gradcheck import numerical_gradient
from needle_testing import check_backward


def reference_loss(Z, y):
    Z = np.asarray(Z, dtype=np.float64)
    Z_max = Z.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(Z - Z_max).sum(axis=1)) + Z_max[:, 0] - Z[np.arange(len(y)), y]))


def one_hot(y, k, dtype=np.float64):
    return ndl.Tensor(np.eye(k, dtype=dtype)[y])


# ---- Question 5: softmax_loss -----------------------------------------------------------------

@pytest.mark.question(5)
def test_softmax_loss_matches_the_formula():
    rng = np.random.default_rng(5)
    Z, y = rng.standard_normal((50, 10)).astype(np.float32), rng.integers(0, 10, 50)
    loss = softmax_loss(ndl.Tensor(Z), one_hot(y, 10, np.float32))
    assert loss.shape == ()
    np.testing.assert_allclose(loss.numpy(), reference_loss(Z, y), rtol=1e-5)


@pytest.mark.question(5)
def test_softmax_loss_is_stable_for_large_logits():
    rng = np.random.default_rng(6)
    Z, y = rng.standard_normal((20, 5)), rng.integers(0, 5, 20)
    loss = softmax_loss(ndl.Tensor(Z + 1000.0), one_hot(y, 5)).numpy()
    np.testing.assert_allclose(loss, reference_loss(Z, y), rtol=1e-9)


@pytest.mark.question(5)
def test_softmax_loss_gradient_is_softmax_minus_labels():
    rng = np.random.default_rng(7)
    Z, y = rng.standard_normal((6, 4)) * 3, rng.integers(0, 4, 6)
    check_backward(lambda z: softmax_loss(z, one_hot(y, 4)), Z)
    z = ndl.Tensor(Z, requires_grad=True)
    softmax_loss(z, one_hot(y, 4)).backward()
    softmax = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(z.grad.numpy(), (softmax - np.eye(4)[y]) / 6, rtol=1e-9)


def test_softmax_loss_checks_the_label_shape():
    with pytest.raises(ValueError, match=r"logits have shape \(2, 3\) but labels \(2, 4\)"):
        softmax_loss(ndl.Tensor(np.zeros((2, 3))), ndl.Tensor(np.zeros((2, 4))))


# ---- Question 6: nn_epoch ---------------------------------------------------------------------

@pytest.mark.question(6)
def test_nn_epoch_one_batch_is_one_gradient_step():
    rng = np.random.default_rng(8)
    X, y = rng.standard_normal((10, 6)), rng.integers(0, 4, 10).astype(np.uint8)
    W1, W2 = rng.standard_normal((6, 8)), rng.standard_normal((8, 4))
    grad_W1 = numerical_gradient(lambda w: reference_loss(np.maximum(X @ w, 0) @ W2, y), W1)
    grad_W2 = numerical_gradient(lambda w: reference_loss(np.maximum(X @ W1, 0) @ w, y), W2)
    new_W1, new_W2 = nn_epoch(X, y, ndl.Tensor(W1), ndl.Tensor(W2), lr=0.2, batch=10)
    np.testing.assert_allclose(new_W1.numpy(), W1 - 0.2 * grad_W1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_W2.numpy(), W2 - 0.2 * grad_W2, rtol=1e-5, atol=1e-6)


@pytest.mark.question(6)
def test_nn_epoch_returns_weights_with_no_graph_behind_them():
    rng = np.random.default_rng(9)
    X, y = rng.standard_normal((30, 6)).astype(np.float32), rng.integers(0, 4, 30).astype(np.uint8)
    W1 = ndl.Tensor(rng.standard_normal((6, 8)).astype(np.float32))
    W2 = ndl.Tensor(rng.standard_normal((8, 4)).astype(np.float32))
    new_W1, new_W2 = nn_epoch(X, y, W1, W2, lr=0.1, batch=10)
    for w in (new_W1, new_W2):
        assert w.is_leaf() and w.inputs == [] and w.dtype == np.float32


@pytest.mark.question(6)
@pytest.mark.slow
@pytest.mark.timeout(600)  # a training run: minutes on a slow machine
def test_needle_two_layer_net_reaches_7_percent_on_mnist_sample():
    X_tr, y_tr, X_te, y_te = simple_ml.load_mnist_sample()
    W1, W2 = train_nn(X_tr, y_tr, X_te, y_te, hidden_dim=400, epochs=20, lr=0.2)
    logits = ndl.relu(ndl.Tensor(X_te) @ W1) @ W2
    assert loss_err(logits, y_te)[1] <= 0.07


# ---- given: CMU needle's apps/simple_ml.py module --------------------------------------------

_CMU_IMPORT = """
import sys
sys.path.append("./python")
sys.path.append("./apps")
from simple_ml import *
import simple_ml
print(simple_ml.__file__)
print(softmax_loss.__module__, nn_epoch.__module__, loss_err.__module__, parse_mnist.__module__)
"""


def sanitizer_env() -> dict[str, str]:
    """The variables `make test SANITIZE=...` sets, which a sanitized build needs to load."""
    return {name: value for name, value in os.environ.items()
            if name in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}


def test_cmu_style_from_simple_ml_import_star_gives_the_needle_functions():
    """CMU's hw1 tests append ./python and ./apps to sys.path and ``from simple_ml import *``:
    run exactly that from the homework's folder, with src/ not on the path (CMU's layout)."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", _CMU_IMPORT], cwd=root, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **sanitizer_env()})
    assert done.returncode == 0, done.stderr
    path, modules = done.stdout.split("\n")[:2]
    assert Path(path).resolve() == root / "apps" / "simple_ml.py"
    assert modules.split() == ["apps.simple_ml_needle"] * 3 + ["simple_ml_hw0"]


def test_apps_simple_ml_gathers_hw0_helpers_and_hw1_functions():
    """Imported as ``apps.simple_ml`` with src/ first on the path (as pytest.ini puts it), the
    module holds the same needle functions, and ``simple_ml`` stays hw0's NumPy module."""
    import apps.simple_ml as cmu
    assert cmu.softmax_loss is softmax_loss and cmu.nn_epoch is nn_epoch and cmu.loss_err is loss_err
    assert Path(simple_ml.__file__).parent.name == "src"
    assert cmu.parse_mnist.__code__.co_filename == simple_ml.parse_mnist.__code__.co_filename
    assert set(cmu.__all__) <= set(dir(cmu))
