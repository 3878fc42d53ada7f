"""`make check-hwN` on a hw1 folder whose find_topo_sort never returns: each test is reported as
it finishes, the hung one is named as timed out and the rest still run, and SIGTERM, SIGINT or
SIGHUP leaves no sandboxed process and no scratch folder behind."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from grader import check, release, sandbox
from grader.course import REPO, SOLUTIONS, load_course
from grader.files import write_tree
from grader.fill import bodies_of, fill_stubs, stubs_in
from grader.handouts import generate
from grader.markers import language_of, parse

HANG = "tests/hw1/test_autograd.py::test_topo_sort_is_the_post_order_dfs"
PASS = "tests/hw1/test_ops.py::test_forward_keeps_float32"
FAIL = "tests/hw1/test_ops.py::test_sum_to_shape_sums_broadcast_axes"
MARKED = "tests/hw1/test_zz_marked.py::test_topo_sort_with_a_timeout_marker"
TIMEOUT = 3  # seconds, for tests without a marker: short, to keep these tests fast
# A public test with its own time limit (pytest-timeout's marker), added to the handout here.
MARKED_TEST = """import needle as ndl
import pytest


@pytest.mark.question(3)
@pytest.mark.timeout(1)
def test_topo_sort_with_a_timeout_marker():
    assert ndl.find_topo_sort([ndl.Tensor([1.0])])
"""


def student_files(handout: dict[str, str]) -> dict[str, str]:
    """A student who filled every stub with the reference code except two: find_topo_sort loops
    forever and sum_to_shape is left as it was."""
    out = {}
    for name, text in handout.items():
        if stubs_in(text) and not name.endswith(".ipynb"):
            bodies = bodies_of(parse((SOLUTIONS / name).read_text(), name, language_of(name)).regions)
            bodies.pop("sum_to_shape", None)
            if "find_topo_sort" in bodies:
                bodies["find_topo_sort"] = ("    while True:  # never pops its stack", "        pass")
            text, _ = fill_stubs(text, bodies)
        out[name] = text
    return out


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    """A student edition holding only hw1: the runner modules, the untouched handout (without its
    C++ build, which these tests do not need), the student's folder and the MNIST sample."""
    root = tmp_path_factory.mktemp("edition")
    handout = generate(load_course()[1], load_course()).files
    handout.pop("CMakeLists.txt")
    handout["tests/hw1/test_zz_marked.py"] = MARKED_TEST
    (root / check.PRISTINE).mkdir()
    (root / check.PRISTINE / "hw1_autograd.tar.gz").write_bytes(check.pristine_archive(handout))
    write_tree(student_files(handout), root / "hw1_autograd")
    (root / "grader").mkdir()
    (root / "grader" / "__init__.py").write_text("")
    for name in release.RUNNER_MODULES:
        shutil.copy(REPO / "grader" / name, root / "grader" / name)
    shutil.copytree(REPO / "data" / "mnist", root / "data" / "mnist")
    return root


def start_check(edition: Path, scratch: Path, *args: str) -> subprocess.Popen:
    """``python -m grader.check hw1 ARGS`` in the edition, its scratch folder made under ``scratch``."""
    scratch.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(scratch), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "grader.check", "hw1", *args], cwd=edition, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def timed_lines(process: subprocess.Popen, limit: float) -> list[tuple[float, str]]:
    """Each line of the process's output with the second it arrived, until it exits."""
    started, lines = time.monotonic(), []
    timer = threading.Timer(limit, process.kill)
    timer.start()
    try:
        for line in process.stdout:
            lines.append((time.monotonic() - started, line.rstrip("\n")))
        process.wait()
    finally:
        timer.cancel()
    return lines


def test_a_hung_test_is_named_as_timed_out_and_the_others_still_run(edition, tmp_path):
    process = start_check(edition, tmp_path / "scratch", "--timeout", str(TIMEOUT), "--", "-k",
                          " or ".join(n.split("::")[1] for n in (HANG, PASS, FAIL, MARKED)))
    lines = timed_lines(process, 120)
    text = "\n".join(line for _, line in lines)
    assert process.returncode == 1, text
    arrived = {line.split()[1]: (second, line) for second, line in lines
               if line.split()[:1] and line.split()[0] in check.LABELS.values()}
    assert list(arrived) == [PASS, FAIL, HANG, MARKED], text  # in question order
    assert arrived[HANG][1] == (f"TIMEOUT  {HANG} (question 3): timed out after {TIMEOUT} s; "
                                "the tests after it go on in a fresh interpreter"), text
    assert arrived[MARKED][1] == f"TIMEOUT  {MARKED} (question 3): timed out after 1 s", text
    assert arrived[PASS][1] == f"PASSED   {PASS} (question 1)", text
    assert arrived[FAIL][1] == (f"FAILED   {FAIL} (question 2): sum_to_shape is not implemented "
                                "(hw1, question 2)"), text
    assert lines[-2][1].startswith("1 passed, 1 failed, 2 timed out in "), text
    # Streamed: each line comes as its test ends, not with the last (which hangs for 1 s more).
    assert arrived[MARKED][0] - arrived[HANG][0] >= 0.9, text
    assert arrived[HANG][0] < TIMEOUT + 30, text


