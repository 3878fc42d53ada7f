"""The course on a JupyterHub with nbgrader, graded by Flamethrower's own sandboxed grader.

``python -m grader export-nbgrader hw1 --course-dir DIR`` writes an nbgrader course directory:

    DIR/nbgrader_config.py     nbgrader's settings, calling ``configure`` below (written once;
                               yours to extend)
    DIR/flamethrower.json      each exported homework's graded files (rewritten by each export)
    DIR/source/hw1/            the handout's files, the data samples, and hw1.ipynb

The notebook is the handout's, with nbgrader's cell metadata (``nbgrader`` documentation,
"Developing assignments"): every guide cell is a locked read-only cell, and each question's
public-test cell becomes an autograder cell worth the question's points in ``course.toml``. In
the release, that cell runs the question's public tests and fails if one fails, so
``nbgrader validate`` says what ``make check-hw1`` says; its hidden part (``### BEGIN HIDDEN
TESTS``) asks Flamethrower's grader for the question's score.

Autograding never runs the student's notebook: ``configure`` replaces nbgrader's ``Execute``
step with ``SandboxedGrade``, which grades the submitted files with ``grade.grade`` (student
code confined, time- and size-limited in the grader's sandbox) and writes each question's
score into its autograder cell as nbgrader's partial credit. Before that,
``RestoreAssignmentCells`` makes the submitted notebook's cells the assignment's own again
(a deleted cell put back, an added one dropped), and nbgrader restores each locked cell's
source. So nothing a student
writes in the notebook (edited, deleted or added cells, forged outputs or metadata) changes a
score: the grader's result is its only source. (nbgrader itself scores 0, without grading,
a submission whose notebook is missing: students hand in the whole folder.) The answer key
stays with the instructor: the hidden part names a question, never a test. A student id must
be one the grader accepts (``feedback.STUDENT_ID``); another fails that student's autograde,
naming it, rather than scoring 0.
"""
from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from .assignment import Assignment, build, course_of
from .course import REPO, Homework, find_homework
from .feedback import is_safe_student_id
from .files import write_tree
from .results import GradeResult
from .sandbox import printable

CONFIG = "nbgrader_config.py"
ASSIGNMENTS = "flamethrower.json"   # each exported homework's whitelist, for ``configure``
DATA = ("mnist", "news")            # the data samples the handouts' tests and notebooks read
SCHEMA_VERSION = 3                  # nbgrader's cell metadata schema (nbgrader 0.9)
FEEDBACK_CHARS = 400                # the most characters of one test's message in a cell

CONFIG_TEXT = '''\
# nbgrader's settings for this course, written by `python -m grader export-nbgrader`.
# `configure` makes Flamethrower's sandboxed grader the only source of points (see
# grader/nbgrader_course.py); add your own settings (exchange, course_id, ...) below it.
from pathlib import Path

from grader.nbgrader_course import configure

c = get_config()  # noqa: F821 (nbgrader provides it)
configure(c, Path(__file__).parent)
'''


def question_id(n: int) -> str:
    """The nbgrader ``grade_id`` of question ``n``'s autograder cell."""
    return f"q{n}"


def public_test_cell(homework: Homework) -> re.Pattern[str]:
    """The handout notebook's cell that runs one question's public tests, as the generator
    writes it (``!{sys.executable} -m pytest tests/hw1 --question 2 -q``)."""
    return re.compile(rf"!\{{sys\.executable\}} -m pytest tests/{homework.id} --question (\d+) -q")


def autograder_source(homework: Homework, n: int) -> str:
    """The source of question ``n``'s autograder cell: its public tests, then (hidden from
    students) the call that reports the grader's score for the question."""
    question = next(q for q in homework.questions if q.n == n)
    return f'''\
# Question {n}: {question.title} ({question.points} points). Your public tests, as
# `make check-{homework.id}` runs them. When your work is graded, Flamethrower's grader runs the
# hidden tests on your files in its sandbox, and this cell shows the score it gave.
import subprocess
import sys

public = subprocess.run([sys.executable, "-m", "pytest", "tests/{homework.id}", "--question", "{n}",
                         "-q"], capture_output=True, text=True)
print(public.stdout[-20000:] + public.stderr[-4000:])
assert public.returncode == 0, "question {n}: a public test fails (above)"
### BEGIN HIDDEN TESTS
from grader.nbgrader_course import question_score
question_score("{homework.id}", {n})
### END HIDDEN TESTS'''


