"""Student-region markers in the solution sources, and rendering one homework's view of a file.

Two kinds of marked block, on comment-only lines (``###`` in Python, CMake, Makefiles and INI;
``///`` in C++ and CUDA), each opened with the homework that owns it:

- ``### BEGIN SOLUTION hw1`` ... ``### END SOLUTION``: a student region (nbgrader's syntax plus
  a tag). Handout K replaces each region tagged <= K with a stub that raises, at the BEGIN
  marker's indentation: ``raise NotImplementedError("<qualified name>: hwN")`` in Python,
  ``throw std::runtime_error("not implemented: <qualified name>: hwN");`` in C++, and
  ``NEEDLE_NOT_IMPLEMENTED("<qualified name>: hwN");`` in CUDA (it raises the same message).
- ``### BEGIN FROM hw3`` ... ``### END FROM``: lines that exist only from homework 3 on (a
  shared file such as an ``__init__.py`` that grows). Handout K drops blocks tagged > K whole
  and keeps the lines of the others.

Nested, unclosed, stray and malformed markers are errors that name ``file:line``.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field

COMMENT = {"python": "###", "cpp": "///", "hash": "###"}
TODO_COMMENT = {"python": "#", "cpp": "//", "hash": "#"}  # the comment sign of a stub's TODO line

_MARKER = re.compile(r"^(?P<indent>[ \t]*)(?P<prefix>###|///)[ \t]+(?P<edge>BEGIN|END)[ \t]+"
                     r"(?P<kind>SOLUTION|FROM)(?:[ \t]+(?P<tag>\S+))?[ \t]*$")
# Anything that looks like it meant to be a marker: caught so that a typo is an error, not a leak.
_MARKER_LIKE = re.compile(r"(###|///)\s*(BEGIN|END)\b|\b(BEGIN|END)\s+(SOLUTION|FROM)\b")
_TAG = re.compile(r"^hw(\d+)$")
_CPP_FUNCTION = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_CPP_KEYWORDS = {"if", "for", "while", "switch", "catch", "return", "sizeof", "static_cast",
                 "reinterpret_cast", "const_cast", "dynamic_cast", "decltype", "alignof"}


class MarkerError(ValueError):
    """A malformed marker, named by ``path:line``."""

    def __init__(self, path: str, line: int, message: str):
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line = path, line


@dataclass(frozen=True)
class Region:
    """A ``BEGIN SOLUTION`` region. Lines are 1-based and include the two markers."""

    path: str
    begin: int
    end: int
    hw: int
    qualname: str
    indent: str
    body: tuple[str, ...]  # the solution lines between the markers

    @property
    def key(self) -> tuple[str, str]:
        """How a region is matched across homeworks: its file and qualified name."""
        return self.path, self.qualname


@dataclass(frozen=True)
class Block:
    """A ``BEGIN FROM`` block."""

    path: str
    begin: int
    end: int
    hw: int


@dataclass
class Parsed:
    """A file's lines with its regions and blocks."""

    path: str
    lines: list[str]
    regions: list[Region] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)


def language_of(path: str) -> str | None:
    """Marker language by file name: "python", "cpp" or "hash" (CMake, Make, INI, TOML)."""
    name = path.rsplit("/", 1)[-1]
    if name.endswith((".py", ".ipynb")):
        return "python"
    if name.endswith((".cc", ".cpp", ".cu", ".cuh", ".h", ".hpp")):
        return "cpp"
    if name in ("Makefile", "CMakeLists.txt") or name.endswith((".cmake", ".ini", ".toml", ".cfg")):
        return "hash"
    return None


