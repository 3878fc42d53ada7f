"""What a student reads from a handout's public tests (tests/conftest.py): tests in question
order, a stub's failure named with its question (or as a dependency of a later one), the op
whose gradient rule is wrong, a hang named and the run stopped, and a short report whose
summary keeps every message whole."""
import re
import subprocess
import sys

import pytest

from grader import handouts
from grader.course import SOLUTIONS, load_course
from grader.fill import bodies_of, fill_stubs, stubs_in
from grader.markers import language_of, parse

COURSE = load_course()


def write_handout(folder, homework: int = 1, filled: bool = False):
    """Handout ``homework`` (hw1 by default) in ``folder``: raw, or with every stub filled with
    the reference code."""
    handout = handouts.generate(COURSE[homework], COURSE)
    if filled:
        for name, text in handout.files.items():
            if stubs_in(text) and not name.endswith(".ipynb"):
                regions = parse((SOLUTIONS / name).read_text(), name, language_of(name)).regions
                handout.files[name], _ = fill_stubs(text, bodies_of(regions))
    handouts.write(handout, folder)
    return folder


def pytest_in(folder, env, *args, columns: int = 80) -> str:
    """Run the public tests in ``folder`` as a student types it; everything printed."""
    run = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=folder, text=True,
                         capture_output=True, env={**env, "COLUMNS": str(columns)}, timeout=600)
    assert run.returncode in (0, 1, 2), run.stdout[-2000:] + run.stderr[-2000:]
    return run.stdout


def replace_in(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def summary(output: str) -> list[str]:
    """The final summary's lines, from its header on."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if "failures, in question order" in line)
    return lines[start + 1:]


def test_a_fresh_handout_fails_first_on_question_1_and_names_each_stubs_question(tmp_path, env):
    folder = write_handout(tmp_path / "hw1_autograd", filled=False)
    output = pytest_in(folder, env, "tests/hw1", "-m", "not slow")
    lines = summary(output)
    assert lines[0].startswith("FAILED tests/hw1/") and "(hw1, question 1)" in lines[1]
    assert "    EWiseAdd.compute is not implemented (hw1, question 1)" in lines
    # A question-3 test reaches question 1's stubs first, and says so.
    topo = lines.index("FAILED tests/hw1/test_autograd.py::test_topo_sort_is_the_post_order_dfs")
    assert lines[topo + 1] == "    depends on question 1: EWiseMul.compute is not implemented"
    # Short: no function's source is reprinted, and each failing test costs a few lines (its
    # name and message, in the failures and again in the summary), not a traceback.
    failed = int(re.search(r"(\d+) failed", output.splitlines()[-1]).group(1))
    assert "def find_topo_sort" not in output
    assert len(output.splitlines()) < 40 + 5 * failed, (len(output.splitlines()), failed)


def test_the_summary_keeps_a_long_message_whole_on_a_narrow_terminal(tmp_path, env):
    folder = write_handout(tmp_path / "hw1_autograd", filled=True)
    path = folder / "python" / "needle" / "ops" / "ops_mathematic.py"
    long_name = "a_function_whose_name_alone_is_wider_than_the_terminal_" * 2
    replace_in(path, "        return a + b\n", f'        raise NotImplementedError("{long_name}")\n')
    output = pytest_in(folder, env, "tests/hw1/test_ops.py", "-k", "forward_matches_numpy", columns=40)
    assert f"    NotImplementedError: {long_name}" in summary(output)


def test_a_wrong_gradient_rule_is_named_by_the_composite_tests(tmp_path, env):
    folder = write_handout(tmp_path / "hw1_autograd", filled=True)
    replace_in(folder / "python" / "needle" / "ops" / "ops_mathematic.py",
               "        return out_grad * self.scalar\n", "        return out_grad * (self.scalar + 1)\n")
    output = pytest_in(folder, env, "tests/hw1/test_autograd.py", "-k", "reused_node")
    lines = summary(output)
    assert lines[0] == "FAILED tests/hw1/test_autograd.py::test_backward_of_a_reused_node_sums_its_adjoints"
    assert lines[1].startswith("    AssertionError: wrong gradient rule (question 2): MulScalar.gradient")


def test_a_traversal_bug_is_not_blamed_on_an_op(tmp_path, env):
    folder = write_handout(tmp_path / "hw1_autograd", filled=True)
    # A question-4 bug: a node used twice keeps one partial adjoint instead of their sum.
    replace_in(folder / "python" / "needle" / "autograd.py",
               "node.grad = sum_node_list(grads)", "node.grad = grads[-1]")
    output = pytest_in(folder, env, "tests/hw1/test_autograd.py", "-k", "reused_node")
    lines = summary(output)
    assert lines[1] == ("    AssertionError: every op's gradient in this graph agrees with central "
                        "differences, so look at find_topo_sort and compute_gradient_of_variables "
                        "(questions 3 and 4)")


def test_a_hang_is_named_and_stops_the_run(tmp_path, env):
    folder = write_handout(tmp_path / "hw1_autograd", filled=True)
    replace_in(folder / "pytest.ini", "timeout = 50", "timeout = 3")
    replace_in(folder / "python" / "needle" / "autograd.py",
               "node, next_input = stack.pop()", "node, next_input = stack[-1]  # never popped")
    output = pytest_in(folder, env, "tests/hw1")
    assert "Timeout (>3.0s) from pytest-timeout" in output
    # the first test to reach the endless loop (in question order) is named, and the run stops
    assert re.search(r"! Interrupted: tests/hw1/test_\w+\.py::test_\w+(\[[^\]]*\])? ran past its time "
                     r"limit \(an infinite loop\?\); the tests after it were not run !",
                     output), output[-3000:]


def test_tests_are_collected_in_question_order(tmp_path, env):
    folder = write_handout(tmp_path / "hw1_autograd", filled=True)
    run = subprocess.run([sys.executable, "-m", "pytest", "tests/hw1", "--collect-only", "-q"],
                         cwd=folder, capture_output=True, text=True, env=env)
    ids = [line for line in run.stdout.splitlines() if "::" in line]
    files = list(dict.fromkeys(i.split("::")[0] for i in ids))
    # Given code first (tensor basics), then questions 1-2 (ops), 3-4 (autograd), 5-6 (apps).
    assert files.index("tests/hw1/test_ops.py") < files.index("tests/hw1/test_autograd.py")
    first_autograd = next(i for i, name in enumerate(ids) if "test_autograd.py" in name)
    assert all("test_autograd.py" not in name and "simple_ml_needle.py::test_softmax_loss_matches" not in name
               for name in ids[:first_autograd])


@pytest.mark.skipif(__import__("importlib").util.find_spec("torch") is not None,
                    reason="counts the comparisons skipped for want of PyTorch, which is installed")
def test_the_run_counts_the_pytorch_comparisons_it_skipped():
    run = subprocess.run([sys.executable, "-m", "pytest", "tests/hw2/test_optim.py", "-q"],
                         cwd=SOLUTIONS, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:]
    assert "comparison(s) with PyTorch skipped: PyTorch is not installed" in run.stdout
    assert "make test-torch" in run.stdout