def nbgrader_metadata(grade_id: str, *, points: float | None = None) -> dict[str, Any]:
    """nbgrader's metadata of a locked cell: read-only, or an autograder cell with ``points``."""
    meta: dict[str, Any] = {"grade": points is not None, "solution": False, "locked": True,
                            "task": False, "grade_id": grade_id, "schema_version": SCHEMA_VERSION}
    if points is not None:
        meta["points"] = points
    return meta


def _locked(cell: nbformat.NotebookNode, grade_id: str, points: float | None = None
            ) -> nbformat.NotebookNode:
    """``cell`` made a locked nbgrader cell (``nbgrader_metadata``) that Jupyter will not let
    a student edit or delete."""
    cell.metadata["nbgrader"] = nbgrader_metadata(grade_id, points=points)
    cell.metadata["editable"] = False
    cell.metadata["deletable"] = False
    return cell


def notebook(assignment: Assignment) -> nbformat.NotebookNode:
    """The homework's notebook with nbgrader metadata: guide cells locked, one autograder cell
    per question (in place of its public-test cell; at the end for a question without one).

    Raises:
        ValueError: if the homework has no notebook.
    """
    homework = assignment.homework
    if homework.notebook is None:
        raise ValueError(f"{homework.id} has no notebook to export")
    source = nbformat.reads(assignment.handout.files[homework.notebook], as_version=4)
    questions = {q.n: q for q in homework.questions}
    pattern = public_test_cell(homework)
    cells, placed = [], set()
    for index, cell in enumerate(source.cells):
        match = pattern.fullmatch(cell.source.strip()) if cell.cell_type == "code" else None
        if match and int(match[1]) in questions and int(match[1]) not in placed:
            cells.append(_autograder_cell(homework, int(match[1])))
            placed.add(int(match[1]))
            continue
        cells.append(_locked(copy.deepcopy(cell), f"cell-{index}"))
    cells += [_autograder_cell(homework, n) for n in sorted(questions) if n not in placed]
    out = nbformat.v4.new_notebook(metadata=copy.deepcopy(source.metadata))
    out.cells = cells
    nbformat.validate(out)
    return out


def _autograder_cell(homework: Homework, n: int) -> nbformat.NotebookNode:
    question = next(q for q in homework.questions if q.n == n)
    return _locked(nbformat.v4.new_code_cell(autograder_source(homework, n)), question_id(n),
                   question.points)


def export(homework: Homework, course_dir: Path, repo: Path = REPO) -> Path:
    """Write ``homework`` into the nbgrader course at ``course_dir`` (made if missing):
    ``source/<id>/`` (replaced whole), ``flamethrower.json`` (this homework's entry), and
    ``nbgrader_config.py`` if there is none. Returns the assignment's source folder.

    Raises:
        ValueError: if the homework has no notebook, a question's hidden tests are not worth
            its points in ``course.toml``, or ``course_dir`` has an ``nbgrader_config.py`` that
            does not call ``configure``: autograding would then run student code outside the
            sandbox.
    """
    assignment = build(homework)
    for question in homework.questions:  # nbgrader refuses partial credit above a cell's points
        hidden = sum(t.points for t in assignment.tests if t.question == question.n)
        if hidden != question.points:
            raise ValueError(f"{homework.id} question {question.n}: its hidden tests' points add "
                             f"up to {hidden:g}, course.toml gives it {question.points}")
    course_dir.mkdir(parents=True, exist_ok=True)
    config = course_dir / CONFIG
    if not config.exists():
        config.write_text(CONFIG_TEXT)
    elif "configure(c" not in config.read_text():
        raise ValueError(f"{config} does not call grader.nbgrader_course.configure; add these "
                         f"lines to it:\n{CONFIG_TEXT}")
    source = course_dir / "source" / homework.id
    if source.exists():
        shutil.rmtree(source)
    write_tree(assignment.handout.files, source)
    nbformat.write(notebook(assignment), source / str(homework.notebook))
    for name in DATA:  # the handouts find the nearest data/ above them (simple_ml.default_data_dir)
        shutil.copytree(repo / "data" / name, source / "data" / name)
    entries = exported(course_dir)
    entries[homework.id] = {"whitelist": list(assignment.whitelist),
                            "points": {question_id(q.n): q.points for q in homework.questions}}
    (course_dir / ASSIGNMENTS).write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    return source


