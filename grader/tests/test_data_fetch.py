"""``make data`` (data/fetch.py), run against local file:// URLs: the tests never download."""
import importlib.util
import io
import pickle
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fetch():
    spec = importlib.util.spec_from_file_location("fetch", REPO / "data" / "fetch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ptb_files_are_fetched_once(fetch, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "PTB", "file://" + str(REPO / "data" / "news") + "/news.{split}.txt")
    assert fetch.main(["--only", "ptb", "--dest", str(tmp_path)]) == 0
    for split in ("train", "valid", "test"):
        assert (tmp_path / "ptb" / f"ptb.{split}.txt").read_bytes() == \
            (REPO / "data" / "news" / f"news.{split}.txt").read_bytes()
    monkeypatch.setattr(fetch, "PTB", "file:///nowhere/{split}")  # a second run downloads nothing
    assert fetch.main(["--only", "ptb", "--dest", str(tmp_path)]) == 0


def make_archive(path: Path) -> None:
    with tarfile.open(path, "w:gz") as tar:
        data = pickle.dumps({b"data": b"", b"labels": []})
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_cifar10_archive_is_checked_and_unpacked(fetch, tmp_path, monkeypatch):
    source = tmp_path / "source.tar.gz"
    make_archive(source)
    dest = tmp_path / "data"
    dest.mkdir()
    monkeypatch.setattr(fetch, "CIFAR10", (source.as_uri(), "0" * 32))
    with pytest.raises(SystemExit, match="wrong MD5"):
        fetch.fetch_cifar10(dest)
    assert not (dest / "cifar-10-python.tar.gz").exists()
    monkeypatch.setattr(fetch, "CIFAR10", (source.as_uri(), fetch.md5(source)))
    fetch.fetch_cifar10(dest)
    assert (dest / "cifar-10-batches-py" / "test_batch").exists()
    assert not (dest / "cifar-10-python.tar.gz").exists()


def test_no_network_is_a_clear_failure(fetch, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fetch, "PTB", "file:///nowhere/ptb.{split}.txt")
    assert fetch.main(["--only", "ptb", "--dest", str(tmp_path)]) == 1
    assert "download failed" in capsys.readouterr().err


def test_the_listing_names_every_file_with_its_size_and_destination(fetch, tmp_path, capsys):
    assert fetch.main(["--list", "--dest", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert not (tmp_path / "d").exists()  # nothing downloaded, no folder made
    assert out[:4] == [
        f"MNIST {name}: https://ossci-datasets.s3.amazonaws.com/mnist/{name} ({size}) -> "
        f"{tmp_path / 'd' / 'full' / 'mnist' / name}"
        for name, size in (("train-images-idx3-ubyte.gz", "9.5 MiB"),
                           ("train-labels-idx1-ubyte.gz", "28.2 KiB"),
                           ("t10k-images-idx3-ubyte.gz", "1.6 MiB"),
                           ("t10k-labels-idx1-ubyte.gz", "4.4 KiB"))]
    assert out[4].startswith("CIFAR-10: https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz")
    assert [line.split(":")[0] for line in out[5:]] == ["PTB train", "PTB valid", "PTB test"]
    assert fetch.main(["--list", "--only", "mnist", "--dest", str(tmp_path)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4


def test_mnist_files_are_checked_and_fetched_once(fetch, tmp_path, monkeypatch, capsys):
    source = REPO / "data" / "mnist"  # the sample stands in for the full files
    table = {name: (fetch.md5(source / name), (source / name).stat().st_size) for name in fetch.MNIST}
    monkeypatch.setattr(fetch, "MNIST", table)
    monkeypatch.setattr(fetch, "MNIST_URL", source.as_uri() + "/{name}")
    assert fetch.main(["--only", "mnist", "--dest", str(tmp_path)]) == 0
    for name in table:
        assert (tmp_path / "full" / "mnist" / name).read_bytes() == (source / name).read_bytes()
    monkeypatch.setattr(fetch, "MNIST_URL", "file:///nowhere/{name}")  # a second run fetches nothing
    assert fetch.main(["--only", "mnist", "--dest", str(tmp_path)]) == 0
    assert "downloading" not in capsys.readouterr().out.split("need none of them.")[-1]
    # A file that does not match its MD5 is removed and the run stops, saying so.
    (tmp_path / "full" / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setattr(fetch, "MNIST_URL", source.as_uri() + "/{name}")
    monkeypatch.setitem(table, "t10k-labels-idx1-ubyte.gz", ("0" * 32, 1))
    with pytest.raises(SystemExit, match=r"t10k-labels-idx1-ubyte\.gz has the wrong MD5"):
        fetch.fetch_mnist(tmp_path)
    assert not (tmp_path / "full" / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()
