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
