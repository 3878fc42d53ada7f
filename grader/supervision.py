"""Running a hidden suite on a workspace: one sandboxed interpreter per test file, supervised.

The supervisor watches the harness's ``protocol.CURRENT`` file to know which test is running,
kills the child's whole group when that test passes its time limit, and after any crash, exit
or kill starts a fresh child on the tests still to run, so one test's crash or hang costs that
test alone.

Time is owned by the parent. ``CURRENT`` is only a hint that student code can also write, so
the parent reads it as a progress channel it validates: a name counts only if it is the next
test the parent listed for that child, in order; each test's clock starts when the parent first
sees it and is never restarted; and a per-submission budget (``run_suite``'s ``budget``) bounds
the whole suite, however the child behaves.
"""
from __future__ import annotations

import functools
import math
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import sandbox
from .discovery import COMMON_SEED, DEFAULT_TIMEOUT, HIDDEN, HiddenTest, helper_sources
from .files import remove_tree
from .protocol import (
    CURRENT,
    MAX_STATUS_BYTES,
    ProtocolError,
    Suite,
    TestStatus,
    loads,
    status_file,
    values_file,
)
from .sandbox import DEFAULT_LIMITS, Limits, read_regular
from .values import Arrays, ValuesError, read_values

POLL_SECONDS = 0.02
# Per test, the budget allows its time limit and this much for starting an interpreter (each
# test may need a fresh one, after a crash or a kill).
SPAWN_SECONDS = 10.0


@dataclass
class Outcome:
    """What running one hidden test produced: values, or why there are none.

    status: "ok" (values returned), "error" (the test raised), "crash" (the process died),
    "timeout" (killed at the time limit) or "missing" (no values were written).
    """

    test: HiddenTest
    status: str
    values: Arrays = field(default_factory=dict)
    message: str = ""


def default_budget(tests: Sequence[HiddenTest]) -> float:
    """Seconds a whole suite may take: each test's limit plus ``SPAWN_SECONDS`` to start it."""
    return sum(t.timeout + SPAWN_SECONDS for t in tests)


def run_suite(workspace: Path, hw_id: str, tests: list[HiddenTest], limits: Limits = DEFAULT_LIMITS,
              hidden: Path = HIDDEN, budget: float | None = None,
              expected: Mapping[str, Arrays] | None = None, seed: int = COMMON_SEED) -> dict[str, Outcome]:
    """Run every hidden test on ``workspace``; one Outcome per test id, whatever happens.

    Args:
        budget: seconds for the whole suite (default ``default_budget(tests)``); a test not
            finished when it runs out is a "timeout".
        expected: the answer key's values by test id, if any: returned values must have their
            names, shapes and numeric kinds, checked before anything is loaded.
        seed: the ``seed`` fixture of the tests that take one (a non-negative int).
    """
    deadline = time.monotonic() + (default_budget(tests) if budget is None else budget)
    outcomes: dict[str, Outcome] = {}
    helpers = helper_sources(hw_id, hidden)
    for module in dict.fromkeys(t.module for t in tests):
        group = [t for t in tests if t.module == module]
        source = (hidden / hw_id / f"{module}.py").read_text()
        outcomes.update(_run_module(workspace, module, source, helpers, group, limits, deadline,
                                    expected or {}, seed))
    return outcomes


