"""Depthwise convolution (groups == C_in, any channel multiplier) on every backend against the
numpy reference: the direct kernel (csrc/conv/conv_depthwise_kernels.cpp on the CPU).

Covers 1-d/2-d/3-d, multipliers 1-3, strides 1-3, dilation, every padding mode (with 'same'
and even kernels), kernels larger than the input, widths that are not multiples of any vector
width, the fused epilogue (bias, residual, every activation), float64, NaN propagation, and the
kernel's internal paths: column chunks of wide rows, row bands of tall planes, two threads,
and the scalar path for kernels too large for the band buffer. Each cpu ISA runs every case
(the ``backend`` fixture). This file must not need torch.
"""
from __future__ import annotations

import numpy as np
import pytest

import pydeepkit.ops as ops
from pydeepkit.reference.conv import conv as ref_conv

from conftest import assert_sum_close, cpu_isas, to_numpy

ACTIVATIONS = [None, "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "relu6"]


def _id(value):
    if isinstance(value, (tuple, list)):
        return "x".join(str(v) for v in value)
    return str(value)


def _run(backend, rng, shape, mult, kernel, *, stride=1, padding=0, dilation=1, padding_mode="zeros",
         dtype=np.float32, bias=False, residual=False, activation=None, negative_slope=0.01, x=None):
    """Runs conv{n}d with groups = C on the backend and checks it against the reference."""
    n = len(shape) - 2
    C = shape[1]
    if x is None:
        x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((C * mult, 1) + tuple(kernel)).astype(dtype)
    b = rng.standard_normal(C * mult).astype(dtype) if bias else None
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=C, padding_mode=padding_mode,
              activation=activation, negative_slope=negative_slope)
    r = None
    if residual:
        r = rng.standard_normal(ref_conv(x, w, b, **kw).shape).astype(dtype)
    expected = ref_conv(x, w, b, residual=r, **kw)
    f = getattr(ops, f"conv{n}d")
    y = f(backend.asarray(x), backend.asarray(w), None if b is None else backend.asarray(b),
          residual=None if r is None else backend.asarray(r), backend=backend.name, **kw)
    # float rounding of sums of `taps` products, in another order than the float64 oracle
    msg = f"shape {shape} mult {mult} kernel {kernel} {kw}"
    f64 = {k: v for k, v in kw.items() if k not in ("activation", "negative_slope")}
    mag = ref_conv(np.abs(x.astype(np.float64)), np.abs(w.astype(np.float64)),
                   None if b is None else np.abs(b.astype(np.float64)),
                   residual=None if r is None else np.abs(r.astype(np.float64)), **f64)
    exact = ref_conv(x.astype(np.float64), w.astype(np.float64), None if b is None else b.astype(np.float64),
                     residual=None if r is None else r.astype(np.float64), **kw)
    got = to_numpy(y)
    special = ~np.isfinite(exact)  # NaN and infinities must come out exactly where the oracle has them
    np.testing.assert_array_equal(got[special], exact[special].astype(dtype), err_msg=msg)
    with np.errstate(invalid="ignore"):
        assert_sum_close(np.where(special, 0, got), np.where(special, 0, exact),
                         np.where(np.isfinite(mag), mag, 0.0), int(np.prod(kernel)), dtype)
    return y


