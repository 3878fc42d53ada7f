"""Issue 13, finding 4: thresholds never trust the student's files.

An error bound is judged in the trusted parent (``grader/thresholds.py``) from the logits a hidden
test returns and the answer key's labels. The hidden tests train with the function under test
only, on data and starting weights read by the grader's own code, so rigging ``loss_err``,
``train_softmax``, ``train_nn``, ``init_two_layer``, ``load_mnist_sample`` or ``train_mnist`` in
a submission gains nothing.
"""
import ast
import shutil

import numpy as np
import pytest

from grader import answers, grade, runner, scoring, thresholds
from grader.course import REPO, load_course
from grader.tests.test_grader import solution_submission

COURSE = load_course()
HW0, HW1, HW2 = COURSE[0], COURSE[1], COURSE[2]
STUDENT_HELPERS = {"loss_err", "train_softmax", "train_nn", "init_two_layer", "load_mnist_sample",
                   "train_mnist", "default_data_dir"}

RIGGED_SIMPLE_ML = '''

# ---- rigged helpers: every one of them claims success --------------------------------------
def loss_err(h, y):
    return 0.0, 0.0


def load_mnist_sample(data_dir=None):
    X = np.eye(10, 784, dtype=np.float32)
    y = np.arange(10, dtype=np.uint8)
    return X, y, X, y


def init_two_layer(n, hidden_dim, k, seed=0):
    return np.eye(n, hidden_dim, dtype=np.float32) * 50, np.eye(hidden_dim, k, dtype=np.float32) * 50


def train_softmax(X_tr, y_tr, X_te, y_te, *args, **kwargs):
    return np.eye(X_tr.shape[1], 10, dtype=np.float32) * 50


def train_nn(X_tr, y_tr, X_te, y_te, *args, **kwargs):
    return init_two_layer(X_tr.shape[1], 200, 10)
'''

RIGGED_NEEDLE_APP = '''

# ---- rigged: no training, and helpers that claim success ------------------------------------
def nn_epoch(X, y, W1, W2, lr=0.1, batch=100):
    return W1, W2


def loss_err(h, y):
    return 0.0, 0.0


def train_nn(X_tr, y_tr, X_te, y_te, *args, **kwargs):
    import needle as ndl
    return (ndl.Tensor(np.eye(X_tr.shape[1], 200, dtype=np.float32)),
            ndl.Tensor(np.eye(200, 10, dtype=np.float32)))
'''


@pytest.fixture(scope="module")
def keys():
    return {hw.id: answers.load(hw) for hw in (HW0, HW1)}


# ---- the trusted metric and the marker ---------------------------------------------------------

def test_error_rate_from_logits_or_labels_with_non_finite_rows_wrong():
    labels = np.array([0, 1, 2, 3], dtype=np.uint8)
    logits = np.eye(4, dtype=np.float32)
    assert thresholds.error_rate(logits, labels) == 0.0
    logits[1, 1] = np.nan
    logits[2] = np.inf
    assert thresholds.error_rate(logits, labels) == 0.5
    assert thresholds.error_rate(np.array([0, 1, 0, 0]), labels) == 0.5
    for bad in (np.zeros((3, 4)), np.zeros((4, 0)), np.zeros((4, 2, 2)), np.array([0.0, 1, 2, 3])):
        with pytest.raises(ValueError):
            thresholds.error_rate(bad, labels)


@pytest.mark.parametrize("args, kwargs", [
    (("accuracy",), {"predictions": "a", "labels": "b", "at_most": 0.1}),
    (("error_rate",), {"predictions": "a", "labels": "a", "at_most": 0.1}),
    (("error_rate",), {"predictions": "a", "labels": "b", "at_most": "0.1"}),
    (("error_rate",), {"predictions": "a", "labels": "b", "at_most": float("nan")}),
    (("error_rate",), {"predictions": "a", "labels": "b"}),
    (("error_rate",), {"predictions": "a", "labels": "b", "at_most": 0.1, "at_least": 0.0}),
])
def test_malformed_threshold_markers_are_refused(args, kwargs):
    with pytest.raises(ValueError, match="threshold"):
        thresholds.parse_marker(args, kwargs)


