"""Carry-forward: filled regions move from hwN-1's handout into hwN's stubs, never over the
student's newer code, and only between consecutive homeworks."""
import shutil
import subprocess
import sys

import pytest

from grader import carry
from grader.course import SOLUTIONS, load_course
from grader.fill import bodies_of, fill_stubs, stubs_in
from grader.handouts import generate, write
from grader.markers import language_of, parse

COURSE = load_course()


def filled(files: dict[str, str]) -> dict[str, str]:
    """A handout with every stub filled with the reference code (a student who did it all)."""
    out = {}
    for name, text in files.items():
        if stubs_in(text) and not name.endswith(".ipynb"):
            regions = parse((SOLUTIONS / name).read_text(), name, language_of(name)).regions
            text, _ = fill_stubs(text, bodies_of(regions))
        out[name] = text
    return out


@pytest.fixture
def repo(tmp_path):
    """hw1 handout (filled in by the student) and a fresh hw2 handout side by side."""
    hw1, hw2 = (generate(hw, COURSE) for hw in COURSE[1:3])
    hw1.files = filled(hw1.files)
    write(hw1, tmp_path / "hw1_autograd")
    write(hw2, tmp_path / "hw2_nn")
    shutil.copytree(SOLUTIONS.parent / "data", tmp_path / "data")
    return tmp_path


def pristine_hw1():
    return generate(COURSE[1], COURSE).files


def test_carried_hw1_work_passes_hw2s_tests_of_hw1(repo):
    moves = carry.carry_forward(repo / "hw1_autograd", repo / "hw2_nn", pristine_hw1())
    expected = {(n, s) for n, t in pristine_hw1().items() if not n.endswith(".ipynb") for s in stubs_in(t)}
    assert {(m.path, m.name) for m in moves if m.moved} == expected and all(m.moved for m in moves)
    assert "src/simple_ml_ext.cpp" in {m.path for m in moves}  # C++ regions move too
    run = subprocess.run([sys.executable, "-m", "pytest", "tests/hw1", "-q", "-p", "no:cacheprovider"],
                         cwd=repo / "hw2_nn", capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:]
    hw2_stubs = stubs_in((repo / "hw2_nn" / "python" / "needle" / "nn" / "nn_basic.py").read_text())
    assert "Linear.forward" in hw2_stubs  # hw2's own work is left to do


def test_a_region_already_filled_in_the_destination_is_never_overwritten(repo):
    autograd = repo / "hw2_nn" / "python" / "needle" / "autograd.py"
    mine = "    return list(node_list)  # my newer code\n"
    autograd.write_text(autograd.read_text().replace(
        '    raise NotImplementedError("find_topo_sort: hw1")\n', mine))
    moves = carry.carry_forward(repo / "hw1_autograd", repo / "hw2_nn", pristine_hw1())
    assert mine in autograd.read_text()
    left = [m for m in moves if not m.moved]
    assert [str(m) for m in left] == ["left  python/needle/autograd.py::find_topo_sort "
                                      "(already filled in hw2_nn)"]


def test_unfilled_and_hand_edited_functions_are_left_with_a_reason(repo):
    ops = repo / "hw1_autograd" / "python" / "needle" / "ops" / "ops_mathematic.py"
    text = ops.read_text()
    start = text.index("class EWiseAdd(")
    compute = text.index("    def compute", start)
    body_start = text.index("\n", compute) + 1
    body_end = text.index("\n\n", body_start)
    text = text[:body_start] + '        raise NotImplementedError("EWiseAdd.compute: hw1")' + text[body_end:]
    text = text.replace('    """``a * b`` elementwise. d/da = b, d/db = a."""',
                        '    """``a * b`` elementwise. d/da = b, d/db = a."""\n    extra = 1')
    ops.write_text(text)
    moves = {(m.path.split("/")[-1], m.name): m for m in
             carry.carry_forward(repo / "hw1_autograd", repo / "hw2_nn", pristine_hw1())}
    assert moves[("ops_mathematic.py", "EWiseAdd.compute")].reason == "still a stub in the source"
    assert moves[("ops_mathematic.py", "EWiseAdd.gradient")].moved
    # A line added to the class, outside any function, does not stop its methods moving.
    assert moves[("ops_mathematic.py", "EWiseMul.compute")].moved


