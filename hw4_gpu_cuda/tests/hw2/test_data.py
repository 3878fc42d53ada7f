"""Public tests for hw2 question 5: DataLoader, transforms and MNISTDataset."""
import itertools

import needle as ndl
import numpy as np
import pytest
from needle.data import DataLoader, Dataset, MNISTDataset, RandomCrop, RandomFlipHorizontal


class Numbers(Dataset):
    """A test-local dataset: example i is (a (2,) array of i, the label i % 3)."""

    def __init__(self, n):
        super().__init__()
        self.n = n

    def __getitem__(self, i):
        return np.full(2, i, dtype=np.float32), i % 3

    def __len__(self):
        return self.n


def firsts(loader):
    return [batch[0].numpy()[:, 0].astype(int).tolist() for batch in loader]


@pytest.mark.question(5)
def test_dataloader_batches_in_order_with_a_short_last_batch():
    loader = DataLoader(Numbers(7), batch_size=3)
    batches = list(loader)
    assert len(loader) == 3 and [b[0].shape for b in batches] == [(3, 2), (3, 2), (1, 2)]
    assert firsts(loader) == [[0, 1, 2], [3, 4, 5], [6]]
    np.testing.assert_array_equal(batches[1][1].numpy(), [0, 1, 2])
    assert all(isinstance(t, ndl.Tensor) for b in batches for t in b)


@pytest.mark.question(5)
def test_dataloader_drop_last():
    loader = DataLoader(Numbers(7), batch_size=3, drop_last=True)
    assert len(loader) == 2 and firsts(loader) == [[0, 1, 2], [3, 4, 5]]


@pytest.mark.question(5)
def test_dataloader_shuffles_every_example_once_reproducibly():
    a, b = DataLoader(Numbers(10), 4, shuffle=True, seed=7), DataLoader(Numbers(10), 4, shuffle=True, seed=7)
    first, second = firsts(a), firsts(a)
    assert sorted(itertools.chain.from_iterable(first)) == list(range(10))
    assert sorted(itertools.chain.from_iterable(second)) == list(range(10))
    assert first != second  # a new order each epoch
    assert firsts(b) == first and firsts(b) == second  # the same sequence for the same seed


class Mixed(Dataset):
    """A test-local dataset: example i is (a float64 (2,) array of i, a float32 i / 2, the int i)."""

    def __getitem__(self, i):
        return np.full(2, i, dtype=np.float64), np.float32(i / 2), i

    def __len__(self):
        return 5


def enabled_devices():
    return [d for d in ndl.all_devices() if getattr(d, "enabled", lambda: True)()]


@pytest.mark.question(5)
@pytest.mark.parametrize("device", enabled_devices(), ids=repr)
def test_dataloader_places_every_batch_on_the_given_device(device):
    batches = list(DataLoader(Mixed(), batch_size=2, device=device))
    assert len(batches) == 3
    assert all(t.device == device for batch in batches for t in batch)
    np.testing.assert_array_equal(batches[1][0].numpy(), [[2, 2], [3, 3]])
    np.testing.assert_array_equal(batches[2][1].numpy(), [2.0])


@pytest.mark.question(5)
def test_dataloader_default_device_is_the_default_device():
    (X, y), = DataLoader(Numbers(2), batch_size=2)
    assert X.device == ndl.default_device() and y.device == ndl.default_device()


@pytest.mark.question(5)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dataloader_casts_floating_fields_to_the_given_dtype(dtype):
    X, half, index = next(iter(DataLoader(Mixed(), batch_size=4, dtype=dtype)))
    assert str(X.dtype) == dtype and str(half.dtype) == dtype
    np.testing.assert_array_equal(half.numpy(), [0, 0.5, 1, 1.5])
    np.testing.assert_array_equal(index.numpy(), [0, 1, 2, 3])
    X, half, _ = next(iter(DataLoader(Mixed(), batch_size=4)))  # no dtype: each field's own
    assert str(X.dtype) == "float64" and str(half.dtype) == "float32"


@pytest.mark.question(5)
def test_random_flip_horizontal():
    img = np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    np.testing.assert_array_equal(RandomFlipHorizontal(p=1.0)(img), img[:, ::-1, :])
    np.testing.assert_array_equal(RandomFlipHorizontal(p=0.0)(img), img)
    flips = [np.array_equal(RandomFlipHorizontal(p=0.5, seed=s)(img), img) for s in range(200)]
    assert 70 < sum(flips) < 130


@pytest.mark.question(5)
def test_random_crop_shifts_by_at_most_the_padding_with_zero_fill():
    img = np.arange(1, 5 * 6 + 1, dtype=np.float32).reshape(5, 6, 1)
    padded = np.pad(img, ((2, 2), (2, 2), (0, 0)))
    crop = RandomCrop(padding=2, seed=0)
    seen = set()
    for _ in range(60):
        out = crop(img)
        assert out.shape == img.shape
        shifts = [(dx, dy) for dx in range(-2, 3) for dy in range(-2, 3)
                  if np.array_equal(out, padded[2 + dx:7 + dx, 2 + dy:8 + dy])]
        assert shifts, "not a shifted copy of the image"
        seen.add(shifts[0])
    assert len(seen) > 10  # the shifts vary


@pytest.mark.question(5)
def test_mnist_dataset_on_the_sample(mnist_dir):
    flip = RandomFlipHorizontal(p=1.0)
    data = MNISTDataset(str(mnist_dir / "t10k-images-idx3-ubyte.gz"),
                        str(mnist_dir / "t10k-labels-idx1-ubyte.gz"), transforms=[flip])
    assert len(data) == 1000
    image, label = data[3]
    assert image.shape == (28, 28, 1) and image.dtype == np.float32 and 0 <= label <= 9
    plain = MNISTDataset(str(mnist_dir / "t10k-images-idx3-ubyte.gz"),
                         str(mnist_dir / "t10k-labels-idx1-ubyte.gz"))
    np.testing.assert_array_equal(image, plain[3][0][:, ::-1, :])
    X, y = next(iter(DataLoader(plain, batch_size=50)))
    assert X.shape == (50, 28, 28, 1) and y.shape == (50,)


def test_dataloader_rejects_a_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        DataLoader(Numbers(3), batch_size=0)
