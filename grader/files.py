"""Source trees as ``{relative path: text}``: listing one (build outputs left out), writing one;
and the few file-system walks that must hold up against hostile trees (any depth, symlinks,
huge files): ``walk``, ``remove_tree``, ``sha256_file``."""
from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Protocol

# Build and tool outputs that live beside the sources but are never part of them.
IGNORED_DIRS = {"build", "__pycache__", ".pytest_cache", ".hypothesis", ".ipynb_checkpoints",
                "demo-output"}
IGNORED_SUFFIXES = (".so", ".pyd", ".o", ".pyc", ".log")

CHUNK_BYTES = 1 << 20        # files are hashed in pieces this size, never read whole
MAX_OPEN_FOLDERS = 64        # remove_tree keeps at most this many folders open


def is_ignored(relative: Path) -> bool:
    """Whether a path (relative to a tree's root) is a build or tool output."""
    return bool(IGNORED_DIRS.intersection(relative.parts[:-1])) or \
        relative.name.endswith(IGNORED_SUFFIXES) or relative.name in IGNORED_DIRS


def tree_files(root: Path) -> list[str]:
    """The source files under ``root``, relative, sorted, build outputs left out."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and not is_ignored(p.relative_to(root)))


def write_tree(files: dict[str, str], dest: Path) -> None:
    """Make ``dest``'s source files exactly ``files`` (build outputs there are kept)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in tree_files(dest):
        if name not in files:
            (dest / name).unlink()
    for name, text in files.items():
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    for folder in sorted((p for p in dest.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()


def sha256(data: bytes) -> str:
    """The SHA-256 of ``data``, in hex (the release's and the submission's manifests)."""
    return hashlib.sha256(data).hexdigest()


class Hasher(Protocol):
    """A ``hashlib`` hash object, as ``sha256_file`` uses one."""

    def update(self, data: bytes, /) -> None:
        """Add ``data`` to what has been hashed."""

    def hexdigest(self) -> str:
        """The digest of everything added so far, in hex."""


def sha256_file(path: Path, h: Hasher | None = None) -> str:
    """The SHA-256 of the file at ``path``, in hex, read CHUNK_BYTES at a time (never whole).

    With ``h`` (a ``hashlib`` hash object) the file's bytes are added to ``h`` instead, and its
    hex digest so far is returned. A symlink at ``path`` is not followed.

    Raises:
        OSError: if the file cannot be opened or read (a symlink at ``path`` gives ELOOP).
    """
    h = h or hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


def walk(root: Path, max_depth: int | None = None,
         prune: frozenset[str] = frozenset()) -> Iterator[tuple[PurePosixPath, os.stat_result]]:
    """Every entry under ``root`` as (relative path, its ``lstat``), each folder before its contents.

    Folders named in ``prune`` (build outputs, say) are left out with everything in them.

    Iterative (no recursion, so any depth is safe) and never follows a symlink: a link is
    yielded as the link it is and never entered. A folder is listed only after it has been
    yielded, so a caller that raises on an entry (too deep, too many) stops the walk before
    that folder is read. Folders at depth ``max_depth`` (1: the entries directly in ``root``)
    are yielded but not entered. The order within a folder is the file system's.

    Raises:
        OSError: if a folder cannot be listed (including a path longer than PATH_MAX).
    """
    pending = [PurePosixPath()]
    while pending:
        folder = pending.pop()
        with os.scandir(root.joinpath(*folder.parts)) as entries:
            for entry in entries:
                info = entry.stat(follow_symlinks=False)
                if entry.name in prune and stat.S_ISDIR(info.st_mode):
                    continue
                relative = folder / entry.name
                yield relative, info
                if stat.S_ISDIR(info.st_mode) and \
                        (max_depth is None or len(relative.parts) < max_depth):
                    pending.append(relative)


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything under it, however deep, never following a symlink.

    ``shutil.rmtree`` recurses (Python 3.11 raises RecursionError some 1,000 folders down) and
    a path-based walk fails past PATH_MAX; this one is a loop that names every entry relative
    to an open folder. At most MAX_OPEN_FOLDERS folders are open at once: a folder deeper than
    that is first renamed up into ``path`` itself and removed from there. A folder its owner
    took permissions from (a sandboxed student may ``chmod 000`` one) gets them back first.
    A missing ``path`` is no error; a file or symlink at ``path`` is unlinked.

    Raises:
        OSError: if an entry cannot be removed (not ours to remove, a read-only file system).
    """
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
            return
        top = _open_folder(str(path))
    except FileNotFoundError:
        return
    # One level per open folder: (its descriptor, its name in the level above, its subfolders
    # still to remove). Files are removed when a folder is opened, subfolders one at a time.
    stack: list[tuple[int, str, list[str]]] = [(top, str(path), [])]
    try:
        stack[0][2].extend(_remove_files(top))
        renamed = 0
        while len(stack) > 1 or stack[0][2]:
            fd, name, subfolders = stack[-1]
            if not subfolders:  # emptied: close it and remove it from its parent
                stack.pop()
                os.close(fd)
                os.rmdir(name, dir_fd=stack[-1][0])
            elif len(stack) < MAX_OPEN_FOLDERS:
                child_name = subfolders.pop()
                child = _open_folder(child_name, fd)
                stack.append((child, child_name, []))
                stack[-1][2].extend(_remove_files(child))
            else:  # too deep to open another: move the subfolder up into the top folder
                renamed += 1
                while _exists(f".remove-{renamed}", top):
                    renamed += 1
                os.rename(subfolders.pop(), f".remove-{renamed}", src_dir_fd=fd, dst_dir_fd=top)
                stack[0][2].append(f".remove-{renamed}")
    finally:
        for fd, _, _ in stack:
            os.close(fd)
    os.rmdir(path)


def _exists(name: str, dir_fd: int) -> bool:
    try:
        os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    return True


def _open_folder(name: str, dir_fd: int | None = None) -> int:
    """A descriptor of folder ``name`` (relative to ``dir_fd``), given owner rwx if it lacked
    them; a symlink is refused (ELOOP)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except PermissionError:
        os.chmod(name, 0o700, dir_fd=dir_fd)  # a folder, as listed: Linux cannot chmod a link
        fd = os.open(name, flags, dir_fd=dir_fd)
    if os.fstat(fd).st_mode & 0o700 != 0o700:
        with contextlib.suppress(PermissionError):  # not ours: removing its entries will say so
            os.fchmod(fd, 0o700)
    return fd


def _remove_files(dir_fd: int) -> list[str]:
    """Unlink every entry of the open folder but its subfolders; the subfolders' names."""
    subfolders = []
    with os.scandir(dir_fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(entry.name)
            else:
                os.unlink(entry.name, dir_fd=dir_fd)
    return subfolders
