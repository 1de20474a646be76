"""The CUDA emulator (csrc/emu): self-test kernels, planted GPU bugs, schedules, workers, sanitizer modes.

Runs against ``_C_emu`` (``PYDEEPKIT_EXTENSION_DIR`` selects a build directory). The ASan/TSan tests run
only when the loaded module was built in that mode (``emu_info()``); csrc/emu/README.md has the commands.
"""
from __future__ import annotations

import contextlib
import pathlib
import re
import textwrap
import threading
import time

import numpy as np
import pytest
from conftest import required_backends, run_python

from pydeepkit import _ext

ROOT = pathlib.Path(__file__).resolve().parents[1]
SELFTEST_SOURCE = ROOT / "csrc" / "emu" / "selftest" / "emu_selftest.cu"
SCHEDULES = ["forward", "reverse", "random:1", "random:12345"]

# Planted bugs: the values of pdk::emu_selftest::Bug.
(EARLY_RETURN, BARRIER_LINES, LANE_NOT_IN_MASK, READ_OUTSIDE_MASK, LANES_NEVER_ARRIVE, MISSING_SYNC,
 OOB_DYNAMIC_SHARED, OOB_STATIC_SHARED, OOB_GLOBAL, TRAP, READ_EXITED_LANE, MIXED_INTRINSICS) = range(12)


@pytest.fixture(scope="module")
def emu():
    if not _ext.available("emu"):
        try:
            _ext.module("emu")
        except _ext.BackendUnavailable as exc:
            if "emu" in required_backends():
                pytest.fail(str(exc))
            pytest.skip(str(exc))
    return _ext.module("emu")


@pytest.fixture(scope="module")
def info(emu):
    return emu.emu_info()


@pytest.fixture(autouse=True)
def restore_settings(request):
    """Every test leaves the emulator with the schedule and workers it found."""
    if "emu" not in request.fixturenames:
        yield
        return
    emu = request.getfixturevalue("emu")
    before = emu.emu_info()
    yield
    emu.emu_set_schedule(before["schedule"], before["seed"])
    emu.emu_set_workers(before["workers"])


@contextlib.contextmanager
def schedule(emu, mode):
    before = emu.emu_info()
    emu.emu_set_schedule(mode)
    try:
        yield
    finally:
        emu.emu_set_schedule(before["schedule"], before["seed"])


def ptr(a: np.ndarray) -> int:
    assert a.flags.c_contiguous
    return a.ctypes.data


def sgemm(emu, a, b):
    c = np.full((a.shape[0], b.shape[1]), np.nan, np.float32)
    emu.selftest_sgemm(a.shape[0], b.shape[1], a.shape[1], ptr(a), ptr(b), ptr(c))
    return c


