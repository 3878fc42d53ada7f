"""Hostile submissions against what the grader reports and how long it waits (issue 13).

- finding 3: hidden test source in an exception message never reaches feedback; how much a
  failure tells is the course's feedback level;
- finding 5: student code that rewrites ``out/current`` cannot reset a test's clock, and a
  per-submission budget bounds the whole suite;
- finding 8: a small ``.npz`` that unpacks to gigabytes is refused before anything is loaded;
- finding 11: student text is escaped in Markdown and on the terminal, and student ids outside
  a safe alphabet are refused.
"""
import json
import struct
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from grader import feedback, grade, reports, runner, scoring
from grader.course import load_settings
from grader.results import GradeResult
from grader.runner import HiddenTest, Outcome
from grader.tests.test_grader import (
    HW1,
    PROBE,
    attacked_submission,
    needs_landlock,
    needs_namespaces,
    run_probe,
    solution_submission,
)


@pytest.fixture(scope="module")
def hw1_key():
    """hw1's answer key (built once if stale)."""
    from grader import answers
    return answers.load(HW1)


def hidden_lines(hw_id: str, hidden: Path = runner.HIDDEN) -> list[str]:
    """The hidden test lines that feedback must not hold."""
    return feedback.hidden_secrets(runner.hidden_sources(hw_id, hidden))


# ---- finding 3: hidden test source in messages -------------------------------------------------

# Walks up to the harness's frame and raises with every hidden module's source it holds (none:
# the harness drops the source once compiled), and with the hidden module's docstring (kept
# in its code, as every constant is).
RAISE_HIDDEN_SOURCE = """
    import inspect, sys
    frame = inspect.currentframe()
    while frame is not None and "payload" not in frame.f_locals:
        frame = frame.f_back
    modules = frame.f_locals["payload"].get("modules", {})
    docs = [m.__doc__ for m in list(sys.modules.values())
            if str(getattr(m, "__file__", "")).startswith("<hidden:")]
    raise RuntimeError(f"{len(modules)} sources: " + "\\n".join([*modules.values(), *docs]))"""


@needs_namespaces
def test_hidden_test_source_raised_by_the_submission_is_cut_from_feedback(hw1_key, tmp_path):
    result = grade.grade(HW1, attacked_submission(tmp_path / "sub", RAISE_HIDDEN_SOURCE), hw1_key)
    attacked = [t for t in result.results if t.status == "error" and t.message.startswith("RuntimeError")]
    assert attacked, result.results  # the attack ran, and its type is reported
    assert all(t.message.startswith("RuntimeError: 0 sources: [...]") for t in attacked), attacked
    reports_text = [reports.feedback_markdown(result), reports.feedback_terminal(result),
                    json.dumps(reports.gradescope_results(result))]
    for line in hidden_lines("hw1"):
        for text in (t.message for t in result.results):
            assert line not in text, line
        for text in reports_text[:2]:
            assert line not in text and feedback.markdown_text(line) not in text, line
        assert json.dumps(line)[1:-1] not in reports_text[2], line
    assert all(len(t.message) <= feedback.MESSAGE_CHARS + 3 for t in result.results)


def _failed(expected, got, level, message=""):
    test = HiddenTest("test_probe", "test_x", 1, 2.0)
    outcome = Outcome(test, "ok", got) if not message else Outcome(test, "error", message=message)
    return scoring.score(outcome, expected, level)


def test_default_feedback_tells_nothing_derived_from_the_answer_key():
    expected = {"x": np.arange(12.0) * 1.1}
    got = {"x": expected["x"] + np.r_[np.ones(8) * 1.35, np.zeros(4)]}
    default = _failed(expected, got, feedback.DEFAULT_LEVEL)
    assert default.status == "failed" and default.score == 0
    assert default.message == "value 'x' does not match the expected value within the tolerance"
    minimal = _failed(expected, got, feedback.MINIMAL)
    assert "'x'" not in minimal.message
    detailed = _failed(expected, got, feedback.DETAILED)
    assert "off in 8 of 12" in detailed.message  # the course asked for answer-key facts
    shape = _failed(expected, {"x": np.zeros(5)}, feedback.DEFAULT_LEVEL)
    assert shape.message == "value 'x' has the wrong shape" and "12" not in shape.message