# (shape, multiplier, kernel, stride, padding, dilation, what the case covers)
CASES = [
    # 1-d
    ((2, 3, 17), 1, (3,), 1, 1, 1, "1-d, odd length"),
    ((1, 2, 33), 2, (5,), 2, 2, 1, "1-d, multiplier 2, stride 2"),
    ((2, 2, 20), 3, (3,), 3, 2, 2, "1-d, multiplier 3, stride 3, dilation 2"),
    ((1, 2, 1), 1, (1,), 1, 0, 1, "1-d, length 1"),
    # 2-d, widths 1, 5, 17, 33 under strides 1, 2, 3
    ((1, 3, 1, 1), 1, (3, 3), 1, 1, 1, "1x1 input, 3x3 kernel, padding 1"),
    ((2, 3, 5, 5), 1, (3, 3), 1, 1, 1, "width 5, stride 1"),
    ((2, 3, 6, 5), 2, (3, 3), 2, 1, 1, "width 5, stride 2, multiplier 2"),
    ((1, 3, 7, 5), 1, (3, 3), 3, 1, 1, "width 5, stride 3"),
    ((1, 2, 9, 17), 1, (3, 3), 1, 1, 1, "width 17, stride 1"),
    ((1, 2, 9, 17), 3, (3, 3), 2, 1, 1, "width 17, stride 2, multiplier 3"),
    ((1, 2, 9, 17), 1, (3, 3), 3, 0, 1, "width 17, stride 3, no padding"),
    ((1, 2, 7, 33), 1, (3, 3), 1, 1, 1, "width 33, stride 1"),
    ((1, 2, 7, 33), 1, (3, 3), 2, 1, 1, "width 33, stride 2"),
    ((1, 2, 7, 33), 2, (3, 5), 3, (1, 2), 1, "width 33, stride 3, 3x5"),
    ((2, 4, 14, 14), 1, (3, 3), 1, 1, 1, "MobileNet 14x14 block"),
    ((2, 4, 14, 14), 1, (3, 3), 2, 1, 1, "MobileNet 14x14 stride 2"),
    ((1, 2, 12, 11), 1, (5, 5), 1, 2, 1, "5x5"),
    ((1, 2, 16, 15), 1, (7, 7), 2, 3, 1, "7x7 stride 2"),
    ((1, 2, 11, 13), 1, (3, 3), 1, 2, 2, "dilation 2"),
    ((1, 2, 15, 16), 2, (3, 2), (2, 3), (2, 1), (3, 2), "anisotropic stride, dilation, padding"),
    ((1, 2, 9, 8), 1, (1, 1), 2, 0, 1, "1x1 kernel, stride 2 (one column phase used)"),
    ((1, 2, 9, 10), 1, (2, 2), 2, 0, 1, "2x2 stride 2"),
    ((1, 2, 8, 9), 1, (3, 3), 4, 1, 1, "stride larger than the kernel"),
    ((1, 2, 3, 3), 1, (7, 7), 1, 5, 1, "kernel larger than the input, padding"),
    ((1, 2, 4, 2), 1, (5, 5), 2, 4, 1, "kernel larger than the input, stride 2"),
    ((1, 1, 6, 6), 1, (3, 3), 1, 8, 5, "padding and dilation larger than the input"),
    # 3-d
    ((1, 2, 5, 6, 7), 1, (3, 3, 3), 1, 1, 1, "3-d 3x3x3"),
    ((2, 2, 6, 5, 7), 2, (3, 2, 3), 2, 1, (1, 2, 1), "3-d stride 2, multiplier 2, dilation"),
    ((1, 2, 4, 5, 6), 3, (2, 3, 1), (1, 2, 3), (1, 0, 2), 1, "3-d anisotropic, multiplier 3"),
    ((1, 2, 1, 5, 5), 1, (3, 3, 3), 1, 1, 1, "3-d depth 1 (zero slices in the padding)"),
    ((1, 2, 4, 6, 14), 1, (3, 3, 3), 1, 1, 1, "3-d, whole-vector rows (sliding rows, accumulated over kd)"),
    # whole-vector rows (row pitch a multiple of every vector width): the sliding-row tap loop
    ((1, 2, 9, 10), 1, (7, 7), 1, 3, 1, "7x7 sliding rows"),
    ((2, 5, 12, 12), 2, (5, 5), 1, 2, 1, "5x5 sliding rows, multiplier 2"),
    ((1, 3, 5, 28), 1, (3, 3), 1, (0, 1), (1, 2), "3x3 sliding rows, dilation along W"),
    # stride 1 along H and W, zeros padding, 3x3/5x5/7x7: AVX-512's in-place path, walks of up to
    # 4 (3x3), 2 (5x5) or 1 (7x7) column vectors
    ((1, 2, 5, 112), 1, (3, 3), 1, 1, 1, "in place, 7 vectors: walks of 4 and 3"),
    ((2, 2, 6, 100), 2, (3, 3), 1, 1, 1, "in place, 7 vectors, the last partial, multiplier 2"),
    ((1, 3, 7, 40), 1, (5, 5), 1, 2, 1, "in place 5x5, 3 vectors: walks of 2 and 1"),
    ((1, 2, 9, 20), 1, (7, 7), 1, (3, 1), 1, "in place 7x7, padding only partly along W"),
    ((1, 2, 6, 33), 1, (3, 3), 1, 0, 1, "in place, no padding"),
    ((1, 2, 5, 50), 1, (3, 3), 1, (3, 4), (1, 3), "in place, padding past the kernel, dilation along W"),
]


