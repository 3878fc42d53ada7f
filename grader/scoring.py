"""Scoring in the trusted parent: a test's values against the answer key's, with its tolerance.

Messages say what differs (which value, its shape, how far off) but never the expected values.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import thresholds
from .runner import HiddenTest, Outcome


@dataclass(frozen=True)
class TestResult:
    """One test's score, in the vocabulary of Gradescope's results.json."""

    test_id: str
    name: str
    question: int
    score: float
    max_score: float
    status: str          # "passed", "failed", "error", "crash", "timeout" or "missing"
    message: str
    visibility: str = "visible"  # the test's name and message are shown; its source never is

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def compare(expected: dict[str, np.ndarray], got: dict[str, np.ndarray], rtol: float,
            atol: float) -> str | None:
    """None when ``got`` matches ``expected`` (same names, shapes; values within tolerance),
    else a message saying what differs. Integer and boolean values must be equal."""
    if set(got) != set(expected):
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        return f"returned values {sorted(got)}, expected {sorted(expected)}" + \
            (f" (missing {missing})" if missing else "") + (f" (unexpected {extra})" if extra else "")
    for name in sorted(expected):
        want, have = expected[name], got[name]
        if want.shape != have.shape:
            return f"value {name!r} has shape {have.shape}, expected {want.shape}"
        if want.dtype.kind in "biu":
            if have.dtype.kind not in "biu" or not np.array_equal(want, have):
                wrong = int(np.sum(want != have)) if have.dtype.kind in "biuf" else want.size
                return f"value {name!r} differs from the expected one in {wrong} of {want.size} entries"
            continue
        have64, want64 = have.astype(np.float64), want.astype(np.float64)
        if not np.all(np.isfinite(have64) == np.isfinite(want64)):
            return f"value {name!r} has non-finite entries (inf or nan) where none are expected"
        finite = np.isfinite(want64)
        error = np.abs(have64 - want64)[finite]
        bound = (atol + rtol * np.abs(want64))[finite]
        if np.any(error > bound):
            worst = float(np.max(error - bound))
            return (f"value {name!r} is off in {int(np.sum(error > bound))} of {want.size} entries "
                    f"(worst by {worst:.3g} beyond the tolerance rtol={rtol:g}, atol={atol:g})")
    return None


def score(outcome: Outcome, expected: dict[str, np.ndarray]) -> TestResult:
    """A test's result: full points if its values match ``expected``, else 0 and why."""
    test: HiddenTest = outcome.test
    if outcome.status != "ok":
        return TestResult(test.id, test.name, test.question, 0.0, test.points, outcome.status,
                          outcome.message)
    expected_rest, got_rest, problem = expected, outcome.values, None
    threshold = thresholds.of(test.id)  # a bound judged here, from raw values (grader/thresholds.py)
    if threshold is not None:
        problem, expected_rest, got_rest = threshold.judge(expected, outcome.values)
    problem = problem or compare(expected_rest, got_rest, test.rtol, test.atol)
    if problem is None:
        return TestResult(test.id, test.name, test.question, test.points, test.points, "passed", "")
    return TestResult(test.id, test.name, test.question, 0.0, test.points, "failed", problem)
