"""Attention family: scaled dot-product attention (flash-style kernels), multi-head, additive and dot attention.

``scaled_dot_product_attention`` is the kernel (CPU: query blocks of 64 against key
tiles of 128 with an online softmax and SIMD tile products; CUDA: one block per
32-query tile, K/V tiles in shared memory; both never form the [L, S] score matrix).
``multi_head_attention`` projects with the GEMM family's kernel and attends with it;
``additive_attention`` (Bahdanau) and ``dot_attention`` (Luong) are the classic
sequence-to-sequence attentions over one query per batch element, written with the
array library (their score matrices are [B, S]).

Rules shared by every backend (torch 2.14's semantics):

* Masks broadcast against ``[..., L, S]`` like torch's. A boolean ``attn_mask`` is True where
  a query may attend; a float one is added to the scores. Masks are passed to the kernels
  as a stride-0 broadcast view of an additive bias (a boolean mask becomes one 0 / -inf
  array of its own shape), never expanded to ``[..., L, S]``.
* ``is_causal``: query i sees keys j <= i (top-left aligned when L != S, as torch).
  Giving both ``attn_mask`` and ``is_causal`` is an error, as in torch.
* A query row whose keys are all masked gives 0, as torch 2.14's CPU kernels do for
  boolean and float masks alike (its log-sum-exp is -inf). S = 0 gives zeros too.
* Dropout (``dropout_p > 0``) zeroes weight (b, i, j) when a counter-based hash of
  (seed, its flat index) falls below ``dropout_p`` and divides the kept ones by
  1 - dropout_p: reproducible for a seed on every backend and thread count, but not
  torch's random stream. ``generator`` gives the seed: an int, a numpy Generator or a
  torch Generator (one draw each), None for a fresh one.
"""
from __future__ import annotations

import math
import operator
import sys

import numpy as np

from .. import _backend
from .gemm import gemm

__all__ = ["scaled_dot_product_attention", "multi_head_attention", "additive_attention", "dot_attention"]

_BATCH_DIMS = 4  # pdk::kAttentionBatchDims
_CUDA_MAX_HEAD_DIM = 128  # the CUDA kernel's register and shared-memory tiles


# ---------------------------------------------------------------------------------------
# argument handling
# ---------------------------------------------------------------------------------------
def dropout_seed(op, generator) -> int:
    """A 63-bit seed from None (fresh entropy), an int, a numpy Generator or a torch Generator."""
    if generator is None:
        return int(np.random.default_rng().integers(2 ** 63))
    if isinstance(generator, bool):
        raise TypeError(f"{op}: generator must be None, an int, a numpy or torch Generator, got {generator!r}")
    if isinstance(generator, np.random.Generator):
        return int(generator.integers(2 ** 63))
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(generator, torch.Generator):
        return int(torch.randint(0, 2 ** 62, (1,), generator=generator))
    try:
        seed = operator.index(generator)
    except TypeError:
        raise TypeError(f"{op}: generator must be None, an int, a numpy or torch Generator, "
                        f"got {type(generator).__name__}") from None
    return seed % (2 ** 64)


def _probability(op, name, value):
    p = float(value)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: {name} must be in [0, 1], got {value!r}")
    return p


def _scale(op, value, head_dim):
    if value is None:
        return 1.0 / math.sqrt(head_dim)
    scale = float(value)
    if not math.isfinite(scale):
        raise ValueError(f"{op}: scale must be finite, got {value!r}")
    return scale


