"""Thresholds decided in the trusted parent, from raw values, with the grader's own helpers.

A hidden test that checks a bound (an error rate on MNIST, say) never computes the metric in the
sandbox and never calls the student's helpers (``loss_err``, ``train_nn``, ``load_mnist_sample``:
they live in files the student submits). It returns the raw values instead, here logits and the
true labels, and states the bound in a marker::

    @pytest.mark.threshold("error_rate", predictions="logits", labels="labels", at_most=0.12)

The parent then computes the metric with the functions below from the submission's
``predictions`` value and the **answer key's** ``labels`` value (produced by the same hidden test
on ``solutions/``, so a submission cannot change the labels it is judged against). Values the
marker names are judged by the threshold only; any other value the test returns is compared with
the answer key under the test's tolerance as usual (``scoring.compare``).

Markers are read from the hidden tests' source (trusted: never copied into a workspace), as
``runner.discover`` reads the others.
"""
from __future__ import annotations

import ast
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HIDDEN = Path(__file__).with_name("hidden")


def error_rate(predictions: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of examples whose prediction is not their label.

    ``predictions`` is either logits ``(m, k)`` (the prediction is each row's argmax; a row with
    a non-finite entry counts as wrong) or predicted labels ``(m,)`` (integers).

    Raises:
        ValueError: if the shapes do not fit ``labels`` ``(m,)`` or the dtypes are not numeric.
    """
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "biu" or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D integer array, got shape {labels.shape}")
    m = labels.shape[0]
    if (predictions.dtype.kind not in "biuf" or predictions.shape[:1] != (m,)
            or predictions.ndim not in (1, 2)):
        raise ValueError(f"predictions have shape {predictions.shape}: expected ({m}, classes) logits "
                         f"or ({m},) labels")
    if predictions.ndim == 1:
        if predictions.dtype.kind == "f":
            raise ValueError("predicted labels must be integers")
        return float(np.mean(predictions.astype(np.int64) != labels.astype(np.int64)))
    if predictions.shape[1] == 0:
        raise ValueError("logits have no classes")
    logits = predictions.astype(np.float64)
    finite = np.all(np.isfinite(logits), axis=1)
    guessed = np.where(finite, np.argmax(np.where(np.isfinite(logits), logits, -np.inf), axis=1), -1)
    return float(np.mean((guessed != labels.astype(np.int64)) | ~finite))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {"error_rate": error_rate}


@dataclass(frozen=True)
class Threshold:
    """``metric(got[predictions], key[labels]) <= at_most`` decides the test."""

    metric: str
    predictions: str
    labels: str
    at_most: float

    @property
    def names(self) -> set[str]:
        return {self.predictions, self.labels}

    def judge(self, expected: dict[str, np.ndarray], got: dict[str, np.ndarray]
              ) -> tuple[str | None, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """``(problem, expected_rest, got_rest)``: a message when the bound is not met (None when
        it is), and the values the threshold does not judge, for the usual comparison."""
        rest = ({k: v for k, v in expected.items() if k not in self.names},
                {k: v for k, v in got.items() if k not in self.names})
        missing = sorted(self.names - set(got))
        if missing:
            return f"returned values {sorted(got)}, expected {sorted(expected)} (missing {missing})", *rest
        if self.labels not in expected or self.predictions not in expected:
            return "the answer key lacks this test's threshold values: rebuild it", *rest
        want, have = expected[self.predictions], got[self.predictions]
        if have.shape != want.shape:
            return f"value {self.predictions!r} has shape {have.shape}, expected {want.shape}", *rest
        try:
            value = METRICS[self.metric](have, expected[self.labels])  # the key's labels, never got's
        except ValueError as error:
            return f"value {self.predictions!r}: {error}", *rest
        if not value <= self.at_most:
            return (f"{self.metric.replace('_', ' ')} {value:.2%} is above the bound of "
                    f"{self.at_most:.2%}"), *rest
        return None, *rest


def parse_marker(args: tuple[Any, ...], kwargs: dict[str, Any], where: str = "threshold") -> Threshold:
    """A ``Threshold`` from a marker's literal arguments.

    Raises:
        ValueError: for an unknown metric, a missing or extra argument, or a bound that is not a number.
    """
    metric = args[0] if len(args) == 1 else kwargs.get("metric")
    required = {"predictions", "labels", "at_most"}
    extra = set(kwargs) - required - {"metric"}
    if metric not in METRICS or extra or len(args) > 1 or not required <= set(kwargs):
        raise ValueError(f"{where}: write @pytest.mark.threshold(<one of {sorted(METRICS)}>, "
                         f"predictions=<value name>, labels=<value name>, at_most=<number>)")
    at_most = kwargs["at_most"]
    if isinstance(at_most, bool) or not isinstance(at_most, (int, float)) or not np.isfinite(at_most):
        raise ValueError(f"{where}: at_most must be a finite number")
    names = (kwargs["predictions"], kwargs["labels"])
    if not all(isinstance(n, str) and n.isidentifier() for n in names) or names[0] == names[1]:
        raise ValueError(f"{where}: predictions and labels must name two different returned values")
    return Threshold(metric, names[0], names[1], float(at_most))


@functools.cache
def markers(hidden: Path = HIDDEN) -> dict[str, Threshold]:
    """The threshold markers of every hidden test under ``hidden``, by test id (``module::name``).

    Raises:
        ValueError: for a malformed marker, or two hidden test files of the same module name
            (test ids must be unique for a marker to belong to one test).
    """
    found: dict[str, Threshold] = {}
    modules: dict[str, Path] = {}
    for path in sorted(hidden.glob("*/test_*.py")):
        if path.stem in modules:
            raise ValueError(f"hidden test modules {modules[path.stem]} and {path} share a name")
        modules[path.stem] = path
        for node in ast.parse(path.read_text(), str(path)).body:
            if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
                continue
            for decorator in node.decorator_list:
                if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                        and decorator.func.attr == "threshold"
                        and ast.unparse(decorator.func.value) == "pytest.mark"):
                    where = f"{path.name}::{node.name}"
                    # a ``**mapping`` (no keyword name) is refused as an extra argument
                    found[f"{path.stem}::{node.name}"] = parse_marker(
                        tuple(ast.literal_eval(a) for a in decorator.args),
                        {k.arg or "**": ast.literal_eval(k.value) for k in decorator.keywords}, where)
    return found


def of(test_id: str, hidden: Path = HIDDEN) -> Threshold | None:
    """The threshold marker of hidden test ``test_id`` (``module::name``), or None."""
    return markers(hidden).get(test_id)
