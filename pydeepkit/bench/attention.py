"""Benchmark entries of the attention family (float32): ours vs torch's SDPA and nn.MultiheadAttention.

SDPA rows: [B, H, L, E] query/key/value, with and without is_causal (the causal rate counts
the work of the visible half only). The multi-head row is self-attention of a [N, L, 512]
batch_first input with 8 heads, against nn.MultiheadAttention(512, 8, batch_first=True) in eval
mode with need_weights=False (torch's fused inference path), loaded with the same weights.
:func:`make_inputs` also makes the inputs of ``pydeepkit demo``'s attention cases.
"""
from __future__ import annotations

import numpy as np

from ._registry import Entry


def make_inputs(op: str, shape: tuple, rng: np.random.Generator) -> tuple:
    """SDPA: shape (B, H, L, S, E, Ev) -> query, key, value. multi_head_attention: shape
    (N, L, E) -> x, in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias (torch's
    init scale); "multi_head_attention params": (N, L, E) -> x, x, x and those as a state_dict. additive_attention: (B, S, D, A) -> query, keys, values, w_query, w_keys, v.
    dot_attention: (B, S, D) -> query, keys, values."""
    def u(*s, scale=1.0):
        return (rng.uniform(-1, 1, s) * scale).astype(np.float32)
    if op == "scaled_dot_product_attention":
        B, H, L, S, E, Ev = shape
        return u(B, H, L, E), u(B, H, S, E), u(B, H, S, Ev)
    if op == "multi_head_attention params":
        x, *weights = make_inputs("multi_head_attention", shape, rng)
        return x, x, x, mha_params(*weights)
    if op == "multi_head_attention":
        N, L, E = shape
        bound = (6.0 / (4 * E)) ** 0.5
        return u(N, L, E), u(3 * E, E, scale=bound), u(3 * E, scale=0.1), u(E, E, scale=E ** -0.5), u(E, scale=0.1)
    if op == "additive_attention":
        B, S, D, A = shape
        return u(B, D), u(B, S, D), u(B, S, D), u(A, D, scale=D ** -0.5), u(A, D, scale=D ** -0.5), u(A)
    B, S, D = shape
    return u(B, D), u(B, S, D), u(B, S, D)


def _sdpa_ours(causal):
    def run(q, k, v, backend=None):
        from .. import ops
        return ops.scaled_dot_product_attention(q, k, v, is_causal=causal, backend=backend)
    return run


def _sdpa_torch(causal):
    def run(q, k, v):
        import torch.nn.functional as F
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    return run


def mha_params(w_in, b_in, w_out, b_out) -> dict:
    """nn.MultiheadAttention state_dict names of the multi-head inputs."""
    return {"in_proj_weight": w_in, "in_proj_bias": b_in, "out_proj.weight": w_out, "out_proj.bias": b_out}


def _mha_ours(x, w_in, b_in, w_out, b_out, backend=None):
    from .. import ops
    return ops.multi_head_attention(x, x, x, mha_params(w_in, b_in, w_out, b_out), 8, batch_first=True,
                                    backend=backend)[0]


_MODULES: dict = {}


def torch_module(params: dict, embed_dim: int, num_heads: int, kdim: int, vdim: int, batch_first: bool):
    """nn.MultiheadAttention (eval) loaded with ``params`` (torch tensors), cached for the last params seen."""
    import torch
    key = (id(params.get("in_proj_weight", params.get("q_proj_weight"))), num_heads, batch_first)
    if key not in _MODULES:
        dtype = next(iter(params.values())).dtype
        mha = torch.nn.MultiheadAttention(embed_dim, num_heads, bias="in_proj_bias" in params, kdim=kdim, vdim=vdim,
                                          batch_first=batch_first, dtype=dtype).eval()
        mha.load_state_dict(params)
        _MODULES.clear()
        _MODULES[key] = (params, mha)  # params kept alive: their ids stay theirs
    return _MODULES[key][1]


def _mha_torch(x, w_in, b_in, w_out, b_out):
    mha = torch_module(mha_params(w_in, b_in, w_out, b_out), x.shape[-1], 8, x.shape[-1], x.shape[-1], True)
    return mha(x, x, x, need_weights=False)[0]


def _torch_multi_head_attention(query, key, value, params, num_heads, batch_first=False, **kwargs):
    mha = torch_module(params, query.shape[-1], num_heads, key.shape[-1], value.shape[-1], batch_first)
    return mha(query, key, value, **kwargs)


TORCH_EQUIVALENTS = {"multi_head_attention": _torch_multi_head_attention}


def _sdpa_flops(causal):
    def cost(inputs, output):
        q, k, v = inputs
        B, H, L, E = q.shape
        S, Ev = k.shape[2], v.shape[3]
        pairs = L * S - (L * (L - 1) // 2 if causal else 0)
        return 0, 2 * B * H * pairs * (E + Ev)
    return cost


def _mha_flops(inputs, output):
    x = inputs[0]
    N, L, E = x.shape
    return 0, 2 * N * L * E * 4 * E + 4 * N * L * L * E


def _sdpa_entry(label, full, quick, causal):
    return Entry(op="scaled_dot_product_attention", params=label + (" causal" if causal else ""),
                 shapes={"full": full, "quick": quick},
                 make_inputs=lambda shape, rng: make_inputs("scaled_dot_product_attention", shape, rng),
                 ours=_sdpa_ours(causal), torch=_sdpa_torch(causal), cost=_sdpa_flops(causal), metric="GFLOP/s",
                 rtol=1e-4, atol=1e-5)


ENTRIES = [
    *(_sdpa_entry("b8 h8 L=S=512 E=64", (8, 8, 512, 512, 64, 64), (1, 2, 40, 40, 16, 16), c) for c in (False, True)),
    *(_sdpa_entry("b1 h8 L=S=2048 E=64", (1, 8, 2048, 2048, 64, 64), (1, 1, 70, 70, 16, 16), c)
      for c in (False, True)),
    Entry(op="multi_head_attention", params="embed 512 heads 8 L=256 batch 8", shapes={"full": (8, 256, 512),
          "quick": (2, 16, 64)}, make_inputs=lambda shape, rng: make_inputs("multi_head_attention", shape, rng),
          ours=_mha_ours, torch=_mha_torch, cost=_mha_flops, metric="GFLOP/s", rtol=1e-4, atol=1e-5),
]