def configure(c: Any, course_dir: Path) -> None:
    """Set nbgrader's configuration ``c`` so that Flamethrower's grader gives every point.

    - ``Autograde.sanitize_preprocessors``: nbgrader's, with ``RestoreAssignmentCells`` after
      ``DeduplicateIds``.
    - ``Autograde.autograde_preprocessors``: nbgrader's, with ``Execute`` (which would run the
      student's notebook, unconfined) replaced by ``SandboxedGrade``.
    - ``Autograde.exclude_overwriting``: the files a student may change (each exported
      homework's whitelist, from ``flamethrower.json``) stay theirs in ``autograded/``; nbgrader
      puts the handout's copy of every other file back.

    Raises:
        RuntimeError: if nbgrader's autograde steps have no ``Execute`` to replace.
    """
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import DeduplicateIds, Execute

    traits = Autograde.class_traits()
    sanitize = list(traits["sanitize_preprocessors"].default())
    # the assignment's cells, before nbgrader looks their ids up (OverwriteCells, CheckCellMetadata)
    at = sanitize.index(DeduplicateIds) + 1 if DeduplicateIds in sanitize else 0
    sanitize.insert(at, RestoreAssignmentCells)
    autograde = [SandboxedGrade if step is Execute else step
                 for step in traits["autograde_preprocessors"].default()]
    if SandboxedGrade not in autograde:
        raise RuntimeError("nbgrader's autograde steps have no Execute step to replace; this "
                           "nbgrader version is not the one grader/nbgrader_course.py supports")
    c.Autograde.sanitize_preprocessors = sanitize
    c.Autograde.autograde_preprocessors = autograde
    c.Autograde.exclude_overwriting = {hw: entry["whitelist"]
                                       for hw, entry in exported(course_dir).items()}


def exported(course_dir: Path) -> dict[str, Any]:
    """``flamethrower.json`` of the course at ``course_dir``: each exported homework's whitelist
    and points (empty before the first export)."""
    registry = course_dir / ASSIGNMENTS
    entries: dict[str, Any] = json.loads(registry.read_text()) if registry.exists() else {}
    return entries


class RestoreAssignmentCells(Preprocessor):
    """Replace a submitted notebook's cells with the assignment's own, rebuilt from nbgrader's
    record of the source notebook in its gradebook (its ``SourceCell`` and ``GradeCell`` rows):
    every cell, in the source's order, with the source's text and metadata. Every cell of an
    exported notebook is locked, so the student loses nothing, and nothing of theirs remains: no
    cell they added, deleted, edited or reordered, no forged metadata (a ``schema_version`` that
    would stop nbgrader's whole run, a grade cell's flags or points), no output. (nbgrader's own
    ``add_missing_cells`` puts a deleted grade cell back only after a solution or grade cell,
    which these notebooks do not have.)"""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb: nbformat.NotebookNode, resources: dict[str, Any]
                   ) -> tuple[nbformat.NotebookNode, dict[str, Any]]:
        from nbgrader.api import Gradebook

        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gradebook:
            source = gradebook.find_notebook(info["notebook"], info["assignment"])
            points = {cell.name: cell.max_score for cell in source.grade_cells}
            nb.cells = [_restored(cell, points.get(cell.name)) for cell in source.source_cells]
        return nb, resources


