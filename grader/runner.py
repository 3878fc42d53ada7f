"""Running a hidden suite on a workspace: one sandboxed interpreter per test file, supervised.

The supervisor watches ``out/current`` to know which test is running, kills the child's whole
group when that test passes its time limit, and after any crash, exit or kill starts a fresh
child on the tests still to run, so one test's crash or hang costs that test alone.

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
Fixtures a test may ask for by parameter name: ``mnist_dir`` (the MNIST sample) and ``tmp_dir``
(a scratch folder in the workspace).
"""
from __future__ import annotations

import ast
import functools
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import sandbox
from .sandbox import Limits, read_regular

HIDDEN = Path(__file__).with_name("hidden")
DEFAULT_TIMEOUT = 30.0
POLL_SECONDS = 0.02
MAX_VALUES_BYTES = 16 << 20


@dataclass(frozen=True)
class HiddenTest:
    """One hidden test's metadata, read from its decorators."""

    module: str
    name: str
    question: int
    points: float
    rtol: float = 1e-5
    atol: float = 1e-6
    timeout: float = DEFAULT_TIMEOUT

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
                                        marks.get("timeout", ((DEFAULT_TIMEOUT,), {}))[0][0]))
    return tests


def _marks(node: ast.FunctionDef) -> dict[str, tuple[tuple, dict]]:
    marks = {}
    for decorator in node.decorator_list:
        if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                and ast.unparse(decorator.func.value) == "pytest.mark"):
            marks[decorator.func.attr] = (tuple(ast.literal_eval(a) for a in decorator.args),
                                          {k.arg: ast.literal_eval(k.value) for k in decorator.keywords})
    return marks


def helper_sources(hw_id: str, hidden: Path = HIDDEN) -> dict[str, str]:
    """Helper modules the hidden tests import (``hidden/<hw_id>/_*.py``), by module name."""
    return {p.stem: p.read_text() for p in sorted((hidden / hw_id).glob("_*.py"))}


def run_suite(workspace: Path, hw_id: str, tests: list[HiddenTest], limits: Limits = Limits(),
              hidden: Path = HIDDEN) -> dict[str, Outcome]:
    """Run every hidden test on ``workspace``; one Outcome per test id, whatever happens."""
    outcomes: dict[str, Outcome] = {}
    helpers = helper_sources(hw_id, hidden)
    for module in dict.fromkeys(t.module for t in tests):
        group = [t for t in tests if t.module == module]
        source = (hidden / hw_id / f"{module}.py").read_text()
        outcomes.update(_run_module(workspace, module, source, helpers, group, limits))
    return outcomes


def _run_module(workspace: Path, module: str, source: str, helpers: dict[str, str],
                tests: list[HiddenTest], limits: Limits) -> dict[str, Outcome]:
    out = workspace / "out"
    outcomes: dict[str, Outcome] = {}
    remaining = list(tests)
    spawn = 0
    while remaining:
        spawn += 1
        for stale in out.glob("current*"):
            stale.unlink()
        payload = {"out": str(out), "paths": [str(workspace / p) for p in ("python", "src", ".")],
                   "modules": {**helpers, module: source}, "test_module": module,
                   "tests": [t.name for t in remaining],
                   "fixtures": {"mnist_dir": str(workspace / "data" / "mnist"),
                                "tmp_dir": str(workspace / "tmp")}}
        log = workspace / f"{module}.{spawn}.log"
        child = sandbox.start(workspace, payload, log, limits)
        killed_at = _supervise(child, out, {t.name: t for t in remaining})
        for test in remaining:
            outcome = _collect(test, out)
            if outcome is not None:
                outcomes[test.id] = outcome
        # A child that stopped while a test was running forfeits that test, whatever files it
        # left for it (student code may have written them). Each spawn settles at least one
        # test, so a child that dies before its first test cannot loop the supervisor.
        current = (read_regular(out / "current", 200) or b"").decode(errors="replace")
        culprit = next((t for t in remaining if t.name == current), None)
        if culprit is None and not any(t.id in outcomes for t in remaining):
            culprit = remaining[0]
        if culprit is not None:
            if killed_at == culprit.name:
                outcomes[culprit.id] = Outcome(culprit, "timeout",
                                               message=f"timed out after {culprit.timeout:g} s")
            else:
                outcomes[culprit.id] = Outcome(culprit, "crash",
                                               message=death_message(child.process.returncode, log))
        remaining = [t for t in remaining if t.id not in outcomes]
    return outcomes


