"""``make submit-hwN``: the zip holds exactly the whitelisted files and a manifest, and reads back
through the grader's own unpacking; and ``environment``'s comparison with the release's lock."""
import argparse
import json
import shutil
import zipfile

import pytest

from grader import check, environment, submit, workspace
from grader.course import REPO, SOLUTIONS, load_course

HW0 = load_course()[0]


@pytest.fixture
def student_repo(tmp_path):
    """A repository root with hw0's handout folder, its two stub files filled with the reference."""
    folder = tmp_path / HW0.dir
    shutil.copytree(REPO / HW0.dir, folder, ignore=shutil.ignore_patterns("build", "*.so", "__pycache__"))
    handout = check.pristine_handout(REPO, HW0.dir)
    for name in workspace.whitelist(handout):
        shutil.copy(SOLUTIONS / name, folder / name)
    (folder / "tests" / "conftest.py").write_text("raise SystemExit\n")  # never taken
    (tmp_path / "solutions").symlink_to(SOLUTIONS)  # pristine_handout generates from it here
    (tmp_path / "data").symlink_to(REPO / "data")
    return tmp_path


def test_zip_holds_the_whitelist_and_a_manifest_and_reads_back_as_the_grader_reads_it(student_repo, tmp_path):
    made = submit.write_zip(student_repo, "hw0")
    assert made.path == student_repo / "submissions" / "hw0.zip" and made.missing == []
    handout = check.pristine_handout(REPO, HW0.dir)
    expected = workspace.whitelist(handout)
    with zipfile.ZipFile(made.path) as zf:
        assert sorted(zf.namelist()) == sorted([*expected, submit.MANIFEST])
        manifest = json.loads(zf.read(submit.MANIFEST))
    assert manifest["homework"] == "hw0" and sorted(manifest["files"]) == expected
    root = submit.unpack(made.path, handout, tmp_path / "scratch")
    ws = workspace.build(handout, root, tmp_path / "ws", REPO / "data")
    assert ws.taken == expected and ws.missing == [] and ws.refused == []
    for name in expected:
        assert (ws.root / name).read_text() == (SOLUTIONS / name).read_text()
    assert submit.write_zip(student_repo, "hw0").path.read_bytes() == made.path.read_bytes()


def test_unpack_refuses_an_archive_whose_files_do_not_match_the_manifest(student_repo, tmp_path):
    made = submit.write_zip(student_repo, "hw0")
    tampered = tmp_path / "hw0.zip"
    with zipfile.ZipFile(made.path) as zf, zipfile.ZipFile(tampered, "w") as out:
        for info in zf.infolist():
            data = zf.read(info)
            out.writestr(info, data + b"\n# edited" if info.filename == "src/simple_ml.py" else data)
    with pytest.raises(workspace.SubmissionError, match="does not match"):
        submit.unpack(tampered, check.pristine_handout(REPO, HW0.dir), tmp_path / "scratch")


def test_a_missing_file_is_reported_and_left_out(student_repo):
    (student_repo / HW0.dir / "src" / "simple_ml_ext.cpp").unlink()
    made = submit.write_zip(student_repo, "hw0")
    assert made.missing == ["src/simple_ml_ext.cpp"] and list(made.files) == ["src/simple_ml.py"]


def test_hw0_zip_passes_its_public_tests_when_graded_locally(student_repo, capsys):
    """The real local grading (hw0 only: a C++ build and 25 tests, about 30 s on 2 cores)."""
    made = submit.write_zip(student_repo, "hw0")
    status = submit.grade_locally(student_repo, HW0.dir, made.path)
    out = capsys.readouterr().out
    assert status == 0, out[-3000:]
    assert " passed" in out and "failed" not in out


def test_upload_instructions_come_from_the_release_record_or_name_gradescope(tmp_path):
    (tmp_path / submit.RELEASE_MANIFEST).write_text(json.dumps({"course": {
        "submit_url": "https://example.edu/upload", "submit_instructions": "Upload hwN.zip to the portal."}}))
    assert submit.upload_instructions(tmp_path, "hw2") == \
        "Upload hw2.zip to the portal. (https://example.edu/upload)"
    (tmp_path / submit.RELEASE_MANIFEST).write_text(json.dumps({"course": {}}))
    assert "Gradescope" in submit.upload_instructions(tmp_path, "hw2")


def test_environment_differences_name_each_package_off_the_lock(tmp_path):
    numpy = environment.installed_version("numpy")
    lock = tmp_path / environment.LOCK
    lock.write_text(f"# a comment\nnumpy=={numpy}\n")
    assert environment.differences(lock) == []
    lock.write_text("NumPy==0.0.1\nno-such-package==1.0\n")
    found = environment.differences(lock)
    assert found[0] == "no-such-package is not installed; the course pins no-such-package==1.0"
    assert found[1] == f"numpy {numpy} is installed; the course pins numpy==0.0.1"
    assert "pip install -r requirements.lock" in found[2]
    lock.write_text("numpy>=1\n")
    assert "expected name==version" in environment.differences(lock)[0]


def test_lock_pins_what_is_installed_and_names_what_is_not():
    text, missing = environment.lock_text(["numpy>=1.24", "no-such-package>=1"])
    assert f"\nnumpy=={environment.installed_version('numpy')}\n" in text
    assert missing == ["no-such-package"] and "# no-such-package: not pinned" in text


def test_the_command_line_is_one_parser_under_both_names(student_repo, capsys):
    # python -m grader.submit and python -m grader submit take the same arguments.
    from grader.__main__ import main as grader_main

    with pytest.raises(SystemExit) as usage:
        submit.main(["hw0", "--bogus"])
    assert usage.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        grader_main(["submit"])
    assert "the following arguments are required: hw" in capsys.readouterr().err
    assert grader_main(["submit", "hw9", "--no-test"]) == 1
    assert "no homework folder 'hw9'" in capsys.readouterr().err
    args = argparse.Namespace(hw="hw0", no_test=True)
    assert submit.run(args, repo=student_repo) == 0
    assert (student_repo / submit.SUBMISSIONS / "hw0.zip").is_file()
