"""A pytest plugin that writes each test's outcome to JSON, for checking handouts from outside.

Use: ``python -m pytest -p grader.pytest_outcomes`` with ``NEEDLE_OUTCOMES=path.json`` set. The
file maps each test's node id to ``{"outcome", "question", "exception", "message"}``: outcome is
"passed", "failed", "skipped" or "error" (set-up or collection failed); student_backend says the
test runs on a backend the student writes (from hw3 on); exception and message
describe what a failing test raised (message: a skipped test's reason). A file that fails to
collect appears under its own id.
"""
from __future__ import annotations

import json
import os
from collections.abc import Generator
from typing import Any

import pytest
from pluggy import Result

_results: dict[str, dict[str, Any]] = {}


def _entry(nodeid: str, question: int | None = None, student_backend: bool = False) -> dict[str, Any]:
    return _results.setdefault(nodeid, {"outcome": "passed", "question": question,
                                        "student_backend": student_backend,
                                        "exception": None, "message": None})


def pytest_itemcollected(item: pytest.Item) -> None:
    marker = item.get_closest_marker("question")
    _entry(item.nodeid, marker.args[0] if marker else None,
           item.get_closest_marker("student_backend") is not None)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _entry(report.nodeid).update(outcome="error", message=str(report.longrepr)[-1000:])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
        item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Result[pytest.TestReport], None]:
    report = (yield).get_result()
    if report.failed:
        entry = _entry(item.nodeid)
        entry["outcome"] = "failed" if call.when == "call" else "error"
        if call.excinfo is not None:
            entry["exception"], entry["message"] = call.excinfo.type.__name__, str(call.excinfo.value)
    elif report.skipped and _entry(item.nodeid)["outcome"] == "passed":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _entry(item.nodeid).update(outcome="skipped", message=reason)


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("NEEDLE_OUTCOMES")
    if path:
        with open(path, "w") as f:
            json.dump(_results, f, indent=1, sort_keys=True)
