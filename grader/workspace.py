"""Submissions in, grading workspaces out.

A submission is a folder, a ``.zip`` or a ``.tar.gz``, named by student id. Archives are
extracted with every entry checked first (no absolute paths, no ``..``, no links, no devices,
bounded size and count). A workspace is a fresh copy of the handout with only the student's
versions of its *whitelisted* files, the files that hold stubs: a student's ``conftest.py``,
``sitecustomize.py``, ``.pth`` file, ``numpy.py`` or edited test never reaches it, because no
file outside the whitelist is ever taken from a submission.
"""
from __future__ import annotations

import contextlib
import functools
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .files import write_tree
from .fill import stubs_in

MAX_ARCHIVE_BYTES = 50 << 20   # total uncompressed size of an archive
MAX_ARCHIVE_FILES = 5000
MAX_SOURCE_BYTES = 2 << 20     # one whitelisted source file


class SubmissionError(ValueError):
    """A submission that cannot be graded at all (a bad archive), with the reason."""


def student_id(path: Path) -> str:
    """The student id a submission is named by: its file or folder name without extension."""
    name = path.name
    for suffix in (".tar.gz", ".tgz", ".zip"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _check_member(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith(("/", "\\")) or ".." in path.parts or "\\" in name:
        raise SubmissionError(f"archive entry {name!r} would land outside the submission folder")
    return path


def extract(archive: Path, dest: Path) -> None:
    """Extract a ``.zip`` or ``.tar.gz`` into ``dest`` after checking every entry.

    Raises:
        SubmissionError: for an entry with an absolute path or ``..``, a symlink, hard link,
            device or FIFO, more than MAX_ARCHIVE_FILES entries or MAX_ARCHIVE_BYTES in all,
            or a file that is not a readable archive.
    """
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with _open_archive(archive) as entries:
            _check_totals(len(entries), sum(size for _, _, size, _ in entries), archive)
            for name, kind, _, open_entry in entries:
                path = _check_member(name)
                if kind not in ("file", "dir"):
                    raise SubmissionError(f"archive entry {name!r} is not a regular file or folder")
                target = dest.joinpath(*path.parts)
                if kind == "dir":
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with open_entry() as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise SubmissionError(f"{archive.name} is not a readable archive: {error}") from None


@contextlib.contextmanager
def _open_archive(archive: Path):
    """The entries of a zip or tar.gz as ``(name, "file" | "dir" | "other", size, opener)``."""
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            def kind(info):
                mode = info.external_attr >> 16
                if info.is_dir():
                    return "dir"
                return "file" if not mode or stat.S_ISREG(mode) else "other"
            yield [(i.filename, kind(i), i.file_size, functools.partial(zf.open, i))
                   for i in zf.infolist()]
    elif archive.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive, "r:gz") as tf:
            yield [(m.name, "file" if m.isfile() else "dir" if m.isdir() else "other", m.size,
                    functools.partial(tf.extractfile, m)) for m in tf.getmembers()]
    else:
        raise SubmissionError(f"{archive.name}: a submission is a folder, a .zip or a .tar.gz")


def _check_totals(count: int, size: int, archive: Path) -> None:
    if count > MAX_ARCHIVE_FILES:
        raise SubmissionError(f"{archive.name} holds {count} entries, more than {MAX_ARCHIVE_FILES}")
    if size > MAX_ARCHIVE_BYTES:
        raise SubmissionError(f"{archive.name} unpacks to {size} bytes, more than {MAX_ARCHIVE_BYTES}")


def submission_root(path: Path, scratch: Path, expected: list[str]) -> Path:
    """The folder holding a submission's files: ``path`` itself, or its extracted archive.

    When none of the ``expected`` files is at the top but the only entry is a folder that
    holds some, that folder is entered: a zip of the handout folder and a zip of its contents
    both work.
    """
    if path.is_dir():
        root = path
    else:
        root = scratch / "extracted"
        extract(path, root)
    if not any((root / name).exists() for name in expected):
        entries = [p for p in root.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
        if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink() and \
                any((entries[0] / name).exists() for name in expected):
            return entries[0]
    return root


def whitelist(handout: dict[str, str]) -> list[str]:
    """The handout files (path -> text) a student may change: those holding stubs."""
    return sorted(name for name, text in handout.items()
                  if stubs_in(text) and not name.endswith(".ipynb"))


@dataclass
class Workspace:
    """A built grading workspace."""

    root: Path
    taken: list[str] = field(default_factory=list)     # whitelisted files taken from the student
    missing: list[str] = field(default_factory=list)   # whitelisted files the submission lacks
    refused: list[str] = field(default_factory=list)   # whitelisted paths refused, with the reason

    @property
    def out(self) -> Path:
        return self.root / "out"


def build(handout: dict[str, str], submission: Path, dest: Path, data_dir: Path) -> Workspace:
    """A fresh workspace in ``dest``: the handout's files (path -> text), the student's
    whitelisted files, the data.

    A whitelisted file is taken only if it is a regular file (not a symlink), at most
    MAX_SOURCE_BYTES, and valid UTF-8; otherwise the handout's stubbed version stays.
    """
    if dest.exists():
        shutil.rmtree(dest)
    write_tree(handout, dest)
    workspace = Workspace(dest)
    for name in whitelist(handout):
        source = submission.joinpath(*PurePosixPath(name).parts)
        if not source.exists() and not source.is_symlink():
            workspace.missing.append(name)
            continue
        if source.is_symlink() or not source.is_file():
            workspace.refused.append(f"{name}: not a regular file")
            continue
        if source.stat().st_size > MAX_SOURCE_BYTES:
            workspace.refused.append(f"{name}: larger than {MAX_SOURCE_BYTES} bytes")
            continue
        try:
            text = source.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            workspace.refused.append(f"{name}: not UTF-8 text")
            continue
        (dest / name).write_text(text)
        workspace.taken.append(name)
    shutil.copytree(data_dir / "mnist", dest / "data" / "mnist")
    for folder in ("out", "tmp"):
        (dest / folder).mkdir()
    return workspace
