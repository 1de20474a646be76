"""Attention family: scaled_dot_product_attention (CPU and CUDA flash kernels) on every backend against the
numpy oracle of pydeepkit.reference.attention (batch dims, L != S, Ev != E, masks of each kind and
broadcast, causal with L < S and L > S, fully masked rows, dropout reproducibility, log-sum-exp,
strided and broadcast inputs, empty sizes, errors), multi_head_attention, additive_attention and
dot_attention; parity with torch (F.scaled_dot_product_attention, nn.MultiheadAttention); and a
memory test showing the CPU path never allocates the [L, S] scores. Emulated cases stay at a few
10^4 thread-barrier events."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from conftest import run_python, to_numpy
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


def test_sdpa_nan_inputs_give_nan_rows(backend):
    """A NaN in a query poisons that query's row; a NaN in a key or value poisons every row that sees it
    (as in torch and the oracle), and nothing else."""
    rng = np.random.default_rng(9)
    q, k, v = qkv(rng, (2,), 20, 70, 8, 5, np.float32)
    q[0, 3, 2] = np.nan
    k[1, 40, 0] = np.nan
    for causal in (False, True):
        got, lse = ops.scaled_dot_product_attention(q, k, v, is_causal=causal, return_lse=True, **backend.kw)
        want, want_lse = ref.scaled_dot_product_attention(q, k, v, is_causal=causal, return_lse=True)
        assert np.isnan(want[0, 3]).all() and np.isnan(want[1]).any() == (not causal)
        assert np.isnan(want_lse[0, 3]) and not np.isnan(want_lse[0, :3]).any()
        close(got, want, np.float32, f"{backend} causal={causal}")
        close(lse, want_lse, np.float32, f"{backend} lse causal={causal}")


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
    shorter = ops.attention.attention_workspace_bytes(2048, 2048, 64)
    assert ops.attention.attention_workspace_bytes(16384, 16384, 64) == shorter
    assert shorter < 2 ** 20  # 64 x (E + Ev + 128) tiles per thread, nowhere near 16384^2 scores (1 GiB)


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
    proc = run_python(code=script, timeout=600)
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


# ---------------------------------------------------------------------------------------
# multi_head_attention, additive_attention, dot_attention
# ---------------------------------------------------------------------------------------
def mha_params(rng, E, kdim=None, vdim=None, bias=True, dtype=np.float32):
    u = lambda *s: (rng.standard_normal(s) * 0.3).astype(dtype)  # noqa: E731
    p = {"out_proj.weight": u(E, E)}
    if kdim is None:
        p["in_proj_weight"] = u(3 * E, E)
    else:
        p.update(q_proj_weight=u(E, E), k_proj_weight=u(E, kdim), v_proj_weight=u(E, vdim))
    if bias:
        p.update({"in_proj_bias": u(3 * E), "out_proj.bias": u(E)})
    return p


MHA_CASES = {
    "self": dict(),
    "kdim/vdim, batch_first": dict(kdim=5, vdim=7, batch_first=True),
    "key padding + weights": dict(kpm=True, need_weights=True),
    "float 3-d mask + padding, per-head weights": dict(mask3=True, kpm=True, need_weights=True, average=False),
    "causal, no bias": dict(causal=True, bias=False),
    "bool 2-d mask": dict(mask2=True),
    "unbatched + weights": dict(unbatched=True, need_weights=True),
}


@pytest.mark.parametrize("case", list(MHA_CASES))
def test_mha_matches_reference(host_backend, case):
    c = MHA_CASES[case]
    rng = np.random.default_rng(len(case))
    E, H, L, S, N = 12, 3, 9, 11, 2
    kdim, vdim = c.get("kdim"), c.get("vdim")
    params = mha_params(rng, E, kdim, vdim, bias=c.get("bias", True))
    bf = c.get("batch_first", False)
    lead = (L,) if c.get("unbatched") else ((N, L) if bf else (L, N))
    klead = (S,) if c.get("unbatched") else ((N, S) if bf else (S, N))
    q = rng.standard_normal(lead + (E,)).astype(np.float32)
    k = rng.standard_normal(klead + (kdim or E,)).astype(np.float32)
    v = rng.standard_normal(klead + (vdim or E,)).astype(np.float32)
    if case == "self":
        k = v = q
        S = L
    kw = dict(need_weights=c.get("need_weights", False), average_attn_weights=c.get("average", True),
              batch_first=bf, is_causal=c.get("causal", False))
    if c.get("kpm"):
        kpm = rng.random((N, S)) < 0.3
        kpm[1] = True  # a fully padded batch element
        kw["key_padding_mask"] = kpm
    if c.get("mask3"):
        kw["attn_mask"] = rng.standard_normal((N * H, L, S)).astype(np.float32)
    if c.get("mask2"):
        kw["attn_mask"] = rng.random((L, S)) < 0.3
    out, w = ops.multi_head_attention(q, k, v, params, H, backend=host_backend, **kw)
    want, want_w = ref.multi_head_attention(q, k, v, params, H, **kw)
    close(out, want, np.float32, case)
    if kw["need_weights"]:
        close(w, want_w, np.float32, case + " weights")
    else:
        assert w is None


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")  # bool padding + float mask on purpose
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_mha_parity_torch(dtype):
    torch = pytest.importorskip("torch")
    tdt = getattr(torch, np.dtype(dtype).name)
    torch.manual_seed(0)
    E, H, L, S, N = 16, 4, 10, 13, 3
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-11)
    for kdim, bf in ((None, False), (6, True)):
        mha = torch.nn.MultiheadAttention(E, H, kdim=kdim, vdim=kdim and 9, batch_first=bf, dtype=tdt).eval()
        params = dict(mha.state_dict())
        shape = (lambda n, d: (N, n, d)) if bf else (lambda n, d: (n, N, d))
        q = torch.randn(*shape(L, E), dtype=tdt)
        k = torch.randn(*shape(S, kdim or E), dtype=tdt)
        v = torch.randn(*shape(S, (kdim and 9) or E), dtype=tdt)
        kpm = torch.rand(N, S) < 0.3
        kpm[0] = True
        mask = torch.randn(L, S, dtype=tdt)
        for need, avg in ((False, True), (True, True), (True, False)):
            with torch.no_grad():
                want, want_w = mha(q, k, v, key_padding_mask=kpm, attn_mask=mask, need_weights=need,
                                   average_attn_weights=avg)
            got, got_w = ops.multi_head_attention(q, k, v, params, H, key_padding_mask=kpm, attn_mask=mask,
                                                  need_weights=need, average_attn_weights=avg, batch_first=bf)
            assert isinstance(got, torch.Tensor)
            torch.testing.assert_close(got, want, equal_nan=True, **tol)
            if need:
                torch.testing.assert_close(got_w, want_w, equal_nan=True, **tol)
        causal = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=tdt)[:, :S] if S >= L else None
        if causal is not None and kdim is None:
            with torch.no_grad():
                want, _ = mha(q, q, q, attn_mask=causal[:, :L], is_causal=True, need_weights=False)
            got, _ = ops.multi_head_attention(q, q, q, params, H, is_causal=True, batch_first=bf)
            torch.testing.assert_close(got, want, **tol)


def test_mha_errors():
    rng = np.random.default_rng(0)
    x = np.zeros((3, 2, 8), np.float32)
    p = mha_params(rng, 8)
    mha = ops.multi_head_attention
    with pytest.raises(ValueError, match="add_bias_kv"):
        mha(x, x, x, {**p, "bias_k": np.zeros((1, 1, 8), np.float32)}, 2)
    with pytest.raises(ValueError, match="unknown parameter"):
        mha(x, x, x, {**p, "in_proj": p["in_proj_weight"]}, 2)
    with pytest.raises(ValueError, match="num_heads must divide"):
        mha(x, x, x, p, 3)
    with pytest.raises(ValueError, match="in_proj_weight"):
        mha(x, x, x, {"out_proj.weight": p["out_proj.weight"]}, 2)
    with pytest.raises(ValueError, match="key/value dims"):
        mha(x, np.zeros((3, 2, 5), np.float32), x, p, 2)
    with pytest.raises(ValueError, match="key_padding_mask"):
        mha(x, x, x, p, 2, key_padding_mask=np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match="attn_mask"):
        mha(x, x, x, p, 2, attn_mask=np.zeros((2, 3, 3), bool))
    with pytest.raises(TypeError, match="mapping"):
        mha(x, x, x, [p], 2)


def test_additive_and_dot_attention(host_backend):
    rng = np.random.default_rng(8)
    B, S, Dq, Dk, Dv, A = 3, 7, 5, 6, 4, 9
    q = rng.standard_normal((B, Dq)).astype(np.float32)
    keys = rng.standard_normal((B, S, Dk)).astype(np.float32)
    values = rng.standard_normal((B, S, Dv)).astype(np.float32)
    wq, wk, v = (rng.standard_normal(s).astype(np.float32) for s in ((A, Dq), (A, Dk), (A,)))
    mask = rng.random((B, S)) < 0.7
    mask[2] = False  # fully masked: weights and context 0
    for m in (None, mask):
        got = ops.additive_attention(q, keys, values, wq, wk, v, m, backend=host_backend)
        want = ref.additive_attention(q, keys, values, wq, wk, v, m)
        for g, w in zip(got, want):
            close(g, w, np.float32, "additive")
    qd = rng.standard_normal((B, Dk)).astype(np.float32)
    for m, scale in ((None, None), (mask, 0.5)):
        got = ops.dot_attention(qd, keys, values, m, scale, backend=host_backend)
        want = ref.dot_attention(qd, keys, values, m, scale)
        for g, w in zip(got, want):
            close(g, w, np.float32, "dot")
    with pytest.raises(ValueError, match="w_query"):
        ops.additive_attention(q, keys, values, wq[:, :2], wk, v)
    with pytest.raises(ValueError, match="mask must be"):
        ops.dot_attention(qd, keys, values, mask[:, :3])
    with pytest.raises(ValueError, match="query must be"):
        ops.dot_attention(qd[None], keys, values)


def test_additive_attention_torch_inputs():
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(1)
    q, keys, wq, wk, v = (torch.randn(*s, generator=g) for s in ((2, 3), (2, 5, 4), (6, 3), (6, 4), (6,)))
    ctx, w = ops.additive_attention(q, keys, keys, wq, wk, v)
    scores = torch.tanh((q @ wq.T)[:, None] + keys @ wk.T) @ v
    want_w = torch.softmax(scores, -1)
    assert isinstance(ctx, torch.Tensor)
    torch.testing.assert_close(w, want_w)
    torch.testing.assert_close(ctx, (want_w[..., None] * keys).sum(1))