def sandbox_processes(scratch: Path) -> dict[int, str]:
    """The processes (pid -> cgroup file's text) whose working folder is under ``scratch``."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "cwd").startswith(str(scratch)):
                found[int(entry.name)] = (entry / "cgroup").read_text()
        except OSError:
            pass  # gone meanwhile, or not ours to read
    return found


def cgroup_folder(line: str) -> Path:
    """The folder of a ``/proc/PID/cgroup`` line: ``8:pids:/x`` (v1) or ``0::/x`` (v2)."""
    _, controllers, path = line.split(":", 2)
    return Path("/sys/fs/cgroup", controllers, *path.strip("/").split("/"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=lambda s: signal.Signals(s).name)
def test_a_signal_kills_the_sandbox_and_removes_the_scratch_folder(edition, tmp_path, signum):
    scratch = tmp_path / "scratch"
    process = start_check(edition, scratch, "--", "-k", HANG.split("::")[1])
    cgroups = set()
    try:
        deadline = time.monotonic() + 60
        while not any((folder / "ws" / "out" / "current").is_file() and
                      (folder / "ws" / "out" / "current").read_text() == HANG
                      for folder in scratch.glob("flamethrower-check-*")):
            assert time.monotonic() < deadline and process.poll() is None, process.stdout.read()
            time.sleep(0.1)
        running = sandbox_processes(scratch)
        assert running  # unshare and the sandboxed pytest, at least
        cgroups = {cgroup_folder(line) for text in running.values() for line in text.splitlines()
                   if "flamethrower-" in line}
        assert cgroups or sandbox.detect().pids_cgroup is None
        process.send_signal(signum)
        assert process.wait(timeout=10) == 128 + signum
        assert "stopped by " + signal.Signals(signum).name in process.stdout.read()
        left = sandbox_processes(scratch)
    finally:  # should the check fail to, end what it started, so as to leave nothing running
        process.kill()
        for pid in sandbox_processes(scratch):
            os.kill(pid, signal.SIGKILL)
    assert left == {}
    assert list(scratch.iterdir()) == []
    assert not [c for c in cgroups if c.exists()]  # the run's pids cgroup, where there is one


def test_result_stream_skips_malformed_lines_and_bounds_what_it_keeps(tmp_path):
    path = tmp_path / "results.jsonl"
    stream = check.ResultStream(path)
    entry = {"id": "t::a\x1b[2J", "outcome": "failed", "message": "x" * 5000, "where": "f.py:3"}
    path.write_text(json.dumps(entry) + "\nnot json\n" + json.dumps({"id": 1, "outcome": "passed"})
                    + "\n" + json.dumps({"id": "t::b", "outcome": "passed"})[:-3])
    (first,) = stream.read()
    assert first["outcome"] == "failed" and len(first["message"]) == check.KEPT_CHARS
    with open(path, "a") as f:
        f.write(json.dumps({"id": "t::b", "outcome": "passed"})[-3:] + "\n")
    assert [e["id"] for e in stream.read()] == ["t::b"]
    line = check.TestOutcome(first["id"], "failed", first["message"]).line()
    assert "\x1b" not in line and "t::a\\x1b[2J" in line and line.endswith("...")


def test_printable_escapes_control_characters_and_bounds_the_length():
    assert sandbox.printable("a\rb\u202ec\nd", 100) == "a\\rb\\u202ec\\nd"
    assert sandbox.printable("a\nb\x07", 100, newlines=True) == "a\nb\\x07"
    assert sandbox.printable("é" * 10, 3) == "ééé..."


def test_collected_tests_keep_a_positive_timeout_marker_and_drop_what_is_malformed(tmp_path):
    path = tmp_path / "collected.json"
    path.write_text(json.dumps([{"id": "t::a", "timeout": 5, "question": 2}, {"id": "t::b", "timeout": -1},
                                {"id": "t::c", "timeout": "9", "question": "1"}, {"id": 3}, "t::d"]))
    assert check.read_collected(path) == {"t::a": {"timeout": 5.0, "question": 2},
                                               "t::b": {"timeout": None, "question": None},
                                               "t::c": {"timeout": None, "question": None}}
    path.write_text("[{")
    assert check.read_collected(path) == {}
