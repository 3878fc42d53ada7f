"""``python -m grader similarity hwN``: which students' code is suspiciously alike.

For every student's latest submission (from the gradebook, or one per entry of ``--dir``), the
code they wrote is taken region by region: each stub's function, minus the given lines around
the stub (``carry.student_body``), so given code never counts. Those regions are compared file
by file (``autograd.py`` with ``autograd.py``) with ``copydetect`` (Fessler's implementation of
winnowing: Schleimer, Wilkerson and Aiken, "Winnowing: local algorithms for document
fingerprinting", SIGMOD 2003, the method of MOSS), which tokenises the code first, so renamed
variables and reordered functions do not hide a copy; the handout's own files are its
boilerplate. With ``--public DIR`` (a folder of known solutions, for example public
repositories of this kind of course) every student is also compared with those files.

The result: the most similar pairs of students (each pair's most similar file and the
similarity of both sides, in [0, 1]) printed and written as CSV, and copydetect's HTML report
of the matching code, highlighted side by side. Similarity is a lead for a person to read,
never a verdict: short or standard functions look alike in honest work.
"""
from __future__ import annotations

import csv
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import workspace
from .assignment import build
from .carry import student_body
from .course import Homework
from .feedback import is_safe_student_id
from .files import write_tree
from .sandbox import printable

EXTENSIONS = ("py", "cc", "cpp", "cu", "h")
NOISE_TOKENS = 25            # copydetect's noise threshold: shorter matches are ignored
GUARANTEE_TOKENS = 30        # copydetect's guarantee threshold: longer matches are always found
PUBLIC = "public:"           # how a file under --public is named in a pair


@dataclass(frozen=True)
class Pair:
    """Two students (or a student and a public solution) and their most similar file."""

    first: str
    second: str
    file: str
    similarity: float          # of ``first``'s code in that file, found in ``second``'s
    reverse_similarity: float  # of ``second``'s code found in ``first``'s

    @property
    def score(self) -> float:
        """The pair's ranking. Two students: the smaller side's similarity, so a short file
        wholly inside a long one does not rank above two files copied from each other. A
        student and a public solution (``second`` is ``public:...``): how much of the student's
        code is in it (a public repository holds much more than one homework's regions)."""
        if self.second.startswith(PUBLIC):
            return self.similarity
        return min(self.similarity, self.reverse_similarity)


def latest_submissions(db: sqlite3.Connection, homework: Homework) -> dict[str, Path]:
    """Each student's latest submission of ``homework`` in the gradebook: student -> path."""
    rows = db.execute("SELECT student, path FROM submissions WHERE homework = ? ORDER BY id",
                      (homework.id,)).fetchall()
    return {student: Path(path) for student, path in rows}  # later rows replace earlier ones


def submissions_in(folder: Path) -> dict[str, Path]:
    """One submission per entry of ``folder`` (a folder, ``.zip`` or ``.tar.gz``), by student id."""
    return {workspace.student_id(entry): entry for entry in sorted(folder.iterdir())
            if not entry.name.startswith(".")}


def student_code(pristine: dict[str, str], files: dict[str, str], stubs: dict[str, list[str]]
                 ) -> dict[str, str]:
    """What a student wrote in each file: the bodies of ``stubs`` (path -> region names), in
    handout order, taken from ``files`` (path -> their text) against the handout's ``pristine``
    text. Regions still a stub, or whose function the student changed outside the stub, count
    as nothing; a file with nothing of the student's is left out."""
    code = {}
    for path, names in stubs.items():
        if path not in files:
            continue
        bodies = [student_body(pristine[path], files[path], name, path) for name in names]
        text = "\n".join("\n".join(body) for body in bodies if isinstance(body, list))
        if text.strip():
            code[path] = text + "\n"
    return code


def read_submission(path: Path, whitelist: list[str], scratch: Path) -> dict[str, str]:
    """The whitelisted files of the submission at ``path`` (path -> text), read through the
    grader's own checks (``workspace.submission_root``, ``workspace.read_submitted``: no link
    followed anywhere on a path, regular UTF-8 files of bounded size); a file they refuse is
    left out, as the grader leaves it out.

    Raises:
        workspace.SubmissionError: if the submission is refused.
    """
    root = workspace.submission_root(path, scratch, whitelist)
    files = {}
    for name in whitelist:
        try:
            text = workspace.read_submitted(root, name)
        except workspace.RefusedFile:
            continue
        if text is not None:
            files[name] = text
    return files


