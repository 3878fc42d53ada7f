"""Fixtures for the grader's own tests."""
import os
import shutil
from pathlib import Path

import pytest

from grader.course import REPO


@pytest.fixture(scope="session")
def env() -> dict[str, str]:
    """The environment handout builds and test runs get: this venv first, the repo's data."""
    bin_dir = str(Path(os.sys.executable).parent)
    from grader.runner import build_variables  # make reads them from the environment
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "NEEDLE_DATA_DIR": str(REPO / "data"), **build_variables()}


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    """A copy of the repository's solutions and handouts to damage freely."""
    from grader.course import load_course
    for name in ["solutions"] + [hw.dir for hw in load_course()]:
        shutil.copytree(REPO / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("build", "*.so", "__pycache__", "*.log"))
    return tmp_path

@pytest.fixture(scope="session")
def probe_key(tmp_path_factory):
    """The probe suite's values on the reference solutions (test_grader's and
    test_results_hostile's probe tests score against it)."""
    from grader.tests.test_grader import run_probe, solution_submission
    scratch = tmp_path_factory.mktemp("probe-key")
    outcomes = run_probe(solution_submission(scratch / "sub"), scratch)
    assert all(o.status == "ok" for o in outcomes.values()), outcomes
    return {name: o.values for name, o in outcomes.items()}


# probe/ holds hidden suites for the grader's tests: run by the grader, never collected by pytest.
collect_ignore = ["probe"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true",
                     help="also run the tests marked slow (make test-slow does)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests marked slow, saying how to run them, unless ``--runslow`` is given."""
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run by make test-slow (pytest --runslow)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
