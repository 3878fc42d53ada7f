"""The Gradescope bundle runs this grader as Gradescope would: unzip, run_autograder, results.json."""
import json
import os
import subprocess
import sys
import zipfile

from grader import gradescope
from grader.course import load_course
from grader.tests.test_grader import solution_submission

HW1 = load_course()[1]


def test_bundle_grades_a_submission_into_results_json(tmp_path):
    bundle = gradescope.export(HW1, tmp_path / "hw1.zip")
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        zf.extractall(root / "source")
    assert {"setup.sh", "run_autograder", "grader/hidden/hw1/test_hidden_autograd.py",
            "grader/answers/hw1.npz", "solutions/course.toml", "data/mnist/t10k-images-idx3-ubyte.gz"} <= set(names)
    assert not any(n.startswith(("grader/tests/", "grader/hidden/hw0/", "grader/answers/hw0")) for n in names)
    assert zipfile.ZipFile(bundle).getinfo("run_autograder").external_attr >> 16 & 0o111
    solution_submission(root / "submission")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable}
    run = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == results["max_score"] == 100
    assert len(results["tests"]) == 13 and all(t["visibility"] == "visible" for t in results["tests"])
