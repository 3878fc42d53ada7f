"""Running a hidden suite on a workspace: one sandboxed interpreter per test file, supervised.

The supervisor watches ``out/current`` to know which test is running, kills the child's whole
group when that test passes its time limit, and after any crash, exit or kill starts a fresh
child on the tests still to run, so one test's crash or hang costs that test alone.

Time is owned by the parent. ``out/current`` is only a hint that student code can also write,
so the parent reads it as a progress channel it validates: a name counts only if it is the next
test the parent listed for that child, in order; each test's clock starts when the parent first
sees it and is never restarted; and a per-submission budget (``run_suite``'s ``budget``) bounds
the whole suite, however the child behaves.

Hidden tests are found by reading their source (``ast``), never by importing them here:

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
import functools
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import sandbox
from .files import remove_tree
from .sandbox import Limits, read_regular

HIDDEN = Path(__file__).with_name("hidden")
DEFAULT_TIMEOUT = 30.0
POLL_SECONDS = 0.02
# Per test, the budget allows its time limit and this much for starting an interpreter (each
# test may need a fresh one, after a crash or a kill).
SPAWN_SECONDS = 10.0
MAX_VALUES_BYTES = 16 << 20      # a test's .npz file, compressed
MAX_VALUE_BYTES = 64 << 20       # all of a test's arrays, uncompressed
MAX_VALUE_COUNT = 64             # arrays in one test's .npz
MAX_STATUS_BYTES = 8192          # a test's status file
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


@dataclass
class Outcome:
    """What running one hidden test produced: values, or why there are none.

    status: "ok" (values returned), "error" (the test raised), "crash" (the process died),
    "timeout" (killed at the time limit) or "missing" (no values were written).
    """

    test: HiddenTest
    status: str
    values: dict = field(default_factory=dict)
    message: str = ""


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


def _marks(node: ast.FunctionDef) -> dict[str, tuple[tuple, dict]]:
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


def default_budget(tests: Sequence[HiddenTest]) -> float:
    """Seconds a whole suite may take: each test's limit plus ``SPAWN_SECONDS`` to start it."""
    return sum(t.timeout + SPAWN_SECONDS for t in tests)


def run_suite(workspace: Path, hw_id: str, tests: list[HiddenTest], limits: Limits = Limits(),
              hidden: Path = HIDDEN, budget: float | None = None,
              expected: dict[str, dict] | None = None, seed: int = COMMON_SEED) -> dict[str, Outcome]:
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
                expected: dict[str, dict], seed: int = COMMON_SEED) -> dict[str, Outcome]:
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
        for stale in out.glob("current*"):  # whatever the last child left there, even a folder
            if stale.is_dir() and not stale.is_symlink():
                remove_tree(stale)
            else:
                stale.unlink()
        payload = {"out": str(out), "paths": [str(workspace / p) for p in ("python", "src", ".")],
                   "modules": {**helpers, module: source}, "test_module": module,
                   "tests": [t.name for t in remaining],
                   "fixtures": {"mnist_dir": str(workspace / "data" / "mnist"),
                                "tmp_dir": str(workspace / "tmp"), "seed": seed}}
        log = workspace / f"{module}.{spawn}.log"
        child = sandbox.start(workspace, payload, log, limits)
        by_name = {t.name: t for t in remaining}
        progress = watch(child, out / "current",
                         lambda name: by_name[name].timeout if name in by_name else DEFAULT_TIMEOUT,
                         deadline=deadline, expected=list(by_name))
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
        if claim not in expected[position + 1:]:
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


def _collect(test: HiddenTest, out: Path, expected: dict | None = None) -> Outcome | None:
    """The outcome a test's files in ``out`` describe, or None if it left no status file."""
    raw = read_regular(out / f"{test.name}.json", MAX_STATUS_BYTES)
    if raw is None:
        return None
    try:
        status = json.loads(raw)
        if not isinstance(status, dict):
            raise ValueError
    except ValueError:
        return Outcome(test, "missing", message="the test's status file is unreadable")
    if status.get("status") != "ok":
        where = str(status.get("where", ""))[:200]
        message = str(status.get("error", "the test raised"))[:2000]
        return Outcome(test, "error", message=message + (f" (at {where})" if where else ""))
    try:
        values = read_values(out / f"{test.name}.npz", expected)
    except ValuesError as error:
        return Outcome(test, "missing", message=f"the test's values were refused: {error}")
    return Outcome(test, "ok", values)


class ValuesError(ValueError):
    """A test's values file is missing, malformed, too large or not like the answer key's."""


