"""nbgrader end to end, with the real nbgrader CLI (the version pinned in the dev extra).

For a homework: ``export-nbgrader`` into a temporary course, ``nbgrader generate_assignment``,
a simulated class (a filled handout, a bare one, a partially filled one, and a hostile one that
edits, deletes, adds and forges cells on top of partially filled files), ``nbgrader autograde``,
``nbgrader export`` to CSV and ``nbgrader generate_feedback``. Every student's points, per
question and in total, must equal ``python -m grader grade``'s for the same files; the
hostile notebook's cells change nothing, and none of them runs; the feedback shows no hidden
test source.
"""
from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader import nbgrader_course
from grader.assignment import build, course_of
from grader.course import REPO, SOLUTIONS, find_homework

NBGRADER = Path(sys.executable).with_name("nbgrader")
PWNED = "flamethrower-nbgrader-pwned"  # a file a hostile cell would write if any cell ran


def nbgrader(course: Path, *args: str) -> str:
    # nbgrader runs the venv's alembic (its gradebook migrations): the venv's bin/ goes first
    env = {**os.environ, "PATH": f"{NBGRADER.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([str(NBGRADER), *args], cwd=course, capture_output=True, text=True,
                          timeout=1800, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return done.stdout + done.stderr


def hostile_notebook(path: Path, tmp: Path) -> None:
    """Edit the submitted notebook as a student trying to raise their score would."""
    nb = nbformat.read(path, as_version=4)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    q1 = by_id["q1"]
    q1.source = "print('all tests pass')\n1000"          # an autograder cell rewritten
    q1.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "1000"})]
    q1.metadata["nbgrader"]["points"] = 1000
    nb.cells.remove(by_id["q2"])                        # an autograder cell deleted
    by_id["q3"].metadata["nbgrader"]["grade"] = False   # its flags forged
    by_id["cell-0"].metadata["nbgrader"]["schema_version"] = 99  # would stop nbgrader's run
    guide = next(c for c in nb.cells if c.cell_type == "code"
                 and not c.metadata["nbgrader"]["grade"])
    guide.source = f"open({str(tmp / PWNED)!r}, 'w').write('ran')"   # a locked cell rewritten
    forged = nbformat.v4.new_code_cell(f"open({str(tmp / PWNED)!r}, 'w').write('ran')\n500")
    forged.metadata["nbgrader"] = nbgrader_course.nbgrader_metadata("q99", points=500)
    forged.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "500"})]
    nb.cells.insert(0, forged)                          # a cell added, with forged metadata
    nb.cells.insert(1, nbformat.v4.new_code_cell(f"open({str(tmp / PWNED)!r}, 'w')"))
    nbformat.write(nb, path)