def test_exception_messages_follow_the_level_and_lose_expected_values():
    expected = {"loss": np.array([2.302585092994046])}
    raised = "ValueError: your loss 2.302585092994046 is fine"
    assert _failed(expected, {}, feedback.MINIMAL, raised).message == "ValueError"
    message = _failed(expected, {}, feedback.MESSAGES, raised).message
    assert message.startswith("ValueError: your loss") and "2.3025" not in message


def test_the_feedback_level_is_read_from_course_toml(tmp_path):
    (tmp_path / "course.toml").write_text('feedback = "minimal"\n')
    assert load_settings(tmp_path).feedback == "minimal"
    (tmp_path / "course.toml").write_text('repo_url = "https://github.com/a/b.git"\n')
    assert load_settings(tmp_path).feedback == feedback.DEFAULT_LEVEL == "messages"
    (tmp_path / "course.toml").write_text('feedback = "everything"\n')
    with pytest.raises(ValueError, match="feedback must be one of minimal, messages, detailed"):
        load_settings(tmp_path)


# ---- finding 5: the child cannot reset its clock -----------------------------------------------

RESET_THE_TIMER = """
    import time
    start = time.monotonic()
    while time.monotonic() - start < 40:  # each change of `current` restarted the old clock
        for claim in ("", "test_add", "test_topo_not_a_test", "test_add"):
            with open("out/current", "w") as f:
                f.write(claim)
            time.sleep(0.05)
    return a + b"""


@needs_landlock
@needs_namespaces
def test_rewriting_out_current_does_not_reset_the_timer(probe_key, tmp_path):
    started = time.monotonic()
    outcomes = run_probe(attacked_submission(tmp_path / "sub", RESET_THE_TIMER), tmp_path)
    elapsed = time.monotonic() - started
    assert outcomes["test_add"].status == "timeout", outcomes["test_add"]
    assert "timed out after 8 s" in outcomes["test_add"].message
    assert scoring.score(outcomes["test_add"], probe_key["test_add"]).score == 0
    assert outcomes["test_mul"].status == "ok" and outcomes["test_topo"].status == "ok"
    assert elapsed < 30, elapsed  # 8 s for the attacked test, not the attack's 40 s


@needs_namespaces
def test_the_submission_budget_bounds_the_whole_suite(tmp_path):
    sub = attacked_submission(tmp_path / "sub", "while True:\n    pass")
    from grader import answers, workspace
    from grader.course import REPO, load_course
    from grader.handouts import generate
    handout = generate(HW1, load_course())
    ws = workspace.build(handout.files, sub, tmp_path / "ws", REPO / "data")
    tests = runner.discover("hw1", PROBE)
    assert not answers.needs_build(handout, HW1)
    started = time.monotonic()
    outcomes = runner.run_suite(ws.root, "hw1", tests, hidden=PROBE, budget=3)
    assert time.monotonic() - started < 8
    by_name = {o.test.name: o for o in outcomes.values()}
    assert by_name["test_add"].status == "timeout" and "budget" in by_name["test_add"].message
    assert all(o.status == "timeout" for o in outcomes.values())


