"""CUDA convolution kernels (csrc/conv/conv_cuda.cu) on the emulator and, when present, a GPU.

Paths: the tiled implicit GEMM (every non-depthwise forward convolution; the tile is 64 x 64 x 16
for float, 64 x 64 x 8 for double), the direct depthwise kernel (groups == C_in), and the
transposed convolution as one implicit GEMM per output phase. Reference:
``pydeepkit.reference.conv`` (float64 numpy). Inputs are dyadic (small integers / 4), so every
product and partial sum is exact in float32 and results do not depend on the summation order:
any gather, tiling or phase bug shows, and the tolerances only absorb the epilogue's rounding.
Shapes stay small: emulated launches are a few 256-thread blocks with at most ~25 k-steps.
This file must not need torch (the parity tests live elsewhere).
"""
from __future__ import annotations

import numpy as np
import pytest

import pydeepkit.ops as ops
from pydeepkit import _ext
from pydeepkit.reference.conv import conv as reference_conv, conv_transpose as reference_conv_transpose

from conftest import Backend, assert_close, require_backend, to_numpy

DTYPES = [np.float32, np.float64]
DTYPE_IDS = [np.dtype(d).name for d in DTYPES]
DTYPE_CODES = {"float32": 0, "float64": 1, "int64": 2}  # pdk::DType
ACTIVATIONS = [None, "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "relu6"]
CONV = {1: ops.conv1d, 2: ops.conv2d, 3: ops.conv3d}
CONV_TRANSPOSE = {1: ops.conv_transpose1d, 2: ops.conv_transpose2d, 3: ops.conv_transpose3d}


@pytest.fixture(params=["emu", "cuda"])
def bk(request):
    """The CUDA-model backends: emu (numpy arrays) and cuda (cupy, skipped without a GPU)."""
    require_backend(request.param)
    return Backend(request.param)


def dyadic(rng, shape, dtype):
    """Values in {-1, -0.75, ..., 1}: exact products and sums in float32 for these sizes."""
    return (rng.integers(-4, 5, size=shape) / 4).astype(dtype)


def device(bk, kw):
    return {k: (bk.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}


def run_conv(bk, x, w, **kw):
    """conv{n}d on backend bk with numpy inputs; numpy result."""
    return to_numpy(CONV[x.ndim - 2](bk.asarray(x), bk.asarray(w), **device(bk, kw), **bk.kw))


def run_conv_transpose(bk, x, w, **kw):
    return to_numpy(CONV_TRANSPOSE[x.ndim - 2](bk.asarray(x), bk.asarray(w), **device(bk, kw), **bk.kw))


def conv_case(rng, dtype, batch, cin, cout, size, kernel, groups=1, epilogue=True, **kw):
    """(x, weight, kwargs) of a forward case; with the epilogue: bias, residual and relu."""
    x = dyadic(rng, (batch, cin, *size), dtype)
    w = dyadic(rng, (cout, cin // groups, *kernel), dtype)
    kw = dict(kw, groups=groups)
    if epilogue:
        out_shape = reference_conv(x, w, **kw).shape
        kw.update(bias=dyadic(rng, (cout,), dtype), residual=dyadic(rng, out_shape, dtype), activation="relu")
    return x, w, kw


def check_conv(bk, x, w, kw, what=""):
    assert_close(run_conv(bk, x, w, **kw), reference_conv(x, w, **kw), err_msg=what)


# ---------------------------------------------------------------------------------------
# implicit GEMM (forward, not depthwise)
# ---------------------------------------------------------------------------------------
# (batch, C_in, C_out, spatial size, kernel, extra arguments, what the case covers)
GEMM_CASES = [
    (2, 3, 5, (9,), (3,), dict(padding=1), "1-d"),
    (1, 4, 6, (17,), (4,), dict(stride=3, dilation=2, padding=2), "1-d stride x dilation, even kernel"),
    (2, 5, 7, (6, 7), (3, 3), dict(padding=1), "2-d, edges in M, N and K"),
    (1, 20, 70, (5, 6), (3, 3), dict(padding=(1, 0)), "K = 180 (12 float / 23 double k-steps), M spans 2 tiles"),
    (3, 3, 4, (9, 10), (3, 2), dict(stride=(2, 3), padding=(1, 1)), "N tiles cross image boundaries"),
    (2, 6, 8, (7, 8), (3, 2), dict(groups=2, stride=(2, 1), dilation=(1, 2)), "groups = 2"),
    (1, 12, 9, (5, 5), (1, 1), dict(groups=3), "1x1, groups = 3"),
    (1, 3, 4, (4, 5, 6), (2, 3, 2), dict(stride=(1, 2, 1), padding=(1, 1, 0), dilation=(2, 1, 2)), "3-d"),
    (2, 2, 3, (3, 4, 5), (3, 3, 3), dict(padding=1, groups=1), "3-d, kernel covers the input"),
    (1, 8, 4, (11, 13), (1, 1), dict(), "1x1 stride 1 (a plain GEMM per image)"),
    (1, 4, 2, (1, 1), (1, 1), dict(), "single pixel"),
]
GEMM_IDS = [c[-1] for c in GEMM_CASES]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("batch,cin,cout,size,kernel,extra,what", GEMM_CASES, ids=GEMM_IDS)
def test_forward_gemm(bk, rng, batch, cin, cout, size, kernel, extra, what, dtype):
    x, w, kw = conv_case(rng, dtype, batch, cin, cout, size, kernel, **extra)
    check_conv(bk, x, w, kw, what)
    x, w, kw = conv_case(rng, dtype, batch, cin, cout, size, kernel, epilogue=False, **extra)
    check_conv(bk, x, w, kw, what + " (no epilogue)")


PADDING_CASES = [
    ((10,), (3,), dict(padding=2)),
    ((10,), (4,), dict(padding="same", dilation=2)),
    ((6, 7), (3, 4), dict(padding=(2, 1), stride=(2, 1))),
    ((6, 7), (2, 4), dict(padding="same")),  # even kernels: the extra element goes after
    ((5, 6), (3, 3), dict(padding=(2, 3), dilation=(2, 1))),
    ((3, 4, 5), (2, 3, 3), dict(padding=(1, 2, 2), stride=(1, 1, 2))),
    ((3, 4, 5), (2, 2, 2), dict(padding="same")),
    ((6, 7), (3, 3), dict(padding="valid")),
]


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("size,kernel,extra", PADDING_CASES, ids=lambda v: str(v))
def test_padding_modes(bk, rng, mode, size, kernel, extra):
    """Every padding mode, through the GEMM gather (groups 1) and the depthwise kernel."""
    for cin, cout, groups in ((3, 5, 1), (4, 8, 4)):
        x, w, kw = conv_case(rng, np.float32, 2, cin, cout, size, kernel, groups, padding_mode=mode, **extra)
        check_conv(bk, x, w, kw, f"{mode} groups={groups}")


# ---------------------------------------------------------------------------------------
# depthwise (groups == C_in, any channel multiplier)
# ---------------------------------------------------------------------------------------
DEPTHWISE_CASES = [
    (2, 4, 1, (9, 8), (3, 3), dict(padding=1), "multiplier 1"),
    (2, 3, 2, (7, 9), (3, 2), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2)), "multiplier 2"),
    (1, 2, 3, (20, 17), (5, 5), dict(padding=2, stride=1), "multiplier 3, plane over 256 positions"),
    (1, 1, 6, (8, 8), (5, 5), dict(), "C_in = groups = 1 (LeNet's first layer)"),
    (2, 3, 2, (11,), (3,), dict(stride=2, padding=1), "1-d"),
    (1, 2, 2, (4, 5, 6), (3, 2, 3), dict(padding=(1, 1, 1), stride=(1, 2, 1), dilation=(2, 1, 1)), "3-d"),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("batch,cin,multiplier,size,kernel,extra,what", DEPTHWISE_CASES,
                         ids=[c[-1] for c in DEPTHWISE_CASES])
def test_depthwise(bk, rng, batch, cin, multiplier, size, kernel, extra, what, dtype):
    x, w, kw = conv_case(rng, dtype, batch, cin, cin * multiplier, size, kernel, cin, **extra)
    check_conv(bk, x, w, kw, what)


# ---------------------------------------------------------------------------------------
# transposed convolution (one implicit GEMM per output phase)
# ---------------------------------------------------------------------------------------
# (batch, C_in, C_out / groups, size, kernel, groups, stride, padding, output_padding, dilation)
TRANSPOSED_CASES = [
    (2, 3, 4, (5,), (3,), 1, 2, 1, 1, 1, "1-d stride 2, output_padding"),
    (1, 2, 3, (4,), (5,), 1, 3, 0, 0, 3, "1-d stride 3 dilation 3: two phases get no taps"),
    (1, 4, 2, (6,), (2,), 2, 3, 0, 2, 1, "1-d kernel < stride: outputs with only the bias"),
    (2, 4, 3, (4, 5), (3, 4), 2, (2, 3), (1, 2), (1, 0), (1, 2), "2-d groups, mixed strides"),
    (1, 3, 5, (4, 4), (4, 4), 1, (2, 2), (1, 1), (0, 0), (2, 2), "2-d gcd(stride, dilation) = 2"),
    (1, 20, 70, (3, 4), (3, 3), 1, 2, 1, 1, 1, "K = 20 x phase taps, M spans 2 tiles"),
    (2, 3, 4, (5, 6), (3, 3), 1, 1, 1, 0, 1, "stride 1: one phase"),
    (1, 2, 2, (3, 3, 4), (2, 3, 2), 1, (2, 1, 3), (0, 1, 1), (1, 0, 2), (1, 2, 1), "3-d"),
    (1, 6, 1, (3, 2, 3), (3, 2, 2), 3, 2, 1, 0, 1, "3-d groups, C_out / groups = 1"),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", TRANSPOSED_CASES, ids=[c[-1] for c in TRANSPOSED_CASES])
def test_transposed(bk, rng, case, dtype):
    batch, cin, cout_g, size, kernel, groups, stride, padding, output_padding, dilation, what = case
    x = dyadic(rng, (batch, cin, *size), dtype)
    w = dyadic(rng, (cin, cout_g, *kernel), dtype)
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    assert_close(run_conv_transpose(bk, x, w, **kw), reference_conv_transpose(x, w, **kw), err_msg=what)
    out_shape = reference_conv_transpose(x, w, **kw).shape
    kw.update(bias=dyadic(rng, (cout_g * groups,), dtype), residual=dyadic(rng, out_shape, dtype),
              activation="leaky_relu", negative_slope=0.125)
    assert_close(run_conv_transpose(bk, x, w, **kw), reference_conv_transpose(x, w, **kw),
                 err_msg=what + " with epilogue")


def random_case(rng):
    """A random small convolution or transposed convolution (any path, rank, dtype, epilogue), or
    None when the drawn geometry is impossible."""
    nd, dtype = int(rng.integers(1, 4)), DTYPES[int(rng.integers(2))]
    ints = lambda lo, hi: tuple(int(v) for v in rng.integers(lo, hi, nd))  # noqa: E731
    size, kernel, stride, dilation = ints(1, 9), ints(1, 4), ints(1, 4), ints(1, 3)
    groups, batch = int(rng.choice([1, 1, 2, 3])), int(rng.integers(1, 3))
    extra = dict(activation=[None, "relu", "tanh"][int(rng.integers(3))])
    if rng.random() < 0.4:
        cin, cout_g = groups * int(rng.integers(1, 9)), int(rng.integers(1, 20))
        padding = ints(0, 3)
        output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
        kw = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
        x, w = dyadic(rng, (batch, cin, *size), dtype), dyadic(rng, (cin, cout_g, *kernel), dtype)
        try:
            expected_shape = reference_conv_transpose(x, w, **kw).shape
        except ValueError:
            return None
        if min(expected_shape[2:]) < 1:
            return None
        kw.update(extra, bias=dyadic(rng, (cout_g * groups,), dtype))
        return "transposed", x, w, kw
    cin, cout = groups * int(rng.integers(1, 9)), groups * int(rng.integers(1, 20))
    if rng.random() < 0.3:
        groups = cin  # depthwise, multiplier cout // cin
        cout = cin * int(rng.integers(1, 4))
    mode = ["zeros", "reflect", "replicate", "circular"][int(rng.integers(4))]
    padding = tuple(min(p, s - 1) for p, s in zip(ints(0, 3), size)) if mode != "zeros" else ints(0, 3)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=mode)
    x, w = dyadic(rng, (batch, cin, *size), dtype), dyadic(rng, (cout, cin // groups, *kernel), dtype)
    padded = [s + 2 * p for s, p in zip(size, padding)]
    if any(ps < d * (k - 1) + 1 for ps, d, k in zip(padded, dilation, kernel)):
        return None
    out_shape = reference_conv(x, w, **kw).shape
    kw.update(extra, bias=dyadic(rng, (cout,), dtype), residual=dyadic(rng, out_shape, dtype))
    return "depthwise" if groups == cin else "gemm", x, w, kw


def test_random_configurations(bk):
    """A seeded sweep of 200 random small geometries over every path."""
    rng = np.random.default_rng(2024)
    seen = set()
    for i in range(200):
        case = random_case(rng)
        if case is None:
            continue
        path, x, w, kw = case
        seen.add(path)
        what = f"case {i} ({path}): x {x.shape} w {w.shape} {kw | {'bias': None, 'residual': None}}"
        if path == "transposed":
            assert_close(run_conv_transpose(bk, x, w, **kw), reference_conv_transpose(x, w, **kw), err_msg=what)
        else:
            assert_close(run_conv(bk, x, w, **kw), reference_conv(x, w, **kw), err_msg=what)
    assert seen == {"gemm", "depthwise", "transposed"}


# ---------------------------------------------------------------------------------------
# epilogue, empty sums and empty outputs
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=str)
def test_activations(bk, rng, activation, dtype):
    """Each activation on each path: GEMM, depthwise, transposed."""
    kw = dict(activation=activation, negative_slope=0.125)
    for cin, cout, groups in ((6, 5, 1), (3, 6, 3)):
        x = dyadic(rng, (2, cin, 5, 6), dtype) / 4  # pre-activations in the interesting range
        w = dyadic(rng, (cout, cin // groups, 3, 3), dtype)
        out_shape = reference_conv(x, w, padding=1, groups=groups).shape
        args = dict(kw, padding=1, groups=groups, bias=dyadic(rng, (cout,), dtype),
                    residual=dyadic(rng, out_shape, dtype))
        check_conv(bk, x, w, args, f"{activation} groups={groups}")
    x, w = dyadic(rng, (1, 4, 3, 4), dtype) / 4, dyadic(rng, (4, 3, 3, 3), dtype)
    args = dict(kw, stride=2, padding=1, bias=dyadic(rng, (3,), dtype))
    assert_close(run_conv_transpose(bk, x, w, **args), reference_conv_transpose(x, w, **args),
                 err_msg=f"{activation} transposed")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_in_channels_zero(bk, rng, dtype):
    """C_in == 0: the sum is empty, out = act(bias + residual), on the GEMM and transposed paths."""
    x = np.zeros((2, 0, 5, 6), dtype)
    w = np.zeros((4, 0, 3, 3), dtype)
    bias, residual = dyadic(rng, (4,), dtype), dyadic(rng, (2, 4, 5, 6), dtype)
    kw = dict(padding=1, bias=bias, residual=residual, activation="tanh")
    assert_close(run_conv(bk, x, w, **kw), reference_conv(x, w, **kw), err_msg="conv")
    w = np.zeros((0, 4, 3, 3), dtype)
    kw = dict(stride=2, padding=1, output_padding=1, bias=bias, residual=dyadic(rng, (2, 4, 10, 12), dtype))
    assert_close(run_conv_transpose(bk, x, w, **kw), reference_conv_transpose(x, w, **kw), err_msg="transposed")


@pytest.mark.parametrize("batch,cout", [(0, 4), (2, 0), (0, 0)])
def test_empty_output(bk, batch, cout):
    x, w = np.ones((batch, 3, 5, 5), np.float32), np.ones((cout, 3, 3, 3), np.float32)
    out = run_conv(bk, x, w, bias=np.ones(cout, np.float32), activation="relu")
    assert out.shape == (batch, cout, 3, 3) and out.dtype == np.float32
    out = run_conv_transpose(bk, x, np.ones((3, cout, 2, 2), np.float32), stride=2)
    assert out.shape == (batch, cout, 10, 10)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_random_normal_data(bk, rng, dtype):
    """Inexact data: the error stays within a forward bound of a (C_in / g * kvol)-term dot product."""
    x = rng.standard_normal((2, 12, 6, 7)).astype(dtype)
    w = rng.standard_normal((10, 12, 3, 3)).astype(dtype)
    bias = rng.standard_normal(10).astype(dtype)
    out = run_conv(bk, x, w, bias=bias, padding=1, activation="gelu")
    expected = reference_conv(x.astype(np.float64), w, bias=bias, padding=1, activation="gelu")
    magnitude = reference_conv(np.abs(x.astype(np.float64)), np.abs(w), bias=np.abs(bias), padding=1)
    bound = 2 * (12 * 9 + 4) * np.finfo(dtype).eps * (magnitude + np.abs(expected))
    err = np.abs(out - expected)
    assert out.dtype == dtype and (err <= bound).all(), f"max error {err.max()}"


# ---------------------------------------------------------------------------------------
# entry-point features ops.conv* does not expose: the output written over the residual
# ---------------------------------------------------------------------------------------
def raw_conv(bk, x, w, out, *, stride, padding, groups=1, transposed=False, bias=None, residual=None,
             activation=0):
    """conv_forward of the backend's extension on NC(D)HW arrays of one spatial rank."""
    ext = _ext.module(bk.name)

    def ptr(a):
        if a is None:
            return 0
        return int(a.data.ptr) if bk.name == "cuda" else a.ctypes.data

    def pad3(v, fill):
        return (fill,) * (3 - len(v)) + tuple(v)

    n = x.ndim - 2
    cin, cout = x.shape[1], out.shape[1]
    ext.conv_forward(x.shape[0], cin, cout, groups, pad3(x.shape[2:], 1), pad3(out.shape[2:], 1),
                     pad3(w.shape[2:], 1), pad3((stride,) * n, 1), pad3((1,) * n, 1), pad3((padding,) * n, 0),
                     0, transposed, activation, 0.01, ptr(x), ptr(w), ptr(bias), ptr(residual), ptr(out),
                     DTYPE_CODES[np.dtype(x.dtype).name], 0)


@pytest.mark.parametrize("path", ["gemm", "depthwise", "transposed"])
def test_residual_aliasing_out(bk, rng, path):
    dtype = np.float32
    x = dyadic(rng, (2, 4, 6, 7), dtype)
    bias = dyadic(rng, (8,), dtype)
    if path == "transposed":
        w = dyadic(rng, (4, 8, 3, 3), dtype)
        kw = dict(stride=2, padding=1)
        expected_plain = reference_conv_transpose(x, w, **kw)
    else:
        groups = 4 if path == "depthwise" else 1
        w = dyadic(rng, (8, 4 // groups, 3, 3), dtype)
        kw = dict(stride=1, padding=1, groups=groups)
        expected_plain = reference_conv(x, w, **kw)
    residual = dyadic(rng, expected_plain.shape, dtype)
    expected = np.maximum(expected_plain.astype(np.float64) + bias[:, None, None] + residual, 0).astype(dtype)
    out = bk.asarray(residual.copy())
    raw_conv(bk, bk.asarray(x), bk.asarray(w), out, transposed=path == "transposed", bias=bk.asarray(bias),
             residual=out, activation=1, **kw)
    assert_close(to_numpy(out), expected, err_msg=f"{path}: out == residual")


def test_entry_point_checks():
    require_backend("emu")
    emu = Backend("emu")
    x, w, out = np.zeros((1, 2, 4, 4), np.float32), np.zeros((3, 2, 3, 3), np.float32), np.zeros((1, 3, 2, 2), np.float32)
    ext = _ext.module("emu")
    with pytest.raises(ValueError, match="reflect padding"):  # check_conv_params runs first
        ext.conv_forward(1, 2, 3, 1, (1, 4, 4), (1, 6, 6), (1, 3, 3), (1, 1, 1), (1, 1, 1), (0, 4, 4), 1, False,
                         0, 0.01, x.ctypes.data, w.ctypes.data, 0, 0, out.ctypes.data, 0, 0)
    with pytest.raises(ValueError, match="dtype"):
        raw_conv(emu, x.astype(np.int64), w.astype(np.int64), out.astype(np.int64), stride=1, padding=0)


# ---------------------------------------------------------------------------------------
# emulator schedules: a missing __syncthreads makes results depend on the thread order
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("mode", ["forward", "reverse", "random", "random:7"])
def test_emu_schedules(rng, mode, dtype):
    require_backend("emu")
    emu = _ext.module("emu")
    bk = Backend("emu")
    forward = conv_case(rng, dtype, 2, 20, 70, (5, 6), (3, 3), padding=1, padding_mode="reflect")
    depthwise = conv_case(rng, dtype, 2, 3, 6, (7, 9), (3, 3), 3, stride=2, padding=1)
    xt, wt = dyadic(rng, (1, 20, 4, 5), dtype), dyadic(rng, (20, 66, 3, 3), dtype)
    transposed = dict(stride=2, padding=1, output_padding=1, bias=dyadic(rng, (66,), dtype), activation="relu")
    emu.emu_set_schedule(mode)
    try:
        outs = [run_conv(bk, x, w, **kw) for x, w, kw in (forward, depthwise)]
        out_t = run_conv_transpose(bk, xt, wt, **transposed)
    finally:
        emu.emu_set_schedule("forward")
    assert emu.emu_info()["schedule"] == "forward"
    for (x, w, kw), out in zip((forward, depthwise), outs):
        assert_close(out, reference_conv(x, w, **kw), exact=True, err_msg=f"schedule {mode}")
    assert_close(out_t, reference_conv_transpose(xt, wt, **transposed), exact=True, err_msg=f"schedule {mode}")