@pytest.mark.parametrize("shape,mult,kernel,stride,padding,dilation,what", CASES,
                         ids=[f"{_id(c[0])}-m{c[1]}-k{_id(c[2])}-{c[6]}" for c in CASES])
def test_depthwise_shapes(backend, rng, shape, mult, kernel, stride, padding, dilation, what):
    _run(backend, rng, shape, mult, kernel, stride=stride, padding=padding, dilation=dilation)


# (shape, kernel, stride, padding, dilation) valid for every padding mode
MODE_CASES = [
    ((1, 2, 9), (3,), 1, 1, 1),
    ((1, 2, 6, 7), (3, 3), 1, 1, 1),
    ((1, 2, 7, 9), (3, 3), 2, 2, 1),
    ((1, 2, 8, 5), (3, 3), 3, (2, 4), 1),
    ((1, 2, 7, 17), (3, 5), 1, (2, 3), (2, 1)),
    ((1, 2, 4, 5, 6), (3, 3, 3), (1, 2, 1), (2, 1, 3), 1),
]


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,kernel,stride,padding,dilation", MODE_CASES,
                         ids=[f"{_id(c[0])}-k{_id(c[1])}-s{_id(c[2])}-p{_id(c[3])}" for c in MODE_CASES])
def test_depthwise_padding_modes(backend, rng, mode, shape, kernel, stride, padding, dilation):
    _run(backend, rng, shape, 2, kernel, stride=stride, padding=padding, dilation=dilation, padding_mode=mode)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("kernel,dilation", [((2, 4), 1), ((4, 2), 2), ((3, 4), (1, 3))])
def test_depthwise_same_even_kernels(backend, rng, mode, kernel, dilation):
    _run(backend, rng, (1, 3, 8, 9), 1, kernel, padding="same", dilation=dilation, padding_mode=mode)


def test_depthwise_padding_as_large_as_the_input(backend, rng):
    # circular allows padding == size, reflect size - 1
    _run(backend, rng, (1, 2, 4, 5), 1, (9, 11), padding=(4, 5), padding_mode="circular")
    _run(backend, rng, (1, 2, 4, 5), 1, (7, 9), padding=(3, 4), padding_mode="reflect")
    _run(backend, rng, (1, 2, 3), 1, (7,), padding=3, padding_mode="replicate")
    # stride 3 splits the columns into 3 phases, copied a column past what the taps read: past the
    # reach of circular padding for the last phase (found by a random sweep under ASan)
    _run(backend, rng, (2, 2, 8), 2, (4,), stride=3, padding=7, padding_mode="circular")
    _run(backend, rng, (1, 2, 5, 8), 1, (2, 4), stride=(1, 3), padding=(1, 7), padding_mode="circular")


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_depthwise_epilogue(backend, rng, activation):
    _run(backend, rng, (2, 3, 9, 17), 2, (3, 3), stride=1, padding=1, bias=True, residual=True,
         activation=activation, negative_slope=0.2)
    _run(backend, rng, (1, 2, 7, 5), 1, (3, 3), stride=2, padding=1, bias=True, activation=activation)
    _run(backend, rng, (1, 2, 3, 4, 5), 1, (3, 3, 3), padding=1, residual=True, activation=activation)


@pytest.mark.parametrize("case", ["2d", "2d-stride2-reflect", "1d-dilated", "in-place-9-vectors", "3d-mult2",
                                  "epilogue"])
def test_depthwise_float64(backend, rng, case):
    f64 = np.float64
    if case == "2d":
        _run(backend, rng, (2, 3, 9, 17), 1, (3, 3), padding=1, dtype=f64)
    elif case == "2d-stride2-reflect":
        _run(backend, rng, (1, 2, 10, 33), 2, (3, 3), stride=2, padding=1, padding_mode="reflect", dtype=f64)
    elif case == "1d-dilated":
        _run(backend, rng, (1, 2, 23), 3, (5,), stride=3, padding=4, dilation=2, dtype=f64)
    elif case == "in-place-9-vectors":  # 4 + 4 + 1 vectors of 8 doubles
        _run(backend, rng, (1, 2, 5, 70), 2, (3, 3), padding=1, dtype=f64, bias=True, residual=True,
             activation="relu6")
    elif case == "3d-mult2":
        _run(backend, rng, (1, 2, 4, 5, 6), 2, (3, 3, 3), stride=(1, 2, 1), padding=1, dtype=f64)
    else:
        _run(backend, rng, (1, 2, 6, 9), 1, (3, 3), padding=1, dtype=f64, bias=True, residual=True,
             activation="gelu")


