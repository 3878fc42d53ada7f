"""The grader, end to end: real hidden suites on real submissions, and hostile submissions.

Each hostile submission must score 0 on what it attacks and leave everything else intact. The
attacks run against a three-test probe suite (probe/hw1): the attack sits in EWiseAdd.compute,
so ``test_add`` is attacked while ``test_mul`` and ``test_topo`` must still pass.
"""
import os
import shutil
import socket
import tarfile
import textwrap
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from grader import answers, grade, gradebook, reports, runner, scoring, workspace
from grader.course import REPO, SOLUTIONS, load_course
from grader.fill import bodies_of, fill_stubs
from grader.handouts import generate
from grader.markers import language_of, parse
from grader.sandbox import detect

COURSE = load_course()
HW0, HW1 = COURSE[0], COURSE[1]
PROBE = Path(__file__).parent / "probe"
ISOLATION = detect()
needs_landlock = pytest.mark.skipif(ISOLATION.landlock_abi < 1, reason="no Landlock in this kernel")
needs_namespaces = pytest.mark.skipif(not ISOLATION.namespaces, reason="no user/net/pid namespaces")


def solution_submission(dest: Path, homework=HW1) -> Path:
    """A submission holding the reference versions of the homework's whitelisted files."""
    for name in workspace.whitelist(generate(homework, COURSE).files):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SOLUTIONS / name, dest / name)
    return dest


def attacked_submission(dest: Path, attack: str) -> Path:
    """The reference hw1 submission with EWiseAdd.compute's body replaced by ``attack``."""
    solution_submission(dest)
    ops = dest / "python" / "needle" / "ops" / "ops_mathematic.py"
    body = textwrap.indent(textwrap.dedent(attack).strip(), " " * 8)
    text = ops.read_text()
    assert text.count("        return a + b\n") == 1
    ops.write_text(text.replace("        return a + b\n", body + "\n"))
    return dest


def run_probe(submission: Path, scratch: Path, homework=HW1) -> dict[str, runner.Outcome]:
    ws = workspace.build(generate(homework, COURSE).files, submission, scratch / "ws", REPO / "data")
    if answers.needs_build(generate(homework, COURSE), homework):
        assert runner.build_extension(ws.root)[0]
    tests = runner.discover(homework.id, PROBE)
    outcomes = runner.run_suite(ws.root, homework.id, tests, hidden=PROBE)
    return {o.test.name: o for o in outcomes.values()}


def probe_scores(submission: Path, scratch: Path, key) -> dict[str, scoring.TestResult]:
    return {name: scoring.score(o, key[name]) for name, o in run_probe(submission, scratch).items()}


@pytest.fixture(scope="session")
def keys():
    """The real answer keys (built once per session if stale)."""
    return {hw.id: answers.load(hw) for hw in COURSE}


# ---- real suites ------------------------------------------------------------------------------

@pytest.mark.parametrize("homework", COURSE, ids=[hw.id for hw in COURSE])
def test_solutions_score_full_marks(homework, keys, tmp_path):
    result = grade.grade(homework, solution_submission(tmp_path / "sub", homework), keys[homework.id])
    assert [t.name for t in result.results if not t.passed] == []
    assert result.score == result.max_score == 100


@pytest.mark.parametrize("homework", COURSE, ids=[hw.id for hw in COURSE])
def test_unmodified_handout_scores_zero_with_every_test_failing_cleanly(homework, keys):
    result = grade.grade(homework, REPO / homework.dir, keys[homework.id])
    assert result.score == 0 and result.max_score == 100
    for test in result.results:
        assert test.status == "error", test
        assert test.message.startswith(("NotImplementedError: ", "RuntimeError: not implemented: ")), test


