"""Attention family: scaled_dot_product_attention (CPU and CUDA flash kernels) on every backend against the
numpy oracle of pydeepkit.reference.attention (batch dims, L != S, Ev != E, masks of each kind and
broadcast, causal with L < S and L > S, fully masked rows, dropout reproducibility, log-sum-exp,
strided and broadcast inputs, empty sizes, errors), multi_head_attention, additive_attention and
dot_attention; parity with torch (F.scaled_dot_product_attention, nn.MultiheadAttention); and a
memory test showing the CPU path never allocates the [L, S] scores. Emulated cases stay at a few
10^4 thread-barrier events."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import to_numpy
from pydeepkit import ops
from pydeepkit import reference as ref

DTYPES = (np.float32, np.float64)
TOL = {np.float32: dict(rtol=3e-5, atol=3e-6), np.float64: dict(rtol=1e-11, atol=1e-12)}


def close(got, want, dtype, msg=""):
    got = to_numpy(got)
    assert got.dtype == np.dtype(dtype), f"{msg}: dtype {got.dtype}"
    assert got.shape == want.shape, f"{msg}: shape {got.shape}, expected {want.shape}"
    np.testing.assert_allclose(got, want, equal_nan=True, err_msg=msg, **TOL[np.dtype(dtype).type])


def qkv(rng, batch, L, S, E, Ev, dtype):
    return (rng.standard_normal(batch + (L, E)).astype(dtype), rng.standard_normal(batch + (S, E)).astype(dtype),
            rng.standard_normal(batch + (S, Ev)).astype(dtype))


def runs_dtype(backend, dtype):
    """float64 runs on the CPU only; elsewhere it must be refused with a TypeError naming the dtype."""
    if backend.name == "cpu" or dtype == np.float32:
        return True
    q = np.ones((1, 2, 4), dtype)
    with pytest.raises(TypeError, match="float32"):
        ops.scaled_dot_product_attention(q, q, q, **backend.kw)
    return False


# ---------------------------------------------------------------------------------------
# scaled_dot_product_attention vs the reference, every backend
# ---------------------------------------------------------------------------------------
# (batch, L, S, E, Ev): CPU tiles are 64 queries x 128 keys, CUDA tiles 32 x 32.
SHAPES = [((2, 3), 37, 45, 20, 13), ((), 70, 33, 16, 16), ((3,), 5, 131, 9, 40), ((1, 2), 1, 1, 1, 1),
          ((2,), 66, 66, 33, 70)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("batch,L,S,E,Ev", SHAPES)
def test_sdpa_matches_reference(backend, dtype, batch, L, S, E, Ev):
    if not runs_dtype(backend, dtype):
        return
    rng = np.random.default_rng(L * 1000 + S)
    q, k, v = qkv(rng, batch, L, S, E, Ev, dtype)
    for causal in (False, True):
        got, lse = ops.scaled_dot_product_attention(q, k, v, is_causal=causal, return_lse=True, **backend.kw)
        want, want_lse = ref.scaled_dot_product_attention(q, k, v, is_causal=causal, return_lse=True)
        close(got, want, dtype, f"{backend} causal={causal}")
        close(lse, want_lse, dtype, f"{backend} lse causal={causal}")
    got = ops.scaled_dot_product_attention(q, k, v, scale=0.37, **backend.kw)
    close(got, ref.scaled_dot_product_attention(q, k, v, scale=0.37), dtype, "scale")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_sdpa_masks(backend, dtype):
    """Boolean and float masks of every broadcast shape, fully masked rows (0, lse -inf)."""
    if not runs_dtype(backend, dtype):
        return
    rng = np.random.default_rng(5)
    B, H, L, S, E = 2, 3, 35, 40, 12
    q, k, v = qkv(rng, (B, H), L, S, E, 7, dtype)
    bool_ls = rng.random((L, S)) > 0.3
    bool_ls[4] = False  # a fully masked row
    padding = np.ones((B, 1, 1, S), bool)
    padding[1, 0, 0, 20:] = False
    float_full = (rng.standard_normal((B, H, L, S)) * 2).astype(dtype)
    float_full[0, 1, 7] = -np.inf  # a fully masked row of a float mask
    masks = {"bool [L,S]": bool_ls, "bool [B,1,1,S]": padding, "float [B,H,L,S]": float_full,
             "float [S]": rng.standard_normal(S).astype(dtype), "bool [B,1,L,1]": rng.random((B, 1, L, 1)) > 0.2,
             "float [H,1,S] strided": rng.standard_normal((H, 1, 2 * S)).astype(dtype)[..., ::2]}
    for name, mask in masks.items():
        got, lse = ops.scaled_dot_product_attention(q, k, v, attn_mask=mask, return_lse=True, **backend.kw)
        want, want_lse = ref.scaled_dot_product_attention(q, k, v, attn_mask=mask, return_lse=True)
        close(got, want, dtype, f"{backend} {name}")
        close(lse, want_lse, dtype, f"{backend} lse {name}")
    got = to_numpy(ops.scaled_dot_product_attention(q, k, v, attn_mask=bool_ls, **backend.kw))
    assert (got[:, :, 4] == 0).all()


def test_sdpa_strided_and_broadcast_inputs(backend):
    """Head-interleaved [L, B, H, E] views (no copy needed), broadcast batch dims, a column-strided key."""
    rng = np.random.default_rng(6)
    L, S, B, H, E = 19, 23, 2, 3, 8
    qb = rng.standard_normal((L, B, H, E)).astype(np.float32)
    kb = rng.standard_normal((S, B, H, 2 * E)).astype(np.float32)
    vb = rng.standard_normal((S, B, H, E)).astype(np.float32)
    q, k, v = qb.transpose(1, 2, 0, 3), kb.transpose(1, 2, 0, 3)[..., ::2], vb.transpose(1, 2, 0, 3)
    got = ops.scaled_dot_product_attention(q, k, v, **backend.kw)
    close(got, ref.scaled_dot_product_attention(q, k, v), np.float32, "strided")
    # key/value shared by every head and batch element, queries [5, B, H, L, E]
    q5 = rng.standard_normal((5, B, 1, L, E)).astype(np.float32)
    k1, v1 = k[0, :1], v[0, :1]
    got = ops.scaled_dot_product_attention(q5, k1, v1, attn_mask=rng.random((H, 1, S)) > 0.5, **backend.kw)
    assert to_numpy(got).shape == (5, B, H, L, E)
    mask = rng.random((H, 1, S)) > 0.5
    close(ops.scaled_dot_product_attention(q5, k1, v1, attn_mask=mask, **backend.kw),
          ref.scaled_dot_product_attention(q5, k1, v1, attn_mask=mask), np.float32, "broadcast")
    # six batch dims that cannot merge
    q6 = rng.standard_normal((2, 1, 2, 1, 2, 3, 4, 5)).astype(np.float32).transpose(0, 2, 1, 4, 3, 5, 6, 7)
    k6 = rng.standard_normal((2, 2, 1, 2, 1, 3, 6, 5)).astype(np.float32)
    close(ops.scaled_dot_product_attention(q6, k6, k6, **backend.kw), ref.scaled_dot_product_attention(q6, k6, k6),
          np.float32, "six batch dims")


def test_sdpa_dropout(backend):
    """Same seed -> same result on every backend, equal to the oracle's hash; p = 1 gives zeros."""
    rng = np.random.default_rng(7)
    q, k, v = qkv(rng, (2, 2), 33, 41, 8, 6, np.float32)
    got = ops.scaled_dot_product_attention(q, k, v, dropout_p=0.3, generator=1234, **backend.kw)
    want = ref.scaled_dot_product_attention(q, k, v, dropout_p=0.3, generator=1234)
    close(got, want, np.float32, "dropout")
    again = ops.scaled_dot_product_attention(q, k, v, dropout_p=0.3, generator=1234, **backend.kw)
    assert np.array_equal(to_numpy(got), to_numpy(again))
    other = ops.scaled_dot_product_attention(q, k, v, dropout_p=0.3, generator=1235, **backend.kw)
    assert not np.allclose(to_numpy(got), to_numpy(other))
    got = ops.scaled_dot_product_attention(q, k, v, dropout_p=0.5, is_causal=True,
                                           generator=np.random.default_rng(3), **backend.kw)
    close(got, ref.scaled_dot_product_attention(q, k, v, dropout_p=0.5, is_causal=True,
                                                generator=int(np.random.default_rng(3).integers(2 ** 63))),
          np.float32, "dropout causal")
    assert not to_numpy(ops.scaled_dot_product_attention(q, k, v, dropout_p=1.0, **backend.kw)).any()


