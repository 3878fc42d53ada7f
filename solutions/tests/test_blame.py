"""Cross-homework blame (tests/blame.py), checked on the reference: its registry matches the
course, every check passes on the reference code, and in a scratch pytest run with a planted
bug a later homework's failing test names the earlier homework's wrong function, while a
bug in the test's own homework blames nothing earlier and passing tests print nothing.

Instructor-only (in no homework's ``files``): the planted runs need the reference code.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import blame
import pytest

SOLUTIONS = Path(__file__).resolve().parents[1]

# A Summation.gradient that is right for one axis and doubles the adjoint for several (None
# on 2 or more axes included); and a LayerNorm1d.forward off by a factor (a hw2 bug).
_PLANTS = {
    "summation": """
        import needle.ops.ops_mathematic as m
        right = m.Summation.gradient
        def gradient(self, out_grad, node):
            axes = node.inputs[0].ndim if self.axes is None else len(self.axes)
            return right(self, out_grad, node) * (2 if axes > 1 else 1)
        m.Summation.gradient = gradient
    """,
    "layernorm": """
        import needle.nn.nn_basic as m
        right = m.LayerNorm1d.forward
        m.LayerNorm1d.forward = lambda self, x: right(self, x) * 1.5
    """,
}


def _run_planted(tmp_path: Path, plant: str, *tests: str) -> str:
    """pytest's output on ``tests`` (node ids under solutions/) with ``plant`` applied first."""
    body = textwrap.indent(textwrap.dedent(_PLANTS[plant]), "    ")
    (tmp_path / "planted_bug.py").write_text(f"def pytest_configure(config):\n{body}\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "planted_bug", "-q", "-p", "no:cacheprovider", *tests],
        cwd=SOLUTIONS, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(tmp_path)})
    return result.stdout + result.stderr


def test_registry_names_real_regions_with_their_homework_and_question():
    course = pytest.importorskip("grader.course")
    markers = pytest.importorskip("grader.markers")
    homeworks = {hw.number: hw for hw in course.load_course()}
    parsed = {}
    for region in blame.REGIONS.values():
        path = "python/" + region.module.replace(".", "/") + ".py"
        if path not in parsed:
            parsed[path] = markers.parse((SOLUTIONS / path).read_text(), path, "python").regions
        found = [r for r in parsed[path] if r.qualname == region.name]
        assert [r.hw for r in found] == [region.hw], f"{region.name}: regions {found}"
        question = course.question_of(homeworks[region.hw], path, region.name)
        assert question.n == region.question, f"{region.name} is question {question.n}"


def test_every_check_passes_on_the_reference():
    wrong = {name: blame.wrong_settings(name) for name in blame.REGIONS}
    assert {name: w for name, w in wrong.items() if w != []} == {}


def test_a_wrong_gradient_is_found_at_the_settings_where_it_is_wrong(monkeypatch):
    import needle.ops.ops_mathematic as m
    right = blame._current_function(blame.REGIONS["Summation.gradient"])

    def gradient(self, out_grad, node):
        axes = node.inputs[0].ndim if self.axes is None else len(self.axes)
        return right(self, out_grad, node) * (2 if axes > 1 else 1)
    monkeypatch.setattr(m.Summation, "gradient", gradient)
    assert blame.wrong_settings("Summation.gradient") == ["axes=None", "axes=(0, 2)", "axes=(1, 2)",
                                                          "axes=(0, 1, 2)"]
    lines = blame.blame(2, {"Summation.gradient", "EWiseAdd.gradient", "LayerNorm1d.forward"})
    assert lines == ["hw1 Summation.gradient is wrong for axes=None, axes=(0, 2), axes=(1, 2) and 1 more: "
                     "run `python -m pytest tests/hw1 --question 2`"]
    assert blame.blame(1, {"Summation.gradient"}) == []  # hw1's own tests: nothing earlier


def test_a_later_homework_failing_on_a_wrong_hw1_function_names_it(tmp_path):
    output = _run_planted(tmp_path, "summation",
                          "tests/hw2/test_nn.py::test_linear_forward_backward_and_initialisation[cpu_numpy]",
                          "tests/hw5/test_sequence.py::test_lstm_gradients_by_central_differences")
    expected = ("hw1 Summation.gradient is wrong for axes=None, axes=(0, 2), axes=(1, 2) and 1 more: "
                "run `python -m pytest tests/hw1 --question 2`")
    summary = output.split("failures, in question order")[-1]
    assert summary.count(expected) == 2, output  # once under each failing test
    assert "2 failed" in output, output


def test_a_bug_in_the_tests_own_homework_blames_nothing_earlier_and_passing_tests_print_nothing(tmp_path):
    output = _run_planted(tmp_path, "layernorm",
                          "tests/hw2/test_nn.py::test_layernorm1d_forward_and_gradient[cpu_numpy]",
                          "tests/hw2/test_nn.py::test_linear_forward_backward_and_initialisation[cpu_numpy]")
    assert "1 failed, 1 passed" in output, output
    assert "is wrong for" not in output and "hw1 " not in output, output
