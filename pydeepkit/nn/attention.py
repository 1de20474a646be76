"""nn.MultiheadAttention with torch's constructor arguments, parameter names and forward, over
pydeepkit.ops.multi_head_attention (projections on our GEMM, attention on the flash-style kernel)."""
from __future__ import annotations

import math

import numpy as np

from .. import ops
from . import init
from .layers import Linear
from .module import Module, Parameter

__all__ = ["MultiheadAttention"]


class MultiheadAttention(Module):
    """nn.MultiheadAttention(embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
    add_zero_attn=False, kdim=None, vdim=None, batch_first=False).

    Parameters: ``in_proj_weight`` [3E, E] (or ``q_proj_weight`` [E, E], ``k_proj_weight``
    [E, kdim], ``v_proj_weight`` [E, vdim] when kdim or vdim differ from E), ``in_proj_bias``
    [3E], ``out_proj.weight`` [E, E], ``out_proj.bias`` [E]: a torch module's state_dict loads
    directly. add_bias_kv and add_zero_attn are not supported (ValueError). The attention dropout
    applies in train() only.

    Example:
        >>> mha = pydeepkit.nn.MultiheadAttention(8, 2, batch_first=True)
        >>> x = np.ones((3, 5, 8), np.float32)
        >>> out, weights = mha(x, x, x)
        >>> out.shape, weights.shape
        ((3, 5, 8), (3, 5, 5))
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        if add_bias_kv or add_zero_attn:
            raise ValueError(f"{name}: add_bias_kv and add_zero_attn are not supported")
        if not isinstance(embed_dim, (int, np.integer)) or embed_dim < 1:
            raise ValueError(f"{name}: embed_dim must be a positive integer, got {embed_dim!r}")
        if not isinstance(num_heads, (int, np.integer)) or num_heads < 1 or embed_dim % num_heads:
            raise ValueError(f"{name}: num_heads must be a positive divisor of embed_dim = {embed_dim}, "
                             f"got {num_heads!r}")
        if not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout must be in [0, 1], got {dropout}")
        E = int(embed_dim)
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = E, int(num_heads), float(dropout), \
            bool(batch_first)
        self.kdim, self.vdim = int(kdim or E), int(vdim or E)
        self._qkv_same_embed_dim = self.kdim == E and self.vdim == E

        def xavier(shape):  # torch's xavier_uniform_ on the whole matrix
            return init.uniform(shape, math.sqrt(6.0 / (shape[0] + shape[1])), dtype)

        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(xavier((3 * E, E)))
        else:
            self.q_proj_weight = Parameter(xavier((E, E)))
            self.k_proj_weight = Parameter(xavier((E, self.kdim)))
            self.v_proj_weight = Parameter(xavier((E, self.vdim)))
        if bias:
            self.in_proj_bias = Parameter(init.zeros((3 * E,), dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(E, E, bias=bias, dtype=dtype)
        if bias:
            self.out_proj.bias = init.zeros((E,), dtype)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        """query [L, N, E] ([N, L, E] with batch_first, [L, E] unbatched), key [S, N, kdim], value
        [S, N, vdim]; masks as torch (boolean True = not attended, or float added). Returns
        (output, weights [N, L, S] averaged over heads, [N, heads, L, S], or None without
        need_weights), as torch."""
        params = {"out_proj.weight": self.out_proj.weight}
        if self.out_proj.bias is not None:
            params["out_proj.bias"] = self.out_proj.bias
        for name in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias"):
            value_ = self._parameters.get(name)
            if value_ is not None:
                params[name] = value_
        return ops.multi_head_attention(
            query, key, value, params, self.num_heads, key_padding_mask=key_padding_mask, attn_mask=attn_mask,
            need_weights=need_weights, average_attn_weights=average_attn_weights, batch_first=self.batch_first,
            is_causal=is_causal, dropout_p=self.dropout if self.training else 0.0, backend=self.backend)

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"
