"""Generating the student handouts from ``solutions/`` and checking the committed ones.

Handout K is the files that homeworks 0..K introduce (``course.toml``), plus homework K's
notebook and a generated README, each rendered for K (``markers.render``): student regions
tagged <= K become stubs and blocks for later homeworks disappear.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from .course import PLACEHOLDER_REPO_URL, REPO, SOLUTIONS, Homework, load_settings, question_of
from .files import tree_files, write_tree
from .fill import TODO, stub_name
from .markers import MarkerError, Parsed, Region, language_of, parse, render

# The line of a notebook's Colab setup cell that names the repository to clone.
REPO_URL_LINE = re.compile(r'^(\s*REPO_URL = )"[^"\n]*"', re.MULTILINE)
# The line of a handout's Makefile that names its homework (``make test`` runs tests/$(HW)).
HOMEWORK_LINE = re.compile(r"^HW :=.*$", re.MULTILINE)


@dataclass
class Handout:
    """One generated handout: its files (relative path -> text) and the stubs in them."""

    homework: Homework
    files: dict[str, str]
    stubs: list[Region]


def todo_line(course: list[Homework]) -> Callable[[Region], str]:
    """The text of each stub's TODO line: its homework, question and what to implement.

    ``todo_line(course)(region)`` is, for example,
    ``TODO (hw1, question 3): implement find_topo_sort (Topological sort)``.

    Raises (when called):
        ValueError: if the region belongs to no question of ``course.toml`` (``question_of``).
    """
    def todo(region: Region) -> str:
        question = question_of(course[region.hw], region.path, region.qualname)
        return f"TODO (hw{region.hw}, question {question.n}): implement {region.qualname} ({question.title})"
    return todo


def render_source(name: str, text: str, hw: int,
                  todo: Callable[[Region], str] | None = None) -> tuple[str, list[Region]]:
    """One source file as homework ``hw`` sees it (see ``markers.render``)."""
    if name.endswith(".ipynb"):
        return render_notebook(name, text, hw, todo)
    language = language_of(name)
    if language is None:
        return text, []
    return render(parse(text, name, language), hw, language, todo)


def _read_notebook(text: str) -> NotebookNode:
    """A notebook from its JSON ``text``, in nbformat version 4.

    Raises:
        nbformat.reader.NotJSONError: if ``text`` is not JSON.
    """
    # nbformat has no type hints; it returns a NotebookNode
    notebook: NotebookNode = nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]
    return notebook


def _write_notebook(notebook: NotebookNode) -> str:
    """``notebook`` as JSON text, without a final newline."""
    text: str = nbformat.writes(notebook)  # type: ignore[no-untyped-call]  # nbformat has no type hints
    return text


def render_notebook(name: str, text: str, hw: int,
                    todo: Callable[[Region], str] | None = None) -> tuple[str, list[Region]]:
    """A notebook for homework ``hw``: code cells rendered, outputs and counts cleared."""
    notebook = _read_notebook(text)
    stubs: list[Region] = []
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type == "code":
            parsed = parse(cell.source, f"{name}:cell {number}", "python", top_level_ok=True)
            source, cell_stubs = render(parsed, hw, "python", todo)
            cell.source = source.rstrip("\n")
            cell.outputs, cell.execution_count = [], None
            stubs += cell_stubs
        cell.metadata.pop("execution", None)
    return _write_notebook(notebook) + "\n", stubs


def set_repo_url(name: str, text: str, url: str) -> str:
    """Notebook ``text`` with its setup cell's ``REPO_URL = "..."`` line cloning ``url``.

    Raises:
        ValueError: if no code cell has a ``REPO_URL = "..."`` line (a notebook that could
            not work on Colab), naming the notebook.
    """
    notebook = _read_notebook(text)
    found = False
    for cell in notebook.cells:
        if cell.cell_type == "code" and REPO_URL_LINE.search(cell.source):
            cell.source = REPO_URL_LINE.sub(lambda m: f'{m[1]}"{url}"', cell.source)
            found = True
    if not found:
        raise ValueError(f"{name}: no setup cell with a REPO_URL = \"...\" line to clone the course on Colab")
    return _write_notebook(notebook) + "\n"


def set_homework(name: str, text: str, homework_id: str) -> str:
    """Makefile ``text`` with its ``HW :=`` line naming ``homework_id``: the generator knows the
    handout's homework, so the Makefile need not work it out from its folders.

    >>> set_homework("Makefile", "HW := hw5", "hw1")
    'HW := hw1'

    Raises:
        ValueError: if ``text`` has no ``HW :=`` line, naming the file.
    """
    if not HOMEWORK_LINE.search(text):
        raise ValueError(f"{name}: no `HW :=` line to name the handout's homework")
    return HOMEWORK_LINE.sub(f"HW := {homework_id}", text, count=1)


def generate(homework: Homework, course: list[Homework], solutions: Path = SOLUTIONS,
             repo_url: str | None = None) -> Handout:
    """Render handout ``homework`` from ``solutions`` (nothing is written); its notebook
    clones ``repo_url`` on Colab (default: ``course.toml``'s ``repo_url``).

    Every stub is preceded by its TODO line (``todo_line``).

    Raises:
        MarkerError: for a malformed marker, naming ``file:line``.
        FileNotFoundError: for a file ``course.toml`` lists that does not exist.
        ValueError: for a region that no question of ``course.toml`` asks for, a notebook
            with no ``REPO_URL`` setup line (see ``set_repo_url``), or a Makefile with no
            ``HW :=`` line (see ``set_homework``).
    """
    names = [name for hw in course[:homework.number + 1] for name in hw.files]
    if homework.notebook:
        names.append(homework.notebook)
    files, stubs = {}, []
    todo = todo_line(course)
    for name in names:
        text, file_stubs = render_source(name, (solutions / name).read_text(), homework.number, todo)
        if name == homework.notebook:
            text = set_repo_url(name, text, repo_url or load_settings(solutions).repo_url)
        if name == "Makefile":
            text = set_homework(name, text, homework.id)
        files[name] = text
        stubs += file_stubs
    files["README.md"] = readme(homework, course)
    return Handout(homework, files, stubs)


def write(handout: Handout, dest: Path) -> None:
    """Replace the source files of ``dest`` with the handout's (build outputs are kept)."""
    write_tree(handout.files, dest)


def unclaimed(course: list[Homework], solutions: Path = SOLUTIONS) -> list[str]:
    """Files in ``solutions`` that no homework lists (so no handout would ever carry them)."""
    claimed = {name for hw in course for name in hw.files + ((hw.notebook,) if hw.notebook else ())}
    return [name for name in tree_files(solutions) if name not in claimed and name != "course.toml"]


def secret_lines(course: list[Homework], solutions: Path = SOLUTIONS) -> set[str]:
    """Lines of solution text that must never reach a handout.

    Every stripped line inside a region, except short ones and lines that also appear outside
    all regions somewhere in ``solutions`` (those are given code, not secrets).
    """
    inside: set[str] = set()
    outside: set[str] = set()
    for hw in course:
        for name in hw.files + ((hw.notebook,) if hw.notebook else ()):
            for parsed in _parsed_units(name, (solutions / name).read_text()):
                in_region: set[int] = set()
                for region in parsed.regions:
                    in_region.update(range(region.begin, region.end + 1))
                    inside.update(line.strip() for line in region.body)
                outside.update(line.strip() for n, line in enumerate(parsed.lines, start=1)
                               if n not in in_region)
    return {line for line in inside - outside if len(line) >= 10}


def _parsed_units(name: str, text: str) -> Iterator[Parsed]:
    """The parsed units of a source: the file itself, or each cell of a notebook."""
    if name.endswith(".ipynb"):
        for number, cell in enumerate(_read_notebook(text).cells, start=1):
            unit = f"{name}:cell {number}"
            yield (parse(cell.source, unit, "python", top_level_ok=True)
                   if cell.cell_type == "code" else Parsed(unit, cell.source.splitlines()))
    else:
        language = language_of(name)
        yield parse(text, name, language) if language else Parsed(name, text.splitlines())


def leaks(files: dict[str, str], secrets: set[str]) -> list[str]:
    """Each marker or secret solution line found in ``files``, as ``file:line: what``."""
    problems = []
    for name, text in sorted(files.items()):
        units = source_lines(name, text)
        for unit_name, lines in units:
            for number, line in enumerate(lines, start=1):
                stripped = line.strip()
                if any(m in stripped for m in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN FROM",
                                               "END FROM")):
                    problems.append(f"{unit_name}:{number}: marker left in: {stripped!r}")
                elif stripped in secrets:
                    problems.append(f"{unit_name}:{number}: solution text: {stripped!r}")
    return problems


