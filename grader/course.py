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
    # tomli is installed only on Python 3.10 (pyproject's dependencies), which mypy targets
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
# The student repository a fresh course.toml names: notebooks cloning it cannot work on Colab.
PLACEHOLDER_REPO_URL = "https://github.com/YOUR-COURSE/flamethrower.git"


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


@dataclass(frozen=True)
class Settings:
    """The course-wide keys at the top of ``course.toml``.

    ``repo_url`` is the student edition's git repository (notebooks clone it on Colab);
    ``submit_url`` and ``submit_instructions`` say where ``make submit-hwN``'s zip goes
    (empty: Gradescope); ``feedback`` is how much graded feedback tells about a failed test
    (``grader.feedback.LEVELS``; the default tells nothing derived from the answer key);
    ``variants`` gives each student their own inputs to the hidden tests that take a ``seed``
    (``grader.variants``; off by default, and it needs the course secret to grade).
    """

    repo_url: str = PLACEHOLDER_REPO_URL
    submit_url: str = ""
    submit_instructions: str = ""
    feedback: str = "messages"
    variants: bool = False

    @property
    def has_real_repo_url(self) -> bool:
        """Whether ``repo_url`` has been set to something other than the placeholder."""
        return self.repo_url != PLACEHOLDER_REPO_URL


def load_settings(solutions: Path = SOLUTIONS) -> Settings:
    """The course-wide settings of ``solutions/course.toml`` (defaults for missing keys).

    Raises:
        ValueError: if a key is not a string (``variants``: not true or false), ``repo_url``
            is not an https:// URL, or ``feedback`` is not a feedback level.
    """
    with open(solutions / "course.toml", "rb") as f:
        data = tomllib.load(f)
    values = {}
    for key in ("repo_url", "submit_url", "submit_instructions", "feedback"):
        if key in data:
            if not isinstance(data[key], str):
                raise ValueError(f"course.toml: {key} must be a string")
            values[key] = data[key].strip()
    if "variants" in data:
        if not isinstance(data["variants"], bool):
            raise ValueError("course.toml: variants must be true or false")
        values["variants"] = data["variants"]
    settings = Settings(**values)
    check_repo_url(settings.repo_url)
    from .feedback import check_level  # here, not at the top: feedback imports the sandbox
    check_level(settings.feedback)
    return settings


def check_repo_url(url: str) -> str:
    """``url`` if it can be cloned on Colab (``https://...``, no spaces or quotes).

    Raises:
        ValueError: otherwise, saying why.
    """
    if not re.fullmatch(r"https://[^\s\"'\\]+", url):
        raise ValueError(f"repository URL {url!r}: give an https:// URL that git can clone")
    return url


def colab_url(repo_url: str, path: str, branch: str = "main") -> str | None:
    """The Colab address that opens notebook ``path`` of a GitHub repository, or None when
    ``repo_url`` is not on github.com (Colab opens notebooks from GitHub only).

    >>> colab_url("https://github.com/cmu/needle-2025.git", "hw1_autograd/hw1.ipynb")
    'https://colab.research.google.com/github/cmu/needle-2025/blob/main/hw1_autograd/hw1.ipynb'
    """
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", repo_url)
    if not match:
        return None
    return f"https://colab.research.google.com/github/{match[1]}/{match[2]}/blob/{branch}/{path}"


def load_course(solutions: Path = SOLUTIONS) -> list[Homework]:
    """The homeworks of ``solutions/course.toml``, in order.

    Raises:
        ValueError: if an id is not ``hwN``, the numbers are not 0, 1, 2, ... in order, a file
            is listed twice, or question numbers are not 1, 2, 3, ... in order.
    """
    with open(solutions / "course.toml", "rb") as f:
        data = tomllib.load(f)
    homeworks: list[Homework] = []
    seen: dict[str, str] = {}  # file name -> the homework id listing it
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
