"""What a grade becomes: student feedback (Markdown and terminal), Gradescope's results.json, CSV.

All read one ``GradeResult``. Feedback names failed tests and says why, never a hidden test's
source or an expected value (scoring's messages are redacted). Everything a submission can
influence (messages, notes, the build log, the student id) is escaped for where it goes:
Markdown metacharacters backslash-escaped, logs in a fence they cannot close, control
characters written as escapes on a terminal, plain text (not Markdown or HTML) for Gradescope.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from .feedback import markdown_block, markdown_text
from .results import GradeResult, TestResult
from .sandbox import printable

TERMINAL_CHARS = 500  # the most characters of one message on a terminal


def _by_question(result: GradeResult) -> dict[int, list[TestResult]]:
    questions: dict[int, list[TestResult]] = {}
    for test in result.results:
        questions.setdefault(test.question, []).append(test)
    return dict(sorted(questions.items()))


def feedback_markdown(result: GradeResult) -> str:
    """A student's feedback report in Markdown."""
    lines = [f"# {result.homework} feedback for {markdown_text(result.student)}", "",
             f"**Score: {result.score:g} / {result.max_score:g}** (graded {result.graded_at})", "",
             "| Question | Score | Tests passed |", "|---|---|---|"]
    for question, tests in _by_question(result).items():
        lines.append(f"| {question} | {sum(t.score for t in tests):g} / {sum(t.max_score for t in tests):g} "
                     f"| {sum(t.passed for t in tests)} of {len(tests)} |")
    failed = [t for t in result.results if not t.passed]
    if failed:
        lines += ["", "## Tests that did not pass", ""]
        for test in failed:
            lines.append(f"- **{test.name}** (question {test.question}, {test.max_score:g} points): "
                         f"{test.status}: {markdown_text(test.message)}")
    if result.notes:
        lines += ["", "## Notes", ""] + [f"- {markdown_text(note)}" for note in result.notes]
    if result.build_log and any("did not build" in n for n in result.notes):
        lines += ["", "## Build log (end)", "", markdown_block(result.build_log[-4000:])]
    return "\n".join(lines) + "\n"


def feedback_terminal(result: GradeResult) -> str:
    """The same report for a terminal: one line per question, then the failures."""
    student = printable(result.student, 80)
    lines = [f"{result.homework} · {student}: {result.score:g} / {result.max_score:g}"]
    for question, tests in _by_question(result).items():
        score, most = sum(t.score for t in tests), sum(t.max_score for t in tests)
        mark = "ok " if score == most else "-- "
        lines.append(f"  {mark} question {question}: {score:g} / {most:g}")
    for test in result.results:
        if not test.passed:
            lines.append(f"  FAIL {test.name}: {test.status}: "
                         f"{printable(test.message, TERMINAL_CHARS)}")
    lines += [f"  note: {printable(note, TERMINAL_CHARS)}" for note in result.notes]
    return "\n".join(lines)


def gradescope_results(result: GradeResult) -> dict[str, Any]:
    """Gradescope's ``results.json``: ``score``, ``max_score`` and ``tests[]``.

    Each test has ``name``, ``score``, ``max_score``, ``visibility`` and ``output``
    (https://gradescope-autograders.readthedocs.io/en/latest/specs/). Outputs are plain text
    (``output_format``), so a message cannot render as Markdown or HTML on Gradescope.
    """
    return {
        "score": result.score,
        "max_score": result.max_score,
        "visibility": "visible",
        "output_format": "text",
        "test_output_format": "text",
        "output": "\n".join(printable(note, TERMINAL_CHARS) for note in result.notes),
        "execution_time": round(result.seconds, 1),
        "tests": [{"name": f"Q{t.question} {t.name}", "number": f"{t.question}",
                   "score": t.score, "max_score": t.max_score, "visibility": t.visibility,
                   "status": "passed" if t.passed else "failed",
                   "output_format": "text",
                   "output": printable(t.message, TERMINAL_CHARS) or "passed"}
                  for t in result.results],
    }


def write_gradescope(result: GradeResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(gradescope_results(result), indent=1))


def write_csv(results: list[GradeResult], path: Path) -> None:
    """One row per student: id, total, maximum, each question's score, grading time."""
    questions = sorted({t.question for r in results for t in r.results})
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "homework", "score", "max_score",
                         *[f"q{q}" for q in questions], "graded_at"])
        for result in results:
            per_question = _by_question(result)
            writer.writerow([result.student, result.homework, f"{result.score:g}",
                             f"{result.max_score:g}",
                             *[f"{sum(t.score for t in per_question.get(q, [])):g}" for q in questions],
                             result.graded_at])
