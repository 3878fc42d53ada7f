"""Per-student variants (``grader.variants``): seeds, the course secret, and hw1 graded end to end.

Students here are graded with ``variants=True`` and a test secret; their expected values are
cached in a temporary folder, never in ``grader/answers/variants``.
"""
import hashlib
import hmac
import json

import numpy as np
import pytest

from grader import __main__ as cli
from grader import answers, grade, gradescope, runner, variants
from grader.course import Settings, load_course, load_settings
from grader.tests.test_grader import HW1, attacked_submission, solution_submission

SECRET = "a course secret for the grader's own tests"
HW1_SEEDED = {"test_elementwise_forward", "test_matmul_forward_batched_and_broadcast",
              "test_elementwise_gradients", "test_matmul_gradients_with_broadcast_batches",
              "test_backward_through_a_graph_with_reuse", "test_gradient_of_gradient",
              "test_needle_softmax_loss_values_and_gradient", "test_needle_nn_epoch_uneven_batches"}


# ---- seeds, the secret, the setting ------------------------------------------------------------

def test_the_seed_is_hmac_sha256_of_the_student_id_keyed_with_the_secret():
    digest = hmac.new(SECRET.encode(), b"alice", hashlib.sha256).digest()
    assert variants.student_seed(SECRET.encode(), "alice") == int.from_bytes(digest[:8], "big") >> 1
    seeds = [variants.student_seed(secret, student) for secret in (b"secret one, 16+ chars",
                                                                   b"secret two, 16+ chars")
             for student in ("alice", "bob")]
    assert len(set(seeds)) == 4 and all(0 <= s < 2**63 for s in seeds)  # id and secret both count
    assert variants.student_seed(b"secret one, 16+ chars", "alice") == seeds[0]  # and nothing else


def test_the_secret_comes_from_the_variable_or_the_file_it_names(tmp_path):
    assert variants.course_secret({variants.SECRET_VARIABLE: f" {SECRET}\n"}) == SECRET.encode()
    (tmp_path / "secret").write_text(SECRET + "\n")
    file_only = {variants.SECRET_FILE_VARIABLE: str(tmp_path / "secret")}
    assert variants.course_secret(file_only) == SECRET.encode()


@pytest.mark.parametrize("environ, says", [
    ({}, "variants = true, which needs the course secret: set FLAMETHROWER_COURSE_SECRET"),
    ({variants.SECRET_VARIABLE: "short"}, "5 bytes, too short"),
    ({variants.SECRET_VARIABLE: SECRET, variants.SECRET_FILE_VARIABLE: "/x"}, "both"),
    ({variants.SECRET_FILE_VARIABLE: "/nonexistent/secret"}, "cannot read '/nonexistent/secret'"),
], ids=["unset", "too_short", "both_set", "unreadable_file"])
def test_a_missing_or_weak_secret_is_refused_naming_the_variable(environ, says):
    with pytest.raises(variants.SecretError, match=says) as error:
        variants.course_secret(environ)
    assert variants.SECRET_VARIABLE in str(error.value)


def test_variants_are_a_course_toml_switch_off_by_default(tmp_path):
    assert load_settings().variants is False  # the repository's own course
    for text, expected in (("", False), ("variants = true", True), ("variants = false", False)):
        (tmp_path / "course.toml").write_text(text + "\n")
        assert load_settings(tmp_path).variants is expected
    (tmp_path / "course.toml").write_text('variants = "yes"\n')
    with pytest.raises(ValueError, match="variants must be true or false"):
        load_settings(tmp_path)
    variants.require_secret(Settings(variants=False), environ={})  # off: no secret needed
    with pytest.raises(variants.SecretError, match=variants.SECRET_VARIABLE):
        variants.require_secret(Settings(variants=True), environ={})


def test_hidden_tests_opt_in_by_taking_seed():
    assert {t.name for t in runner.discover("hw1") if t.takes_seed} == HW1_SEEDED
    assert {t.name for t in runner.discover("hw0") if t.takes_seed} == {
        "test_softmax_loss_values", "test_softmax_regression_uneven_batches",
        "test_nn_epoch_uneven_batches"}


