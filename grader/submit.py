"""``make submit-hwN``: the zip you hand in, graded locally the way the grader will read it.

The zip holds exactly the files the grader takes from a submission (``workspace.whitelist``:
the handout's files that held stubs), paths relative to the homework folder, and
``MANIFEST.json`` listing each with its SHA-256. Before it says where to upload the zip, this
unpacks it through the grader's own path for an archive (``workspace.submission_root``, which
checks every entry), checks that what comes out matches the manifest, builds a workspace from
it (``workspace.build``) and runs the public tests there in the sandbox, as ``make check-hwN``
does. So a zip this writes is one the grader can read, and its public-test result is the one
you saw.

Usage: ``python -m grader.submit hw1`` or ``python -m grader submit hw1`` (or the folder name,
``hw1_autograd``); ``--no-test`` skips the public tests.
"""
from __future__ import annotations

import argparse
import json
import shutil
import stat
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TextIO

from . import check, sandbox, workspace
from .files import sha256
from .folders import find_folder, homework_of

SUBMISSIONS = "submissions"
MANIFEST = "MANIFEST.json"
RELEASE_MANIFEST = ".release.json"  # the student edition's record, with the course's upload address
ZIP_DATE = (1980, 1, 1, 0, 0, 0)    # fixed, so the same files give the same zip


@dataclass
class Submission:
    """A written submission zip: the files it holds and the whitelisted files it lacks."""

    homework: str
    folder: str             # the homework's folder (hw1_autograd)
    path: Path
    files: dict[str, str]   # path in the zip -> sha256
    missing: list[str]      # whitelisted files not in the folder (the grader keeps their stubs)


def write_zip(repo: Path, name: str, dest: Path | None = None) -> Submission:
    """Zip homework ``name``'s whitelisted files from its folder in ``repo``, with a manifest,
    into ``dest`` (default ``repo/submissions/hwN.zip``, replaced if there).

    Raises:
        FileNotFoundError: if there is no homework folder called ``name``.
    """
    folder = find_folder(repo, name)
    handout = check.pristine_handout(repo, folder.name)
    homework = homework_of(folder)
    dest = dest or repo / SUBMISSIONS / f"{homework}.zip"
    files, missing = {}, []
    for path in workspace.whitelist(handout):
        source = folder.joinpath(*PurePosixPath(path).parts)
        if source.is_file() and not source.is_symlink():
            files[path] = source.read_bytes()
        else:
            missing.append(path)
    hashes = {path: sha256(data) for path, data in files.items()}
    manifest = {"homework": homework, "folder": folder.name, "files": hashes}
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in [*files.items(), (MANIFEST, json.dumps(manifest, indent=1).encode())]:
            info = zipfile.ZipInfo(path, ZIP_DATE)
            info.external_attr = (stat.S_IFREG | 0o644) << 16  # a regular file, as the grader requires
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return Submission(homework, folder.name, dest, hashes, missing)


def unpack(archive: Path, handout: dict[str, str], scratch: Path) -> Path:
    """Unpack ``archive`` as the grader does and check it against its manifest; the folder
    holding the submission's files.

    Raises:
        workspace.SubmissionError: if the grader would refuse the archive, it has no readable
            manifest, or a file is missing or differs from the manifest's hash.
    """
    root = workspace.submission_root(archive, scratch, workspace.whitelist(handout))
    try:
        manifest = json.loads((root / MANIFEST).read_text())
        hashes = dict(manifest["files"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise workspace.SubmissionError(f"{archive.name}: no readable {MANIFEST}: {error}") from None
    for path, digest in hashes.items():
        source = root.joinpath(*PurePosixPath(path).parts)
        if not source.is_file() or sha256(source.read_bytes()) != digest:
            raise workspace.SubmissionError(f"{archive.name}: {path} does not match {MANIFEST}")
    return root


def grade_locally(repo: Path, folder: str, archive: Path, out: TextIO | None = None) -> int:
    """Unpack ``archive``, a submission of the homework in ``folder`` (see ``unpack``), build
    a grading workspace from it and run the homework's public tests there in the sandbox, as
    ``check-hwN`` does (``check.run_public_tests``); 0 when every test passed, else 1.

    Raises:
        workspace.SubmissionError: if the archive cannot be read back (see ``unpack``).
    """
    out = out or sys.stdout
    scratch = Path(tempfile.mkdtemp(prefix="flamethrower-submit-"))
    try:
        handout = check.pristine_handout(repo, folder)
        root = unpack(archive, handout, scratch)
        ws = workspace.build(handout, root, scratch / "ws", repo / "data")
        print(f"grading {archive.name} locally with the public tests: {len(ws.taken)} file(s) "
              f"taken", file=out)
        for note in [f"{n}: not in the zip, so its stubs are graded" for n in ws.missing] + \
                [f"refused {n}" for n in ws.refused]:
            print(f"  note: {note}", file=out)
        return check.run_public_tests(ws.root, handout, out)
    finally:
        with sandbox.stop_signals_held():  # a signal now waits until the folder is gone
            shutil.rmtree(scratch, ignore_errors=True)


def upload_instructions(repo: Path, homework: str) -> str:
    """Where to upload a submission: the course's ``submit_url`` and ``submit_instructions``
    (from the student edition's ``.release.json``, or ``course.toml`` in the instructor's
    repository), else Gradescope."""
    record = repo / RELEASE_MANIFEST
    if record.is_file():
        course = json.loads(record.read_text()).get("course", {})
        url, instructions = course.get("submit_url", ""), course.get("submit_instructions", "")
    else:
        from .course import load_settings
        settings = load_settings(repo / "solutions")
        url, instructions = settings.submit_url, settings.submit_instructions
    instructions = instructions.replace("hwN", homework) or \
        f"Upload it to the {homework} assignment on Gradescope."
    return instructions + (f" ({url})" if url else "")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command line's arguments (``HW [--no-test]``), added to ``parser``: this module's own,
    or ``python -m grader submit``'s."""
    parser.add_argument("hw", help="a homework id (hw1) or folder (hw1_autograd)")
    parser.add_argument("--no-test", action="store_true",
                        help="write and check the zip without running the public tests")


def run(args: argparse.Namespace, repo: Path = check.REPO) -> int:
    """Write, check and explain the submission of ``args.hw`` in ``repo`` (``add_arguments``'
    arguments); the exit status: 0 when the zip is written (even with failing public tests),
    1 when it cannot be, 128 + N when stopped by signal N."""
    check.stop_cleanly()
    try:
        submission = write_zip(repo, args.hw)
        print(f"wrote {submission.path.relative_to(repo)}: {len(submission.files)} file(s) and "
              f"{MANIFEST}")
        for path in submission.missing:
            print(f"  note: {path} is missing from your folder: the grader will use its stubs")
        status = 0 if args.no_test else grade_locally(repo, submission.folder, submission.path)
        where = upload_instructions(repo, submission.homework)
    except (OSError, ValueError, workspace.SubmissionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except check.Interrupted as stop:
        print(f"\nstopped by {stop}: the sandbox is killed and its scratch folder removed",
              file=sys.stderr)
        return 128 + stop.signum
    if status != 0:
        print("some public tests fail (above): you may still hand it in.")
    print(f"{where}\n  -> {submission.path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring); returns the exit status (2 for bad usage)."""
    parser = argparse.ArgumentParser(prog="python -m grader.submit",
                                     description=__doc__.splitlines()[0].replace("`", ""))
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
