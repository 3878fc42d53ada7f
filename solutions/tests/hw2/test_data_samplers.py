"""Samplers, NDArrayDataset and DataLoader's sampler options, against torch.utils.data where
its behaviour is deterministic (SequentialSampler, BatchSampler, drop_last, len())."""
import itertools

import needle as ndl
import numpy as np
import pytest
from needle.data import BatchSampler, DataLoader, NDArrayDataset, RandomSampler, Sampler, SequentialSampler
from torch_reference import needs_torch, torch


def firsts(loader):
    return [batch[0].numpy().astype(int).tolist() for batch in loader]


# ---- given code: samplers and NDArrayDataset --------------------------------------------------

@needs_torch
@pytest.mark.parametrize("n", [0, 1, 7])
def test_sequential_sampler_matches_torch(n):
    ours, theirs = SequentialSampler(range(n)), torch.utils.data.SequentialSampler(range(n))
    assert list(ours) == list(theirs) == list(range(n)) and len(ours) == len(theirs) == n
    assert isinstance(ours, Sampler)


def test_random_sampler_is_a_new_permutation_each_pass_reproducible_by_its_generator():
    sampler = RandomSampler(range(10), generator=np.random.default_rng(5))
    first, second = list(sampler), list(sampler)
    assert sorted(first) == sorted(second) == list(range(10)) and first != second
    rng = np.random.default_rng(5)  # the documented draws: one permutation per pass
    assert first == rng.permutation(10).tolist() and second == rng.permutation(10).tolist()
    assert all(type(i) is int for i in first) and len(sampler) == 10


def test_random_sampler_without_a_generator_follows_needle_manual_seed():
    ndl.manual_seed(11)
    first = list(RandomSampler(range(9)))
    ndl.manual_seed(11)
    assert list(RandomSampler(range(9))) == first == np.random.default_rng(11).permutation(9).tolist()


def test_random_sampler_num_samples_and_replacement():
    longer = list(RandomSampler(range(4), num_samples=10, generator=np.random.default_rng(0)))
    # as PyTorch: two whole permutations of range(4), then two indices of a third
    assert len(longer) == 10 and sorted(longer[:4]) == sorted(longer[4:8]) == [0, 1, 2, 3]
    assert len(set(longer[8:])) == 2
    drawn = list(RandomSampler(range(3), replacement=True, num_samples=200,
                               generator=np.random.default_rng(1)))
    assert len(drawn) == 200 and set(drawn) == {0, 1, 2}
    assert drawn == np.random.default_rng(1).integers(0, 3, size=200).tolist()


@pytest.mark.parametrize("kwargs,error,match", [
    ({"num_samples": 0}, ValueError, "RandomSampler: num_samples must be a positive integer, got 0"),
    ({"generator": 3}, TypeError,
     "RandomSampler: generator must be a numpy.random.Generator or None, got int"),
    ({"replacement": 1}, TypeError, "RandomSampler: replacement must be a bool, got 1"),
])
def test_random_sampler_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        RandomSampler(range(3), **kwargs)


def test_ndarray_dataset_gives_aligned_examples():
    X, y = np.arange(12.0).reshape(4, 3), np.array([3, 1, 4, 1])
    data = NDArrayDataset(X, y)
    assert len(data) == 4
    np.testing.assert_array_equal(data[2][0], X[2])
    assert data[2][1] == 4 and len(data[0]) == 2


@pytest.mark.parametrize("arrays,match", [
    ((np.zeros((3, 2)), np.zeros(4)), r"NDArrayDataset: the arrays must have the same length "
                                      r"\(first axis\), got lengths \[3, 4\]"),
    ((), "NDArrayDataset: expected at least one array, got none"),
    ((np.zeros(3), np.float32(1.0)), "NDArrayDataset: array 1 is a scalar"),
])
def test_ndarray_dataset_rejects_mismatched_arrays(arrays, match):
    with pytest.raises(ValueError, match=match):
        NDArrayDataset(*arrays)


@pytest.mark.parametrize("n,batch_size,drop_last,expected", [
    (7, 3, False, 3), (7, 3, True, 2), (6, 3, True, 2), (0, 2, False, 0), (2, 5, True, 0)])
def test_batch_sampler_and_dataloader_lengths(n, batch_size, drop_last, expected):
    assert len(BatchSampler(range(n), batch_size, drop_last)) == expected
    data = NDArrayDataset(np.arange(n))
    assert len(DataLoader(data, batch_size=batch_size, drop_last=drop_last)) == expected