def _run_module(workspace: Path, module: str, source: str, helpers: dict[str, str],
                tests: list[HiddenTest], limits: Limits, deadline: float,
                expected: Mapping[str, Arrays], seed: int = COMMON_SEED) -> dict[str, Outcome]:
    out = workspace / "out"
    outcomes: dict[str, Outcome] = {}
    remaining = list(tests)
    spawn = 0
    while remaining:
        if time.monotonic() >= deadline:
            for test in remaining:
                outcomes[test.id] = Outcome(test, "timeout", message="not run: the submission's "
                                            "time budget ran out before this test")
            break
        spawn += 1
        for stale in out.glob(f"{CURRENT}*"):  # whatever the last child left there, even a folder
            if stale.is_dir() and not stale.is_symlink():
                remove_tree(stale)
            else:
                stale.unlink()
        suite = Suite(str(out), module, [t.name for t in remaining], {**helpers, module: source},
                      {"mnist_dir": str(workspace / "data" / "mnist"),
                       "tmp_dir": str(workspace / "tmp"), "seed": seed},
                      [str(workspace / p) for p in ("python", "src", ".")])
        log = workspace / f"{module}.{spawn}.log"
        child = sandbox.start(workspace, suite.to_json(), log, limits)
        by_name = {t.name: t for t in remaining}
        progress = watch(child, out / CURRENT,
                         functools.partial(_time_limit, by_name), deadline=deadline,
                         expected=list(by_name))
        for test in remaining:
            outcome = _collect(test, out, expected.get(test.id))
            if outcome is not None:
                outcomes[test.id] = outcome
        # A child that stopped while a test was running (as the parent saw it, not as the child
        # says) forfeits that test, whatever files it left for it (student code may have written
        # them). Each spawn settles at least one test, so a child that dies before its first
        # test cannot loop the supervisor.
        culprit = None if progress.finished else by_name.get(progress.name)
        if culprit is None and not any(t.id in outcomes for t in remaining):
            culprit = remaining[0]
        if culprit is not None:
            if progress.killed and progress.over_budget:
                outcomes[culprit.id] = Outcome(culprit, "timeout", message="stopped: the "
                                               "submission's time budget ran out")
            elif progress.killed:
                outcomes[culprit.id] = Outcome(culprit, "timeout",
                                               message=f"timed out after {culprit.timeout:g} s")
            else:
                outcomes[culprit.id] = Outcome(culprit, "crash",
                                               message=death_message(child.process.returncode, log))
        remaining = [t for t in remaining if t.id not in outcomes]
    return outcomes


def _time_limit(tests: Mapping[str, HiddenTest], name: str) -> float:
    """Seconds test ``name`` may run: its own limit, or ``DEFAULT_TIMEOUT`` for any other name."""
    return tests[name].timeout if name in tests else DEFAULT_TIMEOUT


@dataclass
class Progress:
    """What the supervisor saw of a child, from its validated progress channel.

    name: the test the parent holds to be running ("" before the first one started).
    finished: the child ended on its own with ``current`` cleared, as the harness leaves it.
    killed: the child was killed for time (its test's limit, or the deadline).
    over_budget: the kill came from ``deadline`` (the submission's budget).
    """

    name: str = ""
    finished: bool = False
    killed: bool = False
    over_budget: bool = False


