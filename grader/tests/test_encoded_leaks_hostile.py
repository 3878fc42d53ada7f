"""Hostile submissions that leak hidden test source in an encoded form (issue 13, finding 3).

Student code runs in the hidden test's process. These tests check, end to end and piece by
piece, that

- the sandboxed harness drops the hidden source once it is compiled: frames, the payload,
  ``gc``, ``inspect`` and ``linecache`` find none of it (the code objects remain, by design);
- an exception type is shown only if it is a builtin one, so a type named with 4 KB of base64
  carries nothing;
- a message loses the hidden source however it is written: literally, reversed, in ROT13 or
  another letter case, or as a long token of base64, hex, base32, base85 or escaped
  compressed bytes, while ordinary error messages come through whole;
- feedback.md and results.json hold no hidden line, no long encoded run, and nothing that
  decodes to hidden source.
"""
import base64
import binascii
import codecs
import contextlib
import json
import re
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from grader import feedback, grade, harness, reports, runner, scoring
from grader.runner import HiddenTest, Outcome
from grader.tests.test_grader import HW1, attacked_submission, needs_namespaces

REPO = Path(__file__).resolve().parents[2]
HW1_SOURCE = "\n".join(runner.hidden_sources("hw1"))
HW1_SECRETS = feedback.hidden_secrets(runner.hidden_sources("hw1"))


@pytest.fixture(scope="module")
def hw1_key():
    """hw1's answer key (built once if stale)."""
    from grader import answers
    return answers.load(HW1)


# ---- what a leak check looks for -------------------------------------------------------------

# A run of GRAM characters of hidden source that spans two words is a leak (a test's name or
# a value's name alone is shown on purpose).
GRAM = 12
_HIDDEN_GRAMS = {gram.encode() for i in range(len(HW1_SOURCE) - GRAM)
                 if re.search(r"\w\W+\w", gram := HW1_SOURCE[i:i + GRAM])}


def _leaks_source(data: bytes) -> bool:
    """Whether ``data`` holds GRAM bytes in a row of hw1's hidden source."""
    return any(data[i:i + GRAM] in _HIDDEN_GRAMS for i in range(len(data) - GRAM + 1))


def _decodings(text: str) -> list[bytes]:
    """Every way to read each run of ``text`` that could be encoded (base64, URL-safe base64,
    base32, hex, base85, ascii85, each maybe zlib-compressed): what a student would try."""
    runs = re.findall(r"[A-Za-z0-9+/=_-]{16,}", text) + re.findall(r"[!-~]{16,}", text)
    decoded = []
    for run in runs:
        for decode in (base64.b64decode, base64.urlsafe_b64decode, base64.b32decode,
                       bytes.fromhex, base64.b85decode, base64.a85decode):
            for start in range(8):  # a run cut at any place inside a block
                piece = run[start:]
                for trim in range(8):
                    try:
                        data = decode(piece[:len(piece) - trim] if trim else piece)
                    except (ValueError, binascii.Error, TypeError):
                        continue
                    decoded.append(data)
                    with contextlib.suppress(zlib.error):
                        decoded.append(zlib.decompressobj().decompress(data))
    return decoded


def assert_no_hidden_source(*texts: str) -> None:
    """No hidden line, no long encoded run, nothing that decodes to hidden source."""
    for text in texts:
        for line in HW1_SECRETS:
            assert line not in text and feedback.markdown_text(line) not in text, line
            assert json.dumps(line)[1:-1] not in text, line
        assert not re.findall(r"[A-Za-z0-9+/=]{32,}", text)  # base64, hex, base32
        # escaped bytes: a token of 8 or more (32 characters) is cut; shorter runs of what the
        # submission chose to leak are the documented residue, not a failure
        assert all(len(re.findall(r"\\\\?x[0-9a-f]{2}", token)) < 8 for token in text.split())
        assert not _leaks_source(text.encode())
        assert not any(_leaks_source(data) for data in _decodings(text))


def test_the_leak_check_catches_each_encoding_of_hidden_source():
    """The checks above can fail: each encoding of a stretch of hidden source is caught."""
    chunk = HW1_SOURCE[HW1_SOURCE.index("def test_elementwise_forward"):][:300].encode()
    for encoded in (base64.b64encode(chunk).decode(), chunk.hex(),
                    base64.b32encode(zlib.compress(chunk)).decode(),
                    "data: " + base64.b85encode(chunk).decode()):
        with pytest.raises(AssertionError):
            assert_no_hidden_source(encoded)
    assert any(_leaks_source(d) for d in _decodings(base64.b64encode(chunk).decode()[5:60]))


