"""``make check-hwN``: your homework folder run the way the grader runs it, with the public tests.

The grader starts from a fresh copy of the handout, takes from your folder only the files you
are meant to change (those that held stubs), builds the C++ extension, and runs the tests in a
sandboxed fresh interpreter. This does the same with the public tests, so a test that passes
here passes there for the same reasons: an edited test, a stray ``conftest.py`` or a file
outside those has no effect on either.

Like the grader, it watches each test: a line per test as it finishes (its outcome and, for a
failure, the exception's message); a test that runs past its time limit (its
``@pytest.mark.timeout(seconds)`` marker, else ``--timeout``, 50 s by default) or crashes the
interpreter is named as such, and a fresh interpreter runs the tests after it. The exit status
is 0 when every test passed (or was skipped), 1 otherwise, and 128 + N when stopped by signal N
(SIGTERM, SIGINT, SIGHUP), which first kills the sandbox and removes its scratch folder.

Usage: ``python -m grader.check hw1 [--timeout SECONDS] [-- PYTEST_ARGS...]`` (hw1 or the
folder name, ``hw1_autograd``; e.g. ``-- -k topo_sort`` runs only the tests matching topo_sort),
or the same as ``python -m grader check ...``.
"""
from __future__ import annotations

import argparse
import io
import itertools
import json
import shutil
import signal
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from . import environment, runner, sandbox, workspace
from .folders import find_folder, homework_of

REPO = Path(__file__).resolve().parent.parent
PRISTINE = ".pristine"  # the student edition's untouched handouts, one .tar.gz each
HARNESS = Path(__file__).with_name("check_harness.py")
BUDGET = 900.0           # seconds for the whole run of the tests, restarts included
DEFAULT_TIMEOUT = 50.0   # seconds for a test without a timeout marker (as the handouts' pytest.ini)
IDLE_TIMEOUT = 120.0     # seconds with no test running: start-up, collection, between tests
MAX_ERRORS = 100         # results reported for ids pytest did not collect (files that failed to)
MESSAGE_CHARS = 300      # of a failure's message, as printed
KEPT_CHARS = 2000        # of a message or node id, as read from the sandbox
OUTCOMES = ("passed", "failed", "error", "skipped")  # what the sandboxed pytest reports
LABELS = {"passed": "PASSED", "failed": "FAILED", "error": "ERROR", "skipped": "SKIPPED",
          "timeout": "TIMEOUT", "crash": "CRASHED", "not run": "NOT RUN"}


class Interrupted(Exception):
    """Raised (by ``main``'s signal handler) when SIGTERM, SIGINT or SIGHUP arrives."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass(frozen=True)
class TestOutcome:
    """One public test's outcome, as check reports it.

    Attributes:
        id: pytest's node id (``tests/hw1/test_autograd.py::test_...``).
        outcome: "passed", "failed", "error" (set-up or collection failed), "skipped",
            "timeout", "crash" (the interpreter died) or "not run".
        message: for any outcome but "passed", why.
        question: the test's ``question`` marker, if any.

    id and message may come from the sandbox: ``line()`` bounds and escapes them.
    """

    id: str
    outcome: str
    message: str = ""
    question: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in ("passed", "skipped")

    def line(self) -> str:
        """``FAILED   tests/...::test_x (question 3): ValueError: ...``, safe to print."""
        question = f" (question {self.question})" if self.question is not None else ""
        message = f": {sandbox.printable(self.message, MESSAGE_CHARS)}" if self.message else ""
        return f"{LABELS[self.outcome]:<8} {sandbox.printable(self.id, KEPT_CHARS)}{question}{message}"


def pristine_handout(repo: Path, folder: str) -> dict[str, str]:
    """The untouched handout (path -> text) of handout folder ``folder``: from ``.pristine/`` in
    the student edition, else the course's build of it (``assignment.build``), copied."""
    archive = repo / PRISTINE / f"{folder}.tar.gz"
    if archive.exists():
        with tarfile.open(archive, "r:gz") as tf:
            return {m.name: _read_member(tf, m).decode() for m in tf.getmembers() if m.isfile()}
    # Here, not at the top: the student edition has neither the course nor this module.
    from .assignment import build, course_of
    from .course import find_homework
    return dict(build(find_homework(course_of(), folder)).handout.files)


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    """The bytes of ``archive``'s regular file ``member``."""
    f = archive.extractfile(member)
    assert f is not None, member.name  # a regular file always has a stream
    return f.read()


