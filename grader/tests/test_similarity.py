"""``python -m grader similarity``: planted copies are found, independent work is not, given code
never counts, and nothing a submission holds reaches the report unescaped.

The class is hw0's (four Python functions and one C++ function): alice hands in the reference;
bob copies it with every local name changed and the functions reordered; carol writes her own
code; dave hands in the bare handout; eve copies a "public" solution that is carol's; mallory
links to alice's folder; zoe's file breaks Python's parser.
"""
from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from grader import gradebook, similarity
from grader.assignment import build, course_of
from grader.course import REPO, find_homework
from grader.fill import fill_stubs
from grader.results import GradeResult

HW0 = find_homework(course_of(), "hw0")
SCRIPT = "<script>alert('report')</script>"

# Carol's own hw0: loops where the reference vectorises, another way to read the IDX files.
CAROL = {
    "parse_mnist": """\
    with gzip.open(label_filename) as handle:
        header = handle.read(8)
        count = int.from_bytes(header[4:8], "big")
        labels = np.array(list(handle.read(count)), dtype=np.uint8)
    with gzip.open(image_filename) as handle:
        header = handle.read(16)
        n, rows, cols = (int.from_bytes(header[at:at + 4], "big") for at in (4, 8, 12))
        pixels = np.frombuffer(handle.read(n * rows * cols), dtype=np.uint8)
    images = pixels.reshape(n, rows * cols).astype(np.float32)
    images /= 255.0
    return images, labels""",
    "softmax_loss": """\
    total = 0.0
    for row, label in zip(Z, y):
        peak = row.max()
        total += peak + np.log(np.sum(np.exp(row - peak))) - row[label]
    return float(total / len(y))""",
    "softmax_regression_epoch": """\
    m, k = X.shape[0], theta.shape[1]
    i = 0
    while i < m:
        xs, ys = X[i:i + batch], y[i:i + batch]
        scores = xs.dot(theta)
        scores = np.exp(scores - scores.max(1)[:, None])
        scores /= scores.sum(1)[:, None]
        target = np.zeros((len(ys), k), dtype=scores.dtype)
        target[range(len(ys)), ys] = 1
        theta -= (lr / len(ys)) * xs.T.dot(scores - target)
        i += batch""",
    "nn_epoch": """\
    m = X.shape[0]
    i = 0
    while i < m:
        xs, ys = X[i:i + batch], y[i:i + batch]
        hidden = xs.dot(W1)
        mask = hidden > 0
        hidden = hidden * mask
        out = np.exp(hidden.dot(W2) - hidden.dot(W2).max(1)[:, None])
        out = out / out.sum(1)[:, None]
        out[range(len(ys)), ys] -= 1
        back = out.dot(W2.T) * mask
        W2 -= (lr / len(ys)) * hidden.T.dot(out)
        W1 -= (lr / len(ys)) * xs.T.dot(back)
        i += batch""",
}
# Bob's renames of the reference's local names (the given code keeps its names).
RENAMES = {"X_b": "xb", "y_b": "yb", "grad_Z": "gz", "Z1": "hid", "G2": "gout", "G1": "ghid",
           "read_idx": "load", "raw": "blob", "found": "seen", "Z_max": "top", "start": "pos",
           "log_sum_exp": "lse", "z_max": "peak", "total": "acc", "grad": "g", "step": "rate"}


def handout_folder(dest: Path) -> Path:
    assignment = build(HW0)
    for name in assignment.whitelist:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_text(assignment.handout.files[name])
    return dest


def reference_bodies(name: str) -> dict[str, tuple[str, ...]]:
    """The reference code of each stub of handout file ``name``."""
    return {r.qualname: r.body for r in build(HW0).handout.stubs if r.path == name}


