"""Finding the hidden tests: their metadata from their source (``ast``), never by importing them.

    @pytest.mark.question(2)
    @pytest.mark.points(3)
    @pytest.mark.tolerance(rtol=1e-5, atol=1e-6)   # optional; default rtol=1e-5, atol=1e-6
    @pytest.mark.timeout(60)                       # optional, seconds; default 30
    def test_softmax_loss_large_logits(mnist_dir):
        import simple_ml
        ...
        return {"loss": loss}

A test returns a dict of numeric arrays; ``grader.scoring`` compares them with the answer key.
Fixtures a test may ask for by parameter name: ``mnist_dir`` (the MNIST sample), ``tmp_dir``
(a scratch folder in the workspace) and ``seed`` (an int to draw its inputs from:
``COMMON_SEED``, or with the course's ``variants`` on, the student's own, see
``grader.variants``).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HIDDEN = Path(__file__).with_name("hidden")
DEFAULT_TIMEOUT = 30.0
# The ``seed`` fixture of every test when the course's variants are off (and in the stored key).
COMMON_SEED = 0


@dataclass(frozen=True)
class HiddenTest:
    """One hidden test's metadata, read from its decorators; ``takes_seed``: whether it has a
    parameter ``seed`` (its inputs may differ per student, see ``grader.variants``)."""

    module: str
    name: str
    question: int
    points: float
    rtol: float = 1e-5
    atol: float = 1e-6
    timeout: float = DEFAULT_TIMEOUT
    takes_seed: bool = False

    @property
    def id(self) -> str:
        return f"{self.module}::{self.name}"


def discover(hw_id: str, hidden: Path = HIDDEN) -> list[HiddenTest]:
    """The hidden tests of ``hidden/<hw_id>/test_*.py``, in file and definition order.

    Raises:
        ValueError: for a test without ``question`` and ``points`` markers, naming it.
    """
    tests = []
    for path in sorted((hidden / hw_id).glob("test_*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                marks = _marks(node)
                if "question" not in marks or "points" not in marks:
                    raise ValueError(f"{path.name}::{node.name} needs @pytest.mark.question(n) and "
                                     f"@pytest.mark.points(p)")
                tolerance = marks.get("tolerance", ((), {}))[1]
                tests.append(HiddenTest(path.stem, node.name, marks["question"][0][0],
                                        marks["points"][0][0], tolerance.get("rtol", 1e-5),
                                        tolerance.get("atol", 1e-6),
                                        marks.get("timeout", ((DEFAULT_TIMEOUT,), {}))[0][0],
                                        "seed" in {a.arg for a in node.args.args + node.args.kwonlyargs}))
    return tests


def _marks(node: ast.FunctionDef) -> dict[str, tuple[tuple[Any, ...], dict[str | None, Any]]]:
    """The ``pytest.mark`` decorators of ``node``: each one's (args, kwargs) by mark name."""
    marks = {}
    for decorator in node.decorator_list:
        if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                and ast.unparse(decorator.func.value) == "pytest.mark"):
            marks[decorator.func.attr] = (tuple(ast.literal_eval(a) for a in decorator.args),
                                          {k.arg: ast.literal_eval(k.value) for k in decorator.keywords})
    return marks


def helper_paths(hw_id: str, hidden: Path = HIDDEN) -> list[Path]:
    """Helper modules the hidden tests import: the course's (``hidden/_*.py``), then the
    homework's own (``hidden/<hw_id>/_*.py``, which win on a shared name)."""
    return sorted(hidden.glob("_*.py")) + sorted((hidden / hw_id).glob("_*.py"))


def helper_sources(hw_id: str, hidden: Path = HIDDEN) -> dict[str, str]:
    """The helper modules (``helper_paths``), by module name."""
    return {p.stem: p.read_text() for p in helper_paths(hw_id, hidden)}


def hidden_sources(hw_id: str, hidden: Path = HIDDEN) -> list[str]:
    """The text of every hidden file of ``hw_id`` (test modules and helpers): what feedback
    must never show (see ``feedback.hidden_secrets``)."""
    paths = sorted(hidden.glob("_*.py")) + sorted((hidden / hw_id).glob("*.py"))
    return [path.read_text() for path in paths]