def test_exactly_questions_1_to_3_done_scores_exactly_their_points(keys, tmp_path):
    handout = generate(HW1, COURSE)
    done = {1: ".compute", 2: (".gradient", "sum_to_shape"), 3: ("find_topo_sort",)}
    sub = tmp_path / "sub"
    for name in workspace.whitelist(handout.files):
        regions = parse((SOLUTIONS / name).read_text(), name, language_of(name)).regions
        wanted = {q: b for q, b in bodies_of(regions).items()
                  if any(q.endswith(s) or q == s for s in (".compute", ".gradient", "sum_to_shape",
                                                           "find_topo_sort"))}
        text, _ = fill_stubs(handout.files[name], wanted)
        (sub / name).parent.mkdir(parents=True, exist_ok=True)
        (sub / name).write_text(text)
    result = grade.grade(HW1, sub, keys["hw1"])
    points = {q.n: q.points for q in HW1.questions}
    assert done and result.score == points[1] + points[2] + points[3] == 60
    assert {t.question for t in result.results if t.passed} == {1, 2, 3}


@pytest.mark.parametrize("homework", COURSE, ids=[hw.id for hw in COURSE])
def test_hidden_points_per_question_match_course_toml(homework):
    tests = runner.discover(homework.id)
    for question in homework.questions:
        assert sum(t.points for t in tests if t.question == question.n) == question.points


def test_batch_grading_keeps_students_apart_and_fills_the_gradebook(keys, tmp_path):
    subs = tmp_path / "subs"
    solution_submission(subs / "alice")
    attacked_submission(subs / "mallory", f"""
        import glob, os
        for path in glob.glob("/tmp/**/alice/**/*.py", recursive=True)[:3]:
            open(path, "a").write("raise SystemExit")  # sabotage another student
        os.kill({os.getpid()}, 9)
        return a - b
    """)
    shutil.copytree(REPO / "hw1_autograd", subs / "bob")
    results = {r.student: r for r in grade.grade_many(HW1, sorted(subs.iterdir()), jobs=2, progress=False)}
    assert results["alice"].score == 100 and results["bob"].score == 0
    assert 0 < results["mallory"].score < 100
    db = gradebook.connect(tmp_path / "gb.sqlite")
    for student, result in results.items():
        gradebook.record(db, result, subs / student)
    gradebook.record(db, results["alice"], subs / "alice")  # the same files again: a regrade
    latest = {r.student: r for r in gradebook.latest(db, "hw1")}
    assert {s: r.score for s, r in latest.items()} == {"alice": 100, "bob": 0,
                                                        "mallory": results["mallory"].score}
    regrade_of = db.execute("SELECT regrade_of FROM attempts ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert regrade_of is not None
    reports.write_csv(list(latest.values()), tmp_path / "hw1.csv")
    assert (tmp_path / "hw1.csv").read_text().splitlines()[1].startswith(
        "alice,hw1,100,100,20,30,10,20,10,10,")


def test_a_grader_failure_on_one_submission_still_gives_a_result(monkeypatch, keys, tmp_path):
    def broken(*args, **kwargs):
        raise OSError("No space left on device")
    monkeypatch.setattr(runner, "run_suite", broken)
    result = grade._grade_one(("hw1", str(solution_submission(tmp_path / "dana"))))
    assert result.student == "dana" and result.score == 0 and result.max_score == 100
    assert "the grader failed on this submission (OSError: No space left on device)" in result.notes[0]


def test_feedback_and_results_json_name_failures_but_not_answers(keys, tmp_path):
    result = grade.grade(HW1, attacked_submission(tmp_path / "sub", "return a - b"), keys["hw1"])
    markdown = reports.feedback_markdown(result)
    failed = [t for t in result.results if not t.passed]
    assert failed and all(t.name in markdown for t in failed)
    results_json = reports.gradescope_results(result)
    assert results_json["score"] == result.score and results_json["max_score"] == 100
    assert {"name", "score", "max_score", "visibility", "output"} <= set(results_json["tests"][0])
    hidden_source = (runner.HIDDEN / "hw1" / "test_hidden_autograd.py").read_text()
    for line in hidden_source.splitlines():
        if len(line.strip()) > 25:
            assert line.strip() not in markdown
    for values in keys["hw1"].values.values():  # no distinctive expected value appears
        for array in values.values():
            for value in array.ravel()[:5] if array.dtype.kind == "f" else []:
                text = f"{value:.5g}"
                if len(text.lstrip("-")) >= 6:
                    assert text not in markdown


# ---- hostile submissions ----------------------------------------------------------------------

SECRET_PATHS = [SOLUTIONS / "python" / "needle" / "ops" / "ops_mathematic.py",
                runner.HIDDEN / "hw1" / "test_hidden_autograd.py",
                answers.ANSWERS / "hw1.npz", answers.ANSWERS / "hw1.json"]

# Each: code for EWiseAdd.compute. Where an attack "succeeds" it returns the right sum, so a
# passing test_add would expose a hole.
ATTACKS = {
    "read_solutions_hidden_tests_and_answer_key": "\n".join(
        f"open({str(p)!r}, 'rb').read()" for p in SECRET_PATHS) + "\nreturn a + b",
    "read_through_the_graders_proc_entry": f"""
        open("/proc/{os.getpid()}/cwd/solutions/course.toml").read()
        return a + b""",
    "read_another_students_workspace": """
        import glob
        stolen = [open(p).read() for p in glob.glob("/tmp/flamethrower-decoy-*/secret.txt")]
        assert stolen, "nothing to steal"
        return a + b""",
    "monkeypatch_numpy_comparisons": """
        import numpy
        numpy.allclose = lambda *args, **kwargs: True
        numpy.array_equal = lambda *args, **kwargs: True
        numpy.testing.assert_allclose = lambda *args, **kwargs: None
        return a - b""",
    "forge_the_results_files": """
        import json, os
        import numpy
        for folder in ("out", ".", ".."):
            try:
                open(os.path.join(folder, "results.json"), "w").write(json.dumps({"score": 100}))
            except OSError:
                pass
        numpy.savez("out/test_add.npz", sum=numpy.zeros(2))
        open("out/test_add.json", "w").write(json.dumps({"status": "ok"}))
        os._exit(0)""",
    "sys_exit_zero": "import sys\nsys.exit(0)",
    "os_exit_zero": "import os\nos._exit(0)",
    "keyboard_interrupt": "raise KeyboardInterrupt",
    "kill_the_grader": f"""
        import os, signal
        for pid in ({os.getpid()}, os.getppid(), 1):
            for kill in (os.kill, os.killpg):
                try:
                    kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        return a - b""",
    "always_equal_object": """
        class AlwaysEqual:
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            def numpy(self): return self
        return AlwaysEqual()""",
    "ndarray_subclass": """
        import numpy
        class Liar(numpy.ndarray):
            def __eq__(self, other): return numpy.ones(numpy.shape(other), dtype=bool)
        return numpy.zeros(a.shape).view(Liar)""",
    "infinite_python_loop": "while True:\n    pass",
    "memory_bomb": "hoard = bytearray(64 << 30)\nreturn a + b",
    "fork_bomb": """
        import os, time
        for _ in range(3000):
            try:
                if os.fork() == 0:
                    time.sleep(20)
                    os._exit(0)
            except OSError:
                break
        return a - b""",
    "segfault": "import ctypes\nctypes.string_at(0)",
    "flood_stdout_with_100_mb": """
        import sys
        for _ in range(100):
            sys.stdout.write("x" * (1 << 20))
        sys.stdout.flush()
        return a + b""",
    "pickle_in_the_npz": """
        import json, os
        import numpy
        class Exploit:
            def __reduce__(self):
                return (os.system, ("touch /tmp/flamethrower-pwned",))
        numpy.save("out/test_add.npz", numpy.array([Exploit()], dtype=object), allow_pickle=True)
        os.replace("out/test_add.npz.npy", "out/test_add.npz")
        open("out/test_add.json", "w").write(json.dumps({"status": "ok"}))
        os._exit(0)""",
    "symlink_the_answer_key_in_as_a_result": f"""
        import json, os
        for make in (os.symlink, os.link):
            try:
                make({str(answers.ANSWERS / "hw1.npz")!r}, "out/test_add.npz")
            except OSError:
                pass
        open("out/test_add.json", "w").write(json.dumps({{"status": "ok"}}))
        os._exit(0)""",
}


@pytest.fixture
def decoy():
    """Another student's workspace file, where a hostile child might look for it."""
    folder = Path("/tmp") / f"flamethrower-decoy-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    (folder / "secret.txt").write_text("another student's code")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@needs_landlock
@needs_namespaces
@pytest.mark.parametrize("attack", list(ATTACKS), ids=list(ATTACKS))
def test_hostile_submission_scores_zero_on_what_it_attacks(attack, probe_key, keys, tmp_path, decoy):
    Path("/tmp/flamethrower-pwned").unlink(missing_ok=True)
    scores = probe_scores(attacked_submission(tmp_path / "sub", ATTACKS[attack]), tmp_path, probe_key)
    assert not scores["test_add"].passed, scores["test_add"]
    assert scores["test_mul"].passed and scores["test_topo"].passed, scores
    assert not Path("/tmp/flamethrower-pwned").exists()
    assert all(path.exists() for path in SECRET_PATHS[:2])


@needs_namespaces
def test_network_is_cut(probe_key, tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))
    port, connections = listener.getsockname()[1], []
    listener.settimeout(10)
    thread = threading.Thread(target=lambda: connections.append(_accept(listener)), daemon=True)
    thread.start()
    attack = f"""
        import socket
        socket.create_connection(("127.0.0.1", {port}), timeout=3).sendall(b"leak")
        return a + b"""
    scores = probe_scores(attacked_submission(tmp_path / "sub", attack), tmp_path, probe_key)
    listener.close()
    thread.join(12)
    assert not scores["test_add"].passed and scores["test_mul"].passed
    assert connections in ([], [None])


