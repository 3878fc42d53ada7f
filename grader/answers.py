"""The answer key: the hidden suite's values on ``solutions/``, produced by the same runner.

Stored in ``grader/answers/<hw>.npz`` (values) and ``<hw>.json`` (fingerprint), outside every
workspace, and regenerated whenever the hidden tests or the reference solutions change.
"""
from __future__ import annotations

import hashlib
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import runner, workspace
from .course import REPO, SOLUTIONS, Homework
from .handouts import Handout
from .runner import HiddenTest

ANSWERS = Path(__file__).with_name("answers")


@dataclass
class AnswerKey:
    """Expected values by test id, and the tests they belong to."""

    homework: str
    tests: list[HiddenTest]
    values: dict[str, dict[str, np.ndarray]]


# The grader code that produces a key's values: the harness that runs the hidden tests in the
# sandbox, the protocol it reports through, and the runner that discovers, supervises and reads.
KEY_CODE = ("harness.py", "protocol.py", "runner.py", "discovery.py", "supervision.py", "values.py")


def fingerprint(homework: Homework, course: list[Homework], solutions: Path = SOLUTIONS) -> str:
    """A hash of everything the key depends on: hidden tests, grader code, solution sources
    (those of ``solutions``, each named as ``solutions/<name>`` wherever the folder is)."""
    digest = hashlib.sha256()
    paths = sorted((runner.HIDDEN / homework.id).glob("*.py")) + sorted(runner.HIDDEN.glob("_*.py"))
    paths += [Path(__file__).with_name(n) for n in KEY_CODE]
    named = [(str(path.relative_to(REPO)), path) for path in paths]
    named += [(f"solutions/{name}", solutions / name)
              for hw in course[:homework.number + 1] for name in hw.files]
    for name, path in named:
        digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def load(homework: Homework, rebuild: bool = False) -> AnswerKey:
    """The answer key of ``homework``: its assignment's (``assignment.build(homework).key``), or
    with ``rebuild`` generated afresh from ``solutions/`` even if the stored one is current.

    Raises:
        RuntimeError: if a hidden test fails on the reference solutions (the test is broken).
    """
    from .assignment import build  # here, not at the top: the assignment is built from this module
    assignment = build(homework)
    if not rebuild:
        return assignment.key
    return key_of(homework, assignment.handout, list(assignment.tests), assignment.fingerprint,
                  rebuild=True)


def key_of(homework: Homework, handout: Handout, tests: list[HiddenTest], stamp: str,
           rebuild: bool = False) -> AnswerKey:
    """The stored answer key of ``homework`` when its fingerprint is ``stamp``; else (or with
    ``rebuild``) the values of ``tests`` on ``solutions/`` in a workspace of ``handout``,
    generated and stored.

    Raises:
        RuntimeError: if a hidden test fails on the reference solutions (the test is broken).
    """
    npz, meta = ANSWERS / f"{homework.id}.npz", ANSWERS / f"{homework.id}.json"
    if not rebuild and meta.exists() and npz.exists() and \
            json.loads(meta.read_text()).get("fingerprint") == stamp:
        return AnswerKey(homework.id, tests, read_key_values(npz))
    values = generate_values(homework, handout, tests)
    ANSWERS.mkdir(exist_ok=True)
    npz.write_bytes(key_values_bytes(values))
    meta.write_text(json.dumps({"fingerprint": stamp, "tests": [t.id for t in tests]}, indent=1))
    return AnswerKey(homework.id, tests, values)


def key_values_bytes(values: dict[str, dict[str, np.ndarray]]) -> bytes:
    """Expected values by test id as one ``.npz`` file's bytes, an array per ``test id::name``."""
    buffer = io.BytesIO()
    # numpy's stub types ``**kwds`` as if an array could land on ``allow_pickle: bool``;
    # the names here hold "::", so none can
    np.savez(buffer, **{f"{test_id}::{name}": array  # type: ignore[arg-type]
                        for test_id, arrays in values.items() for name, array in arrays.items()})
    return buffer.getvalue()


def read_key_values(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """The expected values by test id of an ``.npz`` written from ``key_values_bytes``."""
    values: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            test_id, name = key.rsplit("::", 1)
            values.setdefault(test_id, {})[name] = np.array(data[key])
    return values


def generate_values(homework: Homework, handout: Handout, tests: list[HiddenTest],
                    seed: int = runner.COMMON_SEED) -> dict[str, dict[str, np.ndarray]]:
    """Run the hidden suite on ``solutions/`` in a workspace of ``handout``, built as for any
    submission.

    ``seed`` is the ``seed`` fixture the tests get (``grader.variants``: a student's own).

    Raises:
        RuntimeError: if the reference solutions do not build, or a test fails on them.
    """
    with tempfile.TemporaryDirectory(prefix="flamethrower-key-") as scratch:
        ws = workspace.build(handout.files, SOLUTIONS, Path(scratch) / "ws", REPO / "data")
        if needs_build(handout, homework):
            ok, log = runner.build_extension(ws.root)
            if not ok:
                raise RuntimeError(f"the reference solutions do not build:\n{log}")
        outcomes = runner.run_suite(ws.root, homework.id, tests, seed=seed)
    broken = [f"{o.test.id}: {o.status}: {o.message}" for o in outcomes.values() if o.status != "ok"]
    if broken:
        raise RuntimeError(f"hidden tests fail on the reference solutions (seed {seed}):\n"
                           + "\n".join(broken))
    return {test_id: outcome.values for test_id, outcome in outcomes.items()}


def needs_build(handout: Handout, homework: Homework) -> bool:
    """Whether grading this homework builds C++: it assigns a C++ region itself, or its needle
    runs on the NDArray backend (hw3 on), whose ``cpu()`` device is the compiled one."""
    return any(r.hw == homework.number and r.path.endswith((".cc", ".cpp", ".cu"))
               for r in handout.stubs) or "src/ndarray_backend_cpu.cc" in handout.files