def grader_points(homework_id: str, folder: Path, student: str, tmp: Path) -> dict[int, float]:
    """``python -m grader grade``'s points per question for the submission in ``folder``."""
    out = tmp / f"results-{student}.json"
    done = subprocess.run([sys.executable, "-m", "grader", "grade", homework_id, str(folder),
                           "--student", student, "--results-json", str(out),
                           "--out", str(tmp / "grades"), "--gradebook", str(tmp / "gradebook.sqlite")],
                          cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    points: dict[int, float] = {}
    for test in json.loads(out.read_text())["tests"]:
        points[int(test["number"])] = points.get(int(test["number"]), 0.0) + test["score"]
    return points


def nbgrader_points(course: Path, homework_id: str, student: str, questions: list[int]) -> dict[int, float]:
    """nbgrader's gradebook: the points of each question's autograder cell for ``student``."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {n: gradebook.find_grade(nbgrader_course.question_id(n), homework_id, homework_id,
                                        student).score for n in questions}


@pytest.mark.parametrize("homework_id,partial", [
    ("hw1", ["python/needle/ops/ops_mathematic.py"]),
    pytest.param("hw3", ["python/needle/backend_ndarray/ndarray.py", "python/needle/autograd.py",
                         "python/needle/ops/ops_mathematic.py"], marks=pytest.mark.slow),
])
def test_nbgrader_scores_are_the_graders(tmp_path, homework_id, partial):
    homework = find_homework(course_of(), homework_id)
    assignment = build(homework)
    course = tmp_path / "course"
    source = nbgrader_course.export(homework, course)
    assert (source / str(homework.notebook)).is_file() and (source / "data" / "mnist").is_dir()
    nbgrader(course, "generate_assignment", homework_id)
    release = course / "release" / homework_id
    released = (release / str(homework.notebook)).read_text()
    assert "BEGIN HIDDEN TESTS" not in released and "question_score" not in released
    assert not any((release / name).is_dir() for name in ("grader", "solutions"))

    class_ = {"filled": list(assignment.whitelist), "bare": [], "partial": partial,
              "hostile": partial}
    for student, filled in class_.items():
        folder = course / "submitted" / student / homework_id
        shutil.copytree(release, folder)
        for name in filled:
            shutil.copy(SOLUTIONS / name, folder / name)
    hostile_notebook(course / "submitted" / "hostile" / homework_id / str(homework.notebook), tmp_path)

    nbgrader(course, "autograde", homework_id)
    assert not (tmp_path / PWNED).exists(), "a cell of the submitted notebook ran"
    nbgrader(course, "export", "--to", "grades.csv")
    with (course / "grades.csv").open() as rows:
        totals = {row["student_id"]: float(row["score"]) for row in csv.DictReader(rows)}

    questions = [q.n for q in homework.questions]
    max_points = sum(q.points for q in homework.questions)
    for student in class_:
        expected = grader_points(homework_id, course / "submitted" / student / homework_id, student,
                                 tmp_path)
        got = nbgrader_points(course, homework_id, student, questions)
        assert got == pytest.approx(expected), (student, got, expected)
        assert totals[student] == pytest.approx(sum(expected.values())), student
    assert totals["filled"] == max_points and totals["bare"] == 0
    assert 0 < totals["partial"] < max_points
    assert totals["hostile"] == totals["partial"]  # its notebook changed nothing

    nbgrader(course, "generate_feedback", homework_id)
    feedback = html.unescape((course / "feedback" / "hostile" / homework_id /
                              f"{Path(str(homework.notebook)).stem}.html").read_text())
    assert "Flamethrower's grader: question 1:" in feedback
    hidden = sorted((REPO / "grader" / "hidden" / homework_id).glob("test_*.py"))
    assert hidden
    for test_file in hidden:
        for line in test_file.read_text().splitlines():
            line = line.strip()
            if len(line) > 40 and not line.startswith(("#", '"""', "import", "from")):
                assert line not in feedback, f"{test_file.name}: {line!r} is in the feedback"


def test_export_refuses_a_config_that_would_run_student_code(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text("c = get_config()\n")
    with pytest.raises(ValueError, match=r"does not call grader\.nbgrader_course\.configure"):
        nbgrader_course.export(find_homework(course_of(), "hw1"), course)


def test_the_notebook_locks_every_guide_cell_and_grades_each_question():
    homework = find_homework(course_of(), "hw1")
    nb = nbgrader_course.notebook(build(homework))
    grade_ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells]
    assert len(set(grade_ids)) == len(grade_ids)
    graded = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
              for c in nb.cells if c.metadata["nbgrader"]["grade"]}
    assert graded == {f"q{q.n}": q.points for q in homework.questions}
    assert all(c.metadata["nbgrader"]["locked"] for c in nb.cells)
    # each question's public-test cell became its autograder cell, in place
    assert not any(re.search(r"-m pytest tests/hw1 --question \d+ -q$", c.source) for c in nb.cells)


@pytest.mark.slow  # two runs of the whole hw1 notebook: about 3 minutes
def test_nbgrader_validate_is_the_public_test_view(tmp_path):
    homework = find_homework(course_of(), "hw1")
    course = tmp_path / "course"
    nbgrader_course.export(homework, course)
    nbgrader(course, "generate_assignment", "hw1")
    filled, bare = tmp_path / "filled", tmp_path / "bare"
    shutil.copytree(course / "release" / "hw1", filled)
    shutil.copytree(course / "release" / "hw1", bare)
    for name in build(homework).whitelist:
        shutil.copy(SOLUTIONS / name, filled / name)
    passed = nbgrader(course, "validate", str(filled / "hw1.ipynb"))
    assert "Success! Your notebook passes all the tests." in passed
    report = nbgrader(course, "validate", str(bare / "hw1.ipynb"))
    assert f"VALIDATION FAILED ON {len(homework.questions)} CELL(S)" in report
    assert "question 1: a public test fails" in report


def test_a_student_id_the_grader_refuses_fails_that_student_loudly():
    # nbgrader accepts ids the grader does not (spaces, "+", 65 characters): such a student's
    # autograde fails naming the id, rather than scoring 0 in silence.
    step = nbgrader_course.SandboxedGrade()
    for student in ("two words", "a+b", "x" * 65, "\x1b[2Jfake"):
        with pytest.raises(ValueError, match="is not one the grader accepts") as refused:
            step.preprocess(nbformat.v4.new_notebook(),
                            {"nbgrader": {"student": student, "assignment": "hw1", "notebook": "hw1"}})
        assert "\x1b" not in str(refused.value)
