"""A Griffe extension for the API reference (mkdocs.yml, mkdocstrings' ``extensions``).

needle's docstrings head their doctests ``Example:``. Google style's section is ``Examples:``,
which Griffe renders as code blocks; under any other title the ``>>>`` lines would be read as
Markdown (block quotes, and ``[...]`` outputs as broken links). The docstrings keep their
heading; the site reads it as ``Examples:``.
"""
from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)


class ExampleAsExamples(griffe.Extension):
    """Reads a docstring's ``Example:`` section heading as ``Examples:``."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