def _restored(cell: Any, points: float | None) -> nbformat.NotebookNode:
    """A cell of the source notebook, rebuilt from nbgrader's ``SourceCell`` record of it."""
    make = nbformat.v4.new_code_cell if cell.cell_type == "code" else nbformat.v4.new_markdown_cell
    restored = _locked(make(cell.source), cell.name, points)
    restored.metadata["nbgrader"].update(locked=bool(cell.locked), checksum=cell.checksum)
    return restored


class SandboxedGrade(Preprocessor):
    """nbgrader's autograde step that replaces ``Execute``: grade the student's submitted files
    with Flamethrower's grader (in its sandbox) and write each question's score into that
    question's autograder cell, as an ``execute_result`` nbgrader reads as partial credit,
    after the question's per-test feedback (printed safely: ``sandbox.printable``)."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb: nbformat.NotebookNode, resources: dict[str, Any]
                   ) -> tuple[nbformat.NotebookNode, dict[str, Any]]:
        from nbgrader.coursedir import CourseDirectory

        from .grade import grade

        info = resources["nbgrader"]
        if not is_safe_student_id(info["student"]):
            raise ValueError(f"nbgrader student id {printable(str(info['student']), 80)!r} is not one "
                             f"the grader accepts (1 to 64 letters, digits and . _ @ -, starting "
                             f"with a letter or digit): rename the submission's folder")
        homework = find_homework(course_of(), info["assignment"])
        coursedir = CourseDirectory(config=self.config)
        submitted = Path(coursedir.format_path(coursedir.submitted_directory, info["student"],
                                               info["assignment"]))
        result = grade(homework, submitted, student=info["student"])
        for cell in nb.cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
            match = re.fullmatch(r"q(\d+)", grade_id)
            if match and cell.cell_type == "code":
                cell.outputs = question_outputs(result, int(match[1]))
                cell.execution_count = None
        return nb, resources


def question_score(homework_id: str, n: int, folder: Path | str = ".",
                   student: str | None = None) -> float:
    """Question ``n``'s score of the submission in ``folder`` (the notebook's folder), graded by
    Flamethrower's grader: what the hidden part of an autograder cell shows when an instructor
    runs it by hand. ``student``: whose inputs, with ``variants`` on (default: the name of the
    folder above ``folder``, nbgrader's ``<student>/<assignment>``). (Autograding does not run
    it: ``SandboxedGrade`` writes the score of the same grading.)"""
    from .grade import grade

    root = Path(folder).resolve()
    result = grade(find_homework(course_of(), homework_id), root, student=student or root.parent.name)
    print(question_feedback(result, n))
    return question_points(result, n)


def question_points(result: GradeResult, n: int) -> float:
    """The points ``result`` gives question ``n`` (over its hidden tests)."""
    return round(sum(t.score for t in result.results if t.question == n), 6)


def question_feedback(result: GradeResult, n: int) -> str:
    """Question ``n``'s lines of the grader's feedback: its score, then each test that did not
    pass with its status and message, made safe to show (``sandbox.printable``)."""
    tests = [t for t in result.results if t.question == n]
    most = sum(t.max_score for t in tests)
    lines = [f"Flamethrower's grader: question {n}: {question_points(result, n):g} / {most:g} "
             f"({sum(t.passed for t in tests)} of {len(tests)} hidden tests passed)"]
    lines += [f"  FAIL {printable(t.name, 200)}: {t.status}: {printable(t.message, FEEDBACK_CHARS)}"
              for t in tests if not t.passed]
    lines += [f"  note: {printable(note, FEEDBACK_CHARS)}" for note in result.notes]
    return "\n".join(lines) + "\n"


def question_outputs(result: GradeResult, n: int) -> list[nbformat.NotebookNode]:
    """The outputs of question ``n``'s autograder cell: its feedback (stdout), then its score
    as the cell's value, which nbgrader takes as partial credit."""
    return [nbformat.v4.new_output("stream", name="stdout", text=question_feedback(result, n)),
            nbformat.v4.new_output("execute_result", data={"text/plain": f"{question_points(result, n):g}"},
                                   execution_count=None)]