@pytest.mark.parametrize("activation", ["relu", "relu6"])
def test_depthwise_nan_propagates(backend, rng, activation):
    """torch's relu and relu6 keep NaN (the vectorised epilogues must not clamp it to 0 or 6)."""
    x = rng.standard_normal((1, 2, 8, 9)).astype(np.float32)
    x[0, 1, 3, 4] = np.nan
    x[0, 0, 0, 0] = np.inf
    y = _run(backend, rng, x.shape, 1, (3, 3), padding=1, activation=activation, x=x)
    y = np.asarray(y)
    assert np.isnan(y[0, 1, 2:5, 3:6]).all() and not np.isnan(np.delete(y[0, 1], slice(2, 5), axis=0)).any()


def test_depthwise_non_contiguous_input(backend, rng):
    x = rng.standard_normal((2, 3, 10, 20)).astype(np.float32)[:, :, ::2, 1::2]
    _run(backend, rng, x.shape, 1, (3, 3), padding=1, x=x)


@pytest.mark.parametrize("mode", ["zeros", "reflect"])
def test_depthwise_many_small_planes(backend, rng, mode):
    """Small planes are grouped per work item (the last group of each image is partial); on
    AVX-512's in-place path (zeros) one call walks all of a thread's planes, and an activation
    it cannot apply in registers (sigmoid) runs over them all afterwards."""
    _run(backend, rng, (3, 37, 9, 9), 2, (3, 3), padding=1, padding_mode=mode, bias=True, residual=True,
         activation="leaky_relu")
    _run(backend, rng, (2, 12, 6, 6), 3, (3, 3), padding=1, padding_mode=mode, bias=True, residual=True,
         activation="sigmoid")
    _run(backend, rng, (2, 21, 14, 14), 1, (3, 3), stride=2, padding=1, padding_mode=mode, bias=True)
    _run(backend, rng, (2, 19, 7, 7), 3, (5, 5), padding=2, padding_mode=mode)


def test_depthwise_wide_rows_in_chunks(backend, rng):
    """Rows wider than the band buffer: the kernel cuts them into column chunks."""
    _run(backend, rng, (1, 1, 30000), 1, (7,), stride=1, padding=3, padding_mode="reflect")
    _run(backend, rng, (1, 2, 3, 9000), 1, (3, 3), stride=2, padding=1, dtype=np.float64)
    _run(backend, rng, (1, 1, 2, 5000), 2, (3, 5), stride=(1, 3), padding=2, dilation=(1, 2),
         padding_mode="circular")


def test_depthwise_tall_planes_in_bands(backend, rng):
    """Planes taller than the band buffer: bands of rows with their halo, every padding mode."""
    for mode in ("zeros", "reflect", "replicate", "circular"):
        _run(backend, rng, (1, 2, 300, 40), 1, (3, 3), stride=(1, 2), padding=1, padding_mode=mode)
    _run(backend, rng, (1, 1, 700, 3), 1, (5, 3), stride=1, padding=(2, 1), dilation=(3, 1))
    # the in-place path's bands (a single plane split between the threads), with the epilogue
    _run(backend, rng, (1, 1, 301, 40), 1, (3, 3), padding=1, bias=True, residual=True, activation="leaky_relu")
    _run(backend, rng, (1, 1, 90, 9), 1, (7, 7), padding=3, bias=True, activation="sigmoid")
    # rows of 1 KB or more: the in-place path's bands of 8 rows (the last one shorter)
    _run(backend, rng, (1, 1, 21, 300), 1, (3, 3), padding=1, bias=True, residual=True, activation="relu6")
    _run(backend, rng, (1, 2, 19, 260), 2, (5, 5), padding=2)
    _run(backend, rng, (1, 1, 17, 140), 1, (7, 7), padding=(3, 2), dtype=np.float64)