def _outcome(test_id, values):
    test = next(t for hw in COURSE[:3] for t in runner.discover(hw.id) if t.id == test_id)
    return runner.Outcome(test, "ok", values)


def test_the_parent_judges_against_the_keys_labels_not_the_submissions():
    test_id = "test_hidden_simple_ml::test_two_layer_net_mnist_error_bound"
    assert thresholds.of(test_id) == thresholds.Threshold("error_rate", "logits", "labels", 0.07)
    truth = np.arange(100, dtype=np.uint8) % 10
    key = {"logits": np.eye(10, dtype=np.float32)[truth], "labels": truth}
    wrong = np.eye(10, dtype=np.float32)[(truth + 1) % 10]
    # predictions that agree with the labels the submission returns, not with the key's
    rigged = scoring.score(_outcome(test_id, {"logits": wrong, "labels": (truth + 1) % 10}), key)
    assert rigged.score == 0 and "above the bound of 7.00%" in rigged.message
    good = truth.copy()
    good[:7] = (good[:7] + 1) % 10  # 7% wrong: exactly at the bound
    assert scoring.score(_outcome(test_id, {"logits": np.eye(10, dtype=np.float32)[good],
                                            "labels": np.zeros(100, np.uint8)}), key).passed
    good[7] = (good[7] + 1) % 10
    assert not scoring.score(_outcome(test_id, {"logits": np.eye(10, dtype=np.float32)[good],
                                                "labels": truth}), key).passed
    for values in ({"logits": wrong}, {"logits": wrong[:50], "labels": truth},
                   {"logits": wrong, "labels": truth, "verdict": np.array(True)}):
        assert scoring.score(_outcome(test_id, values), key).score == 0


def test_the_hidden_suites_never_call_student_helpers_and_mark_every_bound():
    for hw in COURSE[:3]:
        for path in sorted((runner.HIDDEN / hw.id).glob("*.py")):
            names = {n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else n.name
                     for n in ast.walk(ast.parse(path.read_text()))
                     if isinstance(n, (ast.Name, ast.Attribute, ast.alias))}
            assert not names & STUDENT_HELPERS, (path, names & STUDENT_HELPERS)
            assert "error_bound" not in path.read_text() or "pytest.mark.threshold" in path.read_text()
    bounds = [t.id for hw in COURSE[:3] for t in runner.discover(hw.id) if "error_bound" in t.name]
    assert len(bounds) == 4 and all(thresholds.of(t) is not None for t in bounds)
    for hw in ("hw0", "hw1", "hw2"):  # one trusted reader, the course's, sent with every suite
        assert "_hidden_mnist" in runner.helper_sources(hw)


def test_the_reference_meets_every_bound_it_sets(keys):
    for hw in (HW0, HW1):
        for test in keys[hw.id].tests:
            threshold = thresholds.of(test.id)
            if threshold is not None:
                values = keys[hw.id].values[test.id]
                assert thresholds.error_rate(values["logits"], values["labels"]) <= threshold.at_most


# ---- hostile submissions, graded end to end -------------------------------------------------

def test_hw0_rigged_helpers_on_a_bare_handout_score_zero(keys, tmp_path):
    sub = tmp_path / "sub"
    shutil.copytree(REPO / HW0.dir, sub)
    with open(sub / "src" / "simple_ml.py", "a") as f:
        f.write(RIGGED_SIMPLE_ML)
    result = grade.grade(HW0, sub, keys["hw0"])
    assert result.score == 0, [(t.name, t.status, t.message) for t in result.results if t.score]


def test_hw1_rigged_helpers_gain_nothing(keys, tmp_path):
    sub = solution_submission(tmp_path / "sub", HW1)
    with open(sub / "src" / "simple_ml.py", "a") as f:
        f.write(RIGGED_SIMPLE_ML)
    with open(sub / "apps" / "simple_ml_needle.py", "a") as f:
        f.write(RIGGED_NEEDLE_APP)
    result = grade.grade(HW1, sub, keys["hw1"])
    failed = {t.name: t.message for t in result.results if not t.passed}
    assert set(failed) == {"test_needle_nn_epoch_uneven_batches",
                           "test_needle_two_layer_net_mnist_error_bound"}, failed
    assert "above the bound" in failed["test_needle_two_layer_net_mnist_error_bound"]
    assert result.score == 90

