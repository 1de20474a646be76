"""Numpy oracle of the attention family: the full [..., L, S] softmax in float64, torch's semantics.

Masks broadcast like torch's; a fully masked row (or S = 0) gives 0 and log-sum-exp -inf
(torch 2.14 CPU). Dropout draws the same counter-based hash as the kernels
(csrc/attention/attention_common.h) through ops.attention.dropout_keep, the numpy
spelling of it (the C++ kernels are the independent side of that check).
"""
from __future__ import annotations

import math

import numpy as np

from ..ops.attention import dropout_keep

__all__ = ["scaled_dot_product_attention", "multi_head_attention", "additive_attention", "dot_attention",
           "dropout_keep"]

def _bias(mask, true_means_keep=True):
    mask = np.asarray(mask)
    if mask.dtype == np.bool_:
        keep = mask if true_means_keep else ~mask
        return np.where(keep, 0.0, -np.inf)
    return mask.astype(np.float64)


def _softmax(scores, empty=0.0):
    """Row softmax; rows of only -inf give ``empty`` (0: torch 2.14's CPU attention; NaN: its
    MultiheadAttention weights path); a row with a NaN score is NaN, as in torch."""
    m = scores.max(axis=-1, keepdims=True) if scores.shape[-1] else np.zeros(scores.shape[:-1] + (1,))
    m = np.where(np.isneginf(m), 0.0, m)
    e = np.exp(scores - m)
    total = e.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        lse = np.where(total > 0, np.log(total) + m, np.where(np.isnan(total), np.nan, -np.inf))[..., 0]
        weights = np.where(total > 0, e / np.where(total > 0, total, 1.0), empty)
        return np.where(np.isnan(total), np.nan, weights), lse


def _weights(query, key, attn_mask, is_causal, scale, true_means_keep=True):
    q = np.asarray(query, np.float64)
    k = np.asarray(key, np.float64)
    L, E = q.shape[-2:]
    S = k.shape[-2]
    scale = 1.0 / math.sqrt(E) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale
    if attn_mask is not None:
        scores = scores + _bias(attn_mask, true_means_keep)
    if is_causal:
        scores = np.where(np.tril(np.ones((L, S), bool)), scores, -np.inf)
    return _softmax(scores)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 *, generator=None, return_lse=False):
    """softmax(q k^T * scale + mask) v with the whole score matrix; ``generator`` must be an int seed
    when dropout_p > 0. Returns the query's dtype (and the log-sum-exp with return_lse)."""
    dtype = np.asarray(query).dtype
    w, lse = _weights(query, key, attn_mask, is_causal, scale)
    if dropout_p >= 1.0:
        w = np.zeros_like(w)
    elif dropout_p > 0:
        w = np.where(dropout_keep(np, int(generator), w.shape, dropout_p), w / (1.0 - dropout_p), 0.0)
    out = (w @ np.asarray(value, np.float64)).astype(dtype)
    return (out, lse.astype(dtype)) if return_lse else out


def multi_head_attention(query, key, value, params, num_heads, key_padding_mask=None, attn_mask=None,
                         need_weights=False, average_attn_weights=True, batch_first=False, is_causal=False):
    """torch.nn.MultiheadAttention's forward (eval mode) from its state_dict names, in float64:
    (output, weights or None). Boolean masks are True where attention is NOT allowed (torch's MHA)."""
    dtype = np.asarray(query).dtype
    P = {k: np.asarray(v, np.float64) for k, v in params.items() if v is not None}
    q, k, v = (np.asarray(a, np.float64) for a in (query, key, value))
    unbatched = q.ndim == 2
    if unbatched:
        q, k, v = q[:, None], k[:, None], v[:, None]
    elif batch_first:
        q, k, v = (np.swapaxes(a, 0, 1) for a in (q, k, v))
    L, N, E = q.shape
    S = k.shape[0]
    H, hd = num_heads, E // num_heads
    if "in_proj_weight" in P:
        wq, wk, wv = np.split(P["in_proj_weight"], 3)
    else:
        wq, wk, wv = P["q_proj_weight"], P["k_proj_weight"], P["v_proj_weight"]
    bq, bk, bv = np.split(P["in_proj_bias"], 3) if "in_proj_bias" in P else (0.0, 0.0, 0.0)
    heads = lambda x, n: x.reshape(n, N, H, hd).transpose(1, 2, 0, 3)  # noqa: E731
    qh, kh, vh = heads(q @ wq.T + bq, L), heads(k @ wk.T + bk, S), heads(v @ wv.T + bv, S)
    bias = np.zeros((N, H, L, S))
    if attn_mask is not None:
        am = _bias(attn_mask, true_means_keep=False)
        bias = bias + (am.reshape(N, H, L, S) if am.ndim == 3 else am)
    elif is_causal:
        bias = bias + np.where(np.tril(np.ones((L, S), bool)), 0.0, -np.inf)
    if key_padding_mask is not None:
        kp = _bias(key_padding_mask, true_means_keep=False)
        kp = kp[None] if kp.ndim == 1 else kp
        bias = bias + kp[:, None, None, :]
    w, _ = _softmax(qh @ np.swapaxes(kh, -1, -2) / math.sqrt(hd) + bias, np.nan if need_weights else 0.0)
    o = (w @ vh).transpose(2, 0, 1, 3).reshape(L, N, E)
    out = o @ P["out_proj.weight"].T + P.get("out_proj.bias", 0.0)
    if unbatched:
        out = out[:, 0]
    elif batch_first:
        out = np.swapaxes(out, 0, 1)
    weights = None
    if need_weights:
        weights = w.mean(axis=1) if average_attn_weights else w
        weights = (weights[0] if unbatched else weights).astype(dtype)
    return out.astype(dtype), weights


def additive_attention(query, keys, values, w_query, w_keys, v, mask=None):
    """Bahdanau: score_s = v . tanh(w_query q + w_keys k_s); (context [B, Dv], weights [B, S])."""
    dtype = np.asarray(query).dtype
    q, ks, vs = (np.asarray(a, np.float64) for a in (query, keys, values))
    hidden = np.tanh((q @ np.asarray(w_query, np.float64).T)[:, None, :] + ks @ np.asarray(w_keys, np.float64).T)
    scores = hidden @ np.asarray(v, np.float64)
    if mask is not None:
        scores = np.where(np.asarray(mask, bool), scores, -np.inf)
    w, _ = _softmax(scores)
    return np.einsum("bs,bsd->bd", w, vs).astype(dtype), w.astype(dtype)


def dot_attention(query, keys, values, mask=None, scale=None):
    """Luong (dot): score_s = (q . k_s) * scale (default 1); (context [B, Dv], weights [B, S])."""
    dtype = np.asarray(query).dtype
    q, ks, vs = (np.asarray(a, np.float64) for a in (query, keys, values))
    scores = np.einsum("bd,bsd->bs", q, ks) * (1.0 if scale is None else scale)
    if mask is not None:
        scores = np.where(np.asarray(mask, bool), scores, -np.inf)
    w, _ = _softmax(scores)
    return np.einsum("bs,bsd->bd", w, vs).astype(dtype), w.astype(dtype)