def test_a_function_changed_around_its_stub_is_left(repo):
    simple_ml = repo / "hw1_autograd" / "src" / "simple_ml.py"
    simple_ml.write_text(simple_ml.read_text().replace("    check_labels(y, Z.shape[1])\n", ""))
    moves = {m.name: m for m in carry.carry_forward(repo / "hw1_autograd", repo / "hw2_nn", pristine_hw1())}
    assert moves["softmax_loss"].reason == "you changed the function outside its stub; copy it by hand"
    assert moves["parse_mnist"].moved


def test_carry_forward_refuses_anything_but_the_previous_homework(repo):
    write(generate(COURSE[0], COURSE), repo / "hw0")
    with pytest.raises(carry.CarryError,
                       match=r"hw0 \(hw0\) is not a handout of the homework before hw2_nn \(hw2\)"):
        carry.carry_forward(repo / "hw0", repo / "hw2_nn", generate(COURSE[0], COURSE).files)
    with pytest.raises(carry.CarryError, match="nothing to carry from"):
        carry.main("hw0", repo)
    assert any(m.moved for m in carry.main("hw2", repo))


def test_carried_hw2_work_passes_hw3s_tests_of_hw2_once_the_views_are_written(tmp_path):
    hw2, hw3 = (generate(hw, COURSE) for hw in COURSE[2:4])
    hw2.files = filled(hw2.files)
    write(hw2, tmp_path / "hw2_nn")
    write(hw3, tmp_path / "hw3_ndarray_backend")
    shutil.copytree(SOLUTIONS.parent / "data", tmp_path / "data")
    moves = carry.carry_forward(tmp_path / "hw2_nn", tmp_path / "hw3_ndarray_backend",
                                generate(COURSE[2], COURSE).files)
    assert moves and all(m.moved for m in moves)
    # Carrying leaves hw3's own stubs alone. Needle's ops run on NDArray views on every device,
    # so the student writes question 1 (the views); then the NumPy reference device runs the
    # carried hw1/hw2 code, while the C++ device still waits for the hw3 kernels.
    name = "python/needle/backend_ndarray/ndarray.py"
    ndarray = tmp_path / "hw3_ndarray_backend" / name
    assert "NDArray.reshape" in stubs_in(ndarray.read_text())
    ndarray.write_text(filled({name: ndarray.read_text()})[name])
    run = subprocess.run([sys.executable, "-m", "pytest", "tests/hw2", "-q", "-p", "no:cacheprovider",
                          "-m", "not slow", "-k", "cpu_numpy"],
                         cwd=tmp_path / "hw3_ndarray_backend", capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:]
    assert " passed" in run.stdout.splitlines()[-1]


def test_a_todo_line_the_student_kept_is_not_carried_as_their_code(repo):
    autograd = repo / "hw1_autograd" / "python" / "needle" / "autograd.py"
    todo = "    # TODO (hw1, question 3): implement find_topo_sort (Topological sort)\n"
    pristine = pristine_hw1()["python/needle/autograd.py"]
    kept = pristine.replace('    raise NotImplementedError("find_topo_sort: hw1")\n',
                            "    return list(node_list)  # mine\n")
    assert todo in kept
    autograd.write_text(kept)
    moves = carry.carry_forward(repo / "hw1_autograd", repo / "hw2_nn", pristine_hw1())
    assert any(m.name == "find_topo_sort" and m.moved for m in moves)
    carried = (repo / "hw2_nn" / "python" / "needle" / "autograd.py").read_text()
    assert todo not in carried and "    return list(node_list)  # mine\n" in carried