def _elements(v, name, op):
    """Element strides of a view (byte strides that are not whole elements are rejected)."""
    item = v.dtype.itemsize
    if any(s % item for s in v.strides):
        raise ValueError(f"{op}: {name} has strides {v.strides} that are not whole elements")
    return [s // item for s in v.strides]


def _bias_of(call, mask, dtype, name="attn_mask", true_means_keep=True):
    """The additive float bias view of a boolean or float mask (a bool mask: one 0 / -inf array of its shape)."""
    op = call.op
    mv = call.view(mask, name, dtypes=("bool", "float32", "float64"))
    if mv.dtype == np.bool_:
        xp = call.xp
        keep = mv if true_means_keep else ~mv
        return xp.where(keep, dtype.type(0), dtype.type(-np.inf)).astype(dtype, copy=False)
    if mv.dtype != dtype:
        raise TypeError(f"{op}: a float {name} must have the query's dtype ({dtype}), got {mv.dtype}")
    return mv


def _layout(op, batch, operands):
    """Merged batch dims (at most 4) and per-operand element strides for the kernels.

    operands: name -> view already broadcast to batch + its two matrix dims. Size-1 dims
    are dropped and neighbours merged where every operand's strides allow it. Returns
    (sizes, {name: strides}) or None when more than 4 dims remain."""
    strides = {n: _elements(v, n, op) for n, v in operands.items()}
    dims = [(size, {n: s[d] for n, s in strides.items()}) for d, size in enumerate(batch) if size != 1]
    merged = []
    for size, st in dims:
        if merged:
            psize, pst = merged[-1]
            if all(pst[n] == st[n] * size for n in st):
                merged[-1] = (psize * size, st)
                continue
        merged.append((size, st))
    if len(merged) > _BATCH_DIMS:
        return None
    merged = [(1, {n: 0 for n in strides})] * (_BATCH_DIMS - len(merged)) + merged
    sizes = [m[0] for m in merged]
    return sizes, {n: [m[1][n] for m in merged] + strides[n][len(batch):] for n in strides}


def _check_last_dim(call, v):
    """The view itself when its last dim is contiguous (the kernels' row vectors), else a copy."""
    if v.shape[-1] > 1 and v.strides[-1] != v.dtype.itemsize:
        return call.contiguous(v)
    return v


def attend(call, qv, kv, vv, bias, *, scale, causal, dropout_p, seed, out_view, lse_view=None):
    """Runs the kernel on views: q [*b, L, E], k [*b, S, E], v [*b, S, Ev] (batch dims broadcast),
    bias None or broadcastable to [*b, L, S]; writes out_view [*b, L, Ev] (any strides with a
    contiguous last dim) and lse_view [*b, L] (contiguous) if given."""
    op, xp = call.op, call.xp
    L, E = qv.shape[-2:]
    S, Ev = vv.shape[-2:]
    batch = tuple(out_view.shape[:-2])
    if math.prod(batch) == 0 or L == 0:
        return
    if S == 0:  # no key: zeros (torch), log-sum-exp -inf
        out_view[...] = 0
        if lse_view is not None:
            lse_view[...] = -np.inf
        return
    if call.backend != "cpu":
        if qv.dtype != np.float32:
            raise TypeError(f"{op}: backend {call.backend!r} takes float32, got {qv.dtype}")
        if max(E, Ev) > _CUDA_MAX_HEAD_DIM:
            raise ValueError(f"{op}: backend {call.backend!r} takes head dims up to {_CUDA_MAX_HEAD_DIM}, "
                             f"got E={E}, Ev={Ev}")
    qv, kv, vv = (_check_last_dim(call, x) for x in (qv, kv, vv))
    operands = {"query": xp.broadcast_to(qv, batch + (L, E)), "key": xp.broadcast_to(kv, batch + (S, E)),
                "value": xp.broadcast_to(vv, batch + (S, Ev)), "out": out_view}
    if bias is not None:
        operands["attn_mask"] = xp.broadcast_to(bias, batch + (L, S))
    layout = _layout(op, batch, operands)
    if layout is None:  # more than 4 unmergeable batch dims: contiguous copies merge with the output
        operands = {n: (v if n == "out" else call.contiguous(v)) for n, v in operands.items()}
        layout = _layout(op, batch, operands)
        if layout is None:
            raise ValueError(f"{op}: the output's {len(batch)} batch dims do not merge into {_BATCH_DIMS}")
    sizes, st = layout
    if dropout_p >= 1.0:
        dropout_p, zero = 0.0, True
    else:
        zero = False
    ext = call.ext
    has_bias = bias is not None
    params = ext.attention_params(sizes, L, S, E, Ev, st["query"][:5], st["key"][:5], st["value"][:5], has_bias,
                                  st["attn_mask"][:6] if has_bias else [0] * 6, float(scale), bool(causal),
                                  float(dropout_p), int(seed), st["out"][:5])
    call.launch(ext.attention_forward, params, call.ptr(operands["query"]), call.ptr(operands["key"]),
                call.ptr(operands["value"]), call.ptr(operands["attn_mask"]) if has_bias else 0,
                call.ptr(out_view), call.ptr(lse_view), call.dtype_code(qv), call.stream)
    if zero:
        out_view[...] = 0


# ---------------------------------------------------------------------------------------
# ops
# ---------------------------------------------------------------------------------------
def _sdpa_inputs(call, query, key, value, attn_mask):
    op = call.op
    qv, kv, vv = call.view(query, "query"), call.view(key, "key"), call.view(value, "value")
    for name, v in (("query", qv), ("key", kv), ("value", vv)):
        if v.ndim < 2:
            raise ValueError(f"{op}: {name} must have at least 2 dims [..., seq, dim], got shape {tuple(v.shape)}")
    if not qv.dtype == kv.dtype == vv.dtype:
        raise TypeError(f"{op}: query, key and value must have one dtype, got {qv.dtype}, {kv.dtype}, {vv.dtype}")
    L, E = qv.shape[-2:]
    S, Ev = vv.shape[-2:]
    if kv.shape[-1] != E:
        raise ValueError(f"{op}: key must be [..., S, E] with E = {E} (query's last dim), got {tuple(kv.shape)}")
    if kv.shape[-2] != S:
        raise ValueError(f"{op}: key and value must have one sequence length S, got {tuple(kv.shape)} and "
                         f"{tuple(vv.shape)}")
    if E == 0:
        raise ValueError(f"{op}: query and key need a head dim >= 1, got E = 0")
    bias = None
    shapes = [qv.shape[:-2], kv.shape[:-2], vv.shape[:-2]]
    if attn_mask is not None:
        bias = _bias_of(call, attn_mask, qv.dtype)
        if bias.ndim < 2:
            bias = bias.reshape((1,) * (2 - bias.ndim) + tuple(bias.shape))
        if bias.shape[-2] not in (1, L) or bias.shape[-1] not in (1, S):
            raise ValueError(f"{op}: attn_mask of shape {tuple(bias.shape)} does not broadcast to [..., L, S] = "
                             f"[..., {L}, {S}]")
        shapes.append(bias.shape[:-2])
    try:
        batch = tuple(int(s) for s in np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"{op}: the batch dims of query {tuple(qv.shape)}, key {tuple(kv.shape)}, value "
                         f"{tuple(vv.shape)}" + ("" if attn_mask is None else f" and attn_mask {tuple(bias.shape)}")
                         + " do not broadcast") from None
    return qv, kv, vv, bias, batch


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 *, generator=None, return_lse=False, backend=None):
    """softmax(query @ key^T * scale + mask) @ value, as torch.nn.functional.scaled_dot_product_attention.

    query [..., L, E], key [..., S, E], value [..., S, Ev] (any number of batch dims,
    broadcast like torch; float32/float64, float32 only on CUDA with E, Ev <= 128);
    attn_mask: bool (True = attend) or float (added), broadcastable to [..., L, S];
    is_causal: query i sees keys j <= i (top-left when L != S); scale: default 1/sqrt(E);
    dropout_p with a seedable ``generator`` (see the module docstring). Returns
    [..., L, Ev], and with ``return_lse`` also the natural-log log-sum-exp [..., L] of each
    row's scaled, masked scores (before dropout; -inf for a fully masked row), for a
    backward pass. Fully masked rows give 0 (torch 2.14's CPU result).

    Memory: the kernels hold O(L * Ev) outputs plus per-thread (CPU) or per-block (CUDA)
    tiles, never [L, S] scores (``ops.attention.attention_workspace_bytes`` reports the CPU tiles).

    Example:
        >>> q = np.eye(2, 4, dtype=np.float32)[None]; v = np.arange(8, dtype=np.float32).reshape(1, 2, 4)
        >>> pydeepkit.ops.scaled_dot_product_attention(q, q * 50, v).round(3).tolist()
        [[[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]]
    """
    op = "scaled_dot_product_attention"
    call = _backend.resolve(op, backend, optional=("attn_mask",), query=query, key=key, value=value,
                            attn_mask=attn_mask)
    qv, kv, vv, bias, batch = _sdpa_inputs(call, query, key, value, attn_mask)
    if is_causal and attn_mask is not None:
        raise ValueError(f"{op}: attn_mask should not be given with is_causal=True (as in torch)")
    p = _probability(op, "dropout_p", dropout_p)
    seed = dropout_seed(op, generator) if p > 0 else 0
    L, E = qv.shape[-2:]
    Ev = vv.shape[-1]
    out, out_view = call.empty(batch + (L, Ev), qv.dtype)
    lse, lse_view = call.empty(batch + (L,), qv.dtype) if return_lse else (None, None)
    attend(call, qv, kv, vv, bias, scale=_scale(op, scale, E), causal=bool(is_causal), dropout_p=p, seed=seed,
           out_view=out_view, lse_view=lse_view)
    return (out, lse) if return_lse else out


