"""Numpy oracles of the normalisation glue ops, per channel / per window loops in float64."""
from __future__ import annotations

import numpy as np

__all__ = ["batch_norm", "layer_norm", "local_response_norm"]


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    x = np.asarray(x)
    out = np.empty(x.shape, np.float64)
    for c in range(x.shape[1]):
        v = (x[:, c].astype(np.float64) - running_mean[c]) / np.sqrt(np.float64(running_var[c]) + eps)
        out[:, c] = v * (1.0 if weight is None else weight[c]) + (0.0 if bias is None else bias[c])
    return out.astype(x.dtype)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    x = np.asarray(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    lead = x.shape[:x.ndim - len(shape)]
    out = np.empty(x.shape, np.float64)
    for idx in np.ndindex(*lead):
        v = x[idx].astype(np.float64)
        out[idx] = (v - v.mean()) / np.sqrt(((v - v.mean()) ** 2).mean() + eps)
    if weight is not None:
        out *= weight
    if bias is not None:
        out += bias
    return out.astype(x.dtype)


def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    x = np.asarray(x)
    c = x.shape[1]
    out = np.empty(x.shape, np.float64)
    x64 = x.astype(np.float64)
    for ch in range(c):
        lo, hi = max(0, ch - size // 2), min(c - 1, ch + (size - 1) // 2)
        s = (x64[:, lo:hi + 1] ** 2).sum(axis=1)
        out[:, ch] = x64[:, ch] / (k + alpha / size * s) ** beta
    return out.astype(x.dtype)