def watch(child: sandbox.Child, current: Path, time_limit: Callable[[str], float],
          on_poll: Callable[[], None] = lambda: None, deadline: float = math.inf,
          expected: Sequence[str] | None = None) -> Progress:
    """Wait for ``child`` to end, killing it (its whole sandbox) when a test runs over time.

    The child names the test it is running in the file ``current``; student code can write
    that file too, so the parent takes it as a claim and decides itself what is running:

    - with ``expected`` (the tests the parent gave the child, in order), a name counts only if
      it comes after the test running now (usually the next one; later ones if the parent
      missed a short test between two polls); anything else is ignored, so each test's clock
      starts at most once and the child can move forward through its own tests but never
      back. An empty name when the child has exited is a clean finish (``finished``);
    - without it (``check-hwN``, where pytest finds the tests), any name never seen before
      counts; a name seen before does not restart its clock, and an empty name ("between
      tests") starts an idle clock of ``time_limit("")``.

    A test's clock starts when the parent first sees it and is never restarted. Whatever the
    child writes, it is killed at ``deadline``.

    Args:
        child: a started sandboxed child.
        current: the file the child names its running test in.
        time_limit: seconds a test may run ("" for no test running, e.g. starting up).
        on_poll: called at every poll (every POLL_SECONDS), e.g. to stream results.
        deadline: a ``time.monotonic()`` time at which the child is killed whatever it runs.
        expected: the test names the child was given, in the order it runs them.

    Returns:
        The validated progress when the child ended or was killed. The child is killed
        however this returns, exceptions included.
    """
    progress = Progress()
    started = {"": time.monotonic()}   # each name's clock, from when the parent first saw it
    position = -1                       # in ``expected``: the last test seen starting

    def claimed() -> str:
        return (read_regular(current, 1000) or b"").decode(errors="replace")

    def advance(claim: str, now: float) -> bool:
        """Move to ``claim`` if it is a later expected test (one may be missed between polls)."""
        nonlocal position
        if expected is None or claim not in expected[position + 1:]:
            return False
        position = expected.index(claim, position + 1)
        progress.name, started[claim] = claim, now
        return True

    try:
        while child.process.poll() is None:
            on_poll()
            claim, now = claimed(), time.monotonic()
            if expected is not None:
                advance(claim, now)
            elif claim != progress.name:
                if claim == "":
                    started[""] = now              # between tests: a fresh idle clock
                elif claim not in started:
                    started[claim] = now
                progress.name = claim
            if now - started[progress.name] > time_limit(progress.name) or now > deadline:
                progress.killed, progress.over_budget = True, now > deadline
                return progress
            time.sleep(POLL_SECONDS)
        if expected is not None:  # the child ended on its own: what did it last claim?
            claim = claimed()
            if claim == "":
                progress.finished = True  # the harness clears ``current`` when it is done
            else:
                advance(claim, time.monotonic())
        return progress
    finally:
        child.kill()


def supervise(child: sandbox.Child, current: Path, time_limit: Callable[[str], float],
              on_poll: Callable[[], None] = lambda: None, deadline: float = math.inf,
              expected: Sequence[str] | None = None) -> str | None:
    """``watch`` for callers that need only the kill: the name the parent held to be running
    when the child was killed for time ("" if none), or None if it ended on its own."""
    progress = watch(child, current, time_limit, on_poll, deadline, expected)
    return progress.name if progress.killed else None


def _collect(test: HiddenTest, out: Path, expected: Arrays | None = None) -> Outcome | None:
    """The outcome a test's files in ``out`` describe, or None if it left no status file."""
    raw = read_regular(out / status_file(test.name), MAX_STATUS_BYTES)
    if raw is None:
        return None
    try:
        status = TestStatus.from_json(loads(raw))
    except ProtocolError as error:  # its text names what is wrong, never the file's content
        return Outcome(test, "missing", message=f"the test's status file is unreadable: {error}")
    if not status.ok:
        where = f" (at {status.where})" if status.where else ""
        return Outcome(test, "error", message=status.error + where)
    try:
        values = read_values(out / values_file(test.name), expected)
    except ValuesError as error:
        return Outcome(test, "missing", message=f"the test's values were refused: {error}")
    return Outcome(test, "ok", values)


def death_message(returncode: int | None, log: Path) -> str:
    """Why a sandboxed child died (its signal or exit status, and a full disk quota) and the end
    of its output, bounded."""
    code = returncode if returncode is not None else 0
    # Under `unshare --fork`, a child killed by signal N comes back as 128 + N.
    number = -code if code < 0 else (code - 128 if code > 128 else None)
    if number:
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        why = {"SIGXCPU": "CPU time limit", "SIGXFSZ": "output or file size limit",
               "SIGSEGV": "segmentation fault", "SIGKILL": "killed"}.get(name, name)
        text = f"the process died ({name}: {why})"
    else:
        text = f"the process exited with status {code} before the test finished"
    try:
        disk = os.statvfs(log.parent)
        if disk.f_bavail == 0 or disk.f_favail == 0:
            text += ("; the submission's disk quota is full (what it wrote in its workspace "
                     "left no room, even for the test's result)")
    except OSError:
        pass
    tail = (read_regular(log, 600, tail=True) or b"").decode(errors="replace").strip()
    return text + (f"; its last output: {tail[-300:]}" if tail else "")
