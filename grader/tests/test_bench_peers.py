"""bench/peers.py (tinygrad and JAX in `make bench`'s model rows): joining the peers' rows to
needle's and PyTorch's, the table and the JSON they make, and the 'not installed' line, on fake
rows (always run: CI installs no peer); then, only where a peer is installed, one small real row
of each in --quick mode. Nothing here asserts a speed."""
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from grader.tests.test_bench_profile import load_bench

REPO = Path(__file__).resolve().parents[2]
MLP, CONV, PER_OP = "MLP epoch 784-100-10", "conv2d 3-16-32, 32x32, fwd+bwd", "per-op a + b, 2x2"
HINT = "peers: not installed (pip install -e '.[peers]')"


@pytest.fixture(scope="module")
def run():
    return load_bench("run.py")


@pytest.fixture(scope="module")
def peers(run):
    return run._peers()


def model_rows():
    return [{"row": PER_OP, "unit": "us/op", "needle": 3.0, "torch": 1.5, "speed_vs_torch": 0.5,
             "threads": 1},
            {"row": MLP, "unit": "s/epoch", "needle": 2.0, "torch": 1.0, "speed_vs_torch": 0.5, "threads": 1},
            {"row": CONV, "unit": "ms/step", "needle": 20.0, "torch": 10.0, "speed_vs_torch": 0.5,
             "threads": 1}]


def test_join_adds_each_peers_time_ratio_and_compile_seconds_by_row_name(peers):
    rows = peers.join(model_rows(), {
        "tinygrad": [{"row": MLP, "unit": "s/epoch", "time": 4.0, "compile_s": 8.5},
                     {"row": CONV, "absent": "NotImplementedError: conv2d"}],
        "jax": [{"row": MLP, "unit": "s/epoch", "time": 0.5, "compile_s": 1.25},
                {"row": CONV, "unit": "ms/step", "time": 5.0, "compile_s": 0.75},
                {"row": "a row needle has not", "unit": "s", "time": 1.0, "compile_s": 0.0}]})
    per_op, mlp, conv = rows
    assert per_op == model_rows()[0]  # no peer ran it: untouched
    assert mlp["tinygrad"] == 4.0 and mlp["tinygrad_over_torch"] == 4.0 and mlp["tinygrad_compile_s"] == 8.5
    assert mlp["jax"] == 0.5 and mlp["jax_over_torch"] == 0.5 and mlp["jax_compile_s"] == 1.25
    assert conv["tinygrad_absent"] == "NotImplementedError: conv2d" and "tinygrad" not in conv
    assert conv["jax"] == 5.0 and conv["jax_over_torch"] == 0.5 and conv["jax_compile_s"] == 0.75
    assert len(rows) == 3


def test_join_without_a_torch_figure_gives_no_ratio_and_a_failed_worker_marks_every_row(peers):
    rows = [{"row": MLP, "unit": "s/epoch", "needle": 2.0, "threads": 2}]
    peers.join(rows, {"jax": [{"row": MLP, "unit": "s/epoch", "time": 3.0, "compile_s": 0.5}],
                      "tinygrad": [{"row": "*", "absent": "its worker exited with status 1"}]})
    assert rows[0]["jax"] == 3.0 and "jax_over_torch" not in rows[0]
    assert rows[0]["tinygrad_absent"] == "its worker exited with status 1"


def test_peer_table_prints_the_figures_and_each_reason_once(peers):
    rows = peers.join(model_rows(), {
        "tinygrad": [{"row": MLP, "time": 4.0, "compile_s": 8.5}, {"row": CONV, "absent": "no clang"}],
        "jax": [{"row": MLP, "time": 0.5, "compile_s": 1.5}, {"row": CONV, "time": 5.0, "compile_s": 0.5}]})
    text = peers.peer_table(rows, {"tinygrad": True, "jax": True})
    lines = text.splitlines()
    assert lines[1].split() == ["row", "thr", "unit", "torch", "tinygrad", "t/torch", "compile", "jax",
                                "t/torch", "compile"]
    mlp = next(line for line in lines if line.startswith(MLP))
    assert mlp.split()[3:] == ["1", "s/epoch", "1.000", "4.000", "4.00", "8.5", "0.500", "0.50", "1.5"]
    conv = next(line for line in lines if line.startswith(CONV))
    assert conv.split()[4:] == ["1", "ms/step", "10.000", "absent", "-", "-", "5.000", "0.50", "0.5"]
    assert not any(line.startswith(PER_OP) for line in lines)
    assert text.count("tinygrad absent from 'conv2d 3-16-32, 32x32, fwd+bwd': no clang") == 1
    assert "not installed" not in text


def test_peer_table_says_not_installed_once_and_nothing_else(peers):
    assert peers.peer_table(model_rows(), {"tinygrad": False, "jax": False}) == HINT
    text = peers.peer_table(peers.join(model_rows(), {"jax": [{"row": MLP, "time": 0.5, "compile_s": 1.0}]}),
                            {"tinygrad": False, "jax": True})
    assert text.count("peers: tinygrad not installed (pip install -e '.[peers]')") == 1
    assert "tinygrad " not in text.splitlines()[1]  # no tinygrad columns


