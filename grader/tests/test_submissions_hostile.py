"""Hostile submissions against the grader's intake (issue 13, findings 2, 8, 9 and 10).

Each case grades a batch through the command line (``python -m grader grade hw1 --dir``): the
hostile submission beside ``alice`` (the reference solution, 100 points) and ``zed`` (the
untouched handout, 0 points; sorted after the hostile one), and checks the hostile score, that
the other students' results are intact in the gradebook, and that the batch exits 0.
"""
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from grader import files, grade, gradebook, workspace
from grader.course import REPO, SOLUTIONS, load_course
from grader.handouts import generate

COURSE = load_course()
HW1 = COURSE[1]
WHITELIST = workspace.whitelist(generate(HW1, COURSE).files)


def solution(dest: Path) -> Path:
    """The reference versions of hw1's whitelisted files, in ``dest``."""
    for name in WHITELIST:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SOLUTIONS / name, dest / name)
    return dest


def batch(tmp_path: Path, make_hostile) -> tuple[dict, subprocess.CompletedProcess]:
    """Grade alice, the hostile submission ``make_hostile(subs)`` and zed; the gradebook's
    latest results by student, and the finished command."""
    subs = tmp_path / "subs"
    solution(subs / "alice")
    shutil.copytree(REPO / HW1.dir, subs / "zed",
                    ignore=shutil.ignore_patterns("build", "*.so", "__pycache__"))
    make_hostile(subs)
    book = tmp_path / "gradebook.sqlite"
    done = subprocess.run([sys.executable, "-m", "grader", "grade", "hw1", "--dir", str(subs),
                           "--jobs", "2", "--gradebook", str(book), "--out", str(tmp_path / "out")],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    db = gradebook.connect(book)
    try:
        latest = {r.student: r for r in gradebook.latest(db, "hw1")}
    finally:
        db.close()
    return latest, done


def assert_others_intact(latest: dict, done: subprocess.CompletedProcess, hostile: str) -> None:
    assert done.returncode == 0, done.stderr[-3000:]
    assert latest["alice"].score == 100 and latest["zed"].score == 0, latest
    assert hostile in latest, (latest, done.stderr[-3000:])


def refused(result, text: str) -> bool:
    return result.score == 0 and any(text in note for note in result.notes)


# ---- finding 2: symlinks on any path component --------------------------------------------------

def test_folder_of_directory_symlinks_into_solutions_scores_zero(tmp_path):
    def hostile(subs):
        (subs / "mallory").mkdir()
        for top in sorted({name.split("/")[0] for name in WHITELIST}):
            (subs / "mallory" / top).symlink_to(SOLUTIONS / top, target_is_directory=True)
    latest, done = batch(tmp_path, hostile)
    assert_others_intact(latest, done, "mallory")
    mallory = latest["mallory"]
    assert mallory.score == 0, mallory
    assert all(any(n.startswith(f"refused: {name}: a symlink on its path") for n in mallory.notes)
               for name in WHITELIST), mallory.notes


@pytest.mark.parametrize("make, reason", [
    (lambda path: path.symlink_to(SOLUTIONS / "python" / "needle" / "autograd.py"), "not a regular file"),
    (lambda path: os.link(path.with_name("other.py"), path), "a hard link"),
    (lambda path: os.mkfifo(path), "not a regular file"),
    (lambda path: path.mkdir(), "not a regular file"),
])
def test_links_fifos_and_folders_at_a_whitelisted_path_are_refused(make, reason, tmp_path):
    sub = solution(tmp_path / "sub")
    target = sub / "python" / "needle" / "autograd.py"
    target.unlink()
    (target.with_name("other.py")).write_text("x = 1\n")
    make(target)
    with pytest.raises(workspace.RefusedFile, match=reason):
        workspace.read_submitted(sub, "python/needle/autograd.py")
    ws = workspace.build(generate(HW1, COURSE).files, sub, tmp_path / "ws", REPO / "data")
    assert "python/needle/autograd.py: " + reason in ws.refused


def test_a_symlinked_folder_inside_the_path_is_refused(tmp_path):
    sub = solution(tmp_path / "sub")
    shutil.rmtree(sub / "python" / "needle" / "ops")
    (sub / "python" / "needle" / "ops").symlink_to(SOLUTIONS / "python" / "needle" / "ops")
    ws = workspace.build(generate(HW1, COURSE).files, sub, tmp_path / "ws", REPO / "data")
    ops = [n for n in WHITELIST if n.startswith("python/needle/ops/")]
    assert ops and all(f"{n}: a symlink on its path (ops)" in ws.refused for n in ops)


# ---- finding 8: caps before anything is allocated ---------------------------------------------

def _pax_bomb(path: Path, size: int) -> None:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("python/needle/autograd.py")
        info.pax_headers = {"comment": "x" * size}
        data = (SOLUTIONS / "python" / "needle" / "autograd.py").read_bytes()
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))