# ---- the harness drops the source ------------------------------------------------------------

# A hidden module that looks for its own source where a submission could: the comment line
# below survives only in source text, never in a code object.
SCANNING_MODULE = '''
import gc
import inspect
import linecache
import sys

# only-in-source: 5b2c41 the harness must drop this line
KEPT = ["".join(["only-in-", "source: 5b2c41 kept on purpose"])]  # a live copy: the control


def test_scan():
    needle = "".join(["only-in-", "source: 5b2c41"])
    found = {"payload": 0, "frames": 0, "gc": 0, "inspect": 0, "linecache": 0}
    frame = inspect.currentframe()
    while frame is not None:
        for name, value in frame.f_locals.items():
            if name == "payload":
                found["payload"] += sum(needle in str(v) for v in value.values())
            elif isinstance(value, str) and needle in value and value is not needle:
                found["frames"] += 1
        frame = frame.f_back
    strings = [s for holder in gc.get_objects() for s in gc.get_referents(holder)
               if isinstance(s, str) and s is not needle and needle in s]
    found["gc"] = sum("the harness must drop" in s for s in strings)
    control = sum("kept on purpose" in s and "must drop" not in s for s in strings)
    try:
        found["inspect"] = int(needle in inspect.getsource(sys.modules[__name__]))
    except (OSError, TypeError):
        pass
    found["linecache"] = sum(needle in "".join(lines[2]) for name, lines in
                             list(linecache.cache.items()) if "hidden" in name)
    found["linecache"] += int(needle in "".join(linecache.getlines("<hidden:test_scanning>")))
    return {**found, "control": control, "code": len(test_scan.__code__.co_code)}
'''


