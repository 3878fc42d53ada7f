"""The student edition: what it holds, what it must not, and `make test-hwN` / `check-hwN` there."""
import shutil
import subprocess
import sys

import pytest

from grader import release
from grader.course import SOLUTIONS, load_course
from grader.files import tree_files
from grader.handouts import generate
from grader.workspace import whitelist

COURSE = load_course()


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    dest = tmp_path_factory.mktemp("release") / "flamethrower"
    assert release.release(dest) == []
    return dest


def test_release_holds_the_handouts_data_and_tools_but_no_secrets(edition):
    names = tree_files(edition)
    for hw in COURSE:
        assert f"{hw.dir}/README.md" in names and f".pristine/{hw.dir}.tar.gz" in names
    assert "data/mnist/train-images-idx3-ubyte.gz" in names and "Makefile" in names
    assert not [n for n in names if n.startswith(release.FORBIDDEN)]
    assert not [n for n in names if "answers" in n or "hidden" in n.split("/")[0:2]]


def test_release_leak_check_catches_a_planted_solution(edition, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(edition, copy)
    stolen = (SOLUTIONS / "python" / "needle" / "autograd.py").read_text()
    (copy / "hw1_autograd" / "notes.py").write_text(stolen)
    (copy / "solutions").mkdir()
    (copy / "solutions" / "x.py").write_text("")
    problems = release.problems(copy)
    assert "solutions/x.py: instructor-only file in the release" in problems
    assert any(p.startswith("hw1_autograd/notes.py:") and "solution text" in p for p in problems)


def test_release_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "x").write_text("")
    with pytest.raises(FileExistsError, match="is not empty"):
        release.release(tmp_path)


def run_make(edition, target):
    return subprocess.run(["make", "-s", target, f"PY={sys.executable}"], cwd=edition,
                          capture_output=True, text=True, timeout=600)


def test_make_test_and_check_run_in_the_release(edition):
    test = run_make(edition, "test-hw1")
    assert test.returncode != 0 and "NotImplementedError" in test.stdout and "passed" in test.stdout
    handout = generate(COURSE[1], COURSE).files
    folder = edition / "hw1_autograd"
    for name in whitelist(handout):
        shutil.copy(SOLUTIONS / name, folder / name)
    (folder / "tests" / "conftest.py").write_text("import os\nos._exit(3)\n")  # ignored by the check
    checked = run_make(edition, "check-hw1")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "tests/conftest.py: you changed it, but the grader uses the original" in checked.stdout
    assert " passed" in checked.stdout and "failed" not in checked.stdout