_TODO_COMMENT = re.compile(r"(?:#|//|/\*)\s*TODO\b")


def todo_problems(files: dict[str, str]) -> list[str]:
    """Each stub without its TODO line, and each other TODO left in the code of ``files``.

    Every stub must sit right under a ``TODO (hwN, question Q): ...`` line, and no other
    comment may say TODO (``# TODO``, ``// TODO``, ``/* TODO``, at the start of a line or after
    code): a handout's TODO comments are exactly the student's work list. Markdown (READMEs,
    notebook text cells) and strings are not checked.
    """
    problems = []
    for name, text in sorted(files.items()):
        if language_of(name) is None or name.endswith(".md"):
            continue
        for unit_name, lines in code_lines(name, text):
            for number, line in enumerate(lines, start=1):
                previous = lines[number - 2] if number > 1 else ""
                following = lines[number] if number < len(lines) else ""
                if stub_name(line) and not TODO.match(previous):
                    problems.append(f"{unit_name}:{number}: stub without its TODO line: {line.strip()!r}")
                elif _TODO_COMMENT.search(line) and not (TODO.match(line) and stub_name(following)):
                    problems.append(f"{unit_name}:{number}: TODO that is not a stub's: {line.strip()!r}")
    return problems


def code_lines(name: str, text: str) -> list[tuple[str, list[str]]]:
    """``(unit, lines)`` of a file's code: itself, or each code cell of a notebook."""
    if name.endswith(".ipynb"):
        notebook = _read_notebook(text)
        return [(f"{name}:cell {n}", cell.source.splitlines())
                for n, cell in enumerate(notebook.cells, start=1) if cell.cell_type == "code"]
    return [(name, text.splitlines())]


