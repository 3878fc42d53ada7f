"""The student edition: what it holds, what it must not, `make test-hwN` / `check-hwN` there,
its Colab set-up, its lock, and updating it as a git repository without touching students' files."""
import json
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from grader import release
from grader.course import PLACEHOLDER_REPO_URL, REPO, SOLUTIONS, load_course
from grader.environment import installed_version
from grader.files import tree_files
from grader.handouts import generate
from grader.workspace import whitelist

COURSE = load_course()
URL = "https://github.com/cmu-dlsys/needle-2025.git"


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    dest = tmp_path_factory.mktemp("release") / "flamethrower"
    assert release.release(dest).problems == []
    return dest


def git_log(folder):
    return subprocess.run(["git", "log", "--format=%an|%s"], cwd=folder, capture_output=True,
                          text=True, check=True).stdout.splitlines()


def test_release_holds_the_handouts_data_and_tools_but_no_secrets(edition):
    names = tree_files(edition)
    for hw in COURSE:
        assert f"{hw.dir}/README.md" in names and f".pristine/{hw.dir}.tar.gz" in names
    assert "data/mnist/train-images-idx3-ubyte.gz" in names and "Makefile" in names
    assert not [n for n in names if n.startswith(release.FORBIDDEN)]
    assert not [n for n in names if "answers" in n or "hidden" in n.split("/")[0:2]]


def relative_links(text):
    """The targets of a Markdown text's relative links to files (no URL, no bare #anchor)."""
    return [target.split("#")[0] for target in re.findall(r"\]\(([^)\s]+)\)", text)
            if "://" not in target and not target.startswith(("#", "mailto:"))]


def test_release_links_between_its_files_resolve(edition):
    # Every chapter links the course notation (../docs/notation.md), and the edition carries it.
    assert (edition / "docs" / "notation.md").is_file()
    checked = 0
    for path in [edition / "README.md", *edition.glob("hw*/README.md"), *edition.glob("hw*/*.ipynb")]:
        if path.suffix == ".ipynb":
            notebook = nbformat.read(path, as_version=4)
            text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
        else:
            text = path.read_text(encoding="utf-8")
        for target in relative_links(text):
            assert (path.parent / target).exists(), f"{path.relative_to(edition)}: {target}"
            checked += 1
    assert checked > 6


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
    assert test.returncode != 0 and "passed" in test.stdout
    assert "EWiseAdd.compute is not implemented (hw1, question 1)" in test.stdout
    handout = generate(COURSE[1], COURSE).files
    folder = edition / "hw1_autograd"
    for name in whitelist(handout):
        shutil.copy(SOLUTIONS / name, folder / name)
    (folder / "tests" / "conftest.py").write_text("import os\nos._exit(3)\n")  # ignored by the check
    checked = run_make(edition, "check-hw1")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "tests/conftest.py: you changed it, but the grader uses the original" in checked.stdout
    assert " passed" in checked.stdout and "failed" not in checked.stdout


def setup_cell(notebook_path):
    notebook = nbformat.read(notebook_path, as_version=4)
    return next(c.source for c in notebook.cells if "REPO_URL =" in c.source)


def test_release_is_one_commit_with_a_lock_and_a_record_of_every_file(edition):
    assert git_log(edition) == [f"{release.AUTHOR_NAME}|Flamethrower student edition: "
                                + ", ".join(hw.id for hw in COURSE)]
    lock = (edition / "requirements.lock").read_text()
    assert f"numpy=={installed_version('numpy')}\n" in lock
    assert "pytest-timeout>=2.2" in (edition / "requirements.txt").read_text()
    assert "-c requirements.lock" in (edition / "Makefile").read_text()
    record = json.loads((edition / release.MANIFEST).read_text())
    assert record["homeworks"] == [hw.id for hw in COURSE]
    released = {n for n in tree_files(edition) if not n.startswith(".git/")}
    assert set(record["files"]) == released - {release.MANIFEST}


def test_release_sets_the_colab_url_and_badge_and_only_the_homeworks_asked(tmp_path):
    dest = tmp_path / "edition"
    report = release.release(dest, repo_url=URL, homeworks=["hw0", "hw1_autograd"])
    assert report.problems == [] and report.homeworks == ["hw0", "hw1"]
    assert (dest / "hw1_autograd").is_dir() and not (dest / "hw2_nn").exists()
    assert "check-hw1:" in (dest / "Makefile").read_text()
    assert "check-hw2" not in (dest / "Makefile").read_text()
    setup = setup_cell(dest / "hw1_autograd" / "hw1.ipynb")
    assert f'REPO_URL = "{URL}"' in setup and PLACEHOLDER_REPO_URL not in setup
    badge = (f"[![Open In Colab]({release.BADGE})](https://colab.research.google.com/github/"
             f"cmu-dlsys/needle-2025/blob/main/hw1_autograd/hw1.ipynb)")
    assert badge in (dest / "hw1_autograd" / "README.md").read_text()
    assert badge in (dest / "README.md").read_text()
    # check-hwN compares the student's folder with .pristine/: it must hold what was released.
    from grader.check import pristine_handout
    assert pristine_handout(dest, "hw1_autograd")["hw1.ipynb"] == \
        (dest / "hw1_autograd" / "hw1.ipynb").read_text()
    # A file still naming the placeholder is a leak in a release with a real URL.
    (dest / "hw0" / "notes.md").write_text(f"git clone {PLACEHOLDER_REPO_URL}\n")
    assert any(p.startswith("hw0/notes.md: still clones the placeholder") for p in release.problems(dest))