def attention_workspace_bytes(L, S, E, Ev=None, batch=1, dtype=np.float32):
    """Bytes of scratch the CPU kernel allocates for one call of these sizes (its per-thread
    tiles: independent of L and S, the point of the flash-style kernel).

    Example:
        >>> pydeepkit.ops.attention.attention_workspace_bytes(16384, 16384, 64) < 2 ** 21
        True
    """
    from .. import _ext
    ext = _ext.module("cpu")
    Ev = E if Ev is None else Ev
    params = ext.attention_params([1, 1, 1, batch], L, S, E, Ev, [0] * 5, [0] * 5, [0] * 5, False, [0] * 6, 1.0,
                                  False, 0.0, 0, [0] * 5)
    return int(ext.attention_workspace_bytes(params, _backend.Call.dtype_code(np.empty(0, dtype))))


_GOLDEN, _MIX1, _MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def dropout_keep(xp, seed: int, shape: tuple, p: float):
    """The kernels' dropout draw (attention_common.h) as an array: True where weight
    (row-major flat index over ``shape`` = [*batch, L, S]) is kept for dropout ``p``."""
    u = xp.uint64
    index = xp.arange(math.prod(shape), dtype=u).reshape(shape)
    with np.errstate(over="ignore"):
        z = u(seed % 2 ** 64) + (index + u(1)) * u(_GOLDEN)
        z = (z ^ (z >> u(30))) * u(_MIX1)
        z = (z ^ (z >> u(27))) * u(_MIX2)
    z = z ^ (z >> u(31))
    return (z >> u(40)) >= u(int(p * 16777216.0 + 0.5))


