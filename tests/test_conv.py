"""Convolution family: conv1d/2d/3d, conv_transpose1d/2d/3d and separable_conv2d on every backend.

The oracle is pydeepkit.reference.conv (one strided slice and einsum per kernel tap, float64),
itself checked against torch in the parity tests at the end. float32 results are compared with a
bound that grows with the number of terms summed and their magnitudes (the conv of |x| and |w|).
Shapes given to the backend fixture stay small (the emulator runs them too); the blocking and
threading tests (several K blocks, a team sharing one image, whole images per thread) run on the
CPU backend under every ISA.
"""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

import pydeepkit.ops as ops
from pydeepkit.reference import conv as R

from conftest import assert_sum_close, cpu_isas, run_python, to_numpy

ACTIVATIONS = [None, "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "relu6"]


def _f64(v):
    return None if v is None else np.asarray(v, np.float64)


def check_conv(actual, x, w, bias=None, *, residual=None, activation=None, negative_slope=0.01, **kw):
    dtype = np.asarray(x).dtype
    expected = R.conv(_f64(x), _f64(w), _f64(bias), activation=activation, negative_slope=negative_slope,
                      residual=_f64(residual), **kw)
    mag = R.conv(np.abs(_f64(x)), np.abs(_f64(w)), None if bias is None else np.abs(_f64(bias)),
                 residual=None if residual is None else np.abs(_f64(residual)), **kw)
    assert_sum_close(actual, expected, mag, int(np.prod(np.shape(w)[1:])), dtype)


def check_conv_transpose(actual, x, w, bias=None, *, residual=None, activation=None, **kw):
    dtype = np.asarray(x).dtype
    expected = R.conv_transpose(_f64(x), _f64(w), _f64(bias), activation=activation, residual=_f64(residual), **kw)
    mag = R.conv_transpose(np.abs(_f64(x)), np.abs(_f64(w)), None if bias is None else np.abs(_f64(bias)),
                           residual=None if residual is None else np.abs(_f64(residual)), **kw)
    assert_sum_close(actual, expected, mag, int(np.shape(w)[0] * np.prod(np.shape(w)[2:])), dtype)


def _arrays(rng, dtype, *shapes):
    return [rng.uniform(-1, 1, size=s).astype(dtype) for s in shapes]


# n, C_in, C_out, spatial, kernel, stride, padding, dilation, groups, padding_mode
CONV_CASES = [
    (2, 3, 5, (7, 9), (3, 3), 1, 0, 1, 1, "zeros"),
    (2, 4, 8, (7, 9), (3, 3), 1, 1, 1, 1, "zeros"),
    (2, 4, 6, (9, 8), (3, 3), 2, 1, 1, 2, "zeros"),            # strided, grouped
    (2, 3, 4, (10, 11), (4, 2), 1, "same", 2, 1, "zeros"),     # 'same' with even kernel and dilation
    (2, 2, 3, (6, 7), (2, 2), 1, "same", 1, 1, "zeros"),
    (2, 3, 3, (8, 8), (3, 3), 1, "valid", 1, 1, "zeros"),
    (2, 6, 6, (10, 11), (3, 3), 1, 2, 1, 3, "reflect"),
    (2, 6, 6, (10, 11), (3, 3), 2, 2, 1, 1, "circular"),
    (2, 3, 6, (10, 11), (5, 3), (2, 3), 2, (1, 2), 1, "replicate"),
    (2, 3, 2, (5, 6), (3, 3), 1, "same", 1, 1, "reflect"),
    (2, 2, 4, (4, 5), (3, 2), 1, (2, 1), 1, 1, "circular"),   # asymmetric (per-dim) padding
    (2, 2, 3, (3, 3), (5, 5), 1, 2, 1, 1, "zeros"),           # kernel larger than the input, padded
    (2, 2, 3, (2, 2), (5, 5), 1, 3, 1, 1, "zeros"),           # output larger than the input
    (2, 3, 4, (1, 9), (1, 3), 1, (0, 1), 1, 1, "zeros"),      # size-1 spatial dim
    (2, 3, 4, (6, 1), (3, 1), 2, (1, 0), 1, 1, "zeros"),
    (2, 5, 7, (13, 17), (1, 1), 1, 0, 1, 1, "zeros"),         # 1x1: plain GEMM
    (2, 6, 9, (13, 17), (1, 1), 2, 0, 1, 3, "zeros"),         # strided 1x1, grouped
    (2, 4, 4, (9, 10), (3, 3), 1, 1, 1, 4, "zeros"),          # depthwise
    (2, 3, 6, (9, 10), (3, 3), 2, 1, 1, 3, "zeros"),          # depthwise, multiplier 2, strided
    (2, 3, 9, (9, 10), (3, 5), (1, 2), (1, 2), (2, 1), 3, "reflect"),  # depthwise x3, dilated, reflect
    (2, 5, 5, (11, 33), (3, 3), 3, 2, 2, 5, "replicate"),     # depthwise, stride 3
    (2, 17, 19, (5, 6), (3, 3), 1, 1, 1, 1, "zeros"),         # channels not multiples of the SIMD width
    (2, 3, 5, (5, 70), (3, 3), 2, 1, 1, 1, "zeros"),          # wide stride-2 rows: im2col runs of
    (2, 2, 4, (4, 67), (3, 5), 2, (1, 2), (1, 2), 1, "zeros"),  # more than one vector, masked tails
    (1, 4, 6, (20,), (7,), 1, 3, 1, 1, "zeros"),
    (1, 4, 6, (20,), (4,), 2, 0, 3, 2, "zeros"),
    (1, 3, 3, (17,), (3,), 1, "same", 2, 3, "circular"),
    (1, 4, 5, (9,), (2,), 1, "same", 1, 1, "reflect"),
    (1, 3, 4, (101,), (5,), 2, 2, 1, 1, "zeros"),
    (3, 3, 4, (4, 5, 6), (3, 3, 3), 1, 1, 1, 1, "zeros"),
    (3, 4, 4, (5, 6, 5), (2, 3, 2), (2, 1, 2), (1, 0, 1), (1, 2, 1), 2, "zeros"),
    (3, 2, 4, (4, 4, 5), (3, 3, 3), 1, "same", 1, 2, "zeros"),  # depthwise 3-d x2
    (3, 2, 3, (3, 4, 5), (3, 3, 3), 1, 1, 1, 1, "replicate"),
]


def _case_id(c):
    n, cin, cout, size, k, s, p, d, g, mode = c
    return f"{n}d-{cin}to{cout}-{'x'.join(map(str, size))}-k{'x'.join(map(str, k))}-s{s}-p{p}-d{d}-g{g}-{mode}"


@pytest.mark.parametrize("case", CONV_CASES, ids=[_case_id(c) for c in CONV_CASES])
def test_conv_matches_reference(backend, rng, case):
    n, cin, cout, size, k, s, p, d, g, mode = case
    x, w, b = _arrays(rng, np.float32, (2, cin, *size), (cout, cin // g, *k), (cout,))
    fn = getattr(ops, f"conv{n}d")
    got = fn(backend.asarray(x), backend.asarray(w), backend.asarray(b), s, p, d, g, padding_mode=mode, **backend.kw)
    check_conv(got, x, w, b, stride=s, padding=p, dilation=d, groups=g, padding_mode=mode)


@contextlib.contextmanager
def cpu_setting(isa, path):
    """Sets the CPU ISA and the forward-convolution algorithm; restores both."""
    from pydeepkit import _ext
    cpu = _ext.module("cpu")
    previous = cpu.info()["simd"], cpu.conv_path()
    cpu.set_simd(isa)
    cpu.set_conv_path(path)
    try:
        yield
    finally:
        cpu.set_simd(previous[0])
        cpu.set_conv_path(previous[1])


@pytest.fixture
def cpu_isa_path(request):
    """The CPU ISA and forward-convolution algorithm of a (isa, path) parameter."""
    with cpu_setting(*request.param):
        yield request.param


@pytest.mark.parametrize("cpu_isa_path", [(i, p) for i in cpu_isas() for p in ("direct", "packed", "winograd")],
                         indirect=True, ids=lambda v: "-".join(v))
@pytest.mark.parametrize("case", CONV_CASES, ids=[_case_id(c) for c in CONV_CASES])
def test_cpu_conv_paths(cpu_isa_path, rng, case):
    """Every CPU forward algorithm (shifted views of a padded copy; im2col packing; Winograd, for
    the 3x3 stride-1 cases it fits, the others falling back) on every case."""
    n, cin, cout, size, k, s, p, d, g, mode = case
    x, w, b = _arrays(rng, np.float32, (3, cin, *size), (cout, cin // g, *k), (cout,))
    r = rng.uniform(-1, 1, size=(3, cout) + ops.conv.conv_geometry("t", n, x.shape, w.shape, s, p, d, g).out_size)
    r = r.astype(np.float32)
    got = getattr(ops, f"conv{n}d")(x, w, b, s, p, d, g, padding_mode=mode, residual=r, activation="leaky_relu")
    check_conv(got, x, w, b, residual=r, activation="leaky_relu", stride=s, padding=p, dilation=d, groups=g,
               padding_mode=mode)


@pytest.mark.parametrize("cpu_isa_path", [(i, p) for i in cpu_isas() for p in ("direct", "packed")],
                         indirect=True, ids=lambda v: "-".join(v))
@pytest.mark.parametrize("activation", [None, "relu", "sigmoid"])
def test_tiles_across_output_rows(cpu_isa_path, rng, activation):
    """Tiles whose columns cross output rows (the direct path's extended rows, whose last columns
    are dropped; the packed path's batch folded into the columns of small planes) store one run
    per output row, masked, with the epilogue on the runs; rows too short for that go through a
    local tile. Output widths from 1 to past a tile's width, 20 output channels (a full and a
    short row tile), K = 576 in two K blocks (the runs accumulate), bias, residual, and an
    activation in registers (relu) or per element after the store (sigmoid). The residual may
    also be the output itself (accumulated from the first K block on)."""
    from pydeepkit import _ext
    for width in (1, 3, 5, 9, 14, 33):
        x, w, b = _arrays(rng, np.float32, (3, 64, 4, width), (20, 64, 3, 3), (20,))
        r = rng.uniform(-1, 1, size=(3, 20, 4, width)).astype(np.float32)
        got = ops.conv2d(x, w, b, 1, 1, residual=r, activation=activation)
        check_conv(got, x, w, b, residual=r, activation=activation, padding=1)
    x, w, b = _arrays(rng, np.float32, (3, 64, 4, 9), (20, 64, 3, 3), (20,))
    r = rng.uniform(-1, 1, size=(3, 20, 4, 9)).astype(np.float32)
    out = r.copy()
    code = {None: 0, "relu": 1, "sigmoid": 3}[activation]
    geometry = ((1, 4, 9), (1, 4, 9), (1, 3, 3), (1, 1, 1), (1, 1, 1), (0, 1, 1))
    _ext.module("cpu").conv_forward(3, 64, 20, 1, *geometry, 0, False, code, 0.01, x.ctypes.data, w.ctypes.data,
                                    b.ctypes.data, out.ctypes.data, out.ctypes.data, 0, 0)
    check_conv(out, x, w, b, residual=r, activation=activation, padding=1)


@pytest.mark.parametrize("cpu_isa_path", [(i, p) for i in cpu_isas() for p in ("auto", "direct")],
                         indirect=True, ids=lambda v: "-".join(v))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_rows_of_whole_vectors(cpu_isa_path, rng, dtype):
    """Output rows of a whole number of SIMD vectors (8, 16, 32 or 48 wide: 2-16 lanes per ISA and
    dtype) take the direct path with the output plane as the GEMM's columns: each vector of a B
    panel reads its piece of one output row wherever that row starts in the padded copy, and a
    panel past the last vector repeats it unstored. Covered: stride 2 with a 7x7 kernel (three
    input channels, as a stem), two K blocks (64 channels, 3x3) with dilation and reflect padding,
    3-d outputs whose rows continue across depth, batch 1 (one image shared by the threads) and 3,
    bias, residual and an activation."""
    for width in (8, 16, 32, 48):
        for batch in (1, 3):
            x, w, b = _arrays(rng, dtype, (batch, 3, 6, 2 * width), (20, 3, 7, 7), (20,))
            r = rng.uniform(-1, 1, size=(batch, 20, 3, width)).astype(dtype)
            got = ops.conv2d(x, w, b, 2, 3, residual=r, activation="relu")
            check_conv(got, x, w, b, residual=r, activation="relu", stride=2, padding=3)
        x, w, b = _arrays(rng, dtype, (2, 64, 3, width), (20, 64, 3, 3), (20,))
        r = rng.uniform(-1, 1, size=(2, 20, 3, width)).astype(dtype)
        got = ops.conv2d(x, w, b, 1, 2, 2, padding_mode="reflect", residual=r, activation="sigmoid")
        check_conv(got, x, w, b, residual=r, activation="sigmoid", padding=2, dilation=2, padding_mode="reflect")
        x, w, b = _arrays(rng, dtype, (2, 4, 3, 5, 2 * width), (6, 4, 3, 3, 3), (6,))
        got = ops.conv3d(x, w, b, (1, 2, 2), 1)
        check_conv(got, x, w, b, stride=(1, 2, 2), padding=1)


# n, C_in, C_out, spatial, kernel, stride, padding, output_padding, groups, dilation
TRANSPOSE_CASES = [
    (2, 3, 4, (5, 6), (3, 3), 1, 0, 0, 1, 1),
    (2, 4, 6, (5, 6), (3, 3), 1, 1, 0, 2, 1),
    (2, 4, 4, (5, 4), (4, 4), 2, 1, 0, 1, 1),              # the decoder upsampling 4x4 s2
    (2, 4, 6, (5, 6), (3, 2), (2, 3), (2, 1), (1, 2), 1, 1),
    (2, 4, 6, (4, 5), (3, 2), 3, 2, 1, 2, 2),
    (2, 3, 3, (4, 4), (3, 3), 2, 1, 1, 3, 1),              # depthwise-shaped transposed
    (2, 2, 3, (1, 5), (1, 3), 1, 0, 0, 1, 1),
    (2, 17, 5, (3, 4), (2, 2), 2, 0, 0, 1, 1),
    (1, 4, 6, (9,), (7,), 2, 3, 1, 1, 1),
    (1, 4, 4, (6,), (3,), 3, 0, 2, 2, 1),
    (3, 2, 4, (3, 4, 3), (3, 3, 3), 2, 1, 1, 1, 1),
    (3, 4, 2, (2, 3, 3), (2, 2, 2), (1, 2, 2), 0, 0, 2, (2, 1, 1)),
]


def _tcase_id(c):
    n, cin, cout, size, k, s, p, op, g, d = c
    return f"{n}d-{cin}to{cout}-{'x'.join(map(str, size))}-k{'x'.join(map(str, k))}-s{s}-p{p}-op{op}-g{g}-d{d}"


@pytest.mark.parametrize("case", TRANSPOSE_CASES, ids=[_tcase_id(c) for c in TRANSPOSE_CASES])
def test_conv_transpose_matches_reference(backend, rng, case):
    n, cin, cout, size, k, s, p, op, g, d = case
    x, w, b = _arrays(rng, np.float32, (2, cin, *size), (cin, cout // g, *k), (cout,))
    fn = getattr(ops, f"conv_transpose{n}d")
    got = fn(backend.asarray(x), backend.asarray(w), backend.asarray(b), s, p, op, g, d, **backend.kw)
    check_conv_transpose(got, x, w, b, stride=s, padding=p, output_padding=op, groups=g, dilation=d)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", ["conv", "depthwise", "pointwise", "transposed"])
def test_fused_epilogue(backend, rng, kind, activation):
    """bias + residual + activation in the kernel equal the reference's separate steps."""
    if kind == "transposed":
        x, w, b = _arrays(rng, np.float32, (2, 4, 5, 6), (4, 3, 3, 3), (3,))
        r = rng.uniform(-2, 2, size=(2, 3, 11, 13)).astype(np.float32)
        got = ops.conv_transpose2d(*(backend.asarray(a) for a in (x, w, b)), 2, 0, residual=backend.asarray(r),
                                   activation=activation, negative_slope=0.2, **backend.kw)
        check_conv_transpose(got, x, w, b, residual=r, activation=activation, stride=2, negative_slope=0.2)
        return
    cin, cout, k, g = {"conv": (3, 5, 3, 1), "depthwise": (4, 8, 3, 4), "pointwise": (6, 5, 1, 1)}[kind]
    x, w, b = _arrays(rng, np.float32, (2, cin, 6, 7), (cout, cin // g, k, k), (cout,))
    r = rng.uniform(-2, 2, size=(2, cout, 6, 7)).astype(np.float32)
    got = ops.conv2d(*(backend.asarray(a) for a in (x, w, b)), padding=k // 2, groups=g, residual=backend.asarray(r),
                     activation=activation, negative_slope=0.2, **backend.kw)
    check_conv(got, x, w, b, residual=r, activation=activation, negative_slope=0.2, padding=k // 2, groups=g)


@pytest.mark.parametrize("kind", ["conv", "depthwise", "transposed"])
def test_float64(backend, rng, kind):
    x, w, b = _arrays(rng, np.float64, (2, 4, 7, 6), (8 if kind != "transposed" else 4, 1 if kind == "depthwise"
                                                           else 4, 3, 3), (8,))
    if kind == "transposed":
        w = rng.uniform(-1, 1, size=(4, 8, 3, 3))
        got = ops.conv_transpose2d(backend.asarray(x), backend.asarray(w), backend.asarray(b), 2, 1, 1, **backend.kw)
        check_conv_transpose(got, x, w, b, stride=2, padding=1, output_padding=1)
        return
    g = 4 if kind == "depthwise" else 1
    got = ops.conv2d(backend.asarray(x), backend.asarray(w), backend.asarray(b), 2, 1, 1, g, padding_mode="reflect",
                     **backend.kw)
    check_conv(got, x, w, b, stride=2, padding=1, groups=g, padding_mode="reflect")


def test_empty_and_unbatched(backend, rng):
    x, w, b = _arrays(rng, np.float32, (0, 3, 5, 5), (4, 3, 3, 3), (4,))
    out = ops.conv2d(backend.asarray(x), backend.asarray(w), backend.asarray(b), padding=1, **backend.kw)
    assert to_numpy(out).shape == (0, 4, 5, 5)
    out = ops.conv_transpose2d(backend.asarray(x[:, :3]), backend.asarray(rng.uniform(size=(3, 2, 3, 3)).astype(
        np.float32)), stride=2, **backend.kw)
    assert to_numpy(out).shape == (0, 2, 11, 11)
    out = ops.conv2d(backend.asarray(np.ones((2, 3, 5, 5), np.float32)), backend.asarray(np.ones((0, 3, 3, 3),
                     np.float32)), **backend.kw)
    assert to_numpy(out).shape == (2, 0, 3, 3)
    # zero input channels: the sum is empty, the output is act(bias)
    xe = np.ones((2, 0, 5, 5), np.float32)
    we = np.ones((4, 0, 3, 3), np.float32)
    out = ops.conv2d(backend.asarray(xe), backend.asarray(we), backend.asarray(b), activation="relu", **backend.kw)
    np.testing.assert_array_equal(to_numpy(out), np.broadcast_to(np.maximum(b, 0)[None, :, None, None], (2, 4, 3, 3)))
    # unbatched [C, H, W] in, [C_out, H_out, W_out] out, as torch
    xu = rng.uniform(-1, 1, size=(3, 6, 5)).astype(np.float32)
    out = ops.conv2d(backend.asarray(xu), backend.asarray(w), backend.asarray(b), padding=1, **backend.kw)
    assert to_numpy(out).shape == (4, 6, 5)
    check_conv(to_numpy(out)[None], xu[None], w, b, padding=1)


def test_non_contiguous_inputs(backend, rng):
    base = rng.uniform(-1, 1, size=(2, 7, 9, 4)).astype(np.float32)
    x = base.transpose(0, 3, 1, 2)                           # NHWC memory viewed as NCHW
    w = rng.uniform(-1, 1, size=(3, 3, 4, 5)).astype(np.float32).transpose(3, 2, 0, 1)  # [5, 4, 3, 3]
    b = rng.uniform(-1, 1, size=10).astype(np.float32)[::2]
    assert not x.flags.c_contiguous and not w.flags.c_contiguous
    got = ops.conv2d(backend.asarray(x), backend.asarray(w), backend.asarray(b), padding=1, **backend.kw)
    check_conv(got, x, w, b, padding=1)


def test_separable_conv2d(backend, rng):
    x, dw, pw, b, db = _arrays(rng, np.float32, (2, 3, 9, 8), (6, 1, 3, 3), (5, 6, 1, 1), (5,), (6,))
    got = ops.separable_conv2d(*(backend.asarray(a) for a in (x, dw, pw, b)), stride=2, padding=1,
                               depthwise_bias=backend.asarray(db), activation="relu", **backend.kw)
    mid = R.conv(_f64(x), _f64(dw), _f64(db), stride=2, padding=1, groups=3)
    expected = R.conv(mid, _f64(pw), _f64(b), activation="relu")
    mag = R.conv(R.conv(np.abs(_f64(x)), np.abs(_f64(dw)), np.abs(_f64(db)), stride=2, padding=1, groups=3),
                 np.abs(_f64(pw)), np.abs(_f64(b)))
    assert_sum_close(got, expected, mag, 9 + 6, np.float32)


# ---------------------------------------------------------------------------------------
# the CPU kernels' blocking and threading paths, under every ISA
# ---------------------------------------------------------------------------------------
@pytest.fixture
def cpu_isa(request):
    """The CPU ISA of the parameter, the forward path 'auto'."""
    with cpu_setting(request.param, "auto"):
        yield request.param


# C_in, C_out, spatial: single-image pointwise convolutions that 'auto' computes transposed (x^T
# W^T, then transposed back; conv_cpu.cpp, takes_transposed_pointwise): at least 128 output
# channels, at most twice the input's, and a plane that fills at most 1 / 1.2 of its NR-wide
# panels for every ISA's NR (4 to 32), except 7x7, whose 49 columns fill 56 of 8-wide panels
TRANSPOSED_POINTWISE_CASES = [
    (128, 128, (3, 3)),      # the fewest channels; 9 positions
    (130, 200, (1, 13)),     # C_out past several panels
    (520, 160, (5, 1)),      # C_in over one K block (kc <= 512)
    (200, 128, (1, 1)),      # one position
    (80, 150, (13,)),        # conv1d
    (70, 128, (1, 2, 3)),    # conv3d
    (2048, 512, (7, 7)),     # ResNet-50's last stage at batch 1
]


@pytest.mark.parametrize("cpu_isa", cpu_isas(), indirect=True)
@pytest.mark.parametrize("case", TRANSPOSED_POINTWISE_CASES, ids=lambda c: f"{c[0]}to{c[1]}-{'x'.join(map(str, c[2]))}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transposed_pointwise(cpu_isa, rng, case, dtype):
    """The transposed pointwise path, with the bias (the GEMM's, per column) and then the residual
    and activation (applied while transposing back)."""
    cin, cout, size = case
    n = len(size)
    x, w, b, r = _arrays(rng, dtype, (1, cin, *size), (cout, cin) + (1,) * n, (cout,), (1, cout, *size))
    conv = getattr(ops, f"conv{n}d")
    got = conv(x, w, b, residual=r, activation="leaky_relu", negative_slope=0.2)
    check_conv(got, x, w, b, residual=r, activation="leaky_relu", negative_slope=0.2)
    check_conv(conv(x, w), x, w)
    check_conv(conv(x, w, b, activation="gelu"), x, w, b, activation="gelu")


# C_in, C_out, spatial, kernel, stride: one image of a plane of at most 256 outputs with enough
# multiply-adds for the team, so that each work item packs its block of weight rows per K block
# (ConvCpuPlan::packs_weights_per_item) on the direct and the packed path
WEIGHTS_PER_ITEM_CASES = [
    (96, 100, (7, 7), 3, 1),    # C_out not a multiple of the row blocks
    (600, 50, (5, 6), 3, 2),    # K = 5400: many K blocks; a 3x3 output
    (700, 130, (8, 8), 1, 1),   # 1x1: reads the input in place; K over one block
    (64, 40, (16, 16), 3, 1),   # the largest plane
]


@pytest.mark.parametrize("cpu_isa_path", [(i, p) for i in cpu_isas() for p in ("direct", "packed")],
                         indirect=True, ids=lambda v: "-".join(v))
@pytest.mark.parametrize("case", WEIGHTS_PER_ITEM_CASES, ids=lambda c: f"{c[0]}to{c[1]}-{c[2][0]}x{c[2][1]}-k{c[3]}s{c[4]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weights_packed_per_item(cpu_isa_path, rng, case, dtype):
    cin, cout, size, k, s = case
    x, w, b = _arrays(rng, dtype, (1, cin, *size), (cout, cin, k, k), (cout,))
    out_size = ops.conv.conv_geometry("t", 2, x.shape, w.shape, s, k // 2, 1, 1).out_size
    r = rng.uniform(-1, 1, size=(1, cout) + tuple(out_size)).astype(dtype)
    got = ops.conv2d(x, w, b, s, k // 2, residual=r, activation="relu")
    check_conv(got, x, w, b, residual=r, activation="relu", stride=s, padding=k // 2)


@pytest.mark.parametrize("path", ["auto", "direct", "packed", "winograd"])
@pytest.mark.parametrize("isa", cpu_isas())
@pytest.mark.parametrize("batch, cin, cout, size, k, s, g", [
    (1, 96, 40, (30, 31), 3, 1, 1),     # one image: the team shares it; K = 864 spans two K blocks
    (3, 64, 24, (20, 19), 3, 2, 1),     # 3 images on 2 threads: the team shares each
    (4, 32, 32, (17, 16), 3, 1, 1),     # whole images per thread
    (2, 64, 64, (15, 15), 3, 1, 8),     # 16 (image, group) jobs
    (2, 300, 70, (23, 23), 1, 1, 1),    # 1x1 with K over one block
    (1, 16, 8, (64, 96), 5, 1, 1),      # output plane over one N block of panels
])
def test_cpu_blocking(isa, path, rng, batch, cin, cout, size, k, s, g):
    with cpu_setting(isa, path):
        x, w, b = _arrays(rng, np.float32, (batch, cin, *size), (cout, cin // g, k, k), (cout,))
        got = ops.conv2d(x, w, b, s, k // 2, 1, g, activation="relu")
        check_conv(got, x, w, b, stride=s, padding=k // 2, groups=g, activation="relu")
        wt = rng.uniform(-1, 1, size=(cin, cout // g, k, k)).astype(np.float32)
        got = ops.conv_transpose2d(x, wt, b, s, k // 2, 0, g)
        check_conv_transpose(got, x, wt, b, stride=s, padding=k // 2, groups=g)


# ---------------------------------------------------------------------------------------
# argument errors (shape math in pydeepkit.ops.conv)
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, message", [
    (lambda x, w: ops.conv2d(x, w[:, :2]), "expects 2"),
    (lambda x, w: ops.conv2d(x, w[:3], groups=2), "divisible"),
    (lambda x, w: ops.conv2d(x, w, groups=0), "groups must be >= 1"),
    (lambda x, w: ops.conv2d(x, w, stride=0), "stride must be >= 1"),
    (lambda x, w: ops.conv2d(x, w, stride=-1), "stride must be >= 1"),
    (lambda x, w: ops.conv2d(x, w, dilation=0), "dilation must be >= 1"),
    (lambda x, w: ops.conv2d(x, w, padding=-1), "padding must be >= 0"),
    (lambda x, w: ops.conv2d(x, w, padding="same", stride=2), "strided"),
    (lambda x, w: ops.conv2d(x, w, padding="full"), "padding must be"),
    (lambda x, w: ops.conv2d(x, w, padding=(1, 1, 1)), "padding must be"),
    (lambda x, w: ops.conv2d(x[:, :, :2, :2], w), "smaller than the dilated kernel"),
    (lambda x, w: ops.conv2d(x, w, dilation=3), "smaller than the dilated kernel"),
    (lambda x, w: ops.conv2d(x, w, padding=5, padding_mode="reflect"), "reflect padding must be <"),
    (lambda x, w: ops.conv2d(x, w, padding=6, padding_mode="circular"), "circular padding must be <="),
    (lambda x, w: ops.conv2d(x, w, padding_mode="mirror"), "padding_mode must be one of"),
    (lambda x, w: ops.conv2d(x, w, activation="swish"), "activation must be one of"),
    (lambda x, w: ops.conv2d(x, w, bias=np.ones(3, np.float32)), "bias must be"),
    (lambda x, w: ops.conv2d(x, w, residual=np.ones((1, 4, 5, 5), np.float32)), "residual must have"),
    (lambda x, w: ops.conv2d(x[0, 0], w), "x must be 3-d"),
    (lambda x, w: ops.conv2d(x, w[0]), "weight must be 4-d"),
    (lambda x, w: ops.conv1d(x, w), "x must be 2-d"),
    (lambda x, w: ops.conv2d(x, w[:, :, :0]), "kernel size must be >= 1"),
    (lambda x, w: ops.conv_transpose2d(x, w), "expects 4"),
    (lambda x, w: ops.conv_transpose2d(x, w[:3], output_padding=1), "output_padding must be smaller"),
    (lambda x, w: ops.conv_transpose2d(x, w[:3], stride=2, output_padding=2), "output_padding must be smaller"),
    (lambda x, w: ops.conv_transpose2d(x, w[:3], padding=4), "output size"),
    (lambda x, w: ops.conv_transpose2d(x, w[:3], padding="same"), "padding must be an int"),
    (lambda x, w: ops.conv_transpose2d(x, w[:3], groups=2), "divisible by groups"),
])
def test_errors(call, message):
    x = np.ones((1, 3, 5, 5), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match=message):
        call(x, w)


# n, C_in, C_out, spatial, kernel, groups, dtype
PACKED_CASES = [
    (2, 8, 16, (9, 10), (3, 3), 1, np.float32),
    (2, 6, 9, (7, 5), (3, 2), 3, np.float32),     # grouped, C_out/groups not a multiple of the tile
    (2, 64, 40, (4, 4), (1, 1), 1, np.float32),   # 1x1 (reads x in place)
    (1, 5, 7, (33,), (5,), 1, np.float64),
    (3, 4, 6, (4, 5, 6), (3, 3, 3), 2, np.float64),
]


@pytest.mark.parametrize("case", PACKED_CASES, ids=lambda c: f"{c[0]}d-{c[1]}to{c[2]}-g{c[5]}-{np.dtype(c[6])}")
def test_packed_weight_is_used_and_exact(rng, case):
    """pack_conv_weight (the inference cache of nn.fuse): the same bits as packing per call; the
    packed copy really replaces the weight; a stale layout (another SIMD level) is ignored."""
    from pydeepkit import _ext
    n, cin, cout, size, k, g, dtype = case
    x, w, b = _arrays(rng, dtype, (2, cin, *size), (cout, cin // g, *k), (cout,))
    conv = getattr(ops, f"conv{n}d")
    pw = ops.conv.pack_conv_weight(w, g)
    assert pw is not None and pw.weight is w
    want = conv(x, w, b, 1, 1, 1, g, activation="relu")
    np.testing.assert_array_equal(conv(x, w, b, 1, 1, 1, g, activation="relu", packed_weight=pw), want)
    saved = pw.buffer.copy()
    pw.buffer[...] = 0  # the kernel reads the packed copy, not w: zero weights leave relu(bias)
    zeroed = conv(x, w, b, 1, 1, 1, g, packed_weight=pw)
    np.testing.assert_array_equal(zeroed, np.broadcast_to(b.reshape((1, cout) + (1,) * n), zeroed.shape))
    pw.buffer[...] = saved
    cpu = _ext.module("cpu")
    previous = cpu.info()["simd"]
    try:
        for isa in cpu_isas():  # packed for `previous`: other tiles ignore it and pack w per call
            cpu.set_simd(isa)
            check_conv(conv(x, w, b, 1, 1, 1, g, packed_weight=pw), x, w, b, padding=1, groups=g)
    finally:
        cpu.set_simd(previous)
    with pytest.raises(ValueError, match="packed from another weight"):
        conv(x, w.copy(), b, 1, 1, 1, g, packed_weight=pw)
    if _ext.available("emu"):  # other backends ignore it
        check_conv(conv(x, w, b, 1, 1, 1, g, packed_weight=pw, backend="emu"), x, w, b, padding=1, groups=g)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_packed_weight_winograd_form(rng, dtype):
    """3x3 2-d weights with >= 16 channels per group also carry their Winograd form: the calls
    that take that path read it (and not the plain packing), the others the plain packing; a
    stride-2 call with the same weight falls back to the plain form."""
    x, w, b = _arrays(rng, dtype, (2, 32, 12, 10), (48, 16, 3, 3), (48,))
    pw = ops.conv.pack_conv_weight(w, 2)
    assert pw.winograd is not None and pw.winograd[0].size == pw.winograd[1]
    assert ops.conv.pack_conv_weight(w[:, :, :2], 2).winograd is None      # 3x2 kernel
    assert ops.conv.pack_conv_weight(w[:8, :8], 1).winograd is None        # 8 channels: auto never takes it
    want = ops.conv2d(x, w, b, 1, 1, 1, 2, activation="relu")             # auto: Winograd here
    np.testing.assert_array_equal(ops.conv2d(x, w, b, 1, 1, 1, 2, activation="relu", packed_weight=pw), want)
    plain, transformed = pw.buffer.copy(), pw.winograd[0].copy()
    pw.buffer[...] = 0
    np.testing.assert_array_equal(ops.conv2d(x, w, b, 1, 1, 1, 2, activation="relu", packed_weight=pw), want)
    pw.buffer[...] = plain
    pw.winograd[0][...] = 0  # zero transformed weights: every output is relu(bias)
    zeroed = ops.conv2d(x, w, b, 1, 1, 1, 2, activation="relu", packed_weight=pw)
    np.testing.assert_array_equal(zeroed, np.broadcast_to(np.maximum(b, 0).reshape(1, 48, 1, 1), zeroed.shape))
    # stride 2 does not fit the Winograd path: the plain packing serves it
    check_conv(ops.conv2d(x, w, b, 2, 1, 1, 2, packed_weight=pw), x, w, b, stride=2, padding=1, groups=2)
    pw.winograd[0][...] = transformed
    np.testing.assert_array_equal(ops.conv2d(x, w, b, 1, 1, 1, 2, activation="relu", packed_weight=pw), want)


@pytest.mark.parametrize("channels, size, stride", [
    (64, 20, 1),    # 1 MB of transformed weights: every thread transforms its own copy
    (384, 16, 1),   # 9.4 MB: over the 8 MB bound, the team splits one transform and shares it
    (352, 20, 2),   # stride 2: 12.4 MB
])
def test_winograd_weight_copies(rng, channels, size, stride):
    """Weights transformed in the call, by each thread for itself or by the team for all, give
    the reference; the copies are rewritten by the next call with other weights."""
    with cpu_setting(cpu_isas()[-1], "winograd"):
        x, w, b = _arrays(rng, np.float32, (2, channels, size, size), (channels, channels, 3, 3), (channels,))
        check_conv(ops.conv2d(x, w, b, stride, 1, activation="relu"), x, w, b, stride=stride, padding=1,
                   activation="relu")
        w2 = np.ascontiguousarray(w[::-1])
        check_conv(ops.conv2d(x, w2, b, stride, 1), x, w2, b, stride=stride, padding=1)


@pytest.mark.parametrize("threads", [3, 5])
def test_work_items_with_more_threads_than_cores(threads):
    """Every work item (Winograd's tile blocks, the GEMM paths' whole images) runs once when the
    threads' home ranges are uneven and the threads outnumber the cores (so some are descheduled
    and others steal their items)."""
    code = """
import numpy as np
import pydeepkit.ops as ops
from pydeepkit.reference import conv as R
from pydeepkit import _ext
assert _ext.module("cpu").info()["omp_threads"] == %d
rng = np.random.default_rng(0)
for path in ("winograd", "direct", "packed"):
    _ext.module("cpu").set_conv_path(path)
    for stride, shape in ((1, (20, 32, 18, 22)), (2, (20, 32, 34, 38))):
        x = rng.standard_normal(shape)
        w = rng.standard_normal((24, 32, 3, 3))
        for _ in range(3):
            got = ops.conv2d(x, w, None, stride, 1)
            np.testing.assert_allclose(got, R.conv(x, w, None, stride, 1), rtol=1e-9, atol=1e-9)
print("ok")
""" % threads
    proc = run_python(code=code, env={"OMP_NUM_THREADS": str(threads)})
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


@pytest.mark.parametrize("channels, size, takes", [
    (16, 28, True),    # 7x7 = 49 tiles, 0.04 MB of transformed weights
    (16, 24, False),   # 6x6 = 36 tiles: too few
    (320, 28, False),  # 49 tiles, but 10 MB of transformed weights (out of cache)
    (32, 56, True),    # 196 tiles
])
def test_stride2_winograd_rule(rng, channels, size, takes):
    """'auto' takes stride-2 Winograd from 300 tiles, or from 48 while the transformed weights are
    at most 8 MB. Seen through a prepacked stride-2 form whose transformed weights are zeroed: a
    call that takes the path returns relu(bias) everywhere, one that does not ignores them."""
    x, w, b = _arrays(rng, np.float32, (1, channels, size, size), (channels, channels, 3, 3), (channels,))
    pw = ops.conv.pack_conv_weight(w, 1, 2)
    pw.winograd[0][...] = 0
    got = ops.conv2d(x, w, b, 2, 1, activation="relu", packed_weight=pw)
    bias_only = np.broadcast_to(np.maximum(b, 0).reshape(1, channels, 1, 1), got.shape)
    if takes:
        np.testing.assert_array_equal(got, bias_only)
    else:
        assert not np.array_equal(got, bias_only)
        np.testing.assert_array_equal(got, ops.conv2d(x, w, b, 2, 1, activation="relu"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_packed_weight_winograd_form_stride2(rng, dtype):
    """3x3 weights packed for stride 2 carry the stride-2 Winograd form, which stride-2 calls read;
    a form packed for the other stride is never read (its layout names its tile)."""
    x, w, b = _arrays(rng, dtype, (2, 16, 56, 55), (24, 16, 3, 3), (24,))  # 392 tiles: auto takes it
    pw = ops.conv.pack_conv_weight(w, 1, 2)
    assert pw.winograd is not None and pw.winograd[0].size == pw.winograd[1]
    want = ops.conv2d(x, w, b, 2, 1, activation="relu")
    np.testing.assert_array_equal(ops.conv2d(x, w, b, 2, 1, activation="relu", packed_weight=pw), want)
    assert pw.winograd[1] != ops.conv.pack_conv_weight(w).winograd[1]  # 25 products per tile, not 16
    transformed = pw.winograd[0].copy()
    pw.winograd[0][...] = 0  # zero transformed weights: every output is relu(bias)
    zeroed = ops.conv2d(x, w, b, 2, 1, activation="relu", packed_weight=pw)
    np.testing.assert_array_equal(zeroed, np.broadcast_to(np.maximum(b, 0).reshape(1, 24, 1, 1), zeroed.shape))
    check_conv(ops.conv2d(x, w, b, 1, 1, packed_weight=pw), x, w, b, padding=1)  # stride 1 ignores it
    pw.winograd[0][...] = transformed
    s1 = ops.conv.pack_conv_weight(w, 1, (1, 1))
    s1.winograd[0][...] = 0  # the stride-1 form: a stride-2 call transforms the weights itself
    np.testing.assert_array_equal(ops.conv2d(x, w, b, 2, 1, activation="relu", packed_weight=s1), want)
    assert ops.conv.pack_conv_weight(np.ones((24, 16, 1, 3), dtype), 1, 2).winograd is None  # 1x3 at stride 2
    for bad in (0, (2, 2, 2), (2, 1.5)):
        with pytest.raises(ValueError, match="stride"):
            ops.conv.pack_conv_weight(w, 1, bad)


@pytest.mark.parametrize("taps", [3, 5, 7])
def test_packed_weight_winograd_form_1d(rng, taps):
    """1-d weights of 3, 5 and 7 taps carry their F(1x2, 1xr) form, which the calls read."""
    x, w, b = _arrays(rng, np.float32, (2, 16, 256), (24, 16, taps), (24,))  # auto takes Winograd
    pw = ops.conv.pack_conv_weight(w)
    assert pw.winograd is not None
    want = ops.conv1d(x, w, b, 1, taps // 2)
    np.testing.assert_array_equal(ops.conv1d(x, w, b, 1, taps // 2, packed_weight=pw), want)
    pw.winograd[0][...] = 0  # zero transformed weights: every output is the bias
    zeroed = ops.conv1d(x, w, b, 1, taps // 2, packed_weight=pw)
    np.testing.assert_array_equal(zeroed, np.broadcast_to(b.reshape(1, 24, 1), zeroed.shape))
    assert ops.conv.pack_conv_weight(w[:, :, :taps - 1]).winograd is None  # even taps: no Winograd form


def test_pack_conv_weight_non_contiguous(rng):
    base = rng.uniform(-1, 1, (6, 4, 3, 3, 2)).astype(np.float32)
    w = base[..., 0]  # strided view: packed from a contiguous copy, checked against the view itself
    x = rng.uniform(-1, 1, (2, 4, 7, 8)).astype(np.float32)
    pw = ops.conv.pack_conv_weight(w)
    np.testing.assert_array_equal(ops.conv2d(x, w, padding=1, packed_weight=pw), ops.conv2d(x, w, padding=1))


def test_pack_conv_weight_not_packed_or_wrong_input():
    assert ops.conv.pack_conv_weight(np.ones((8, 1, 3, 3), np.float32), 8) is None  # depthwise: direct kernel
    with pytest.raises(TypeError, match="numpy weight"):
        ops.conv.pack_conv_weight(np.ones((8, 3), np.float32))
    with pytest.raises(TypeError, match="float32/float64"):
        ops.conv.pack_conv_weight(np.ones((8, 3, 3, 3), np.int64))
    for groups in (0, -1, 3, 2.0):
        with pytest.raises(ValueError, match="groups must be an int >= 1 dividing C_out"):
            ops.conv.pack_conv_weight(np.ones((8, 3, 3, 3), np.float32), groups)
    from pydeepkit import _ext
    with pytest.raises(ValueError, match="divisible by groups"):  # the extension checks on its own too
        _ext.module("cpu").conv_packed_weights_size(6, 8, 0, (1, 3, 3), 0)


# ---------------------------------------------------------------------------------------
# the Winograd F(2x2, 3x3) path (3x3, stride 1, undilated 2-d, zero padding)
# ---------------------------------------------------------------------------------------
@pytest.fixture
def winograd_isa(request):
    """The CPU ISA of the parameter, the forward path 'winograd'."""
    with cpu_setting(request.param, "winograd"):
        yield request.param


# batch, C_in, C_out, (H, W), padding, groups, dilation
WINOGRAD_CASES = [
    (1, 1, 1, (1, 1), 1, 1, 1),        # one output, one partial tile
    (2, 3, 5, (4, 4), 0, 1, 1),        # one tile per image, no padding
    (1, 5, 3, (7, 9), 1, 1, 1),        # odd sizes: the last tile row and column half outside
    (3, 4, 6, (1, 37), 1, 1, 1),       # one output row; tile rows longer than a panel
    (2, 6, 4, (35, 1), 1, 2, 1),       # one output column, grouped
    (2, 7, 9, (6, 5), 2, 1, 1),        # padding 2: outputs whose tiles read only padding
    (1, 16, 30, (13, 70), 1, 1, 1),    # C_out not a multiple of the tile rows; wide rows
    (5, 12, 20, (9, 11), 1, 4, 1),     # several work items per group
    (1, 520, 17, (6, 6), 1, 1, 1),     # C_in over one K block (kc <= 512)
    (3, 33, 29, (17, 18), "same", 1, 1),
    (2, 6, 7, (9, 10), 2, 1, 2),       # dilation 2: four phases, each an undilated convolution
    (1, 5, 4, (11, 7), 1, 1, (2, 1)),  # padding not a multiple of the dilation: shifted phases
    (2, 4, 6, (8, 45), (3, 1), 2, (1, 2)),  # wide rows at dilation 2 along W (4-vector gathers)
    (1, 3, 3, (2, 3), "same", 1, 2),   # phases with no output of their own
]


@pytest.mark.parametrize("winograd_isa", cpu_isas(), indirect=True)
@pytest.mark.parametrize("case", WINOGRAD_CASES, ids=[f"{c[0]}x{c[1]}to{c[2]}-{c[3][0]}x{c[3][1]}-p{c[4]}-g{c[5]}-d{c[6]}"
                                                      for c in WINOGRAD_CASES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_matches_reference(winograd_isa, rng, case, dtype):
    batch, cin, cout, size, p, g, d = case
    x, w, b = _arrays(rng, dtype, (batch, cin, *size), (cout, cin // g, 3, 3), (cout,))
    r = rng.uniform(-1, 1, size=(batch, cout) + ops.conv.conv_geometry("t", 2, x.shape, w.shape, 1, p, d, g).out_size)
    r = r.astype(dtype)
    for activation in ACTIVATIONS:
        got = ops.conv2d(x, w, b, 1, p, d, g, residual=r, activation=activation)
        check_conv(got, x, w, b, residual=r, activation=activation, padding=p, dilation=d, groups=g)
    got = ops.conv2d(x, w, None, 1, p, d, g)
    check_conv(got, x, w, padding=p, dilation=d, groups=g)


# batch, C_in, C_out, (H, W), padding, groups
WINOGRAD_STRIDE2_CASES = [
    (1, 1, 1, (3, 3), 0, 1),           # one output: every phase's window partly outside
    (1, 1, 1, (1, 1), 1, 1),           # one input, padded all round
    (2, 3, 5, (9, 11), 1, 1),          # odd sizes: the last tile row and column half outside
    (2, 4, 6, (8, 8), 1, 2),           # ResNet's downsampling shape (even input, padding 1), grouped
    (1, 5, 4, (13, 7), 2, 1),          # padding 2: windows shifted past the input
    (2, 6, 4, (10, 12), 0, 1),         # no padding
    (1, 3, 7, (4, 75), (0, 1), 1),     # one output row, rows longer than a panel, asymmetric padding
    (3, 12, 20, (15, 14), 1, 4),       # several work items per group
    (1, 140, 17, (6, 6), 1, 1),        # 4 x 140 phase rows: over one K block (kc <= 512)
]


@pytest.mark.parametrize("winograd_isa", cpu_isas(), indirect=True)
@pytest.mark.parametrize("case", WINOGRAD_STRIDE2_CASES, ids=lambda c: f"{c[1]}to{c[2]}-{c[3][0]}x{c[3][1]}-p{c[4]}-g{c[5]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_stride2_matches_reference(winograd_isa, rng, case, dtype):
    """3x3 stride-2 convolutions: F(2x2, 2x2) on the 2x2 input phases, summed per position."""
    batch, cin, cout, size, p, g = case
    x, w, b = _arrays(rng, dtype, (batch, cin, *size), (cout, cin // g, 3, 3), (cout,))
    r = rng.uniform(-1, 1, size=(batch, cout) + ops.conv.conv_geometry("t", 2, x.shape, w.shape, 2, p, 1, g).out_size)
    r = r.astype(dtype)
    for activation in (None, "relu", "sigmoid"):
        got = ops.conv2d(x, w, b, 2, p, 1, g, residual=r, activation=activation)
        check_conv(got, x, w, b, residual=r, activation=activation, stride=2, padding=p, groups=g)
    got = ops.conv2d(x, w, None, 2, p, 1, g)
    check_conv(got, x, w, stride=2, padding=p, groups=g)
    # 3-d, stride 1 across depth: the depth taps are more input channels of each phase
    x3 = np.stack([x, x[:, :, ::-1]], axis=2)
    w3 = np.stack([w, -w[:, :, ::-1]], axis=2)
    p3 = (1,) + ((p, p) if isinstance(p, int) else p)
    got = ops.conv3d(x3, w3, b, (1, 2, 2), p3, 1, g)
    check_conv(got, x3, w3, b, stride=(1, 2, 2), padding=p3, groups=g)


# batch, C_in, C_out, (D, H, W), depth taps, padding, dilation
WINOGRAD_3D_CASES = [
    (2, 4, 5, (3, 6, 7), 3, 1, 1),                   # C3D's 3x3x3
    (1, 6, 4, (5, 9, 8), 2, (0, 1, 1), 1),           # even depth kernel, no depth padding
    (2, 3, 4, (4, 5, 5), 3, (2, 1, 1), (2, 1, 1)),   # dilated depth: rows of depths outside read zeros
    (1, 4, 4, (3, 8, 9), 3, (1, 2, 2), (1, 2, 2)),   # dilation 2 across
    (2, 5, 6, (1, 7, 7), 1, 1, 1),                   # depth 1 (a 2-d convolution in 3-d)
    (1, 200, 9, (3, 5, 4), 3, 1, 1),                 # C_in x depth taps over one K block
]


@pytest.mark.parametrize("winograd_isa", cpu_isas(), indirect=True)
@pytest.mark.parametrize("case", WINOGRAD_3D_CASES, ids=lambda c: f"{c[1]}to{c[2]}-kd{c[4]}-p{c[5]}-d{c[6]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_3d_matches_reference(winograd_isa, rng, case, dtype):
    """3-d kernels whose H, W extent is 3x3: each depth tap is one more input channel of the 2-d
    transform (conv3d's Winograd path)."""
    batch, cin, cout, size, kd, p, d = case
    x, w, b = _arrays(rng, dtype, (batch, cin, *size), (cout, cin, kd, 3, 3), (cout,))
    r = rng.uniform(-1, 1, size=(batch, cout) + ops.conv.conv_geometry("t", 3, x.shape, w.shape, 1, p, d, 1).out_size)
    r = r.astype(dtype)
    got = ops.conv3d(x, w, b, 1, p, d, residual=r, activation="leaky_relu")
    check_conv(got, x, w, b, residual=r, activation="leaky_relu", padding=p, dilation=d)


# batch, C_in, C_out, (H, W), padding, output_padding, groups
WINOGRAD_TRANSPOSED_CASES = [
    (1, 1, 1, (1, 1), 0, 0, 1),        # one input: a 4x4 output
    (2, 3, 4, (5, 6), 1, 0, 1),        # the decoders' 4x4 s2 p1 upsampling
    (2, 4, 6, (5, 7), 2, 1, 2),        # padding 2, output_padding, grouped
    (1, 6, 4, (1, 9), 1, 1, 1),        # one input row
    (2, 5, 3, (4, 4), 3, 1, 1),        # padding 3: phases shifted past the input
    (1, 17, 19, (7, 40), 0, 0, 1),     # channels not multiples of the tiles; rows over a panel
    (3, 24, 20, (6, 5), 1, 0, 4),      # several items per phase and group
]


@pytest.mark.parametrize("winograd_isa", cpu_isas(), indirect=True)
@pytest.mark.parametrize("case", WINOGRAD_TRANSPOSED_CASES,
                         ids=lambda c: f"{c[1]}to{c[2]}-{c[3][0]}x{c[3][1]}-p{c[4]}-op{c[5]}-g{c[6]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_transposed_matches_reference(winograd_isa, rng, case, dtype):
    """4x4 stride-2 transposed convolutions: F(2x2, 2x2) on each of the 2x2 output phases."""
    batch, cin, cout, size, p, op, g = case
    x, w, b = _arrays(rng, dtype, (batch, cin, *size), (cin, cout // g, 4, 4), (cout,))
    out_size = tuple((n - 1) * 2 - 2 * p + 4 + op for n in size)
    r = rng.uniform(-1, 1, size=(batch, cout) + out_size).astype(dtype)
    for activation in (None, "relu", "tanh"):
        got = ops.conv_transpose2d(x, w, b, 2, p, op, g, residual=r, activation=activation)
        check_conv_transpose(got, x, w, b, residual=r, activation=activation, stride=2, padding=p,
                             output_padding=op, groups=g)
    got = ops.conv_transpose2d(x, w, None, 2, p, op, g)
    check_conv_transpose(got, x, w, stride=2, padding=p, output_padding=op, groups=g)
    # the same as a 3-d transposed convolution of depth 1, also with output_padding along D (an
    # output two deep, whose second plane gets only the bias: not the Winograd path's shape)
    for op_d in (0, 1):
        got = ops.conv_transpose3d(x[:, :, None], w[:, :, None], b, 2, (0, p, p), (op_d, op, op), g)
        check_conv_transpose(got, x[:, :, None], w[:, :, None], b, stride=2, padding=(0, p, p),
                             output_padding=(op_d, op, op), groups=g)


# batch, C_in, C_out, L, taps, padding, dilation, groups
WINOGRAD_1D_CASES = [
    (1, 1, 1, 1, 3, 1, 1, 1),          # one output, one partial tile
    (1, 1, 1, 7, 7, 0, 1, 1),          # one output of a 7-tap kernel, no padding
    (2, 3, 5, 20, 7, 3, 1, 1),         # odd output count: the last tile half outside
    (2, 4, 6, 9, 5, 6, 1, 2),          # padding past the kernel: tiles that read only padding, grouped
    (3, 5, 4, 150, 7, "same", 1, 1),   # rows longer than a panel
    (2, 6, 7, 50, 3, 2, 2, 1),         # dilation 2: two phases
    (1, 5, 4, 41, 7, 5, 2, 1),         # padding not a multiple of the dilation: shifted phases
    (2, 4, 6, 33, 5, "same", 2, 2),    # dilation 2 with 'same', grouped
    (5, 12, 20, 30, 5, 2, 1, 4),       # several work items per group
    (1, 520, 17, 12, 7, 3, 1, 1),      # C_in over one K block (kc <= 512)
    (1, 16, 30, 70, 3, 0, 1, 1),       # C_out not a multiple of the tile rows
]


@pytest.mark.parametrize("winograd_isa", cpu_isas(), indirect=True)
@pytest.mark.parametrize("case", WINOGRAD_1D_CASES, ids=lambda c: f"{c[1]}to{c[2]}-L{c[3]}-k{c[4]}-p{c[5]}-d{c[6]}-g{c[7]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_1d_matches_reference(winograd_isa, rng, case, dtype):
    """conv1d with 3, 5 and 7 taps: F(1x2, 1xr) over tiles of 2 outputs."""
    batch, cin, cout, length, taps, p, d, g = case
    x, w, b = _arrays(rng, dtype, (batch, cin, length), (cout, cin // g, taps), (cout,))
    r = rng.uniform(-1, 1, size=(batch, cout) + ops.conv.conv_geometry("t", 1, x.shape, w.shape, 1, p, d, g).out_size)
    r = r.astype(dtype)
    for activation in (None, "relu", "gelu"):
        got = ops.conv1d(x, w, b, 1, p, d, g, residual=r, activation=activation)
        check_conv(got, x, w, b, residual=r, activation=activation, padding=p, dilation=d, groups=g)
    got = ops.conv1d(x, w, None, 1, p, d, g)
    check_conv(got, x, w, padding=p, dilation=d, groups=g)


# C_in, C_out, (H, W), kernel, padding, dilation: 2-d and 3-d kernels one row high
WINOGRAD_1XR_CASES = [
    (4, 6, (5, 30), (1, 7), (0, 3), 1),
    (5, 3, (4, 19), (1, 5), (1, 2), (3, 1)),         # padding along H: rows of zeros; dilation along H ignored
    (3, 4, (3, 4, 21), (2, 1, 3), (1, 0, 1), (2, 1, 2)),  # depth taps as input channels, dilation 2 along W
]


@pytest.mark.parametrize("winograd_isa", cpu_isas(), indirect=True)
@pytest.mark.parametrize("case", WINOGRAD_1XR_CASES, ids=lambda c: f"k{'x'.join(map(str, c[3]))}-p{c[4]}-d{c[5]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_1xr_kernels_match_reference(winograd_isa, rng, case, dtype):
    """2-d 1xr kernels (Inception's factorised 1x7) and 3-d kd x 1 x r ones take the same tiles."""
    cin, cout, size, kernel, p, d = case
    x, w, b = _arrays(rng, dtype, (2, cin, *size), (cout, cin, *kernel), (cout,))
    conv = ops.conv2d if len(size) == 2 else ops.conv3d
    got = conv(x, w, b, 1, p, d, activation="leaky_relu")
    check_conv(got, x, w, b, activation="leaky_relu", padding=p, dilation=d)


@pytest.mark.parametrize("kind", ["forward", "transposed", "stride2", "1d"])
def test_winograd_in_place_residual_and_path_taken(rng, kind):
    """The residual may be the output itself (each output is read before it is stored; the
    extension's entry point allows it, ops.conv* never does it); and the Winograd path really
    runs: its result is not bit-equal to the packed path's (another summation order)."""
    from pydeepkit import _ext
    cpu = _ext.module("cpu")
    previous = cpu.conv_path()
    transposed = kind == "transposed"
    if transposed:  # F(2x2, 2x2) on the phases of a 4x4 stride-2 transposed convolution
        x, w, b = _arrays(rng, np.float32, (2, 40, 9, 8), (40, 24, 4, 4), (24,))
        kw = dict(stride=2, padding=1)
        geometry = ((1, 9, 8), (1, 18, 16), (1, 4, 4), (1, 2, 2), (1, 1, 1), (0, 1, 1))
        conv, check = ops.conv_transpose2d, check_conv_transpose
    elif kind == "stride2":  # F(2x2, 2x2) on the input phases
        x, w, b = _arrays(rng, np.float32, (2, 48, 16, 15), (40, 48, 3, 3), (40,))
        kw = dict(stride=2, padding=1)
        geometry = ((1, 16, 15), (1, 8, 8), (1, 3, 3), (1, 2, 2), (1, 1, 1), (0, 1, 1))
        conv, check = ops.conv2d, check_conv
    elif kind == "1d":  # F(1x2, 1x7)
        x, w, b = _arrays(rng, np.float32, (2, 48, 61), (40, 48, 7), (40,))
        kw = dict(padding=3)
        geometry = ((1, 1, 61), (1, 1, 61), (1, 1, 7), (1, 1, 1), (1, 1, 1), (0, 0, 3))
        conv, check = ops.conv1d, check_conv
    else:
        x, w, b = _arrays(rng, np.float32, (2, 48, 16, 15), (40, 48, 3, 3), (40,))
        kw = dict(padding=1)
        geometry = ((1, 16, 15), (1, 16, 15), (1, 3, 3), (1, 1, 1), (1, 1, 1), (0, 1, 1))
        conv, check = ops.conv2d, check_conv
    cout = b.shape[0]
    r = rng.uniform(-1, 1, size=(2, cout) + geometry[1][3 - (x.ndim - 2):]).astype(np.float32)
    try:
        cpu.set_conv_path("winograd")
        out = r.copy()
        cpu.conv_forward(2, x.shape[1], cout, 1, *geometry, 0, transposed, 1, 0.01, x.ctypes.data, w.ctypes.data,
                         b.ctypes.data, out.ctypes.data, out.ctypes.data, 0, 0)  # activation 1: relu; float32
        check(out, x, w, b, residual=r, activation="relu", **kw)
        winograd = conv(x, w, b, **kw)
        cpu.set_conv_path("packed")
        packed = conv(x, w, b, **kw)
    finally:
        cpu.set_conv_path(previous)
    assert not np.array_equal(winograd, packed)
    check(winograd, x, w, b, **kw)


def test_conv_path_setting():
    from pydeepkit import _ext
    cpu = _ext.module("cpu")
    with pytest.raises(ValueError, match="expected 'auto'"):
        cpu.set_conv_path("fast")
    assert cpu.conv_path() == "auto"


def test_dtype_and_library_errors():
    x = np.ones((1, 3, 5, 5), np.float32)
    with pytest.raises(TypeError, match="one dtype"):
        ops.conv2d(x, np.ones((4, 3, 3, 3)))
    with pytest.raises(TypeError, match="dtype"):
        ops.conv2d(x.astype(np.int32), np.ones((4, 3, 3, 3), np.int32))
    with pytest.raises(TypeError, match="numpy array"):
        ops.conv2d(x.tolist(), np.ones((4, 3, 3, 3), np.float32))


def test_geometry():
    g = ops.conv.conv_geometry("conv2d", 2, (2, 4, 10, 11), (6, 2, 4, 3), stride=1, padding="same", dilation=(2, 1),
                               groups=2)
    assert g.out_shape == (2, 6, 10, 11) and g.pad_before == (3, 1) and g.pad_after == (3, 1)
    g = ops.conv.conv_geometry("conv2d", 2, (1, 1, 6, 6), (1, 1, 2, 4), padding="same")
    assert g.pad_before == (0, 1) and g.pad_after == (1, 2)  # torch: the odd element goes after
    g = ops.conv.conv_transpose_geometry("conv_transpose1d", 1, (1, 2, 5), (2, 3, 3), stride=2, padding=1,
                                         output_padding=1)
    assert g.out_shape == (1, 3, 10)


# ---------------------------------------------------------------------------------------
# parity with torch (CPU tensors in, tensors out)
# ---------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, "same", (2, 1)])
def test_torch_parity_conv2d(host_backend, rng, mode, padding):
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(rng.uniform(-1, 1, size=(2, 4, 9, 8)).astype(np.float32))
    layer = torch.nn.Conv2d(4, 6, (4, 3), padding=padding, dilation=(1, 2), groups=2, padding_mode=mode)
    with torch.no_grad():
        expected = layer(x)
    got = ops.conv2d(x, layer.weight.detach(), layer.bias.detach(), padding=padding, dilation=(1, 2), groups=2,
                     padding_mode=mode, backend=host_backend)
    assert isinstance(got, torch.Tensor) and got.shape == expected.shape
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_torch_parity_all_ranks(host_backend, rng, n):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = torch.from_numpy(rng.uniform(-1, 1, size=(2, 4) + (6,) * n).astype(np.float32))
    w = torch.from_numpy(rng.uniform(-1, 1, size=(6, 2) + (3,) * n).astype(np.float32))
    b = torch.from_numpy(rng.uniform(-1, 1, size=6).astype(np.float32))
    got = getattr(ops, f"conv{n}d")(x, w, b, 2, 1, 1, 2, backend=host_backend)
    expected = getattr(F, f"conv{n}d")(x, w, b, 2, 1, 1, 2)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
    wt = torch.from_numpy(rng.uniform(-1, 1, size=(4, 3) + (3,) * n).astype(np.float32))
    got = getattr(ops, f"conv_transpose{n}d")(x, wt, b, 2, 1, 1, 2, backend=host_backend)
    expected = getattr(F, f"conv_transpose{n}d")(x, wt, b, 2, 1, 1, 2)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
    got = getattr(ops, f"conv{n}d")(x, w[:4, :1], None, 1, "same", 2, 4, activation="gelu", backend=host_backend)
    expected = F.gelu(getattr(F, f"conv{n}d")(x, w[:4, :1], None, 1, "same", 2, 4))
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
