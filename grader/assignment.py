"""One build per assignment: a homework built once from ``solutions/`` and ``course.toml``.

``build(homework)`` renders the handout, reads the hidden-test manifest and fingerprints what
the answer key depends on, into an immutable ``Assignment`` addressed by the hash of its inputs
(``content_address``). A process builds each address once (``functools.lru_cache``): a batch of
hundreds of submissions renders the handout once. Grading, checking, carry-forward, release and
the Gradescope export all read an ``Assignment``; none renders a handout itself, and this
module's ``build`` is the only caller of ``handouts.generate``.
"""
from __future__ import annotations

import functools
import hashlib
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import answers, runner, workspace
from .course import SOLUTIONS, Homework, load_course
from .environment import installed_version
from .handouts import Handout, generate
from .runner import HiddenTest


@dataclass(frozen=True)
class Environment:
    """The versions an assignment was built with: Python, NumPy, and needle (the installed
    course package's, ``flamethrower``; "unknown" where it is not installed)."""

    python: str
    numpy: str
    needle: str


@dataclass(frozen=True)
class Assignment:
    """One homework, built: what every consumer of ``solutions/`` reads instead of it.

    Attributes:
        homework: its ``course.toml`` entry.
        handout: the rendered handout (path -> text, and its stubs). Shared by every user of
            this build: copy ``handout.files`` before changing it.
        whitelist: the handout files a student may change (``workspace.whitelist``), sorted.
        tests: the hidden-test manifest (questions, points, tolerances, time limits), in order.
        fingerprint: ``answers.fingerprint``: the hash the answer key is stored under.
        address: the hash of every input of this build (``content_address``).
        environment: the versions it was built with.
        frozen_key: the answer key, when it comes with the build (the Gradescope bundle's,
            read from its files); else ``key`` loads it on first use.
    """

    homework: Homework
    handout: Handout
    whitelist: tuple[str, ...]
    tests: tuple[HiddenTest, ...]
    fingerprint: str
    address: str
    environment: Environment
    frozen_key: answers.AnswerKey | None = None

    @functools.cached_property
    def key(self) -> answers.AnswerKey:
        """The answer key: ``frozen_key``, else the stored one (``answers.key_of``), generated
        first if missing or stale, once per build.

        Raises:
            RuntimeError: if a hidden test fails on the reference solutions.
        """
        if self.frozen_key is not None:
            return self.frozen_key
        return answers.key_of(self.homework, self.handout, list(self.tests), self.fingerprint)


def build(homework: Homework, solutions: Path = SOLUTIONS, repo_url: str | None = None) -> Assignment:
    """The ``Assignment`` of ``homework`` rendered from ``solutions``, its notebook cloning
    ``repo_url`` (default: ``course.toml``'s). Built once per process for each content address,
    so a changed source, hidden test or ``course.toml`` is rebuilt, and nothing else is.

    Raises:
        MarkerError, FileNotFoundError, ValueError: as ``handouts.generate`` does.
    """
    course = course_of(solutions)
    fingerprint = answers.fingerprint(homework, course, solutions)
    return _build(homework, solutions, repo_url, fingerprint,
                  content_address(homework, solutions, repo_url, fingerprint))


def course_of(solutions: Path = SOLUTIONS) -> list[Homework]:
    """The homeworks of ``solutions/course.toml`` (``course.load_course``), in order.

    Raises:
        ValueError: for a malformed ``course.toml`` (see ``load_course``).
    """
    return load_course(solutions)


def content_address(homework: Homework, solutions: Path, repo_url: str | None, fingerprint: str) -> str:
    """The SHA-256 of everything a build of ``homework`` reads: the answer key's ``fingerprint``
    (hidden tests, runner, solution sources), ``course.toml``, the notebook and ``repo_url``."""
    digest = hashlib.sha256(fingerprint.encode() + b"\0" + (solutions / "course.toml").read_bytes())
    if homework.notebook:
        digest.update(b"\0" + (solutions / homework.notebook).read_bytes())
    digest.update(b"\0" + (repo_url or "").encode())
    return digest.hexdigest()


@functools.lru_cache(maxsize=16)
def _build(homework: Homework, solutions: Path, repo_url: str | None, fingerprint: str,
           address: str) -> Assignment:
    """``build``'s work, cached by its inputs (``address`` stands for the files' contents)."""
    handout = generate(homework, course_of(solutions), solutions, repo_url)
    return Assignment(homework, handout, tuple(workspace.whitelist(handout.files)),
                      tuple(runner.discover(homework.id)), fingerprint, address, environment())


def environment() -> Environment:
    """The versions in use now (``Environment``)."""
    return Environment(platform.python_version(), np.__version__,
                       installed_version("flamethrower") or "unknown")
