"""Pooling family: every op on every backend against the numpy reference.

Backends come from the ``backend`` fixture (cpu under every supported ISA, emu, cuda);
the reference is ``pydeepkit.reference.pool``. Shapes stay small: every emulated call
is far below 1e5 output elements. This file must not need torch (the sanitizer CI job
runs it without the parity extras).
"""
from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

import pydeepkit
import pydeepkit.ops as ops
from pydeepkit.reference import pool as ref

from conftest import assert_close, run_python, to_numpy

DTYPES = [np.float32, np.float64]


def _id(value):
    """Test-id text of a shape or argument: (2, 3, 7) -> 2x3x7 (usable in -k expressions)."""
    if isinstance(value, (tuple, list)):
        return "x".join("N" if v is None else str(v) for v in value) or "empty"
    return str(value)


# ---------------------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------------------
# (shape, kernel_size, stride, padding, dilation, ceil_mode, what the case covers)
FIXED_CASES = [
    # 1-d
    ((2, 3, 7), 3, 2, 1, 1, False, "odd length, padding"),
    ((2, 3, 5), 2, 2, 1, 1, True, "ceil_mode: the extra window would start in the right padding: dropped"),
    ((2, 3, 6), 3, 2, 0, 1, True, "ceil_mode: last window clipped at the end"),
    ((2, 3, 8), 3, 2, 1, 1, True, "ceil_mode + padding: last window starts inside, ends past the padding"),
    ((2, 3, 17), 4, 3, 2, 1, True, "k4 s3 p2 ceil_mode"),
    ((2, 3, 9), 3, 1, 1, 2, False, "dilation"),
    ((2, 3, 10), 2, 3, 1, 3, True, "dilation + stride + padding + ceil_mode"),
    ((2, 3, 5), 5, None, 0, 1, False, "kernel == input"),
    ((2, 3, 10), 2, 3, 0, 1, False, "stride > kernel"),
    ((1, 1, 1), 1, 1, 0, 1, False, "length 1"),
    ((3, 2, 1), 1, 1, 0, 1, True, "length 1, ceil_mode"),
    ((2, 5, 37), 3, 2, 1, 1, True, "long rows (SIMD tails)"),
    # 2-d
    ((2, 3, 7, 9), 3, 2, 1, 1, False, "odd sizes, padding"),
    ((2, 3, 6, 5), (2, 3), (1, 2), (1, 0), 1, True, "anisotropic, ceil_mode"),
    ((2, 2, 5, 5), 2, 2, 1, 1, True, "ceil_mode: extra window in the right padding dropped"),
    ((2, 2, 8, 7), 3, 2, 1, 1, True, "ceil_mode: last window starts inside, clipped"),
    ((2, 2, 9, 8), 3, 1, 1, 2, False, "dilation"),
    ((1, 2, 8, 7), (3, 2), (2, 3), (1, 1), (2, 1), True, "mixed dilation, stride, ceil_mode"),
    ((1, 1, 1, 1), 1, 1, 0, 1, False, "all size 1"),
    ((2, 3, 1, 7), (1, 3), (1, 2), (0, 1), 1, True, "H = 1"),
    ((2, 2, 4, 5), (4, 5), None, 0, 1, False, "kernel == input"),
    ((2, 2, 9, 10), 2, 3, 0, 1, True, "stride > kernel, ceil_mode"),
    ((2, 2, 2, 3), 3, 3, 0, 1, True, "kernel > input with ceil_mode: one window clipped on both dims"),
    ((2, 4, 16, 16), 3, 2, 1, 1, True, "ResNet stem-like 3/2/1 ceil"),
    ((1, 3, 13, 35), (2, 5), (2, 4), (1, 2), 1, False, "wide rows (SIMD tails)"),
    ((2, 3, 12, 12), 2, None, 0, 1, False, "2x2 stride 2 (the common case)"),
    # 3-d
    ((2, 2, 5, 6, 7), 3, 2, 1, 1, False, "odd sizes, padding"),
    ((1, 2, 4, 5, 3), (2, 3, 2), (2, 1, 2), (1, 1, 0), 1, True, "anisotropic, ceil_mode"),
    ((1, 2, 5, 5, 5), 2, 1, 0, 2, False, "dilation"),
    ((1, 2, 6, 7, 8), (3, 2, 3), (2, 2, 1), (1, 1, 1), (1, 2, 2), True, "mixed dilation, ceil_mode"),
    ((1, 1, 1, 1, 1), 1, 1, 0, 1, False, "all size 1"),
    ((2, 1, 3, 4, 5), (3, 4, 5), None, 0, 1, False, "kernel == input"),
    ((1, 2, 7, 7, 7), 2, 3, 1, 1, True, "stride > kernel, ceil_mode"),
]
FIXED_IDS = [f"{len(c[0]) - 2}d-{_id(c[0])}-k{_id(c[1])}-s{_id(c[2])}-p{_id(c[3])}-d{_id(c[4])}"
             f"{'-ceil' if c[5] else ''}" for c in FIXED_CASES]

AVG_CASES = [c for c in FIXED_CASES if c[4] == 1]
AVG_IDS = [i for c, i in zip(FIXED_CASES, FIXED_IDS) if c[4] == 1]


def _lp_cases():
    """Cases without padding/dilation (lp_pool has neither) whose output is non-empty."""
    out, ids = [], []
    for shape, k, s, p, dl, ceil, _ in FIXED_CASES:
        d = len(shape) - 2
        kk = ref._tuple(k, d, "k")
        ss = kk if s is None else ref._tuple(s, d, "s")
        if any(ref.pool_output_size(n, a, b, 0, 1, ceil) < 1 for n, a, b in zip(shape[2:], kk, ss)):
            continue
        case = (shape, k, s, ceil)
        if case not in out:
            out.append(case)
            ids.append(f"{d}d-{_id(shape)}-k{_id(k)}-s{_id(s)}{'-ceil' if ceil else ''}")
    return out, ids


LP_CASES, LP_IDS = _lp_cases()

# (shape, output_size)
ADAPTIVE_CASES = [
    ((2, 3, 7), 3), ((2, 3, 8), 4), ((2, 3, 4), 7), ((2, 3, 10), 1), ((1, 1, 1), 4), ((2, 3, 9), None),
    ((2, 3, 7, 9), (3, 4)), ((2, 3, 8, 8), (4, 4)), ((2, 3, 5, 7), (None, 3)), ((2, 2, 5, 6), (7, 9)),
    ((1, 1, 1, 1), (2, 3)), ((2, 3, 13, 11), 1), ((2, 3, 6, 6), (6, None)), ((1, 2, 14, 14), 7),
    ((2, 3, 9, 5), (2,)),
    ((1, 2, 5, 6, 7), (2, 3, 4)), ((1, 2, 4, 4, 4), 2), ((1, 2, 3, 5, 2), (None, 2, 5)),
    ((1, 1, 2, 3, 4), (3, 5, 7)), ((2, 2, 4, 5, 6), 1),
]
ADAPTIVE_IDS = [f"{len(s) - 2}d-{_id(s)}-o{_id(o)}" for s, o in ADAPTIVE_CASES]


def _data(rng, shape, dtype, kind="normal"):
    if kind == "normal":
        return rng.standard_normal(shape).astype(dtype)
    if kind == "ties":  # few distinct values: many equal maxima in a window
        return (rng.integers(-2, 3, size=shape) * 0.5).astype(dtype)
    if kind == "ints":  # small integers: x**p and window sums exact
        return rng.integers(-3, 4, size=shape).astype(dtype)
    if kind == "positive":
        return rng.uniform(0.1, 2.0, size=shape).astype(dtype)
    raise ValueError(kind)


def _fn(name, d=None):
    return getattr(ops, name if d is None else f"{name}{d}d")


def _ref(name, d=None):
    return getattr(ref, name if d is None else f"{name}{d}d")