# ---- hw1 end to end ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """The course secret set, and a fresh cache of students' values (with a stale folder in it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(variants.SECRET_VARIABLE, SECRET)
        patch.delenv(variants.SECRET_FILE_VARIABLE, raising=False)
        folder = tmp_path_factory.mktemp("variants")
        patch.setattr(variants, "CACHE", folder)
        (folder / "hw1" / ("0" * 64)).mkdir(parents=True)  # an older fingerprint's values
        yield folder


@pytest.fixture(scope="module")
def common():
    """hw1's stored (common) answer key."""
    return answers.load(HW1)


@pytest.fixture(scope="module")
def student_keys(cache, common):
    """alice's, bob's and mallory's keys and seeds, with variants on."""
    return {s: variants.student_key(HW1, common, s, enabled=True) for s in ("alice", "bob", "mallory")}


def test_variants_off_grade_everyone_against_the_common_key(common):
    key, seed = variants.student_key(HW1, common, "alice", enabled=False)
    assert key is common and seed == runner.COMMON_SEED == 0


def test_each_student_gets_own_inputs_and_expected_values(cache, common, student_keys):
    (alice, alice_seed), (bob, bob_seed) = student_keys["alice"], student_keys["bob"]
    assert alice_seed == variants.student_seed(SECRET.encode(), "alice") != bob_seed
    assert runner.COMMON_SEED not in (alice_seed, bob_seed)
    for test in common.tests:
        names = common.values[test.id]
        assert set(alice.values[test.id]) == set(bob.values[test.id]) == set(names)
        differs = {n: (not np.array_equal(alice.values[test.id][n], bob.values[test.id][n]),
                       not np.array_equal(alice.values[test.id][n], names[n])) for n in names}
        if test.takes_seed:  # other inputs: values differ from bob's and from the common key's,
            same = {n for n, (a, b) in differs.items() if not (a and b)}  # but for a gradient
            assert same <= {"neg", "scalar_ops"}, (test.name, same)  # that is the adjoint's alone
        else:
            assert not any(a or b for a, b in differs.values()), test.name
    # Cached by homework, fingerprint and seed; the older fingerprint's folder is gone.
    folder = cache / "hw1" / answers.fingerprint(HW1, load_course())
    assert sorted(p.name for p in (cache / "hw1").iterdir()) == [folder.name]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{seed}.npz" for seed in (alice_seed, bob_seed, student_keys["mallory"][1]))
    stored = answers.read_key_values(folder / f"{alice_seed}.npz")
    assert {test_id.split("::")[1] for test_id in stored} == HW1_SEEDED
    for test_id, values in stored.items():
        for name, array in values.items():
            np.testing.assert_array_equal(array, alice.values[test_id][name])


def test_a_regrade_reads_the_cache_instead_of_running_solutions(monkeypatch, common, student_keys):
    def no_run(*args, **kwargs):
        raise AssertionError("the cached values should have been used")
    monkeypatch.setattr(answers, "generate_values", no_run)
    again, seed = variants.student_key(HW1, common, "alice", enabled=True)
    assert seed == student_keys["alice"][1]
    for test_id, values in student_keys["alice"][0].values.items():
        for name, array in values.items():
            np.testing.assert_array_equal(again.values[test_id][name], array)


def test_the_reference_solution_scores_full_marks_for_each_student(tmp_path, common, student_keys):
    # alice's copy also checks that the course secret never reaches the sandbox: it would
    # compute a wrong sum (and lose marks) if it saw the secret in its environment.
    alice = attacked_submission(tmp_path / "alice", f"""
        import glob, os
        seen = {variants.SECRET_VARIABLE!r} in os.environ
        for path in glob.glob("/proc/*/environ"):
            try:
                seen = seen or {SECRET!r}.encode() in open(path, "rb").read()
            except OSError:
                pass
        return a - b if seen else a + b""")
    bob = solution_submission(tmp_path / "bob")
    for student, submission in (("alice", alice), ("bob", bob)):
        result = grade.grade(HW1, submission, common, student=student, variants=True)
        assert [r.name for r in result.results if not r.passed] == [], result.notes
        assert result.score == result.max_score == 100


