"""Grading one submission, or many in parallel: workspace, sandboxed build and run, scores.

Data flows one way: ``workspace.build`` -> ``runner.build_extension`` / ``runner.run_suite``
(the process boundary) -> ``scoring.score`` against ``answers.AnswerKey`` -> a ``GradeResult``
that the reports, the gradebook and the exports all read.
"""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import answers, feedback, runner, sandbox, workspace
from .course import REPO, Homework, load_course, load_settings
from .handouts import generate
from .scoring import TestResult, score


@dataclass
class GradeResult:
    """Everything known about one graded submission."""

    student: str
    homework: str
    graded_at: str                   # ISO 8601, UTC, taken by the grader
    results: list[TestResult]
    notes: list[str] = field(default_factory=list)  # submission problems and isolation caveats
    build_log: str = ""
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return sum(r.score for r in self.results)

    @property
    def max_score(self) -> float:
        return sum(r.max_score for r in self.results)


def grade(homework: Homework, submission: Path, key: answers.AnswerKey | None = None,
          student: str | None = None, scratch: Path | None = None,
          handout=None) -> GradeResult:
    """Grade one submission (a folder, ``.zip`` or ``.tar.gz``) of ``homework``.

    ``handout``: the homework's handout when it is not to be generated from ``solutions/``
    (the Gradescope bundle ships a frozen one, and no ``solutions/``).

    Never raises for anything the submission does: a bad archive, a failed build, a crash or
    a timeout all come back as zero-score results with a message.
    """
    started = time.monotonic()
    student = student or workspace.student_id(submission)
    key = key or answers.load(homework)
    graded_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    notes = list(sandbox.detect().notes)
    if not feedback.is_safe_student_id(student):
        # Ids name folders and lines of reports: one outside the safe alphabet is not graded.
        note = (f"submission not graded: the student id {sandbox.printable(student, 80)!r} is "
                f"not 1 to 64 letters, digits and . _ @ - (starting with a letter or digit)")
        results = [TestResult(t.id, t.name, t.question, 0.0, t.points, "missing", note)
                   for t in key.tests]
        return GradeResult(feedback.stand_in_id(student), homework.id, graded_at, results,
                           notes + [note], seconds=time.monotonic() - started)
    own_scratch = scratch is None
    scratch = Path(tempfile.mkdtemp(prefix=f"flamethrower-{student}-")) if own_scratch else scratch
    try:
        handout = handout or generate(homework, load_course())  # given: a frozen one (Gradescope)
        try:
            root = workspace.submission_root(submission, scratch, workspace.whitelist(handout.files))
        except workspace.SubmissionError as error:
            results = [TestResult(t.id, t.name, t.question, 0.0, t.points, "missing",
                                  f"submission not graded: {error}") for t in key.tests]
            return GradeResult(student, homework.id, graded_at, results, notes + [str(error)],
                               seconds=time.monotonic() - started)
        ws = workspace.build(handout.files, root, scratch / "ws", REPO / "data")
        notes += [f"not in the submission (the stub was graded): {n}" for n in ws.missing]
        notes += [f"refused: {n}" for n in ws.refused]
        build_log = ""
        if answers.needs_build(handout, homework):
            ok, build_log = runner.build_extension(ws.root)
            if not ok:
                notes.append("the C++ extension did not build (see the build log): the tests "
                             "that need it score 0")
        outcomes = runner.run_suite(ws.root, homework.id, key.tests, expected=key.values)
        level, hidden = load_settings().feedback, runner.hidden_sources(homework.id)
        results = [score(outcomes[t.id], key.values[t.id], level, hidden) for t in key.tests]
        return GradeResult(student, homework.id, graded_at, results, notes, build_log,
                           time.monotonic() - started)
    finally:
        if own_scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _grade_one(args: tuple[str, str]) -> GradeResult:
    """One batch worker's job. A failure of the grader itself on one submission (not of the
    submission, which ``grade`` absorbs) still yields a result: zero, with a note to regrade."""
    homework_id, path = args
    course = load_course()
    homework = next(hw for hw in course if hw.id == homework_id)
    key = answers.load(homework)
    try:
        return grade(homework, Path(path), key)
    except Exception as error:  # noqa: BLE001 - the batch must go on; the note says what happened
        results = [TestResult(t.id, t.name, t.question, 0.0, t.points, "missing",
                              "not graded: the grader failed on this submission") for t in key.tests]
        return GradeResult(workspace.student_id(Path(path)), homework.id,
                           datetime.now(timezone.utc).isoformat(timespec="seconds"), results,
                           [f"the grader failed on this submission ({type(error).__name__}: {error}); "
                            f"regrade it with `python -m grader regrade {homework.id} <student>`"])


def grade_many(homework: Homework, submissions: list[Path], jobs: int | None = None,
               progress: bool = True) -> list[GradeResult]:
    """Grade submissions in parallel, one worker process per core, with a progress bar.

    Workers are started with ``spawn``: fresh interpreters, never forks of the grader.
    """
    answers.load(homework)  # build the key once, before the workers need it
    jobs = jobs or os.cpu_count() or 1
    context = multiprocessing.get_context("spawn")
    results: list[GradeResult] = []
    from tqdm import tqdm
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [pool.submit(_grade_one, (homework.id, str(p))) for p in submissions]
        for future in tqdm(concurrent.futures.as_completed(futures), total=len(futures),
                           desc=f"grading {homework.id}", unit="submission", disable=not progress):
            results.append(future.result())
    order = {workspace.student_id(p): i for i, p in enumerate(submissions)}
    return sorted(results, key=lambda r: order.get(r.student, len(order)))