def _softmax_rows(xp, scores, empty=0.0):
    """Row softmax of a materialised score array; rows of only -inf give ``empty`` (0 as the kernels,
    NaN as torch's MultiheadAttention weights)."""
    m = scores.max(axis=-1, keepdims=True)
    m = xp.where(xp.isneginf(m), 0, m)
    e = xp.exp(scores - m)
    total = e.sum(axis=-1, keepdims=True)
    return xp.where(total > 0, e / xp.where(total > 0, total, 1), scores.dtype.type(empty))


_MHA_PARAMS = ("in_proj_weight", "in_proj_bias", "q_proj_weight", "k_proj_weight", "v_proj_weight",
               "out_proj.weight", "out_proj.bias")


def _mha_params(op, params):
    if not hasattr(params, "items"):
        raise TypeError(f"{op}: params must be a mapping of nn.MultiheadAttention's parameter names "
                        f"(its state_dict()), got {type(params).__name__}")
    got = {k: v for k, v in params.items() if v is not None}
    for name in ("bias_k", "bias_v"):
        if name in got:
            raise ValueError(f"{op}: params holds {name!r}: add_bias_kv is not supported")
    unknown = sorted(set(got) - set(_MHA_PARAMS))
    if unknown:
        raise ValueError(f"{op}: unknown parameter names {unknown}; expected some of {list(_MHA_PARAMS)}")
    separate = ("q_proj_weight", "k_proj_weight", "v_proj_weight")
    if "in_proj_weight" not in got and not all(n in got for n in separate):
        raise ValueError(f"{op}: params needs 'in_proj_weight' or all of {list(separate)}")
    if "out_proj.weight" not in got:
        raise ValueError(f"{op}: params needs 'out_proj.weight'")
    return got