def test_the_harness_drops_the_hidden_source_once_compiled(tmp_path):
    payload = {"out": str(tmp_path), "test_module": "test_scanning", "tests": ["test_scan"],
               "fixtures": {}, "modules": {"_helper": "X = 1\n", "test_scanning": SCANNING_MODULE}}
    run = ("import json, sys\nfrom grader import harness\n"
           "harness.run_tests(json.loads(sys.stdin.read()))")
    done = subprocess.run([sys.executable, "-c", run], input=json.dumps(payload), text=True,
                          cwd=REPO, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    status = json.loads((tmp_path / "test_scan.json").read_text())
    assert status == {"status": "ok"}, status
    with np.load(tmp_path / "test_scan.npz") as values:
        found = {name: values[name].item() for name in values.files}
    assert found["control"] == 1  # the scan finds a live string holding the marker...
    assert found["code"] > 0      # ...and the compiled code is there, as it must be
    assert {k: v for k, v in found.items() if k not in ("control", "code")} == \
        {"payload": 0, "frames": 0, "gc": 0, "inspect": 0, "linecache": 0}


class _Rigged(RuntimeError):
    pass


@pytest.mark.parametrize("error, shown", [
    (ValueError("x"), "ValueError"), (np.linalg.LinAlgError("x"), "ValueError"),
    (KeyboardInterrupt(), "KeyboardInterrupt"), (_Rigged("x"), "RuntimeError"),
    (type("QUFBQUFB" * 512, (Exception,), {})("x"), "Exception"),
])
def test_the_harness_names_the_nearest_builtin_exception_type(error, shown):
    assert harness._type_name(error) == shown


# ---- exception types ---------------------------------------------------------------------------

ENCODED_NAME = base64.b64encode(zlib.compress(HW1_SOURCE.encode())).decode()[:4096]


@pytest.mark.parametrize("message, shown_type, messages", [
    ("ValueError: bad shape", "ValueError", "ValueError: bad shape"),
    ("KeyboardInterrupt", "KeyboardInterrupt", "KeyboardInterrupt"),
    ("AxisError: axis 2 is out of bounds", "",
     "[exception type not shown]: axis 2 is out of bounds"),
    (ENCODED_NAME + ": boom", "", "[exception type not shown]: boom"),
    ("ValueError.x" + "A" * 60 + ": boom", "", "[exception type not shown]: boom"),
    ("not a type name: boom", "", "[exception type not shown]: boom"),
    ("ValueError", "ValueError", "ValueError"),
    ("no colon at all", "", "no colon at all"),
])
def test_only_builtin_exception_types_are_named(message, shown_type, messages):
    test = HiddenTest("test_probe", "test_x", 1, 2.0)
    outcome = Outcome(test, "error", message=message)
    assert feedback.exception_type(message) == shown_type
    assert scoring.score(outcome, {}, feedback.MINIMAL).message == \
        (shown_type or "the test raised an exception")
    assert scoring.score(outcome, {}, feedback.MESSAGES).message == messages


def test_runner_messages_that_look_like_a_type_are_left_alone():
    test = HiddenTest("test_probe", "test_x", 1, 2.0)
    stopped = "stopped: the submission's time budget ran out"
    assert scoring.score(Outcome(test, "timeout", message=stopped), {}).message == stopped


# ---- messages ------------------------------------------------------------------------------------

# Failure messages of the course's public tests (on the handout stubs and on mutated reference
# code) and of needle, NumPy and Python: each must reach the student whole.
ORDINARY = [
    "ValueError: operands could not be broadcast together with shapes (3,4) (5,)",
    "ValueError: operands could not be broadcast together with remapped shapes "
    "[original->remapped]: (4,3,2,5,3,7)->(4,3,2,newaxis,5,3,7) (7,)->(7,)",
    "ValueError: matmul: Input operand 1 has a mismatch in its core dimension 0, with gufunc "
    "signature (n?,k),(k,m?)->(n?,m?) (size 5 is different from 4)",
    "ValueError: cannot reshape array of size 12 into shape (5,7)",
    "ValueError: MatMul: shapes (2, 5) and (3, 4) do not multiply; expected (..., m, k) @ "
    "(..., k, n) with broadcastable batch axes",
    "ValueError: Summation.gradient returned None for input 0, which requires grad",
    "IndexError: index 9 is out of bounds for axis 1 with size 4 (at ndarray.py:245)",
    "TypeError: ufunc 'add' did not contain a loop with signature matching types "
    "(dtype('float64'), dtype('<U1')) -> None",
    "MemoryError: Unable to allocate 7.28 TiB for an array with shape (1000000, 1000000) and "
    "data type float64",
    "AttributeError: 'Tensor' object has no attribute 'nonexistent_attribute_for_a_student'",
    "AttributeError: module 'needle.backend_ndarray.ndarray_backend_cpu' has no attribute "
    "'ewise_maximum_broadcast'",
    "TypeError: MultiHeadAttentionLayer.forward() missing 1 required positional argument: 'mask'",
    "NotImplementedError: softmax_regression_epoch is not implemented (hw0, question 3)",
    "UnboundLocalError: cannot access local variable 'g' where it is not associated with a value",
    "FileNotFoundError: [Errno 2] No such file or directory: "
    "'/home/Alice/Downloads/CMU-DLSys/hw2/data/mnist/train-images-idx3-ubyte.gz'",
    "ImportError: cannot import name 'ndarray_backend_cpu' from partially initialized module "
    "'needle.backend_ndarray' (/work/grades/ws/python/needle/backend_ndarray/__init__.py)",
    "the process died (SIGSEGV: segmentation fault); its last output: Fatal Python error: "
    "Segmentation fault Current thread 0x00007f3a5c6f1740 (most recent call first)",
    "RuntimeError: CUDA error: an illegal memory access was encountered "
    "(cudaErrorIllegalAddress) in ndarray_backend_cuda.cu:412",
]


@pytest.mark.parametrize("message", ORDINARY)
def test_ordinary_messages_come_through_whole(message):
    assert len(message) <= feedback.MESSAGE_CHARS
    assert feedback.redact(message, HW1_SECRETS) == message
    test = HiddenTest("test_probe", "test_x", 1, 2.0)
    status = "crash" if message.startswith("the process") else "error"
    assert scoring.score(Outcome(test, status, message=message), {}, hidden=[HW1_SOURCE]).message \
        == message


def _rot13(text: str) -> str:
    return codecs.encode(text, "rot13")


ENCODINGS = {
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "urlsafe": lambda s: base64.urlsafe_b64encode(s.encode()).decode(),
    "base32": lambda s: base64.b32encode(s.encode()).decode(),
    "hex": lambda s: s.encode().hex(),
    "base85": lambda s: base64.b85encode(s.encode()).decode(),
    "ascii85": lambda s: base64.a85encode(s.encode()).decode(),
    "zlib-base64": lambda s: base64.b64encode(zlib.compress(s.encode())).decode(),
    "zlib-hex": lambda s: zlib.compress(s.encode()).hex(),
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("where", ["start", "middle"])
def test_hidden_source_encoded_into_a_message_is_cut(encoding, where):
    test = HiddenTest("test_probe", "test_x", 1, 2.0)
    start = 0 if where == "start" else HW1_SOURCE.index("def test_shape_ops_forward")
    encoded = ENCODINGS[encoding](HW1_SOURCE[start:start + 1500])
    outcome = Outcome(test, "error", message=f"RuntimeError: found it {encoded} (at ops.py:3)")
    for level in feedback.LEVELS:
        message = scoring.score(outcome, {}, level, hidden=runner.hidden_sources("hw1")).message
        assert message == ("RuntimeError" if level == feedback.MINIMAL else
                           "RuntimeError: found it [...] (at ops.py:3)"), message


@pytest.mark.parametrize("show", [repr, lambda data: data.decode("latin-1")],
                         ids=["repr", "latin-1"])
def test_compressed_bytes_shown_raw_leave_only_bounded_fragments(show):
    """Raw compressed bytes hold whitespace, so they split into tokens; the long ones are cut,
    and the short ones left are bounded scraps of a stream that cannot be decompressed."""
    start = HW1_SOURCE.index("def test_shape_ops_forward")
    compressed = zlib.compress(HW1_SOURCE[start:start + 1500].encode())
    message = feedback.redact("RuntimeError: found it " + show(compressed), HW1_SECRETS)
    assert message.startswith("RuntimeError: found it ") and feedback.REDACTED in message
    assert len(message[:-3].encode()) <= feedback.MESSAGE_CHARS
    assert_no_hidden_source(message)
    scraps = message.removeprefix("RuntimeError: found it ").split(" ")
    for i in range(len(scraps)):  # the stream's start, read on from each scrap
        data = " ".join(scraps[i:]).split(feedback.REDACTED)[0].encode("latin-1", "replace")
        with contextlib.suppress(zlib.error):
            assert not _leaks_source(zlib.decompressobj().decompress(data))


@pytest.mark.parametrize("transform", [str.upper, _rot13, lambda s: s[::-1]],
                         ids=["upper", "rot13", "reversed"])
def test_hidden_lines_reversed_rot13_or_recased_are_cut(transform):
    leaked = HW1_SOURCE[HW1_SOURCE.index("def test_elementwise_forward"):][:400]
    message = feedback.redact("RuntimeError: " + transform(leaked), HW1_SECRETS, 10**6)
    for line in HW1_SECRETS:
        assert transform(line) not in message, line
    assert message.count(feedback.REDACTED) >= 5
    assert feedback.redact("RuntimeError: " + leaked, [], 10**6) == " ".join(
        ("RuntimeError: " + leaked).split())  # without the secrets, nothing there is cut


def test_messages_are_bounded_in_utf8_bytes():
    wide = feedback.redact("界" * 400, [])  # 3 bytes a character
    assert wide == "界" * (feedback.MESSAGE_CHARS // 3) + "..."
    spaced = feedback.redact(" ".join(["漢字"] * 400), [])
    assert spaced.endswith("...") and len(spaced[:-3].encode()) <= feedback.MESSAGE_CHARS
    assert len(spaced) < feedback.MESSAGE_CHARS // 2
    assert len(feedback.redact("word " * 400, [])) == feedback.MESSAGE_CHARS + 3
    # Bytes shown as characters of a script without spaces: one token of many distinct ones.
    assert feedback.redact("".join(chr(0x4E00 + b) for b in HW1_SOURCE.encode()[:200]), []) == \
        feedback.REDACTED


# ---- end to end: a submission that goes looking -----------------------------------------

# Inside EWiseAdd.compute: looks for the hidden source in frames, the payload, gc, inspect,
# linecache and its own process memory (what is left there once freed); takes what the code
# objects hold; then raises it, encoded, in its message and in its exception type's name, and
# forges the status file of the first test (which has already run) to put an encoded type
# name before the parent.
LOOK_AND_LEAK = r'''
import base64, ctypes, gc, inspect, json, linecache, os, re, sys, types, zlib
needle, also = "".join(["def ", "test_"]), "".join(["import ", "needle"])
found = {"payload": "", "gc": "", "inspect": "", "linecache": ""}
frame = inspect.currentframe()
while frame is not None:
    for value in list(frame.f_locals.values()):
        if isinstance(value, dict) and isinstance(value.get("modules"), dict):
            found["payload"] += "".join(map(str, value["modules"].values()))
    frame = frame.f_back
for holder in gc.get_objects():
    for text in gc.get_referents(holder):
        if isinstance(text, str) and needle in text and also in text:
            found["gc"] += text
hidden = [m for m in list(sys.modules.values())
          if str(getattr(m, "__file__", "")).startswith("<hidden:")]
for module in hidden:
    try:
        found["inspect"] += inspect.getsource(module)
    except (OSError, TypeError):
        pass
    found["linecache"] += "".join(linecache.getlines(module.__file__))
code = [m.__doc__ or "" for m in hidden] + [
    c for m in hidden for f in vars(m).values() if isinstance(f, types.FunctionType)
    for c in f.__code__.co_consts if isinstance(c, str)]
memory = []
with open("/proc/self/maps") as maps:  # the process's own memory, read through ctypes
    regions = [line.split() for line in maps]
for region in regions:
    start, end = (int(x, 16) for x in region[0].split("-"))
    if region[1].startswith("rw") and end - start <= 256 << 20 and (
            len(region) == 5 or region[-1] == "[heap]"):
        memory += [m.group().decode("latin-1") for m in re.finditer(
            rb"def test_\w+\([\w, ]*\):\n[ -~\n]{20,600}", ctypes.string_at(start, end - start))]
report = " ".join(f"{k}={len(v)}" for k, v in found.items())
report += f" code={len(code)} memory={len(memory)}"
blob = "\n".join([*found.values(), *code, *memory]).encode()
name = base64.b64encode(zlib.compress(blob)).decode()[:4000]
forged = "out/test_elementwise_forward.json"
if os.path.exists(forged):
    with open(forged, "w") as f:
        json.dump({"status": "error", "where": blob.hex()[:200],
                   "error": f"{name[:1000]}: {report} {blob.hex()[:800]}"}, f)
raise type(name, (RuntimeError,), {})(
    f"{report} {base64.b64encode(blob).decode()[:600]} {blob.hex()[:600]} "
    f"{repr(zlib.compress(blob))[:600]}")'''


@needs_namespaces
@pytest.mark.parametrize("level", [feedback.MESSAGES, feedback.MINIMAL])
def test_a_submission_that_looks_for_hidden_source_and_leaks_it_encoded(hw1_key, tmp_path, level):
    result = grade.grade(HW1, attacked_submission(tmp_path / "sub", LOOK_AND_LEAK), hw1_key,
                         feedback_level=level)
    messages = {t.name: t.message for t in result.results}
    others = [m for name, m in messages.items() if name != "test_elementwise_forward"
              and m.startswith("RuntimeError")]
    assert others, messages  # the attack ran, raised, and its type came back as a builtin
    if level == feedback.MINIMAL:
        assert messages["test_elementwise_forward"] == "the test raised an exception"
        assert set(others) == {"RuntimeError"}
    else:
        # Nothing found but the code objects' constants (the memory scan may find fragments);
        # whatever was found, only the report's short words are left of it.
        report = r"payload=0 gc=0 inspect=0 linecache=0 code=[1-9]\d* memory=\d+ \[\.\.\.\]"
        assert all(re.match(rf"RuntimeError: {report} \[\.\.\.\] ", m) for m in others), others
        assert re.fullmatch(rf"\[exception type not shown\]: {report} \(at \[\.\.\.\]",
                            messages["test_elementwise_forward"]), messages
    assert_no_hidden_source(*messages.values(), reports.feedback_markdown(result),
                            reports.feedback_terminal(result),
                            json.dumps(reports.gradescope_results(result)))
    assert all(len(m.encode()) <= feedback.MESSAGE_CHARS + 3 for m in messages.values())

