"""``make carry-forward TO=hw2_nn``: a student's filled regions from the previous handout into the next.

Regions are keyed by file and qualified name (the names their stubs carry). For each stub still
present in the destination, the student's code for the same function is taken from the source
handout: the function's lines, minus the given lines before and after the stub (as the
untouched source handout has them). A region is moved only when the destination still holds
its stub; one the student already filled there is never overwritten. Every region is reported
as moved or left, with the reason. This replaces "copy your files from hw1", which silently
clobbers newer code.
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .check import REPO, pristine_handout
from .fill import TODO, fill_stubs, stub_name, stubs_in
from .folders import find_folder, handout_folders, homework_number, homework_of


class CarryError(ValueError):
    """Carry-forward refused: the folders are not consecutive homeworks' handouts."""


@dataclass(frozen=True)
class Move:
    """What happened to one region: ``moved`` True, or False with the reason it was left."""

    path: str
    name: str
    moved: bool
    reason: str = ""

    def __str__(self) -> str:
        return f"{'moved' if self.moved else 'left '} {self.path}::{self.name}" + \
            (f" ({self.reason})" if self.reason else "")


def function_lines(text: str, name: str, path: str) -> tuple[int, int] | None:
    """The 0-based ``[start, end)`` line span of function ``name`` (a qualified name in Python,
    a function name in C++), or None when the file has no such function."""
    lines = text.splitlines()
    if path.endswith(".py"):
        try:
            tree = ast.parse(text)
        except SyntaxError:
            return None
        parts = name.split(".")

        def find(nodes: list[ast.stmt], depth: int) -> tuple[int, int] | None:
            for node in nodes:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and \
                        node.name == parts[depth]:
                    if depth == len(parts) - 1:
                        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                        return start - 1, node.end_lineno or node.lineno
                    return find(node.body, depth + 1)
            return None
        return find(tree.body, 0)
    pattern = re.compile(rf"^\S.*\b{re.escape(name)}\s*\(")
    for start, line in enumerate(lines):
        if pattern.match(line) and not line.rstrip().endswith(";"):
            depth, opened = 0, False
            for end in range(start, len(lines)):
                depth += lines[end].count("{") - lines[end].count("}")
                opened = opened or "{" in lines[end]
                if opened and depth == 0:
                    return start, end + 1
            return None  # its braces never close: no later line can close them either
    return None


def student_body(pristine: str, student: str, name: str, path: str) -> list[str] | str:
    """The student's lines in place of the stub ``name``, or a reason there are none."""
    span_p, span_s = function_lines(pristine, name, path), function_lines(student, name, path)
    if span_p is None:
        return "not in the source handout"
    if span_s is None:
        return "the function is missing from your file"
    p_lines = pristine.splitlines()[span_p[0]:span_p[1]]
    s_lines = student.splitlines()[span_s[0]:span_s[1]]
    stub = next(i for i, line in enumerate(p_lines) if stub_name(line) == name)
    todo = stub > 0 and TODO.match(p_lines[stub - 1]) is not None  # the stub's TODO line
    before, after = p_lines[:stub - todo], p_lines[stub + 1:]
    if s_lines[:len(before)] != before or (after and s_lines[len(s_lines) - len(after):] != after) \
            or len(s_lines) < len(before) + len(after):
        return "you changed the function outside its stub; copy it by hand"
    body = s_lines[len(before):len(s_lines) - len(after)]
    if body and TODO.match(body[0]):  # the student kept the TODO line: it is not their code
        body = body[1:]
    if [stub_name(line) for line in body] == [name]:
        return "still a stub in the source"
    return body


def carry_forward(source: Path, dest: Path, pristine_source: dict[str, str]) -> list[Move]:
    """Move ``source``'s filled regions into ``dest``'s stubs, file by file; what was done.

    Args:
        source: the student's handout of homework N - 1.
        dest: their handout of homework N.
        pristine_source: the untouched handout of homework N - 1 (path -> text).

    Raises:
        CarryError: if ``source`` is not a handout of the homework right before ``dest``'s.
        FileNotFoundError: if ``source`` or ``dest`` is not a homework folder (``homework_of``).
    """
    before, after = (homework_number(homework_of(f)) for f in (source, dest))
    if after != before + 1:
        raise CarryError(f"{source.name} (hw{before}) is not a handout of the homework before "
                         f"{dest.name} (hw{after}): carry-forward goes from hwN-1 to hwN")
    moves: list[Move] = []
    for path, pristine in sorted(pristine_source.items()):
        names = stubs_in(pristine)
        if not names or path.endswith(".ipynb") or not (dest / path).is_file() \
                or not (source / path).is_file():
            continue
        student = (source / path).read_text()
        target = (dest / path).read_text()
        waiting = set(stubs_in(target))
        bodies: dict[str, tuple[str, ...]] = {}
        for name in names:
            if name not in waiting:
                moves.append(Move(path, name, False, f"already filled in {dest.name}"))
                continue
            body = student_body(pristine, student, name, path)
            if isinstance(body, str):
                moves.append(Move(path, name, False, body))
            else:
                bodies[name] = tuple(body)
        if bodies:
            text, filled = fill_stubs(target, bodies)
            (dest / path).write_text(text)
            moves += [Move(path, name, True) for name in filled]
    return moves


def main(to: str, repo: Path = REPO) -> list[Move]:
    """Carry into the handout ``to`` (``hw2`` or ``hw2_nn``) from the previous one in ``repo``.

    Raises:
        CarryError: when ``to`` is the first homework or the previous handout is missing.
        FileNotFoundError: when ``repo`` has no handout folder ``to``.
    """
    dest = find_folder(repo, to)
    previous = f"hw{homework_number(homework_of(dest)) - 1}"
    sources = [f for f in handout_folders(repo) if homework_of(f) == previous]
    if not sources:
        raise CarryError(f"no handout of {previous} beside {dest.name}: nothing to carry from")
    source = sources[0]
    return carry_forward(source, dest, pristine_handout(repo, source.name))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command line's one argument, ``TO``, added to ``parser``: this module's own, or
    ``python -m grader carry-forward``'s."""
    parser.add_argument("to", metavar="TO", help="the handout to carry into, e.g. hw2 or hw2_nn")


def run(args: argparse.Namespace, repo: Path = REPO) -> int:
    """Carry into ``args.to`` in ``repo`` and print each region's move and a count; 0, or 1 with
    the reason on stderr when carry-forward is refused."""
    try:
        moves = main(args.to, repo)
    except (CarryError, FileNotFoundError) as error:
        print(f"carry-forward refused: {error}", file=sys.stderr)
        return 1
    for move in moves:
        print(move)
    print(f"{sum(m.moved for m in moves)} region(s) moved, {sum(not m.moved for m in moves)} left")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m grader.carry",
                                     description=__doc__.splitlines()[0].replace("`", ""))
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
