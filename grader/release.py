"""``make release DEST=path``: the repository students receive.

It holds the handouts, their public tests, the data, a Makefile (``make test-hwN``,
``make check-hwN``), a student README, the untouched handouts (``.pristine/``, for
``check-hwN``) and the runner modules ``check-hwN`` uses. It holds none of ``solutions/``, the
hidden suites or the answer key, and the same leak check as ``check-handouts`` runs over it.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from . import check
from .course import REPO, Homework, load_course
from .files import tree_files, write_tree
from .handouts import generate, leaks, secret_lines, source_lines
from .runner import HIDDEN

# The runner pieces check-hwN needs; none holds a marker, solution text or hidden test.
RUNNER_MODULES = ("files.py", "fill.py", "sandbox.py", "harness.py", "workspace.py", "runner.py",
                  "check.py", "check_harness.py", "carry.py")
REQUIREMENTS = ["numpy>=1.24", "pybind11>=2.11", "cmake>=3.18", "pytest>=7.4", "hypothesis>=6.80",
                "matplotlib>=3.7", "tqdm>=4.65"]
FORBIDDEN = ("solutions/", "grader/hidden/", "grader/answers/", "grader/tests/")


def release(dest: Path, repo: Path = REPO) -> list[str]:
    """Write the student edition to ``dest`` (which must be empty or absent); its leak problems.

    Raises:
        FileExistsError: if ``dest`` holds anything.
    """
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty: give a new folder for the release")
    course = load_course(repo / "solutions")
    for homework in course:
        files = generate(homework, course, repo / "solutions").files
        write_tree(files, dest / homework.dir)
        (dest / check.PRISTINE).mkdir(parents=True, exist_ok=True)
        (dest / check.PRISTINE / f"{homework.dir}.tar.gz").write_bytes(check.pristine_archive(files))
    shutil.copytree(repo / "data", dest / "data")
    (dest / "grader").mkdir()
    (dest / "grader" / "__init__.py").write_text(
        '"""The grader\'s runner, for `make check-hwN` (see check.py)."""\n')
    for name in RUNNER_MODULES:
        shutil.copy(repo / "grader" / name, dest / "grader" / name)
    (dest / "requirements.txt").write_text("\n".join(REQUIREMENTS) + "\n")
    (dest / ".gitignore").write_text(".venv/\nbuild/\nbuild.log\n*.so\n__pycache__/\n.hypothesis/\n"
                                     "demo-output/\n")
    (dest / "Makefile").write_text(makefile(course))
    (dest / "README.md").write_text(readme(course))
    return problems(dest, repo)


def problems(dest: Path, repo: Path = REPO) -> list[str]:
    """Everything in ``dest`` that must not reach students: instructor-only paths, markers,
    solution text, and lines of the hidden tests."""
    course = load_course(repo / "solutions")
    names = tree_files(dest)
    found = [f"{n}: instructor-only file in the release" for n in names if n.startswith(FORBIDDEN)]
    texts = {}
    for name in names:
        if name.endswith(".gz"):
            continue
        try:
            texts[name] = (dest / name).read_text()
        except UnicodeDecodeError:
            continue
    for name in names:
        if name.startswith(check.PRISTINE):
            texts.update({f"{name}:{n}": t for n, t in check.pristine_handout(
                dest, Path(name).name.removesuffix(".tar.gz")).items()})
    # A hidden test's line is secret unless a handout holds it too (shared set-up code).
    public = {line.strip() for homework in course
              for name, text in generate(homework, course, repo / "solutions").files.items()
              for _, lines in source_lines(name, text) for line in lines}
    hidden = {line.strip() for path in HIDDEN.rglob("*.py") for line in path.read_text().splitlines()
              if len(line.strip()) >= 30} - public
    found += leaks(texts, secret_lines(course, repo / "solutions") | hidden)
    return found


def makefile(course: list[Homework]) -> str:
    """The student edition's Makefile: a virtualenv, then test-hwN and check-hwN per homework."""
    targets = "".join(f"""
test-{hw.id}: $(DEPS)
	$(MAKE) -C {hw.dir} test PYTHON=$(PY)

check-{hw.id}: $(DEPS)
	$(PY) -m grader.check {hw.id} $(ARGS)
""" for hw in course)
    names = " ".join(f"test-{hw.id} check-{hw.id}" for hw in course) + " carry-forward"
    return f"""# Flamethrower, student edition. `make test-hwN` runs a homework's public tests;
# `make check-hwN` runs them the way the grader does (see README.md). Both set up .venv first.
PYTHON ?= python3
VENV := $(CURDIR)/.venv
STAMP := $(VENV)/.installed
PY ?= $(VENV)/bin/python
export PATH := $(VENV)/bin:$(PATH)
# With PY=/some/python (a ready environment) no virtualenv is made.
DEPS := $(if $(filter $(VENV)/bin/python,$(PY)),$(STAMP),)

.PHONY: {names}

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10+ is needed")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	@touch $@

carry-forward: $(DEPS)
	@test -n "$(TO)" || {{ echo "usage: make carry-forward TO=hw2_nn"; exit 2; }}
	$(PY) -m grader.carry $(TO)
{targets}"""


def readme(course: list[Homework]) -> str:
    """The student edition's README."""
    rows = "\n".join(f"| [`{hw.dir}/`]({hw.dir}/README.md) | {hw.title} | "
                     f"`make test-{hw.id}` | `make check-{hw.id}` |" for hw in course)
    return f"""# Flamethrower

In this course you build **needle**, a PyTorch-style deep learning library, from first principles.
Each homework is a folder with its own README (the questions and their points), sources, public
tests and a notebook that runs locally or on Colab.

| Folder | Homework | Public tests | As the grader runs them |
|---|---|---|---|
{rows}

You need Python 3.10+, `make` and a C++ compiler; the first `make` sets up `.venv/` with what the
homeworks need. Every function you write raises `NotImplementedError("<its name>: hwN")` until you
do, so a failing test names the function to fix.

`make check-hwN` runs the public tests the way the grader runs its hidden ones: on a fresh copy of
the handout holding only the files you are meant to change (those that had stubs), in a sandbox.
If `make test-hwN` passes but `make check-hwN` does not, you changed something outside those files.
It prints a line per test as it finishes; a test that runs past its time limit (60 s unless the
test says otherwise) is named as timed out and the others still run.
`make check-hw1 ARGS='--timeout 20 -- -k topo_sort'` sets that limit and runs only matching tests.
Later homeworks contain the earlier ones' files again, with their functions stubbed: run
`make carry-forward TO=hw2_nn` (say) to move every function you filled in the previous handout into
the same function of the next. It never overwrites a function you have already filled there, and
it lists what it moved and what it left, and why.
"""
