"""hw5 question 5: CIFAR-10 batches and Penn-Treebank-style text.

CIFAR-10: a small batch in the official pickle format, written by the test. Text: the real news
sample the repository ships in ``data/news`` (PTB's format; see its README), with the figures
its README gives.
"""
from pathlib import Path

import needle as ndl
import numpy as np
import pytest

pytestmark = pytest.mark.question(5)


@pytest.fixture(scope="module")
def news_dir() -> Path:
    from simple_ml import default_data_dir  # given code in hw0's src/simple_ml.py
    return default_data_dir() / "news"


@pytest.fixture
def cifar_dir(tmp_path):
    rng = np.random.default_rng(0)
    for i, n in enumerate((7, 5), start=1):
        ndl.data.write_cifar10_batch(tmp_path / f"data_batch_{i}",
                                     rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8),
                                     rng.integers(0, 10, n))
    ndl.data.write_cifar10_batch(tmp_path / "test_batch",
                                 rng.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8), [9, 0, 3, 3])
    return tmp_path


def test_cifar10_reads_every_training_batch_in_order(cifar_dir):
    import pickle
    train = ndl.data.CIFAR10Dataset(cifar_dir, train=True)
    assert len(train) == 12
    with open(cifar_dir / "data_batch_2", "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    x, y = train[8]  # the second file's second image
    assert x.shape == (3, 32, 32) and x.dtype == np.float32
    np.testing.assert_allclose(x, batch[b"data"][1].reshape(3, 32, 32) / 255.0, rtol=1e-6)
    assert y == batch[b"labels"][1]
    test = ndl.data.CIFAR10Dataset(cifar_dir, train=False)
    assert len(test) == 4 and [int(test[i][1]) for i in range(4)] == [9, 0, 3, 3]


def test_cifar10_batches_and_transforms(cifar_dir):
    data = ndl.data.CIFAR10Dataset(cifar_dir, train=True, transforms=[lambda x: x[:, :, ::-1]])
    plain = ndl.data.CIFAR10Dataset(cifar_dir, train=True)
    np.testing.assert_array_equal(data[0][0], plain[0][0][:, :, ::-1])
    X, y = next(iter(ndl.data.DataLoader(plain, batch_size=5)))
    assert X.shape == (5, 3, 32, 32) and y.shape == (5,)
    np.testing.assert_array_equal(X.numpy(), plain.X[:5])


def test_cifar10_missing_or_malformed_files_raise(tmp_path, cifar_dir):
    with pytest.raises(FileNotFoundError, match="make data"):
        ndl.data.CIFAR10Dataset(tmp_path / "nowhere", train=True)
    import pickle
    with open(cifar_dir / "data_batch_3", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(ValueError, match="is not a CIFAR-10 batch"):
        ndl.data.CIFAR10Dataset(cifar_dir, train=True)


def test_dictionary_gives_ids_in_order_of_first_appearance():
    d = ndl.data.Dictionary()
    assert [d.add_word(w) for w in ["the", "cat", "saw", "the", "dog"]] == [0, 1, 2, 0, 3]
    assert len(d) == 4 and d.idx2word[3] == "dog" and d.word2idx["saw"] == 2


def test_corpus_of_the_news_sample(news_dir):
    corpus = ndl.data.Corpus(news_dir)
    # figures from data/news/README.md: tokens plus one <eos> per line
    assert len(corpus.train) == 51684 + 2114
    assert len(corpus.valid) == 5789 + 243 and len(corpus.test) == 6107 + 256
    assert len(corpus.dictionary) == 3430
    with open(news_dir / "news.train.txt") as news:
        words = news.readline().split()
    assert [corpus.dictionary.idx2word[i] for i in corpus.train[:len(words) + 1]] == [*words, "<eos>"]
    assert corpus.train.dtype == np.int64
    short = ndl.data.Corpus(news_dir, max_lines=3)
    assert short.train.tolist() == corpus.train[:len(short.train)].tolist()
    assert np.sum(short.train == short.dictionary.word2idx["<eos>"]) == 3


def test_corpus_needs_its_three_files(tmp_path):
    (tmp_path / "a.train.txt").write_text("x y\n")
    with pytest.raises(FileNotFoundError, match=r"one \*valid.txt file"):
        ndl.data.Corpus(tmp_path)


def test_batchify_and_get_batch():
    data = np.arange(23)
    batches = ndl.data.batchify(data, 4)
    assert batches.shape == (5, 4)
    np.testing.assert_array_equal(batches[:, 1], np.arange(5, 10))
    X, y = ndl.data.get_batch(batches, 1, 3)
    assert X.shape == (3, 4) and y.shape == (12,)
    np.testing.assert_array_equal(X.numpy(), batches[1:4])
    np.testing.assert_array_equal(y.numpy(), batches[2:5].ravel())
    X, y = ndl.data.get_batch(batches, 3, 3)  # only one row is left to predict
    assert X.shape == (1, 4) and y.shape == (4,)
    with pytest.raises(IndexError, match="row 4 has no next row"):
        ndl.data.get_batch(batches, 4, 3)
    with pytest.raises(ValueError, match="cannot cut 3 tokens into 4 columns"):
        ndl.data.batchify(np.arange(3), 4)
