"""Hidden tests for hw2: other shapes and settings than the public tests, values returned."""
import numpy as np
import pytest
from _hidden_mnist import mnist


def _rand(seed, *shape, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


# ---- Question 1: LogSumExp and LogSoftmax (10 points) -----------------------------------------

@pytest.mark.question(1)
@pytest.mark.points(5)
def test_logsumexp_values_and_gradients():
    import needle as ndl
    z = ndl.Tensor(_rand(1, 3, 4, 5) * 20 + 3e3, requires_grad=True)
    out = ndl.logsumexp(z, (0, 2))
    (out * ndl.Tensor(_rand(2, 4))).sum().backward()
    whole = ndl.logsumexp(ndl.Tensor(_rand(3, 2, 6)), None)
    return {"out": out.numpy(), "grad": z.grad.numpy(), "whole": whole.numpy()}


@pytest.mark.question(1)
@pytest.mark.points(5)
def test_logsoftmax_values_and_gradient():
    import needle as ndl
    z = ndl.Tensor(_rand(4, 7, 3) * 50, requires_grad=True)
    out = ndl.logsoftmax(z)
    (out * ndl.Tensor(_rand(5, 7, 3))).sum().backward()
    return {"out": out.numpy(), "grad": z.grad.numpy()}


# ---- Question 2: initialisers (10 points) -----------------------------------------------------

@pytest.mark.question(2)
@pytest.mark.points(10)
@pytest.mark.tolerance(rtol=0.03, atol=0.003)
def test_initialiser_statistics():
    import needle as ndl
    stats = []
    for name, kwargs in (("xavier_uniform", {"gain": 1.5}), ("xavier_normal", {}),
                         ("kaiming_uniform", {"nonlinearity": "tanh"}), ("kaiming_normal", {})):
        w = getattr(ndl.init, name)(300, 100, rng=np.random.default_rng(11), **kwargs).numpy()
        stats += [w.std(), w.mean(), float(w.shape == (300, 100))]
    return {"stats": np.array(stats, dtype=np.float64)}


# ---- Question 3: modules (30 points) ----------------------------------------------------------

def _fixed_linear(nn, n_in, n_out, seed):
    import needle as ndl
    layer = nn.Linear(n_in, n_out)
    layer.weight.data = ndl.Tensor((_rand(seed, n_in, n_out) / np.sqrt(n_in)).astype(np.float32))
    layer.bias.data = ndl.Tensor((_rand(seed + 1, n_out) * 0.1).astype(np.float32))
    return layer


@pytest.mark.question(3)
@pytest.mark.points(8)
@pytest.mark.tolerance(rtol=1e-4, atol=1e-5)
def test_linear_and_softmax_loss_forward_backward():
    import needle as ndl
    import needle.nn as nn
    layer = _fixed_linear(nn, 6, 4, 20)
    x = ndl.Tensor(_rand(22, 9, 6).astype(np.float32), requires_grad=True)
    loss = nn.SoftmaxLoss()(layer(x), ndl.Tensor(np.arange(9) % 4))
    loss.backward()
    return {"loss": loss.numpy(), "grad_w": layer.weight.grad.numpy(), "grad_b": layer.bias.grad.numpy(),
            "grad_x": x.grad.numpy()}


@pytest.mark.question(3)
@pytest.mark.points(10)
@pytest.mark.tolerance(rtol=1e-4, atol=1e-5)
def test_batchnorm_train_eval_and_gradients():
    import needle as ndl
    import needle.nn as nn
    bn = nn.BatchNorm1d(5, momentum=0.3)
    outs = []
    for seed in range(3):
        x = ndl.Tensor((_rand(30 + seed, 8, 5) * 3 + seed).astype(np.float32), requires_grad=True)
        out = bn(x)
        (out * ndl.Tensor(_rand(40 + seed, 8, 5).astype(np.float32))).sum().backward()
        outs.append(x.grad.numpy())
    bn.eval()
    evaluated = bn(ndl.Tensor(_rand(50, 4, 5).astype(np.float32))).numpy()
    return {"grads": np.stack(outs), "running_mean": bn.running_mean.numpy(),
            "running_var": bn.running_var.numpy(), "evaluated": evaluated,
            "grad_weight": bn.weight.grad.numpy()}


@pytest.mark.question(3)
@pytest.mark.points(6)
@pytest.mark.tolerance(rtol=1e-4, atol=1e-5)
def test_layernorm_and_residual():
    import needle as ndl
    import needle.nn as nn
    model = nn.Sequential(nn.Residual(nn.Sequential(_fixed_linear(nn, 6, 6, 60), nn.ReLU())),
                          nn.LayerNorm1d(6), nn.Flatten())
    x = ndl.Tensor(_rand(61, 5, 6).astype(np.float32), requires_grad=True)
    out = model(x)
    (out * out).sum().backward()
    return {"out": out.numpy(), "grad": x.grad.numpy()}


@pytest.mark.question(3)
@pytest.mark.points(6)
@pytest.mark.tolerance(rtol=0.0, atol=0.01)
def test_dropout_statistics():
    import needle as ndl
    import needle.nn as nn
    ndl.manual_seed(7)
    drop = nn.Dropout(0.6)
    out = drop(ndl.Tensor(np.ones((300, 300), dtype=np.float32))).numpy()
    drop.eval()
    same = drop(ndl.Tensor(np.full((2, 2), 3.0, dtype=np.float32))).numpy()
    return {"zero_rate": np.mean(out == 0), "mean": out.mean(), "kept_value": out[out > 0].max() * 0.4,
            "evaluated": same}


# ---- Question 4: optimisers (20 points) -------------------------------------------------------

def _trajectory(make, steps=6):
    import needle as ndl
    w = ndl.nn.Parameter(_rand(70, 4, 3).astype(np.float32))
    target = ndl.Tensor(_rand(71, 4, 3).astype(np.float32))
    opt, out = make([w]), []
    for _ in range(steps):
        opt.zero_grad()
        ((w - target) ** 4).sum().backward()
        opt.step()
        out.append(w.numpy().copy())
    return np.stack(out)


@pytest.mark.question(4)
@pytest.mark.points(7)
@pytest.mark.tolerance(rtol=1e-4, atol=1e-5)
def test_sgd_trajectory():
    import needle as ndl
    return {"momentum": _trajectory(lambda p: ndl.optim.SGD(p, lr=0.005, momentum=0.8, weight_decay=0.05)),
            "plain": _trajectory(lambda p: ndl.optim.SGD(p, lr=0.005))}


@pytest.mark.question(4)
@pytest.mark.points(8)
@pytest.mark.tolerance(rtol=1e-4, atol=1e-5)
def test_adam_trajectory():
    import needle as ndl
    return {"adam": _trajectory(
        lambda p: ndl.optim.Adam(p, lr=0.03, beta1=0.8, beta2=0.99, weight_decay=0.02))}


@pytest.mark.question(4)
@pytest.mark.points(5)
@pytest.mark.tolerance(rtol=1e-5, atol=1e-6)
def test_clipping_and_schedule():
    import needle as ndl
    a = ndl.nn.Parameter(np.ones((3, 3), dtype=np.float32))
    (a * ndl.Tensor(_rand(80, 3, 3).astype(np.float32))).sum().backward()
    norm = ndl.optim.clip_grad_norm([a], 0.5)
    opt = ndl.optim.SGD([a], lr=0.8)
    scheduler = ndl.optim.StepLR(opt, step_size=3, gamma=0.5)
    rates = []
    for _ in range(7):
        scheduler.step()
        rates.append(opt.lr)
    return {"norm": norm, "clipped": a.grad.numpy(), "rates": rates}


# ---- Question 5: data (10 points) -------------------------------------------------------------

@pytest.mark.question(5)
@pytest.mark.points(5)
def test_dataloader_batches(mnist_dir):
    import os

    import needle as ndl
    data = ndl.data.MNISTDataset(os.path.join(mnist_dir, "t10k-images-idx3-ubyte.gz"),
                                 os.path.join(mnist_dir, "t10k-labels-idx1-ubyte.gz"))
    sizes, label_sums = [], []
    for X, y in ndl.data.DataLoader(data, batch_size=128, drop_last=True):
        sizes.append(X.shape[0])
        label_sums.append(int(y.numpy().sum()))
    shuffled = [int(y.numpy().sum())
                for _, y in ndl.data.DataLoader(data, batch_size=300, shuffle=True, seed=3)]
    return {"sizes": sizes, "label_sums": label_sums, "shuffled_total": sum(shuffled),
            "shuffled_batches": len(shuffled), "length": len(data)}


@pytest.mark.question(5)
@pytest.mark.points(5)
def test_transforms_keep_shape_and_content():
    from needle.data import RandomCrop, RandomFlipHorizontal
    img = _rand(90, 6, 7, 2).astype(np.float32)
    flipped = RandomFlipHorizontal(p=1.0)(img)
    crops = [RandomCrop(padding=1, seed=s)(img) for s in range(20)]
    in_place = [float(np.isin(c[c != 0], img).all()) for c in crops]
    return {"flipped": flipped, "crop_shapes": [c.shape for c in crops], "contents_from_image": in_place}


# ---- Question 6: MLPResNet (20 points) --------------------------------------------------------

@pytest.mark.question(6)
@pytest.mark.points(8)
def test_model_structure():
    import needle as ndl
    from apps.mlp_resnet import MLPResNet, ResidualBlock
    sizes = [sum(int(np.prod(p.shape)) for p in m.parameters())
             for m in (MLPResNet(50, hidden_dim=24, num_blocks=2, num_classes=7),
                       ResidualBlock(16, 9, norm=ndl.nn.LayerNorm1d))]
    out = MLPResNet(50, hidden_dim=24, num_blocks=2, num_classes=7)(ndl.Tensor(np.zeros((3, 50), np.float32)))
    return {"sizes": sizes, "out_shape": out.shape}


@pytest.mark.question(6)
@pytest.mark.points(12)
@pytest.mark.timeout(180)
@pytest.mark.threshold("error_rate", predictions="logits", labels="labels", at_most=0.06)
def test_mlp_resnet_mnist_error_bound(mnist_dir):
    import os

    import needle as ndl
    from apps.mlp_resnet import MLPResNet, epoch
    # train_mnist's loop (its file is the student's): the student's model, epoch, data and optimiser
    ndl.manual_seed(3)
    train_set = ndl.data.MNISTDataset(os.path.join(mnist_dir, "train-images-idx3-ubyte.gz"),
                                      os.path.join(mnist_dir, "train-labels-idx1-ubyte.gz"))
    loader = ndl.data.DataLoader(train_set, 100, shuffle=True, seed=3)
    model = MLPResNet(784, hidden_dim=100)
    opt = ndl.optim.Adam(model.parameters(), lr=0.002, weight_decay=0.001)
    scheduler = ndl.optim.StepLR(opt, 8)
    for _ in range(12):
        epoch(loader, model, opt)
        scheduler.step()
    X_te, y_te = mnist(mnist_dir, "t10k")  # evaluated on inputs read by the grader's own reader
    model.eval()
    with ndl.no_grad():
        logits = model(ndl.Tensor(X_te)).numpy()
    return {"logits": np.asarray(logits, dtype=np.float32), "labels": y_te}
