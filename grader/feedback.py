"""What a student may see: feedback levels, redaction of hidden text, escaping, safe student ids.

Everything a submission can influence (exception messages, its output, file names, its student
id) is untrusted text. Before it reaches a report it is

- *redacted*: every line of the hidden test files (longer than a few characters) and every
  distinctive expected value is cut out, then the message is bounded (``redact``);
- *escaped* for where it goes: Markdown metacharacters backslash-escaped (``markdown_text``),
  logs put in a fence the log cannot close (``markdown_block``), control characters written
  as escapes for a terminal (``sandbox.printable``).

How much a student is told about a failed test is the course's choice, the top-level key
``feedback`` of ``course.toml`` (see ``LEVELS``).
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import numpy as np

from .sandbox import printable

# Feedback levels, least to most detailed. The default tells nothing derived from the answer key.
MINIMAL = "minimal"      # the test's name, its status and the exception type only
MESSAGES = "messages"    # + the test's redacted, bounded exception message (the default)
DETAILED = "detailed"    # + for wrong values: how many entries differ and by how much, shapes
LEVELS = (MINIMAL, MESSAGES, DETAILED)
DEFAULT_LEVEL = MESSAGES

MESSAGE_CHARS = 500       # the most characters of a message a student sees
MIN_SECRET_CHARS = 6      # hidden lines shorter than this (``)``, ``else:``) are not secrets
REDACTED = "[...]"

# A student id: a letter or digit, then letters, digits and ``. _ @ -``; at most 64 characters.
# (The first character excludes ``.``, ``..``, leading ``-`` options and ``@``/``-`` formulas.)
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def check_level(level: str) -> str:
    """``level`` if it is one of ``LEVELS``.

    Raises:
        ValueError: naming the levels there are.
    """
    if level not in LEVELS:
        raise ValueError(f"course.toml: feedback must be one of {', '.join(LEVELS)}, not {level!r}")
    return level


def hidden_secrets(sources: Iterable[str]) -> list[str]:
    """The lines of hidden test files that must never appear in feedback: each line stripped,
    those of at least ``MIN_SECRET_CHARS`` characters, longest first (so that a line is cut
    out before any shorter line inside it)."""
    lines = {line.strip() for source in sources for line in source.splitlines()}
    return sorted((line for line in lines if len(line) >= MIN_SECRET_CHARS), key=len, reverse=True)


def value_secrets(expected: dict[str, np.ndarray], per_value: int = 64) -> list[str]:
    """Distinctive renderings of expected values (``repr``, ``str`` and a few precisions of the
    first ``per_value`` entries of each array): numbers of at least four digits."""
    texts = set()
    for array in expected.values():
        for entry in np.asarray(array).ravel()[:per_value].tolist():
            if isinstance(entry, float):
                texts.update({repr(entry), str(entry), f"{entry:.4g}", f"{entry:.6g}", f"{entry:.8g}"})
            else:
                texts.add(str(entry))
    distinctive = (t for t in texts if sum(c.isdigit() for c in t) >= 4)
    return sorted(distinctive, key=len, reverse=True)


def redact(message: str, secrets: Iterable[str], limit: int = MESSAGE_CHARS) -> str:
    """``message`` with every occurrence of each secret replaced by ``[...]``, then bounded to
    ``limit`` characters. Whitespace runs are collapsed first, so re-indenting or re-wrapping
    a hidden line does not hide it from the match.

    >>> redact("boom: x = secret_input(7)", ["x = secret_input(7)"])
    'boom: [...]'
    """
    text = " ".join(message.split())
    for secret in secrets:
        secret = " ".join(secret.split())
        if secret:
            text = text.replace(secret, REDACTED)
    return text if len(text) <= limit else text[:limit] + "..."


def exception_type(message: str) -> str:
    """The exception type a test's message starts with (``"ValueError: ..."``), or ""."""
    match = re.match(r"([A-Za-z_][\w.]*)(?::|$)", message)
    return match[1] if match else ""


# ---- escaping ----------------------------------------------------------------------------------

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~&=\"'$^:])")


def markdown_text(text: str, limit: int = MESSAGE_CHARS) -> str:
    """Untrusted ``text`` as inert Markdown on one line: control characters and line breaks
    written as escapes (no new heading, list item or table row can start), and every Markdown
    or HTML metacharacter backslash-escaped (no emphasis, link, image, HTML or code span).

    >>> markdown_text("**Score: 100 / 100**\\n[x](http://e)")
    '\\\\*\\\\*Score\\\\: 100 / 100\\\\*\\\\*\\\\\\\\n\\\\[x\\\\]\\\\(http\\\\://e\\\\)'
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", printable(text, limit))


def markdown_block(text: str, limit: int = 4000) -> str:
    """Untrusted multi-line ``text`` (a build log) as a fenced code block that the text cannot
    close: the fence is one backtick longer than the longest run of backticks inside."""
    body = printable(text, limit, newlines=True)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}"


def is_safe_student_id(student: str) -> bool:
    """Whether ``student`` is a student id the grader accepts (``STUDENT_ID``)."""
    return isinstance(student, str) and STUDENT_ID.fullmatch(student) is not None


def stand_in_id(student: str) -> str:
    """A safe, stable id standing for a refused one: its safe characters and a short hash,
    so two refused ids never share a stand-in.

    >>> stand_in_id("bob\\n  ok")[:14]
    'refused-bobok-'
    """
    kept = re.sub(r"[^A-Za-z0-9._@-]", "", student)[:32]
    digest = hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"refused-{kept}-{digest}"