def renamed(lines: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for line in lines:
        for old, new in RENAMES.items():
            line = re.sub(rf"(?<![\w.]){old}\b", new, line)
        out.append(line)
    return tuple(out)


def reordered(text: str) -> str:
    """``text`` with its function softmax_loss moved to the end of the file."""
    if "def softmax_loss" not in text:
        return text
    start, end = text.index("def softmax_loss"), text.index("def softmax_regression_epoch")
    return text[:start] + text[end:] + "\n\n" + text[start:end]


@pytest.fixture(scope="module")
def class_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("submissions")
    whitelist = build(HW0).whitelist
    alice = handout_folder(root / "alice")
    bob = handout_folder(root / "bob")
    for name in whitelist:  # alice: the reference; bob: hers renamed, reordered, with a script tag
        bodies = reference_bodies(name)
        (alice / name).write_text(fill_stubs((alice / name).read_text(), bodies)[0])
        copied = {qualname: renamed(body) for qualname, body in bodies.items()}
        if "softmax_loss" in copied:
            copied["softmax_loss"] = (f"    # {SCRIPT}", *copied["softmax_loss"])
        (bob / name).write_text(reordered(fill_stubs((bob / name).read_text(), copied)[0]))
    for student in ("carol", "eve"):
        folder = handout_folder(root / student)
        text, filled = fill_stubs((folder / "src/simple_ml.py").read_text(),
                                  {name: tuple(body.splitlines()) for name, body in CAROL.items()})
        assert sorted(filled) == sorted(CAROL)
        if student == "eve":
            text = re.sub(r"(?<![\w.])(xs|ys|hidden|scores)\b", lambda m: m[1] + "_", text)
        (folder / "src/simple_ml.py").write_text(text)
    handout_folder(root / "dave")
    mallory = handout_folder(root / "mallory")  # alice's files through a link part-way down
    shutil.rmtree(mallory / "src")
    (mallory / "src").symlink_to(alice / "src")
    zoe = handout_folder(root / "zoe")  # a deep expression: ast.parse raises RecursionError
    (zoe / "src/simple_ml.py").write_text("x = " + "+".join(["a"] * 200_000) + "\n")
    (root / "bad;name").mkdir()  # not a student id: skipped, never a path or a line of its own
    return root


@pytest.fixture(scope="module")
def public_dir(tmp_path_factory, class_dir) -> Path:
    """Known public solutions: carol's file, under the name a public repository would give it."""
    public = tmp_path_factory.mktemp("public")
    (public / "someone-dlsys" / "src").mkdir(parents=True)
    shutil.copy(class_dir / "carol" / "src/simple_ml.py", public / "someone-dlsys/src/simple_ml.py")
    return public


def test_copies_are_found_and_independent_work_is_not(class_dir, tmp_path):
    submissions = {k: v for k, v in similarity.submissions_in(class_dir).items() if k != "eve"}
    pairs, skipped = similarity.compare(HW0, submissions, tmp_path / "report.html")
    by_pair = {(p.first, p.second): p for p in pairs}
    assert by_pair[("alice", "bob")].score > 0.8, pairs  # renamed and reordered, still found
    assert pairs[0].first == "alice" and pairs[0].second == "bob"
    for other in ("alice", "bob"):
        pair = by_pair.get(tuple(sorted((other, "carol"))))
        assert pair is None or pair.score < 0.3, pair  # independent work
    assert "dave: no code of their own" in skipped
    assert "mallory: no code of their own" in skipped  # the link is not followed
    assert any(reason.startswith("zoe: not compared (RecursionError") for reason in skipped)
    assert any("bad;name" in reason and "not a student id" in reason for reason in skipped)
    assert not any("dave" in (p.first, p.second) for p in pairs)  # the handout alone is nothing

    report = (tmp_path / "report.html").read_text()
    assert "alice" in report and "bob" in report
    assert SCRIPT not in report and "&lt;script&gt;" in report  # submitted code is escaped


def test_a_known_public_solution_is_named(class_dir, public_dir, tmp_path):
    pairs, _ = similarity.compare(HW0, similarity.submissions_in(class_dir), tmp_path / "r.html",
                                  public=public_dir)
    top = {(p.first, p.second) for p in pairs if p.score > 0.8}
    assert ("eve", "public:someone-dlsys/src/simple_ml.py") in top
    assert ("carol", "public:someone-dlsys/src/simple_ml.py") in top
    assert ("carol", "eve") in top
    assert not any(p.score > 0.3 and "public:" in p.second and p.first in ("alice", "bob")
                   for p in pairs)
    assert not any(p.first.startswith("public:") for p in pairs)  # the student comes first


def test_a_student_whose_id_sorts_after_public_is_still_first(class_dir, public_dir, tmp_path):
    submissions = {"zz-eve": class_dir / "eve"}
    pairs, _ = similarity.compare(HW0, submissions, tmp_path / "r.html", public=public_dir)
    assert [(p.first, p.second) for p in pairs] == [("zz-eve", "public:someone-dlsys/src/simple_ml.py")]
    assert pairs[0].score > 0.9


def test_the_command_reads_each_students_latest_submission(class_dir, tmp_path):
    # The gradebook holds two submissions by bob: the latest (his copy of alice's) is compared.
    db_path = tmp_path / "gradebook.sqlite"
    db = gradebook.connect(db_path)
    for student, folder in [("alice", "alice"), ("bob", "dave"), ("bob", "bob"), ("carol", "carol")]:
        gradebook.record(db, GradeResult(student, "hw0", "2026-12-01T00:00:00+00:00", []),
                         class_dir / folder)
    db.close()
    with sqlite3.connect(db_path) as db:
        assert similarity.latest_submissions(db, HW0)["bob"] == class_dir / "bob"
    done = subprocess.run([sys.executable, "-m", "grader", "similarity", "hw0", "--gradebook",
                           str(db_path), "--out", str(tmp_path / "grades")],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert re.search(r"\d+%\s+alice ~ bob", done.stdout), done.stdout
    rows = (tmp_path / "grades" / "hw0" / "similarity.csv").read_text().splitlines()
    assert rows[0] == "first,second,file,similarity,reverse_similarity"
    assert rows[1].startswith("alice,bob,")
    assert (tmp_path / "grades" / "hw0" / "similarity.html").is_file()
