"""Which homework a folder is: the one answer that check, carry-forward, submit and release share.

A handout folder of homework K holds the public tests of homeworks 0..K as ``tests/hw0`` ..
``tests/hwK``, so it is homework K: its highest N, compared as a number (``hw10`` comes after
``hw9``). This module needs only the standard library: it ships in the student edition.
"""
from __future__ import annotations

import re
from pathlib import Path

TESTS_FOLDER = re.compile(r"hw(\d+)")  # tests/hwN


def homework_of(folder: Path) -> str:
    """The homework ``folder`` is for (``"hw1"``): the highest N of its ``tests/hwN`` folders.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     for n in (0, 2, 10):
    ...         (Path(root) / "tests" / f"hw{n}").mkdir(parents=True)
    ...     homework_of(Path(root))
    'hw10'

    Raises:
        FileNotFoundError: if ``folder`` has no ``tests/hwN`` folder, naming ``folder``.
    """
    tests = folder / "tests"
    numbers = [int(match[1]) for p in (tests.iterdir() if tests.is_dir() else ())
               if p.is_dir() and (match := TESTS_FOLDER.fullmatch(p.name))]
    if not numbers:
        raise FileNotFoundError(f"{folder} is not a homework folder: it has no tests/hwN folder")
    return f"hw{max(numbers)}"


def homework_number(homework_id: str) -> int:
    """N of the homework id ``"hwN"``.

    >>> homework_number("hw10")
    10

    Raises:
        ValueError: if ``homework_id`` is not ``hwN``.
    """
    match = TESTS_FOLDER.fullmatch(homework_id)
    if not match:
        raise ValueError(f"{homework_id!r} is not a homework id (hw0, hw1, ...)")
    return int(match[1])


def handout_folders(repo: Path) -> list[Path]:
    """The handout folders in ``repo``, by name: each folder with a ``tests/hwN`` folder, but for
    the course's sources (the folder holding ``course.toml``, ``solutions/``)."""
    return sorted(p for p in repo.iterdir() if p.is_dir() and not (p / "course.toml").exists()
                  and (p / "tests").is_dir() and any(TESTS_FOLDER.fullmatch(t.name)
                                                     for t in (p / "tests").iterdir()))


def find_folder(repo: Path, name: str) -> Path:
    """The handout folder of ``repo`` called ``name`` (``hw1_autograd``), else the one that is
    homework ``name`` (``hw1``, by ``homework_of``).

    Raises:
        FileNotFoundError: naming the folders there are.
    """
    folders = handout_folders(repo)
    found = [f for f in folders if f.name == name] or [f for f in folders if homework_of(f) == name]
    if found:
        return found[0]
    raise FileNotFoundError(f"no homework folder {name!r}; there are {', '.join(f.name for f in folders)}")
