"""The ``pydeepkit`` command (info, demo, bench) and the pieces of the bench/demo tools.

The commands run as ``python -m pydeepkit`` in a subprocess with this process's
environment (so PYDEEPKIT_EXTENSION_DIR carries over) and the same pydeepkit package.
"""
from __future__ import annotations

import importlib.util
import json
import math
import os

import numpy as np
import pytest

import pydeepkit
from pydeepkit import bench
from pydeepkit.bench import _timing
from pydeepkit.demo import CASES, compare

from conftest import run_python

HAVE_TORCH = importlib.util.find_spec("torch") is not None


def run_pydeepkit(*args, timeout=120):
    return run_python("-m", "pydeepkit", *args, timeout=timeout)


# ---------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------
def test_import_and_info_do_not_import_torch():
    proc = run_python(code="import sys, pydeepkit, pydeepkit.cli, pydeepkit.bench, pydeepkit.demo\n"
                      "from pydeepkit.cli import main\n"
                      "assert main(['info']) == 0\n"
                      "assert 'torch' not in sys.modules, 'torch was imported'\n"
                      "assert 'cupy' not in sys.modules, 'cupy was imported'\n")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("args", [["--help"], ["info", "--help"], ["bench", "--help"], ["demo", "--help"]])
def test_help(args):
    proc = run_pydeepkit(*args)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout


def test_no_command_is_a_usage_error():
    proc = run_pydeepkit()
    assert proc.returncode == 2
    assert "usage:" in proc.stderr


def test_info():
    proc = run_pydeepkit("info")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"pydeepkit {pydeepkit.__version__}")
    for backend in ("cpu", "emu", "cuda"):
        assert any(line.startswith(backend) for line in proc.stdout.splitlines()), proc.stdout


