"""Grading one submission, or many in parallel: workspace, sandboxed build and run, scores.

Data flows one way: ``workspace.build`` -> ``runner.build_extension`` / ``runner.run_suite``
(the process boundary) -> ``scoring.score`` against ``answers.AnswerKey`` -> a ``GradeResult``
that the reports, the gradebook and the exports all read.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import signal
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from . import answers, feedback, runner, sandbox, workspace
from .assignment import Assignment, build, course_of
from .course import REPO, Homework, find_homework, load_settings
from .files import remove_tree
from .results import GradeResult, TestResult
from .scoring import score
from .variants import student_key

# The limits every submission is graded under (``sandbox.Limits``: time, memory, processes, disk).
LIMITS = sandbox.Limits()


def grade(homework: Homework, submission: Path, key: answers.AnswerKey | None = None,
          student: str | None = None, scratch: Path | None = None,
          assignment: Assignment | None = None, feedback_level: str | None = None,
          variants: bool | None = None) -> GradeResult:
    """Grade one submission (a folder, ``.zip`` or ``.tar.gz``) of ``homework``.

    ``key``: the answer key (default: the assignment's). ``assignment`` and ``feedback_level``:
    the homework's build and the course's feedback level when they are not to be read from
    ``solutions/`` (default: ``assignment.build(homework)``, built once per process; the
    Gradescope bundle ships them frozen, and no ``solutions/``). ``variants``: whether the
    student gets their own inputs (``grader.variants``; default: course.toml's ``variants``).

    Never raises (but for KeyboardInterrupt and SystemExit): a bad archive, a failed build, a
    crash or a timeout all come back as zero-score results with a message, and so does a
    failure of the grader itself on this submission (``failed_result``: a note to regrade).
    A scratch folder made here is removed whatever happened (``files.remove_tree``, which
    holds up against any depth).
    """
    started = time.monotonic()
    student = student or workspace.student_id(submission)
    graded_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if not feedback.is_safe_student_id(student):
        # Ids name folders and lines of reports: one outside the safe alphabet is not graded.
        key = key or (assignment or build(homework)).key
        note = (f"submission not graded: the student id {sandbox.printable(student, 80)!r} is "
                f"not 1 to 64 letters, digits and . _ @ - (starting with a letter or digit)")
        results = [TestResult(t.id, t.name, t.question, 0.0, t.points, "missing", note)
                   for t in key.tests]
        return GradeResult(feedback.stand_in_id(student), homework.id, graded_at, results,
                           [*sandbox.detect().notes, note], seconds=time.monotonic() - started)
    own_scratch = scratch is None
    try:
        assignment = assignment or build(homework)
        key = key or assignment.key
        key, seed = student_key(homework, key, student, variants)  # the common key if off
        notes = list(sandbox.detect().notes)
        if scratch is None:  # own_scratch
            scratch = Path(tempfile.mkdtemp(prefix=f"flamethrower-{student}-"))
        handout = assignment.handout
        # everything of this submission's (its files, workspace, build, what its tests write)
        # lives in one size- and inode-limited folder, a tmpfs where the grader is root
        with sandbox.disk_limited(scratch / "area", LIMITS) as area:
            try:
                root = workspace.submission_root(submission, area, list(assignment.whitelist))
            except workspace.SubmissionError as error:
                results = [TestResult(t.id, t.name, t.question, 0.0, t.points, "missing",
                                      f"submission not graded: {error}") for t in key.tests]
                return GradeResult(student, homework.id, graded_at, results, [*notes, str(error)],
                                   seconds=time.monotonic() - started)
            ws = workspace.build(handout.files, root, area / "ws", REPO / "data")
            notes += [f"not in the submission (the stub was graded): {n}" for n in ws.missing]
            notes += [f"refused: {n}" for n in ws.refused]
            build_log = ""
            if answers.needs_build(handout, homework):
                ok, build_log = runner.build_extension(ws.root, limits=LIMITS)
                if not ok:
                    notes.append("the C++ extension did not build (see the build log): the tests "
                                 "that need it score 0")
            outcomes = runner.run_suite(ws.root, homework.id, key.tests, LIMITS,
                                        expected=key.values, seed=seed)
        level = feedback_level or load_settings().feedback
        hidden = runner.hidden_sources(homework.id)
        results = [score(outcomes[t.id], key.values[t.id], level, hidden) for t in key.tests]
        return GradeResult(student, homework.id, graded_at, results, notes, build_log,
                           time.monotonic() - started)
    except Exception as error:
        return failed_result(homework, student, key, error, graded_at)
    finally:
        if own_scratch and scratch is not None:
            with contextlib.suppress(OSError):  # left in the temporary folder; nothing depends on it
                remove_tree(scratch)


def failed_result(homework: Homework, student: str, key: answers.AnswerKey | None,
                  error: BaseException, graded_at: str | None = None) -> GradeResult:
    """The result of a submission the grader itself failed on: every test 0 (none if there is
    no answer key), and a first note naming the error and how to regrade."""
    tests = key.tests if key is not None else []
    results = [TestResult(t.id, t.name, t.question, 0.0, t.points, "missing",
                          "not graded: the grader failed on this submission") for t in tests]
    graded_at = graded_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
    return GradeResult(student, homework.id, graded_at, results,
                       [f"the grader failed on this submission ({type(error).__name__}: "
                        f"{str(error)[:500]}); regrade it with "
                        f"`python -m grader regrade {homework.id} {student}`"])


def stop_on_signals() -> None:
    """Make SIGTERM and SIGHUP raise KeyboardInterrupt, as SIGINT does, so that a stopped
    ``grade``/``grade_many`` kills its sandboxes and removes its scratch folders (their
    ``finally`` blocks) instead of dying with them in place. For the command line."""
    def interrupt(signum: int, frame: types.FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, interrupt)


@contextlib.contextmanager
def _workers_stopped_on_interrupt(pool: concurrent.futures.ProcessPoolExecutor) -> Iterator[None]:
    """On KeyboardInterrupt (or any exception) in the ``with`` block: cancel the submissions not
    started, stop the workers at once (SIGTERM; each one's sandbox dies with it through its
    parent-death signal) and remove the cgroups and tmpfs folders they leave
    (``sandbox.sweep_orphans``), instead of waiting for every running grading to end."""
    try:
        yield
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        workers = multiprocessing.active_children()
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join(timeout=10)
        if os.geteuid() == 0:
            sandbox.sweep_orphans()
        raise


def _grade_one(args: tuple[str, str]) -> GradeResult:
    """One batch worker's job: ``grade``, which never raises; a failure before it (the course
    or the key cannot be loaded) still yields a result: zero, with a note to regrade."""
    homework_id, path = args
    homework = find_homework(course_of(), homework_id)
    key = None
    try:
        assignment = build(homework)
        key = assignment.key
    except Exception as error:
        return failed_result(homework, workspace.student_id(Path(path)), key, error)
    return grade(homework, Path(path), key, assignment=assignment)


def grade_many(homework: Homework, submissions: list[Path], jobs: int | None = None,
               progress: bool = True,
               on_result: Callable[[GradeResult, Path], None] | None = None) -> list[GradeResult]:
    """Grade submissions in parallel, one worker process per core, with a progress bar.

    Workers are started with ``spawn``: fresh interpreters, never forks of the grader, that
    die with it (``sandbox.die_with_parent``), and are stopped at once by an interrupt. Each
    result is handed to ``on_result(result, submission)`` the moment it is known (the caller
    saves it there), so a batch that stops early loses nothing already graded. Never raises for
    one submission: a worker that dies gives that submission a ``failed_result``, and an
    exception from ``on_result`` is reported on stderr and the batch goes on.
    """
    answers.load(homework)  # build the key once, before the workers need it
    jobs = jobs or os.cpu_count() or 1
    context = multiprocessing.get_context("spawn")
    results: list[GradeResult] = []
    # tqdm ships no type hints and types-tqdm is not a dev dependency (unused once it is)
    from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context,
                                                initializer=sandbox.die_with_parent,
                                                initargs=(os.getpid(),)) as pool, \
            _workers_stopped_on_interrupt(pool):
        futures = {pool.submit(_grade_one, (homework.id, str(p))): p for p in submissions}
        for future in tqdm(concurrent.futures.as_completed(futures), total=len(futures),
                           desc=f"grading {homework.id}", unit="submission", disable=not progress):
            path = futures[future]
            try:
                result = future.result()
            except Exception as error:
                result = failed_result(homework, workspace.student_id(path), None, error)
            results.append(result)
            if on_result is not None:
                try:
                    on_result(result, path)
                except Exception as error:
                    print(f"error: could not save the result of {result.student!r}: "
                          f"{type(error).__name__}: {error}", file=sys.stderr)
    order = {workspace.student_id(p): i for i, p in enumerate(submissions)}
    return sorted(results, key=lambda r: order.get(r.student, len(order)))
