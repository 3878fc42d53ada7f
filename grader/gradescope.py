"""``python -m grader export-gradescope hwN``: a Gradescope autograder bundle running this grader.

The zip holds ``setup.sh`` (run once when Gradescope builds the image: system packages, an
unprivileged user ``student``, a virtualenv outside the source, this package) and
``run_autograder`` (run per submission: grades ``/autograder/submission`` and writes
``/autograder/results/results.json``), with the grader, this homework's hidden tests, its answer
key (built at export time), its handout frozen as ``assignment/<hw>.json`` (the files a
workspace starts from, which students have anyway) and the data. No ``solutions/``: the bundle
never regenerates the key or the handout, so nothing of the reference travels with it.

Who runs what on Gradescope (https://gradescope-autograders.readthedocs.io/en/latest/best_practices/):
the grader runs as root and reads ``/autograder/source`` (mode 700: root only: the hidden tests,
the answer key, the grader); student code runs only in the grader's sandbox, which drops to the
unprivileged ``student`` user (``FLAMETHROWER_SANDBOX_UID``/``_GID``) before any student code
runs. A grader that is root but cannot drop privileges grades nothing (every test 0, saying why)
rather than run student code as root. ``python -m grader isolation``'s report goes into
results.json's ``output``. See https://gradescope-autograders.readthedocs.io/en/latest/specs/.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from . import answers, runner, workspace
from .assignment import Assignment, Environment, build
from .course import REPO, Homework, Question, load_settings
from .files import is_ignored
from .handouts import Handout
from .markers import Region

VENV = "/opt/flamethrower/venv"  # outside /autograder/source, which only root may read
SANDBOX_USER = "student"

SETUP = """#!/usr/bin/env bash
# Gradescope image set-up for Flamethrower's {hw} autograder.
set -euo pipefail
apt-get update
apt-get install -y python3 python3-venv python3-dev g++ make util-linux
# The unprivileged user student code runs as (the grader's sandbox drops to it).
id -u {user} >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin {user}
python3 -m venv {venv}
{venv}/bin/python -m pip install --quiet --upgrade pip
{venv}/bin/python -m pip install --quiet -e /autograder/source
chmod -R a+rX {venv}
chown -R root:root /autograder/source
chmod 700 /autograder/source  # the grader, hidden tests and answer key: root only
"""

RUN = """#!/usr/bin/env bash
# Grades one Gradescope submission of {hw} with Flamethrower's grader.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{PYTHON:-{venv}/bin/python}}"
# The autograder's source (grader, hidden tests, answer key) is unreadable to anyone but its owner.
chmod 700 "$ROOT/source"
# Student code runs unprivileged: the grader's sandbox drops to this user before running any.
if id -u {user} >/dev/null 2>&1; then
    export FLAMETHROWER_SANDBOX_UID="$(id -u {user})" FLAMETHROWER_SANDBOX_GID="$(id -g {user})"
fi
mkdir -p "$ROOT/results"
cd "$ROOT/source"
"$PYTHON" -m grader.gradescope grade {hw} "$ROOT/submission" \\
    --results-json "$ROOT/results/results.json" --out "$ROOT/grades"
"""


def bundle_files(homework: Homework) -> list[Path]:
    """The repository files the bundle carries: the grader (none of its own tests), this
    homework's hidden tests and answer key only, and the data; never ``solutions/``."""
    def wanted(relative: Path) -> bool:
        top, rest = relative.parts[0], relative.parts[1:]
        if is_ignored(relative) or (top == "grader" and rest[:1] == ("tests",)):
            return False
        if top == "grader" and rest[:1] in (("hidden",), ("answers",)) and len(rest) > 1:
            shared_helper = rest[0] == "hidden" and len(rest) == 2 and rest[1].startswith("_")
            return rest[1] in (homework.id, "README.md") or rest[1].startswith(homework.id + ".") \
                or shared_helper
        return True

    files = [REPO / "pyproject.toml", REPO / "README.md"]
    for folder in ("grader", "data"):
        files += [p for p in sorted((REPO / folder).rglob("*"))
                  if p.is_file() and wanted(p.relative_to(REPO))]
    return files


def frozen_assignment(assignment: Assignment) -> str:
    """``assignment/<hw>.json``: what grading needs of ``solutions/`` without any of its
    solution text: the homework's manifest entry, the handout's files (stubs in place), where
    its stubs are (path, homework, name; never a region's body), and the build's fingerprint,
    content address and environment."""
    return json.dumps({
        "homework": dataclasses.asdict(assignment.homework),
        "feedback": load_settings().feedback,  # the course's feedback level (course.toml)
        "files": assignment.handout.files,
        "stubs": [{"path": r.path, "hw": r.hw, "qualname": r.qualname} for r in assignment.handout.stubs],
        "fingerprint": assignment.fingerprint,
        "address": assignment.address,
        "environment": dataclasses.asdict(assignment.environment),
    }, indent=1, sort_keys=True)