def source_lines(name: str, text: str) -> list[tuple[str, list[str]]]:
    """``(unit, lines)`` of a file: itself, or each cell of a notebook (its source, not its JSON)."""
    if name.endswith(".ipynb"):
        notebook = _read_notebook(text)
        return [(f"{name}:cell {n}", cell.source.splitlines())
                for n, cell in enumerate(notebook.cells, start=1)]
    return [(name, text.splitlines())]


def check(repo: Path = REPO) -> list[str]:
    """Everything wrong with the committed handouts, as messages (empty when all is well).

    A fresh generation must equal each committed handout file for file; no handout may hold a
    marker or solution text; every stub has its TODO line and no other TODO is left
    (``todo_problems``); every file in ``solutions/`` must belong to a homework; once
    ``course.toml`` sets a real ``repo_url``, no handout may still clone the placeholder.
    """
    from .assignment import build, course_of  # here, not at the top: it is built on this module
    solutions = repo / "solutions"
    course = course_of(solutions)
    settings = load_settings(solutions)
    problems = [f"solutions/{name}: listed by no homework in course.toml"
                for name in unclaimed(course, solutions)]
    secrets = secret_lines(course, solutions)
    for hw in course:
        try:
            handout = build(hw, solutions).handout
        except (MarkerError, FileNotFoundError, ValueError) as error:
            problems.append(str(error))
            continue
        committed = repo / hw.dir
        present = set(tree_files(committed)) if committed.is_dir() else set()
        for name in sorted(present - handout.files.keys()):
            problems.append(f"{hw.dir}/{name}: not in a fresh generation (run `make handouts`)")
        for name, text in sorted(handout.files.items()):
            if name not in present:
                problems.append(f"{hw.dir}/{name}: missing (run `make handouts`)")
            elif (committed / name).read_text() != text:
                problems.append(f"{hw.dir}/{name}: differs from a fresh generation (run `make handouts`; "
                                f"handouts are never edited by hand)")
        problems += [f"{hw.dir}/{leak}" for leak in leaks(handout.files, secrets)]
        problems += [f"{hw.dir}/{todo}" for todo in todo_problems(handout.files)]
        if committed.is_dir():
            committed_files = {name: (committed / name).read_text() for name in present}
            problems += [f"{hw.dir}/{leak}" for leak in leaks(committed_files, secrets)
                         + todo_problems(committed_files) if f"{hw.dir}/{leak}" not in problems]
            if settings.has_real_repo_url:
                problems += [f"{hw.dir}/{problem}" for problem in placeholders(committed_files)]
    return problems


def placeholders(files: dict[str, str]) -> list[str]:
    """Each file that still names the placeholder repository (``course.toml``'s default
    ``repo_url``), as ``file: what``: for a course that has set its real one."""
    return [f"{name}: still clones the placeholder {PLACEHOLDER_REPO_URL} (set repo_url in "
            f"course.toml and run `make handouts`)" for name, text in sorted(files.items())
            if PLACEHOLDER_REPO_URL in text]