REPLAY = """

# ---- a replay attack: the hidden tests, once their module is loaded, return stored values
import json as _json
import sys as _sys

import numpy as _np



def _replay(values):
    def test(seed):
        return {{name: _np.array(value) for name, value in values.items()}}
    return test


_hidden = _sys.modules.get("test_hidden_autograd")
for _name, _values in _json.loads({stored!r}).items():
    if _hidden is not None:
        setattr(_hidden, _name, _replay(_values))
"""


def replaying_submission(dest, key: answers.AnswerKey):
    """The reference hw1 submission, whose ops module makes every seeded hidden test but the
    first (it has started when needle is first imported) return ``key``'s values for it."""
    solution_submission(dest)
    stored = {test.name: {n: a.tolist() for n, a in key.values[test.id].items()}
              for test in key.tests if test.takes_seed and test.name != "test_elementwise_forward"}
    ops = dest / "python" / "needle" / "ops" / "ops_mathematic.py"
    ops.write_text(ops.read_text() + REPLAY.format(stored=json.dumps(stored)))
    return dest


def test_values_of_the_common_key_or_another_student_score_zero_on_the_varied_tests(
        tmp_path, common, student_keys):
    replayed = HW1_SEEDED - {"test_elementwise_forward"}
    # Without the MNIST training test (5 points, 2 s, no seed), to keep this test short.
    suite = answers.AnswerKey("hw1", [t for t in common.tests if "mnist" not in t.name], common.values)
    points = sum(t.points for t in suite.tests)
    assert points == 95
    # The attack works where everyone shares the key: full marks with variants off...
    result = grade.grade(HW1, replaying_submission(tmp_path / "common", common), suite,
                         student="mallory", variants=False)
    assert result.score == points, [(r.name, r.message) for r in result.results if not r.passed]
    # ...and with variants on it loses exactly the replayed tests, the rest scoring in full.
    alice_key = student_keys["alice"][0]
    for source, key in (("common", common), ("alice", alice_key)):
        submission = replaying_submission(tmp_path / f"replay-{source}", key)
        result = grade.grade(HW1, submission, suite, student="mallory", variants=True)
        by_name = {r.name: r for r in result.results}
        assert {n for n, r in by_name.items() if not r.passed} == replayed, source
        assert all(by_name[n].score == 0 and by_name[n].status == "failed" for n in replayed)
        assert result.score == points - sum(t.points for t in suite.tests if t.name in replayed) == 39
    # The same replay of alice's values, graded as alice, passes: the values were hers.
    result = grade.grade(HW1, tmp_path / "replay-alice", suite, student="alice", variants=True)
    assert result.score == points


def test_grading_without_the_secret_refuses_clearly(monkeypatch, tmp_path, capsys, common):
    monkeypatch.delenv(variants.SECRET_VARIABLE, raising=False)
    monkeypatch.delenv(variants.SECRET_FILE_VARIABLE, raising=False)
    result = grade.grade(HW1, tmp_path / "not-even-read", common, student="alice", variants=True)
    assert result.score == 0 and len(result.results) == len(common.tests)
    assert "SecretError" in result.notes[0] and variants.SECRET_VARIABLE in result.notes[0]
    # The command line refuses before grading anyone: no feedback, no gradebook.
    monkeypatch.setattr(variants, "load_settings", lambda: Settings(variants=True))
    submission = solution_submission(tmp_path / "alice")
    status = cli.main(["grade", "hw1", str(submission), "--out", str(tmp_path / "grades"),
                       "--gradebook", str(tmp_path / "gb.sqlite")])
    assert status == 1 and f"set {variants.SECRET_VARIABLE}" in capsys.readouterr().err
    assert not (tmp_path / "grades").exists() and not (tmp_path / "gb.sqlite").exists()


def test_the_gradescope_bundle_refuses_variants(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(gradescope, "load_settings", lambda: Settings(variants=True))
    with pytest.raises(ValueError, match="variants = true, which the Gradescope bundle cannot grade"):
        gradescope.export(HW1, tmp_path / "hw1.zip")
    assert cli.main(["export-gradescope", "hw1", "--dest", str(tmp_path / "hw1.zip")]) == 1
    assert "Set variants = false" in capsys.readouterr().err
    assert not (tmp_path / "hw1.zip").exists()