@needs_torch
@pytest.mark.parametrize("n,batch_size,drop_last", [(7, 3, False), (7, 3, True), (6, 2, True), (2, 5, True)])
def test_batch_sampler_length_matches_torch(n, batch_size, drop_last):
    theirs = torch.utils.data.BatchSampler(range(n), batch_size, drop_last)
    assert len(BatchSampler(range(n), batch_size, drop_last)) == len(theirs)


@pytest.mark.parametrize("kwargs,match", [
    ({"sampler": [0, 1], "shuffle": True}, "sampler option is mutually exclusive with shuffle"),
    ({"batch_sampler": [[0]], "batch_size": 2}, "batch_sampler option is mutually exclusive with "
                                                "batch_size, shuffle, sampler, and drop_last"),
    ({"batch_sampler": [[0]], "shuffle": True}, "batch_sampler option is mutually exclusive"),
    ({"batch_sampler": [[0]], "sampler": [0]}, "batch_sampler option is mutually exclusive"),
    ({"batch_sampler": [[0]], "drop_last": True}, "batch_sampler option is mutually exclusive"),
])
def test_dataloader_sampler_options_are_mutually_exclusive_as_torch(kwargs, match):
    data = NDArrayDataset(np.arange(4))
    with pytest.raises(ValueError, match=match):
        DataLoader(data, **kwargs)
    if torch is not None:  # the same combinations are refused by PyTorch
        with pytest.raises(ValueError, match=match):
            torch.utils.data.DataLoader(range(4), **kwargs)


def test_dataloader_builds_torchs_samplers():
    data = NDArrayDataset(np.arange(5))
    plain, shuffled = DataLoader(data, 2), DataLoader(data, 2, shuffle=True, seed=0)
    assert isinstance(plain.sampler, SequentialSampler) and isinstance(shuffled.sampler, RandomSampler)
    assert isinstance(plain.batch_sampler, BatchSampler) and plain.batch_sampler.batch_size == 2
    assert shuffled.sampler.generator is shuffled.generator and plain.generator is None
    with pytest.raises(TypeError, match=r"DataLoader: seed must be an integer or None, got 1\.5"):
        DataLoader(data, seed=1.5)


# ---- question 5: BatchSampler.__iter__ and DataLoader.__iter__ ----------------------------

@needs_torch
@pytest.mark.question(5)
@pytest.mark.parametrize("n,batch_size,drop_last", [
    (7, 3, False), (7, 3, True), (6, 3, False), (6, 3, True), (1, 4, False), (1, 4, True), (0, 2, False)])
def test_batch_sampler_matches_torch(n, batch_size, drop_last):
    order = [(5 * i) % 11 for i in range(n)]  # not sorted: the sampler's order is kept
    ours = list(BatchSampler(order, batch_size, drop_last))
    assert ours == list(torch.utils.data.BatchSampler(order, batch_size, drop_last))


@pytest.mark.question(5)
def test_batch_sampler_batches_a_sampler_in_its_order():
    assert list(BatchSampler([4, 2, 0, 3, 1], 2, False)) == [[4, 2], [0, 3], [1]]
    assert list(BatchSampler(SequentialSampler(range(5)), 2, True)) == [[0, 1], [2, 3]]


@pytest.mark.question(5)
def test_dataloader_reads_the_batches_its_sampler_and_batch_sampler_give():
    data = NDArrayDataset(np.arange(10) * 10)
    assert firsts(DataLoader(data, 3, sampler=[9, 0, 8, 1])) == [[90, 0, 80], [10]]
    assert firsts(DataLoader(data, 3, sampler=[9, 0, 8, 1], drop_last=True)) == [[90, 0, 80]]
    loader = DataLoader(data, batch_sampler=[[3], [5, 4, 2], [0, 0]])
    assert firsts(loader) == [[30], [50, 40, 20], [0, 0]] and len(loader) == 3


@pytest.mark.question(5)
def test_dataloader_shuffles_as_its_random_sampler():
    data = NDArrayDataset(np.arange(10))
    loader = DataLoader(data, 4, shuffle=True, seed=3)
    epochs = [list(itertools.chain.from_iterable(firsts(loader))) for _ in range(2)]
    rng = np.random.default_rng(3)  # the sampler draws one permutation per epoch from it
    assert epochs == [rng.permutation(10).tolist(), rng.permutation(10).tolist()]