def test_a_huge_pax_header_is_refused_before_it_is_read(tmp_path):
    _pax_bomb(tmp_path / "bomb.tar.gz", 64 << 20)
    assert (tmp_path / "bomb.tar.gz").stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(workspace.SubmissionError, match="tar header block over"):
            workspace.extract(tmp_path / "bomb.tar.gz", tmp_path / "x")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak


def test_a_pax_bomb_in_a_batch_scores_zero(tmp_path):
    latest, done = batch(tmp_path, lambda subs: _pax_bomb(subs / "mallory.tar.gz", 64 << 20))
    assert_others_intact(latest, done, "mallory")
    assert refused(latest["mallory"], "tar header block over"), latest["mallory"]


def test_small_pax_headers_and_long_names_still_work(tmp_path):
    _pax_bomb(tmp_path / "ok.tar.gz", 1000)
    workspace.extract(tmp_path / "ok.tar.gz", tmp_path / "x")
    assert (tmp_path / "x" / "python" / "needle" / "autograd.py").is_file()


@pytest.mark.parametrize("make, message", [
    (lambda zf: [zf.writestr(f"f{i}.py", "") for i in range(workspace.MAX_ARCHIVE_FILES + 1)],
     "entries, more than"),
    (lambda zf: zf.writestr("a.bin", b"\0" * (workspace.MAX_ARCHIVE_BYTES + 1)), "unpacks to"),
])
def test_archive_caps_are_checked_from_the_directory_before_extracting(make, message, tmp_path):
    with zipfile.ZipFile(tmp_path / "a.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        make(zf)
    with pytest.raises(workspace.SubmissionError, match=message):
        workspace.extract(tmp_path / "a.zip", tmp_path / "x")
    assert not any((tmp_path / "x").iterdir())


def test_a_folder_over_the_caps_is_refused(tmp_path):
    sub = solution(tmp_path / "sub")
    (sub / "big.bin").write_bytes(b"\0" * (workspace.MAX_ARCHIVE_BYTES + 1))
    with pytest.raises(workspace.SubmissionError, match="unpacks to"):
        workspace.submission_root(sub, tmp_path, WHITELIST)


def test_the_gradebook_hashes_files_in_chunks(tmp_path):
    big = tmp_path / "big.zip"
    with open(big, "wb") as f:
        f.truncate(256 << 20)  # sparse: costs no disk
    tracemalloc.start()
    try:
        sha = gradebook.digest(big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak
    assert sha == files.sha256_file(big) and len(sha) == 64


# ---- finding 9: contents that crashed the grader ------------------------------------------------

def _deep_tree(root: Path, depth: int, name: str = "d") -> None:
    """``depth`` nested folders under ``root`` (made through descriptors: no long paths)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        os.close(os.open("f.py", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    finally:
        os.close(fd)


@pytest.fixture
def deep_cleanup(tmp_path):
    """Removes deep trees pytest's own (recursive) cleanup could not."""
    yield tmp_path
    files.remove_tree(tmp_path)


def test_remove_tree_handles_any_depth_links_and_locked_folders(deep_cleanup):
    root = deep_cleanup / "deep"
    root.mkdir()
    _deep_tree(root, 1500, "x" * 200)  # some 300 KB of path: far past PATH_MAX
    (root / "link").symlink_to(SOLUTIONS)
    (root / "locked").mkdir()
    (root / "locked" / "f").write_text("x")
    (root / "locked").chmod(0)
    files.remove_tree(root)
    assert not root.exists() and SOLUTIONS.is_dir()
    files.remove_tree(root)  # missing: no error


def test_a_1500_deep_folder_submission_scores_zero_and_the_batch_goes_on(deep_cleanup):
    def hostile(subs):
        solution(subs / "mallory")
        _deep_tree(subs / "mallory", 1500)
    latest, done = batch(deep_cleanup, hostile)
    assert_others_intact(latest, done, "mallory")
    assert refused(latest["mallory"], f"deeper than {workspace.MAX_DEPTH}"), latest["mallory"]


def test_a_1500_deep_tree_made_in_the_workspace_is_removed(deep_cleanup):
    """Student code builds the tree while it runs; grading finishes and leaves no scratch."""
    def hostile(subs):
        sub = solution(subs / "mallory")
        ops = sub / "python" / "needle" / "ops" / "ops_mathematic.py"
        text = ops.read_text()
        ops.write_text(text.replace("        return a + b\n", """\
        import os
        try:
            if not os.path.exists("deep"):
                start = os.open(".", os.O_RDONLY)
                os.mkdir("deep")
                os.chdir("deep")
                for _ in range(1500):
                    os.mkdir("d")
                    os.chdir("d")
                os.fchdir(start)
        except OSError:
            pass
        return a + b
""", 1))
    before = set(Path("/tmp").glob("flamethrower-mallory-*"))
    latest, done = batch(deep_cleanup, hostile)
    assert_others_intact(latest, done, "mallory")
    assert latest["mallory"].score == 100, latest["mallory"]
    assert set(Path("/tmp").glob("flamethrower-mallory-*")) <= before


def test_a_folder_named_out_current_gives_a_result(deep_cleanup):
    def hostile(subs):
        sub = solution(subs / "mallory")
        ops = sub / "python" / "needle" / "ops" / "ops_mathematic.py"
        ops.write_text(ops.read_text().replace("        return a + b\n", """\
        import os, shutil
        for folder in ("out", "../out"):
            if os.path.isdir(folder) and not os.path.isdir(os.path.join(folder, "current")):
                try:
                    os.remove(os.path.join(folder, "current"))
                except OSError:
                    pass
                os.makedirs(os.path.join(folder, "current", "x"), exist_ok=True)
        return a - b
""", 1))
    latest, done = batch(deep_cleanup, hostile)
    assert_others_intact(latest, done, "mallory")
    # Only the tests that reach the sabotaged EWiseAdd.compute fail; the rest still score.
    assert 0 < latest["mallory"].score < 100 and latest["mallory"].results


def _zip(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name, "" if name.endswith("/") else "x = 1\n")
    return path


@pytest.mark.parametrize("names, message", [
    (["python/needle", "python/needle/autograd.py"], "both as a file and as a folder"),
    (["python/needle/autograd.py", "python/needle/autograd.py/"], "both as a file and as a folder"),
    (["python/needle/autograd.py", "python/needle/autograd.py"], "twice"),
    (["/".join(["d" * 200] * 6) + "/f.py"], "has a path of"),
    (["python/" + "n" * 300 + ".py"], "has a name longer than 255 bytes"),
    (["/".join(["d"] * 40) + "/f.py"], "deeper than"),
], ids=["file-then-folder", "file-and-folder-entry", "twice", "path-over-1024", "name-over-255",
        "40-deep"])
@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_zips_that_crashed_the_grader_are_refused_with_a_note(names, message, tmp_path):
    archive = _zip(tmp_path / "eve.zip", names)
    with pytest.raises(workspace.SubmissionError, match=message):
        workspace.extract(archive, tmp_path / "x")
    result = grade.grade(HW1, archive)
    assert refused(result, message), result.notes


def test_zips_that_crashed_the_grader_score_zero_in_a_batch(tmp_path):
    def hostile(subs):
        _zip(subs / "mallory.zip", ["python/needle", "python/needle/autograd.py"])
        _zip(subs / "nina.zip", ["/".join(["d" * 250] * 20) + "/f.py"])
        _zip(subs / "oscar.zip", ["n" * 300])
    latest, done = batch(tmp_path, hostile)
    assert_others_intact(latest, done, "mallory")
    assert refused(latest["mallory"], "both as a file and as a folder")
    assert refused(latest["nina"], "has a path of")
    assert refused(latest["oscar"], "has a name longer than")


def test_a_grader_failure_still_records_every_result(tmp_path, monkeypatch):
    """A result is saved as each submission finishes, and one that fails to save stops nothing."""
    saved = []
    def save(result, path):
        if result.student == "alice":
            raise OSError("disk full")
        saved.append(result.student)
    subs = tmp_path / "subs"
    solution(subs / "alice")
    solution(subs / "bob")
    results = grade.grade_many(HW1, sorted(subs.iterdir()), jobs=2, progress=False, on_result=save)
    assert [r.score for r in results] == [100, 100] and saved == ["bob"]


# ---- finding 10: zips without file-type bits ----------------------------------------------------

def test_a_zip_written_by_writestr_grades_like_a_folder(tmp_path):
    def hostile(subs):
        with zipfile.ZipFile(subs / "wendy.zip", "w") as zf:
            for name in WHITELIST:
                zf.writestr(f"hw1_autograd/{name}", (SOLUTIONS / name).read_text())
            assert all(info.external_attr >> 16 == 0o600 for info in zf.infolist())
    latest, done = batch(tmp_path, hostile)
    assert_others_intact(latest, done, "wendy")
    assert latest["wendy"].score == 100, latest["wendy"]


@pytest.mark.parametrize("mode", [0o120777, 0o020644, 0o010644, 0o140755])
def test_zip_members_with_other_type_bits_are_still_refused(mode, tmp_path):
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        info = zipfile.ZipInfo("python/needle/autograd.py")
        info.external_attr = mode << 16
        zf.writestr(info, "/work/main/solutions/python/needle/autograd.py")
    with pytest.raises(workspace.SubmissionError, match="not a regular file or folder"):
        workspace.extract(tmp_path / "a.zip", tmp_path / "x")


def test_a_zip_directory_too_big_to_parse_is_refused_from_its_end_record(tmp_path):
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(workspace.MAX_ARCHIVE_FILES + 1):
            zf.writestr(f"{i}", "")
    tracemalloc.start()
    try:
        with pytest.raises(workspace.SubmissionError, match="entries, more than"):
            workspace._check_zip_directory(archive)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak
