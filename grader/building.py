"""Building a workspace's C++ extension inside the sandbox, under a time limit."""
from __future__ import annotations

import sys
from pathlib import Path

from . import sandbox
from .gpu import has_gpu
from .sandbox import DEFAULT_LIMITS, Limits, read_regular

# Seconds a submission's C++ build may take: hw4's CPU and emulated-CUDA backends take about a
# minute on two idle cores, near three on a loaded machine.
BUILD_SECONDS = 300.0


def build_variables() -> dict[str, str]:
    """Make variables for building a handout here: without a GPU the CUDA homework is graded
    on its emulated build, so the nvcc build is skipped (it would only cost time)."""
    return {} if has_gpu() else {"CMAKE_ARGS": "-DNEEDLE_NO_CUDA=ON"}


def build_extension(workspace: Path, timeout: float = BUILD_SECONDS,
                    limits: Limits = DEFAULT_LIMITS) -> tuple[bool, str]:
    """Build the workspace's C++ extension inside the sandbox; ``(succeeded, log tail)``.

    A build still running after ``timeout`` seconds is killed and fails.
    """
    log = workspace / "build.out"
    command = ["make", "build", f"PYTHON={sys.executable}"]
    command += [f"{name}={value}" for name, value in build_variables().items()]
    status = sandbox.run(workspace, command, log, limits, timeout)
    if status is None:
        return False, f"the build timed out after {timeout:g} s"
    text = (read_regular(log, limits.output_bytes, tail=True) or b"").decode(errors="replace")
    return status == 0, text
