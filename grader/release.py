"""``make release DEST=path``: the repository students receive, as a git repository.

It holds the released handouts (their notebooks cloning the course's ``repo_url`` on Colab,
their READMEs with an "Open in Colab" badge), their public tests, the data, a Makefile
(``make test-hwN``, ``check-hwN``, ``submit-hwN``), a student README, ``requirements.txt`` and
``requirements.lock`` (the instructor's exact versions), the course notation the chapters link
(``docs/notation.md``), the untouched handouts (``.pristine/``,
for ``check-hwN``), the runner modules those targets use, and ``.release.json``: what was
released, with each file's SHA-256. It holds none of ``solutions/``, the hidden suites or the
answer key, and the same leak check as ``check-handouts`` runs over it.

A first release makes one commit. ``release --update`` releases into an existing edition (a
student's clone, or the course's own copy): new homeworks and changed given files are written
and committed as one new commit, but a file the student changed (it differs from the version
last released, as ``.release.json`` records it) is never touched; where the new release would
change it too, it is reported as a conflict and left alone.
"""
from __future__ import annotations

import ast
import gzip
import io
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import check
from .assignment import build, course_of
from .course import REPO, Homework, Settings, check_repo_url, colab_url, find_homework, load_settings
from .environment import LOCK, lock_text
from .files import is_ignored, sha256, tree_files
from .handouts import leaks, placeholders, secret_lines, source_lines
from .runner import HIDDEN

GRADER = Path(__file__).resolve().parent
# The modules of the student edition's commands (make check-hwN, submit-hwN, carry-forward).
STUDENT_COMMANDS = ("check.py", "submit.py", "carry.py")


def runner_modules(grader: Path = GRADER, commands: tuple[str, ...] = STUDENT_COMMANDS) -> tuple[str, ...]:
    """The grader modules the student edition carries, sorted: ``commands`` and, in turn, every
    module they import at their top level (``from . import x``, ``from .x import y``) or run as
    a script (``Path(__file__).with_name("x.py")``). An import inside a function is of the
    course's side (``check.pristine_handout`` building a handout), which the edition never
    reaches: it has ``.pristine/``. None of these holds a marker, solution text or hidden test.
    """
    found: set[str] = set()
    waiting = list(commands)
    while waiting:
        name = waiting.pop()
        if name in found:
            continue
        found.add(name)
        tree = ast.parse((grader / name).read_text(), name)
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                waiting += [f"{alias.name}.py" for alias in node.names] if node.module is None \
                    else [f"{node.module}.py"]
        waiting += [str(node.args[0].value) for node in ast.walk(tree)
                    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "with_name" and len(node.args) == 1
                    and isinstance(node.args[0], ast.Constant) and str(node.args[0].value).endswith(".py")]
    return tuple(sorted(found))


# The runner pieces check-hwN, submit-hwN and carry-forward need (``runner_modules``).
RUNNER_MODULES = runner_modules()
REQUIREMENTS = ["numpy>=1.24", "pybind11>=2.11", "cmake>=3.18", "pytest>=7.4", "pytest-timeout>=2.2",
                "hypothesis>=6.80", "matplotlib>=3.7", "networkx==3.6.1", "tqdm>=4.65",
                "gymnasium==1.4.0", "jupyterlab>=4.2"]
FORBIDDEN = ("solutions/", "grader/hidden/", "grader/answers/", "grader/tests/")
DATA_LEFT_OUT = ("cifar-10-batches-py/", "ptb/", "full/")  # `make data` downloads; never released
MANIFEST = ".release.json"
AUTHOR_NAME, AUTHOR_EMAIL = "Flamethrower release", "release@localhost"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


@dataclass
class Report:
    """What a release or an update did.

    ``problems`` are leaks (instructor-only files, markers, solution text, hidden-test lines, a
    placeholder URL in a release with a real one): an edition with any must not be published.
    """

    dest: Path
    homeworks: list[str]
    problems: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)    # files added or updated
    removed: list[str] = field(default_factory=list)    # released files no longer released
    conflicts: list[str] = field(default_factory=list)  # changed by the student and upstream: left
    notes: list[str] = field(default_factory=list)
    commit: str | None = None                           # the new commit, if one was made