def test_dropout_keeps_expected_share():
    keep = ref.dropout_keep(np, 99, (64, 512, 512), 0.25)
    assert abs(keep.mean() - 0.75) < 2e-3


@pytest.mark.parametrize("shape", [((0, 2), 5, 6), ((2,), 0, 6), ((2,), 5, 0)], ids=["batch0", "L0", "S0"])
def test_sdpa_empty(backend, shape):
    batch, L, S = shape
    q, k, v = (np.ones(batch + (n, 4), np.float32) for n in (L, S, S))
    got, lse = ops.scaled_dot_product_attention(q, k, v, return_lse=True, **backend.kw)
    assert to_numpy(got).shape == batch + (L, 4) and to_numpy(lse).shape == batch + (L,)
    assert not to_numpy(got).any()
    assert np.isneginf(to_numpy(lse)).all()


def test_sdpa_errors(host_backend):
    kw = dict(backend=host_backend)
    q = np.zeros((2, 3, 4), np.float32)
    sdpa = ops.scaled_dot_product_attention
    with pytest.raises(ValueError, match="key must be"):
        sdpa(q, np.zeros((2, 3, 5), np.float32), q, **kw)
    with pytest.raises(ValueError, match="one sequence length"):
        sdpa(q, q, np.zeros((2, 4, 4), np.float32), **kw)
    with pytest.raises(TypeError, match="one dtype"):
        sdpa(q, q.astype(np.float64), q, **kw)
    with pytest.raises(ValueError, match="does not broadcast"):
        sdpa(q, q, q, attn_mask=np.ones((2, 3), bool), **kw)
    with pytest.raises(ValueError, match="do not broadcast"):
        sdpa(q, np.zeros((3, 3, 4), np.float32), np.zeros((3, 3, 4), np.float32), **kw)
    with pytest.raises(ValueError, match="is_causal"):
        sdpa(q, q, q, attn_mask=np.ones((3, 3), bool), is_causal=True, **kw)
    with pytest.raises(ValueError, match="dropout_p"):
        sdpa(q, q, q, dropout_p=1.5, **kw)
    with pytest.raises(TypeError, match="query's dtype"):
        sdpa(q, q, q, attn_mask=np.ones((3, 3), np.float64), **kw)
    with pytest.raises(TypeError, match="attn_mask must have dtype"):
        sdpa(q, q, q, attn_mask=np.ones((3, 3), np.int32), **kw)
    with pytest.raises(ValueError, match="at least 2 dims"):
        sdpa(np.zeros(4, np.float32), q, q, **kw)
    with pytest.raises(TypeError, match="generator"):
        sdpa(q, q, q, dropout_p=0.1, generator="seed", **kw)
    if host_backend == "emu":
        big = np.zeros((1, 2, 129), np.float32)
        with pytest.raises(ValueError, match="head dims up to 128"):
            sdpa(big, big, big, **kw)