def parse(text: str, path: str, language: str, *, top_level_ok: bool = False) -> Parsed:
    """Find the regions and blocks of one file (or notebook cell).

    Args:
        text: the file's contents.
        path: its name in messages (e.g. ``python/needle/autograd.py`` or ``hw1.ipynb:cell 3``).
        language: "python", "cpp" or "hash" (see ``language_of``).
        top_level_ok: allow Python regions outside any function (notebook cells).

    Raises:
        MarkerError: for a malformed, nested, unclosed or stray marker, a tag that is not
            ``hwN``, a marker with the wrong comment prefix, a SOLUTION region in a language
            without stubs or outside a function, or a FROM block inside a region.
    """
    parsed = Parsed(path, text.splitlines())
    prefix = COMMENT[language]
    open_region: tuple[int, int, str] | None = None  # (line, hw, indent)
    open_block: tuple[int, int] | None = None
    for number, line in enumerate(parsed.lines, start=1):
        match = _MARKER.match(line)
        if match is None:
            if _MARKER_LIKE.search(line) and line.strip().startswith(("#", "/")):
                raise MarkerError(path, number, f"malformed marker {line.strip()!r}: expected "
                                  f"'{prefix} BEGIN SOLUTION hwN', '{prefix} END SOLUTION', "
                                  f"'{prefix} BEGIN FROM hwN' or '{prefix} END FROM'")
            continue
        if match["prefix"] != prefix:
            raise MarkerError(path, number, f"marker uses {match['prefix']!r}; this file's "
                              f"markers start with {prefix!r}")
        kind, edge, tag = match["kind"], match["edge"], match["tag"]
        if edge == "END":
            if tag is not None:
                raise MarkerError(path, number, f"END {kind} takes no tag, found {tag!r}")
            if kind == "SOLUTION":
                if open_region is None:
                    raise MarkerError(path, number, "END SOLUTION without a BEGIN SOLUTION")
                begin, hw, indent = open_region
                parsed.regions.append(Region(
                    path, begin, number, hw, _qualname(parsed.lines, begin, path, language, top_level_ok),
                    indent, tuple(parsed.lines[begin:number - 1])))
                open_region = None
            else:
                if open_region is not None:
                    raise MarkerError(path, number, f"END FROM inside the SOLUTION region opened "
                                      f"at line {open_region[0]}")
                if open_block is None:
                    raise MarkerError(path, number, "END FROM without a BEGIN FROM")
                parsed.blocks.append(Block(path, open_block[0], number, open_block[1]))
                open_block = None
            continue
        tag_match = _TAG.match(tag) if tag is not None else None
        if tag_match is None:
            raise MarkerError(path, number, f"BEGIN {kind} needs a homework tag such as hw1, "
                              f"found {tag!r}")
        hw = int(tag_match[1])
        if open_region is not None:
            raise MarkerError(path, number, f"BEGIN {kind} nested in the SOLUTION region opened "
                              f"at line {open_region[0]}")
        if kind == "SOLUTION":
            if language == "hash":
                raise MarkerError(path, number, "SOLUTION regions belong in Python or C++ code; "
                                  "use a FROM block here")
            if open_block is not None and hw < open_block[1]:
                raise MarkerError(path, number, f"a hw{hw} region inside the hw{open_block[1]} "
                                  f"block opened at line {open_block[0]}")
            open_region = (number, hw, match["indent"])
        else:
            if open_block is not None:
                raise MarkerError(path, number, f"BEGIN FROM nested in the FROM block opened at "
                                  f"line {open_block[0]}")
            open_block = (number, hw)
    if open_region is not None:
        raise MarkerError(path, open_region[0], "BEGIN SOLUTION is never closed")
    if open_block is not None:
        raise MarkerError(path, open_block[0], "BEGIN FROM is never closed")
    return parsed


