"""Numpy oracles of the activation glue ops, written from their definitions (float64 inside)."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["relu", "relu6", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax", "maxout", "dropout"]


def _f64(fn):
    def run(x, *args, **kwargs):
        x = np.asarray(x)
        return np.asarray(fn(x.astype(np.float64), *args, **kwargs)).astype(x.dtype)
    run.__name__, run.__doc__ = fn.__name__, fn.__doc__
    return run


@_f64
def relu(x):
    return np.where(x > 0, x, 0.0)


@_f64
def relu6(x):
    return np.where(x > 6, 6.0, np.where(x > 0, x, 0.0))


@_f64
def leaky_relu(x, negative_slope=0.01):
    return np.where(x >= 0, x, negative_slope * x)


@_f64
def sigmoid(x):
    return np.vectorize(lambda v: 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v)),
                        otypes=[np.float64])(x)


@_f64
def tanh(x):
    return np.vectorize(math.tanh, otypes=[np.float64])(x)


@_f64
def gelu(x, approximate="none"):
    if approximate == "tanh":
        return np.vectorize(lambda v: 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3))),
                            otypes=[np.float64])(x)
    return np.vectorize(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))), otypes=[np.float64])(x)


@_f64
def softmax(x, dim=-1):
    x = np.moveaxis(x, dim, -1)
    out = np.empty_like(x)
    for idx in np.ndindex(*x.shape[:-1]):
        row = x[idx]
        e = np.exp(row - row.max())
        out[idx] = e / e.sum()
    return np.moveaxis(out, -1, dim)


@_f64
def log_softmax(x, dim=-1):
    x = np.moveaxis(x, dim, -1)
    out = np.empty_like(x)
    for idx in np.ndindex(*x.shape[:-1]):
        row = x[idx]
        m = row.max()
        out[idx] = row - m - math.log(np.exp(row - m).sum())
    return np.moveaxis(out, -1, dim)


@_f64
def maxout(x, pool_size, dim=1):
    x = np.moveaxis(x, dim, -1)
    out = np.stack([x[..., g * pool_size:(g + 1) * pool_size].max(axis=-1)
                    for g in range(x.shape[-1] // pool_size)], axis=-1)
    return np.moveaxis(out, -1, dim)


def dropout(x, p=0.5, training=True):
    """Inference dropout: the input itself (training mode is random and has no oracle)."""
    if training:
        raise ValueError("reference.dropout: only training=False has a deterministic result")
    return np.asarray(x)
