"""One build per assignment (``grader.assignment``), and the one way to tell a folder's homework
(``grader.folders``)."""
import pytest

from grader import assignment, grade, handouts, release
from grader.course import REPO, load_course
from grader.folders import find_folder, homework_of
from grader.tests.test_grader import solution_submission

COURSE = load_course()
HW0, HW1 = COURSE[0], COURSE[1]


def test_grading_two_submissions_builds_the_assignment_once(monkeypatch, tmp_path):
    renders = []

    def counted(*args, **kwargs):
        renders.append(args[0].id)
        return handouts.generate(*args, **kwargs)
    assignment._build.cache_clear()
    monkeypatch.setattr(assignment, "generate", counted)
    good = grade.grade(HW1, solution_submission(tmp_path / "alice"))
    (tmp_path / "bob").mkdir()
    empty = grade.grade(HW1, tmp_path / "bob")
    assert renders == ["hw1"]
    assert good.score == good.max_score > 0 and empty.score == 0
    built = assignment.build(HW1)
    assert built is assignment.build(HW1) and renders == ["hw1"]
    assert built.whitelist == tuple(sorted(built.whitelist)) and built.tests
    assert built.key.homework == "hw1" and [t.id for t in built.key.tests] == [t.id for t in built.tests]


def test_a_changed_input_is_a_new_build(tmp_path):
    copy = tmp_path / "solutions"
    names = ["course.toml", *HW0.files] + [HW0.notebook] * bool(HW0.notebook)
    for name in names:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes((REPO / "solutions" / name).read_bytes())
    first = assignment.build(HW0, copy)
    assert assignment.build(HW0, copy) is first
    with open(copy / HW0.files[0], "a") as f:
        f.write("\n")
    second = assignment.build(HW0, copy)
    assert second.address != first.address and second.fingerprint != first.fingerprint


@pytest.mark.parametrize("homework", COURSE, ids=lambda hw: hw.id)
def test_each_handout_folder_is_its_homework(homework):
    assert homework_of(REPO / homework.dir) == homework.id
    assert find_folder(REPO, homework.id) == find_folder(REPO, homework.dir) == REPO / homework.dir


def test_a_folder_that_is_no_homework_is_named_in_the_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="grader is not a homework folder"):
        homework_of(REPO / "grader")
    with pytest.raises(FileNotFoundError, match="no homework folder 'hw9'; there are hw0, hw1_autograd"):
        find_folder(REPO, "hw9")


def test_homeworks_compare_as_numbers(tmp_path):
    for n in (2, 9, 10):
        (tmp_path / "hw10_later" / "tests" / f"hw{n}").mkdir(parents=True)
    assert homework_of(tmp_path / "hw10_later") == "hw10"


def test_the_edition_carries_what_the_student_commands_import_and_nothing_of_the_course():
    assert set(release.RUNNER_MODULES) == {
        "check.py", "submit.py", "carry.py", "check_harness.py", "harness.py", "runner.py", "sandbox.py",
        "workspace.py", "files.py", "fill.py", "environment.py", "folders.py",
        # the runner's parts (runner.py re-exports them) and the runner-harness protocol
        "protocol.py", "discovery.py", "supervision.py", "values.py", "building.py", "gpu.py"}
