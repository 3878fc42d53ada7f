"""What a student may see: feedback levels, redaction of hidden text, escaping, safe student ids.

Everything a submission can influence (exception messages and types, its output, file names,
its student id) is untrusted text. Before it reaches a report it is

- *redacted* (``redact``): every line of the hidden test files and of the text in their
  strings (longer than a few characters) and every distinctive expected value is cut out,
  also when written reversed, in another letter case or in ROT13; every token that looks like
  encoded data (base64, hex, base32, base85, escaped bytes; ``looks_encoded``) is cut out;
  then the message is bounded to ``MESSAGE_CHARS`` bytes of UTF-8;
- reduced to a *builtin exception type*: a test's message names its exception's type only if
  that is one of Python's builtin exceptions (``exception_type``, ``shown_error``); any other
  name, which the submission is free to choose, is replaced by ``UNLISTED_TYPE``;
- *escaped* for where it goes: Markdown metacharacters backslash-escaped (``markdown_text``),
  logs put in a fence the log cannot close (``markdown_block``), control characters written
  as escapes for a terminal (``sandbox.printable``).

What this guarantees, and what it does not. Expected values never enter the sandbox (the
answer key is compared in the parent), so a submission can only report values it computed.
The hidden tests' source is compiled in the sandbox and then dropped (``harness.run_tests``),
but their code objects remain there, and student code runs in the same process: it can read
the tests' structure (names, constants, bytecode) and put it in its messages. Literal text and
long tokens in the common encodings are cut, but a submission that encodes what it found in
text that reads as words, or splits it into tokens shorter than ``ENCODED_CHARS``, is not
stopped: it can still carry up to ``MESSAGE_CHARS`` bytes per failing test at the
``messages`` and ``detailed`` levels (at ``minimal``, the choice of a builtin exception type:
a few bits). Per-student input variants of the hidden tests answer that (``variants = true``
in course.toml, ``grader.variants``): a test's code leaked once tells its inputs for one student
only; with variants off, every student's hidden inputs are the same.

How much a student is told about a failed test is the course's choice, the top-level key
``feedback`` of ``course.toml`` (see ``LEVELS``).
"""
from __future__ import annotations

import ast
import builtins
import hashlib
import re
import string
from collections.abc import Iterable

import numpy as np

from .sandbox import printable

# Feedback levels, least to most detailed. The default tells nothing derived from the answer key.
MINIMAL = "minimal"      # the test's name, its status and its (builtin) exception type only
MESSAGES = "messages"    # + the test's redacted, bounded exception message (the default)
DETAILED = "detailed"    # + for wrong values: how many entries differ and by how much, shapes
LEVELS = (MINIMAL, MESSAGES, DETAILED)
DEFAULT_LEVEL = MESSAGES

MESSAGE_CHARS = 300       # the most bytes (UTF-8) of a message a student sees
MIN_SECRET_CHARS = 6      # hidden lines shorter than this (``)``, ``else:``) are not secrets
ENCODED_CHARS = 32        # tokens shorter than this are never taken for encoded data
REDACTED = "[...]"

# The exception types a message may name: Python's builtin ones (a test's error names the
# nearest builtin class of its exception, see ``harness._type_name``).
BUILTIN_EXCEPTIONS = frozenset(name for name, value in vars(builtins).items()
                               if isinstance(value, type) and issubclass(value, BaseException))
UNLISTED_TYPE = "[exception type not shown]"

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
    """The text of hidden test files that must never appear in feedback: each line stripped,
    and each line of each string constant that holds whitespace (docstrings, messages: text
    the compiled tests keep in the sandbox, and which a line's other text would hide from a
    match; names, such as a test's value names, are shown), those of at least
    ``MIN_SECRET_CHARS`` characters, longest first (so that a line is cut out before any
    shorter line inside it).

    >>> hidden_secrets(["x = f(3)\\nif x:\\n    x = g('a shape no public test uses')"])
    ["x = g('a shape no public test uses')", 'a shape no public test uses', 'x = f(3)']
    """
    sources = list(sources)
    lines = {line.strip() for source in sources for line in source.splitlines()}
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        pieces = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
                  for part in node.values}  # an f-string's pieces (", expected") are not text
        lines.update(line.strip() for node in ast.walk(tree)
                     if isinstance(node, ast.Constant) and isinstance(node.value, str)
                     and id(node) not in pieces and any(char.isspace() for char in node.value)
                     for line in node.value.splitlines())
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
    """``message`` with every secret and every encoded-looking token replaced by ``[...]``,
    then bounded.

    In order: whitespace runs are collapsed (re-indenting or re-wrapping a hidden line does not
    hide it from the match); each occurrence of a secret is cut, ignoring ASCII letter case,
    read forwards, backwards or in ROT13; each token (a run without whitespace) that
    ``looks_encoded`` is cut; the rest is cut to at most ``limit`` bytes of UTF-8, so a
    character that carries more than a byte (CJK, emoji) counts for more than one.

    >>> redact("boom: x = secret_input(7)", ["x = secret_input(7)"])
    'boom: [...]'
    >>> redact("boom: )7(TUPNI_TERCES = X", ["x = secret_input(7)"])
    'boom: [...]'
    >>> redact("shapes (3,4) (5,); data aW1wb3J0IG51bXB5IGFzIG5wCmltcG9ydCBweXRlc3Q=", [])
    'shapes (3,4) (5,); data [...]'
    """
    text = _cut_secrets(" ".join(message.split()), secrets)
    text = " ".join(REDACTED if looks_encoded(token) else token for token in text.split(" "))
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore") + "..."


