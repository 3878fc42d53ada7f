"""Filling a handout's stubs with code: the inverse of stubbing, region by region.

A stub is the one line ``markers.stub_line`` writes; it names its region's qualified name, so
code can be put back where it belongs by file and name (the key carry-forward uses too).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .markers import Region

# Exactly the lines markers.stub_line writes, in Python, C++ and CUDA.
STUB = re.compile(r'^[ \t]*(?:raise NotImplementedError\("(?P<py>[\w.]+): hw\d+"\)'
                  r'|throw std::runtime_error\("not implemented: (?P<cpp>[\w.]+): hw\d+"\);'
                  r'|NEEDLE_NOT_IMPLEMENTED\("(?P<cuda>[\w.]+): hw\d+"\);)$')


# The TODO line ``markers.render`` writes above each stub (``#`` in Python, ``//`` in C++/CUDA).
TODO = re.compile(r"^[ \t]*(?:#|//) TODO \(hw\d+, question \d+\): \S")


def stub_name(line: str) -> str | None:
    """The qualified name a stub line raises with, or None for any other line."""
    match = STUB.match(line)
    return (match["py"] or match["cpp"] or match["cuda"]) if match else None


def stubs_in(text: str) -> list[str]:
    """The qualified names of the stubs in ``text``, in order."""
    return [name for line in text.splitlines() if (name := stub_name(line))]


def fill_stubs(text: str, bodies: dict[str, tuple[str, ...]]) -> tuple[str, list[str]]:
    """Replace each stub whose name is a key of ``bodies`` (and its TODO line) with those lines.

    Args:
        text: a handout file.
        bodies: qualified name -> the lines of code to put in that stub's place.

    Returns:
        The new text and the names filled, in order.
    """
    out: list[str] = []
    filled: list[str] = []
    for line in text.splitlines():
        name = stub_name(line)
        if name in bodies:
            if out and TODO.match(out[-1]):
                out.pop()
            out.extend(bodies[name])
            filled.append(name)
        else:
            out.append(line)
    return "\n".join(out) + "\n", filled


def bodies_of(regions: list[Region]) -> dict[str, tuple[str, ...]]:
    """``{qualified name: solution lines}`` of one file's regions."""
    return {region.qualname: region.body for region in regions}