def _supervise(child: sandbox.Child, out: Path, tests: dict[str, HiddenTest]) -> str | None:
    """Wait for the child; kill it when the running test exceeds its time limit.

    Returns the name of the test killed for time (the first one if none had started), or None.
    """
    killed = supervise(child, out / "current",
                       lambda name: tests[name].timeout if name in tests else DEFAULT_TIMEOUT)
    if killed is None:
        return None
    return killed if killed in tests else next(iter(tests))


def supervise(child: sandbox.Child, current: Path, time_limit: Callable[[str], float],
              on_poll: Callable[[], None] = lambda: None, deadline: float = math.inf) -> str | None:
    """Wait for ``child`` to end, killing it (its whole sandbox) when a test runs over time.

    The child names the test it is running in the file ``current`` (empty or absent: none).
    Each name's clock starts when it appears there.

    Args:
        child: a started sandboxed child.
        current: the file the child names its running test in.
        time_limit: seconds a name may stay in ``current`` ("" for no test running).
        on_poll: called at every poll (every POLL_SECONDS), e.g. to stream results.
        deadline: a ``time.monotonic()`` time at which the child is killed whatever it runs.

    Returns:
        The name in ``current`` when the child was killed for time ("" if none), or None if it
        ended on its own. The child is killed however this returns, exceptions included.
    """
    try:
        name, started = None, time.monotonic()
        while child.process.poll() is None:
            on_poll()
            running = (read_regular(current, 1000) or b"").decode(errors="replace")
            if running != name:
                name, started = running, time.monotonic()
            now = time.monotonic()
            if now - started > time_limit(name) or now > deadline:
                return name
            time.sleep(POLL_SECONDS)
        return None
    finally:
        child.kill()


def _collect(test: HiddenTest, out: Path) -> Outcome | None:
    raw = read_regular(out / f"{test.name}.json", 8192)
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
    values = load_values(out / f"{test.name}.npz")
    if values is None:
        return Outcome(test, "missing", message="the test's values are missing or unreadable")
    return Outcome(test, "ok", values)


def load_values(path: Path) -> dict | None:
    """The arrays of an ``.npz`` the sandbox wrote, loaded without pickle; None if unusable."""
    import io

    import numpy as np
    raw = read_regular(path, MAX_VALUES_BYTES)
    if raw is None:
        return None
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            values = {name: np.array(data[name]) for name in data.files}
    except Exception:  # a malformed or hostile file is just a missing value
        return None
    if any(type(v) is not np.ndarray or v.dtype.kind not in "biuf" for v in values.values()):
        return None
    return values


def death_message(returncode: int | None, log: Path) -> str:
    """Why a sandboxed child died (its signal or exit status) and the end of its output, bounded."""
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


def build_extension(workspace: Path, timeout: float = 180.0, limits: Limits = Limits()) -> tuple[bool, str]:
    """Build the workspace's C++ extension inside the sandbox; ``(succeeded, log tail)``."""
    import sys
    log = workspace / "build.out"
    command = ["make", "build", f"PYTHON={sys.executable}"]
    command += [f"{name}={value}" for name, value in build_variables().items()]
    status = sandbox.run(workspace, command, log, limits, timeout)
    if status is None:
        return False, f"the build timed out after {timeout:g} s"
    text = (read_regular(log, limits.output_bytes, tail=True) or b"").decode(errors="replace")
    return status == 0, text