def fake_worker(threads, part, quick, tunables):
    """What run.py's workers would return, for main() without measuring anything."""
    time = {"needle": 2.0, "torch": 1.0, "tinygrad": 0.25, "jax": 4.0}
    if part == "kernels":
        return []
    if part.startswith("memory-"):
        return [{"row": "ResNet9 step b128, peak RSS", "unit": "MiB", "time": 100.0}]
    row = {"row": MLP, "unit": "s/epoch", "time": time[part] * threads}
    row.update({"faults": 1.0} if part in ("needle", "torch") else {"compile_s": 3.0})
    return [row]


@pytest.mark.parametrize("present", [{"tinygrad": False, "jax": False}, {"tinygrad": True, "jax": False}])
def test_main_joins_installed_peers_and_says_the_rest_are_not_installed(run, peers, present, tmp_path,
                                                                        monkeypatch, capsys):
    calls = []

    def worker(threads, part, quick, tunables):
        calls.append((threads, part))
        return fake_worker(threads, part, quick, tunables)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(run, "_run_worker", worker)
    monkeypatch.setattr(peers, "installed", lambda: dict(present))
    monkeypatch.setattr(run.importlib.util, "find_spec",
                        lambda name, *a: object() if name == "torch" else real_find_spec(name, *a))
    out = tmp_path / "cpu.json"
    assert run.main(["--threads", "1", "2", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    saved = json.loads(out.read_text())
    mlp = {r["threads"]: r for r in saved["rows"] if r["row"] == MLP}
    assert mlp[1]["needle"] == 2.0 and mlp[2]["torch"] == 2.0
    if not present["tinygrad"]:
        assert printed.count(HINT) == 1 and "tinygrad" not in printed and "jax" not in printed
        assert saved["peers"] == {"tinygrad": None, "jax": None}
        assert not [p for _, p in calls if p in ("tinygrad", "jax")]
        assert not any(key.startswith(("tinygrad", "jax")) for r in saved["rows"] for key in r)
    else:
        assert [p for _, p in calls if p in ("tinygrad", "jax")] == ["tinygrad", "tinygrad"]
        assert mlp[1]["tinygrad"] == 0.25 and mlp[1]["tinygrad_over_torch"] == 0.25
        assert mlp[2]["tinygrad"] == 0.5 and mlp[2]["tinygrad_over_torch"] == 0.25
        assert mlp[2]["tinygrad_compile_s"] == 3.0 and "jax" not in mlp[2]
        assert printed.count("peers: jax not installed (pip install -e '.[peers]')") == 1
        assert HINT not in printed
        table = [line.split() for line in printed.splitlines() if line.startswith(MLP)]
        assert ["1", "s/epoch", "1.000", "0.250", "0.25", "3.0"] in [t[3:] for t in table]
        assert isinstance(saved["peers"]["tinygrad"], str) or saved["peers"]["tinygrad"] is None


@pytest.mark.parametrize("framework", ["jax", "tinygrad"])
def test_a_quick_real_mlp_epoch_trains_and_times(framework):
    pytest.importorskip(framework)
    done = subprocess.run([sys.executable, str(REPO / "bench" / "peers.py"), "--framework", framework,
                           "--quick", "--rows", "MLP"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    if "absent" in row and framework == "tinygrad" and "clang" in row["absent"]:
        pytest.skip(f"tinygrad's CPU device: {row['absent']}")
    assert "absent" not in row, row
    assert row["row"] == MLP and row["unit"] == "s/epoch"
    assert math.isfinite(row["time"]) and row["time"] > 0
    assert math.isfinite(row["compile_s"]) and row["compile_s"] >= 0
    # the first batch's loss is the untrained net's, about ln 10; one epoch at lr 0.1 lowers it
    assert row["loss_first"] == pytest.approx(math.log(10), abs=0.1)
    assert row["loss_last"] < row["loss_first"] - 0.5


def test_a_row_that_fails_or_runs_past_the_limit_is_absent_with_its_reason(peers, monkeypatch):
    import time

    def broken():
        raise NotImplementedError("no LSTM cell in this peer")

    def slow():
        time.sleep(30)

    def fine():
        return peers._case("fine row", "ms/step", 1e3, lambda: None, lambda: None, 1, 2, 1, lambda: None)
    monkeypatch.setattr(peers, "limit_threads", lambda framework, threads: None)
    monkeypatch.setattr(peers, "jax_cases", lambda quick, only: [("broken row", broken), ("slow row", slow),
                                                                 ("fine row", fine)])
    monkeypatch.setenv("BENCH_PEER_ROW_LIMIT_S", "1")
    start = time.perf_counter()
    broken_row, slow_row, fine_row = peers.peer_rows("jax", quick=True)
    assert time.perf_counter() - start < 10
    assert broken_row == {"row": "broken row", "absent": "NotImplementedError: no LSTM cell in this peer"}
    assert slow_row["row"] == "slow row" and slow_row["absent"].startswith("RowTimeout: over the 1 s limit")
    assert fine_row["row"] == "fine row" and fine_row["time"] >= 0 and fine_row["compile_s"] >= 0


@pytest.mark.parametrize("bad", ["0", "-3", "two"])
def test_a_bad_row_limit_is_refused_by_name(peers, monkeypatch, bad):
    monkeypatch.setenv("BENCH_PEER_ROW_LIMIT_S", bad)
    with pytest.raises(ValueError, match="BENCH_PEER_ROW_LIMIT_S"):
        peers.row_limit_s()


def test_limit_threads_refuses_an_unknown_peer_or_thread_count(peers):
    with pytest.raises(ValueError, match="'mxnet'"):
        peers.limit_threads("mxnet", 1)
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
        peers.limit_threads("jax", 0)