def test_release_refuses_a_repository_url_git_cannot_clone(tmp_path):
    with pytest.raises(ValueError, match="https://"):
        release.release(tmp_path / "x", repo_url="git@github.com:a/b.git", homeworks=["hw0"])


@pytest.fixture
def course_copy(tmp_path):
    """A copy of the instructor's repository to change as a new term's release would."""
    copy = tmp_path / "repo"
    for name in ("solutions", "data", "grader"):
        left_out = ("answers", "tests") if name == "grader" else ()
        shutil.copytree(REPO / name, copy / name, ignore=shutil.ignore_patterns(
            "build", "*.so", "__pycache__", "*.log", "demo-output", "cifar-10-batches-py", "ptb",
            *left_out))
    (copy / "docs").mkdir()
    shutil.copy(REPO / release.NOTATION, copy / release.NOTATION)
    return copy


def student_git(folder, *args):
    return subprocess.run(["git", "-c", "user.name=Ada", "-c", "user.email=ada@example.com", *args],
                          cwd=folder, capture_output=True, text=True, check=True).stdout


def test_update_adds_a_homework_and_never_touches_a_students_file(course_copy, tmp_path):
    dest = tmp_path / "student"
    assert release.release(dest, repo=course_copy, repo_url=URL, homeworks=["hw0"]).problems == []
    # The student fills a stub and commits, and leaves an unrelated edit uncommitted.
    mine = dest / "hw0" / "src" / "simple_ml.py"
    mine.write_text(mine.read_text().replace('raise NotImplementedError("parse_mnist: hw0")',
                                             "return None  # my parse_mnist"))
    student_git(dest, "commit", "-qam", "my parse_mnist")
    (dest / "hw0" / "src" / "simple_ml_ext.cpp").write_text("// work in progress\n")
    # Upstream changes a file the student changed, and a given file the student did not.
    source = course_copy / "solutions" / "src" / "simple_ml.py"
    source.write_text(source.read_text() + "\n# errata: a clarified docstring\n")
    test_file = course_copy / "solutions" / "tests" / "hw0" / "test_simple_ml.py"
    test_file.write_text(test_file.read_text() + "\n# errata: a fixed test\n")

    report = release.release(dest, repo=course_copy, homeworks=["hw0", "hw1"], update=True)

    assert report.problems == [] and report.homeworks == ["hw0", "hw1"]
    assert "my parse_mnist" in mine.read_text() and "errata" not in mine.read_text()
    assert report.conflicts == ["hw0/src/simple_ml.py: you changed it, and this release changes it too"]
    fixed = dest / "hw0" / "tests" / "hw0" / "test_simple_ml.py"
    assert fixed.read_text().endswith("# errata: a fixed test\n")
    assert (dest / "hw1_autograd" / "python" / "needle" / "autograd.py").is_file()
    assert "check-hw1:" in (dest / "Makefile").read_text()
    assert f'REPO_URL = "{URL}"' in setup_cell(dest / "hw1_autograd" / "hw1.ipynb")  # kept
    assert git_log(dest) == [f"{release.AUTHOR_NAME}|Update: Flamethrower student edition: hw0, hw1",
                             "Ada|my parse_mnist",
                             f"{release.AUTHOR_NAME}|Flamethrower student edition: hw0"]
    committed = student_git(dest, "show", "--name-only", "--format=", "HEAD").split()
    assert "hw1_autograd/hw1.ipynb" in committed and "hw0/src/simple_ml.py" not in committed
    assert "hw0/src/simple_ml_ext.cpp" not in committed  # the student's uncommitted edit stays theirs
    assert (dest / "hw0" / "src" / "simple_ml_ext.cpp").read_text() == "// work in progress\n"

    again = release.release(dest, repo=course_copy, update=True)
    assert again.written == [] and again.commit is None and again.conflicts == []
    assert len(git_log(dest)) == 3


def test_update_refuses_a_folder_that_is_not_an_edition(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a student edition"):
        release.release(tmp_path, update=True)