def compare(homework: Homework, submissions: dict[str, Path], report: Path,
            public: Path | None = None, threshold: float = 0.3) -> tuple[list[Pair], list[str]]:
    """Compare the student code of ``submissions`` (student -> path), each with the others and
    with the files under ``public``; write copydetect's HTML report (pairs of files above
    ``threshold``) to ``report``. Returns every pair of a student with another or with a public
    solution that shares any code, most similar first, and the submissions that were skipped
    (refused, or with no code of the student's), each with the reason."""
    from copydetect import CopyDetector

    public = public.resolve() if public is not None else None
    assignment = build(homework)
    whitelist = list(assignment.whitelist)
    pristine = assignment.handout.files
    stubs: dict[str, list[str]] = {}
    for region in assignment.handout.stubs:
        stubs.setdefault(region.path, []).append(region.qualname)
    skipped = []
    with tempfile.TemporaryDirectory(prefix="flamethrower-similarity-") as tmp:
        work = Path(tmp)
        for student, path in sorted(submissions.items()):
            if not is_safe_student_id(student):
                skipped.append(f"{printable(student, 80)!r}: not a student id the grader accepts")
                continue
            try:
                files = read_submission(path, whitelist, work / "unpacked" / student)
                code = student_code(pristine, files, stubs)
            except Exception as error:  # a hostile or broken submission costs its student only
                skipped.append(f"{student}: not compared ({type(error).__name__}: {error})")
                continue
            if code:
                write_tree(code, work / "students" / student)
            else:
                skipped.append(f"{student}: no code of their own")
        write_tree({name: pristine[name] for name in whitelist}, work / "boilerplate")
        tests = sorted(str(p) for p in (work / "students").glob("*"))
        refs = tests + ([str(public)] if public is not None else [])
        if not tests:
            return [], skipped
        report.parent.mkdir(parents=True, exist_ok=True)
        detector = CopyDetector(test_dirs=tests, ref_dirs=refs,
                                boilerplate_dirs=[str(work / "boilerplate")],
                                extensions=list(EXTENSIONS), noise_t=NOISE_TOKENS,
                                guarantee_t=GUARANTEE_TOKENS, display_t=threshold,
                                same_name_only=True, autoopen=False, silent=True,
                                out_file=str(report))
        detector.run()
        detector.generate_html_report()
        pairs = _pairs(detector, work / "students", public)
    return pairs, skipped


def _owner(file: Path, students: Path, public: Path | None) -> tuple[str, str]:
    """Who a compared file belongs to (a student id, or ``public:<path>``) and its path in
    the homework (or under ``public``)."""
    if file.is_relative_to(students):
        student, *rest = file.relative_to(students).parts
        return student, "/".join(rest)
    assert public is not None
    relative = file.relative_to(public).as_posix()
    return f"{PUBLIC}{relative}", relative


def _pairs(detector: Any, students: Path, public: Path | None) -> list[Pair]:
    """Each pair of owners with their most similar file, from a run ``CopyDetector``."""
    matrix = detector.similarity_matrix  # (test file, reference file, both sides' similarity)
    tests, refs = detector.test_files, detector.ref_files
    best: dict[tuple[str, str], Pair] = {}
    for i, test_file in enumerate(tests):
        first, name = _owner(Path(test_file), students, public)
        for j, ref_file in enumerate(refs):
            forward, backward = (float(v) for v in matrix[i, j])
            if forward <= 0 and backward <= 0:
                continue  # not compared (the same student, another file name) or nothing shared
            second, _ = _owner(Path(ref_file), students, public)
            if second == first:
                continue
            # a student before a public solution, else in order of their ids
            low, high = sorted((first, second), key=lambda who: (who.startswith(PUBLIC), who))
            key = (low, high)
            pair = Pair(first, second, name, forward, backward) if key[0] == first \
                else Pair(second, first, name, backward, forward)
            if key not in best or pair.score > best[key].score:
                best[key] = pair
    return sorted(best.values(), key=lambda p: (-p.score, p.first, p.second))


def write_csv(pairs: list[Pair], path: Path) -> None:
    """The pairs as CSV: ``first, second, file, similarity, reverse_similarity``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["first", "second", "file", "similarity", "reverse_similarity"])
        for pair in pairs:
            writer.writerow([pair.first, pair.second, pair.file, f"{pair.similarity:.3f}",
                             f"{pair.reverse_similarity:.3f}"])
