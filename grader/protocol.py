"""The grader's process boundary as data: what the parent sends the sandboxed harness, and what
the harness leaves for the parent.

Parent to harness: one JSON object on the harness's standard input, a ``Suite``'s fields (what
to run, set by ``grader.supervision``) with a ``Confinement`` under ``CONFINEMENT`` (how the
harness locks itself in, set by ``grader.sandbox``). A sandboxed command (``--exec``) gets the
``Confinement`` alone.

Harness to parent: files in the suite's ``out`` folder, each named here once:

- ``CURRENT``: the name of the test running now, "" once every test is done (a progress hint);
- ``status_file(test)``: the test's ``TestStatus``, as JSON;
- ``values_file(test)``: the arrays the test returned, as an ``.npz`` (``grader.values`` reads
  it, checking every member before loading it);
- ``HARNESS_REPORT``: a ``HarnessReport``, how the harness locked itself in (for people).

Student code runs in the harness's process and can write every one of those files, so the
parent reads them only through the ``from_json`` here, which checks every field's type and
bounds every text, and raises ``ProtocolError`` for anything else. The parent also bounds the
bytes it reads (``MAX_STATUS_BYTES``).

This module is loaded inside the sandbox too, from its text (``grader.sandbox.harness_program``):
it uses the standard library only and imports nothing from the grader.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TypeVar

CURRENT = "current"              # the test running now
HARNESS_REPORT = "harness.json"  # how the harness locked itself in
CONFINEMENT = "confinement"      # the request's key holding the Confinement
MAX_STATUS_BYTES = 8192          # a test's status file, as the parent reads it
MAX_ERROR_CHARS = 2000           # a TestStatus's error message
MAX_WHERE_CHARS = 200            # a TestStatus's file:line

_T = TypeVar("_T")


class ProtocolError(ValueError):
    """A message or file of the protocol is malformed: not JSON, not an object, a field missing
    or of the wrong type. Its text names the field, never the value (which may be hostile)."""


def loads(raw: bytes | str) -> object:
    """The JSON value of ``raw`` (bytes as UTF-8).

    Raises:
        ProtocolError: if it is not JSON text.
    """
    try:
        return json.loads(raw)
    except ValueError as error:  # UnicodeDecodeError too
        raise ProtocolError("not JSON text") from error


def status_file(test: str) -> str:
    """The name of the file holding ``test``'s ``TestStatus`` (in the suite's ``out``)."""
    return f"{test}.json"


def values_file(test: str) -> str:
    """The name of the file holding the arrays ``test`` returned (in the suite's ``out``)."""
    return f"{test}.npz"


def _object(data: object, what: str) -> Mapping[str, object]:
    if not isinstance(data, dict) or not all(type(key) is str for key in data):
        raise ProtocolError(f"{what} is not a JSON object")
    return data


def _typed(data: Mapping[str, object], name: str, kind: type[_T]) -> _T:
    """``data[name]``, which must be exactly a ``kind`` (so ``True`` is no int)."""
    if name not in data:
        raise ProtocolError(f"field {name!r} is missing")
    value = data[name]
    if type(value) is not kind:
        raise ProtocolError(f"field {name!r} is not of type {kind.__name__}")
    return value


def _strings(data: Mapping[str, object], name: str) -> list[str]:
    values = _typed(data, name, list)
    if not all(type(v) is str for v in values):
        raise ProtocolError(f"field {name!r} is not a list of strings")
    return values


def _optional_int(data: Mapping[str, object], name: str) -> int | None:
    return None if data.get(name) is None else _typed(data, name, int)


@dataclass(frozen=True)
class Confinement:
    """How the harness locks itself in before running anything (see ``grader.sandbox``).

    workspace: the folder it runs in (its working directory).
    landlock: whether to apply Landlock, reading ``read`` and writing ``write`` only.
    hide: folders to cover with an empty tmpfs ("/tmp" gets ``tmpfs``, the mount options of the
        private /tmp); [] when the sandbox has no mount namespace.
    expose: paths below ``hide`` bound back at their own place (the workspace, Python).
    uid, gid: the unprivileged user to become, or None to keep the grader's.
    """

    workspace: str
    landlock: bool
    read: list[str]
    write: list[str]
    hide: list[str] = field(default_factory=list)
    expose: list[str] = field(default_factory=list)
    tmpfs: str = ""
    uid: int | None = None
    gid: int | None = None

    def to_json(self) -> dict[str, object]:
        """The JSON object of this confinement."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> Confinement:
        """The confinement a JSON object holds.

        Raises:
            ProtocolError: for a missing or mistyped field.
        """
        fields = _object(data, "the confinement")
        return cls(_typed(fields, "workspace", str), _typed(fields, "landlock", bool),
                   _strings(fields, "read"), _strings(fields, "write"), _strings(fields, "hide"),
                   _strings(fields, "expose"), _typed(fields, "tmpfs", str),
                   _optional_int(fields, "uid"), _optional_int(fields, "gid"))


@dataclass(frozen=True)
class Suite:
    """The hidden tests of one module for the harness to run, in order.

    out: the folder the harness writes its files in (``CURRENT``, ``status_file``, ...).
    test_module: the name of the module in ``modules`` holding the tests.
    tests: the names of the tests to run, in order.
    modules: the hidden modules' source by module name, helpers first and the test module
        last; the harness compiles them and then drops the text.
    fixtures: the values of the fixtures a test may take, by parameter name.
    paths: folders put first on ``sys.path`` (the submission's code).
    """

    out: str
    test_module: str
    tests: list[str]
    modules: dict[str, str]
    fixtures: dict[str, str | int]
    paths: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """The JSON object of this suite."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> Suite:
        """The suite a JSON object holds (other keys, such as ``CONFINEMENT``, are left alone);
        ``paths`` may be absent (none).

        Raises:
            ProtocolError: for a missing or mistyped field.
        """
        fields = _object(data, "the suite")
        modules = _typed(fields, "modules", dict)
        if not all(type(k) is str and type(v) is str for k, v in modules.items()):
            raise ProtocolError("field 'modules' is not a map of names to source text")
        fixtures = _typed(fields, "fixtures", dict)
        if not all(type(k) is str and type(v) in (str, int) for k, v in fixtures.items()):
            raise ProtocolError("field 'fixtures' is not a map of names to strings or ints")
        paths = _strings(fields, "paths") if "paths" in fields else []
        return cls(_typed(fields, "out", str), _typed(fields, "test_module", str),
                   _strings(fields, "tests"), modules, fixtures, paths)


@dataclass(frozen=True)
class TestStatus:
    """How one test ended, as the harness says (``status_file``).

    ok: whether it returned values (in ``values_file``); else it raised.
    error: for a test that raised, the exception's builtin type name and message.
    where: for a test that raised, the ``file:line`` of the innermost frame outside the hidden
        modules ("" if none).
    """

    __test__ = False  # not a pytest test class, whatever its name

    ok: bool
    error: str = ""
    where: str = ""

    def to_json(self) -> dict[str, object]:
        """The JSON object of this status: ``{"status": "ok"}``, or ``"error"`` with the
        error and where it happened."""
        if self.ok:
            return {"status": "ok"}
        return {"status": "error", "error": self.error, "where": self.where}

    @classmethod
    def from_json(cls, data: object) -> TestStatus:
        """The status a JSON object holds, ``error`` and ``where`` cut to ``MAX_ERROR_CHARS``
        and ``MAX_WHERE_CHARS``; an error status without them says "the test raised".

        Raises:
            ProtocolError: for a status other than "ok" or "error", or a mistyped field.
        """
        fields = _object(data, "the status")
        status = _typed(fields, "status", str)
        if status == "ok":
            return cls(True)
        if status != "error":
            raise ProtocolError("field 'status' is neither 'ok' nor 'error'")
        error = _typed(fields, "error", str) if "error" in fields else "the test raised"
        where = _typed(fields, "where", str) if "where" in fields else ""
        return cls(False, error[:MAX_ERROR_CHARS], where[:MAX_WHERE_CHARS])


@dataclass(frozen=True)
class HarnessReport:
    """How the harness locked itself in: the Landlock ABI it applied (0 for none), the uid it
    ran tests as, and the system calls its seccomp filter refuses."""

    landlock: int
    uid: int
    refused_syscalls: list[str]

    def to_json(self) -> dict[str, object]:
        """The JSON object of this report."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> HarnessReport:
        """The report a JSON object holds.

        Raises:
            ProtocolError: for a missing or mistyped field.
        """
        fields = _object(data, "the harness report")
        return cls(_typed(fields, "landlock", int), _typed(fields, "uid", int),
                   _strings(fields, "refused_syscalls"))