def warp_sum(emu, x, width, use_xor):
    out = np.full(-(-x.size // width), np.nan, np.float32)
    emu.selftest_warp_sum(x.size, width, use_xor, ptr(x), ptr(out))
    return out


def block_sum(emu, x, blocks, threads):
    partial = np.full(blocks, np.nan, np.float32)
    emu.selftest_block_sum(x.size, blocks, threads, ptr(x), ptr(partial))
    return partial


def histogram(emu, x, bins, blocks):
    hist = np.zeros(bins, np.uint32)
    emu.selftest_histogram(x.size, bins, blocks, ptr(x), ptr(hist))
    return hist


def warp_vote(emu, pred):
    out = np.zeros((pred.size, 6), np.uint32)
    emu.selftest_warp_vote(pred.size, ptr(pred), ptr(out))
    return out


ATOMIC_TOTALS = np.dtype([("fsum", "f4"), ("pad", "u4"), ("dsum", "f8"), ("isum", "i4"), ("usum", "u4"),
                          ("ullsum", "u8"), ("imax", "i4"), ("imin", "i4"), ("umax", "u4"), ("umin", "u4"),
                          ("ullmax", "u8"), ("ullmin", "u8"), ("cas_sum", "i4"), ("exch_count", "u4"),
                          ("sub", "i4"), ("or_bits", "u4"), ("and_bits", "u4"), ("xor_bits", "u4")], align=True)


def atomics(emu, x, blocks):
    t = np.zeros(1, ATOMIC_TOTALS)
    t["imax"], t["imin"] = np.iinfo(np.int32).min, np.iinfo(np.int32).max
    t["umin"], t["ullmin"], t["and_bits"] = 0xFFFFFFFF, 2**64 - 1, 0xFFFFFFFF
    emu.selftest_atomics(x.size, blocks, ptr(x), ptr(t))
    return t[0]


def run_bug(emu, which, n=32):
    x = np.zeros(n + 1, np.float32)
    out = np.zeros(max(n, 64) + 1, np.int32)
    emu.selftest_bug(which, n, ptr(x), ptr(out))
    return out[:n]


def rng(seed=0):
    return np.random.default_rng(seed)


# ---- correct kernels ----

@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (16, 16, 16), (17, 33, 20), (5, 70, 3), (64, 48, 80)])
def test_sgemm_matches_numpy(emu, m, n, k):
    a = rng(m).standard_normal((m, k), dtype=np.float32)
    b = rng(n).standard_normal((k, n), dtype=np.float32)
    np.testing.assert_allclose(sgemm(emu, a, b), a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("width", [32, 16, 8, 4, 2, 1])
@pytest.mark.parametrize("use_xor", [True, False])
def test_warp_sum_shuffles(emu, width, use_xor):
    x = rng(width).integers(-50, 50, 300).astype(np.float32)  # 300: a partial last warp
    expected = np.add.reduceat(x, np.arange(0, x.size, width))
    np.testing.assert_array_equal(warp_sum(emu, x, width, use_xor), expected)


@pytest.mark.parametrize("blocks,threads", [(1, 1), (3, 32), (7, 128), (4, 1024)])
def test_block_sum_dynamic_shared(emu, blocks, threads):
    x = rng(threads).integers(-100, 100, 5000).astype(np.float32)
    partial = block_sum(emu, x, blocks, threads)
    assert not np.isnan(partial).any()
    assert partial.sum() == x.sum()


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_histogram_atomics_across_blocks(emu, workers):
    emu.emu_set_workers(workers)
    x = rng(workers).integers(0, 200, 20000).astype(np.int32)
    np.testing.assert_array_equal(histogram(emu, x, 200, blocks=24), np.bincount(x, minlength=200))


def test_warp_vote_ballot_any_all_match_reduce(emu):
    pred = rng(3).integers(0, 3, 100).astype(np.int32)  # 100: lanes past the end return first
    pred[32:64] = 1  # a warp where all() holds
    pred[64:96] = 0  # and one where any() does not
    out = warp_vote(emu, pred)
    for w in range(0, pred.size, 32):
        p = pred[w:w + 32]
        alive = (1 << p.size) - 1
        ballot = sum(1 << i for i, v in enumerate(p) if v)
        for i, v in enumerate(p):
            same = sum(1 << j for j, u in enumerate(p) if u == v)
            assert list(out[w + i]) == [ballot, ballot != 0, ballot == alive, same, p.sum(), alive], (w, i)


def test_atomics(emu):
    x = rng(5).integers(0, 1000, 5000).astype(np.int32)
    t = atomics(emu, x, blocks=8)
    s = int(x.sum())
    for field in ("fsum", "dsum", "isum", "usum", "ullsum", "cas_sum"):
        assert t[field] == s, field
    assert t["sub"] == -s
    assert t["imax"] == t["umax"] == t["ullmax"] == x.max()
    assert t["imin"] == t["umin"] == t["ullmin"] == x.min()
    assert t["exch_count"] == 1
    bits = np.bitwise_or.reduce(np.left_shift(1, x & 31).astype(np.uint32))
    assert t["or_bits"] == bits and t["and_bits"] == (~bits & 0xFFFFFFFF)
    assert t["xor_bits"] == np.bitwise_xor.reduce(x)


def test_launch_forms_overloads_deduction_comma_templates(emu):
    n = 70
    f = np.zeros(n, np.float32)
    i = np.zeros(n, np.int32)
    emu.selftest_launch_forms(n, ptr(f), ptr(i))
    np.testing.assert_array_equal(f, 3.0)  # fill(float*) then scale<float> (deduced)
    # fill(int*) then add_own_copy<int, 3> through a pointer: each thread adds to its own copy of v.
    np.testing.assert_array_equal(i, 107 + 3 * (np.arange(n) % 32))


@pytest.mark.parametrize("mode", SCHEDULES[1:])
def test_schedules_give_identical_results(emu, mode):
    r = rng(7)
    a, b = r.standard_normal((33, 40), dtype=np.float32), r.standard_normal((40, 19), dtype=np.float32)
    x = r.standard_normal(3000).astype(np.float32)
    xi = r.integers(0, 64, 3000).astype(np.int32)
    pred = r.integers(0, 2, 90).astype(np.int32)

    def run_all():
        return [sgemm(emu, a, b), warp_sum(emu, x, 32, True), warp_sum(emu, x, 8, False),
                block_sum(emu, x, 5, 256), histogram(emu, xi, 64, 9), warp_vote(emu, pred),
                atomics(emu, xi, 4).tobytes()]

    with schedule(emu, "forward"):
        expected = run_all()
    with schedule(emu, mode):
        got = run_all()
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(e))


