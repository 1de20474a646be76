"""Numpy oracle of the GEMM family: act(a @ b + bias + residual) in float64."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["gemm", "apply_activation"]

_ERF = np.vectorize(math.erf, otypes=[np.float64])


def apply_activation(v: np.ndarray, name, negative_slope: float = 0.01) -> np.ndarray:
    """torch's activation ``name`` (None, relu, leaky_relu, sigmoid, tanh, gelu (erf), relu6) on float64 values."""
    if name is None:
        return v
    if name == "relu":
        return np.where(v > 0, v, np.where(np.isnan(v), v, 0.0))
    if name == "leaky_relu":
        return np.where(v > 0, v, v * negative_slope)
    if name == "sigmoid":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-v))
    if name == "tanh":
        return np.tanh(v)
    if name == "gelu":
        return 0.5 * v * (1.0 + _ERF(v / math.sqrt(2.0)))
    if name == "relu6":
        return np.where(np.isnan(v), v, np.clip(v, 0.0, 6.0))
    raise ValueError(f"activation: unknown {name!r}")


def gemm(a, b, bias=None, activation=None, *, negative_slope=0.01, residual=None):
    """act(a [M, K] @ b [K, N] + bias [N] + residual [M, N]) -> [M, N], computed in float64
    and returned in a's dtype (same arguments as pydeepkit.ops.gemm minus ``backend``)."""
    a = np.asarray(a)
    out = np.asarray(a, np.float64) @ np.asarray(b, np.float64)
    if bias is not None:
        out = out + np.asarray(bias, np.float64)
    if residual is not None:
        out = out + np.asarray(residual, np.float64)
    return apply_activation(out, activation, negative_slope).astype(a.dtype)