NOTATION = "docs/notation.md"


def edition(homeworks: list[Homework], settings: Settings, repo: Path = REPO) -> dict[str, bytes]:
    """Every file of the student edition for ``homeworks``, path -> bytes, ``MANIFEST`` aside.

    Raises:
        ValueError: for a ``settings.repo_url`` git could not clone.
    """
    check_repo_url(settings.repo_url)
    files: dict[str, bytes] = {}
    for homework in homeworks:
        handout = dict(build(homework, repo / "solutions", settings.repo_url).handout.files)
        handout["README.md"] = with_badge(handout["README.md"], homework, settings.repo_url)
        files.update({f"{homework.dir}/{name}": text.encode() for name, text in handout.items()})
        # gzip stamps the time: recompress with mtime 0, so an unchanged handout gives equal bytes.
        archive = gzip.compress(gzip.decompress(check.pristine_archive(handout)), mtime=0)
        files[f"{check.PRISTINE}/{homework.dir}.tar.gz"] = archive
    for name in tree_files(repo / "data"):
        if not name.startswith(DATA_LEFT_OUT) and not name.endswith(".part"):
            files[f"data/{name}"] = (repo / "data" / name).read_bytes()
    # The course notation, which every chapter links as ../docs/notation.md.
    files[NOTATION] = (repo / NOTATION).read_bytes()
    files["grader/__init__.py"] = b'"""The grader\'s runner, for `make check-hwN` (see check.py)."""\n'
    for name in RUNNER_MODULES:
        files[f"grader/{name}"] = (repo / "grader" / name).read_bytes()
    files["requirements.txt"] = ("\n".join(REQUIREMENTS) + "\n").encode()
    files[LOCK] = lock_text(REQUIREMENTS)[0].encode()
    files[".gitignore"] = (b".venv/\nbuild/\nbuild.log\n*.so\n__pycache__/\n.hypothesis/\n"
                           b"demo-output/\nsubmissions/\n")
    files["Makefile"] = makefile(homeworks).encode()
    files["README.md"] = readme(homeworks, settings).encode()
    return files


def with_badge(readme_text: str, homework: Homework, repo_url: str) -> str:
    """A handout README with an "Open in Colab" badge under its title (unchanged if the
    repository is not on GitHub or the homework has no notebook)."""
    url = colab_url(repo_url, f"{homework.dir}/{homework.notebook}") if homework.notebook else None
    if url is None:
        return readme_text
    title, _, rest = readme_text.partition("\n")
    return f"{title}\n\n[![Open In Colab]({BADGE})]({url})\n{rest}"


def release(dest: Path, repo: Path = REPO, repo_url: str | None = None,
            homeworks: list[str] | None = None, update: bool = False) -> Report:
    """Write the student edition to ``dest`` and commit it; or, with ``update``, bring an
    existing edition up to date (see the module's docstring).

    Args:
        dest: an empty or absent folder; with ``update``, an edition made by this function.
        repo_url: the student repository (default: ``course.toml``'s, or with ``update`` the
            one last released).
        homeworks: ids or folders to release (default: all; with ``update``, those last
            released). An update never withdraws a homework already released.

    Raises:
        FileExistsError: if ``dest`` holds anything and ``update`` is false.
        FileNotFoundError: if ``update`` is true and ``dest`` has no ``.release.json``.
        KeyError: for a homework the course does not have.
        ValueError: for a repository URL git could not clone.
        subprocess.CalledProcessError: if git fails.
    """
    course = course_of(repo / "solutions")
    settings = load_settings(repo / "solutions")
    previous = read_manifest(dest) if update else None
    if not update and dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty: give a new folder for the release, or update it")
    if previous is not None and repo_url is None:
        repo_url = previous["course"]["repo_url"]
    settings = Settings(repo_url or settings.repo_url, settings.submit_url, settings.submit_instructions)
    wanted = {find_homework(course, name).id for name in homeworks or []} or \
        ({hw.id for hw in course} if previous is None else set())
    wanted |= set(previous["homeworks"]) if previous else set()
    chosen = [hw for hw in course if hw.id in wanted]
    files = edition(chosen, settings, repo)
    report = Report(dest, [hw.id for hw in chosen])
    report.problems = leak_problems({n: d for n, d in files.items()}, settings, repo)
    missing = lock_text(REQUIREMENTS)[1]
    if missing:
        report.notes.append(f"{LOCK} leaves out {', '.join(missing)}: not installed here")
    if not settings.has_real_repo_url:
        report.notes.append("repo_url is still the placeholder: Colab cannot clone this edition "
                            "(set it in course.toml, or give REPO_URL=...)")
    if previous is None:
        write_files(dest, files)
        report.written = sorted(files)
        write_manifest(dest, files, report.homeworks, settings)
        if report.problems:
            return report  # written for the instructor to inspect, never committed
    else:
        if report.problems:
            return report  # never write a leaking release into a student's repository
        merge(dest, files, previous["files"], report)
        before = (dest / MANIFEST).read_bytes()
        write_manifest(dest, files, report.homeworks, settings)
        if (dest / MANIFEST).read_bytes() != before:
            report.written.append(MANIFEST)
    report.commit = commit(dest, report, first=previous is None)
    return report


