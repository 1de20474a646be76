"""CUDA tiled GEMM (csrc/gemm/gemm_cuda.cu) on the emulator and, when present, a GPU.

Reference: ``pydeepkit.reference.gemm.gemm`` (float64). Inputs are dyadic (small integers / 4), so
every product and partial sum is exact in float32 and the matmul part does not depend on the
summation order: any tiling, edge or staging bug shows, and the default tolerances of
``assert_close`` only have to absorb the epilogue's rounding. One test uses normal random
data with an error bound instead. Sizes cover one block, several blocks with edges in M, N and K
(the float tile is 64x64x16, the double one 64x64x8), K = 1, K = 0 and empty outputs; every
emulated launch stays far below 1e6 thread-barrier events (256-thread blocks, <= 6 blocks,
<= 11 k-steps). This file must not need torch.
"""
from __future__ import annotations

import numpy as np
import pytest

import pydeepkit.ops as ops
from pydeepkit import _ext
from pydeepkit.reference.gemm import apply_activation, gemm as reference

from conftest import Backend, assert_close, require_backend, to_numpy

DTYPES = [np.float32, np.float64]
ACTIVATIONS = [None, "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "relu6"]
# (M, N, K, what the case covers)
SHAPES = [
    (1, 1, 1, "one element"),
    (67, 45, 83, "edges in M, N and K, several k-steps"),
    (130, 70, 33, "3x2 blocks, edges everywhere"),
    (64, 64, 16, "exactly one float tile"),
    (70, 130, 1, "K = 1"),
    (9, 70, 0, "K = 0: act(bias + residual)"),
]
MAIN = (67, 45, 83)
SHAPE_IDS = [f"{m}x{n}x{k}" for m, n, k, _ in SHAPES]


@pytest.fixture(params=["emu", "cuda"])
def bk(request):
    """The CUDA-model backends: emu (numpy arrays) and cuda (cupy, skipped without a GPU)."""
    require_backend(request.param)
    return Backend(request.param)


def dyadic(rng, shape, dtype):
    """Values in {-1, -0.75, ..., 1}: exact products and sums in float32 for these sizes."""
    return (rng.integers(-4, 5, size=shape) / 4).astype(dtype)


def operand(rng, shape, dtype, layout):
    """A [rows, cols] operand as a row-major array ("n"), the transpose of a [cols, rows] one ("t"),
    or a column slice of a wider array ("s": row stride > row length)."""
    rows, cols = shape
    if layout == "t":
        return np.ascontiguousarray(dyadic(rng, (cols, rows), dtype)).T
    if layout == "s":
        return dyadic(rng, (rows, cols + 5), dtype)[:, 2:cols + 2]
    return dyadic(rng, shape, dtype)


def run(bk, a, b, **kw):
    """ops.gemm on backend bk with numpy inputs (None stays None); numpy result."""
    args = {k: (bk.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    return to_numpy(ops.gemm(bk.asarray(a), bk.asarray(b), **args, **bk.kw))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("M,N,K,what", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("epilogue", ["plain", "bias+residual"])
def test_shapes(bk, rng, M, N, K, what, dtype, epilogue):
    a, b = dyadic(rng, (M, K), dtype), dyadic(rng, (K, N), dtype)
    kw = {}
    if epilogue != "plain":
        kw = {"bias": dyadic(rng, (N,), dtype), "residual": dyadic(rng, (M, N), dtype)}
    assert_close(run(bk, a, b, **kw), reference(a, b, **kw), err_msg=f"{M}x{N}x{K} {what} {epilogue}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout", ["nt", "tn", "tt", "sn", "ns", "st"])
@pytest.mark.parametrize("M,N,K", [MAIN, (130, 70, 33), (1, 1, 1)], ids=lambda s: str(s))
def test_layouts(bk, rng, M, N, K, layout, dtype):
    """Transposed views (trans_a / trans_b) and row strides > row length, without copies."""
    a = operand(rng, (M, K), dtype, layout[0])
    b = operand(rng, (K, N), dtype, layout[1])
    bias = dyadic(rng, (N,), dtype)
    assert_close(run(bk, a, b, bias=bias, activation="tanh"), reference(a, b, bias=bias, activation="tanh"),
                 err_msg=f"{M}x{N}x{K} layout {layout}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=str)
@pytest.mark.parametrize("M,N,K", [MAIN, (9, 70, 0)], ids=lambda s: str(s))
def test_activations(bk, rng, M, N, K, activation, dtype):
    # Scaled down so the pre-activations sit in the interesting range of sigmoid/tanh/gelu.
    a, b = dyadic(rng, (M, K), dtype) / 4, dyadic(rng, (K, N), dtype)
    bias, residual = dyadic(rng, (N,), dtype), dyadic(rng, (M, N), dtype)
    kw = dict(bias=bias, residual=residual, activation=activation, negative_slope=0.125)
    assert_close(run(bk, a, b, **kw), reference(a, b, **kw), err_msg=f"{M}x{N}x{K} {activation}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_random_normal_data(bk, rng, dtype):
    """Inexact data: the error stays within a forward bound of a K-term dot product."""
    M, N, K = 130, 70, 33
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    bias, residual = rng.standard_normal(N).astype(dtype), rng.standard_normal((M, N)).astype(dtype)
    out = run(bk, a, b, bias=bias, residual=residual, activation="gelu")
    expected = reference(a, b, bias=bias, residual=residual, activation="gelu").astype(np.float64)
    assert out.dtype == dtype and out.shape == (M, N)
    magnitude = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64)) + np.abs(bias) + np.abs(residual)
    bound = 2 * (K + 4) * np.finfo(dtype).eps * (magnitude + np.abs(expected))
    err = np.abs(out - expected)
    assert (err <= bound).all(), f"max error {err.max()} (bound there {bound.flat[err.argmax()]})"


@pytest.mark.parametrize("M,N", [(0, 5), (4, 0), (0, 0)])
def test_empty_output(bk, M, N):
    a, b = np.ones((M, 3), np.float32), np.ones((3, N), np.float32)
    out = run(bk, a, b, bias=np.ones(N, np.float32), activation="relu")
    assert out.shape == (M, N) and out.dtype == np.float32


# ---------------------------------------------------------------------------------------
# entry-point features ops.gemm does not expose: per-row bias, C aliasing the residual
# ---------------------------------------------------------------------------------------
def raw_gemm(bk, a, b, c, *, bias=None, bias_mode=0, residual=None, activation=0, slope=0.01):
    """gemm_forward of the backend's extension on row-major arrays (a [M, K], b [K, N])."""
    ext = _ext.module(bk.name)

    def ptr(x):
        if x is None:
            return 0
        return int(x.data.ptr) if bk.name == "cuda" else x.ctypes.data

    (M, K), N = a.shape, b.shape[1]
    ext.gemm_forward(M, N, K, K, N, N, N if residual is not None else 0, False, False, bias_mode, activation,
                     slope, ptr(a), ptr(b), ptr(bias), ptr(residual), ptr(c), 0 if c.dtype == np.float32 else 1, 0)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("M,N,K", [MAIN, (130, 70, 33), (9, 70, 0)], ids=lambda s: str(s))
def test_per_row_bias_and_residual_aliasing_c(bk, rng, M, N, K, dtype):
    """Per-row bias (conv as GEMM: rows are output channels), and C written over the residual."""
    a, b = dyadic(rng, (M, K), dtype), dyadic(rng, (K, N), dtype)
    bias, residual = dyadic(rng, (M,), dtype), dyadic(rng, (M, N), dtype)
    expected = apply_activation(a.astype(np.float64) @ b + bias[:, None] + residual, "relu").astype(dtype)
    da, db, dbias = bk.asarray(a), bk.asarray(b), bk.asarray(bias)
    c = bk.asarray(residual.copy())
    raw_gemm(bk, da, db, c, bias=dbias, bias_mode=2, residual=c, activation=1)
    assert_close(to_numpy(c), expected, err_msg="per-row bias, C == residual")


def test_entry_point_checks():
    require_backend("emu")
    emu = Backend("emu")
    a = b = c = np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError, match="bias"):
        raw_gemm(emu, a, b, c, bias_mode=1)  # a bias mode without a bias pointer
    ext = _ext.module("emu")
    with pytest.raises(ValueError, match="row strides"):
        ext.gemm_forward(2, 2, 2, 1, 2, 2, 0, False, False, 0, 0, 0.01, a.ctypes.data, b.ctypes.data, 0, 0,
                         c.ctypes.data, 0, 0)


# ---------------------------------------------------------------------------------------
# emulator schedules: a missing __syncthreads makes results depend on the thread order
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", ["forward", "reverse", "random", "random:7"])
def test_emu_schedules(rng, mode, dtype):
    require_backend("emu")
    emu = _ext.module("emu")
    bk = Backend("emu")
    M, N, K = 130, 70, 83
    cases = [(operand(rng, (M, K), dtype, la), operand(rng, (K, N), dtype, lb)) for la, lb in ("nn", "tt")]
    bias, residual = dyadic(rng, (N,), dtype), dyadic(rng, (M, N), dtype)
    emu.emu_set_schedule(mode)
    try:
        outs = [run(bk, a, b, bias=bias, residual=residual, activation="relu") for a, b in cases]
    finally:
        emu.emu_set_schedule("forward")
    assert emu.emu_info()["schedule"] == "forward"
    for (a, b), out in zip(cases, outs):
        assert_close(out, reference(a, b, bias=bias, residual=residual, activation="relu"), exact=True,
                     err_msg=f"schedule {mode}")
