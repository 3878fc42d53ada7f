"""The course manifest (``solutions/course.toml``): homeworks, their files and questions."""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"


@dataclass(frozen=True)
class Question:
    """One question of a homework: its number, title, what to implement, and points.

    ``stubs`` are the student regions the question asks for, as ``fnmatch`` patterns over
    ``"path:qualified name"`` (``"python/needle/ops/ops_mathematic.py:*.compute"``); each
    region of the homework belongs to exactly one question (``question_of``).
    """

    n: int
    title: str
    what: str
    points: int
    stubs: tuple[str, ...] = ()

    def asks_for(self, path: str, qualname: str) -> bool:
        """Whether the region ``qualname`` of file ``path`` is one this question asks for."""
        return any(fnmatchcase(f"{path}:{qualname}", pattern) for pattern in self.stubs)


@dataclass(frozen=True)
class Homework:
    """One homework: ``id`` ("hw1"), its handout folder, and the files it introduces."""

    id: str
    number: int
    dir: str
    title: str
    summary: str
    notebook: str | None
    files: tuple[str, ...]
    questions: tuple[Question, ...]
    notes: str = ""  # extra README text for this homework (how to run it, what it needs)


def load_course(solutions: Path = SOLUTIONS) -> list[Homework]:
    """The homeworks of ``solutions/course.toml``, in order.

    Raises:
        ValueError: if an id is not ``hwN``, the numbers are not 0, 1, 2, ... in order, a file
            is listed twice, or question numbers are not 1, 2, 3, ... in order.
    """
    with open(solutions / "course.toml", "rb") as f:
        data = tomllib.load(f)
    homeworks, seen = [], {}
    for position, entry in enumerate(data["homework"]):
        match = re.fullmatch(r"hw(\d+)", entry["id"])
        if not match or int(match[1]) != position:
            raise ValueError(f"course.toml: homework {position} has id {entry['id']!r}, "
                             f"expected 'hw{position}'")
        for name in entry["files"] + [entry.get("notebook")] * bool(entry.get("notebook")):
            if name in seen:
                raise ValueError(f"course.toml: {name} is listed by {seen[name]} and {entry['id']}")
            seen[name] = entry["id"]
        questions = tuple(Question(**{**q, "stubs": tuple(q.get("stubs", ()))})
                          for q in entry.get("questions", []))
        if [q.n for q in questions] != list(range(1, len(questions) + 1)):
            raise ValueError(f"course.toml: {entry['id']}'s questions must be numbered 1, 2, ...")
        homeworks.append(Homework(entry["id"], position, entry["dir"], entry["title"],
                                  entry["summary"].strip(), entry.get("notebook"),
                                  tuple(entry["files"]), questions, entry.get("notes", "").strip()))
    return homeworks


def question_of(homework: Homework, path: str, qualname: str) -> Question:
    """The question of ``homework`` that asks for the region ``qualname`` of file ``path``.

    Raises:
        ValueError: if no question, or more than one, lists the region in its ``stubs``.
    """
    matches = [q for q in homework.questions if q.asks_for(path, qualname)]
    if len(matches) != 1:
        found = ", ".join(str(q.n) for q in matches) or "none"
        raise ValueError(f"course.toml: {homework.id}'s region {path}:{qualname} must match the "
                         f"stubs of exactly one question (matched: {found})")
    return matches[0]


def find_homework(course: list[Homework], name: str) -> Homework:
    """The homework called ``name``: its id ("hw1") or its folder ("hw1_autograd").

    Raises:
        KeyError: naming the homeworks there are.
    """
    for hw in course:
        if name in (hw.id, hw.dir):
            return hw
    raise KeyError(f"no homework {name!r}; the course has {', '.join(h.dir for h in course)}")
