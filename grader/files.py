"""Source trees as ``{relative path: text}``: listing one (build outputs left out), writing one."""
from __future__ import annotations

import hashlib
from pathlib import Path

# Build and tool outputs that live beside the sources but are never part of them.
IGNORED_DIRS = {"build", "__pycache__", ".pytest_cache", ".hypothesis", ".ipynb_checkpoints",
                "demo-output"}
IGNORED_SUFFIXES = (".so", ".pyd", ".o", ".pyc", ".log")


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
