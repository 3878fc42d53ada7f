"""The course manifest (``solutions/course.toml``): homeworks, their files and questions."""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"


@dataclass(frozen=True)
class Question:
    """One question of a homework: its number, title, what to implement, and points."""

    n: int
    title: str
    what: str
    points: int


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
        questions = tuple(Question(**q) for q in entry.get("questions", []))
        if [q.n for q in questions] != list(range(1, len(questions) + 1)):
            raise ValueError(f"course.toml: {entry['id']}'s questions must be numbered 1, 2, ...")
        homeworks.append(Homework(entry["id"], position, entry["dir"], entry["title"],
                                  entry["summary"].strip(), entry.get("notebook"),
                                  tuple(entry["files"]), questions, entry.get("notes", "").strip()))
    return homeworks


def find_homework(course: list[Homework], name: str) -> Homework:
    """The homework called ``name``: its id ("hw1") or its folder ("hw1_autograd").

    Raises:
        KeyError: naming the homeworks there are.
    """
    for hw in course:
        if name in (hw.id, hw.dir):
            return hw
    raise KeyError(f"no homework {name!r}; the course has {', '.join(h.dir for h in course)}")
