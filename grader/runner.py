"""The runner: the grader's side of running hidden tests, one module per concern.

- ``grader.discovery``: the hidden tests and their markers, read from source (``HiddenTest``);
- ``grader.supervision``: running a suite in the sandbox, time limits, why a child died
  (``run_suite``, ``watch``, ``Outcome``);
- ``grader.protocol``: the messages and files between this side and the sandboxed harness;
- ``grader.values``: reading the arrays a test returned, checked before loading;
- ``grader.building``: the sandboxed C++ build (``build_extension``, ``BUILD_SECONDS``);
- ``grader.gpu``: whether this machine has a GPU.

This module gathers the names the rest of the grader uses, so ``from grader import runner``
reaches them all.
"""
from __future__ import annotations

from .building import BUILD_SECONDS, build_extension, build_variables
from .discovery import (
                        COMMON_SEED,
                        DEFAULT_TIMEOUT,
                        HIDDEN,
                        HiddenTest,
                        discover,
                        helper_paths,
                        helper_sources,
                        hidden_sources,
)
from .gpu import has_gpu
from .supervision import (
                        POLL_SECONDS,
                        SPAWN_SECONDS,
                        Outcome,
                        Progress,
                        _collect,
                        death_message,
                        default_budget,
                        run_suite,
                        supervise,
                        watch,
)
from .values import MAX_VALUE_BYTES, MAX_VALUE_COUNT, MAX_VALUES_BYTES, ValuesError, load_values, read_values

__all__ = ["BUILD_SECONDS", "COMMON_SEED", "DEFAULT_TIMEOUT", "HIDDEN", "MAX_VALUES_BYTES",
           "MAX_VALUE_BYTES", "MAX_VALUE_COUNT", "POLL_SECONDS", "SPAWN_SECONDS", "HiddenTest",
           "Outcome", "Progress", "ValuesError", "_collect", "build_extension", "build_variables",
           "death_message", "default_budget", "discover", "has_gpu", "helper_paths",
           "helper_sources", "hidden_sources", "load_values", "read_values", "run_suite",
           "supervise", "watch"]