# ---------------------------------------------------------------------------------------
# max pool
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("data", ["normal", "ties"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", FIXED_CASES, ids=FIXED_IDS)
def test_max_pool(backend, case, dtype, data, rng):
    shape, k, s, p, dl, ceil, what = case
    d = len(shape) - 2
    x = _data(rng, shape, dtype, data)
    kw = dict(kernel_size=k, stride=s, padding=p, dilation=dl, ceil_mode=ceil)
    ey, ei = _ref("max_pool", d)(x, return_indices=True, **kw)
    y, i = _fn("max_pool", d)(backend.asarray(x), return_indices=True, **kw, **backend.kw)
    assert_close(y, ey, exact=True, err_msg=f"values ({what})")
    assert_close(i, ei, exact=True, err_msg=f"indices ({what})")
    y2 = _fn("max_pool", d)(backend.asarray(x), **kw, **backend.kw)
    assert not isinstance(y2, tuple)
    assert_close(y2, ey, exact=True, err_msg=f"values without indices ({what})")


@pytest.mark.parametrize("d", [1, 2, 3])
def test_max_pool_nan_inf(backend, d, rng):
    """Random NaN / +-inf: NaN wins (index of the last NaN), ties -> first, all -inf -> first valid."""
    shape = {1: (2, 3, 13), 2: (2, 3, 7, 8), 3: (1, 3, 4, 5, 6)}[d]
    for trial in range(3):
        x = _data(rng, shape, np.float32, "ties")
        x[rng.random(shape) < 0.1] = np.nan
        x[rng.random(shape) < 0.3] = -np.inf
        x[rng.random(shape) < 0.05] = np.inf
        for kw in (dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                   dict(kernel_size=2, stride=1, dilation=2),
                   dict(kernel_size=3, stride=3, padding=1)):
            ey, ei = _ref("max_pool", d)(x, return_indices=True, **kw)
            y, i = _fn("max_pool", d)(backend.asarray(x), return_indices=True, **kw, **backend.kw)
            assert_close(y, ey, exact=True, err_msg=f"values {kw}")
            assert_close(i, ei, exact=True, err_msg=f"indices {kw}")
            # without indices the CPU backend takes another (vectorised) path
            y = _fn("max_pool", d)(backend.asarray(x), **kw, **backend.kw)
            assert_close(y, ey, exact=True, err_msg=f"values without indices {kw}")


def test_max_pool_nan_handcrafted(backend):
    """One row, kernel 4 stride 4 padding 0 (1-d), each window a rule."""
    nan, inf = np.nan, np.inf
    x = np.array([[[1, nan, 3, nan,        # two NaN: value NaN, index of the LAST NaN (3)
                    2, 5, 5, 1,            # tie: first maximum (5)
                    -inf, -inf, -inf, -inf,  # all -inf: first position (8)
                    nan, inf, 1, 2,        # NaN before +inf: NaN (12)
                    inf, 1, inf, -inf]]],  # +inf tie: first (16)
                 dtype=np.float32)
    y, i = ops.max_pool1d(backend.asarray(x), 4, return_indices=True, **backend.kw)
    assert_close(y, np.array([[[nan, 5, -inf, nan, inf]]], np.float32), exact=True, err_msg="values")
    assert_close(i, np.array([[[3, 5, 8, 12, 16]]], np.int64), exact=True, err_msg="indices")
    y = ops.max_pool1d(backend.asarray(x), 4, **backend.kw)
    assert_close(y, np.array([[[nan, 5, -inf, nan, inf]]], np.float32), exact=True, err_msg="no indices")


def test_max_pool_all_neg_inf_with_padding(backend):
    """An all -inf window that starts in the padding: index of the first valid position."""
    x = np.full((1, 1, 4, 4), -np.inf, np.float32)
    y, i = ops.max_pool2d(backend.asarray(x), 3, stride=2, padding=1, return_indices=True, **backend.kw)
    assert_close(y, np.full((1, 1, 2, 2), -np.inf, np.float32), exact=True, err_msg="values")
    # windows start at (-1,-1), (-1,1), (1,-1), (1,1): first valid positions (0,0), (0,1), (1,0), (1,1)
    assert_close(i, np.array([[[[0, 1], [4, 5]]]], np.int64), exact=True, err_msg="indices")


def test_max_pool_window_entirely_in_padding(backend):
    """A dilated window whose every tap is padding (in=1, k=2, dilation=2, padding=1) is an
    error: torch returns -inf with index 1, outside the plane, which max_unpool would reject."""
    x = np.array([[[7.0]]], np.float32)
    with pytest.raises(ValueError, match=r"dilation.*reads only padding"):
        ops.max_pool1d(backend.asarray(x), 2, stride=1, padding=1, dilation=2, **backend.kw)
    # dim 1 of a 2-d pool: in=2, k=2, d=3, padding 1 -> output 0 reads positions -1 and 2
    x2 = np.ones((1, 1, 4, 2), np.float32)
    with pytest.raises(ValueError, match=r"output 0 along spatial dim 1"):
        ops.max_pool2d(backend.asarray(x2), 2, stride=1, padding=1, dilation=3, **backend.kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride", [2, (3, 2), (1, 2)])
def test_2x2_windows_inside_the_input(backend, stride, dtype, rng):
    """2x2 windows at W stride 2 without padding or overhang (the CPU's one-pass 2x2 kernel):
    max with NaN, avg with power-of-two and other divisors, lp with p = 1, 2, 3."""
    x = _data(rng, (2, 3, 9, 11), dtype)
    x[0, 0, 0, 0] = np.nan
    xb = backend.asarray
    assert_close(ops.max_pool2d(xb(x), 2, stride, **backend.kw), ref.max_pool2d(x, 2, stride), exact=True)
    for dov in (None, 3, 8):
        assert_close(ops.avg_pool2d(xb(x), 2, stride, divisor_override=dov, **backend.kw),
                     ref.avg_pool2d(x, 2, stride, divisor_override=dov))
    xi = _data(rng, (2, 3, 9, 11), dtype, "ints")
    for norm in (1, 2, 3):
        assert_close(ops.lp_pool2d(xb(xi), norm, 2, stride, **backend.kw), ref.lp_pool2d(xi, norm, 2, stride),
                     kind="lp")


# ---------------------------------------------------------------------------------------
# avg pool
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("divisor_override", [None, 3])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", AVG_CASES, ids=AVG_IDS)
def test_avg_pool(backend, case, dtype, count_include_pad, divisor_override, rng):
    shape, k, s, p, _, ceil, what = case
    d = len(shape) - 2
    x = _data(rng, shape, dtype)
    kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil, count_include_pad=count_include_pad,
              divisor_override=divisor_override)
    expected = _ref("avg_pool", d)(x, **kw)
    y = _fn("avg_pool", d)(backend.asarray(x), **kw, **backend.kw)
    assert_close(y, expected, err_msg=what)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_avg_pool_nan_inf(backend, d, rng):
    """NaN and infinities propagate through the window sums like in the reference."""
    shape = {1: (2, 3, 13), 2: (2, 3, 7, 8), 3: (1, 3, 4, 5, 6)}[d]
    x = _data(rng, shape, np.float32)
    x[rng.random(shape) < 0.05] = np.nan
    x[rng.random(shape) < 0.05] = np.inf
    x[rng.random(shape) < 0.05] = -np.inf
    for kw in (dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
               dict(kernel_size=2, stride=1, count_include_pad=False)):
        assert_close(_fn("avg_pool", d)(backend.asarray(x), **kw, **backend.kw),
                     _ref("avg_pool", d)(x, **kw), err_msg=str(kw))


def test_avg_pool_divisors_handcrafted(backend):
    """1-d, ones, k=3 s=2 p=1 ceil_mode on length 6: windows [-1,2) [1,4) [3,6) [5,8)."""
    x = np.ones((1, 1, 6), np.float64)
    run = lambda **kw: to_numpy(ops.avg_pool1d(backend.asarray(x), 3, 2, 1, True, **kw, **backend.kw))
    # count_include_pad: divisor = window clipped to the padded input [-1, 7): 3, 3, 3, 2
    np.testing.assert_allclose(run(), [[[2 / 3, 1, 1, 1 / 2]]], rtol=1e-15)
    np.testing.assert_allclose(run(count_include_pad=False), [[[1, 1, 1, 1]]], rtol=1e-15)
    np.testing.assert_allclose(run(divisor_override=4), [[[2 / 4, 3 / 4, 3 / 4, 1 / 4]]], rtol=1e-15)


# ---------------------------------------------------------------------------------------
# lp pool
# ---------------------------------------------------------------------------------------
# (norm_type, data): small signed integers keep x**p and the sums exact, so the sign of
# each sum (negative -> NaN for p = 3, as torch) does not depend on rounding.
LP_NORMS = [(1, "ints"), (2, "ints"), (2, "normal"), (3, "ints"), (3.5, "positive"), (1.5, "positive")]


@pytest.mark.parametrize("norm", LP_NORMS, ids=[f"p{p}-{k}" for p, k in LP_NORMS])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LP_CASES, ids=LP_IDS)
def test_lp_pool(backend, case, dtype, norm, rng):
    shape, k, s, ceil = case
    norm_type, data = norm
    d = len(shape) - 2
    x = _data(rng, shape, dtype, data)
    expected = _ref("lp_pool", d)(x, norm_type, k, stride=s, ceil_mode=ceil)
    y = _fn("lp_pool", d)(backend.asarray(x), norm_type, k, stride=s, ceil_mode=ceil, **backend.kw)
    assert_close(y, expected, kind="lp", err_msg=f"norm_type={norm_type} {data}")


def test_lp_pool_handcrafted(backend):
    """p=2 over non-overlapping windows is the L2 norm; a ceil_mode window clipped at the
    end is rescaled by kernel/clipped size as torch does."""
    x = np.array([[[3, 4, 0, 5, 12, 1, 2]]], np.float64)
    y = to_numpy(ops.lp_pool1d(backend.asarray(x), 2, 2, ceil_mode=True, **backend.kw))
    # windows [3,4] [0,5] [12,1] [2]: the last one is avg(2**2) * 2 = 8 -> sqrt(8)
    np.testing.assert_allclose(y, [[[5, 5, np.sqrt(145), np.sqrt(8)]]], rtol=1e-14)


# ---------------------------------------------------------------------------------------
# adaptive pools
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ADAPTIVE_CASES, ids=ADAPTIVE_IDS)
def test_adaptive_avg_pool(backend, case, dtype, rng):
    shape, out = case
    d = len(shape) - 2
    x = _data(rng, shape, dtype)
    assert_close(_fn("adaptive_avg_pool", d)(backend.asarray(x), out, **backend.kw),
                 _ref("adaptive_avg_pool", d)(x, out))


