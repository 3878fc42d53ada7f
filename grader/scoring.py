"""Scoring in the trusted parent: a test's values against the answer key's, with its tolerance.

What a student is told about a test follows the course's feedback level (``grader.feedback``):
by default the test's name, its status, the exception type (only a builtin one) and a
redacted, bounded message, and for wrong values only which value is wrong. Counts of differing
entries, the worst error and shapes (all derived from the answer key) are given at the
``detailed`` level only.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import feedback, thresholds
from .results import TestResult
from .runner import HiddenTest, Outcome


@dataclass(frozen=True)
class Mismatch:
    """How returned values differ from the expected ones.

    kind: "names" (other values returned), "shape", "non-finite" or "values".
    name: the value concerned ("" for "names").
    detail: a message for the ``detailed`` level: counts, shapes, the worst error.
    """

    kind: str
    name: str
    detail: str

    def message(self, level: str) -> str:
        """What a student is told at feedback ``level``."""
        if level == feedback.DETAILED:
            return self.detail
        if level == feedback.MINIMAL:
            return "a returned value does not match the expected one"
        if self.kind == "names":
            return "the test's returned values are not the expected ones"
        if self.kind == "shape":
            return f"value {self.name!r} has the wrong shape"
        return f"value {self.name!r} does not match the expected value within the tolerance"


def mismatch(expected: dict[str, np.ndarray], got: dict[str, np.ndarray], rtol: float,
             atol: float) -> Mismatch | None:
    """None when ``got`` matches ``expected`` (same names, shapes; values within tolerance),
    else the first difference. Integer and boolean values must be equal."""
    if set(got) != set(expected):
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        return Mismatch("names", "", f"returned values {sorted(got)}, expected {sorted(expected)}" +
                        (f" (missing {missing})" if missing else "") +
                        (f" (unexpected {extra})" if extra else ""))
    for name in sorted(expected):
        want, have = expected[name], got[name]
        if want.shape != have.shape:
            return Mismatch("shape", name, f"value {name!r} has shape {have.shape}, expected {want.shape}")
        if want.dtype.kind in "biu":
            if have.dtype.kind not in "biu" or not np.array_equal(want, have):
                wrong = int(np.sum(want != have)) if have.dtype.kind in "biuf" else want.size
                return Mismatch("values", name, f"value {name!r} differs from the expected one in "
                                f"{wrong} of {want.size} entries")
            continue
        have64, want64 = have.astype(np.float64), want.astype(np.float64)
        if not np.all(np.isfinite(have64) == np.isfinite(want64)):
            return Mismatch("non-finite", name, f"value {name!r} has non-finite entries (inf or nan) "
                            "where none are expected")
        finite = np.isfinite(want64)
        error = np.abs(have64 - want64)[finite]
        bound = (atol + rtol * np.abs(want64))[finite]
        if np.any(error > bound):
            worst = float(np.max(error - bound))
            return Mismatch("values", name, f"value {name!r} is off in {int(np.sum(error > bound))} "
                            f"of {want.size} entries (worst by {worst:.3g} beyond the tolerance "
                            f"rtol={rtol:g}, atol={atol:g})")
    return None


def compare(expected: dict[str, np.ndarray], got: dict[str, np.ndarray], rtol: float,
            atol: float) -> str | None:
    """None when ``got`` matches ``expected``, else the ``detailed`` message saying what
    differs (never the expected values themselves)."""
    found = mismatch(expected, got, rtol, atol)
    return None if found is None else found.detail


def score(outcome: Outcome, expected: dict[str, np.ndarray], level: str = feedback.DEFAULT_LEVEL,
          hidden: Sequence[str] = ()) -> TestResult:
    """A test's result: full points if its values match ``expected``, else 0 and why.

    Args:
        outcome: what running the test produced.
        expected: the answer key's values for the test.
        level: the course's feedback level (``feedback.LEVELS``).
        hidden: the hidden test sources (test module and helpers); no line of them, and no
            distinctive expected value, is left in the message.
    """
    test: HiddenTest = outcome.test
    if outcome.status == "ok":
        expected_rest, got_rest, problem = expected, outcome.values, None
        threshold = thresholds.of(test.id)  # a bound judged here, from raw values (grader/thresholds.py)
        if threshold is not None:
            problem, expected_rest, got_rest = threshold.judge(expected, outcome.values)
        if problem is None:
            found = mismatch(expected_rest, got_rest, test.rtol, test.atol)
            if found is None:
                return TestResult(test.id, test.name, test.question, test.points, test.points, "passed", "")
            problem = found.message(level)
        status, message = "failed", problem
    else:
        status, message = outcome.status, outcome.message
        if status == "error" and level == feedback.MINIMAL:
            message = feedback.exception_type(message) or "the test raised an exception"
        elif status == "error":
            message = feedback.shown_error(message)  # led by a builtin type, or by none
    secrets = feedback.hidden_secrets(hidden) + feedback.value_secrets(expected)
    return TestResult(test.id, test.name, test.question, 0.0, test.points, status,
                      feedback.redact(message, secrets))