def read_values(path: Path, expected: dict | None = None) -> dict:
    """The arrays of an ``.npz`` the sandbox wrote, each checked before any of it is loaded.

    The file is read whole only up to ``MAX_VALUES_BYTES``; then, from the zip directory and
    each member's ``.npy`` header, before its data is decompressed: at most
    ``MAX_VALUE_COUNT`` members, ``MAX_VALUE_BYTES`` in all (as the directory states them, and
    decompression never reads past that), a plain numeric dtype (bool, int, uint or float, of
    either byte order; no objects, so nothing is unpickled), and, with ``expected`` (the
    answer key's arrays for the test), the same names and shapes. Arrays come back in native
    byte order.

    Raises:
        ValuesError: saying what was refused (never what was expected).
    """
    import io
    import zipfile

    import numpy as np
    raw = read_regular(path, MAX_VALUES_BYTES)
    if raw is None:
        raise ValuesError(f"missing, not a regular file, or over {MAX_VALUES_BYTES >> 20} MiB")
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise ValuesError("not a readable .npz file") from error
    if len(members) > MAX_VALUE_COUNT:
        raise ValuesError(f"more than {MAX_VALUE_COUNT} arrays")
    if sum(m.file_size for m in members) > MAX_VALUE_BYTES:
        raise ValuesError(f"the arrays unpack to over {MAX_VALUE_BYTES >> 20} MiB")
    names = [m.filename[:-4] for m in members]
    if any(not m.filename.endswith(".npy") or not n.isidentifier() for m, n in zip(members, names)) \
            or len(set(names)) != len(names):
        raise ValuesError("its members are not named arrays")
    if expected is not None and set(names) != set(expected):
        raise ValuesError("the test's returned values are not the expected ones")
    values = {}
    for member, name in zip(members, names):
        try:
            with archive.open(member) as stream:
                version = np.lib.format.read_magic(stream)
                read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                               (2, 0): np.lib.format.read_array_header_2_0}[version]
                shape, fortran, dtype = read_header(stream)  # a few kB at most, never pickled
                if dtype.hasobject or dtype.kind not in "biuf" or dtype.subdtype is not None:
                    raise ValuesError(f"value {name!r} is not a plain numeric array ({dtype.str})")
                if expected is not None and tuple(shape) != np.shape(expected[name]):
                    raise ValuesError(f"value {name!r} has the wrong shape")
                size = math.prod(shape) * dtype.itemsize
                if stream.tell() + size != member.file_size:
                    raise ValuesError(f"value {name!r}: its header and size disagree")
                data = stream.read(size)  # at most the (capped) size the directory states
                if len(data) != size:
                    raise ValuesError(f"value {name!r} is truncated")
        except ValuesError:
            raise
        except Exception as error:  # noqa: BLE001 - any malformed member is refused, never raised
            raise ValuesError(f"value {name!r} is not a readable array") from error
        array = np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")
        values[name] = np.array(array, dtype=dtype.newbyteorder("="), order="C")
    return values


def load_values(path: Path, expected: dict | None = None) -> dict | None:
    """``read_values``, or None if the file is refused."""
    try:
        return read_values(path, expected)
    except ValuesError:
        return None


def death_message(returncode: int | None, log: Path) -> str:
    """Why a sandboxed child died (its signal or exit status, and a full disk quota) and the end
    of its output, bounded."""
    import signal
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


@functools.lru_cache(maxsize=1)
def has_gpu() -> bool:
    """Whether this machine has an NVIDIA GPU that ``nvidia-smi`` can see."""
    import shutil
    import subprocess
    smi = shutil.which("nvidia-smi")
    return smi is not None and subprocess.run([smi, "-L"], capture_output=True).returncode == 0


def build_variables() -> dict[str, str]:
    """Make variables for building a handout here: without a GPU the CUDA homework is graded
    on its emulated build, so the nvcc build is skipped (it would only cost time)."""
    return {} if has_gpu() else {"CMAKE_ARGS": "-DNEEDLE_NO_CUDA=ON"}


# Seconds a submission's C++ build may take: hw4's CPU and emulated-CUDA backends take about a
# minute on two idle cores, near three on a loaded machine.
BUILD_SECONDS = 300.0


def build_extension(workspace: Path, timeout: float = BUILD_SECONDS,
                    limits: Limits = Limits()) -> tuple[bool, str]:
    """Build the workspace's C++ extension inside the sandbox; ``(succeeded, log tail)``.

    A build still running after ``timeout`` seconds is killed and fails.
    """
    import sys
    log = workspace / "build.out"
    command = ["make", "build", f"PYTHON={sys.executable}"]
    command += [f"{name}={value}" for name, value in build_variables().items()]
    status = sandbox.run(workspace, command, log, limits, timeout)
    if status is None:
        return False, f"the build timed out after {timeout:g} s"
    text = (read_regular(log, limits.output_bytes, tail=True) or b"").decode(errors="replace")
    return status == 0, text
