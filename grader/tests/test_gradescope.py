"""The Gradescope bundle runs this grader as Gradescope would: unzip, run_autograder, results.json."""
import io
import json
import os
import subprocess
import sys
import zipfile
from types import SimpleNamespace

import numpy as np

from grader import answers, gradescope, runner
from grader.assignment import build
from grader.course import load_course
from grader.handouts import secret_lines
from grader.tests.test_grader import solution_submission

COURSE = load_course()
HW1 = COURSE[1]


def test_bundle_grades_a_submission_into_results_json(tmp_path):
    bundle = gradescope.export(HW1, tmp_path / "hw1.zip")
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        zf.extractall(root / "source")
    assert {"setup.sh", "run_autograder", "grader/hidden/hw1/test_hidden_autograd.py",
            "grader/answers/hw1.npz", "grader/answers/hw1.json", "assignment/hw1.json",
            "data/mnist/t10k-images-idx3-ubyte.gz"} <= set(names)
    assert not any(n.startswith(("grader/tests/", "grader/hidden/hw0/", "grader/answers/hw0",
                                 "solutions/"))
                   for n in names)
    assert zipfile.ZipFile(bundle).getinfo("run_autograder").external_attr >> 16 & 0o111
    solution_submission(root / "submission")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable}
    run = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == results["max_score"] == 100
    assert len(results["tests"]) == 13 and all(t["visibility"] == "visible" for t in results["tests"])
    assert results["output"].startswith("Isolation: ")  # python -m grader isolation's report


def test_bundle_holds_the_answer_key_and_no_solution_text(tmp_path):
    bundle = gradescope.export(HW1, tmp_path / "hw1.zip")
    secrets = secret_lines(COURSE)
    assert secrets
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        assert not any(n.startswith("solutions/") for n in names)
        for name in names:
            data = zf.read(name)
            if name.endswith((".gz", ".npz")):
                continue
            text = data.decode("utf-8")
            lines = {line.strip() for line in text.splitlines()}
            if name == "assignment/hw1.json":
                lines |= {line.strip() for f in json.loads(text)["files"].values() for line in f.splitlines()}
            assert not lines & secrets, (name, sorted(lines & secrets)[:3])
        with np.load(io.BytesIO(zf.read("grader/answers/hw1.npz")), allow_pickle=False) as key:
            assert {k.rsplit("::", 1)[0] for k in key.files} == {t.id for t in runner.discover("hw1")}
        thawed = gradescope.thaw_assignment(zf.read("assignment/hw1.json").decode())
    reference = build(HW1)
    assert thawed.homework == HW1 and thawed.handout.files == reference.handout.files
    assert (thawed.whitelist, thawed.tests, thawed.fingerprint, thawed.environment) == \
        (reference.whitelist, reference.tests, reference.fingerprint, reference.environment)
    assert answers.needs_build(thawed.handout, HW1) == answers.needs_build(reference.handout, HW1)
    hw0 = gradescope.thaw_assignment(gradescope.frozen_assignment(build(COURSE[0])))
    assert answers.needs_build(hw0.handout, COURSE[0])


def test_bundle_runs_student_code_unprivileged_with_the_source_unreadable(tmp_path):
    with zipfile.ZipFile(gradescope.export(HW1, tmp_path / "hw1.zip")) as zf:
        setup, run = zf.read("setup.sh").decode(), zf.read("run_autograder").decode()
    assert "useradd --system --no-create-home --shell /usr/sbin/nologin student" in setup
    assert 'chmod 700 /autograder/source' in setup and 'chmod 700 "$ROOT/source"' in run
    assert "/autograder/source/.venv" not in setup + run  # the venv stays readable outside it
    assert ('export FLAMETHROWER_SANDBOX_UID="$(id -u student)" '
            'FLAMETHROWER_SANDBOX_GID="$(id -g student)"') in run
    assert "-m grader.gradescope grade hw1" in run


def test_a_root_grader_that_cannot_drop_privileges_runs_no_student_code(monkeypatch):
    from grader import sandbox
    monkeypatch.setattr(gradescope.os, "geteuid", lambda: 0)
    monkeypatch.setattr(sandbox, "detect", lambda: SimpleNamespace(
        landlock_abi=0, namespaces=True, root=True, notes=["no Landlock"], sandbox_uid=None))
    lines, safe = gradescope.isolation_report()
    assert not safe and lines[0].startswith("Isolation: ") and "- missing: no Landlock" in lines
    assert "no student code was run" in lines[-1]
    monkeypatch.setattr(sandbox, "detect", lambda: SimpleNamespace(
        landlock_abi=6, namespaces=True, root=True, notes=[], sandbox_uid=1001,
        protections=["unprivileged: student code runs as uid 1001"]))
    lines, safe = gradescope.isolation_report()
    assert safe and "- unprivileged: student code runs as uid 1001" in lines