def multi_head_attention(query, key, value, params, num_heads, key_padding_mask=None, attn_mask=None,
                         need_weights=False, average_attn_weights=True, batch_first=False, is_causal=False, *,
                         dropout_p=0.0, generator=None, backend=None):
    """torch.nn.MultiheadAttention's forward: (output, weights or None).

    query [L, N, E] ([N, L, E] with batch_first, [L, E] unbatched), key [S, N, kdim],
    value [S, N, vdim]; params: nn.MultiheadAttention's state_dict names ('in_proj_weight'
    [3E, E] or 'q_proj_weight' [E, E], 'k_proj_weight' [E, kdim], 'v_proj_weight' [E, vdim];
    'in_proj_bias' [3E]; 'out_proj.weight' [E, E], 'out_proj.bias' [E]); add_bias_kv is
    refused. Masks follow nn.MultiheadAttention: key_padding_mask [N, S] and attn_mask [L, S]
    or [N * num_heads, L, S], boolean True = NOT attended, or float (added). is_causal
    without attn_mask applies the causal mask (torch raises instead); with one, attn_mask is
    used (torch's hint). need_weights returns the softmax weights [N, L, S] (averaged over
    heads) or [N, H, L, S] through a separate path that materialises them; otherwise the
    weights are never formed. A query whose keys are all masked gives what torch gives:
    attention 0 (output = out_proj.bias) without weights, NaN weights and output with them. dropout_p / generator: the dropout of scaled_dot_product_attention
    (nn.MultiheadAttention's dropout in training mode). Projections run on ops.gemm, the
    attention on scaled_dot_product_attention's kernel, heads read and written in place.

    Example:
        >>> E = 4; w = np.eye(3 * E, E, dtype=np.float32); o = np.eye(E, dtype=np.float32)
        >>> x = np.ones((2, 1, E), np.float32)
        >>> out, _ = pydeepkit.ops.multi_head_attention(x, x, x, {"in_proj_weight": w, "out_proj.weight": o}, 2)
        >>> out.shape
        (2, 1, 4)
    """
    op = "multi_head_attention"
    P = _mha_params(op, params)
    call = _backend.resolve(op, backend, optional=("key_padding_mask", "attn_mask"), query=query, key=key,
                            value=value, key_padding_mask=key_padding_mask, attn_mask=attn_mask,
                            **{f"params[{k!r}]": v for k, v in P.items()})
    qv, kv, vv = call.view(query, "query"), call.view(key, "key"), call.view(value, "value")
    if qv.ndim not in (2, 3) or kv.ndim != qv.ndim or vv.ndim != qv.ndim:
        raise ValueError(f"{op}: query, key, value must all be 3-d (batched) or 2-d (unbatched), got shapes "
                         f"{tuple(qv.shape)}, {tuple(kv.shape)}, {tuple(vv.shape)}")
    unbatched = qv.ndim == 2
    if unbatched:
        query, key, value = (a.reshape(a.shape[0], 1, a.shape[1]) for a in (query, key, value))
        qv, kv, vv = (call.view(a, n) for a, n in ((query, "query"), (key, "key"), (value, "value")))
    seq_axis = 1 if batch_first and not unbatched else 0
    L, S = qv.shape[seq_axis], kv.shape[seq_axis]
    N, E = qv.shape[1 - seq_axis], qv.shape[2]
    if kv.shape[1 - seq_axis] != N or vv.shape[1 - seq_axis] != N or vv.shape[seq_axis] != S:
        raise ValueError(f"{op}: key {tuple(kv.shape)} and value {tuple(vv.shape)} must share the batch and "
                         f"sequence dims, query is {tuple(qv.shape)} (batch_first={batch_first})")
    H = int(num_heads)
    if H < 1 or E % H:
        raise ValueError(f"{op}: num_heads must divide embed_dim = {E}, got {num_heads!r}")
    hd = E // H
    views = {n: call.view(v, f"params[{n!r}]") for n, v in P.items()}
    dtype = qv.dtype
    for n, v in views.items():
        if v.dtype != dtype:
            raise TypeError(f"{op}: params[{n!r}] must have the query's dtype ({dtype}), got {v.dtype}")
    kdim, vdim = kv.shape[2], vv.shape[2]
    expect = {"in_proj_weight": (3 * E, E), "in_proj_bias": (3 * E,), "q_proj_weight": (E, E),
              "k_proj_weight": (E, kdim), "v_proj_weight": (E, vdim), "out_proj.weight": (E, E),
              "out_proj.bias": (E,)}
    for n, v in views.items():
        if tuple(v.shape) != expect[n]:
            raise ValueError(f"{op}: params[{n!r}] must be {expect[n]} for embed_dim {E}, kdim {kdim}, vdim {vdim}, "
                             f"got {tuple(v.shape)}")
    if "in_proj_weight" in P and (kdim != E or vdim != E):
        raise ValueError(f"{op}: key/value dims ({kdim}, {vdim}) differ from embed_dim {E}: give q_proj_weight, "
                         "k_proj_weight and v_proj_weight")
    p = _probability(op, "dropout_p", dropout_p)
    seed = dropout_seed(op, generator) if p > 0 else 0

    # Projections (ops.gemm, the caller's arrays in and out), rows in the input's (seq, batch) order.
    def rows(a):
        return a.reshape(-1, a.shape[2])

    bias = P.get("in_proj_bias")
    parts = [None, None, None] if bias is None else [bias[i * E:(i + 1) * E] for i in range(3)]
    if "in_proj_weight" in P:
        w = P["in_proj_weight"]
        weights = [w[i * E:(i + 1) * E] for i in range(3)]
    else:
        weights = [P["q_proj_weight"], P["k_proj_weight"], P["v_proj_weight"]]
    if query is key and key is value and "in_proj_weight" in P:  # self-attention: one [rows, 3E] product
        packed = call.view(gemm(rows(query), P["in_proj_weight"].T, bias, backend=call.backend), "packed")
        projected = [packed[:, i * E:(i + 1) * E] for i in range(3)]
    else:
        projected = [call.view(gemm(rows(x), w.T, b, backend=call.backend), "projection")
                     for x, w, b in zip((query, key, value), weights, parts)]

    def heads(a, n):  # [rows, E] in (seq, batch) or (batch, seq) order -> [N, H, n, hd] view
        if seq_axis == 0:
            return a.reshape(n, N, H, hd).transpose(1, 2, 0, 3)
        return a.reshape(N, n, H, hd).transpose(0, 2, 1, 3)

    qh, kh, vh = heads(projected[0], L), heads(projected[1], S), heads(projected[2], S)
    bias4 = None
    if attn_mask is not None:
        am = _bias_of(call, attn_mask, dtype, "attn_mask", true_means_keep=False)
        if am.shape not in ((L, S), (N * H, L, S)):
            raise ValueError(f"{op}: attn_mask must be [L, S] = ({L}, {S}) or [N * num_heads, L, S] = "
                             f"({N * H}, {L}, {S}), got {tuple(am.shape)}")
        bias4 = am.reshape(N, H, L, S) if am.ndim == 3 else am
    if key_padding_mask is not None:
        kp = _bias_of(call, key_padding_mask, dtype, "key_padding_mask", true_means_keep=False)
        if kp.shape != ((S,) if unbatched else (N, S)):
            raise ValueError(f"{op}: key_padding_mask must be [N, S] = ({N}, {S}), got {tuple(kp.shape)}")
        kp = kp.reshape(N, 1, 1, S)
        bias4 = kp if bias4 is None else bias4 + kp  # both: one [N, H or 1, L, S] sum, as torch
    causal = bool(is_causal) and attn_mask is None

    out, out_view = call.empty((L * N, E), dtype)
    out_heads = heads(out_view, L)
    weights_out = None
    xp = call.xp
    scale = 1.0 / math.sqrt(hd)
    if need_weights:  # the materialising path: [N, H, L, S] scores and weights
        scores = (qh * dtype.type(scale)) @ xp.swapaxes(kh, -1, -2)
        if bias4 is not None:
            scores = scores + bias4
        if causal:
            scores = xp.where(xp.tril(xp.ones((L, S), bool)), scores, dtype.type(-np.inf))
        w = _softmax_rows(xp, scores, empty=np.nan)  # torch: NaN weights (and output) for a fully masked row
        if p > 0:
            w = xp.where(dropout_keep(xp, seed, w.shape, p), w / dtype.type(1 - p), dtype.type(0)) if p < 1 else w * 0
        out_heads[...] = w @ vh
        wv = w.mean(axis=1) if average_attn_weights else w
        weights_out = call.result(wv[0] if unbatched else wv)
    else:
        attend(call, qh, kh, vh, bias4, scale=scale, causal=causal, dropout_p=p, seed=seed, out_view=out_heads)
    result = gemm(out, P["out_proj.weight"].T, P.get("out_proj.bias"), backend=call.backend)
    shape = (L, E) if unbatched else ((N, L, E) if seq_axis == 1 else (L, N, E))
    return result.reshape(shape), weights_out


