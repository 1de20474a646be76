"""GEMM family: ``ops.gemm`` (act(a @ b + bias + residual)) on every backend against numpy.

The reference is a @ b in float64 followed by the epilogue. float32 results are compared with a
bound that grows with K (each output is a K-term dot product). Shapes given to the backend
fixture stay small (the emulator runs them too); the blocking tests (several K, M and N cache
blocks, the thread grid) run on the CPU backend only, under every ISA.
"""
from __future__ import annotations

import numpy as np
import pytest

import pydeepkit.ops as ops
from pydeepkit.reference.gemm import gemm as reference_gemm

from conftest import assert_sum_close, cpu_isas, to_numpy

DTYPES = [np.float32, np.float64]
ACTIVATIONS = [None, "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "relu6"]


def reference(a, b, bias=None, residual=None, activation=None, negative_slope=0.01):
    """The package's oracle (pydeepkit.reference.gemm) on float64 inputs: the unrounded result."""
    def f64(v):
        return None if v is None else np.asarray(v, np.float64)
    return reference_gemm(f64(a), f64(b), f64(bias), activation, negative_slope=negative_slope, residual=f64(residual))


def check(actual, a, b, bias=None, residual=None, activation=None, negative_slope=0.01, dtype=np.float32):
    """Compares with the reference; the float32 bound scales with K and the magnitudes summed."""
    expected = reference(a, b, bias, residual, activation, negative_slope)
    mag = np.abs(np.asarray(a, np.float64)) @ np.abs(np.asarray(b, np.float64))
    if bias is not None:
        mag = mag + np.abs(np.asarray(bias, np.float64))[None, :]
    if residual is not None:
        mag = mag + np.abs(np.asarray(residual, np.float64))
    assert_sum_close(actual, expected, mag, np.asarray(a).shape[1], dtype)


def run(bk, *args, **kwargs):
    """ops.gemm on backend bk."""
    return ops.gemm(*args, **kwargs, **bk.kw)


def _arrays(rng, dtype, *shapes):
    return [rng.uniform(-1, 1, size=s).astype(dtype) for s in shapes]


# ---------------------------------------------------------------------------------------
# shapes
# ---------------------------------------------------------------------------------------
SHAPES = [  # (M, N, K)
    (1, 1, 1),
    (67, 45, 83),
    (1000, 3, 5),   # tall-skinny
    (3, 70, 40),    # short-wide: N split between threads
    (17, 33, 1),    # K = 1
    (16, 64, 64),   # whole tiles
    (29, 31, 0),    # K = 0: act(bias + residual)
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("M,N,K", SHAPES, ids=lambda v: str(v))
def test_shapes(backend, rng, M, N, K, dtype):
    a, b = _arrays(rng, dtype, (M, K), (K, N))
    check(run(backend, backend.asarray(a), backend.asarray(b)), a, b, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_k0_epilogue(backend, rng, dtype):
    a, b = np.zeros((5, 0), dtype), np.zeros((0, 7), dtype)
    bias, res = _arrays(rng, dtype, (7,), (5, 7))
    out = run(backend, backend.asarray(a), backend.asarray(b), backend.asarray(bias), "tanh",
              residual=backend.asarray(res))
    check(out, a, b, bias, res, "tanh", dtype=dtype)


@pytest.mark.parametrize("M,N", [(0, 5), (4, 0), (0, 0)])
def test_empty(backend, M, N):
    a, b = np.zeros((M, 3), np.float32), np.zeros((3, N), np.float32)
    out = to_numpy(run(backend, backend.asarray(a), backend.asarray(b)))
    assert out.shape == (M, N) and out.dtype == np.float32


# ---------------------------------------------------------------------------------------
# layouts: transposed views, strided views
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("ta,tb", [(False, True), (True, False), (True, True)], ids=["bT", "aT", "aTbT"])
def test_transposed_views(backend, rng, ta, tb, dtype):
    M, N, K = 37, 41, 53
    a = rng.uniform(-1, 1, size=(K, M) if ta else (M, K)).astype(dtype)
    b = rng.uniform(-1, 1, size=(N, K) if tb else (K, N)).astype(dtype)
    av, bv = (a.T if ta else a), (b.T if tb else b)
    assert not (ta and av.flags.c_contiguous)
    check(run(backend, backend.asarray(av) if backend.name == "cuda" else av,
              backend.asarray(bv) if backend.name == "cuda" else bv), av, bv, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_strided_views(backend, rng, dtype):
    big_a, big_b = _arrays(rng, dtype, (60, 90), (80, 70))
    cases = [
        (big_a[:23, :31], big_b[:31, :19]),            # row strides > row length (lda, ldb)
        (big_a[::2, ::3], big_b[:30, ::2]),            # element strides: copied by the op
        (big_a[:40, 5:30].T, big_b[3:43, 1:60:2]),     # transposed slice with a row stride
    ]
    for a, b in cases:
        check(run(backend, a, b), a, b, dtype=dtype)


# ---------------------------------------------------------------------------------------
# epilogue: every activation x bias x residual
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("use_residual", [False, True], ids=["", "res"])
@pytest.mark.parametrize("use_bias", [False, True], ids=["", "bias"])
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=str)
def test_epilogue(backend, rng, activation, use_bias, use_residual, dtype):
    M, N, K = 33, 71, 29  # full register tiles (epilogue in registers on the CPU) and edge tiles
    a, b, bias, res = _arrays(rng, dtype, (M, K), (K, N), (N,), (M, N))
    a *= 2  # values of a @ b spread over [-5, 5]: every activation's regions are hit
    bias = bias if use_bias else None
    res = res if use_residual else None
    x = backend.asarray
    out = run(backend, x(a), x(b), None if bias is None else x(bias), activation, negative_slope=0.2,
              residual=None if res is None else x(res))
    check(out, a, b, bias, res, activation, 0.2, dtype=dtype)


@pytest.mark.parametrize("activation", ["relu", "relu6", "leaky_relu"])
@pytest.mark.parametrize("shape", [(2, 2), (40, 70)], ids=["edge", "full-tiles"])
def test_nan_propagates(backend, activation, shape):
    """NaN rows stay NaN through the clamping activations, as torch's (edge tiles and full tiles:
    the CPU applies the epilogue to full tiles in registers)."""
    M, N = shape
    a = np.ones((M, 2), np.float32)
    a[0, 0] = a[M - 1, 1] = np.nan
    b = np.ones((2, N), np.float32)
    out = to_numpy(run(backend, backend.asarray(a), backend.asarray(b), activation=activation))
    assert np.isnan(out[0]).all() and np.isnan(out[M - 1]).all() and (out[1:M - 1] == 2).all()


# ---------------------------------------------------------------------------------------
# blocking (CPU only: several cache blocks along K, M and N, thread grid, every ISA)
# ---------------------------------------------------------------------------------------
@pytest.fixture(params=cpu_isas() or ["none"])
def cpu_isa(request):
    """Runs the test with the CPU kernels of each instruction set the machine has (restored after)."""
    from pydeepkit import _ext
    if request.param == "none":
        pytest.skip("no CPU backend")
    cpu = _ext.module("cpu")
    previous = cpu.info()["simd"]
    cpu.set_simd(request.param)
    try:
        yield request.param
    finally:
        cpu.set_simd(previous)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("M,N,K,tb", [
    (130, 150, 700, False),   # several K blocks (epilogue only after the last)
    (1500, 40, 70, True),     # several M blocks per thread
    (5, 9000, 30, False),     # several N blocks, M smaller than one tile
    (257, 263, 269, True),    # every edge at once
], ids=str)
def test_blocking(rng, cpu_isa, M, N, K, tb, dtype):
    a, bias, res = _arrays(rng, dtype, (M, K), (N,), (M, N))
    b = rng.uniform(-1, 1, size=(N, K) if tb else (K, N)).astype(dtype)
    bv = b.T if tb else b
    out = ops.gemm(a, bv, bias, "gelu", residual=res, backend="cpu")
    check(out, a, bv, bias, res, "gelu", dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("M", [1, 2, 3, 4, 5, 7, 8, 9])
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)],
                         ids=["", "bT", "aT", "aTbT"])
def test_small_m(rng, cpu_isa, M, ta, tb, dtype):
    """M <= 8 takes the unpacked small-M path (Linear at batch 1): B layouts, A layouts, K and N
    tails of every vector width (N = 70 and K = 37: not multiples of 8 or 16; N = 3000 spans
    several parallel column chunks), with the whole epilogue; M = 9 is the packed path beside it."""
    for N, K in ((70, 37), (3000, 130), (1, 1)):
        a = rng.uniform(-1, 1, size=(K, M) if ta else (M, K)).astype(dtype)
        b = rng.uniform(-1, 1, size=(N, K) if tb else (K, N)).astype(dtype)
        bias, res = _arrays(rng, dtype, (N,), (M, N))
        av, bv = (a.T if ta else a), (b.T if tb else b)
        out = ops.gemm(av, bv, bias, "leaky_relu", negative_slope=0.1, residual=res, backend="cpu")
        check(out, av, bv, bias, res, "leaky_relu", 0.1, dtype=dtype)
        check(ops.gemm(av, bv, backend="cpu"), av, bv, dtype=dtype)


# ---------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------
def test_errors(host_backend):
    kw = {"backend": host_backend}
    a, b = np.ones((3, 4), np.float32), np.ones((5, 6), np.float32)
    with pytest.raises(ValueError, match=r"a is \[M, K\].*b must be \[K, N\]"):
        ops.gemm(a, b, **kw)
    with pytest.raises(TypeError, match="a and b must have one dtype"):
        ops.gemm(a, np.ones((4, 6), np.float64), **kw)
    with pytest.raises(ValueError, match=r"bias must be \[N\]"):
        ops.gemm(a, np.ones((4, 6), np.float32), np.ones(5, np.float32), **kw)
    with pytest.raises(ValueError, match=r"bias must be \[N\]"):
        ops.gemm(a, np.ones((4, 6), np.float32), np.ones(6, np.float64), **kw)
    with pytest.raises(ValueError, match=r"residual must be \[M, N\]"):
        ops.gemm(a, np.ones((4, 6), np.float32), residual=np.ones((6, 3), np.float32), **kw)
    with pytest.raises(ValueError, match="activation must be one of"):
        ops.gemm(a, np.ones((4, 6), np.float32), activation="swish", **kw)
    with pytest.raises(ValueError, match="b must be 2-d"):
        ops.gemm(a, np.ones(4, np.float32), **kw)


# ---------------------------------------------------------------------------------------
# torch: parity and torch tensors in -> torch out
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_parity(rng, dtype):
    torch = pytest.importorskip("torch")
    tdt = getattr(torch, dtype)
    x = torch.from_numpy(rng.uniform(-1, 1, size=(33, 48))).to(tdt)
    w = torch.from_numpy(rng.uniform(-1, 1, size=(21, 48))).to(tdt)   # Linear weight [out, in]
    bias = torch.from_numpy(rng.uniform(-1, 1, size=(21,))).to(tdt)
    out = ops.gemm(x, w.T, bias, "relu")
    assert isinstance(out, torch.Tensor) and out.dtype == tdt and out.shape == (33, 21)
    expected = torch.relu(torch.nn.functional.linear(x, w, bias))
    rtol, atol = (1e-5, 1e-5) if dtype == "float32" else (1e-12, 1e-12)
    torch.testing.assert_close(out, expected, rtol=rtol, atol=atol)
    y = torch.from_numpy(rng.uniform(-1, 1, size=(48, 17))).to(tdt)
    torch.testing.assert_close(ops.gemm(x, y), torch.matmul(x, y), rtol=rtol, atol=atol)
    res = torch.from_numpy(rng.uniform(-1, 1, size=(33, 17))).to(tdt)
    torch.testing.assert_close(ops.gemm(x, y, activation="gelu", residual=res),
                               torch.nn.functional.gelu(torch.matmul(x, y) + res), rtol=rtol, atol=atol)