def test_info_json():
    proc = run_pydeepkit("info", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["pydeepkit"] == pydeepkit.__version__
    assert report["cpu"]["available"] is True


def test_demo_passes():
    """The op checks of `pydeepkit demo` (its model table is tests/test_demo_models.py's; CI's demo
    step runs the whole command)."""
    proc = run_pydeepkit("demo", "--no-models", timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " 0 failed" in proc.stdout
    assert "FAIL" not in proc.stdout


def test_demo_filter_and_backend():
    proc = run_pydeepkit("demo", "global_avg", "--backend", "cpu", "--no-torch")
    assert "global_avg_pool" in proc.stdout
    assert "max_pool" not in proc.stdout
    assert " emu " not in proc.stdout
    assert proc.returncode in (0, 1), proc.stderr  # 1 only while the kernel is wrong or missing


def test_bench_list():
    proc = run_pydeepkit("bench", "--list")
    assert proc.returncode == 0, proc.stderr
    for entry in bench.entries():
        assert entry.name in proc.stdout


def test_bench_unknown_name():
    proc = run_pydeepkit("bench", "no_such_op")
    assert proc.returncode == 2
    assert "max_pool2d" in proc.stderr  # lists the entries


def test_bench_quick_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = run_pydeepkit("bench", "max_pool2d", "--quick", "--repeat", "2", "--pause", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "max_pool2d 3x3 s2 p1" in proc.stdout
    result = json.loads(out.read_text())
    assert result["machine"]["usable_cpus"] >= 1
    # the command restarted itself with numpy's BLAS workers told not to spin (cli._BLAS_TIMEOUT)
    assert result["machine"]["openblas_thread_timeout"] == os.environ.get("OPENBLAS_THREAD_TIMEOUT", "4")
    (row,) = result["rows"]
    entry = next(e for e in bench.entries() if e.name == row["name"])
    assert tuple(row["shape"]) == entry.shape("quick")
    if row["ours"] is not None or row["torch"]:
        assert row["bytes"] > 0
    # the placement of our two threads around the rounds (one OpenMP thread: not measurable)
    assert len(row["core_trip_ns"]) == (2 if result["machine"]["omp_threads"] >= 2 else 0)
    assert all(1 < ns < 1e6 for ns in row["core_trip_ns"])
    if row["ours"] is not None:  # our kernel ran: timed, and agrees with torch where torch ran
        assert row["ours"]["samples"] == 2 and row["ours"]["median_ms"] > 0
        assert row["check"] in ("ok", "-")
    else:
        assert "ours" in row["errors"]
    if HAVE_TORCH:
        assert set(row["torch"]) == {"NCHW", "CL"}
        assert all(s["median_ms"] > 0 for s in row["torch"].values())
        if row["ours"] is not None:
            assert row["check"] == "ok", row
            assert math.isclose(row["ratio"], row["ours"]["median_ms"] / min(
                s["median_ms"] for s in row["torch"].values()))


def test_bench_without_torch(tmp_path):
    out = tmp_path / "bench.json"
    proc = run_pydeepkit("bench", "adaptive", "--quick", "--repeat", "2", "--no-torch", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(out.read_text())["rows"]
    assert row["torch"] == {} and row["ratio"] is None


# ---------------------------------------------------------------------------------------
# pieces
# ---------------------------------------------------------------------------------------
def test_entries_are_selected_by_substring():
    names = [e.name for e in bench.entries()]
    pool_names = [e.name for e in bench.entries() if e.family == "pool"]  # families come in module order
    assert pool_names[:4] == ["max_pool2d 3x3 s2 p1", "avg_pool2d 2x2", "adaptive_avg_pool2d to 1",
                              "max_pool3d 2x2x2"]
    assert [e.name for e in bench.select(bench.entries(), ["MAX_POOL"])] == ["max_pool2d 3x3 s2 p1", "max_pool3d 2x2x2"]
    assert len(bench.select(bench.entries(), [])) == len(names)


def test_stats():
    stats = _timing.Stats((4.0, 1.0, 3.0, 2.0, 5.0))
    assert stats.median == 3.0
    assert stats.quantile(0.25) == 2.0 and stats.quantile(0.75) == 4.0
    assert stats.spread_pct == pytest.approx(100 * 2 / 3)
    assert stats.as_dict()["median_ms"] == 3000.0


def test_interleaved_alternates_rotates_and_batches_fast_calls():
    order = []
    timings = _timing.interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")},
                                  rounds=3, pause=0, warmup=1, min_sample=1e-3)
    assert set(timings) == {"a", "b"}
    assert all(len(s.samples) == 3 for s in timings.values())
    n = timings["a"].calls_per_sample
    assert n > 1  # an append is far below 1 ms
    m = timings["b"].calls_per_sample
    timed = order[4:]  # after warm-up and calibration (2 calls each)
    # each sample: one untimed wake-up call, then the timed calls; round 2 starts with b
    a, b = ["a"] * (n + 1), ["b"] * (m + 1)
    assert timed == a + b + b + a + a + b


def test_demo_compare():
    y = np.array([[1.0, 2.0, np.nan]], np.float32)
    idx = np.array([[0, 1, 2]], np.int64)
    assert compare((y, idx), (y.copy(), idx.copy()), 1e-5, 1e-5)[0]
    ok, err, note = compare((y + 1e-3, idx), (y, idx), 1e-5, 1e-5)
    assert not ok and err == pytest.approx(1e-3, rel=1e-2) and "values" in note
    ok, _, note = compare((y, idx[:, ::-1].copy()), (y, idx), 1e-5, 1e-5)
    assert not ok and "2 indices differ" in note
    assert not compare(y.astype(np.float64), y, 1e-5, 1e-5)[0]  # dtype must match the reference
    assert not compare(y, (y, idx), 1e-5, 1e-5)[0]


def test_demo_covers_every_op():
    from pydeepkit import ops
    covered = {c.op for c in CASES}
    assert covered == set(ops.__all__), set(ops.__all__) ^ covered


def test_cache_line_round_trip():
    """The bench's placement probe: a positive time (it asks OpenMP for two threads whatever the
    default count, and yields when they share one core), and a clear error for no rounds."""
    from pydeepkit import _ext
    cpu = _ext.module("cpu")
    assert 1 < cpu.cache_line_round_trip_ns(2000) < 1e6
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        cpu.cache_line_round_trip_ns(0)
