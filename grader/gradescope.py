"""``python -m grader export-gradescope hwN``: a Gradescope autograder bundle running this grader.

The zip holds ``setup.sh`` (run once when Gradescope builds the image: system packages, a
virtualenv, this package) and ``run_autograder`` (run per submission: grades
``/autograder/submission`` and writes ``/autograder/results/results.json``), with the grader,
the hidden tests, the answer key, ``solutions/`` (to generate the handout the workspace starts
from; the sandbox keeps it from student code exactly as it does here) and the data.
See https://gradescope-autograders.readthedocs.io/en/latest/specs/.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from . import answers
from .course import REPO, Homework
from .files import is_ignored

SETUP = """#!/usr/bin/env bash
# Gradescope image set-up for Flamethrower's {hw} autograder.
set -euo pipefail
apt-get update
apt-get install -y python3 python3-venv python3-dev g++ make util-linux
cd /autograder/source
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
"""

RUN = """#!/usr/bin/env bash
# Grades one Gradescope submission of {hw} with Flamethrower's grader.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{PYTHON:-$ROOT/source/.venv/bin/python}}"
mkdir -p "$ROOT/results"
cd "$ROOT/source"
"$PYTHON" -m grader grade {hw} "$ROOT/submission" --student submission \\
    --results-json "$ROOT/results/results.json" \\
    --out "$ROOT/grades" --gradebook "$ROOT/grades/gradebook.sqlite"
"""


def bundle_files(homework: Homework) -> list[Path]:
    """The repository files the bundle carries: this homework's hidden tests and key only, and
    none of the grader's own tests."""
    def wanted(relative: Path) -> bool:
        top, rest = relative.parts[0], relative.parts[1:]
        if is_ignored(relative) or (top == "grader" and rest[:1] == ("tests",)):
            return False
        if top == "grader" and rest[:1] in (("hidden",), ("answers",)) and len(rest) > 1:
            return rest[1] in (homework.id, "README.md") or rest[1].startswith(homework.id + ".")
        return True

    files = [REPO / "pyproject.toml", REPO / "README.md"]
    for folder in ("grader", "solutions", "data"):
        files += [p for p in sorted((REPO / folder).rglob("*"))
                  if p.is_file() and wanted(p.relative_to(REPO))]
    return files


def export(homework: Homework, dest: Path) -> Path:
    """Write the bundle for ``homework`` to ``dest`` (a .zip), its answer key built first."""
    answers.load(homework)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in (("setup.sh", SETUP), ("run_autograder", RUN)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            zf.writestr(info, text.format(hw=homework.id))
        for path in bundle_files(homework):
            zf.write(path, str(path.relative_to(REPO)))
    return dest
