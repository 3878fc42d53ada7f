"""The generated handouts, run as a student would: they build, every question's test fails on
the stub it reaches (a NotImplementedError naming it), given code passes, and a handout whose
stubs are filled with the reference code passes every test."""
import importlib.util
import json
import re
import subprocess
import sys
from dataclasses import replace

import pytest

from grader import handouts
from grader.course import REPO, SOLUTIONS, load_course, question_of
from grader.fill import bodies_of, fill_stubs, stubs_in
from grader.markers import language_of, parse
from grader.runner import has_gpu

COURSE = load_course()


def build_and_test(folder, env, tmp_path, *selection: str):
    """``make build`` then the tests in ``folder`` (all, or ``selection``: pytest arguments);
    returns the outcomes by test id."""
    build = subprocess.run(["make", "build", f"PYTHON={sys.executable}"], cwd=folder, env=env,
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    outcomes = tmp_path / f"{folder.name}-outcomes.json"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "grader.pytest_outcomes",
                          "-p", "no:randomly", *(selection or ("tests",))], cwd=folder,
                         capture_output=True, text=True,
                         env={**env, "NEEDLE_OUTCOMES": str(outcomes)})
    assert run.returncode in (0, 1), run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(outcomes.read_text())


def skipped_for_want_of_a_gpu(name: str, outcome: dict) -> bool:
    """A run of hw4's tests on the real ``cuda`` device, skipped (saying so) on a machine
    without a GPU."""
    return (outcome["outcome"] == "skipped" and not has_gpu()
            and re.search(r"[\[-]cuda[\]-]", name) is not None)


def skipped_for_want_of_torch(outcome: dict) -> bool:
    """A comparison with PyTorch, skipped (saying so) where PyTorch is not installed."""
    return (outcome["outcome"] == "skipped" and importlib.util.find_spec("torch") is None
            and "PyTorch is not installed" in (outcome["message"] or ""))


def skipped_for_want_of_a_machine(name: str, outcome: dict) -> bool:
    """A test skipped for want of what this machine lacks (a GPU, or PyTorch), as it says."""
    return skipped_for_want_of_a_gpu(name, outcome) or skipped_for_want_of_torch(outcome)


def _from_an_earlier_homework(name: str, homework) -> bool:
    """Whether test ``name`` (``tests/hwK/...``) is an earlier homework's: from hw3 on, such a
    test of given code runs on the NDArray layer this handout stubs, so it may fail on a stub."""
    folder = name.split("/")[1] if name.startswith("tests/") else ""
    return folder.startswith("hw") and folder[2:].isdigit() and int(folder[2:]) < homework.number


# hw4's and hw5's raw handouts build the CPU and emulated CUDA backends (three to four minutes
# each on two cores): make test-slow runs them; hw3's, the same check on the C++ backend, stays.
RAW = [pytest.param(hw, id=hw.dir, marks=[pytest.mark.slow] if hw.number >= 4 else [])
       for hw in COURSE]


@pytest.mark.parametrize("homework", RAW)
def test_raw_handout_fails_only_on_its_stubs(homework, tmp_path, env):
    handout = handouts.generate(homework, COURSE)
    folder = tmp_path / homework.dir
    handouts.write(handout, folder)
    stub_messages = {f"{r.qualname}: hw{r.hw}" for r in handout.stubs}
    outcomes = build_and_test(folder, env, tmp_path)
    assert outcomes, "no test ran"
    questions = [name for name, o in outcomes.items() if o["question"] is not None]
    assert questions, "no test is marked with a question"
    for name, outcome in outcomes.items():
        if outcome["question"] is None and not outcome["student_backend"] and \
                not _from_an_earlier_homework(name, homework):
            assert outcome["outcome"] == "passed" or skipped_for_want_of_a_machine(name, outcome), \
                f"{name} tests given code but {outcome}"
            continue
        if skipped_for_want_of_a_machine(name, outcome):
            continue
        if outcome["question"] is None and outcome["outcome"] == "passed":
            continue  # given code on the student's backend that needs no stubbed kernel
        assert outcome["outcome"] == "failed", f"{name} should fail on a stub: {outcome}"
        message = outcome["message"].removeprefix("not implemented: ")
        expected = "RuntimeError" if outcome["message"].startswith("not implemented: ") \
            else "NotImplementedError"
        assert outcome["exception"] == expected and message in stub_messages, \
            f"{name} failed with {outcome['exception']}: {outcome['message']}, not a stub"


