"""The SQLite gradebook: submissions, grading attempts (with the grader's timestamps), per-test
scores, and regrades, in one file an instructor can query or copy."""
from __future__ import annotations

import hashlib
import sqlite3
import stat
from pathlib import Path

from .files import sha256_file, walk
from .results import GradeResult, TestResult
from .workspace import MAX_DEPTH

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY,
    student TEXT NOT NULL,
    homework TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    UNIQUE (student, homework, sha256)
);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY,
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    graded_at TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    seconds REAL NOT NULL,
    notes TEXT NOT NULL,
    regrade_of INTEGER REFERENCES attempts(id)
);
CREATE TABLE IF NOT EXISTS test_scores (
    attempt_id INTEGER NOT NULL REFERENCES attempts(id),
    test_id TEXT NOT NULL,
    question INTEGER NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (attempt_id, test_id)
);
"""


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the gradebook at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    db.execute("PRAGMA foreign_keys = ON")
    return db


def digest(submission: Path) -> str:
    """SHA-256 of a submission archive, or of a folder's regular files (paths and contents).

    Never raises and never holds a whole file: files are hashed in 1 MiB pieces, a folder is
    walked without recursion or following links, at most ``workspace.MAX_DEPTH`` + 1 levels
    deep (what the grader refuses anyway). Whatever cannot be read adds its error to the hash,
    so the digest is still the same for the same files.
    """
    h = hashlib.sha256()
    try:
        if submission.is_file():
            sha256_file(submission.resolve(), h)
        else:
            regular = sorted(path for path, info in walk(submission, MAX_DEPTH + 1)
                             if stat.S_ISREG(info.st_mode))
            for relative in regular:
                h.update(str(relative).encode("utf-8", "surrogateescape") + b"\0")
                sha256_file(submission / relative, h)
    except OSError as error:
        h.update(f"\0unreadable: {type(error).__name__} {error.errno}".encode())
    return h.hexdigest()


def record(db: sqlite3.Connection, result: GradeResult, submission: Path) -> int:
    """Store one grading of ``submission``; a repeat grading of the same files is a regrade.

    Returns the attempt id.
    """
    sha = digest(submission)
    with db:
        db.execute("INSERT OR IGNORE INTO submissions (student, homework, path, sha256) VALUES (?, ?, ?, ?)",
                   (result.student, result.homework, str(submission), sha))
        (submission_id,) = db.execute(
            "SELECT id FROM submissions WHERE student = ? AND homework = ? AND sha256 = ?",
            (result.student, result.homework, sha)).fetchone()
        previous = db.execute("SELECT max(id) FROM attempts WHERE submission_id = ?",
                              (submission_id,)).fetchone()[0]
        cursor = db.execute(
            "INSERT INTO attempts (submission_id, graded_at, score, max_score, seconds, notes, regrade_of) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (submission_id, result.graded_at, result.score, result.max_score, result.seconds,
             "\n".join(result.notes), previous))
        db.executemany(
            "INSERT INTO test_scores VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(cursor.lastrowid, t.test_id, t.question, t.score, t.max_score, t.status, t.message)
             for t in result.results])
    assert cursor.lastrowid is not None  # an INSERT always sets it
    return cursor.lastrowid


def latest(db: sqlite3.Connection, homework: str) -> list[GradeResult]:
    """Each student's most recent attempt at ``homework`` (their latest submission's latest grading)."""
    rows = db.execute(
        """SELECT a.id, s.student, a.graded_at, a.notes, a.seconds FROM attempts a
           JOIN submissions s ON s.id = a.submission_id
           WHERE s.homework = ? AND a.id = (
               SELECT max(a2.id) FROM attempts a2 JOIN submissions s2 ON s2.id = a2.submission_id
               WHERE s2.student = s.student AND s2.homework = s.homework)
           ORDER BY s.student""", (homework,)).fetchall()
    results = []
    for attempt_id, student, graded_at, notes, seconds in rows:
        tests = [TestResult(test_id, test_id.split("::")[-1], question, score, max_score, status, message)
                 for test_id, question, score, max_score, status, message in db.execute(
                     "SELECT test_id, question, score, max_score, status, message FROM test_scores "
                     "WHERE attempt_id = ? ORDER BY rowid", (attempt_id,))]
        results.append(GradeResult(student, homework, graded_at, tests,
                                   [n for n in notes.split("\n") if n], seconds=seconds))
    return results