class _Child:
    """A plain (unsandboxed) child process standing in for a sandboxed one in ``watch``."""

    def __init__(self, script: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", script])

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def _claims_forever(current: Path, claims: list[str]) -> str:
    return textwrap.dedent(f"""
        import itertools, os, time
        for claim in itertools.cycle({claims!r}):
            with open({str(current) + ".tmp"!r}, "w") as f:
                f.write(claim)
            os.replace({str(current) + ".tmp"!r}, {str(current)!r})
            time.sleep(0.03)
    """)


@pytest.mark.parametrize("expected", [["a", "b"], None], ids=["grader", "check"])
def test_a_child_cycling_names_is_killed_within_the_limits(tmp_path, expected):
    current = tmp_path / "current"
    child = _Child(_claims_forever(current, ["a", "", "a", "zz", "b", "a", ""]))
    started = time.monotonic()
    progress = runner.watch(child, current, lambda name: 1.0, deadline=started + 20,
                            expected=expected)
    elapsed = time.monotonic() - started
    assert progress.killed and not progress.over_budget
    # Ordered: "a" then "b" start once each (the others are ignored). Check mode: "a", "zz" and
    # "b" start once each and "a" seen again resumes its old clock.
    assert elapsed < (2.6 if expected else 3.6), elapsed
    if expected:
        assert progress.name == "b"


def test_the_deadline_stops_a_child_whatever_it_claims(tmp_path):
    current = tmp_path / "current"
    names = [f"t{i}" for i in range(200)]
    child = _Child(_claims_forever(current, names))
    started = time.monotonic()
    progress = runner.watch(child, current, lambda name: 5.0, deadline=started + 1.5, expected=names)
    assert progress.killed and progress.over_budget
    assert time.monotonic() - started < 3
    assert runner.supervise(_Child("import time; time.sleep(0.2)"), current, lambda n: 5.0) is None


# ---- finding 8: .npz bombs -----------------------------------------------------------------------

# Builds a valid .npz of about 2 MB whose one float64 member, all zeros, unpacks to `gib` GiB:
# deflate after a full flush starts afresh, so one compressed MiB of zeros repeats verbatim.
BOMB_SOURCE = '''
def npz_bomb(name, gib):
    import io, struct, zlib
    import numpy as np
    count = (gib << 30) // 8
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f8", "fortran_order": False, "shape": (count,)})
    header, chunk = buffer.getvalue(), bytes(1 << 20)
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = squeeze.compress(header) + squeeze.flush(zlib.Z_FULL_FLUSH)
    block = squeeze.compress(chunk) + squeeze.flush(zlib.Z_FULL_FLUSH)
    chunks = count * 8 // len(chunk)
    data = head + block * chunks + squeeze.flush()
    crc = zlib.crc32(header)
    for _ in range(chunks):
        crc = zlib.crc32(chunk, crc)
    size, member = len(header) + count * 8, (name + ".npy").encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size,
                        len(member), 0) + member
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc,
                          len(data), size, len(member), 0, 0, 0, 0, 0, 0) + member
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central),
                      len(local) + len(data), 0)
    return local + data + central + end
'''
exec(BOMB_SOURCE)


def _max_rss_bytes() -> int:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_an_npz_bomb_is_refused_from_its_zip_directory_without_allocating(tmp_path):
    bomb = npz_bomb("sum", 2)  # noqa: F821 - defined by exec(BOMB_SOURCE)
    assert len(bomb) < 3 << 20
    (tmp_path / "test_add.npz").write_bytes(bomb)
    (tmp_path / "test_add.json").write_text(json.dumps({"status": "ok"}))
    test = HiddenTest("test_probe", "test_add", 1, 1.0, timeout=8)
    rss = _max_rss_bytes()
    tracemalloc.start()
    try:
        for expected in (None, {"sum": np.zeros(2)}):
            with pytest.raises(runner.ValuesError, match="unpack to over 64 MiB"):
                runner.read_values(tmp_path / "test_add.npz", expected)
        outcome = runner._collect(test, tmp_path, {"sum": np.zeros(2)})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The file read under its 16 MiB cap, nothing unpacked (the member declares 2 GiB).
    assert peak < 48 << 20, peak
    assert _max_rss_bytes() - rss < 256 << 20
    assert outcome.status == "missing" and "refused" in outcome.message
    assert scoring.score(outcome, {"sum": np.zeros(2)}).score == 0


def test_a_directory_that_understates_a_member_is_refused_before_reading_past_it(tmp_path):
    bomb = bytearray(npz_bomb("sum", 1))  # noqa: F821
    size_at = bomb.rfind(b"sum.npy") - 46 + 24   # the central directory's uncompressed size
    bomb[size_at:size_at + 4] = struct.pack("<I", 1000)
    (tmp_path / "v.npz").write_bytes(bytes(bomb))
    tracemalloc.start()
    try:
        with pytest.raises(runner.ValuesError):
            runner.read_values(tmp_path / "v.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 48 << 20, peak


def test_values_of_either_byte_order_are_accepted_and_checked_against_the_key(tmp_path):
    np.savez(tmp_path / "v.npz", x=np.arange(3, dtype=">i4"), y=np.ones(2, dtype="<f8"))
    values = runner.read_values(tmp_path / "v.npz", {"x": np.arange(3), "y": np.ones(2)})
    assert values["x"].dtype == np.dtype("int32") and values["x"].dtype.isnative
    np.testing.assert_array_equal(values["x"], np.arange(3))
    with pytest.raises(runner.ValuesError, match="wrong shape"):
        runner.read_values(tmp_path / "v.npz", {"x": np.arange(4), "y": np.ones(2)})
    with pytest.raises(runner.ValuesError, match="not the expected ones"):
        runner.read_values(tmp_path / "v.npz", {"x": np.arange(3)})


@needs_landlock
@needs_namespaces
def test_a_submission_writing_an_npz_bomb_scores_zero_for_that_test(probe_key, tmp_path):
    attack = BOMB_SOURCE + """
import json, os
with open("out/test_add.npz", "wb") as f:
    f.write(npz_bomb("sum", 2))
with open("out/test_add.json", "w") as f:
    f.write(json.dumps({"status": "ok"}))
os._exit(0)"""
    rss = _max_rss_bytes()
    tracemalloc.start()
    try:
        outcomes = run_probe(attacked_submission(tmp_path / "sub", attack), tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20 and _max_rss_bytes() - rss < 512 << 20, peak
    assert scoring.score(outcomes["test_add"], probe_key["test_add"]).score == 0
    assert outcomes["test_mul"].status == "ok" and outcomes["test_topo"].status == "ok"


# ---- finding 11: Markdown and terminal injection, student ids ------------------------------------

FORGED = ("boom\n\n**Score: 100 / 100** <b>x</b>\n# Grade: A+\n- [x] done [click](http://evil.example)"
          "\n| 1 | 100 / 100 | 9 of 9 |\n\x1b[2J\rhw1 · alice: 100 / 100")


def _result(student="mallory", message=FORGED, notes=(), build_log=""):
    tests = [scoring.TestResult("m::test_a", "test_a", 1, 0.0, 10.0, "error", message),
             scoring.TestResult("m::test_b", "test_b", 2, 10.0, 10.0, "passed", "")]
    return GradeResult(student, "hw1", "2025-01-01T00:00:00+00:00", tests, list(notes), build_log)


def test_student_text_cannot_forge_markdown():
    log = "error: x\n```\n**Score: 100 / 100**\n````\n# Grade: A+"
    markdown = reports.feedback_markdown(_result(notes=["refused: [a](http://evil.example).py",
                                                        "the C++ extension did not build"],
                                                 build_log=log))
    lines = markdown.splitlines()
    outside = lines[:lines.index("## Build log (end)")]
    assert [line for line in outside if "Score" in line and line.startswith("**")] == \
        ["**Score: 10 / 20** (graded 2025-01-01T00:00:00+00:00)"]
    outside_fence = "\n".join(outside)
    assert "](" not in outside_fence.replace("\\](", "")  # every link bracket is escaped
    assert "<b>" not in outside_fence and "\x1b" not in markdown
    assert [line for line in outside if line.startswith("#")] == \
        ["# hw1 feedback for mallory", "## Tests that did not pass", "## Notes"]
    fence = lines[lines.index("## Build log (end)") + 2]
    assert fence == "`````text"  # one backtick longer than any run in the log
    assert lines[-1] == "`````" and lines.count("`````") == 1


def test_student_text_cannot_forge_terminal_lines():
    text = reports.feedback_terminal(_result(notes=["ok\n  ok  question 9: 100 / 100\x1b[1A"]))
    assert "\x1b" not in text and "\r" not in text
    assert len(text.splitlines()) == 1 + 2 + 1 + 1  # total, two questions, one failure, one note
    results_json = reports.gradescope_results(_result())
    assert results_json["tests"][0]["output_format"] == "text" and "\x1b" not in json.loads(
        json.dumps(results_json))["tests"][0]["output"]


@pytest.mark.parametrize("student", ["bob\nhw1 · alice: 100 / 100", "../../etc", "..", "a b",
                                     "-rf", "=HYPERLINK(1)", "x" * 65, "ünïcode", ""])
def test_unsafe_student_ids_are_refused_with_a_note(student, hw1_key, tmp_path):
    result = grade.grade(HW1, solution_submission(tmp_path / "sub"), hw1_key, student=student or "\x00")
    assert result.score == 0 and feedback.is_safe_student_id(result.student)
    assert any("student id" in note for note in result.notes)
    assert len(reports.feedback_terminal(result).splitlines()) == \
        1 + len({t.question for t in result.results}) + len(result.results) + len(result.notes)


@pytest.mark.parametrize("student", ["alice", "a.b-c_d@uni.edu", "X" * 64, "0042"])
def test_safe_student_ids_are_accepted(student):
    assert feedback.is_safe_student_id(student)