@pytest.mark.parametrize("data", ["normal", "ties"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ADAPTIVE_CASES, ids=ADAPTIVE_IDS)
def test_adaptive_max_pool(backend, case, dtype, data, rng):
    shape, out = case
    d = len(shape) - 2
    x = _data(rng, shape, dtype, data)
    ey, ei = _ref("adaptive_max_pool", d)(x, out, return_indices=True)
    y, i = _fn("adaptive_max_pool", d)(backend.asarray(x), out, return_indices=True, **backend.kw)
    assert_close(y, ey, exact=True, err_msg="values")
    assert_close(i, ei, exact=True, err_msg="indices")
    assert_close(_fn("adaptive_max_pool", d)(backend.asarray(x), out, **backend.kw), ey, exact=True,
                 err_msg="values without indices")


@pytest.mark.parametrize("d", [1, 2, 3])
def test_adaptive_max_pool_nan_inf(backend, d, rng):
    shape = {1: (2, 3, 13), 2: (2, 3, 7, 8), 3: (1, 3, 4, 5, 6)}[d]
    x = _data(rng, shape, np.float32, "ties")
    x[rng.random(shape) < 0.1] = np.nan
    x[rng.random(shape) < 0.3] = -np.inf
    x[rng.random(shape) < 0.05] = np.inf
    for out in (3, 5, 1):
        ey, ei = _ref("adaptive_max_pool", d)(x, out, return_indices=True)
        y, i = _fn("adaptive_max_pool", d)(backend.asarray(x), out, return_indices=True, **backend.kw)
        assert_close(y, ey, exact=True, err_msg=f"values out={out}")
        assert_close(i, ei, exact=True, err_msg=f"indices out={out}")
        assert_close(_fn("adaptive_max_pool", d)(backend.asarray(x), out, **backend.kw), ey, exact=True,
                     err_msg=f"values without indices out={out}")
        assert_close(_fn("adaptive_avg_pool", d)(backend.asarray(x), out, **backend.kw),
                     _ref("adaptive_avg_pool", d)(x, out), err_msg=f"avg out={out}")


def test_adaptive_windows_handcrafted(backend):
    """Length 5 -> 3: windows [0,2) [1,4) [3,5) (overlapping, non-divisible)."""
    x = np.array([[[1, 5, 2, 8, 3]]], np.float64)
    np.testing.assert_allclose(to_numpy(ops.adaptive_avg_pool1d(backend.asarray(x), 3, **backend.kw)),
                               [[[3, 5, 5.5]]], rtol=1e-15)
    y, i = ops.adaptive_max_pool1d(backend.asarray(x), 3, return_indices=True, **backend.kw)
    assert to_numpy(y).tolist() == [[[5, 8, 8]]] and to_numpy(i).tolist() == [[[1, 3, 3]]]


# ---------------------------------------------------------------------------------------
# max unpool
# ---------------------------------------------------------------------------------------
# (shape, kernel, stride, padding) of the max_pool whose output is unpooled
UNPOOL_CASES = [
    ((2, 3, 8), 2, None, 0), ((2, 3, 9), 3, 2, 1), ((1, 2, 7), 2, 2, 0),
    ((2, 3, 8, 8), 2, None, 0), ((2, 3, 7, 9), 3, 2, 1), ((1, 2, 6, 5), (2, 3), (2, 1), (1, 1)),
    ((1, 2, 4, 6, 6), 2, None, 0), ((1, 2, 5, 4, 7), (3, 2, 3), (2, 2, 2), (1, 0, 1)),
]
UNPOOL_IDS = [f"{len(c[0]) - 2}d-{_id(c[0])}-k{_id(c[1])}-s{_id(c[2])}-p{_id(c[3])}" for c in UNPOOL_CASES]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", UNPOOL_CASES, ids=UNPOOL_IDS)
def test_max_unpool_round_trip(backend, case, dtype, rng):
    """SegNet: pool with indices, unpool with them (and with output_size = the input size)."""
    shape, k, s, p = case
    d = len(shape) - 2
    x = _data(rng, shape, dtype)
    y, idx = _fn("max_pool", d)(backend.asarray(x), k, stride=s, padding=p, return_indices=True, **backend.kw)
    ey, ei = _ref("max_pool", d)(x, k, stride=s, padding=p, return_indices=True)
    assert_close(idx, ei, exact=True, err_msg="pool indices")
    up = _fn("max_unpool", d)(y, idx, k, stride=s, padding=p, **backend.kw)
    assert_close(up, _ref("max_unpool", d)(ey, ei, k, stride=s, padding=p), exact=True, err_msg="default size")
    # every selected input value lands back at its own position
    up_full = _fn("max_unpool", d)(y, idx, k, stride=s, padding=p, output_size=shape[2:], **backend.kw)
    expected = _ref("max_unpool", d)(ey, ei, k, stride=s, padding=p, output_size=shape[2:])
    assert_close(up_full, expected, exact=True, err_msg="output_size = input size")
    flat_x = x.reshape(shape[0] * shape[1], -1)
    flat_up = to_numpy(up_full).reshape(shape[0] * shape[1], -1)
    flat_i = ei.reshape(shape[0] * shape[1], -1)
    rows = np.arange(flat_x.shape[0])[:, None]
    np.testing.assert_array_equal(flat_up[rows, flat_i], flat_x[rows, flat_i])
    # output_size given as the full shape [N, C, *spatial] is accepted too (as torch)
    assert_close(_fn("max_unpool", d)(y, idx, k, stride=s, padding=p, output_size=shape, **backend.kw),
                 expected, exact=True, err_msg="output_size = full shape")


@pytest.mark.parametrize("d", [1, 2, 3])
def test_max_unpool_arbitrary_indices(backend, d, rng):
    """Unique random targets (not from a pool), float64, a non-default output_size."""
    shape = {1: (2, 3, 5), 2: (2, 3, 3, 4), 3: (1, 2, 2, 3, 3)}[d]
    k, s = 2, 2
    default = tuple((n - 1) * s + k for n in shape[2:])
    out = tuple(o + 1 for o in default)  # within (default - stride, default + stride)
    plane_in, plane_out = int(np.prod(shape[2:])), int(np.prod(out))
    idx = np.stack([rng.permutation(plane_out)[:plane_in] for _ in range(shape[0] * shape[1])])
    idx = idx.reshape(shape).astype(np.int64)
    x = _data(rng, shape, np.float64)
    y = _fn("max_unpool", d)(backend.asarray(x), backend.asarray(idx), k, s, output_size=out, **backend.kw)
    assert_close(y, _ref("max_unpool", d)(x, idx, k, s, output_size=out), exact=True)


# ---------------------------------------------------------------------------------------
# global pools and SPP
# ---------------------------------------------------------------------------------------
GLOBAL_SHAPES = [(2, 3, 7), (2, 3, 1), (2, 3, 5, 6), (1, 4, 1, 1), (2, 3, 16, 16), (2, 2, 3, 4, 5),
                 (1, 1, 1, 1, 1)]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", GLOBAL_SHAPES, ids=_id)
def test_global_pools(backend, shape, dtype, keepdim, rng):
    x = _data(rng, shape, dtype)
    out_shape = shape[:2] + ((1,) * (len(shape) - 2) if keepdim else ())
    y = ops.global_avg_pool(backend.asarray(x), keepdim=keepdim, **backend.kw)
    assert to_numpy(y).shape == out_shape
    assert_close(y, ref.global_avg_pool(x, keepdim=keepdim), err_msg="avg")
    assert_close(y, x.mean(axis=tuple(range(2, len(shape))), keepdims=keepdim).astype(dtype), err_msg="avg/mean")
    y = ops.global_max_pool(backend.asarray(x), keepdim=keepdim, **backend.kw)
    assert_close(y, ref.global_max_pool(x, keepdim=keepdim), exact=True, err_msg="max")
    assert_close(y, x.max(axis=tuple(range(2, len(shape))), keepdims=keepdim), exact=True, err_msg="max/np")


# plane sizes around the vector widths (2..16 lanes) and the 4-chain threshold (8 vectors)
GLOBAL_PLANE_SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 130, 255, 257]


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_pools_plane_sizes(backend, dtype, rng):
    for n in GLOBAL_PLANE_SIZES:
        x = _data(rng, (2, 3, n), dtype)
        assert_close(ops.global_avg_pool(backend.asarray(x), **backend.kw), ref.global_avg_pool(x),
                     err_msg=f"avg n={n}")
        assert_close(ops.global_max_pool(backend.asarray(x), **backend.kw), ref.global_max_pool(x), exact=True,
                     err_msg=f"max n={n}")
        # kernel == input: the same single window through max/avg/lp pooling
        assert_close(ops.max_pool1d(backend.asarray(x), n, **backend.kw), ref.max_pool1d(x, n), exact=True,
                     err_msg=f"max_pool k=n={n}")
        assert_close(ops.avg_pool1d(backend.asarray(x), n, **backend.kw), ref.avg_pool1d(x, n),
                     err_msg=f"avg_pool k=n={n}")
        xi = _data(rng, (2, 3, n), dtype, "ints")
        xp = _data(rng, (2, 3, n), dtype, "positive")
        for norm, src in ((1, xi), (2, xi), (3.5, xp)):
            assert_close(ops.lp_pool1d(backend.asarray(src), norm, n, **backend.kw), ref.lp_pool1d(src, norm, n),
                         kind="lp", err_msg=f"lp_pool p={norm} k=n={n}")
        # a NaN / +inf / -inf at every position class: first, middle, last (the scalar tail)
        for pos in sorted({0, n // 2, n - 1}):
            for special in (np.nan, np.inf, -np.inf):
                xs = x.copy()
                xs[1, 2, pos] = special
                assert_close(ops.global_max_pool(backend.asarray(xs), **backend.kw), ref.global_max_pool(xs),
                             exact=True, err_msg=f"max n={n} {special} at {pos}")
                assert_close(ops.global_avg_pool(backend.asarray(xs), **backend.kw), ref.global_avg_pool(xs),
                             err_msg=f"avg n={n} {special} at {pos}")


def test_global_max_pool_nan(backend):
    x = np.zeros((2, 3, 4, 5), np.float32)
    x[0, 1, 2, 3] = np.nan
    x[1, 2] = -np.inf
    x[1, 0, 3, 4] = np.inf
    y = to_numpy(ops.global_max_pool(backend.asarray(x), **backend.kw))
    expected = np.zeros((2, 3), np.float32)
    expected[0, 1] = np.nan
    expected[1, 2] = -np.inf
    expected[1, 0] = np.inf
    assert_close(y, expected, exact=True)
    assert_close(ops.global_avg_pool(backend.asarray(x), **backend.kw), ref.global_avg_pool(x))


# (shape, levels)
SPP_CASES = [((2, 3, 13), (1, 2, 4)), ((2, 3, 9, 7), (1, 2, 4)), ((1, 4, 13, 17), (1, 3, 6)),
             ((2, 2, 3, 3), (4, 2)), ((1, 2, 5, 6, 7), (1, 2)), ((2, 3, 1, 1), (1, 2)), ((2, 3, 8, 8), (2,))]


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", SPP_CASES, ids=[f"{_id(s)}-l{_id(l)}" for s, l in SPP_CASES])
def test_spatial_pyramid_pool(backend, case, dtype, mode, rng):
    shape, levels = case
    d = len(shape) - 2
    x = _data(rng, shape, dtype)
    y = ops.spatial_pyramid_pool(backend.asarray(x), levels=levels, mode=mode, **backend.kw)
    assert to_numpy(y).shape == (shape[0], shape[1] * sum(lv ** d for lv in levels))
    assert_close(y, ref.spatial_pyramid_pool(x, levels=levels, mode=mode), exact=(mode == "max"))
    # layout: per level, the adaptive pool flattened in (C, l, ..., l) order
    adaptive = _ref(f"adaptive_{mode}_pool", d)
    expected = np.concatenate([adaptive(x, (lv,) * d).reshape(shape[0], -1) for lv in levels], axis=1)
    assert_close(y, expected, exact=(mode == "max"), err_msg="layout")


def test_spatial_pyramid_pool_default_levels(backend, rng):
    x = _data(rng, (2, 3, 11, 10), np.float32)
    y = ops.spatial_pyramid_pool(backend.asarray(x), **backend.kw)
    assert_close(y, ref.spatial_pyramid_pool(x), exact=True)
    assert to_numpy(y).shape == (2, 3 * 21)


def test_spatial_pyramid_pool_nan(backend):
    x = np.zeros((1, 2, 4, 4), np.float32)
    x[0, 0, 3, 3] = np.nan
    y = to_numpy(ops.spatial_pyramid_pool(backend.asarray(x), levels=(1, 2), mode="max", **backend.kw))
    # channel 0: level 1 -> NaN; level 2 -> the bottom-right cell is NaN
    assert np.isnan(y[0, 0]) and not np.isnan(y[0, 1])
    assert np.isnan(y[0, 2 + 3]) and not np.isnan(y[0, 2:5]).any() and not np.isnan(y[0, 6:]).any()


# ---------------------------------------------------------------------------------------
# random configurations (seeded: the same on every backend and every run)
# ---------------------------------------------------------------------------------------
def _fuzz_configs(count=40, seed=20240611):
    rng = np.random.default_rng(seed)
    configs = []
    while len(configs) < count:
        d = int(rng.integers(1, 4))
        hi = {1: 70, 2: 24, 3: 10}[d]
        spatial = tuple(int(v) for v in rng.integers(1, hi, size=d))
        k = tuple(int(v) for v in rng.integers(1, 6, size=d))
        s = tuple(int(v) for v in rng.integers(1, 5, size=d))
        p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
        dl = tuple(int(v) for v in rng.integers(1, 4, size=d))
        ceil = bool(rng.integers(2))
        if any(ref.pool_output_size(n, a, b, c, e, ceil) < 1 for n, a, b, c, e in zip(spatial, k, s, p, dl)):
            continue
        shape = (int(rng.integers(1, 4)), int(rng.integers(1, 5))) + spatial
        configs.append(dict(
            d=d, shape=shape, k=k, s=s, p=p, dl=dl, ceil=ceil,
            dtype=(np.float32, np.float64)[int(rng.integers(2))],
            out=tuple(int(v) for v in rng.integers(1, hi, size=d)),
            cip=bool(rng.integers(2)), dov=(None, 3)[int(rng.integers(2))],
            norm=(1, 2, 3, 1.5)[int(rng.integers(4))], seed=int(rng.integers(2 ** 31))))
    return configs


FUZZ = _fuzz_configs()


@pytest.mark.parametrize("cfg", FUZZ, ids=[f"{i}-{c['d']}d" for i, c in enumerate(FUZZ)])
def test_random_configurations(backend, cfg):
    d, k, s, p, dl, ceil = cfg["d"], cfg["k"], cfg["s"], cfg["p"], cfg["dl"], cfg["ceil"]
    rng = np.random.default_rng(cfg["seed"])
    x = _data(rng, cfg["shape"], cfg["dtype"])
    x[rng.random(x.shape) < 0.05] = np.nan
    x[rng.random(x.shape) < 0.1] = -np.inf
    xf = _data(rng, cfg["shape"], cfg["dtype"])
    xi = _data(rng, cfg["shape"], cfg["dtype"], "ints" if cfg["norm"] != 1.5 else "positive")
    xb = backend.asarray
    what = str(cfg)
    try:
        ey, ei = _ref("max_pool", d)(x, k, s, p, dl, ceil, True)
    except ValueError:  # a dilated window that reads only padding: an error in ours too
        with pytest.raises(ValueError, match="reads only padding"):
            _fn("max_pool", d)(xb(x), k, s, p, dl, ceil, True, **backend.kw)
    else:
        y, i = _fn("max_pool", d)(xb(x), k, s, p, dl, ceil, True, **backend.kw)
        assert_close(y, ey, exact=True, err_msg=f"max {what}")
        assert_close(i, ei, exact=True, err_msg=f"max indices {what}")
        assert_close(_fn("max_pool", d)(xb(x), k, s, p, dl, ceil, **backend.kw), ey, exact=True,
                     err_msg=f"max without indices {what}")
    if all(ref.pool_output_size(n, a, b, c, 1, ceil) >= 1 for n, a, b, c in zip(cfg["shape"][2:], k, s, p)):
        assert_close(_fn("avg_pool", d)(xb(xf), k, s, p, ceil, cfg["cip"], cfg["dov"], **backend.kw),
                     _ref("avg_pool", d)(xf, k, s, p, ceil, cfg["cip"], cfg["dov"]), err_msg=f"avg {what}")
    if all(ref.pool_output_size(n, a, b, 0, 1, ceil) >= 1 for n, a, b in zip(cfg["shape"][2:], k, s)):
        assert_close(_fn("lp_pool", d)(xb(xi), cfg["norm"], k, s, ceil, **backend.kw),
                     _ref("lp_pool", d)(xi, cfg["norm"], k, s, ceil), kind="lp", err_msg=f"lp {what}")
    ey, ei = _ref("adaptive_max_pool", d)(x, cfg["out"], True)
    y, i = _fn("adaptive_max_pool", d)(xb(x), cfg["out"], True, **backend.kw)
    assert_close(y, ey, exact=True, err_msg=f"adaptive max {what}")
    assert_close(i, ei, exact=True, err_msg=f"adaptive max indices {what}")
    assert_close(_fn("adaptive_max_pool", d)(xb(x), cfg["out"], **backend.kw), ey, exact=True,
                 err_msg=f"adaptive max without indices {what}")
    assert_close(_fn("adaptive_avg_pool", d)(xb(xf), cfg["out"], **backend.kw),
                 _ref("adaptive_avg_pool", d)(xf, cfg["out"]), err_msg=f"adaptive avg {what}")


# ---------------------------------------------------------------------------------------
# larger inputs: the CPU kernels' OpenMP paths (>= 2**15 elements), W chunks of long 1-d
# rows (> 8192 columns), many emulator blocks. Each emulated call stays < 1e5 outputs.
# ---------------------------------------------------------------------------------------
def _max_both(d, **kw):
    """max pooling with and without indices (the CPU backend has a kernel for each)."""
    def run(f, x, **extra):
        return f(f"max_pool{d}d")(x, return_indices=True, **kw, **extra), f(f"max_pool{d}d")(x, **kw, **extra)
    return run


def _call(name, *args, **kw):
    return lambda f, x, **extra: f(name)(x, *args, **kw, **extra)


# (id, shape, data, op) where op(f, x, **backend_kw) runs through f = getattr(ops|ref, name)
LARGE_CASES = [
    ("2d-max-k3s2p1", (2, 16, 40, 40), "specials", _max_both(2, kernel_size=3, stride=2, padding=1)),
    ("2d-max-k2s1-dil2-ceil", (2, 16, 40, 40), "specials",
     _max_both(2, kernel_size=2, stride=1, padding=1, dilation=2, ceil_mode=True)),
    ("2d-max-k3s3", (2, 16, 40, 40), "specials", _max_both(2, kernel_size=3, stride=3)),
    ("2d-avg-k3s1p1-nopad", (2, 16, 40, 40), "normal",
     _call("avg_pool2d", 3, 1, 1, count_include_pad=False)),
    ("2d-avg-k3s2p1-ceil", (2, 16, 40, 40), "specials", _call("avg_pool2d", 3, 2, 1, True)),
    ("2d-avg-k5s3p2-div", (2, 16, 40, 40), "normal", _call("avg_pool2d", 5, 3, 2, divisor_override=7)),
    ("2d-lp2-k2", (2, 16, 40, 40), "normal", _call("lp_pool2d", 2, 2)),
    ("2d-lp3.5-k3s2-ceil", (2, 16, 40, 40), "positive", _call("lp_pool2d", 3.5, 3, 2, True)),
    ("2d-lp1-k4s3", (2, 16, 40, 40), "ints", _call("lp_pool2d", 1, 4, 3)),
    ("2d-adaptive-max-7", (2, 16, 40, 40), "specials", _call("adaptive_max_pool2d", 7, True)),
    ("2d-adaptive-max-7-noidx", (2, 16, 40, 40), "specials", _call("adaptive_max_pool2d", (7, 9))),
    ("2d-adaptive-max-8-divisible", (2, 16, 40, 40), "specials", _call("adaptive_max_pool2d", 8)),
    ("2d-adaptive-avg-7x9", (2, 16, 40, 40), "normal", _call("adaptive_avg_pool2d", (7, 9))),
    ("2d-adaptive-avg-10-divisible", (2, 16, 40, 40), "normal", _call("adaptive_avg_pool2d", 10)),
    ("2d-global-avg", (2, 16, 40, 40), "normal", _call("global_avg_pool")),
    ("2d-global-max", (2, 16, 40, 40), "specials", _call("global_max_pool")),
    ("2d-spp", (2, 16, 40, 40), "specials", _call("spatial_pyramid_pool", (1, 2, 3, 6))),
    ("1d-long-max-k3s1p1", (1, 2, 20000), "specials", _max_both(1, kernel_size=3, stride=1, padding=1)),
    ("1d-long-max-k4s2p1-ceil", (1, 2, 20001), "specials",
     _max_both(1, kernel_size=4, stride=2, padding=1, ceil_mode=True)),
    ("1d-long-avg-k5s3p2", (1, 2, 30000), "normal", _call("avg_pool1d", 5, 3, 2)),
    ("1d-long-avg-k2s1", (1, 2, 20000), "normal", _call("avg_pool1d", 2, 1)),
    ("1d-long-lp2-k3s2", (1, 2, 20000), "normal", _call("lp_pool1d", 2, 3, 2)),
    ("1d-long-adaptive-avg", (1, 2, 20000), "normal", _call("adaptive_avg_pool1d", 9001)),
    ("1d-long-adaptive-max", (1, 2, 20000), "specials", _call("adaptive_max_pool1d", 9001)),
    ("3d-max-k3s2p1", (1, 8, 12, 20, 20), "specials", _max_both(3, kernel_size=3, stride=2, padding=1)),
    ("3d-avg-k2s2-ceil", (1, 8, 13, 21, 19), "normal", _call("avg_pool3d", 2, 2, 0, True)),
    ("3d-lp2-k2", (1, 8, 12, 20, 20), "normal", _call("lp_pool3d", 2, 2)),
    ("3d-adaptive-max", (1, 8, 12, 20, 20), "specials", _call("adaptive_max_pool3d", (5, 7, 6), True)),
    ("3d-adaptive-avg", (1, 8, 12, 20, 20), "normal", _call("adaptive_avg_pool3d", (5, 7, 6))),
]

_LARGE_CACHE = {}


def _large_data(shape, kind):
    rng = np.random.default_rng(zlib.crc32(repr((shape, kind)).encode()))
    if kind == "specials":
        x = rng.standard_normal(shape).astype(np.float32)
        x[rng.random(shape) < 0.002] = np.nan
        x[rng.random(shape) < 0.02] = -np.inf
        x[rng.random(shape) < 0.002] = np.inf
        return x
    return _data(rng, shape, np.float32, kind)


@pytest.mark.parametrize("case", LARGE_CASES, ids=[c[0] for c in LARGE_CASES])
def test_large_inputs(backend, case):
    name, shape, kind, run = case
    if name not in _LARGE_CACHE:  # the reference is computed once per case, not per backend
        x = _large_data(shape, kind)
        _LARGE_CACHE[name] = (x, run(_REF_F, x))
    x, expected = _LARGE_CACHE[name]
    got = run(_OPS_F, backend.asarray(x), **backend.kw)
    exact = "max" in name or "spp" in name
    kind = "lp" if "lp" in name else "default"
    pairs = list(zip(got, expected)) if isinstance(expected, tuple) and isinstance(expected[0], tuple) \
        else [(got, expected)]
    for g, e in pairs:
        if isinstance(e, tuple):
            assert_close(g[0], e[0], exact=exact, kind=kind, err_msg=f"{name} values")
            assert_close(g[1], e[1], exact=True, err_msg=f"{name} indices")
        else:
            assert_close(g, e, exact=exact, kind=kind, err_msg=name)


# ---------------------------------------------------------------------------------------
# every op: empty batch, unbatched input, non-contiguous input
# ---------------------------------------------------------------------------------------
def _all_ops(d):
    """(name, ops call, reference call) for every op on a d-spatial-dim input; each call
    takes (x, extra kwargs) and returns the output (or a tuple for indices)."""
    k, s, p = 3, 2, 1
    return [
        ("max_pool", lambda f, x, **kw: f(f"max_pool{d}d")(x, k, s, p, 1, True, True, **kw)),
        ("max_pool_dilated", lambda f, x, **kw: f(f"max_pool{d}d")(x, 2, 1, 1, 2, False, True, **kw)),
        ("avg_pool", lambda f, x, **kw: f(f"avg_pool{d}d")(x, k, s, p, True, True, **kw)),
        ("avg_pool_no_pad", lambda f, x, **kw: f(f"avg_pool{d}d")(x, k, s, p, False, False, **kw)),
        ("lp_pool", lambda f, x, **kw: f(f"lp_pool{d}d")(x, 2, 2, 1, **kw)),
        ("adaptive_avg_pool", lambda f, x, **kw: f(f"adaptive_avg_pool{d}d")(x, 3, **kw)),
        ("adaptive_max_pool", lambda f, x, **kw: f(f"adaptive_max_pool{d}d")(x, 3, True, **kw)),
    ]


_OPS_F = lambda name: getattr(ops, name)  # noqa: E731
_REF_F = lambda name: getattr(ref, name)  # noqa: E731


def _check_pair(got, expected, exact, what):
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == 2, f"{what}: expected (values, indices)"
        assert_close(got[0], expected[0], exact=exact, err_msg=f"{what} values")
        assert_close(got[1], expected[1], exact=True, err_msg=f"{what} indices")
    else:
        assert_close(got, expected, exact=exact, kind="lp" if "lp" in what else "default", err_msg=what)


_SPATIAL = {1: (9,), 2: (7, 6), 3: (5, 4, 6)}


@pytest.mark.parametrize("d", [1, 2, 3])
def test_empty_batch(backend, d):
    x = np.zeros((0, 3) + _SPATIAL[d], np.float32)
    for name, run in _all_ops(d):
        got = run(_OPS_F, backend.asarray(x), **backend.kw)
        _check_pair(got, run(_REF_F, x), True, f"{name} N=0")
    idx = np.zeros((0, 3) + _SPATIAL[d], np.int64)
    up = _fn("max_unpool", d)(backend.asarray(x), backend.asarray(idx), 2, **backend.kw)
    assert_close(up, np.zeros((0, 3) + tuple(2 * n for n in _SPATIAL[d]), np.float32), exact=True,
                 err_msg="max_unpool N=0")
    for fn in (ops.global_avg_pool, ops.global_max_pool):
        assert_close(fn(backend.asarray(x), **backend.kw), np.zeros((0, 3), np.float32), exact=True,
                     err_msg=fn.__name__)
    y = ops.spatial_pyramid_pool(backend.asarray(x), levels=(1, 2), **backend.kw)
    assert_close(y, np.zeros((0, 3 * (1 + 2 ** d)), np.float32), exact=True, err_msg="spp N=0")
    # no channels: also nothing to compute
    x = np.zeros((2, 0) + _SPATIAL[d], np.float64)
    for name, run in _all_ops(d):
        _check_pair(run(_OPS_F, backend.asarray(x), **backend.kw), run(_REF_F, x), True, f"{name} C=0")
    assert_close(ops.global_max_pool(backend.asarray(x), **backend.kw), np.zeros((2, 0)), exact=True,
                 err_msg="global_max_pool C=0")


@pytest.mark.parametrize("d", [1, 2, 3])
def test_unbatched(backend, d, rng):
    """[C, *spatial] in -> [C, *out] out, equal to the batched result of x[None]."""
    x = _data(rng, (3,) + _SPATIAL[d], np.float32, "ties")
    for name, run in _all_ops(d):
        got = run(_OPS_F, backend.asarray(x), **backend.kw)
        expected = run(_REF_F, x)
        _check_pair(got, expected, "max" in name, f"{name} unbatched")
        batched = run(_REF_F, x[None])
        first = expected[0] if isinstance(expected, tuple) else expected
        bfirst = batched[0] if isinstance(batched, tuple) else batched
        np.testing.assert_array_equal(first, bfirst[0])  # the oracle agrees with itself
    y, idx = _fn("max_pool", d)(backend.asarray(x), 2, return_indices=True, **backend.kw)
    up = _fn("max_unpool", d)(y, idx, 2, **backend.kw)
    ey, ei = _ref("max_pool", d)(x, 2, return_indices=True)
    assert_close(up, _ref("max_unpool", d)(ey, ei, 2), exact=True, err_msg="max_unpool unbatched")


def _views(x):
    """Non-contiguous views of a [N, C, *spatial] array with the same logical layout."""
    nd = x.ndim
    yield "transposed", np.ascontiguousarray(np.swapaxes(x, 0, 1)).swapaxes(0, 1)  # C-major memory
    # spatial axes stored in reversed order in memory
    if nd > 3:
        perm = (0, 1) + tuple(range(nd - 1, 1, -1))
        yield "spatial-transposed", np.ascontiguousarray(x.transpose(perm)).transpose(perm)
    big = np.empty(tuple(2 * n for n in x.shape), x.dtype)
    big[...] = np.nan  # what a kernel reading the wrong elements would see
    view = big[tuple(slice(None, None, 2) for _ in range(nd))]
    view[...] = x
    yield "strided", view
    rev = np.ascontiguousarray(x[..., ::-1])[..., ::-1]
    yield "negative-stride", rev
    channels_last = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    yield "channels-last", np.moveaxis(channels_last, -1, 1)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_non_contiguous(backend, d, rng):
    x = _data(rng, (2, 3) + _SPATIAL[d], np.float32, "ties")
    for view_name, xv in _views(x):
        assert not xv.flags.c_contiguous, view_name
        np.testing.assert_array_equal(xv, x)
        for name, run in _all_ops(d):
            _check_pair(run(_OPS_F, backend.asarray(xv), **backend.kw), run(_REF_F, x), "max" in name,
                        f"{name} {view_name}")
        assert_close(ops.global_avg_pool(backend.asarray(xv), **backend.kw), ref.global_avg_pool(x),
                     err_msg=f"global_avg_pool {view_name}")
        assert_close(ops.global_max_pool(backend.asarray(xv), **backend.kw), ref.global_max_pool(x), exact=True,
                     err_msg=f"global_max_pool {view_name}")
        assert_close(ops.spatial_pyramid_pool(backend.asarray(xv), levels=(1, 2), **backend.kw),
                     ref.spatial_pyramid_pool(x, levels=(1, 2)), exact=True, err_msg=f"spp {view_name}")
        # unpool with non-contiguous x and indices
        y, idx = _ref("max_pool", d)(x, 2, return_indices=True)
        yv = np.ascontiguousarray(np.swapaxes(y, 0, 1)).swapaxes(0, 1)
        iv = np.ascontiguousarray(np.swapaxes(idx, 0, 1)).swapaxes(0, 1)
        assert_close(_fn("max_unpool", d)(backend.asarray(yv), backend.asarray(iv), 2, **backend.kw),
                     _ref("max_unpool", d)(y, idx, 2), exact=True, err_msg=f"max_unpool {view_name}")
    # the input is not modified
    x0 = x.copy()
    _fn("max_pool", d)(backend.asarray(x), 2, **backend.kw)
    np.testing.assert_array_equal(x, x0)


def test_public_reexports():
    for name in ops.__all__:
        assert getattr(pydeepkit, name) is getattr(ops, name), name
    for name in ("max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
                 "lp_pool1d", "lp_pool2d", "lp_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
                 "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
                 "max_unpool1d", "max_unpool2d", "max_unpool3d", "global_avg_pool", "global_max_pool",
                 "spatial_pyramid_pool"):
        assert name in ops.__all__, name
        assert getattr(ops, name).__doc__, f"{name} has no docstring"
    assert issubclass(pydeepkit.BackendUnavailable, RuntimeError)


def test_cpu_isa_switch_restores(backend):
    """set_simd changes what info() reports; the fixture restores the default ISA."""
    if backend.name != "cpu":
        pytest.skip("cpu only")
    from pydeepkit import _ext
    cpu = _ext.module("cpu")
    assert cpu.info()["simd"] == backend.isa
    with pytest.raises((ValueError, RuntimeError)):
        cpu.set_simd("no-such-isa")
    assert cpu.info()["simd"] == backend.isa


# ---------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------
X1 = np.zeros((2, 3, 6), np.float32)
X2 = np.zeros((2, 3, 6, 6), np.float32)
X3 = np.zeros((1, 2, 4, 4, 4), np.float32)
IDX2 = np.zeros((2, 3, 3, 3), np.int64)
Y2 = np.zeros((2, 3, 3, 3), np.float32)

# (id, call, exception, argument name, the actual value as the message must show it)
ERROR_CASES = [
    ("kernel-larger-than-input", lambda **kw: ops.max_pool2d(X2, 7, **kw), ValueError, "kernel_size", "7"),
    ("kernel-larger-than-padded-1d", lambda **kw: ops.avg_pool1d(X1, 9, padding=1, **kw), ValueError,
     "kernel_size", "9"),
    ("kernel-larger-than-input-3d", lambda **kw: ops.max_pool3d(X3, (5, 2, 2), **kw), ValueError,
     "kernel_size", "5"),
    ("lp-kernel-larger-than-input", lambda **kw: ops.lp_pool2d(X2, 2, 7, **kw), ValueError, "kernel_size", "7"),
    ("dilated-kernel-larger-than-input", lambda **kw: ops.max_pool1d(X1, 3, dilation=3, **kw), ValueError,
     "kernel_size", "3"),
    ("padding-over-half-kernel", lambda **kw: ops.max_pool2d(X2, 3, padding=2, **kw), ValueError, "padding", "2"),
    ("padding-over-half-kernel-avg", lambda **kw: ops.avg_pool2d(X2, (2, 4), padding=(2, 1), **kw), ValueError,
     "padding", "2"),
    ("padding-over-half-kernel-3d", lambda **kw: ops.max_pool3d(X3, 2, padding=(0, 0, 2), **kw), ValueError,
     "padding", "2"),
    ("negative-padding", lambda **kw: ops.max_pool2d(X2, 3, padding=-1, **kw), ValueError, "padding", "-1"),
    ("zero-kernel", lambda **kw: ops.max_pool2d(X2, 0, **kw), ValueError, "kernel_size", "0"),
    ("negative-kernel", lambda **kw: ops.avg_pool1d(X1, -2, **kw), ValueError, "kernel_size", "-2"),
    ("zero-kernel-lp", lambda **kw: ops.lp_pool2d(X2, 2, (2, 0), **kw), ValueError, "kernel_size", "0"),
    ("zero-stride", lambda **kw: ops.max_pool2d(X2, 2, stride=0, **kw), ValueError, "stride", "0"),
    ("negative-stride", lambda **kw: ops.avg_pool3d(X3, 2, stride=(1, -1, 1), **kw), ValueError, "stride", "-1"),
    ("zero-stride-lp", lambda **kw: ops.lp_pool1d(X1, 2, 2, stride=0, **kw), ValueError, "stride", "0"),
    ("zero-dilation", lambda **kw: ops.max_pool2d(X2, 2, dilation=0, **kw), ValueError, "dilation", "0"),
    ("negative-dilation", lambda **kw: ops.max_pool1d(X1, 2, dilation=-1, **kw), ValueError, "dilation", "-1"),
    ("kernel-wrong-length", lambda **kw: ops.max_pool2d(X2, (2, 2, 2), **kw), ValueError, "kernel_size",
     "(2, 2, 2)"),
    ("stride-wrong-length", lambda **kw: ops.avg_pool3d(X3, 2, stride=(1, 1), **kw), ValueError, "stride",
     "(1, 1)"),
    ("empty-spatial-dim", lambda **kw: ops.max_pool2d(np.zeros((2, 3, 0, 6), np.float32), 1, **kw), ValueError,
     "x", "(2, 3, 0, 6)"),
    ("empty-spatial-dim-adaptive", lambda **kw: ops.adaptive_avg_pool1d(np.zeros((2, 3, 0), np.float32), 2, **kw),
     ValueError, "x", "(2, 3, 0)"),
    ("max-rank-too-low", lambda **kw: ops.max_pool2d(np.zeros((6, 6), np.float32), 2, **kw), ValueError, "x",
     "(6, 6)"),
    ("max-rank-too-high", lambda **kw: ops.max_pool2d(X3, 2, **kw), ValueError, "x", "(1, 2, 4, 4, 4)"),
    ("avg1d-rank", lambda **kw: ops.avg_pool1d(X2, 2, **kw), ValueError, "x", "(2, 3, 6, 6)"),
    ("lp3d-rank", lambda **kw: ops.lp_pool3d(X1, 2, 2, **kw), ValueError, "x", "(2, 3, 6)"),
    ("adaptive-rank", lambda **kw: ops.adaptive_avg_pool3d(X1, 2, **kw), ValueError, "x", "(2, 3, 6)"),
    ("adaptive-max-rank", lambda **kw: ops.adaptive_max_pool1d(np.zeros(6, np.float32), 2, **kw), ValueError,
     "x", "(6,)"),
    ("adaptive-output-size-length", lambda **kw: ops.adaptive_avg_pool2d(X2, (2, 2, 2), **kw), ValueError,
     "output_size", "(2, 2, 2)"),
    ("adaptive-output-size-zero", lambda **kw: ops.adaptive_max_pool2d(X2, (0, 2), **kw), ValueError,
     "output_size", "0"),
    ("adaptive-output-size-negative", lambda **kw: ops.adaptive_avg_pool1d(X1, -1, **kw), ValueError,
     "output_size", "-1"),
    ("adaptive3d-output-size-length", lambda **kw: ops.adaptive_max_pool3d(X3, (2, 2), **kw), ValueError,
     "output_size", "(2, 2)"),
    ("lp-norm-zero", lambda **kw: ops.lp_pool2d(X2, 0, 2, **kw), ValueError, "norm_type", "0"),
    ("lp-norm-negative", lambda **kw: ops.lp_pool1d(X1, -1.5, 2, **kw), ValueError, "norm_type", "-1.5"),
    ("divisor-override-zero", lambda **kw: ops.avg_pool2d(X2, 2, divisor_override=0, **kw), ValueError,
     "divisor_override", "0"),
    ("divisor-override-zero-3d", lambda **kw: ops.avg_pool3d(X3, 2, divisor_override=0, **kw), ValueError,
     "divisor_override", "0"),
    ("unpool-indices-shape", lambda **kw: ops.max_unpool2d(Y2, IDX2[:, :, :2], 2, **kw), ValueError, "indices",
     "(2, 3, 2, 3)"),
    ("unpool-indices-int32", lambda **kw: ops.max_unpool2d(Y2, IDX2.astype(np.int32), 2, **kw), TypeError,
     "indices", "int32"),
    ("unpool-indices-float", lambda **kw: ops.max_unpool2d(Y2, IDX2.astype(np.float32), 2, **kw), TypeError,
     "indices", "float32"),
    ("unpool-indices-too-large", lambda **kw: ops.max_unpool2d(Y2, np.full_like(IDX2, 36), 2, **kw), ValueError,
     "indices", "36"),
    ("unpool-indices-negative", lambda **kw: ops.max_unpool1d(X1, np.full(X1.shape, -1, np.int64), 2, **kw),
     ValueError, "indices", "-1"),
    ("unpool-output-size-too-large", lambda **kw: ops.max_unpool2d(Y2, IDX2, 2, output_size=(8, 6), **kw),
     ValueError, "output_size", "8"),
    ("unpool-output-size-length", lambda **kw: ops.max_unpool2d(Y2, IDX2, 2, output_size=(6, 6, 6), **kw),
     ValueError, "output_size", "(6, 6, 6)"),
    ("unpool-rank", lambda **kw: ops.max_unpool1d(Y2, IDX2, 2, **kw), ValueError, "x", "(2, 3, 3, 3)"),
    ("dtype-float16", lambda **kw: ops.max_pool2d(X2.astype(np.float16), 2, **kw), TypeError, "x", "float16"),
    ("dtype-int32", lambda **kw: ops.avg_pool2d(X2.astype(np.int32), 2, **kw), TypeError, "x", "int32"),
    ("dtype-int64-adaptive", lambda **kw: ops.adaptive_max_pool2d(X2.astype(np.int64), 2, **kw), TypeError,
     "x", "int64"),
    ("dtype-bool-global", lambda **kw: ops.global_avg_pool(X2.astype(bool), **kw), TypeError, "x", "bool"),
    ("dtype-complex-spp", lambda **kw: ops.spatial_pyramid_pool(X2.astype(np.complex64), **kw), TypeError, "x",
     "complex64"),
    ("unpool-x-int", lambda **kw: ops.max_unpool2d(IDX2, IDX2, 2, **kw), TypeError, "x", "int64"),
    ("array-type-list", lambda **kw: ops.max_pool1d([[[1.0, 2.0]]], 2, **kw), TypeError, "x", "list"),
    ("array-type-none", lambda **kw: ops.global_max_pool(None, **kw), TypeError, "x", "None"),
    ("global-rank-2", lambda **kw: ops.global_avg_pool(np.zeros((2, 3), np.float32), **kw), ValueError, "x",
     "(2, 3)"),
    ("global-rank-6", lambda **kw: ops.global_max_pool(np.zeros((1, 1, 2, 2, 2, 2), np.float32), **kw),
     ValueError, "x", "(1, 1, 2, 2, 2, 2)"),
    ("spp-rank", lambda **kw: ops.spatial_pyramid_pool(np.zeros((3, 6), np.float32), **kw), ValueError, "x",
     "(3, 6)"),
    ("spp-level-zero", lambda **kw: ops.spatial_pyramid_pool(X2, levels=(1, 0), **kw), ValueError, "levels", "0"),
    ("spp-levels-empty", lambda **kw: ops.spatial_pyramid_pool(X2, levels=(), **kw), ValueError, "levels", "()"),
    ("spp-mode", lambda **kw: ops.spatial_pyramid_pool(X2, mode="min", **kw), ValueError, "mode", "'min'"),
]


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_errors(host_backend, case):
    """Bad arguments raise ValueError/TypeError naming the argument and the actual value."""
    _, call, exc, arg, actual = case
    with pytest.raises(exc) as info:
        call(backend=host_backend)
    message = str(info.value)
    assert re.search(rf"\b{re.escape(arg)}\b", message), f"the message does not name {arg!r}: {message!r}"
    assert actual in message, f"the message does not show the actual value {actual!r}: {message!r}"


def test_error_bad_backend_name():
    with pytest.raises(ValueError, match="backend"):
        ops.max_pool2d(X2, 2, backend="gpu")


def test_error_numpy_on_cuda_backend():
    """numpy arrays cannot run on 'cuda': a clear error, never a crash (BackendUnavailable
    when the cuda extension or cupy is missing is acceptable too)."""
    with pytest.raises((ValueError, TypeError, pydeepkit.BackendUnavailable)) as info:
        ops.max_pool2d(X2, 2, backend="cuda")
    assert "cuda" in str(info.value)


@pytest.mark.parametrize("backend_name", ["cpu", "emu"])
def test_unavailable_backend_raises(tmp_path, backend_name):
    """With no extension to load, the call raises pydeepkit.BackendUnavailable (a RuntimeError)."""
    code = (
        "import numpy as np, pydeepkit\n"
        "x = np.zeros((1, 1, 4, 4), np.float32)\n"
        "try:\n"
        f"    pydeepkit.max_pool2d(x, 2, backend={backend_name!r})\n"
        "except pydeepkit.BackendUnavailable as e:\n"
        "    assert isinstance(e, RuntimeError)\n"
        f"    assert {backend_name!r} in str(e), str(e)\n"
        "    print('OK')\n"
    )
    # LD_PRELOAD emptied: the sanitizer job preloads ASan, not needed for a failed import
    proc = run_python(code=code, env={"PYDEEPKIT_EXTENSION_DIR": str(tmp_path), "LD_PRELOAD": ""})
    assert proc.returncode == 0 and proc.stdout.strip() == "OK", proc.stdout + proc.stderr


def test_reference_rejects_bad_arguments():
    """The oracles themselves refuse what they cannot define (they back `pydeepkit demo`)."""
    with pytest.raises(ValueError, match="output size"):
        ref.max_pool2d(X2, 7)
    with pytest.raises(ValueError, match="stride"):
        ref.avg_pool1d(X1, 2, stride=0)
    with pytest.raises(ValueError, match="norm_type"):
        ref.lp_pool1d(X1, 0, 2)
    with pytest.raises(ValueError, match="divisor_override"):
        ref.avg_pool2d(X2, 2, divisor_override=0)
    with pytest.raises(ValueError, match="output_size"):
        ref.adaptive_avg_pool2d(X2, (0, 1))
    with pytest.raises(ValueError, match="indices"):
        ref.max_unpool2d(Y2, np.full_like(IDX2, 36), 2)
    with pytest.raises(TypeError, match="indices"):
        ref.max_unpool2d(Y2, IDX2.astype(np.int32), 2)
    with pytest.raises(TypeError):
        ref.max_pool2d(X2.astype(np.int32), 2)
