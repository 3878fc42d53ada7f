"""The child side of ``check-hwN``: pytest on the public tests, reporting each test as it goes.

Run only by ``grader.check``, through the sandbox (``harness.py --exec``), as
``python -c <this file's source> OUT PYTEST_ARGS...``, so that no copy of it sits where student
code could rewrite it. It is self-contained (standard library and pytest only).

It runs pytest with a plugin that writes, in the folder OUT:

- ``collected.json``: the tests this run will run, in order, as
  ``[{"id": node id, "question": n or null, "timeout": seconds or null}, ...]``, the timeout
  read from a ``@pytest.mark.timeout(seconds)`` marker;
- ``current``: the node id of the test running now (empty between tests), so the parent can
  tell which test a hang or a crash belongs to and enforce its time limit;
- ``results.jsonl``: one JSON line per finished test (or file that failed to collect),
  ``{"id", "outcome", "message", "where", "seconds"}``, outcome being "passed", "failed",
  "skipped" or "error" (set-up, tear-down or collection failed).

Tests named in ``OUT/done.json`` (a list of node ids, written by the parent before a restart)
are deselected: they already have an outcome. Nothing here is trusted by the parent, which
bounds and escapes all of it.
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import pytest


def _atomic_write(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _timeout(item: pytest.Item) -> float | None:
    marker = item.get_closest_marker("timeout")
    if marker is None:
        return None
    seconds = marker.args[0] if marker.args else marker.kwargs.get("timeout")
    return seconds if isinstance(seconds, (int, float)) else None


def _short(report: pytest.CollectReport | pytest.TestReport) -> tuple[str, str]:
    """``(message, where)`` of a failed report: the exception's line and its innermost place."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message, f"{os.path.basename(crash.path)}:{crash.lineno}"
    lines = [line.strip() for line in str(report.longrepr).splitlines() if line.strip()]
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return (errors or lines or [""])[-1], ""


class StreamPlugin:
    """Writes ``collected.json``, ``current`` and ``results.jsonl`` in ``out`` (see above)."""

    def __init__(self, out: str) -> None:
        self.out = out
        self.reports: dict[str, dict[str, Any]] = {}
        self.done: set[str]
        try:
            with open(os.path.join(out, "done.json")) as f:
                self.done = set(json.load(f))
        except (OSError, ValueError):
            self.done = set()

    def _emit(self, entry: dict[str, Any]) -> None:
        with open(os.path.join(self.out, "results.jsonl"), "a") as f:
            f.write(json.dumps(entry) + "\n")

    def pytest_configure(self, config: pytest.Config) -> None:
        if not config.pluginmanager.hasplugin("timeout"):  # pytest-timeout registers it
            config.addinivalue_line("markers", "timeout(seconds): this test's time limit")

    @pytest.hookimpl(trylast=True)  # after the handout's own selection (--question)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        done = [item for item in items if item.nodeid in self.done]
        if done:
            config.hook.pytest_deselected(items=done)
            items[:] = [item for item in items if item.nodeid not in self.done]
        collected: list[dict[str, Any]] = []
        for item in items:
            question = item.get_closest_marker("question")
            collected.append({"id": item.nodeid, "timeout": _timeout(item),
                              "question": question.args[0] if question and question.args else None})
        _atomic_write(os.path.join(self.out, "collected.json"), json.dumps(collected).encode())

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            message, where = _short(report)
            self._emit({"id": report.nodeid, "outcome": "error", "message": message,
                        "where": where, "seconds": 0})

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.reports[nodeid] = {"id": nodeid, "outcome": "passed", "message": "", "where": "",
                                "started": time.monotonic()}
        _atomic_write(os.path.join(self.out, "current"), nodeid.encode())

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entry = self.reports.get(report.nodeid)
        if entry is None or entry["outcome"] in ("failed", "error"):
            return  # the first failure (in set-up, call or tear-down) is the one to show
        if report.failed:
            entry["outcome"] = "failed" if report.when == "call" else "error"
            entry["message"], entry["where"] = _short(report)
        elif report.skipped and entry["outcome"] == "passed":
            entry["outcome"] = "skipped"
            if isinstance(report.longrepr, tuple):
                entry["message"] = str(report.longrepr[-1])

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        entry = self.reports.pop(nodeid, None)
        if entry is not None:
            entry["seconds"] = round(time.monotonic() - entry.pop("started"), 3)
            self._emit(entry)
        _atomic_write(os.path.join(self.out, "current"), b"")


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    sys.exit(pytest.main(args, plugins=[StreamPlugin(out)]))


if __name__ == "__main__":
    main()