def _sequence_inputs(op, call, query, keys, values, mask):
    qv, kv, vv = call.view(query, "query"), call.view(keys, "keys"), call.view(values, "values")
    if qv.ndim != 2 or kv.ndim != 3 or vv.ndim != 3:
        raise ValueError(f"{op}: query must be [B, Dq], keys [B, S, Dk], values [B, S, Dv], got shapes "
                         f"{tuple(qv.shape)}, {tuple(kv.shape)}, {tuple(vv.shape)}")
    B, S = kv.shape[:2]
    if qv.shape[0] != B or vv.shape[:2] != (B, S):
        raise ValueError(f"{op}: query {tuple(qv.shape)}, keys {tuple(kv.shape)} and values {tuple(vv.shape)} "
                         "must share B (and keys/values S)")
    if not qv.dtype == kv.dtype == vv.dtype:
        raise TypeError(f"{op}: query, keys and values must have one dtype, got {qv.dtype}, {kv.dtype}, {vv.dtype}")
    keep = None
    if mask is not None:
        keep = call.view(mask, "mask", dtypes=("bool",))
        if keep.shape != (B, S):
            raise ValueError(f"{op}: mask must be [B, S] = ({B}, {S}) (True = attend), got {tuple(keep.shape)}")
    return qv, kv, vv, keep