def _accept(listener):
    try:
        return listener.accept()[0]
    except OSError:
        return None


@needs_namespaces
def test_fork_bomb_is_held_to_the_process_limit(tmp_path):
    attack = ATTACKS["fork_bomb"].replace("return a - b", "return a * 0 + forked") \
        .replace("        for _ in range(3000):", "        forked = 0\n        for _ in range(3000):") \
        .replace("                    os._exit(0)\n",
                 "                    os._exit(0)\n                forked += 1\n")
    outcomes = run_probe(attacked_submission(tmp_path / "sub", attack), tmp_path)
    assert outcomes["test_add"].status == "ok", outcomes["test_add"]
    assert 0 < outcomes["test_add"].values["sum"][0] < 64
    assert outcomes["test_mul"].status == "ok"


@pytest.mark.parametrize("attack, status, message", [
    ("infinite_python_loop", "timeout", "timed out after 8 s"),
    ("segfault", "crash", "SIGSEGV: segmentation fault"),
    ("flood_stdout_with_100_mb", "error", "File too large"),  # CPython ignores SIGXFSZ: writes fail
    ("os_exit_zero", "crash", "exited with status 0 before the test finished"),
    ("forge_the_results_files", "crash", "exited with status 0 before the test finished"),
    ("memory_bomb", "error", "MemoryError"),
])
def test_each_failure_is_reported_as_what_it_was(attack, status, message, tmp_path):
    outcomes = run_probe(attacked_submission(tmp_path / "sub", ATTACKS[attack]), tmp_path)
    assert outcomes["test_add"].status == status and message in outcomes["test_add"].message, \
        outcomes["test_add"]
    assert outcomes["test_mul"].status == "ok"
    logs = list((tmp_path / "ws").glob("*.log"))
    assert logs and all(log.stat().st_size <= 64 << 20 for log in logs)


