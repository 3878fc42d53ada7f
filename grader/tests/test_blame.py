"""Cross-homework blame (solutions/tests/blame.py, hooked in tests/conftest.py from hw2 on): a
later homework's failing test names the wrong function carried from an earlier homework, with
the command that runs that function's own tests; a bug in the test's own homework blames nothing
earlier; passing tests print nothing. Checked in generated hw2 handouts filled with the
reference and a planted bug (as a student's folder), in the solutions' hw5 tests, and on the
registry itself."""
import importlib.util
import json
import subprocess
import sys

import pytest

from grader.course import SOLUTIONS, load_course, question_of
from grader.markers import parse
from grader.tests.test_student_report import pytest_in, replace_in, summary, write_handout

COURSE = load_course()
SUMMATION = "python/needle/ops/ops_mathematic.py"
# A Summation.gradient right for one axis that doubles the adjoint for several (None on 2 or
# more axes included), appended to the student's ops file.
PLANTED_SUMMATION = """

_right_summation_gradient = Summation.gradient


def _planted_summation_gradient(self, out_grad, node):
    axes = node.inputs[0].ndim if self.axes is None else len(self.axes)
    return _right_summation_gradient(self, out_grad, node) * (2 if axes > 1 else 1)


Summation.gradient = _planted_summation_gradient
"""
EXPECTED = ("hw1 Summation.gradient is wrong for axes=None, axes=(0, 2), axes=(1, 2) and 1 more: "
            "run `python -m pytest tests/hw1 --question 2`")


def load_blame():
    spec = importlib.util.spec_from_file_location("blame_under_test", SOLUTIONS / "tests" / "blame.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)  # imports NumPy only: needle is imported by the checks
    return module


def test_the_registry_names_real_regions_with_their_homework_and_question():
    blame = load_blame()
    homeworks = {hw.number: hw for hw in COURSE}
    regions = {}
    for region in blame.REGIONS.values():
        path = "python/" + region.module.replace(".", "/") + ".py"
        if path not in regions:
            regions[path] = parse((SOLUTIONS / path).read_text(), path, "python").regions
        found = [r.hw for r in regions[path] if r.qualname == region.name]
        assert found == [region.hw], f"{region.name}: regions of homeworks {found}"
        assert question_of(homeworks[region.hw], path, region.name).n == region.question, region.name
    assert "tests/blame.py" in COURSE[2].files  # shipped from hw2 on, where conftest.py imports it


def test_every_check_passes_on_the_reference_and_a_planted_bug_is_found_where_it_is_wrong():
    script = f"""
import json, sys
sys.path[:0] = ["python", "tests"]
import blame
reference = {{name: blame.wrong_settings(name) for name in blame.REGIONS}}
import needle.ops.ops_mathematic as m
exec({PLANTED_SUMMATION!r}, vars(m))
planted = blame.wrong_settings("Summation.gradient")
lines = {{hw: blame.blame(hw, {{"Summation.gradient", "EWiseAdd.gradient", "LayerNorm1d.forward"}})
         for hw in (1, 2, 5)}}
print(json.dumps([reference, planted, lines]))
"""
    run = subprocess.run([sys.executable, "-c", script], cwd=SOLUTIONS, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    reference, planted, lines = json.loads(run.stdout.splitlines()[-1])
    assert {name: wrong for name, wrong in reference.items() if wrong != []} == {}
    assert planted == ["axes=None", "axes=(0, 2)", "axes=(1, 2)", "axes=(0, 1, 2)"]
    # hw1's own tests blame nothing earlier; later ones name it, and stop at hw1 (LayerNorm1d,
    # of hw2, runs on the wrong summation: it is not checked once hw1 is found wrong).
    assert lines == {"1": [], "2": [EXPECTED], "5": [EXPECTED]}


@pytest.fixture(scope="module")
def hw2_handouts(tmp_path_factory):
    """Two filled hw2 handouts: one with a wrong hw1 Summation.gradient, one with a wrong hw2
    LayerNorm1d.forward."""
    root = tmp_path_factory.mktemp("blame")
    hw1_bug, hw2_bug = (write_handout(root / name, 2, filled=True) for name in ("hw1_bug", "hw2_bug"))
    path = hw1_bug / SUMMATION
    path.write_text(path.read_text() + PLANTED_SUMMATION)
    replace_in(hw2_bug / "python/needle/nn/nn_basic.py",  # the unbiased variance
               "ops.summation(centred * centred, (1,)) / self.dim,",
               "ops.summation(centred * centred, (1,)) / (self.dim - 1),")
    return hw1_bug, hw2_bug


def test_a_later_homework_failing_on_a_wrong_hw1_function_names_it(hw2_handouts, env):
    output = pytest_in(hw2_handouts[0], env, "tests/hw2/test_nn.py", "-k", "linear_forward or layernorm1d")
    lines = summary(output)
    assert lines[:2] == ["FAILED tests/hw2/test_nn.py::test_linear_forward_backward_and_initialisation",
                         "    " + EXPECTED], output[-3000:]
    assert lines[2].startswith("    AssertionError"), lines
    # LayerNorm1d sums over one axis, where the planted gradient is right: it passes, silently.
    assert "1 failed, 1 passed" in output and output.count("is wrong for") == 1, output[-3000:]


def test_a_bug_in_the_tests_own_homework_blames_nothing_earlier(hw2_handouts, env):
    output = pytest_in(hw2_handouts[1], env, "tests/hw2/test_nn.py", "-k", "linear_forward or layernorm1d")
    assert "1 failed, 1 passed" in output, output[-3000:]
    assert "FAILED tests/hw2/test_nn.py::test_layernorm1d_forward_and_gradient" in summary(output)
    assert "is wrong for" not in output and "hw1 " not in output, output[-3000:]


def test_an_lstm_test_failing_on_a_wrong_hw1_function_names_it(tmp_path, env):
    (tmp_path / "planted_bug.py").write_text(
        "def pytest_configure(config):\n    import needle.ops.ops_mathematic as m\n"
        f"    exec({PLANTED_SUMMATION!r}, vars(m))\n")
    test = "tests/hw5/test_sequence.py::test_lstm_gradients_by_central_differences"
    output = pytest_in(SOLUTIONS, {**env, "PYTHONPATH": str(tmp_path)}, "-p", "planted_bug",
                       test)
    assert summary(output)[:2] == [f"FAILED {test}", "    " + EXPECTED], output[-3000:]