# From hw3 on, a filled handout builds the C++ (and CUDA emulation) backends and runs every test
# that make test-solutions runs on the same code in solutions/: slow, so run by make test-slow.
FILLED = [pytest.param(hw, id=hw.dir, marks=[pytest.mark.slow] if hw.number >= 3 else [])
          for hw in COURSE]


@pytest.mark.parametrize("homework", FILLED)
def test_handout_filled_with_reference_code_passes_every_test(homework, tmp_path, env):
    handout = handouts.generate(homework, COURSE)
    filled_names = []
    for name, text in handout.files.items():
        language = language_of(name)
        if stubs_in(text) and language and not name.endswith(".ipynb"):
            regions = parse((SOLUTIONS / name).read_text(), name, language).regions
            handout.files[name], filled = fill_stubs(text, bodies_of(regions))
            filled_names += filled
    assert sorted(filled_names) == sorted(r.qualname for r in handout.stubs)
    folder = tmp_path / homework.dir
    handouts.write(handout, folder)
    # This homework's own tests, less the slow training runs: the earlier homeworks' tests run
    # in their own handouts, and every test, slow ones included, runs on solutions/ (make test).
    outcomes = build_and_test(folder, env, tmp_path, f"tests/{homework.id}", "-m", "not slow")
    failed = {name: o for name, o in outcomes.items()
              if o["outcome"] != "passed" and not skipped_for_want_of_a_machine(name, o)}
    assert not failed and len(outcomes) > 20


def test_committed_handouts_match_a_fresh_generation():
    assert handouts.check(REPO) == []


def test_check_reports_a_hand_edited_handout(repo_copy):
    path = repo_copy / "hw0" / "src" / "simple_ml.py"
    path.write_text(path.read_text() + "\n# edited by hand\n")
    assert handouts.check(repo_copy) == [
        "hw0/src/simple_ml.py: differs from a fresh generation (run `make handouts`; "
        "handouts are never edited by hand)"]


def test_check_reports_leaked_solution_text_and_markers(repo_copy):
    path = repo_copy / "hw1_autograd" / "python" / "needle" / "autograd.py"
    text = path.read_text().replace('raise NotImplementedError("find_topo_sort: hw1")',
                                    "order: list[Value] = []\n    ### END SOLUTION")
    path.write_text(text)
    problems = handouts.check(repo_copy)
    assert any("solution text: 'order: list[Value] = []'" in p for p in problems)
    assert any("marker left in: '### END SOLUTION'" in p for p in problems)


def test_check_reports_missing_extra_and_unclaimed_files(repo_copy):
    (repo_copy / "hw0" / "pytest.ini").unlink()
    (repo_copy / "hw0" / "notes.txt").write_text("mine")
    (repo_copy / "solutions" / "stray.py").write_text("x = 1\n")
    problems = handouts.check(repo_copy)
    assert "hw0/pytest.ini: missing (run `make handouts`)" in problems
    assert "hw0/notes.txt: not in a fresh generation (run `make handouts`)" in problems
    assert "solutions/stray.py: listed by no homework in course.toml" in problems


def test_check_reports_the_placeholder_repository_once_course_toml_sets_a_real_one(repo_copy):
    from grader.course import PLACEHOLDER_REPO_URL
    toml = repo_copy / "solutions" / "course.toml"
    url = "https://github.com/cmu-dlsys/needle-2025.git"
    toml.write_text(toml.read_text().replace(f'repo_url = "{PLACEHOLDER_REPO_URL}"', f'repo_url = "{url}"'))
    problems = handouts.check(repo_copy)
    assert "hw1_autograd/hw1.ipynb: differs from a fresh generation (run `make handouts`; " \
        "handouts are never edited by hand)" in problems
    assert any(p.startswith("hw1_autograd/hw1.ipynb: still clones the placeholder") for p in problems)
    handouts.generate_all(repo_copy)
    assert handouts.check(repo_copy) == []
    assert f'REPO_URL = \\"{url}\\"' in (repo_copy / "hw1_autograd" / "hw1.ipynb").read_text()


