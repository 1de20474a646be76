"""Numpy oracle of linear: an explicit sum over in_features in float64 per output feature."""
from __future__ import annotations

import numpy as np

__all__ = ["linear"]

_ACT = {None: lambda v: v, "relu": lambda v: np.maximum(v, 0), "relu6": lambda v: np.clip(v, 0, 6),
        "tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v))}


def linear(x, weight, bias=None, activation=None):
    x = np.asarray(x)
    x64, w64 = x.astype(np.float64), np.asarray(weight, np.float64)
    out = np.zeros(x.shape[:-1] + (w64.shape[0],))
    for o in range(w64.shape[0]):
        out[..., o] = (x64 * w64[o]).sum(axis=-1) + (0.0 if bias is None else float(bias[o]))
    return _ACT[activation](out).astype(x.dtype)
