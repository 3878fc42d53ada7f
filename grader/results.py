"""The results model: what grading one submission produced, read by every report and export.

``scoring.score`` makes a ``TestResult`` per hidden test; ``grade.grade`` gathers them in a
``GradeResult``; the feedback reports (``grader.reports``), the gradebook (``grader.gradebook``)
and the Gradescope exports (``grader.gradescope``) read nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TestResult:
    """One test's score, in the vocabulary of Gradescope's results.json."""

    test_id: str
    name: str
    question: int
    score: float
    max_score: float
    status: str          # "passed", "failed", "error", "crash", "timeout" or "missing"
    message: str         # redacted and bounded, not yet escaped (reports escape it)
    visibility: str = "visible"  # the test's name and message are shown; its source never is

    @property
    def passed(self) -> bool:
        """Whether the test earned its points (status "passed")."""
        return self.status == "passed"


@dataclass
class GradeResult:
    """Everything known about one graded submission."""

    student: str
    homework: str
    graded_at: str                   # ISO 8601, UTC, taken by the grader
    results: list[TestResult]
    notes: list[str] = field(default_factory=list)  # submission problems and isolation caveats
    build_log: str = ""
    seconds: float = 0.0

    @property
    def score(self) -> float:
        """Points earned, over every test."""
        return sum(r.score for r in self.results)

    @property
    def max_score(self) -> float:
        """Points available, over every test."""
        return sum(r.max_score for r in self.results)