def render(parsed: Parsed, hw: int, language: str,
           todo: Callable[[Region], str] | None = None) -> tuple[str, list[Region]]:
    """The file as homework ``hw`` sees it, and the regions stubbed in it.

    Each stub is preceded by a ``TODO`` comment line at its indentation when ``todo`` is
    given: ``todo(region)`` is the text after the comment sign, for example
    ``TODO (hw1, question 3): implement find_topo_sort (Topological sort)``.

    Raises:
        MarkerError: if a region of a later homework would be left in (code for a later
            homework must be absent: put it in a ``BEGIN FROM`` block of that homework).
    """
    dropped: set[int] = set()
    for block in parsed.blocks:
        dropped.update(range(block.begin, block.end + 1) if block.hw > hw else (block.begin, block.end))
    replace: dict[int, str] = {}
    stubs: list[Region] = []
    for region in parsed.regions:
        if region.begin in dropped:
            continue
        if region.hw > hw:
            raise MarkerError(parsed.path, region.begin, f"hw{region.hw} region in a file that "
                              f"hw{hw} includes: wrap it in a '{COMMENT[language]} BEGIN FROM "
                              f"hw{region.hw}' block")
        dropped.update(range(region.begin, region.end + 1))
        replace[region.begin] = stub_line(region, language)
        if todo is not None:
            replace[region.begin] = (f"{region.indent}{TODO_COMMENT[language]} {todo(region)}\n"
                                     + replace[region.begin])
        stubs.append(region)
    out = [replace.get(number, line) for number, line in enumerate(parsed.lines, start=1)
           if number in replace or number not in dropped]
    return "\n".join(out) + ("\n" if out else ""), stubs


def stub_line(region: Region, language: str) -> str:
    """The single statement that stands in for ``region`` in a handout."""
    if language == "cpp" and region.path.endswith((".cu", ".cuh")):
        # CUDA kernels cannot throw: the macro (src/cuda_emulation.h) throws in host code and,
        # in device code, records the message for the launch check to raise in Python.
        return f'{region.indent}NEEDLE_NOT_IMPLEMENTED("{region.qualname}: hw{region.hw}");'
    if language == "cpp":
        return (f'{region.indent}throw std::runtime_error("not implemented: '
                f'{region.qualname}: hw{region.hw}");')
    return f'{region.indent}raise NotImplementedError("{region.qualname}: hw{region.hw}")'


def stub_message(region: Region) -> str:
    """What the stub of ``region`` says when it raises (Python and C++ alike end with it)."""
    return f"{region.qualname}: hw{region.hw}"


def _qualname(lines: list[str], begin: int, path: str, language: str, top_level_ok: bool) -> str:
    if language == "cpp":
        return _cpp_function(lines, begin, path)
    return _python_qualname(lines, begin, path, top_level_ok)


def _python_qualname(lines: list[str], begin: int, path: str, top_level_ok: bool) -> str:
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError as error:
        raise MarkerError(path, error.lineno or begin, f"not valid Python: {error.msg}") from None
    names: list[str] = []

    def visit(node: ast.AST, scope: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if (isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                    and child.lineno < begin <= (child.end_lineno or child.lineno)):
                inner = [*scope, child.name]
                if not isinstance(child, ast.ClassDef):
                    names[:] = inner
                visit(child, inner)
    visit(tree, [])
    if not names:
        if top_level_ok:
            return path.rsplit(":", 1)[-1].strip()
        raise MarkerError(path, begin, "a SOLUTION region must sit inside a function, whose "
                          "stub then raises NotImplementedError")
    return ".".join(names)


def _cpp_function(lines: list[str], begin: int, path: str) -> str:
    indent = len(lines[begin - 1]) - len(lines[begin - 1].lstrip())
    for number in range(begin - 1, 0, -1):
        line = lines[number - 1]
        stripped = line.lstrip()
        if not stripped or stripped.startswith(("//", "*", "/*", "{", "}")):
            continue
        if len(line) - len(stripped) < indent:
            names: list[str] = [n for n in _CPP_FUNCTION.findall(line) if n not in _CPP_KEYWORDS]
            if names:
                return names[0]
    raise MarkerError(path, begin, "cannot find the C++ function this region belongs to")
