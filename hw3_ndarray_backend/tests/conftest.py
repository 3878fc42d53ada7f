"""Shared test set-up: deterministic Hypothesis runs, the MNIST sample's location, and the
report a student reads.

The report is built for the loop of writing one function at a time:

- tests run in question order (given code first, then question 1, 2, ...), whatever the file
  order, so the first failure is the first question left to do;
- a test that fails on a stub says whose stub it is: ``EWiseAdd.compute is not implemented
  (hw1, question 1)``, or ``depends on question 1: EWiseMul.compute is not implemented`` when
  the test checks a later question (the stubs' TODO lines give their questions);
- a test that runs past its time limit (pytest-timeout) is named, and the run stops there;
- output is short: a stub's failure is one line, other failures a short traceback, and the run
  ends with each failure's message, whole lines never cut to the terminal's width (up to
  ``_MESSAGE_LINES`` lines each; ``-v`` shows the rest), and a count of the comparisons with
  PyTorch skipped for want of it. ``-v`` gives pytest's long form.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import settings


# needle's fast paths (given code that computes what your regions compute, faster) are off in
# the tests, so that they grade your code; set before any test imports needle. A test of a fast
# path turns it on (``with ops.use_fast_paths(True):``). See python/needle/ops/fast_paths.py.
os.environ["NEEDLE_FAST_PATHS"] = "0"

# Derandomized: the same examples on every run and machine, so a failure reproduces exactly.
settings.register_profile("needle", deadline=None, derandomize=True, max_examples=40)
settings.load_profile("needle")

# The line above a stub that names its question (as grader/fill.py's TODO, which this folder
# does not ship), and the stub's message (grader/markers.py).
_TODO = re.compile(r"^\s*(?:#|//) TODO \(hw(?P<hw>\d+), question (?P<q>\d+)\): implement (?P<name>\S+)")
_STUB_MESSAGE = re.compile(r"^(?:not implemented: )?(?P<name>[\w.]+): hw(?P<hw>\d+)$")
_TORCH_SKIP = "PyTorch is not installed"
_MESSAGE_LINES = 12  # at most this many lines of a failure's message in the final summary
_STUBS = pytest.StashKey["dict[str, tuple[int, int]] | None"]()


def pytest_addoption(parser):
    parser.addoption("--question", type=int, action="append", default=[],
                     help="run only the tests of this question (repeatable)")


def pytest_configure(config):
    if config.option.verbose > 0:  # -v: pytest's long tracebacks, unless --tb was given
        if not any(arg.startswith("--tb") for arg in config.invocation_params.args):
            config.option.tbstyle = "long"
    elif not any(arg.startswith("-r") for arg in config.invocation_params.args):
        config.option.reportchars = "N"  # our summary replaces pytest's, cut to the terminal's width
    config.stash[_STUBS] = None
    config.addinivalue_line("markers", "student_backend: runs on the C++ backend the student writes")


def homework_of(item: pytest.Item) -> int:
    """The homework whose tests ``item`` is (``tests/hw1/...`` -> 1; -1 elsewhere)."""
    folder = Path(str(item.fspath)).parent.name
    return int(folder[2:]) if re.fullmatch(r"hw\d+", folder) else -1


def question_of(item: pytest.Item) -> int | None:
    """The question ``item`` checks (its ``question`` marker), or None for given code."""
    marker = item.get_closest_marker("question")
    return marker.args[0] if marker else None


def pytest_collection_modifyitems(config, items):
    wanted = set(config.getoption("question"))
    if wanted:
        keep, drop = [], []
        for item in items:
            (keep if question_of(item) in wanted else drop).append(item)
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    # Question order; a stable sort keeps each question's tests in file order.
    items.sort(key=lambda item: (homework_of(item), question_of(item) or 0))


def stubs(config: pytest.Config) -> dict[str, tuple[int, int]]:
    """``{"EWiseAdd.compute: hw1": (homework, question)}`` for every stub in this folder,
    read from the TODO line above each stub in ``python/``, ``apps/`` and ``src/``."""
    if config.stash[_STUBS] is None:
        found = {}
        for folder in ("python", "apps", "src"):
            for path in sorted((config.rootpath / folder).rglob("*")):
                if path.suffix not in (".py", ".cc", ".cu", ".h", ".cpp") or not path.is_file():
                    continue
                for line in path.read_text(errors="replace").splitlines():
                    match = _TODO.match(line)
                    if match:
                        found[f"{match['name']}: hw{match['hw']}"] = (int(match["hw"]), int(match["q"]))
        config.stash[_STUBS] = found
    return config.stash[_STUBS]


def stub_failure(item: pytest.Item, error: BaseException) -> str | None:
    """What a failure on a stub means for this test, or None if ``error`` is no stub's."""
    if not isinstance(error, (NotImplementedError, RuntimeError)):
        return None
    match = _STUB_MESSAGE.match(str(error).strip())
    where = stubs(item.config).get(f"{match['name']}: hw{match['hw']}") if match else None
    if where is None:
        return None
    hw, question = where
    if (hw, question) == (homework_of(item), question_of(item)):
        return f"{match['name']} is not implemented (hw{hw}, question {question})"
    if hw == homework_of(item):
        return f"depends on question {question}: {match['name']} is not implemented"
    return (f"depends on hw{hw} question {question}: {match['name']} is not implemented "
            f"(fill it in here, or `make carry-forward` from your hw{hw} folder)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if not report.failed or call.excinfo is None:
        return
    stub = stub_failure(item, call.excinfo.value)
    report.student_message = stub or call.excinfo.exconly()
    if not stub and call.when == "call" and "from pytest-timeout" not in report.student_message:
        import blame  # names a wrong function carried from an earlier homework that the test used
        findings = blame.blame(homework_of(item), blame.used)
        report.student_message = "\n".join([*findings, report.student_message])
        if findings and item.config.option.verbose > 0:  # -v prints no summary: show them here
            report.sections.append(("functions of earlier homeworks", "\n".join(findings)))
    if stub and item.config.option.verbose <= 0:
        report.longrepr = stub
    if "from pytest-timeout" in str(call.excinfo.value):
        # A hang is usually one bug that every later test would hit again, a minute each.
        item.session.shouldstop = (f"{item.nodeid} ran past its time limit (an infinite loop?); "
                                   f"the tests after it were not run")


def pytest_runtest_setup(item):
    """Record which earlier homeworks' functions the test calls (tests/blame.py)."""
    import blame
    if blame.install():
        blame.start_test()


def pytest_terminal_summary(terminalreporter, config):
    if config.option.verbose <= 0:
        failed = terminalreporter.stats.get("failed", []) + terminalreporter.stats.get("error", [])
        if failed:
            terminalreporter.section("failures, in question order (first to fix first)")
            for report in failed:
                message = getattr(report, "student_message", None) or str(report.longrepr).strip()
                lines = message.splitlines() or [""]
                more = len(lines) - _MESSAGE_LINES
                terminalreporter.write_line(f"FAILED {report.nodeid}")
                for line in lines[:_MESSAGE_LINES] + ([f"... ({more} more lines: -v)"] if more > 0 else []):
                    terminalreporter.write_line(f"    {line}")
    torch_skips = sum(_TORCH_SKIP in str(report.longrepr)
                      for report in terminalreporter.stats.get("skipped", []))
    if torch_skips:
        terminalreporter.write_line(
            f"{torch_skips} comparison(s) with PyTorch skipped: PyTorch is not installed. To run "
            f"them, install it (`pip install torch`; in the course repository, `make test-torch`).")


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder holding the MNIST sample's four IDX files."""
    from simple_ml import default_data_dir  # given code in hw0's src/simple_ml.py
    return default_data_dir() / "mnist"


# From hw3 on, every hw1 and hw2 test runs on both of needle's NDArray devices, each made the
# default device for the test: cpu() (your C++ backend) and cpu_numpy() (the NumPy reference).
# Runs on cpu() are marked student_backend: they need your hw3 kernels, even to test given code.
DEVICE_PARAMETRIZED = ("hw1", "hw2")


def pytest_generate_tests(metafunc):
    if Path(str(metafunc.definition.fspath)).parent.name in DEVICE_PARAMETRIZED:
        metafunc.parametrize("needle_device", [pytest.param("cpu", marks=pytest.mark.student_backend),
                                               "cpu_numpy"], indirect=True)


@pytest.fixture(autouse=True)
def needle_device(request):
    """The test's default needle device, when the test is parametrized over devices."""
    name = getattr(request, "param", None)
    if name is None:
        yield None
        return
    import needle as ndl
    device = getattr(ndl, name)()
    previous = ndl.default_device()
    ndl.set_default_device(device)
    try:
        yield device
    finally:
        ndl.set_default_device(previous)
