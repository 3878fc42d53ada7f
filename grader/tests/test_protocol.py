"""The runner-harness protocol (``grader.protocol``): round trips, and hostile files refused.

The harness side runs student code, which can write every file the parent reads back; these
tests check that whatever it writes comes back as a typed value or a clear ``ProtocolError``
(naming the field, never echoing the content), and that the supervisor turns such a file into
a "missing" outcome rather than an exception.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader import protocol, sandbox, supervision
from grader.discovery import HiddenTest
from grader.protocol import Confinement, HarnessReport, ProtocolError, Suite, TestStatus

SUITE = Suite("/ws/out", "test_mod", ["test_a", "test_b"], {"_helper": "X = 1\n", "test_mod": "Y = 2\n"},
              {"mnist_dir": "/ws/data/mnist", "tmp_dir": "/ws/tmp", "seed": 7}, ["/ws/python", "/ws"])
CONFINEMENT = Confinement("/ws", True, ["/usr"], ["/ws", "/dev/null"], ["/tmp"], ["/ws"],
                          "size=64m", 65534, 65534)


@pytest.mark.parametrize("message", [
    SUITE, Suite("/out", "m", [], {}, {}), CONFINEMENT, Confinement("/ws", False, [], []),
    TestStatus(True), TestStatus(False, "ValueError: bad", "ops.py:12"),
    HarnessReport(6, 65534, ["bpf", "keyctl"]),
])
def test_every_message_survives_a_round_trip_through_json_text(message):
    text = json.dumps(message.to_json())
    assert type(message).from_json(protocol.loads(text)) == message
    assert type(message).from_json(protocol.loads(text.encode())) == message


def test_the_request_holds_a_suite_and_its_confinement_side_by_side():
    request = json.loads(json.dumps({**SUITE.to_json(), protocol.CONFINEMENT: CONFINEMENT.to_json()}))
    assert Confinement.from_json(request.pop(protocol.CONFINEMENT)) == CONFINEMENT
    assert Suite.from_json(request) == SUITE


def test_an_ok_status_is_written_as_the_harness_always_wrote_it():
    assert TestStatus(True).to_json() == {"status": "ok"}
    assert TestStatus.from_json({"status": "error"}) == TestStatus(False, "the test raised", "")


def test_file_names_are_defined_once():
    assert protocol.status_file("test_a") == "test_a.json"
    assert protocol.values_file("test_a") == "test_a.npz"
    assert protocol.CURRENT == "current"


SECRET = "hidden-5b2c41"  # a value that an error must never echo


@pytest.mark.parametrize("data, field", [
    ([SECRET], "not a JSON object"),
    ({"status": SECRET}, "'status' is neither"),
    ({"status": 1}, "'status' is not of type str"),
    ({"status": True}, "'status' is not of type str"),
    ({"status": "error", "error": [SECRET]}, "'error' is not of type str"),
    ({"status": "error", "where": {"x": SECRET}}, "'where' is not of type str"),
    ({}, "'status' is missing"),
    ({1: SECRET}, "not a JSON object"),
])
def test_a_malformed_status_is_refused_naming_the_field_never_the_content(data, field):
    with pytest.raises(ProtocolError, match=field) as refused:
        TestStatus.from_json(data)
    assert SECRET not in str(refused.value)


@pytest.mark.parametrize("change, field", [
    ({"tests": "test_a"}, "'tests' is not of type list"),
    ({"tests": ["test_a", 3]}, "'tests' is not a list of strings"),
    ({"modules": {"m": 1}}, "'modules' is not a map"),
    ({"fixtures": {"seed": 1.5}}, "'fixtures' is not a map"),
    ({"fixtures": {"seed": [SECRET]}}, "'fixtures' is not a map"),
    ({"out": None}, "'out' is not of type str"),
])
def test_a_malformed_suite_is_refused(change, field):
    with pytest.raises(ProtocolError, match=field) as refused:
        Suite.from_json({**SUITE.to_json(), **change})
    assert SECRET not in str(refused.value)


@pytest.mark.parametrize("change, field", [
    ({"uid": True}, "'uid' is not of type int"), ({"uid": "0"}, "'uid' is not of type int"),
    ({"landlock": 1}, "'landlock' is not of type bool"), ({"read": "/"}, "'read' is not of type list"),
])
def test_a_malformed_confinement_is_refused(change, field):
    with pytest.raises(ProtocolError, match=field):
        Confinement.from_json({**CONFINEMENT.to_json(), **change})


def test_text_that_is_not_json_is_refused():
    for raw in (b"\xff\xfe", b"{", b"", SECRET.encode()):
        with pytest.raises(ProtocolError, match="not JSON text") as refused:
            protocol.loads(raw)
        assert SECRET not in str(refused.value)


TEST = HiddenTest("test_mod", "test_a", 1, 1.0)


@pytest.mark.parametrize("raw", [b"[]", b"{\"status\": \"ok\"", b"\x00" * 100, json.dumps(
    {"status": "error", "error": {"a": SECRET}}).encode(), json.dumps({"status": SECRET}).encode()])
def test_a_forged_status_file_scores_missing_with_a_clear_note(tmp_path, raw):
    (tmp_path / protocol.status_file(TEST.name)).write_bytes(raw)
    outcome = supervision._collect(TEST, tmp_path)
    assert outcome is not None and outcome.status == "missing"
    assert outcome.message.startswith("the test's status file is unreadable: ")
    assert SECRET not in outcome.message


def test_a_status_file_over_its_cap_is_ignored(tmp_path):
    padding = " " * protocol.MAX_STATUS_BYTES
    (tmp_path / protocol.status_file(TEST.name)).write_text('{"status": "ok"}' + padding)
    assert supervision._collect(TEST, tmp_path) is None  # as if it wrote none: the test is settled later


def test_a_long_error_is_cut_to_its_bound(tmp_path):
    status = {"status": "error", "error": "E" * 5000, "where": "w" * 500}
    (tmp_path / protocol.status_file(TEST.name)).write_text(json.dumps(status))
    outcome = supervision._collect(TEST, tmp_path)
    assert outcome is not None and outcome.status == "error"
    assert outcome.message == "E" * protocol.MAX_ERROR_CHARS + f" (at {'w' * protocol.MAX_WHERE_CHARS})"


def test_the_harness_program_runs_protocol_and_harness_from_text(tmp_path):
    """The sandbox's bootstrap gives the harness ``grader.protocol`` without reading the grader's
    files: run here unconfined (no Landlock, no uid change), it runs a one-test suite."""
    suite = Suite(str(tmp_path), "test_mod", ["test_one"],
                  {"test_mod": "def test_one(seed):\n    return {'x': [seed]}\n"}, {"seed": 3})
    confinement = Confinement(str(tmp_path), False, [], [])
    request = {**suite.to_json(), protocol.CONFINEMENT: confinement.to_json()}
    done = subprocess.run([sys.executable, "-I", "-c", sandbox.harness_program()], cwd=Path("/"),
                          input=json.dumps(request), text=True, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert TestStatus.from_json(protocol.loads((tmp_path / "test_one.json").read_bytes())).ok
    report = HarnessReport.from_json(protocol.loads((tmp_path / protocol.HARNESS_REPORT).read_bytes()))
    assert report.landlock == 0
    assert (tmp_path / protocol.CURRENT).read_text() == ""