_FOLD = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_ROT13 = str.maketrans(string.ascii_lowercase,
                       string.ascii_lowercase[13:] + string.ascii_lowercase[:13])


def _cut_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each occurrence of each secret (whitespace collapsed) cut, in any ASCII
    letter case, forwards, backwards or in ROT13; overlapping cuts become one ``[...]``."""
    folded = text.translate(_FOLD)  # the same length as text, position for position
    views = [(folded, False), (folded[::-1], True), (folded.translate(_ROT13), False)]
    cut = [False] * len(text)
    for secret in secrets:
        secret = " ".join(secret.split()).translate(_FOLD)
        if not secret:
            continue
        for view, backwards in views:
            start = view.find(secret)
            while start != -1:
                first = len(text) - start - len(secret) if backwards else start
                cut[first:first + len(secret)] = [True] * len(secret)
                start = view.find(secret, start + 1)
    if not any(cut):
        return text
    kept = []
    for i, char in enumerate(text):
        if not cut[i]:
            kept.append(char)
        elif i == 0 or not cut[i - 1]:
            kept.append(REDACTED)
    return "".join(kept)


_ALPHANUMERIC_RUN = re.compile(r"[A-Za-z0-9]+")
_LETTER_PAIR = re.compile(r"(?=([A-Za-z]{2}))")  # every two neighbouring letters, overlapping
_BYTE_ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3})")


def looks_encoded(token: str) -> bool:
    """Whether ``token``, a run of text without whitespace, looks like encoded data (which a
    submission could use to carry hidden test source past ``redact``'s literal matching)
    rather than words, numbers, names, shapes or paths.

    A token of at least ``ENCODED_CHARS`` characters looks encoded when it holds

    - ``ENCODED_CHARS`` letters and digits in a row (hex, base32; no word, name or number in
      an error message is that long), or
    - letters that change case between neighbours in 30% or more of at least 8 pairs
      (base64, base85: ``aW1wb3J0``; a CamelCase name, ``MultiHeadAttentionLayer``, changes
      in a quarter at most), or
    - 8 or more distinct characters other than ASCII letters and digits (base85, ascii85,
      bytes shown as characters of another script; a path or a shape uses a handful), or
    - 4 or more backslash escapes of bytes or code points (the ``repr`` of compressed bytes).

    The bounds were chosen on the failure messages of the course's public tests (handout
    stubs and mutated reference code) and of needle, NumPy and Python errors, every one of
    which they leave whole (a mangled C++ symbol with 32 letters and digits in a row would be
    cut), and on chunks of the hidden tests' source in each encoding above: a token of 64 or
    more characters is nearly always caught, one of 32 to 63 mostly. Text encoded to read as
    words, or split into tokens shorter than ``ENCODED_CHARS``, is not; ``MESSAGE_CHARS``
    bounds it.

    >>> looks_encoded("aW1wb3J0IG51bXB5IGFzIG5wCmltcG9ydCBweXRlc3Q=")  # base64
    True
    >>> looks_encoded("696d706f7274206e756d7079206173206e70")  # hex
    True
    >>> looks_encoded("'/home/Alice/hw2/data/mnist/train-images-idx3-ubyte.gz'")
    False
    >>> looks_encoded("(4,3,2,5,3,7)->(4,3,2,newaxis,5,3,7)")
    False
    """
    if len(token) < ENCODED_CHARS:
        return False
    if max(map(len, _ALPHANUMERIC_RUN.findall(token)), default=0) >= ENCODED_CHARS:
        return True
    pairs = _LETTER_PAIR.findall(token)
    if len(pairs) >= 8 and sum(a.isupper() != b.isupper() for a, b in pairs) >= 0.3 * len(pairs):
        return True
    if len({char for char in token if not (char.isascii() and char.isalnum())}) >= 8:
        return True
    return len(_BYTE_ESCAPE.findall(token)) >= 4


def exception_type(message: str) -> str:
    """The exception type a test's error message starts with (``"ValueError: ..."``: the text
    before the first colon) if it is a builtin one, else "" (the submission chose the name).

    >>> exception_type("ValueError: operands could not be broadcast together")
    'ValueError'
    >>> exception_type("aW1wb3J0IG51bXB5IGFzIG5w: boom")
    ''
    """
    head = message.partition(":")[0].strip()
    return head if head in BUILTIN_EXCEPTIONS else ""


def shown_error(message: str) -> str:
    """A test's error message as a student may see it: what precedes its first colon (its
    exception type) kept if it is a builtin exception type, else replaced by ``UNLISTED_TYPE``
    (the rest is still to be ``redact``ed).

    >>> shown_error("IndexError: index 5 is out of bounds for axis 0 with size 3")
    'IndexError: index 5 is out of bounds for axis 0 with size 3'
    >>> shown_error("Q29kZU9iamVjdHM=: boom")
    '[exception type not shown]: boom'
    """
    head, colon, rest = message.partition(":")
    if not colon or head.strip() in BUILTIN_EXCEPTIONS:
        return message
    return UNLISTED_TYPE + colon + rest


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