def test_every_notebook_has_a_colab_setup_cell_and_the_carry_forward_and_check_cell():
    import nbformat
    for hw in COURSE:
        notebook = nbformat.reads(handouts.generate(hw, COURSE).files[hw.notebook], as_version=4)
        sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
        assert any(handouts.REPO_URL_LINE.search(source) for source in sources), hw.id
        commands = next(s for s in sources if f"check-{hw.id}" in s)
        assert 'if "google.colab" in sys.modules:' in commands  # never run by CI's execution
        assert (f"carry-forward TO={hw.dir}" in commands) == (hw.number > 0)


def test_a_later_homework_adds_files_and_an_earlier_one_lacks_them():
    hw0, hw1 = (handouts.generate(hw, COURSE) for hw in COURSE[:2])
    assert not any(name.startswith("python/needle") for name in hw0.files)
    assert set(hw0.files) - {"README.md", "hw0.ipynb"} <= set(hw1.files)
    assert "hw0.ipynb" not in hw1.files and "hw1.ipynb" in hw1.files


def test_readme_lists_questions_with_points():
    readme = handouts.generate(COURSE[1], COURSE).files["README.md"]
    assert "| 3 | Topological sort | find_topo_sort in python/needle/autograd.py | 10 |" in readme
    assert "Total: 100 points." in readme


def test_make_test_runs_check_handouts_and_every_suite():
    plan = subprocess.run(["make", "-n", "test"], cwd=REPO, capture_output=True, text=True)
    assert plan.returncode == 0, plan.stderr
    for command in ("-m grader check-handouts", "-m ruff check .", "-m mypy --strict grader",
                    "-m pytest tests python/needle --doctest-modules", "-m pytest grader/tests"):
        assert command in plan.stdout, f"`make test` no longer runs {command!r}"


def test_every_stub_has_a_todo_line_naming_its_homework_and_question():
    handout = handouts.generate(COURSE[1], COURSE)
    lines = handout.files["python/needle/autograd.py"].splitlines()
    stub = lines.index('    raise NotImplementedError("find_topo_sort: hw1")')
    assert lines[stub - 1] == "    # TODO (hw1, question 3): implement find_topo_sort (Topological sort)"
    cpp = handouts.generate(COURSE[3], COURSE).files["src/ndarray_backend_cpu.cc"].splitlines()
    stub = cpp.index('  throw std::runtime_error("not implemented: Reduce: hw3");')
    assert cpp[stub - 1] == "  // TODO (hw3, question 4): implement Reduce (Reductions)"
    for hw in COURSE:
        assert handouts.todo_problems(handouts.generate(hw, COURSE).files) == []


def test_check_reports_a_stub_without_its_todo_and_a_stray_todo(repo_copy):
    path = repo_copy / "hw1_autograd" / "python" / "needle" / "autograd.py"
    text = path.read_text()
    text = text.replace("    # TODO (hw1, question 3): implement find_topo_sort (Topological sort)\n", "")
    path.write_text(text + "\n# TODO: tidy up\nx = 1  # TODO later\n")
    problems = handouts.check(repo_copy)
    assert any("stub without its TODO line: 'raise NotImplementedError(\"find_topo_sort: hw1\")'" in p
               for p in problems), problems
    assert any("TODO that is not a stub's: '# TODO: tidy up'" in p for p in problems), problems
    assert any("TODO that is not a stub's: 'x = 1  # TODO later'" in p for p in problems), problems


def test_each_region_belongs_to_exactly_one_question():
    hw1 = COURSE[1]
    assert question_of(hw1, "python/needle/ops/ops_mathematic.py", "EWiseMul.gradient").n == 2
    with pytest.raises(ValueError, match=r"hw1's region apps/x.py:f must match the stubs of "
                                         r"exactly one question \(matched: none\)"):
        question_of(hw1, "apps/x.py", "f")
    greedy = replace(hw1.questions[0], stubs=("python/needle/ops/ops_mathematic.py:*",))
    with pytest.raises(ValueError, match=r"\(matched: 1, 2\)"):
        question_of(replace(hw1, questions=(greedy, *hw1.questions[1:])),
                    "python/needle/ops/ops_mathematic.py", "sum_to_shape")
