"""Shared test set-up: deterministic Hypothesis runs and the MNIST sample's location."""
from pathlib import Path

import pytest
from hypothesis import settings

# Derandomized: the same examples on every run and machine, so a failure reproduces exactly.
settings.register_profile("needle", deadline=None, derandomize=True, max_examples=40)
settings.load_profile("needle")


def pytest_addoption(parser):
    parser.addoption("--question", type=int, action="append", default=[],
                     help="run only the tests of this question (repeatable)")


def pytest_collection_modifyitems(config, items):
    wanted = set(config.getoption("question"))
    if not wanted:
        return
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("question")
        (keep if marker and marker.args[0] in wanted else drop).append(item)
    config.hook.pytest_deselected(items=drop)
    items[:] = keep


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder holding the MNIST sample's four IDX files."""
    from simple_ml import default_data_dir  # given code in hw0's src/simple_ml.py
    return default_data_dir() / "mnist"


# From hw3 on, every hw1 and hw2 test runs on both of needle's NDArray devices, each made the
# default device for the test: cpu() (your C++ backend) and cpu_numpy() (the NumPy reference).
# Runs on cpu() are marked student_backend: they need your hw3 kernels, even to test given code.
DEVICE_PARAMETRIZED = ("hw1", "hw2")


def pytest_configure(config):
    config.addinivalue_line("markers", "student_backend: runs on the C++ backend the student writes")


def pytest_generate_tests(metafunc):
    if Path(str(metafunc.definition.fspath)).parent.name in DEVICE_PARAMETRIZED:
        metafunc.parametrize("needle_device", [pytest.param("cpu", marks=pytest.mark.student_backend),
                                               "cpu_numpy"], indirect=True)


@pytest.fixture(autouse=True)
def needle_device(request):
    """The test's default needle device, when the test is parametrized over devices."""
    name = getattr(request, "param", None)
    if name is None:
        yield None
        return
    import needle as ndl
    device = getattr(ndl, name)()
    previous = ndl.default_device()
    ndl.set_default_device(device)
    try:
        yield device
    finally:
        ndl.set_default_device(previous)