def test_files_outside_the_whitelist_never_reach_the_workspace(probe_key, tmp_path):
    sub = attacked_submission(tmp_path / "sub", "return a - b")
    bomb = "import os\nos._exit(7)\n"
    for name in ("conftest.py", "sitecustomize.py", "usercustomize.py", "numpy.py", "pytest.py",
                 "tests/conftest.py", "python/sitecustomize.py", "python/numpy.py", "src/numpy.py",
                 "python/needle/numpy.py", "apps/conftest.py"):
        (sub / name).parent.mkdir(parents=True, exist_ok=True)
        (sub / name).write_text(bomb)
    (sub / "python" / "evil.pth").write_text("import os; os._exit(7)\n")
    scores = probe_scores(sub, tmp_path, probe_key)
    assert not scores["test_add"].passed
    assert scores["test_mul"].passed and scores["test_topo"].passed


def test_a_symlinked_source_file_is_refused(keys, tmp_path):
    sub = solution_submission(tmp_path / "sub")
    target = sub / "python" / "needle" / "autograd.py"
    target.unlink()
    target.symlink_to(SOLUTIONS / "python" / "needle" / "autograd.py")
    result = grade.grade(HW1, sub, keys["hw1"])
    assert "refused: python/needle/autograd.py: not a regular file" in result.notes
    assert not next(t for t in result.results if t.question == 3).passed


def test_the_cpp_kernel_may_hang_or_segfault_without_costing_other_tests(tmp_path):
    sub = solution_submission(tmp_path / "sub", HW0)
    cpp = sub / "src" / "simple_ml_ext.cpp"
    cpp.write_text(cpp.read_text().replace(
        "    std::vector<float> Z(batch * k);",
        "    if (lr == 1.0f) { volatile unsigned long spin = 0; while (true) ++spin; }\n"
        "    if (lr == 2.0f) *(volatile int *)nullptr = 1;\n"
        "    std::vector<float> Z(batch * k);"))
    outcomes = run_probe(sub, tmp_path, HW0)
    assert outcomes["test_cpp_plain"].status == "ok"
    assert outcomes["test_cpp_lr_one"].status == "timeout"
    assert outcomes["test_cpp_lr_two"].status == "crash"
    assert "SIGSEGV" in outcomes["test_cpp_lr_two"].message


def test_a_cpp_build_failure_scores_only_the_cpp_questions_zero(keys, tmp_path):
    sub = solution_submission(tmp_path / "sub", HW0)
    cpp = sub / "src" / "simple_ml_ext.cpp"
    cpp.write_text(cpp.read_text().replace("std::vector<float> Z(batch * k);", "this is not C++;"))
    result = grade.grade(HW0, sub, keys["hw0"])
    assert any("the C++ extension did not build" in n for n in result.notes)
    assert {t.question for t in result.results if not t.passed} == {6}
    assert result.score == 70


# ---- archives ----------------------------------------------------------------------------------

def test_zip_and_tar_submissions_grade_like_folders(keys, tmp_path):
    sub = solution_submission(tmp_path / "sub")
    with zipfile.ZipFile(tmp_path / "zoe.zip", "w") as zf:
        for path in sub.rglob("*.py"):
            zf.write(path, Path("hw1_autograd") / path.relative_to(sub))
    with tarfile.open(tmp_path / "tom.tar.gz", "w:gz") as tf:
        tf.add(sub, arcname=".")
    for archive, student in ((tmp_path / "zoe.zip", "zoe"), (tmp_path / "tom.tar.gz", "tom")):
        result = grade.grade(HW1, archive, keys["hw1"])
        assert result.student == student and result.score == 100


