"""``make check-hwN``: your homework folder run the way the grader runs it, with the public tests.

The grader starts from a fresh copy of the handout, takes from your folder only the files you
are meant to change (those that held stubs), builds the C++ extension, and runs the tests in a
sandboxed fresh interpreter. This does the same with the public tests, so a test that passes
here passes there for the same reasons: an edited test, a stray ``conftest.py`` or a file
outside those has no effect on either.

Usage: ``python -m grader.check hw1`` (or the folder name, ``hw1_autograd``).
"""
from __future__ import annotations

import io
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

from . import runner, sandbox, workspace

REPO = Path(__file__).resolve().parent.parent
PRISTINE = ".pristine"  # the student edition's untouched handouts, one .tar.gz each
TIMEOUT = 900.0


def find_folder(repo: Path, name: str) -> Path:
    """The handout folder called ``name`` or whose name starts with ``name_`` (hw1 -> hw1_autograd).

    Raises:
        FileNotFoundError: naming the folders there are.
    """
    folders = sorted(p for p in repo.iterdir() if p.is_dir() and (p / "tests").is_dir())
    for folder in folders:
        if folder.name == name or folder.name.startswith(name + "_"):
            return folder
    raise FileNotFoundError(f"no homework folder {name!r}; there are {', '.join(f.name for f in folders)}")


def pristine_handout(repo: Path, folder: str) -> dict[str, str]:
    """The untouched handout: from ``.pristine/`` in the student edition, else generated."""
    archive = repo / PRISTINE / f"{folder}.tar.gz"
    if archive.exists():
        with tarfile.open(archive, "r:gz") as tf:
            return {m.name: tf.extractfile(m).read().decode() for m in tf.getmembers() if m.isfile()}
    from .course import find_homework, load_course
    from .handouts import generate
    course = load_course()
    return generate(find_homework(course, folder), course).files


def pristine_archive(files: dict[str, str]) -> bytes:
    """``files`` as the .tar.gz ``pristine_handout`` reads."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def check(repo: Path, name: str, out=sys.stdout) -> int:
    """Run the public tests of homework ``name`` on its folder as the grader would; pytest's exit code."""
    folder = find_folder(repo, name)
    handout = pristine_handout(repo, folder.name)
    homework = sorted(n.split("/")[1] for n in handout if n.startswith("tests/hw"))[-1]
    allowed = set(workspace.whitelist(handout))
    edited = [n for n in sorted(handout) if n not in allowed and n != "README.md"
              and (folder / n).is_file() and (folder / n).read_text(errors="replace") != handout[n]]
    scratch = Path(tempfile.mkdtemp(prefix="flamethrower-check-"))
    try:
        ws = workspace.build(handout, folder, scratch / "ws", repo / "data")
        print(f"checking {folder.name} as the grader does: your {', '.join(ws.taken) or 'nothing'}", file=out)
        for note in [f"{n}: you changed it, but the grader uses the original" for n in edited] + \
                [f"{n}: missing, so its stubs are used" for n in ws.missing] + \
                [f"refused {n}" for n in ws.refused] + sandbox.detect().notes:
            print(f"  note: {note}", file=out)
        if "CMakeLists.txt" in handout:
            ok, log = runner.build_extension(ws.root)
            if not ok:
                print(f"the C++ build failed:\n{log}", file=out)
        log = ws.root / "pytest.out"
        status = sandbox.run(ws.root, [sys.executable, "-m", "pytest", f"tests/{homework}", "-q",
                                       "-p", "no:cacheprovider"],
                             log, sandbox.Limits(cpu_seconds=int(TIMEOUT)), TIMEOUT)
        print((sandbox.read_regular(log, 64 << 10, tail=True) or b"").decode(errors="replace"), file=out)
        return status if status is not None and status >= 0 else 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    sys.exit(check(REPO, sys.argv[1]))