def test_concurrent_launches_from_python_threads(emu):
    emu.emu_set_workers(2)
    r = rng(11)
    cases = [(r.standard_normal((40, 24), dtype=np.float32), r.standard_normal((24, 36), dtype=np.float32))
             for _ in range(4)]
    results, errors = {}, []

    def worker(k):
        try:
            a, b = cases[k]
            for _ in range(5):
                results[k] = sgemm(emu, a, b)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k, (a, b) in enumerate(cases):
        np.testing.assert_allclose(results[k], a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


# ---- launch configuration errors ----

@pytest.mark.parametrize("grid,block,what", [
    ((1, 1, 1), (1025, 1, 1), "1025 threads"),
    ((1, 1, 1), (32, 32, 2), "2048 threads"),
    ((1, 1, 1), (1, 1, 65), r"\(1,1,65\)"),
    ((1, 1, 1), (1, 2000, 1), r"\(1,2000,1\)"),
    ((0, 1, 1), (32, 1, 1), "zero extent"),
    ((1, 1, 1), (0, 1, 1), "zero extent"),
    ((1, 65536, 1), (1, 1, 1), "exceeds"),
    ((1, 1, 65536), (1, 1, 1), "exceeds"),
])
def test_invalid_launch_configuration(emu, grid, block, what):
    with pytest.raises(ValueError, match=r"invalid configuration argument.*config_probe.*" + what):
        emu.selftest_launch_config(*grid, *block)
    emu.selftest_launch_config(2, 3, 4, 4, 4, 4)  # the error was consumed; a valid 3-D launch works


def test_dynamic_shared_memory_limit_and_opt_in(emu):
    limit, optin = emu.emu_info()["max_dynamic_shared"], emu.emu_info()["max_dynamic_shared_optin"]
    assert (limit, optin) == (48 * 1024, 227 * 1024)
    emu.selftest_launch_config(1, 1, 1, 32, 1, 1, shared_bytes=limit)
    for via_pointer in (False, True):
        with pytest.raises(ValueError, match="invalid argument.*exceed the kernel's limit of 49152"):
            emu.selftest_launch_config(1, 1, 1, 32, 1, 1, shared_bytes=limit + 1, optin_via_pointer=via_pointer)
    try:
        # cudaFuncSetAttribute through the kernel's name, then launched through a pointer to it, and back.
        emu.selftest_launch_config(1, 1, 1, 32, 1, 1, shared_bytes=100_000, optin_bytes=100_000)
        emu.selftest_launch_config(1, 1, 1, 32, 1, 1, shared_bytes=100_000, optin_via_pointer=True)
        emu.selftest_launch_config(2, 1, 1, 32, 1, 1, shared_bytes=optin, optin_bytes=optin, optin_via_pointer=True)
        with pytest.raises(ValueError, match="invalid argument.*exceed"):
            emu.selftest_launch_config(1, 1, 1, 32, 1, 1, shared_bytes=optin + 1)
        with pytest.raises(ValueError, match="cudaFuncSetAttribute failed: invalid argument"):
            emu.selftest_launch_config(1, 1, 1, 32, 1, 1, optin_bytes=optin + 1)
    finally:
        emu.selftest_launch_config(1, 1, 1, 32, 1, 1, optin_bytes=limit)


# ---- planted bugs: each becomes an error naming kernel, block and threads ----

PLANTED = {
    EARLY_RETURN: r"kernel `bug_early_return`.*block \(0,0,0\).*deadlock.*threads 0-15 at __syncthreads\(\) "
                  r"\(emu_selftest\.cu:\d+\); threads 16-31 exited",
    BARRIER_LINES: r"kernel `bug_barrier_lines`.*different __syncthreads\(\) calls: threads 0, 2, 4.*"
                   r"\(emu_selftest\.cu:(\d+)\); threads 1, 3, 5.*\(emu_selftest\.cu:(?!\1)\d+\)",
    LANE_NOT_IN_MASK: r"kernel `bug_lane_not_in_mask`.*thread \(\d+,0,0\) \(warp 0, lane \d+\) calls "
                      r"__shfl_sync\(mask=0x0000ffff.*does not include its own lane",
    READ_OUTSIDE_MASK: r"kernel `bug_read_outside_mask`.*reads lane \d+ in __shfl_sync\(mask=0x0000ffff, "
                       r"srcLane=\d+, width=32\), but lane \d+ is not in the mask",
    LANES_NEVER_ARRIVE: r"kernel `bug_lanes_never_arrive`.*deadlock.*threads 0-15 in "
                        r"__shfl_down_sync\(mask=0xffffffff.*threads 16-31 at __syncthreads\(\)",
    TRAP: r"kernel `bug_trap`.*thread \(3,0,0\) \(warp 0, lane 3\) called __trap\(\)",
    READ_EXITED_LANE: r"kernel `bug_read_exited_lane`.*reads lane (\d+) in __shfl_down_sync.*lane \1 has exited",
    MIXED_INTRINSICS: r"kernel `bug_mixed_intrinsics`.*different warp intrinsics(?=.*__ballot_sync)(?=.*__shfl_sync)",
}


@pytest.mark.parametrize("mode", SCHEDULES)
@pytest.mark.parametrize("which", sorted(PLANTED))
def test_planted_bug_is_reported(emu, which, mode):
    with schedule(emu, mode):
        with pytest.raises(ValueError, match=PLANTED[which]):
            run_bug(emu, which)
    # The failed launch was wound down cleanly: the emulator keeps working.
    a = np.eye(20, dtype=np.float32)
    np.testing.assert_array_equal(sgemm(emu, a, a), a)


def test_planted_bug_over_two_warps(emu):
    with pytest.raises(ValueError, match=r"blockDim \(64,1,1\): deadlock.*threads 0-15 at __syncthreads.*"
                                         r"threads 16-63 exited"):
        run_bug(emu, EARLY_RETURN, n=64)


def test_missing_syncthreads_depends_on_schedule(emu, info):
    if info["tsan"]:
        pytest.skip("reported as a data race under TSan (test_tsan_reports_missing_syncthreads)")
    n = 32
    with schedule(emu, "forward"):
        forward = run_bug(emu, MISSING_SYNC, n)
    with schedule(emu, "reverse"):
        reverse = run_bug(emu, MISSING_SYNC, n)
    # Forward: thread t reads t+1's slot before t+1 ran (the 0xFF poison, -1). Reverse: after.
    np.testing.assert_array_equal(forward, [-1] * (n - 1) + [0])
    np.testing.assert_array_equal(reverse, list(range(1, n)) + [-1])


# ---- settings ----

def test_info_and_settings(emu, info):
    assert set(info) >= {"schedule", "seed", "workers", "asan", "tsan", "context_switch", "stack_bytes"}
    emu.emu_set_schedule("random", 42)
    assert (emu.emu_info()["schedule"], emu.emu_info()["seed"]) == ("random", 42)
    emu.emu_set_schedule("random:7")
    assert (emu.emu_info()["schedule"], emu.emu_info()["seed"]) == ("random", 7)
    emu.emu_set_schedule("reverse")
    assert emu.emu_info()["schedule"] == "reverse"
    with pytest.raises(ValueError, match="expected 'forward', 'reverse', 'random'"):
        emu.emu_set_schedule("backwards")
    with pytest.raises(ValueError, match="only 'random' takes a seed"):
        emu.emu_set_schedule("forward:3")
    emu.emu_set_workers(3)
    assert emu.emu_info()["workers"] == (1 if info["asan"] else 3)
    with pytest.raises(ValueError, match="workers"):
        emu.emu_set_workers(-1)


def run_emu_python(code: str, **env):
    """Runs code in a fresh interpreter (see conftest.run_python) with ``emu`` bound to the emulator module."""
    prologue = "import numpy as np\nfrom pydeepkit import _ext\nemu = _ext.module('emu')\n"
    return run_python(code=prologue + textwrap.dedent(code), env=env, timeout=300)


def test_environment_variables(emu, info):
    r = run_emu_python("print(emu.emu_info())", PDK_EMU_SCHEDULE="random:99", PDK_EMU_WORKERS="3")
    assert r.returncode == 0, r.stderr
    assert "'schedule': 'random'" in r.stdout and "'seed': 99" in r.stdout
    assert f"'workers': {1 if info['asan'] else 3}" in r.stdout
    r = run_emu_python("emu.emu_info()", PDK_EMU_SCHEDULE="sideways")
    assert r.returncode != 0 and "PDK_EMU_SCHEDULE" in r.stderr and "sideways" in r.stderr


# ---- cost ----

def test_cost_report(emu, info):
    """Measures the emulator's costs (run with -s to see them); generous bounds catch only regressions."""
    emu.emu_set_workers(1)
    a = rng(1).standard_normal((128, 128), dtype=np.float32)

    def best(f, repeat=5):
        times = []
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            f()
            times.append((time.perf_counter() - t0, time.process_time() - c0))
        return min(times)

    gemm_wall, gemm_cpu = best(lambda: sgemm(emu, a, a))
    blocks, threads, iters = 8, 256, 50
    bar_wall, _ = best(lambda: emu.selftest_barrier_loop(blocks, threads, iters))
    shfl_wall, _ = best(lambda: emu.selftest_shuffle_loop(blocks, threads, iters))
    events = blocks * threads * iters
    print(f"\nemulator ({info['context_switch']}, asan={info['asan']}, tsan={info['tsan']}, 1 worker): "
          f"128^3 tiled SGEMM {gemm_wall * 1e3:.1f} ms wall / {gemm_cpu * 1e3:.1f} ms CPU; "
          f"{bar_wall / events * 1e9:.0f} ns per thread per __syncthreads; "
          f"{shfl_wall / events * 1e9:.0f} ns per thread per __shfl_xor_sync")
    if not (info["asan"] or info["tsan"]):
        assert gemm_wall < 0.5
        assert bar_wall / events < 1e-6


# ---- sanitizer modes (the module must have been built with PYDEEPKIT_SANITIZE=address / thread) ----

def bug_line(name: str) -> int:
    for number, line in enumerate(SELFTEST_SOURCE.read_text().splitlines(), 1):
        if f"// BUG: {name}" in line:
            return number
    raise AssertionError(f"no '// BUG: {name}' marker in {SELFTEST_SOURCE}")


def run_bug_in_subprocess(which: int, n: int = 32):
    return run_emu_python(f"""
        x = np.zeros({n} + 1, np.float32)[:{n}].copy()
        out = np.zeros(4096, np.int32)
        emu.selftest_bug({which}, {n}, x.ctypes.data, out.ctypes.data)
        print("finished")
    """)


@pytest.mark.parametrize("which,report,name", [
    (OOB_DYNAMIC_SHARED, "ERROR: AddressSanitizer: heap-buffer-overflow", "oob_dynamic_shared"),
    # A constant-size array: UBSan's bounds check fires first; without it ASan reports a global overflow.
    (OOB_STATIC_SHARED, r"runtime error: index 64 out of bounds|ERROR: AddressSanitizer: global-buffer-overflow",
     "oob_static_shared"),
    (OOB_GLOBAL, "ERROR: AddressSanitizer: heap-buffer-overflow", "oob_global"),
])
def test_asan_reports_out_of_bounds_at_the_kernel_line(emu, info, which, report, name):
    if not info["asan"]:
        pytest.skip("needs the ASan build of _C_emu (PYDEEPKIT_SANITIZE=address)")
    r = run_bug_in_subprocess(which, n=64 if which == OOB_STATIC_SHARED else 32)
    assert r.returncode != 0 and "finished" not in r.stdout
    assert re.search(report, r.stderr), r.stderr[-3000:]
    assert f"emu_selftest.cu:{bug_line(name)}" in r.stderr, r.stderr[-3000:]


def test_tsan_reports_missing_syncthreads(emu, info):
    if not info["tsan"]:
        pytest.skip("needs the TSan build of _C_emu (PYDEEPKIT_SANITIZE=thread)")
    r = run_bug_in_subprocess(MISSING_SYNC)
    assert "WARNING: ThreadSanitizer: data race" in r.stderr, r.stderr[-3000:]
    assert "bug_missing_sync" in r.stderr and f"emu_selftest.cu:{bug_line('missing_sync')}" in r.stderr
    assert "CUDA thread (" in r.stderr  # the fibers are named after their CUDA thread and block


def test_tsan_is_quiet_for_correct_kernels(emu, info):
    if not info["tsan"]:
        pytest.skip("needs the TSan build of _C_emu (PYDEEPKIT_SANITIZE=thread)")
    r = run_emu_python("""
        emu.emu_set_workers(2)
        a = np.ones((40, 40), np.float32)
        for mode in ("forward", "reverse", "random:3"):
            emu.emu_set_schedule(mode)
            c = np.zeros_like(a)
            emu.selftest_sgemm(40, 40, 40, a.ctypes.data, a.ctypes.data, c.ctypes.data)
            x = np.ones(2000, np.float32); p = np.zeros(4, np.float32)
            emu.selftest_block_sum(2000, 4, 128, x.ctypes.data, p.ctypes.data)
            xi = np.arange(2000, dtype=np.int32) % 50; h = np.zeros(50, np.uint32)
            emu.selftest_histogram(2000, 50, 6, xi.ctypes.data, h.ctypes.data)
            v = np.zeros(300, np.float32); o = np.zeros(300, np.float32)
            emu.selftest_warp_sum(300, 16, True, v.ctypes.data, o.ctypes.data)
            assert (c == 40).all() and p.sum() == 2000 and (h == 40).all()
        print("finished")
    """)
    assert r.returncode == 0 and "finished" in r.stdout, r.stderr[-3000:]
    assert "ThreadSanitizer" not in r.stderr, r.stderr[-3000:]