def read_manifest(dest: Path) -> dict[str, Any]:
    """The ``.release.json`` of an edition.

    Raises:
        FileNotFoundError: if ``dest`` is not an edition made by ``release``.
    """
    path = dest / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{dest} has no {MANIFEST}: it is not a student edition to update")
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def write_manifest(dest: Path, files: dict[str, bytes], homeworks: list[str], settings: Settings) -> None:
    """Record what was released: the homeworks, the course settings students need, and each
    file's SHA-256 (what ``--update`` compares a student's file with)."""
    record = {"homeworks": homeworks,
              "course": {"repo_url": settings.repo_url, "submit_url": settings.submit_url,
                         "submit_instructions": settings.submit_instructions},
              "files": {name: sha256(data) for name, data in sorted(files.items())}}
    (dest / MANIFEST).write_text(json.dumps(record, indent=1) + "\n")


def write_files(dest: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` (path -> bytes) under ``dest``."""
    for name, data in files.items():
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def merge(dest: Path, files: dict[str, bytes], released: dict[str, str], report: Report) -> None:
    """Bring ``dest`` to ``files`` wherever the student has not changed a file since the last
    release (``released``: path -> SHA-256); fill ``report``'s written, removed and conflicts.

    A file is the student's when it differs from what was released (or was never released
    but exists). It is left alone; it is a conflict when the new release would change it.
    """
    for name, data in sorted(files.items()):
        path = dest / name
        current = sha256(path.read_bytes()) if path.is_file() else None
        new, old = sha256(data), released.get(name)
        if current == new or old == new:
            continue  # up to date, or the student's change (or deletion) of an unchanged file
        if current == old:  # untouched by the student (or absent and never released)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            report.written.append(name)
        elif current is None:
            report.conflicts.append(f"{name}: you deleted it, and this release changes it")
        elif old is None:
            report.conflicts.append(f"{name}: you have a file of your own there, and this release adds one")
        else:
            report.conflicts.append(f"{name}: you changed it, and this release changes it too")
    for name in sorted(set(released) - set(files)):
        path = dest / name
        if path.is_file() and sha256(path.read_bytes()) == released[name]:
            path.unlink()
            report.removed.append(name)
        elif path.is_file():
            report.conflicts.append(f"{name}: you changed it, and this release removes it")


def git(dest: Path, *args: str, stdin: str | None = None) -> str:
    """Run ``git args`` in ``dest`` as the release's fixed author; its stripped output.

    Raises:
        subprocess.CalledProcessError: if git fails.
    """
    identity = {"GIT_AUTHOR_NAME": AUTHOR_NAME, "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
                "GIT_COMMITTER_NAME": AUTHOR_NAME, "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL}
    return subprocess.run(["git", "-c", "commit.gpgsign=false", "--literal-pathspecs", *args],
                          cwd=dest, input=stdin, capture_output=True, text=True, check=True,
                          env={**os.environ, **identity}).stdout.strip()


def commit(dest: Path, report: Report, first: bool) -> str | None:
    """Commit what the release wrote: the whole edition in a new repository (``first``), else
    only the paths it wrote or removed, so nothing else the student has staged rides along.
    The new commit's id, or None when nothing changed or ``dest`` is not a git repository."""
    message = f"Flamethrower student edition: {', '.join(report.homeworks)}"
    if first:
        git(dest, "init", "-q", "-b", "main")
        git(dest, "add", "-A")
        git(dest, "commit", "-q", "-m", message)
        return git(dest, "rev-parse", "HEAD")
    if not (dest / ".git").exists():
        report.notes.append(f"{dest} is not a git repository: the update was written, not committed")
        return None
    paths = report.written + report.removed
    if not paths:
        report.notes.append("nothing changed since the last release: no commit")
        return None
    listing = "".join(f"{p}\0" for p in paths)
    git(dest, "add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul", stdin=listing)
    git(dest, "commit", "-q", "-m", f"Update: {message}", "--pathspec-from-file=-",
        "--pathspec-file-nul", stdin=listing)
    return git(dest, "rev-parse", "HEAD")


def leak_problems(files: dict[str, bytes], settings: Settings, repo: Path = REPO) -> list[str]:
    """Everything in ``files`` (an edition, path -> bytes) that must not reach students:
    instructor-only paths, markers, solution text, lines of the hidden tests, and (once the
    release names a real repository) the placeholder repository URL."""
    course = course_of(repo / "solutions")
    found = [f"{n}: instructor-only file in the release" for n in sorted(files) if n.startswith(FORBIDDEN)]
    texts = {}
    for name, data in files.items():
        if name.startswith(check.PRISTINE) and name.endswith(".tar.gz"):
            texts.update({f"{name}:{n}": t for n, t in _archive_texts(data).items()})
        elif not name.endswith(".gz"):
            try:
                texts[name] = data.decode()
            except UnicodeDecodeError:
                continue
    # A hidden test's line is secret unless a handout holds it too (shared set-up code).
    public = {line.strip() for homework in course
              for name, text in build(homework, repo / "solutions", settings.repo_url).handout.files.items()
              for _, lines in source_lines(name, text) for line in lines}
    hidden = {line.strip() for path in HIDDEN.rglob("*.py") for line in path.read_text().splitlines()
              if len(line.strip()) >= 30} - public
    found += leaks(texts, secret_lines(course, repo / "solutions") | hidden)
    if settings.has_real_repo_url:
        found += placeholders(texts)
    return found


def _archive_texts(data: bytes) -> dict[str, str]:
    """The files of a ``.pristine`` archive (``check.pristine_archive``'s format)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
        return {m.name: _read_member(tf, m).decode() for m in tf.getmembers() if m.isfile()}


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    """The bytes of ``archive``'s regular file ``member``."""
    f = archive.extractfile(member)
    assert f is not None, member.name  # a regular file always has a stream
    return f.read()


def problems(dest: Path, repo: Path = REPO) -> list[str]:
    """The leak problems (see ``leak_problems``) of the edition written in ``dest``; its
    repository URL is the one ``.release.json`` records (else ``course.toml``'s)."""
    settings = load_settings(repo / "solutions")
    if (dest / MANIFEST).is_file():
        course = read_manifest(dest)["course"]
        settings = Settings(course["repo_url"], course["submit_url"], course["submit_instructions"])
    names = [n for n in tree_files(dest) if not n.startswith(".git/") and not is_ignored(Path(n))]
    return leak_problems({n: (dest / n).read_bytes() for n in names}, settings, repo)


def makefile(course: list[Homework]) -> str:
    """The student edition's Makefile: a virtualenv, then test-hwN, check-hwN and submit-hwN
    per homework."""
    targets = "".join(f"""
test-{hw.id}: $(DEPS)
	$(MAKE) -C {hw.dir} test PYTHON=$(PY)

check-{hw.id}: $(DEPS)
	$(PY) -m grader.check {hw.id} $(ARGS)

submit-{hw.id}: $(DEPS)
	$(PY) -m grader.submit {hw.id}
""" for hw in course)
    names = " ".join(f"test-{hw.id} check-{hw.id} submit-{hw.id}" for hw in course)
    names += " carry-forward shell lab"
    return f"""# Flamethrower, student edition. `make test-hwN` runs a homework's public tests;
# `make check-hwN` runs them the way the grader does; `make submit-hwN` writes the zip to hand
# in (see README.md). All set up .venv first, at the versions of {LOCK}.
PYTHON ?= python3
VENV := $(CURDIR)/.venv
STAMP := $(VENV)/.installed
PY ?= $(VENV)/bin/python
export PATH := $(VENV)/bin:$(PATH)
# With PY=/some/python (a ready environment) no virtualenv is made.
DEPS := $(if $(filter $(VENV)/bin/python,$(PY)),$(STAMP),)

.PHONY: {names}

$(STAMP): requirements.txt {LOCK}
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10+ is needed")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt -c {LOCK}
	@touch $@

# A shell inside .venv, where the handouts' own commands (python -m pytest ...) work.
shell: $(STAMP)
	@echo "In $(VENV): the handouts' commands (python -m pytest ...) work here; exit leaves it."
	@exec bash --init-file "$(VENV)/bin/activate" -i

# JupyterLab, started here: open hwN_*/hwN.ipynb from its file browser.
lab: $(DEPS)
	$(PY) -m jupyterlab

carry-forward: $(DEPS)
	@test -n "$(TO)" || {{ echo "usage: make carry-forward TO=hw2_nn"; exit 2; }}
	$(PY) -m grader.carry $(TO)
{targets}"""


def readme(course: list[Homework], settings: Settings) -> str:
    """The student edition's README."""
    def colab(hw: Homework) -> str:
        url = colab_url(settings.repo_url, f"{hw.dir}/{hw.notebook}") if hw.notebook else None
        return f"[![Open In Colab]({BADGE})]({url})" if url else ""

    rows = "\n".join(f"| [`{hw.dir}/`]({hw.dir}/README.md) | {hw.title} | "
                     f"`make test-{hw.id}` | `make check-{hw.id}` | `make submit-{hw.id}` | {colab(hw)} |"
                     for hw in course)
    where = settings.submit_instructions or "Upload it to the homework's assignment on Gradescope."
    where += f" ({settings.submit_url})" if settings.submit_url else ""
    return f"""# Flamethrower

In this course you build **needle**, a PyTorch-style deep learning library, from first principles.
Each homework is a folder with its own README (the questions and their points), sources, public
tests and a notebook that runs locally or on Colab: the homework's chapter, which explains each
question (the idea, the maths, a worked example, the task) in the course's notation,
[`docs/notation.md`](docs/notation.md).

| Folder | Homework | Public tests | As the grader runs them | Hand in | Colab |
|---|---|---|---|---|---|
{rows}

You need Python 3.10+, `make` and a C++ compiler; the first `make` sets up `.venv/` with what the
homeworks need, at the versions in `{LOCK}` (the ones the course was tested with; `make
check-hwN` warns when yours differ). To type a handout's own commands (`python -m pytest
tests/hw1 --question 3`), enter it first: `source .venv/bin/activate` (or `make shell`;
`deactivate` or `exit` leaves it). Every function you write has a `TODO (hwN, question Q)` line
and raises `NotImplementedError("<its name>: hwN")` until you do, so a failing test names the
function to fix and its question.

`make check-hwN` runs the public tests the way the grader runs its hidden ones: on a fresh copy of
the handout holding only the files you are meant to change (those that had stubs), in a sandbox.
If `make test-hwN` passes but `make check-hwN` does not, you changed something outside those files.
It prints a line per test as it finishes; a test that runs past its time limit (50 s unless the
test says otherwise) is named as timed out and the others still run.
`make check-hw1 ARGS='--timeout 20 -- -k topo_sort'` sets that limit and runs only matching tests.
Later homeworks contain the earlier ones' files again, with their functions stubbed: run
`make carry-forward TO=hw2_nn` (say) to move every function you filled in the previous handout into
the same function of the next. It never overwrites a function you have already filled there, and
it lists what it moved and what it left, and why.

`make submit-hwN` writes `submissions/hwN.zip`: exactly the files the grader takes, with a
manifest of their SHA-256, read back and graded with the public tests the way the grader will
read it. {where}

On Colab, open a homework's notebook (the badge above): its first cell clones this repository
into your Google Drive, and the next ones run carry-forward, `check-hwN` and `submit-hwN` there.

New homeworks arrive as new commits (`git pull`). The course's update never touches a file you
changed: where it would, it leaves yours and lists the file.
"""