def test_depthwise_two_threads(backend, rng):
    """Large enough for the parallel path: planes split between threads, and a single plane split
    into bands."""
    _run(backend, rng, (2, 16, 64, 64), 1, (3, 3), padding=1, bias=True, activation="relu")
    _run(backend, rng, (1, 1, 400, 400), 1, (3, 3), stride=1, padding=1, padding_mode="replicate")
    _run(backend, rng, (1, 1, 200000), 2, (7,), padding=3)


def test_depthwise_in_place_path_taken(rng):
    """On AVX-512 a stride-1, zeros-padded 3x3 layer takes the in-place path, whose sums start from
    the bias; the band path (AVX2) adds the bias last. Every case above runs under both ISAs and
    is checked against the reference; here, that they really are two paths (the two results are
    not bit-equal: another summation order)."""
    from pydeepkit import _ext
    if not {"avx512", "avx2"} <= set(cpu_isas()):
        pytest.skip("needs a CPU with AVX-512 and AVX2")
    cpu = _ext.module("cpu")
    x = rng.standard_normal((2, 8, 20, 37)).astype(np.float32)
    w = rng.standard_normal((8, 1, 3, 3)).astype(np.float32)
    b = (rng.standard_normal(8) * 100).astype(np.float32)  # a large bias: every sum rounds differently
    previous = cpu.info()["simd"]
    results = {}
    try:
        for isa in ("avx512", "avx2"):
            cpu.set_simd(isa)
            results[isa] = ops.conv2d(x, w, b, padding=1, groups=8, backend="cpu")
    finally:
        cpu.set_simd(previous)
    assert not np.array_equal(results["avx512"], results["avx2"])
    np.testing.assert_allclose(results["avx512"], results["avx2"], rtol=1e-5, atol=1e-4)


def test_depthwise_huge_kernel_scalar_path(backend, rng):
    """More taps than the band buffer takes: the scalar fallback, with every padding mode."""
    _run(backend, rng, (1, 2, 26, 27), 1, (23, 25), padding=(11, 12), bias=True, activation="tanh")
    _run(backend, rng, (1, 1, 30, 30), 2, (23, 23), stride=2, padding=11, padding_mode="reflect")
    _run(backend, rng, (1, 1, 40, 40), 1, (3, 3), padding=30, dilation=30)


def test_depthwise_empty_batch(backend, rng):
    x = np.zeros((0, 3, 5, 5), np.float32)
    w = rng.standard_normal((6, 1, 3, 3)).astype(np.float32)
    y = ops.conv2d(backend.asarray(x), backend.asarray(w), padding=1, groups=3, backend=backend.name)
    assert tuple(y.shape) == (0, 6, 5, 5)


def test_depthwise_random_sweep(backend):
    """Seeded random shapes, strides, dilations, paddings (up to each mode's limit), multipliers,
    epilogues and dtypes: the corners the listed cases miss. CI also runs this file under ASan,
    where reads past the input by the band copy (not visible in the results) fail."""
    rng = np.random.default_rng(20240611)
    modes = ["zeros", "reflect", "replicate", "circular"]
    ran = 0
    while ran < 60:
        n = int(rng.integers(1, 4))
        size = tuple(int(rng.integers(1, 16 if n < 3 else 7)) for _ in range(n))
        kernel = tuple(int(rng.integers(1, 6)) for _ in range(n))
        stride = tuple(int(rng.integers(1, 4)) for _ in range(n))
        dilation = tuple(int(rng.integers(1, 3)) for _ in range(n))
        mode = modes[int(rng.integers(0, 4))]
        limits = [6 if mode == "zeros" else s - 1 if mode == "reflect" else s for s in size]
        padding = tuple(int(rng.integers(0, max(lim, 0) + 1)) for lim in limits)
        padded = [s + 2 * p - d * (k - 1) for s, p, d, k in zip(size, padding, dilation, kernel)]
        if min(padded) < 1:
            continue
        ran += 1
        dtype = np.float32 if rng.random() < 0.7 else np.float64
        _run(backend, rng, (int(rng.integers(1, 3)), int(rng.integers(1, 5))) + size, int(rng.integers(1, 4)),
             kernel, stride=stride, padding=padding, dilation=dilation, padding_mode=mode, dtype=dtype,
             bias=bool(rng.random() < 0.5), residual=bool(rng.random() < 0.5),
             activation=ACTIVATIONS[int(rng.integers(0, len(ACTIVATIONS)))])