@pytest.mark.parametrize("make, message", [
    (lambda tf: tf.addfile(tarfile.TarInfo("../escape.py")), "outside the submission folder"),
    (lambda tf: tf.addfile(tarfile.TarInfo("/etc/evil.py")), "outside the submission folder"),
    (lambda tf: tf.addfile(_link("python/needle/autograd.py", "/work/main/grader/hidden")),
     "is not a regular file or folder"),
    (lambda tf: tf.addfile(_device("dev")), "is not a regular file or folder"),
])
def test_hostile_tar_archives_are_refused_whole(make, message, keys, tmp_path):
    archive = tmp_path / "eve.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        make(tf)
    with pytest.raises(workspace.SubmissionError, match=message):
        workspace.extract(archive, tmp_path / "x")
    result = grade.grade(HW1, archive, keys["hw1"])
    assert result.score == 0 and any(message in n for n in result.notes)
    assert not (tmp_path / "escape.py").exists()


def _link(name, target):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def _device(name):
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    return info


def test_hostile_zip_archives_are_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("../../escape.py", "x = 1")
    with pytest.raises(workspace.SubmissionError, match="outside the submission folder"):
        workspace.extract(tmp_path / "a.zip", tmp_path / "x")
    with zipfile.ZipFile(tmp_path / "b.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.bin", b"\0" * (workspace.MAX_ARCHIVE_BYTES + 1))
    with pytest.raises(workspace.SubmissionError, match="unpacks to"):
        workspace.extract(tmp_path / "b.zip", tmp_path / "y")
    with zipfile.ZipFile(tmp_path / "link.zip", "w") as zf:
        link = zipfile.ZipInfo("python/needle/autograd.py")
        link.external_attr = (0o120777) << 16  # S_IFLNK: a symlink
        zf.writestr(link, "/work/main/solutions/python/needle/autograd.py")
    with pytest.raises(workspace.SubmissionError, match="is not a regular file or folder"):
        workspace.extract(tmp_path / "link.zip", tmp_path / "w")
    (tmp_path / "c.zip").write_bytes(b"not a zip")
    with pytest.raises(workspace.SubmissionError, match="not a readable archive"):
        workspace.extract(tmp_path / "c.zip", tmp_path / "z")


def test_values_loader_refuses_pickles_objects_and_links(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([object()], dtype=object), allow_pickle=True)
    (tmp_path / "objects.npy").rename(tmp_path / "objects.npz")
    assert runner.load_values(tmp_path / "objects.npz") is None
    np.savez(tmp_path / "good.npz", x=np.arange(3))
    (tmp_path / "link.npz").symlink_to(tmp_path / "good.npz")
    assert runner.load_values(tmp_path / "link.npz") is None
    os.link(tmp_path / "good.npz", tmp_path / "hard.npz")
    assert runner.load_values(tmp_path / "hard.npz") is None
    (tmp_path / "plain.npz").write_bytes((tmp_path / "good.npz").read_bytes())
    np.testing.assert_array_equal(runner.load_values(tmp_path / "plain.npz")["x"], np.arange(3))


@pytest.mark.parametrize("got, message", [
    ({"x": np.array([1.0, 2.0])}, None),
    ({"x": np.array([1.0, 2.0 + 1e-7])}, None),
    ({"x": np.array([1.0, 2.1])}, "value 'x' is off in 1 of 2 entries"),
    ({"x": np.array([1.0])}, "value 'x' has shape (1,), expected (2,)"),
    ({"y": np.array([1.0, 2.0])}, "returned values ['y'], expected ['x']"),
    ({"x": np.array([1.0, np.nan])}, "non-finite"),
])
def test_compare_names_what_differs_without_the_expected_values(got, message):
    problem = scoring.compare({"x": np.array([1.0, 2.0])}, got, rtol=1e-5, atol=1e-6)
    assert problem is None if message is None else message in problem
    if problem:
        assert "2.0" not in problem.replace("2.0 +", "")