def thaw_assignment(text: str, key: answers.AnswerKey | None = None) -> Assignment:
    """The ``Assignment`` of ``frozen_assignment``'s text, its hidden-test manifest read from
    the shipped hidden tests; ``key``: its answer key (``load_key``), which it then never loads
    from ``solutions/``."""
    data = json.loads(text)
    fields = dict(data["homework"])
    fields["questions"] = tuple(Question(**{**q, "stubs": tuple(q["stubs"])}) for q in fields["questions"])
    fields["files"] = tuple(fields["files"])
    homework = Homework(**fields)
    stubs = [Region(s["path"], 0, 0, s["hw"], s["qualname"], "", ()) for s in data["stubs"]]
    handout = Handout(homework, dict(data["files"]), stubs)
    return Assignment(homework, handout, tuple(workspace.whitelist(handout.files)),
                      tuple(runner.discover(homework.id)), data["fingerprint"], data["address"],
                      Environment(**data["environment"]), key)


def export(homework: Homework, dest: Path) -> Path:
    """Write the bundle for ``homework`` to ``dest`` (a .zip), its answer key built first.

    Raises:
        ValueError: if the course's ``variants`` are on: a student's expected values come from
            running ``solutions/``, which the bundle never holds.
    """
    if load_settings().variants:
        raise ValueError("course.toml sets variants = true, which the Gradescope bundle cannot "
                         "grade: each student's expected values come from running solutions/, "
                         "which the bundle never carries. Set variants = false to export it, or "
                         "grade with `python -m grader grade`")
    answers.load(homework)  # built now if stale: the bundle ships it
    assignment = build(homework)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in (("setup.sh", SETUP), ("run_autograder", RUN)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            zf.writestr(info, text.format(hw=homework.id, venv=VENV, user=SANDBOX_USER))
        zf.writestr(f"assignment/{homework.id}.json", frozen_assignment(assignment))
        for path in bundle_files(homework):
            zf.write(path, str(path.relative_to(REPO)))
    return dest


# ---- in the bundle: grading one submission ---------------------------------------------------

def load_key(homework_id: str, root: Path = REPO) -> answers.AnswerKey:
    """The shipped answer key (``grader/answers/<hw>.npz``), read as ``answers.load`` reads a
    fresh one but never regenerated (there is nothing to regenerate it from).

    Raises:
        RuntimeError: if the key's tests are not the shipped hidden tests.
    """
    tests = runner.discover(homework_id)
    meta = json.loads((root / "grader" / "answers" / f"{homework_id}.json").read_text())
    if meta.get("tests") != [t.id for t in tests]:
        raise RuntimeError(f"the bundle's answer key does not match its hidden tests for {homework_id}")
    values = answers.read_key_values(root / "grader" / "answers" / f"{homework_id}.npz")
    return answers.AnswerKey(homework_id, tests, values)


def isolation_report() -> tuple[list[str], bool]:
    """``python -m grader isolation``'s lines, and whether student code may run here: not when
    the grader is root and the sandbox cannot drop to an unprivileged uid."""
    from . import sandbox
    isolation = sandbox.detect()
    lines = [f"Isolation: Landlock ABI {isolation.landlock_abi}, namespaces "
             f"{'yes' if isolation.namespaces else 'no'}, root {isolation.root}"]
    lines += [f"- {line}" for line in getattr(isolation, "protections", [])]
    lines += [f"- missing: {note}" for note in isolation.notes]
    unprivileged = getattr(isolation, "sandbox_uid", None) is not None
    safe = os.geteuid() != 0 or unprivileged
    if not safe:
        lines.append("- refused: the grader is root and its sandbox cannot run student code as an "
                     "unprivileged user here, so no student code was run")
    return lines, safe


def grade_main(argv: list[str] | None = None) -> int:
    """``python -m grader.gradescope grade hwN SUBMISSION --results-json FILE [--out DIR]``."""
    from . import grade, reports
    from .results import GradeResult, TestResult
    parser = argparse.ArgumentParser(prog="python -m grader.gradescope grade")
    parser.add_argument("hw")
    parser.add_argument("submission", type=Path)
    parser.add_argument("--results-json", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    frozen = (REPO / "assignment" / f"{args.hw}.json").read_text()
    assignment = thaw_assignment(frozen, load_key(args.hw))
    homework, key = assignment.homework, assignment.key
    level = json.loads(frozen).get("feedback")
    report, safe = isolation_report()
    if safe:
        result = grade.grade(homework, args.submission, student="submission", assignment=assignment,
                             feedback_level=level, variants=False)
    else:
        graded_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        result = GradeResult("submission", homework.id, graded_at, [
            TestResult(t.id, t.name, t.question, 0.0, t.points, "missing",
                       "not graded: student code would have run as root") for t in key.tests],
            [report[-1][2:]])
    reports.write_gradescope(result, args.results_json)
    results = json.loads(args.results_json.read_text())
    shown = {line.split(": ", 1)[-1] if line.startswith("- missing: ") else line[2:] for line in report}
    rest = [line for line in str(results.get("output", "")).splitlines() if line and line not in shown]
    results["output"] = "\n".join(report + rest)
    args.results_json.write_text(json.dumps(results, indent=1))
    if args.out:
        (args.out / homework.id).mkdir(parents=True, exist_ok=True)
        (args.out / homework.id / "feedback.md").write_text(reports.feedback_markdown(result))
    print(reports.feedback_terminal(result))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] != ["grade"]:
        sys.exit("usage: python -m grader.gradescope grade hwN SUBMISSION --results-json FILE [--out DIR]")
    sys.exit(grade_main(sys.argv[2:]))