def pristine_archive(files: dict[str, str]) -> bytes:
    """``files`` as the .tar.gz ``pristine_handout`` reads."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def check(repo: Path, name: str, out: TextIO = sys.stdout, *, timeout: float = DEFAULT_TIMEOUT,
          pytest_args: Sequence[str] = ()) -> int:
    """Run the public tests of homework ``name`` on its folder as the grader would.

    Prints the notes, then a line per test as it finishes, then a summary, to ``out``.

    Args:
        repo: the repository (or student edition) holding the homework folders.
        name: a homework id (``hw1``) or folder name (``hw1_autograd``).
        out: where to print.
        timeout: seconds a test without a ``timeout`` marker may run.
        pytest_args: extra pytest arguments (a selection such as ``-k topo_sort``).

    Returns:
        0 when every test passed or was skipped (and at least one ran), else 1.

    Raises:
        FileNotFoundError: when there is no folder for ``name``.
        Interrupted: from a signal handler (see ``main``); the sandbox is killed and the
            scratch folder removed before it propagates.
    """
    folder = find_folder(repo, name)
    handout = pristine_handout(repo, folder.name)
    allowed = set(workspace.whitelist(handout))
    edited = [n for n in sorted(handout) if n not in allowed and n != "README.md"
              and (folder / n).is_file() and (folder / n).read_text(errors="replace") != handout[n]]
    scratch = Path(tempfile.mkdtemp(prefix="flamethrower-check-"))
    try:
        ws = workspace.build(handout, folder, scratch / "ws", repo / "data")
        print(f"checking {folder.name} as the grader does: your {', '.join(ws.taken) or 'nothing'}", file=out)
        for note in [f"{n}: you changed it, but the grader uses the original" for n in edited] + \
                [f"{n}: missing, so its stubs are used" for n in ws.missing] + \
                [f"refused {n}" for n in ws.refused] + environment.differences(repo / environment.LOCK) + \
                sandbox.detect().notes:
            print(f"  note: {note}", file=out)
        return run_public_tests(ws.root, handout, out, timeout=timeout, pytest_args=pytest_args)
    finally:
        with sandbox.stop_signals_held():  # a signal now waits until the folder is gone
            shutil.rmtree(scratch, ignore_errors=True)


def run_public_tests(root: Path, handout: dict[str, str], out: TextIO, *, timeout: float = DEFAULT_TIMEOUT,
                   pytest_args: Sequence[str] = ()) -> int:
    """Build the C++ extension of the grading workspace ``root`` (when the handout has one) and
    run its homework's public tests there, a line per test, then a summary (``check`` and
    ``submit`` both grade this way).

    Returns:
        0 when every test passed or was skipped (and at least one ran), else 1.
    """
    homework = homework_of(root)
    if "CMakeLists.txt" in handout:
        ok, log = runner.build_extension(root)
        if not ok:
            print(f"the C++ build failed:\n{sandbox.printable(log, 1 << 16, newlines=True)}", file=out)
    started = time.monotonic()
    results = run_tests(root, [f"tests/{homework}", *pytest_args], timeout, out)
    print(summary(results, time.monotonic() - started), file=out, flush=True)
    if any(r.outcome in ("failed", "error") for r in results):
        print(f"  for whole tracebacks: make test-{homework} (the tests in your own folder)", file=out)
    return 0 if results and all(r.ok for r in results) else 1


def run_tests(root: Path, args: list[str], timeout: float, out: TextIO,
              budget: float = BUDGET) -> list[TestOutcome]:
    """Run ``pytest ARGS`` in the sandboxed workspace ``root``, one test at a time under its limit.

    ``check_harness.py`` runs pytest in the sandbox and reports each test; ``runner.supervise``
    (the grader's supervisor) kills the sandbox when a test runs past its limit. After a kill or
    a crash, a fresh interpreter runs the tests that have no outcome yet. Each outcome is
    printed to ``out`` the moment it is known.

    Args:
        root: a workspace from ``workspace.build`` (with ``out/`` and ``tmp/``).
        args: pytest's arguments (paths and options).
        timeout: seconds for a test without a ``timeout`` marker.
        out: where to print.
        budget: seconds for everything; what has not run by then is "not run".

    Returns:
        The outcomes, in the order they became known, then those of tests never run.
    """
    outdir = root / "out"
    deadline = time.monotonic() + budget
    tests: dict[str, dict[str, Any]] = {}   # node id -> {"question", "timeout"}, from collected.json
    results: dict[str, TestOutcome] = {}

    def settle(result: TestOutcome) -> None:
        if result.id not in results:
            results[result.id] = result
            print(result.line(), file=out, flush=True)

    def time_limit(name: str) -> float:
        if name not in tests:
            return IDLE_TIMEOUT
        return min(tests[name]["timeout"] or timeout, budget)

    for spawn in itertools.count(1):
        for stale in ("current", "collected.json", "results.jsonl", "done.json"):
            (outdir / stale).unlink(missing_ok=True)  # a link the sandbox left is removed, not followed
        (outdir / "done.json").write_text(json.dumps(sorted(results)))
        stream = ResultStream(outdir / "results.jsonl")

        def poll(stream: ResultStream = stream) -> None:
            if not tests:
                tests.update(read_collected(outdir / "collected.json"))
            for entry in stream.read():
                # Only tests pytest collected, and a few errors of files that failed to collect:
                # the sandbox cannot invent results or flood the output.
                known = entry["id"] in tests
                if known or (entry["outcome"] == "error" and len(results) < len(tests) + MAX_ERRORS):
                    settle(TestOutcome(entry["id"], entry["outcome"], entry["message"],
                                       tests.get(entry["id"], {}).get("question")))

        log = root / f"pytest.{spawn}.log"
        # The trusted side owns time: pytest-timeout stays off in the sandbox (it would race
        # the supervisor and stop the run at the first hang).
        command = [sys.executable, "-c", HARNESS.read_text(), str(outdir), "-p", "no:timeout", *args]
        child = sandbox.start(root, {"out": str(outdir)}, log,
                              sandbox.Limits(cpu_seconds=int(budget)), exec_command=command)
        try:
            killed = runner.supervise(child, outdir / "current", time_limit, poll, deadline)
        finally:
            child.kill()  # already done by supervise; here too should a signal come in between
        poll()  # what the child wrote just before it ended
        running = (sandbox.read_regular(outdir / "current", 1000) or b"").decode(errors="replace")
        over_budget = killed is not None and time.monotonic() >= deadline
        if over_budget:
            print(f"stopped: the check's {budget:g} s budget ran out", file=out)
        if running in tests and running not in results:
            # The child stopped in the middle of a test: that test alone is charged.
            question = tests[running]["question"]
            if killed is None:
                message = runner.death_message(child.process.returncode, log)
                settle(TestOutcome(running, "crash", message, question))
            elif over_budget:
                settle(TestOutcome(running, "timeout", "stopped by the check's budget", question))
            else:
                message = f"timed out after {time_limit(running):g} s"
                if any(t not in results and t != running for t in tests):
                    message += "; the tests after it go on in a fresh interpreter"
                settle(TestOutcome(running, "timeout", message, question))
            if not over_budget and any(t not in results for t in tests):
                continue
        elif killed is not None and not over_budget:
            doing = "running the tests" if tests else "starting pytest and collecting the tests"
            print(f"stopped: no test was running, and {doing} took more than "
                  f"{IDLE_TIMEOUT:g} s", file=out)
        elif child.process.returncode not in (0, 1):  # pytest stopped early (a usage error, ...)
            tail = (sandbox.read_regular(log, 4000, tail=True) or b"").decode(errors="replace")
            print(sandbox.printable(tail.strip(), 4000, newlines=True), file=out)
        break
    never = [TestOutcome(t, "not run", question=tests[t]["question"]) for t in tests if t not in results]
    if never:
        first = sandbox.printable(never[0].id, KEPT_CHARS)
        print(f"{LABELS['not run']:<8} {len(never)} test(s), from {first} on", file=out)
    return list(results.values()) + never


class ResultStream:
    """Follows ``results.jsonl`` as the sandbox appends to it (see ``check_harness.py``)."""

    MAX_LINE = 64 << 10

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""

    def read(self) -> list[dict[str, str]]:
        """The entries appended since the last call, each checked and bounded (not escaped):
        ``{"id": str, "outcome": one of OUTCOMES, "message": str}``. Malformed lines are skipped."""
        data = sandbox.read_appended(self.path, self.offset, 1 << 20)
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        if len(self.partial) > self.MAX_LINE:
            self.partial = b""  # the rest of this line will not parse, and is skipped
        entries = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not (isinstance(entry, dict) and isinstance(entry.get("id"), str)
                    and entry.get("outcome") in OUTCOMES):
                continue
            message, where = str(entry.get("message") or ""), str(entry.get("where") or "")
            if message and where:
                message += f" (at {where})"
            entries.append({"id": entry["id"][:KEPT_CHARS], "outcome": entry["outcome"],
                            "message": message[:KEPT_CHARS]})
        return entries


def read_collected(path: Path) -> dict[str, dict[str, Any]]:
    """The tests a sandboxed pytest collected (``collected.json``), as ``{node id: {"question":
    int | None, "timeout": float | None}}`` in order; {} when absent or malformed. A marker's
    timeout that is not a positive number is dropped (None: the default limit applies)."""
    raw = sandbox.read_regular(path, 8 << 20)
    try:
        entries = json.loads(raw) if raw is not None else []
    except ValueError:
        return {}
    tests: dict[str, dict[str, Any]] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        limit, question = entry.get("timeout"), entry.get("question")
        tests[entry["id"][:KEPT_CHARS]] = {
            "timeout": float(limit) if isinstance(limit, (int, float)) and not isinstance(limit, bool)
            and 0 < limit < 1e9 else None,
            "question": question if type(question) is int else None}
    return tests


def summary(results: list[TestOutcome], seconds: float) -> str:
    """``"3 passed, 1 failed, 1 timed out in 12.3 s"``."""
    words = {"passed": "passed", "failed": "failed", "error": "error", "timeout": "timed out",
             "crash": "crashed", "skipped": "skipped", "not run": "not run"}
    counts = []
    for outcome, word in words.items():
        count = sum(r.outcome == outcome for r in results)
        if count:
            counts.append(f"{count} {word}{'s' if outcome == 'error' and count > 1 else ''}")
    return f"{', '.join(counts) or 'no tests ran'} in {seconds:.1f} s"


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    for number in sandbox.STOP_SIGNALS:  # the clean-up runs once, undisturbed
        signal.signal(number, signal.SIG_IGN)
    raise Interrupted(signum)


def stop_cleanly() -> None:
    """Make SIGTERM, SIGINT and SIGHUP raise ``Interrupted``, so that the sandbox is killed and
    the scratch folder removed (by ``check``'s and ``submit``'s ``finally``) before exiting."""
    for number in sandbox.STOP_SIGNALS:
        signal.signal(number, _raise_interrupted)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command line's arguments (``HW [--timeout SECONDS] [-- PYTEST_ARGS...]``), added to
    ``parser``: this module's own, or ``python -m grader check``'s."""
    parser.add_argument("hw", help="a homework id (hw1) or folder (hw1_autograd)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"seconds a test without a timeout marker may run (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("pytest_args", nargs="*", metavar="PYTEST_ARGS",
                        help="after --: pytest's arguments, e.g. -- -k topo_sort (only the tests "
                        "matching topo_sort)")
    parser.usage = "%(prog)s HW [--timeout SECONDS] [-- PYTEST_ARGS...]"


def run(args: argparse.Namespace, repo: Path = REPO) -> int:
    """Check the homework folder ``args.hw`` of ``repo`` (``add_arguments``' arguments); the
    exit status (see the module docstring)."""
    stop_cleanly()
    try:
        return check(repo, args.hw, timeout=args.timeout, pytest_args=args.pytest_args)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 2
    except Interrupted as stop:
        print(f"\nstopped by {stop}: the sandbox is killed and its scratch folder removed",
              file=sys.stderr)
        return 128 + stop.signum


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m grader.check",
                                     description=__doc__.splitlines()[0].replace("`", ""))
    add_arguments(parser)
    return run(parser.parse_intermixed_args(argv))


if __name__ == "__main__":
    sys.exit(main())
