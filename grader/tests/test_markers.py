"""The marker parser and renderer: stubs, FROM blocks, and every malformed marker an error
naming file:line."""
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from grader.fill import fill_stubs, stubs_in
from grader.handouts import render_notebook
from grader.markers import MarkerError, parse, render

PYTHON = '''\
import numpy


class Op:
    def compute(self, a):
        """Docstring."""
        check(a)
        ### BEGIN SOLUTION hw1
        return a + 1
        ### END SOLUTION


def later():
    return 0
### BEGIN FROM hw2


def hw2_only():
    ### BEGIN SOLUTION hw2
    return 2
    ### END SOLUTION
### END FROM
'''

CPP = '''\
void kernel(const float *x,
            size_t n)
{
    if (n == 0) return;
    /// BEGIN SOLUTION hw3
    for (size_t i = 0; i < n; ++i) work(x[i]);
    /// END SOLUTION
}
'''


def test_python_region_becomes_a_stub_naming_its_qualified_name():
    text, stubs = render(parse(PYTHON, "ops.py", "python"), 1, "python")
    assert '        check(a)\n        raise NotImplementedError("Op.compute: hw1")\n' in text
    assert "return a + 1" not in text and "hw2_only" not in text and "FROM" not in text
    assert [(s.qualname, s.hw, s.begin, s.end) for s in stubs] == [("Op.compute", 1, 8, 10)]


def test_from_block_appears_from_its_homework_on():
    text, stubs = render(parse(PYTHON, "ops.py", "python"), 2, "python")
    assert 'def hw2_only():\n    raise NotImplementedError("hw2_only: hw2")\n' in text
    assert "### " not in text
    assert [s.qualname for s in stubs] == ["Op.compute", "hw2_only"]


def test_solutions_render_unchanged_apart_from_markers_when_filled():
    parsed = parse(PYTHON, "ops.py", "python")
    text, _ = render(parsed, 2, "python")
    filled, names = fill_stubs(text, {r.qualname: r.body for r in parsed.regions})
    assert names == ["Op.compute", "hw2_only"]
    assert filled == "".join(line + "\n" for line in PYTHON.splitlines() if "###" not in line)


def test_cpp_region_throws_naming_the_function():
    text, _ = render(parse(CPP, "k.cc", "cpp"), 3, "cpp")
    assert '    throw std::runtime_error("not implemented: kernel: hw3");\n' in text
    assert "if (n == 0) return;" in text and "work(" not in text
    assert stubs_in(text) == ["kernel"]


def test_a_later_homeworks_region_outside_a_from_block_is_an_error():
    with pytest.raises(MarkerError, match=r"^k.cc:5: hw3 region in a file that hw1 includes"):
        render(parse(CPP, "k.cc", "cpp"), 1, "cpp")


@pytest.mark.parametrize("source, line, message", [
    ("def f():\n    ### BEGIN SOLUTION hw1\n    ### BEGIN SOLUTION hw1\n", 3,
     "nested in the SOLUTION region opened at line 2"),
    ("def f():\n    ### BEGIN SOLUTION hw1\n    return 1\n", 2, "BEGIN SOLUTION is never closed"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", 3, "END SOLUTION without a BEGIN SOLUTION"),
    ("### BEGIN FROM hw2\nx = 1\n", 1, "BEGIN FROM is never closed"),
    ("x = 1\n### END FROM\n", 2, "END FROM without a BEGIN FROM"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### END SOLUTION\n", 2,
     "needs a homework tag such as hw1, found None"),
    ("def f():\n    ### BEGIN SOLUTION homework1\n", 2, "found 'homework1'"),
    ("def f():\n    ### BEGIN SOLUTION hw1\n    ### END SOLUTION hw1\n", 3, "END SOLUTION takes no tag"),
    ("def f():\n    ##BEGIN SOLUTION hw1\n", 2, "malformed marker '##BEGIN SOLUTION hw1'"),
    ("def f():\n    ### BEGIN SOLUTIONS hw1\n", 2, "malformed marker"),
    ("def f():\n    /// BEGIN SOLUTION hw1\n", 2, "marker uses '///'; this file's markers start with '###'"),
    ("### BEGIN SOLUTION hw1\nx = 1\n### END SOLUTION\n", 1, "must sit inside a function"),
    ("### BEGIN FROM hw1\n### BEGIN FROM hw2\n", 2, "BEGIN FROM nested in the FROM block opened at line 1"),
    ("### BEGIN FROM hw2\ndef f():\n    ### BEGIN SOLUTION hw1\n", 3, "a hw1 region inside the hw2 block"),
    ("def f():\n    ### BEGIN SOLUTION hw1\n    ### END FROM\n", 3, "END FROM inside the SOLUTION region"),
])
def test_malformed_markers_are_errors_naming_file_and_line(source, line, message):
    with pytest.raises(MarkerError, match=message) as error:
        parse(source, "pkg/mod.py", "python")
    assert str(error.value).startswith(f"pkg/mod.py:{line}: ")


def test_solution_regions_are_refused_where_no_stub_can_be_written():
    with pytest.raises(MarkerError, match=r"CMakeLists\.txt:1: SOLUTION regions belong in Python or C"):
        parse("### BEGIN SOLUTION hw1\n### END SOLUTION\n", "CMakeLists.txt", "hash")


def test_notebook_cells_are_rendered_and_outputs_cleared():
    cell = new_code_cell("x = 1\n### BEGIN SOLUTION hw0\ny = secret()\n### END SOLUTION")
    cell.outputs = [new_output("stream", text="secret output")]
    cell.execution_count = 3
    text, stubs = render_notebook("hw0.ipynb", nbformat.writes(new_notebook(cells=[cell])), 0)
    out = nbformat.reads(text, as_version=4).cells[0]
    assert out.source == 'x = 1\nraise NotImplementedError("cell 1: hw0")'
    assert out.outputs == [] and out.execution_count is None
    assert [s.qualname for s in stubs] == ["cell 1"]
