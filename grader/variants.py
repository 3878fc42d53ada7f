"""Per-student variants of the hidden tests: each student's inputs, and the values they expect.

With ``variants = true`` in ``solutions/course.toml``, a hidden test that takes a parameter
``seed`` draws its inputs from the student's own seed rather than ``runner.COMMON_SEED``:

    seed = int.from_bytes(HMAC-SHA256(key=secret, msg=student id)[:8], "big") >> 1

an integer in ``[0, 2**63)``, where ``secret`` is the course secret (``SECRET_VARIABLE``, or the
file ``SECRET_FILE_VARIABLE`` names), which never lives in the repository and never reaches the
sandbox (``sandbox.child_env`` passes nothing of the grader's environment). Without the secret
no student's seed follows from another's, so a leaked hidden test, even with one student's
expected values, tells nothing about any other student's.

The trusted side runs those tests on ``solutions/`` with the student's seed (through
``answers.generate_values``: the workspace, runner and sandbox of the stored key) and caches the
values in ``grader/answers/variants/<hw>/<fingerprint>/<seed>.npz``, so a regrade costs nothing
more. Tests without a ``seed`` parameter keep the common key. The Gradescope bundle holds no
``solutions/`` and so refuses variants (``gradescope.export``).
"""
from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from . import answers, runner
from .answers import AnswerKey
from .assignment import build
from .course import Homework, Settings, load_settings
from .files import remove_tree
from .runner import HiddenTest

SECRET_VARIABLE = "FLAMETHROWER_COURSE_SECRET"
SECRET_FILE_VARIABLE = "FLAMETHROWER_COURSE_SECRET_FILE"
MIN_SECRET_BYTES = 16
CACHE = answers.ANSWERS / "variants"


class SecretError(ValueError):
    """The course secret that variants need is missing, given twice, unreadable or too short."""


def course_secret(environ: Mapping[str, str] = os.environ) -> bytes:
    """The course secret: ``$FLAMETHROWER_COURSE_SECRET``, or the contents of the file
    ``$FLAMETHROWER_COURSE_SECRET_FILE`` names, without surrounding whitespace.

    Raises:
        SecretError: if neither variable is set, both are, the file cannot be read, or the
            secret is under ``MIN_SECRET_BYTES`` bytes; the message names the variables.
    """
    value, path = environ.get(SECRET_VARIABLE), environ.get(SECRET_FILE_VARIABLE)
    how = (f"set {SECRET_VARIABLE} to the course secret, or {SECRET_FILE_VARIABLE} to a file "
           f"holding it (at least {MIN_SECRET_BYTES} characters, e.g. from `python -c \"import "
           f"secrets; print(secrets.token_hex(32))\"`), and keep it out of the repository")
    if value is not None and path is not None:
        raise SecretError(f"both {SECRET_VARIABLE} and {SECRET_FILE_VARIABLE} are set: set one")
    if value is None and path is None:
        raise SecretError(f"course.toml sets variants = true, which needs the course secret: {how}")
    if path is not None:
        try:
            secret = Path(path).read_bytes().strip()
        except OSError as error:
            raise SecretError(f"{SECRET_FILE_VARIABLE}: cannot read {path!r} "
                              f"({error.strerror or error})") from error
    else:
        assert value is not None  # one of the two is set (checked above)
        secret = value.strip().encode()
    if len(secret) < MIN_SECRET_BYTES:
        raise SecretError(f"the course secret is {len(secret)} bytes, too short to keep "
                          f"students' seeds apart: {how}")
    return secret


def student_seed(secret: bytes, student: str) -> int:
    """The seed of ``student``'s variants: HMAC-SHA256 of the student id (UTF-8) keyed with the
    course secret, its first 8 bytes read big-endian and halved, in ``[0, 2**63)``.

    >>> student_seed(b"an example course secret", "alice")
    3715593104986180470
    >>> student_seed(b"an example course secret", "bob") != student_seed(b"another secret!!", "bob")
    True
    """
    digest = hmac.new(secret, student.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def require_secret(settings: Settings | None = None, environ: Mapping[str, str] = os.environ) -> None:
    """Return when grading can start: variants are off (``settings``, default course.toml's)
    or the course secret is set. Lets a command refuse before grading anyone.

    Raises:
        SecretError: as ``course_secret``, when variants are on.
    """
    if (settings or load_settings()).variants:
        course_secret(environ)


def seeded_values(homework: Homework, tests: list[HiddenTest], seed: int,
                  cache: Path | None = None) -> dict[str, dict[str, np.ndarray]]:
    """The values of ``tests`` on ``solutions/`` with fixture ``seed``, by test id.

    Read from ``<cache>/<hw>/<fingerprint>/<seed>.npz`` (``cache`` default ``CACHE``) when it
    holds these tests (the fingerprint of ``answers.fingerprint``: hidden tests, runner,
    harness, solutions), else
    computed with ``answers.generate_values`` and stored there; folders of other fingerprints
    (stale values) are removed when one is written.

    Raises:
        RuntimeError: if the reference solutions do not build or a test fails on them.
    """
    assignment = build(homework)
    folder = (cache or CACHE) / homework.id / assignment.fingerprint
    path = folder / f"{seed}.npz"
    if path.is_file():
        values = answers.read_key_values(path)
        if set(values) == {t.id for t in tests}:
            return values
    values = answers.generate_values(homework, assignment.handout, tests, seed)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.parent.iterdir():
        if stale != folder:
            remove_tree(stale)
    partial = folder / f".{seed}.{os.getpid()}.tmp"  # one writer per file: batch workers race
    partial.write_bytes(answers.key_values_bytes(values))
    os.replace(partial, path)
    return values


def student_key(homework: Homework, key: AnswerKey, student: str, enabled: bool | None = None,
                environ: Mapping[str, str] = os.environ,
                cache: Path | None = None) -> tuple[AnswerKey, int]:
    """The answer key ``student`` is graded against, and the ``seed`` fixture their tests get.

    Variants off (``enabled`` False, or None and course.toml's ``variants`` false): ``key``
    itself and ``runner.COMMON_SEED``. On: the student's seed (``student_seed``), and ``key``
    with the values of every test that takes a seed replaced by ``seeded_values`` for it.

    Raises:
        SecretError: variants are on and the course secret is not usable (``course_secret``).
        RuntimeError: a test fails on the reference solutions with the student's seed.
    """
    if not (load_settings().variants if enabled is None else enabled):
        return key, runner.COMMON_SEED
    seed = student_seed(course_secret(environ), student)
    seeded = [t for t in key.tests if t.takes_seed]
    if not seeded:
        return key, seed
    values = {**key.values, **seeded_values(homework, seeded, seed, cache)}
    return AnswerKey(key.homework, key.tests, values), seed