def test_workspace_does_not_grow_with_sequence_length():
    small = ops.attention_workspace_bytes(128, 128, 64)
    assert ops.attention_workspace_bytes(16384, 16384, 64) == small
    assert small < 2 ** 20  # a few 64 x 128 tiles per thread, nowhere near 16384^2 scores (1 GiB)


def test_cpu_memory_at_long_sequences():
    """L = S = 16384 (1 GiB of float32 scores if they were formed) raises the peak RSS by < 64 MiB."""
    script = textwrap.dedent("""
        import resource, numpy as np
        from pydeepkit import ops
        L, E = 16384, 8
        rng = np.random.default_rng(0)
        q, k, v = (rng.standard_normal((1, L, E)).astype(np.float32) for _ in range(3))
        out = np.empty((1, L, E), np.float32)
        ops.scaled_dot_product_attention(q[:, :64], k[:, :128], v[:, :128])  # load the extension
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out = ops.scaled_dot_product_attention(q, k, v, is_causal=True)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert np.isfinite(out).all()
        print((after - before) * 1024)
    """)
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert proc.returncode == 0, proc.stderr
    grown = int(proc.stdout.split()[-1])
    assert grown < 64 * 2 ** 20, f"peak RSS grew by {grown / 2 ** 20:.1f} MiB"


# ---------------------------------------------------------------------------------------
# parity with torch
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("E", [16, 33, 64, 80, 127, 128])
def test_sdpa_parity_torch_head_dims(E):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    g = torch.Generator().manual_seed(E)
    q, k, v = (torch.randn(2, 3, n, E, generator=g) for n in (67, 131, 131))
    mask = torch.rand(67, 131, generator=g) > 0.4
    mask[3] = False
    for kw in (dict(), dict(is_causal=True), dict(attn_mask=mask), dict(attn_mask=torch.randn(2, 1, 67, 131, generator=g))):
        want = F.scaled_dot_product_attention(q, k, v, **kw)
        got = ops.scaled_dot_product_attention(q, k, v, **kw)
        assert isinstance(got, torch.Tensor)
        torch.testing.assert_close(got, want, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("L,S", [(50, 130), (140, 20), (65, 64)])
def test_sdpa_parity_torch_causal_and_float64(L, S):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    g = torch.Generator().manual_seed(L)
    q, k, v = (torch.randn(2, n, d, generator=g, dtype=torch.float64) for n, d in ((L, 24), (S, 24), (S, 17)))
    torch.testing.assert_close(ops.scaled_dot_product_attention(q, k, v, is_causal=True),
                               F.scaled_dot_product_attention(q, k, v, is_causal=True), rtol=1e-11, atol=1e-12)
    pad = torch.ones(2, 1, S, dtype=torch.bool)
    pad[1, :, S // 2:] = False
    bias = torch.zeros(L, S, dtype=torch.float64)
    bias[::3] = -torch.inf  # fully masked rows of a float mask
    for mask in (pad, bias):
        torch.testing.assert_close(ops.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.2),
                                   F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.2),
                                   rtol=1e-11, atol=1e-12)