def _context(call, scores, keep, vv):
    """(context [B, Dv], weights [B, S]) of [B, S] scores, masked where keep is False."""
    xp = call.xp
    if keep is not None:
        scores = xp.where(keep, scores, scores.dtype.type(-np.inf))
    w = _softmax_rows(xp, scores)
    return call.result(xp.matmul(w[:, None, :], vv)[:, 0]), call.result(w)


def additive_attention(query, keys, values, w_query, w_keys, v, mask=None, *, backend=None):
    """Bahdanau (additive) attention: score_s = v . tanh(w_query q + w_keys k_s), softmax over s.

    query [B, Dq], keys [B, S, Dk], values [B, S, Dv], w_query [A, Dq], w_keys [A, Dk], v [A],
    mask [B, S] bool (True = attend; a fully masked row gives weights and context 0).
    Returns (context [B, Dv], weights [B, S]). The key projection with the query term as
    residual and tanh fused runs on ops.gemm, the scores as a second product.

    Example:
        >>> q = np.zeros((1, 2), np.float32); k = np.zeros((1, 3, 2), np.float32)
        >>> vals = np.arange(6, dtype=np.float32).reshape(1, 3, 2); wq = np.ones((4, 2), np.float32)
        >>> ctx, w = pydeepkit.ops.additive_attention(q, k, vals, wq, wq, np.ones(4, np.float32))
        >>> ctx.tolist(), (w * 3).tolist()
        ([[2.0, 3.0]], [[1.0, 1.0, 1.0]])
    """
    op = "additive_attention"
    call = _backend.resolve(op, backend, optional=("mask",), query=query, keys=keys, values=values,
                            w_query=w_query, w_keys=w_keys, v=v, mask=mask)
    qv, kv, vv, keep = _sequence_inputs(op, call, query, keys, values, mask)
    wq, wk, vec = call.view(w_query, "w_query"), call.view(w_keys, "w_keys"), call.view(v, "v")
    A = vec.shape[0] if vec.ndim == 1 else -1
    if vec.ndim != 1 or wq.shape != (A, qv.shape[1]) or wk.shape != (A, kv.shape[2]):
        raise ValueError(f"{op}: w_query must be [A, Dq], w_keys [A, Dk] and v [A] with Dq = {qv.shape[1]}, "
                         f"Dk = {kv.shape[2]}, got {tuple(wq.shape)}, {tuple(wk.shape)}, {tuple(vec.shape)}")
    B, S = kv.shape[:2]
    xp = call.xp
    qa = gemm(qv, wq.T, backend=call.backend)                                      # [B, A]
    query_term = xp.ascontiguousarray(xp.broadcast_to(qa[:, None, :], (B, S, A))).reshape(B * S, A)
    hidden = gemm(kv.reshape(B * S, -1), wk.T, residual=query_term, activation="tanh", backend=call.backend)
    scores = gemm(hidden, vec[:, None], backend=call.backend).reshape(B, S)
    return _context(call, scores, keep, vv)