def generate_all(repo: Path = REPO, only: str | None = None) -> list[Handout]:
    """Generate and write every handout (or the one named ``only``) into ``repo``."""
    from .assignment import build, course_of  # here, not at the top: it is built on this module
    solutions = repo / "solutions"
    course = course_of(solutions)
    missing = unclaimed(course, solutions)
    if missing:
        raise ValueError("files in solutions/ that no homework lists in course.toml: " + ", ".join(missing))
    handouts = []
    for hw in course:
        if only in (None, hw.id, hw.dir):
            handout = build(hw, solutions).handout
            write(handout, repo / hw.dir)
            handouts.append(handout)
    return handouts


# Where a homework's notes (course.toml) want the array contract's table.
ARRAY_CONTRACT_SLOT = "{array_contract}"


def array_contract_table(path: Path = SOLUTIONS / "python" / "needle" / "array_contract.py") -> str:
    """The array contract as a Markdown table, read from its one definition (``ARRAY_API`` and
    ``NDARRAY_METHODS`` in needle/array_contract.py) as literals, without importing needle."""
    literals: dict[str, Any] = {}
    for node in ast.parse(path.read_text()).body:
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and node.value is not None):
            literals[node.target.id] = ast.literal_eval(node.value)
    rows = [f"| `array_api.{form.split(': ', 1)[0]}` | {form.split(': ', 1)[1]} |"
            for form in literals["ARRAY_API"].values()]
    rows += [f"| `{form.split(': ', 1)[0]}` | {form.split(': ', 1)[1]} |"
             for form in literals["NDARRAY_METHODS"].values()]
    return "| Call | What it gives |\n|---|---|\n" + "\n".join(rows)


def readme(homework: Homework, course: list[Homework]) -> str:
    """The handout's README.md: the questions in order with their points, and how to work."""
    rows = "\n".join(f"| {q.n} | {q.title} | {q.what} | {q.points} |" for q in homework.questions)
    total = sum(q.points for q in homework.questions)
    earlier = ""
    if homework.number > 0:
        names = ", ".join(hw.id for hw in course[:homework.number])
        earlier = (f"\nThis folder also holds the files of {names}, with their functions stubbed "
                   f"again: later questions use them (the MNIST tests read the data with your "
                   f"`parse_mnist`). From the repository root, `make carry-forward TO={homework.dir}` "
                   f"moves each function you filled in `{course[homework.number - 1].dir}/` into "
                   f"this folder, never over one you have already filled here.\n")
    notebook = (f"\nOpen `{homework.notebook}` (locally with Jupyter, or on a Colab runtime) for a "
                f"guided tour of the questions.\n") if homework.notebook else ""
    tests = f"tests/{homework.id}"
    notes = f"\n{homework.notes.replace(ARRAY_CONTRACT_SLOT, array_contract_table())}\n" \
        if homework.notes else ""
    return f"""# {homework.id}: {homework.title}

{homework.summary}

This folder is a handout of *Flamethrower*, the course in which you build **needle**, a
PyTorch-style deep learning library, from first principles. It is generated from the course's
reference solutions: do not rename files or functions, since the grader calls them by name.

## Questions

| # | Question | What to implement | Points |
|---|---|---|---|
{rows}

Total: {total} points. The public tests in `{tests}` check each question; the grader also runs
hidden tests of the same questions.

## Working on it

You need Python 3.10+, a C++ compiler and the packages `numpy pybind11 cmake pytest
pytest-timeout hypothesis matplotlib tqdm`. From the repository root, `make test-{homework.id}`
installs them into the virtualenv `.venv/` and runs this homework's tests. To type the commands
below yourself, enter that virtualenv first: `source ../.venv/bin/activate` from this folder (or
`make shell` from the repository root; `deactivate` or `exit` leaves it).

```bash
make                                        # build the C++ extension
make test                                   # run this homework's public tests ({tests})
python -m pytest {tests} --question 3       # one question's tests
make test-all                               # every homework's tests in this folder
```

Each function you have to write has a `TODO ({homework.id}, question Q)` comment and raises
`NotImplementedError("<its name>: {homework.id}")` until you do (a C++ or CUDA one,
`RuntimeError: not implemented: <its name>: {homework.id}`). Tests run in question order, each
with a time limit (50 s unless it says otherwise), so the first failure is the first question
left to do, and a failing test names the function to fix: `EWiseAdd.compute is not implemented
(hw1, question 1)`, or `depends on question 1: ...` when a later question's test reaches it.
The run ends with every failure's full message; `-v` shows pytest's long tracebacks.
{notes}{earlier}{notebook}"""
