"""Bad input to hw2's surface (issue 14): module sizes and inputs, labels, optimiser settings and
data loading each raise a ValueError or TypeError naming the bad value (PyTorch's checks as the
model), never a ZeroDivisionError, a NaN or a wrong answer; and log-sum-exp at its edges
(infinities, an empty axis) gives PyTorch's answer.

The checks run before any student code, so the error cases pass from the start; the value
cases carry the question whose code they need.
"""
import needle as ndl
import needle.nn as nn
import needle.optim as optim
import numpy as np
import pytest
from needle.data import DataLoader, Dataset
from torch_reference import needs_torch, to_torch, torch


def tensor(*shape, seed=0):
    return ndl.Tensor(np.random.default_rng(seed).standard_normal(shape), dtype="float32")


# ---- sizes: constructors and initialisers -----------------------------------------------------

@pytest.mark.parametrize("make,error,match", [
    (lambda: nn.Linear(0, 4), ValueError, "Linear: in_features must be a positive integer, got 0"),
    (lambda: nn.Linear(-1, 4), ValueError, "Linear: in_features must be a positive integer, got -1"),
    (lambda: nn.Linear(3, 0), ValueError, "Linear: out_features must be a positive integer, got 0"),
    (lambda: nn.Linear(2.5, 4), TypeError, r"Linear: in_features .* got 2\.5"),
    (lambda: nn.BatchNorm1d(0), ValueError, "BatchNorm1d: dim must be a positive integer, got 0"),
    (lambda: nn.LayerNorm1d(-3), ValueError, "LayerNorm1d: dim must be a positive integer, got -3"),
    (lambda: ndl.init.kaiming_uniform(0, 3), ValueError, "kaiming_uniform: fan_in .* got 0"),
    (lambda: ndl.init.kaiming_normal(-1, 3), ValueError, "kaiming_normal: fan_in .* got -1"),
    (lambda: ndl.init.xavier_uniform(3, 0), ValueError, "xavier_uniform: fan_out .* got 0"),
    (lambda: ndl.init.xavier_normal(0, 0), ValueError, "xavier_normal: fan_in .* got 0"),
    (lambda: ndl.init.uniform(2, 1.5), TypeError, r"uniform: fan_out .* got 1\.5"),
    (lambda: ndl.init.normal(-2, 2), ValueError, "normal: fan_in .* got -2"),
])
def test_sizes_must_be_positive_integers(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ---- module inputs against the configuration --------------------------------------------------

@pytest.mark.parametrize("module,shape,match", [
    (lambda: nn.LayerNorm1d(1), (2, 3), r"LayerNorm1d\(dim=1\) got features of size 3"),
    (lambda: nn.LayerNorm1d(3), (2, 3, 1), r"LayerNorm1d\(dim=3\) expected input \(N, 3\), "
                                           r"got shape \(2, 3, 1\)"),
    (lambda: nn.BatchNorm1d(4), (5, 3), r"BatchNorm1d\(dim=4\) got features of size 3"),
    (lambda: nn.BatchNorm1d(4), (4,), r"BatchNorm1d\(dim=4\) expected input \(N, 4\)"),
    (lambda: nn.BatchNorm1d(3), (0, 3), r"BatchNorm1d\(dim=3\) got input \(0, 3\) in training: "
                                        r"expected more than 1 value per channel, got 0"),
    (lambda: nn.BatchNorm1d(3), (1, 3), r"BatchNorm1d\(dim=3\) got input \(1, 3\) in training: "
                                        r"expected more than 1 value per channel, got 1"),
])
def test_normalisation_checks_its_input(module, shape, match):
    with pytest.raises(ValueError, match=match):
        module()(tensor(*shape))


@pytest.mark.question(3)
def test_batchnorm_batches_under_two_leave_running_statistics_alone():
    bn = nn.BatchNorm1d(3)
    for n in (0, 1):
        with pytest.raises(ValueError):
            bn(tensor(n, 3))
    np.testing.assert_array_equal(bn.running_mean.numpy(), np.zeros(3))
    np.testing.assert_array_equal(bn.running_var.numpy(), np.ones(3))
    assert bn.eval()(tensor(0, 3)).shape == (0, 3)  # evaluation of no examples is no examples
    np.testing.assert_allclose(bn(tensor(1, 3)).numpy(), tensor(1, 3).numpy() / np.sqrt(1 + 1e-5),
                               rtol=1e-5)  # one example in evaluation uses the running statistics


@pytest.mark.parametrize("logits,y,error,match", [
    ((3,), [1], ValueError, r"SoftmaxLoss: expected logits \(N, k\), got shape \(3,\)"),
    ((2, 3), [1], ValueError, r"expected labels of shape \(2,\) for logits \(2, 3\), got \(1,\)"),
    ((1, 3), [1.5], ValueError, r"SoftmaxLoss: label 1\.5 is not an integer"),
    ((1, 3), [np.nan], ValueError, "SoftmaxLoss: label nan is not an integer"),
    ((1, 3), [3], ValueError, "SoftmaxLoss: label 3 is outside 0..2"),
    ((1, 3), [-1], ValueError, "SoftmaxLoss: label -1 is outside 0..2"),
])
def test_softmax_loss_checks_logits_and_labels(logits, y, error, match):
    with pytest.raises(error, match=match):
        nn.SoftmaxLoss()(tensor(*logits), ndl.Tensor(np.asarray(y, dtype="float32")))


# ---- optimisers and schedulers (PyTorch's bounds) ---------------------------------------------

def params():
    """Parameters made without student code (a stubbed ``Linear`` would fail first)."""
    return [nn.Parameter(np.zeros((2, 2), dtype="float32"))]


@pytest.mark.parametrize("make,error,match", [
    (lambda: optim.Adam(params(), beta1=1.0), ValueError, r"Adam: beta1 must be in \[0, 1\), got 1\.0"),
    (lambda: optim.Adam(params(), beta1=-0.1), ValueError, r"Adam: beta1 .* got -0\.1"),
    (lambda: optim.Adam(params(), beta2=1.0), ValueError, r"Adam: beta2 .* got 1\.0"),
    (lambda: optim.Adam(params(), beta2=2), ValueError, r"Adam: beta2 .* got 2\.0"),
    (lambda: optim.Adam(params(), eps=-1), ValueError, "Adam: eps must be >= 0, got -1"),
    (lambda: optim.Adam(params(), lr=-0.1), ValueError, r"Adam: lr must be >= 0, got -0\.1"),
    (lambda: optim.Adam(params(), weight_decay=-1), ValueError, "Adam: weight_decay must be >= 0"),
    (lambda: optim.SGD(params(), lr=-1), ValueError, "SGD: lr must be >= 0, got -1"),
    (lambda: optim.SGD(params(), momentum=-0.5), ValueError, r"SGD: momentum must be >= 0, got -0\.5"),
    (lambda: optim.SGD(params(), weight_decay=-1e-4), ValueError, "SGD: weight_decay must be >= 0"),
    (lambda: optim.SGD(params(), lr=float("nan")), ValueError, "SGD: lr must be >= 0, got nan"),
    (lambda: optim.SGD(params(), lr="0.1"), TypeError, "SGD: lr must be a number"),
    (lambda: optim.SGD(params()[0]), TypeError,
     r"SGD: params must be an iterable of Tensors, got a Tensor of shape \(2, 2\)"),
    (lambda: optim.SGD([nn.ReLU()]), TypeError, "item 0 is of type ReLU"),
    (lambda: optim.SGD([]), ValueError, "SGD: got an empty parameter list"),
    (lambda: optim.StepLR(optim.SGD(params()), step_size=0), ValueError,
     "StepLR: step_size must be a positive integer, got 0"),
    (lambda: optim.StepLR(optim.SGD(params()), step_size=1.5), TypeError, r"got 1\.5"),
    (lambda: optim.StepLR(optim.SGD(params()), step_size=1, gamma=-0.5), ValueError,
     r"StepLR: gamma must be >= 0, got -0\.5"),
    (lambda: optim.StepLR(params(), step_size=1), TypeError, "StepLR: expected an Optimizer, got list"),
    (lambda: optim.clip_grad_norm(params(), -1.0), ValueError,
     r"clip_grad_norm: max_norm must be >= 0, got -1\.0"),
])
def test_optimiser_settings_are_checked(make, error, match):
    with pytest.raises(error, match=match):
        make()


@needs_torch
@pytest.mark.parametrize("settings", [{"betas": (1.0, 0.999)}, {"betas": (0.9, 2.0)},
                                      {"eps": -1.0}, {"lr": -1.0}, {"weight_decay": -1.0}])
def test_torch_rejects_the_same_adam_settings(settings):
    with pytest.raises(ValueError):
        torch.optim.Adam([to_torch(np.zeros(2), requires_grad=True)], **settings)


# ---- data -------------------------------------------------------------------------------------

class Arrays(Dataset):
    """Items that are bare arrays ``(2, 3)``, not tuples."""

    def __init__(self, n):
        super().__init__()
        self.items = [np.full((2, 3), i, dtype="float32") for i in range(n)]

    def __getitem__(self, i):
        return self.items[i]

    def __len__(self):
        return len(self.items)


@pytest.mark.parametrize("batch_size,error,match", [
    (2.5, TypeError, r"DataLoader: batch_size must be a positive integer, got 2\.5"),
    (0, ValueError, "DataLoader: batch_size must be a positive integer, got 0"),
    (-2, ValueError, "got -2"),
    (None, TypeError, "got None"),
])
def test_dataloader_checks_batch_size_at_construction(batch_size, error, match):
    with pytest.raises(error, match=match):
        DataLoader(Arrays(3), batch_size=batch_size)


@pytest.mark.parametrize("kwargs,match", [
    ({"device": "cpu"}, r"DataLoader: device must be a needle device such as ndl.cpu\(\) or None, got 'cpu'"),
    ({"dtype": "int64"}, r"DataLoader: dtype must be one of \['float32', 'float64'\] or None, got 'int64'"),
    ({"dtype": np.float32}, "DataLoader: dtype must be one of .* got <class 'numpy.float32'>"),
])
def test_dataloader_checks_device_and_dtype_at_construction(kwargs, match):
    with pytest.raises(TypeError, match=match):
        DataLoader(Arrays(3), batch_size=1, **kwargs)


@pytest.mark.question(5)
def test_dataloader_keeps_a_bare_array_item_whole():
    batches = list(DataLoader(Arrays(3), batch_size=2))
    assert [len(batch) for batch in batches] == [1, 1]
    assert [batch[0].shape for batch in batches] == [(2, 2, 3), (1, 2, 3)]
    np.testing.assert_array_equal(batches[1][0].numpy(), np.full((1, 2, 3), 2.0))


# ---- log-sum-exp at its edges (question 1) ----------------------------------------------------

INF = np.inf


@pytest.mark.question(1)
@pytest.mark.filterwarnings("ignore:divide by zero")  # NumPy's log(0) = -inf, as wanted
@pytest.mark.parametrize("z,axes,expected", [
    ([[-INF, -INF], [INF, 0.0]], (1,), [-INF, INF]),
    ([[-INF, 0.0], [INF, INF]], (1,), [0.0, INF]),
    ([[-INF, 1.0], [-INF, 2.0]], (0,), [-INF, 2.0 + np.log1p(np.exp(-1.0))]),
    ([[-INF, -INF]], None, -INF),
])
def test_logsumexp_with_infinities(z, axes, expected):
    z = np.asarray(z)
    for dtype in ("float32", "float64"):
        out = ndl.logsumexp(ndl.Tensor(z, dtype=dtype), axes).numpy()
        np.testing.assert_allclose(out, expected, rtol=1e-6)


@pytest.mark.question(1)
@pytest.mark.parametrize("shape,axes,expected_shape", [
    ((2, 0), (1,), (2,)), ((2, 0), None, ()), ((0, 3), (1,), (0,)), ((2, 0, 3), (1,), (2, 3)),
])
def test_logsumexp_over_an_empty_axis_is_minus_inf(shape, axes, expected_shape):
    out = ndl.logsumexp(ndl.Tensor(np.zeros(shape), dtype="float32"), axes).numpy()
    assert out.shape == expected_shape
    np.testing.assert_array_equal(out, np.full(expected_shape, -np.inf))


@pytest.mark.question(1)
def test_logsumexp_keeps_huge_finite_values():
    z = np.array([[1e300, 1e300], [-1e300, -1e300]])
    np.testing.assert_allclose(ndl.logsumexp(ndl.Tensor(z), (1,)).numpy(),
                               [1e300, -1e300], rtol=1e-12)


@pytest.mark.question(1)
@needs_torch
def test_logsumexp_edges_match_torch():
    z = np.array([[-INF, -INF], [INF, 0.0], [1.0, 2.0]])
    expected = torch.logsumexp(to_torch(z), dim=1).numpy()
    np.testing.assert_allclose(ndl.logsumexp(ndl.Tensor(z), (1,)).numpy(), expected, rtol=1e-12)
    empty = torch.logsumexp(to_torch(np.zeros((2, 0))), dim=1).numpy()
    np.testing.assert_array_equal(ndl.logsumexp(ndl.Tensor(np.zeros((2, 0))), (1,)).numpy(), empty)


@pytest.mark.parametrize("axes,error,match", [
    (5, ValueError, r"LogSumExp: axis 5 is out of range for 2 axes"),
    (0.5, TypeError, r"LogSumExp: axes must be an int, a sequence of ints or None, got 0\.5"),
])
def test_logsumexp_rejects_bad_axes(axes, error, match):
    with pytest.raises(error, match=match):
        ndl.logsumexp(tensor(2, 3), axes)


@pytest.mark.question(1)
def test_logsumexp_accepts_a_numpy_integer_axis():
    z = np.random.default_rng(0).standard_normal((2, 3))
    expected = np.log(np.exp(z).sum(axis=1))
    np.testing.assert_allclose(ndl.logsumexp(ndl.Tensor(z), np.int64(1)).numpy(), expected,
                               rtol=1e-12)
