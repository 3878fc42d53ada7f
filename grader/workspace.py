"""Submissions in, grading workspaces out.

A submission is a folder, a ``.zip`` or a ``.tar.gz``, named by student id. Nothing in it is
trusted, so every submission is checked before anything is copied or extracted:

* caps on the whole submission: MAX_ARCHIVE_FILES entries, MAX_ARCHIVE_BYTES in all, entries at
  most MAX_DEPTH folders deep, names of at most MAX_NAME_BYTES and paths of at most
  MAX_PATH_BYTES (UTF-8). An archive's are read from its central directory (zip) or its headers
  as they stream (tar, whose header blocks are capped at MAX_HEADER_BYTES, so a huge pax header
  is refused before it is read); a folder's by an iterative walk that follows no link;
* archive entries: no absolute paths or ``..``, only regular files and folders (zip members
  without file-type bits count as regular files; tar members also pass ``tarfile.data_filter``),
  no name twice and no name that is both a file and a folder.

A submission that fails a check is refused whole (``SubmissionError``; the grader scores it 0
with the reason). A workspace is a fresh copy of the handout with only the student's versions of
its *whitelisted* files, the files that hold stubs, each opened one path component at a time
with ``O_NOFOLLOW``: a symlink anywhere on its path, a hard link, a device, FIFO or socket is
refused and the stub stays. A student's ``conftest.py``, ``sitecustomize.py``, ``.pth`` file,
``numpy.py`` or edited test never reaches the workspace, because no file outside the whitelist is
ever taken from a submission.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import gzip
import io
import os
import shutil
import stat
import struct
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from .files import IGNORED_DIRS, remove_tree, walk, write_tree
from .fill import stubs_in

MAX_ARCHIVE_BYTES = 50 << 20   # total (uncompressed) size of a submission's files
MAX_ARCHIVE_FILES = 5000       # entries (files and folders) in a submission
MAX_DEPTH = 32                 # path components of an entry
MAX_NAME_BYTES = 255           # one path component, UTF-8 (the usual NAME_MAX)
MAX_PATH_BYTES = 1024          # a whole relative path, UTF-8 (well under PATH_MAX)
MAX_HEADER_BYTES = 64 << 10    # one read of a tar header block (pax, GNU long name)
MAX_SOURCE_BYTES = 2 << 20     # one whitelisted source file
# Folders of a folder submission that the caps do not count: build and tool outputs and
# environments, which hold no file the grader takes (a student's handout folder has them).
NEVER_TAKEN = frozenset(IGNORED_DIRS | {".git", ".venv", "venv", "submissions"})
COPY_BYTES = 64 << 10          # extraction copies this much at a time


class SubmissionError(ValueError):
    """A submission that cannot be graded at all (a bad archive), with the reason."""


def student_id(path: Path) -> str:
    """The student id a submission is named by: its file or folder name without extension."""
    name = path.name
    for suffix in (".tar.gz", ".tgz", ".zip"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def check_name(name: str, where: str = "archive entry") -> PurePosixPath:
    """``name`` (a submission entry's path, ``/``-separated) as a relative path, if allowed.

    Raises:
        SubmissionError: for an absolute path, a ``..`` component, a backslash or NUL, an empty
            name, more than MAX_DEPTH components, a component over MAX_NAME_BYTES or a path over
            MAX_PATH_BYTES (UTF-8).
    """
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith(("/", "\\")) or ".." in path.parts or "\\" in name:
        raise SubmissionError(f"{where} {name!r} would land outside the submission folder")
    if "\0" in name or not path.parts:
        raise SubmissionError(f"{where} {name!r} has no usable name")
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) > MAX_PATH_BYTES:
        raise SubmissionError(f"{where} {name[:80]!r}... has a path of {len(encoded)} bytes, "
                              f"more than {MAX_PATH_BYTES}")
    if len(path.parts) > MAX_DEPTH:
        raise SubmissionError(f"{where} {name[:80]!r}... is {len(path.parts)} folders deep, "
                              f"deeper than {MAX_DEPTH}")
    for part in path.parts:
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            raise SubmissionError(f"{where} {name[:80]!r}... has a name longer than "
                                  f"{MAX_NAME_BYTES} bytes")
    return path


@dataclass(frozen=True)
class _Entry:
    """One archive entry, checked: where it goes, what it is, its declared size."""

    path: PurePosixPath
    kind: str                                  # "file" or "dir"
    size: int
    open: Callable[[], contextlib.AbstractContextManager[IO[bytes]]]  # a binary reader of its data


def extract(archive: Path, dest: Path) -> None:
    """Extract a ``.zip`` or ``.tar.gz`` into ``dest``, every entry checked before any is written.

    Raises:
        SubmissionError: for an entry ``check_name`` refuses, a symlink, hard link, device or
            FIFO, a name given twice or as both a file and a folder, more than
            MAX_ARCHIVE_FILES entries or MAX_ARCHIVE_BYTES in all (compressed or not), a tar
            header block over
            MAX_HEADER_BYTES, or a file that is not a readable archive.
    """
    if archive.stat().st_size > MAX_ARCHIVE_BYTES:
        raise SubmissionError(f"{archive.name} is {archive.stat().st_size} bytes, more than "
                              f"{MAX_ARCHIVE_BYTES}")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with _open_archive(archive, dest) as entries:
            _check_layout(entries, archive)
            budget = MAX_ARCHIVE_BYTES
            for entry in entries:
                target = dest.joinpath(*entry.path.parts)
                if entry.kind == "dir":
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                budget = _copy(entry, target, budget, archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError,
            gzip.BadGzipFile, NotImplementedError, RuntimeError) as error:
        raise SubmissionError(f"{archive.name} is not a readable archive: "
                              f"{type(error).__name__}: {error}") from None


def _copy(entry: _Entry, target: Path, budget: int, archive: Path) -> int:
    """Write ``entry``'s data to a new file ``target`` (never through a link); the budget left."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with entry.open() as src, os.fdopen(fd, "wb") as out:
        while chunk := src.read(COPY_BYTES):
            budget -= len(chunk)
            if budget < 0:
                raise SubmissionError(f"{archive.name} unpacks to more than {MAX_ARCHIVE_BYTES} bytes")
            out.write(chunk)
    return budget


def _check_layout(entries: list[_Entry], archive: Path) -> None:
    """Refuse a name given twice, or one that is both a file and a folder (``a`` and ``a/b``)."""
    files: set[PurePosixPath] = set()
    folders: set[PurePosixPath] = set()
    for entry in entries:
        if entry.kind == "file":
            if entry.path in files:
                raise SubmissionError(f"{archive.name} holds {str(entry.path)!r} twice")
            files.add(entry.path)
        else:
            folders.add(entry.path)
        folders.update(entry.path.parents)
    both = files & folders
    if both:
        raise SubmissionError(f"{archive.name} holds {str(min(both))!r} both as a file and as a folder")


@contextlib.contextmanager
def _open_archive(archive: Path, dest: Path) -> Iterator[list[_Entry]]:
    """The checked entries of a zip or tar.gz, read from its directory or headers only.

    Raises:
        SubmissionError: see ``extract``.
    """
    if archive.name.endswith(".zip"):
        _check_zip_directory(archive)
        with zipfile.ZipFile(archive) as zf:
            yield _zip_entries(zf, archive)
    elif archive.name.endswith((".tar.gz", ".tgz")):
        with gzip.open(archive, "rb") as stream:
            bounded = _BoundedReader(stream, archive.name)
            # read-only, which is all that mode "r:" uses of a file object (no write or close)
            with tarfile.open(fileobj=bounded, mode="r:") as tf:  # type: ignore[call-overload]
                yield _tar_entries(tf, archive, dest)
    else:
        raise SubmissionError(f"{archive.name}: a submission is a folder, a .zip or a .tar.gz")


MAX_ZIP_DIRECTORY_BYTES = MAX_ARCHIVE_FILES * (46 + MAX_PATH_BYTES) + (1 << 20)


def _check_zip_directory(archive: Path) -> None:
    """Refuse a zip whose central directory is too big to parse, from its end record alone.

    ``zipfile.ZipFile`` reads the whole central directory into memory before any cap can be
    checked; its size and entry count are in the end-of-central-directory record (the last
    22 bytes, or up to 64 KiB earlier behind a comment). Zip64 archives (over 65,535 entries
    or 4 GiB) are beyond every cap and refused. Without an end record the file is left to
    ``zipfile``, which refuses it as unreadable.

    Raises:
        SubmissionError: for a zip64 archive, more than MAX_ARCHIVE_FILES entries, or a central
            directory over MAX_ZIP_DIRECTORY_BYTES.
    """
    with open(archive, "rb") as f:
        f.seek(max(0, archive.stat().st_size - (22 + 0xFFFF)))
        tail = f.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return
    _, _, _, _, entries, size, _, _ = struct.unpack("<4s4H2LH", tail[at:at + 22])
    if entries == 0xFFFF or size == 0xFFFFFFFF:
        raise SubmissionError(f"{archive.name} is a zip64 archive, beyond the submission caps")
    _check_totals(entries, 0, archive)
    if size > MAX_ZIP_DIRECTORY_BYTES:
        raise SubmissionError(f"{archive.name} has a central directory of {size} bytes, more "
                              f"than {MAX_ZIP_DIRECTORY_BYTES}")


def _zip_entries(zf: zipfile.ZipFile, archive: Path) -> list[_Entry]:
    """A zip's members, checked from its central directory.

    A member's Unix file type is in the top 16 bits of its external attributes; members with no
    type bits there (Python's ``ZipFile.writestr``, Windows tools) are regular files, or folders
    when their name ends in ``/``. Any other type (a symlink, a device) is refused.
    """
    infos = zf.infolist()
    _check_totals(len(infos), sum(i.file_size for i in infos), archive)
    entries = []
    for info in infos:
        path = check_name(info.filename)
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFDIR or (kind == 0 and info.is_dir()):
            entries.append(_Entry(path, "dir", 0, lambda: contextlib.nullcontext(io.BytesIO())))
        elif kind in (0, stat.S_IFREG) and not info.is_dir():
            entries.append(_Entry(path, "file", info.file_size, functools.partial(zf.open, info)))
        else:
            raise SubmissionError(f"archive entry {info.filename!r} is not a regular file or folder")
    return entries


def _tar_entries(tf: tarfile.TarFile, archive: Path, dest: Path) -> list[_Entry]:
    """A tar's members, checked as their headers stream in (no data read): each must pass
    ``tarfile.data_filter`` and be a regular file or a folder, within the caps."""
    entries: list[_Entry] = []
    total = 0
    for member in tf:
        if member.isdir() and not PurePosixPath(member.name).parts:
            continue  # "." itself (``tar -C folder .``)
        path = check_name(member.name)
        if not (member.isfile() or member.isdir()):
            raise SubmissionError(f"archive entry {member.name!r} is not a regular file or folder")
        member = tarfile.data_filter(member, str(dest))
        total += member.size if member.isfile() else 0
        _check_totals(len(entries) + 1, total, archive)
        entries.append(_Entry(path, "file" if member.isfile() else "dir", member.size,
                              functools.partial(_tar_member, tf, member)))
    return entries


@contextlib.contextmanager
def _tar_member(tf: tarfile.TarFile, member: tarfile.TarInfo) -> Iterator[IO[bytes]]:
    """A binary reader of ``member``'s data, closed on leaving (a folder reads as no data)."""
    reader = tf.extractfile(member) or io.BytesIO()
    try:
        yield reader
    finally:
        reader.close()


class _BoundedReader:
    """A read-only file over a decompressed stream that refuses any one read over
    MAX_HEADER_BYTES beyond what extraction asks for, and any position past the caps.

    ``tarfile`` reads a pax or GNU long-name header's body in a single read of its declared
    size, so capping single reads refuses a huge header before it is decompressed into memory;
    extraction reads COPY_BYTES at a time, header blocks are 512 bytes.

    Raises (from ``read`` and ``seek``):
        SubmissionError: a read over the cap, or the stream running past its cap.
    """

    MAX_READ = max(MAX_HEADER_BYTES, COPY_BYTES)
    # Everything an archive within the caps can hold: the files, padding and a header (plus a
    # small pax header) per entry, and the end-of-archive blocks.
    MAX_POSITION = MAX_ARCHIVE_BYTES + (MAX_ARCHIVE_FILES + 1) * (3 * 512 + MAX_HEADER_BYTES) + (20 << 10)

    def __init__(self, stream: io.BufferedIOBase, name: str) -> None:
        self._stream, self._name = stream, name

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > self.MAX_READ:
            raise SubmissionError(f"{self._name} has a tar header block over {MAX_HEADER_BYTES} "
                                  f"bytes (a pax or long-name header)")
        data = self._stream.read(size)
        self._check_position()
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        target = offset if whence == os.SEEK_SET else \
            self._stream.tell() + offset if whence == os.SEEK_CUR else None
        if target is None or target > self.MAX_POSITION:
            raise SubmissionError(f"{self._name} unpacks to more than {MAX_ARCHIVE_BYTES} bytes")
        return self._stream.seek(target)

    def tell(self) -> int:
        return self._stream.tell()

    def _check_position(self) -> None:
        if self._stream.tell() > self.MAX_POSITION:
            raise SubmissionError(f"{self._name} unpacks to more than {MAX_ARCHIVE_BYTES} bytes")


def _check_totals(count: int, size: int, archive: Path) -> None:
    if count > MAX_ARCHIVE_FILES:
        raise SubmissionError(f"{archive.name} holds {count} entries, more than {MAX_ARCHIVE_FILES}")
    if size > MAX_ARCHIVE_BYTES:
        raise SubmissionError(f"{archive.name} unpacks to {size} bytes, more than {MAX_ARCHIVE_BYTES}")


def check_folder(root: Path) -> None:
    """Check a folder submission against the caps (build outputs and environments, NEVER_TAKEN,
    left out), walking it without following any link and stopping at the first problem
    (nothing is read but the folders' listings).

    Raises:
        SubmissionError: for an entry ``check_name`` refuses (too deep, a name or path too long),
            more than MAX_ARCHIVE_FILES entries, more than MAX_ARCHIVE_BYTES of regular files,
            or a folder that cannot be listed.
    """
    count = size = 0
    try:
        for relative, info in walk(root, max_depth=MAX_DEPTH + 1, prune=NEVER_TAKEN):
            check_name(str(relative), where=f"{root.name}:")
            count += 1
            size += info.st_size if stat.S_ISREG(info.st_mode) else 0
            _check_totals(count, size, root)
    except OSError as error:
        raise SubmissionError(f"{root.name} cannot be read: {error.strerror or error}") from None


def submission_root(path: Path, scratch: Path, expected: list[str]) -> Path:
    """The folder holding a submission's files: ``path`` itself, or its extracted archive.

    When none of the ``expected`` files is at the top but the only entry is a folder that
    holds some, that folder is entered: a zip of the handout folder and a zip of its contents
    both work.

    Raises:
        SubmissionError: if ``path`` is a symlink, a folder ``check_folder`` refuses, or an
            archive ``extract`` refuses.
    """
    if path.is_symlink():
        raise SubmissionError(f"{path.name} is a symlink, not a submission")
    if path.is_dir():
        root = path
        check_folder(root)
    else:
        root = scratch / "extracted"
        extract(path, root)
    if not any(_lexists(root, name) for name in expected):
        entries = [p for p in root.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
        if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink() and \
                any(_lexists(entries[0], name) for name in expected):
            return entries[0]
    return root


def _lexists(root: Path, name: str) -> bool:
    """Whether ``root/name`` exists as an entry (a link counts, and is never followed)."""
    return os.path.lexists(root.joinpath(*PurePosixPath(name).parts))


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


class RefusedFile(Exception):
    """A whitelisted file that is there but may not be taken; the reason."""


def read_submitted(root: Path, name: str) -> str | None:
    """The text of whitelisted file ``name`` (``/``-separated) in the submission folder ``root``;
    None if it is not there.

    Each path component is opened relative to the last with ``O_NOFOLLOW``, so no symlink is
    followed anywhere on the path; the file itself must be a regular file with one link, at most
    MAX_SOURCE_BYTES, and UTF-8. It is checked with ``lstat`` before it is opened (a FIFO or
    device is never opened) and with ``fstat`` after (the same file).

    Raises:
        RefusedFile: with the reason, for anything else at that path.
    """
    parts = PurePosixPath(name).parts
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            try:
                info = os.lstat(part, dir_fd=fd)
            except FileNotFoundError:
                return None
            if stat.S_ISLNK(info.st_mode):
                raise RefusedFile(f"a symlink on its path ({part})")
            if not stat.S_ISDIR(info.st_mode):
                raise RefusedFile(f"{part} on its path is not a folder")
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
        try:
            info = os.lstat(parts[-1], dir_fd=fd)
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(info.st_mode):
            raise RefusedFile("not a regular file")
        if info.st_nlink != 1:
            raise RefusedFile("a hard link")
        if info.st_size > MAX_SOURCE_BYTES:
            raise RefusedFile(f"larger than {MAX_SOURCE_BYTES} bytes")
        file_fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        with os.fdopen(file_fd, "rb") as f:
            opened = os.fstat(f.fileno())
            if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino) or opened.st_nlink != 1:
                raise RefusedFile("changed while it was read")
            data = f.read(MAX_SOURCE_BYTES + 1)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise RefusedFile("a symlink on its path") from None
        raise RefusedFile(f"cannot be read ({error.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > MAX_SOURCE_BYTES:
        raise RefusedFile(f"larger than {MAX_SOURCE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RefusedFile("not UTF-8 text") from None


def build(handout: dict[str, str], submission: Path, dest: Path, data_dir: Path) -> Workspace:
    """A fresh workspace in ``dest``: the handout's files (path -> text), the student's
    whitelisted files, the data.

    A whitelisted file is taken only as ``read_submitted`` allows (no symlink on its path, a
    regular file with one link, at most MAX_SOURCE_BYTES, UTF-8); otherwise the handout's
    stubbed version stays and ``Workspace.refused`` says why.

    Raises:
        OSError: if ``dest`` cannot be replaced or written (the grader's own problem).
    """
    remove_tree(dest)
    write_tree(handout, dest)
    workspace = Workspace(dest)
    for name in whitelist(handout):
        try:
            text = read_submitted(submission, name)
        except RefusedFile as reason:
            workspace.refused.append(f"{name}: {reason}")
            continue
        if text is None:
            workspace.missing.append(name)
            continue
        (dest / name).write_text(text)
        workspace.taken.append(name)
    shutil.copytree(data_dir / "mnist", dest / "data" / "mnist")
    for folder in ("out", "tmp"):
        (dest / folder).mkdir()
    return workspace