def dot_attention(query, keys, values, mask=None, scale=None, *, backend=None):
    """Luong (dot) attention: score_s = (q . k_s) * scale (default 1), softmax over s.

    query [B, D], keys [B, S, D], values [B, S, Dv], mask [B, S] bool (True = attend; a
    fully masked row gives weights and context 0). Returns (context [B, Dv], weights [B, S]).

    Example:
        >>> q = np.array([[10.0, 0.0]], np.float32); k = np.eye(2, dtype=np.float32)[None]
        >>> ctx, w = pydeepkit.ops.dot_attention(q, k, k)
        >>> ctx.round(3).tolist(), w.round(3).tolist()
        ([[1.0, 0.0]], [[1.0, 0.0]])
    """
    op = "dot_attention"
    call = _backend.resolve(op, backend, optional=("mask",), query=query, keys=keys, values=values, mask=mask)
    qv, kv, vv, keep = _sequence_inputs(op, call, query, keys, values, mask)
    if kv.shape[2] != qv.shape[1]:
        raise ValueError(f"{op}: keys must be [B, S, D] with D = {qv.shape[1]} (query's), got {tuple(kv.shape)}")
    s = 1.0 if scale is None else float(scale)
    scores = call.xp.matmul(kv, qv[:, :, None])[:, :, 0] * qv.dtype.type(s)
    return _context(call, scores, keep, vv)
