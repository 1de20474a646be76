"""Activation glue ops (torch.nn.functional names): relu, relu6, leaky_relu, sigmoid, tanh, gelu,
softmax, log_softmax, maxout and dropout.

They are elementwise or per-row array-library expressions (numpy on cpu/emu, cupy on cuda,
through the caller's torch tensors zero copy): one pass over memory each, which is what a
kernel would do too. Where they follow a convolution or a linear layer, pydeepkit.nn.fuse moves
them into that kernel's epilogue instead.
"""
from __future__ import annotations

import math

from .. import _backend

__all__ = ["relu", "relu6", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax", "maxout",
           "dropout"]


def _map(op, x, backend, fn):
    """fn(xp, view of x) returned as an array of x's library."""
    call = _backend.resolve(op, backend, x=x)
    xv = call.view(x, "x")
    return call.result(fn(call.xp, xv))


def _dim(op, dim, ndim):
    if not isinstance(dim, int) or not -max(ndim, 1) <= dim < max(ndim, 1):
        raise ValueError(f"{op}: dim must be an int in [{-max(ndim, 1)}, {max(ndim, 1) - 1}] for a "
                         f"{ndim}-d x, got {dim!r}")
    return dim % max(ndim, 1)


def relu(x, *, backend=None):
    """max(x, 0), any shape.

    Example:
        >>> pydeepkit.ops.relu(np.array([-1.0, 2.0], np.float32)).tolist()
        [0.0, 2.0]
    """
    return _map("relu", x, backend, lambda xp, v: xp.maximum(v, 0))


def relu6(x, *, backend=None):
    """min(max(x, 0), 6), any shape (MobileNet-v2).

    Example:
        >>> pydeepkit.ops.relu6(np.array([-1.0, 7.0], np.float32)).tolist()
        [0.0, 6.0]
    """
    return _map("relu6", x, backend, lambda xp, v: xp.clip(v, 0, 6))


def leaky_relu(x, negative_slope=0.01, *, backend=None):
    """x where x >= 0, else negative_slope * x; any shape.

    Example:
        >>> pydeepkit.ops.leaky_relu(np.array([-1.0, 2.0], np.float32), 0.1).tolist()
        [-0.10000000149011612, 2.0]
    """
    return _map("leaky_relu", x, backend,
                lambda xp, v: xp.where(v >= 0, v, v * v.dtype.type(negative_slope)))


def sigmoid(x, *, backend=None):
    """1 / (1 + exp(-x)), any shape; computed without overflow for large |x|.

    Example:
        >>> pydeepkit.ops.sigmoid(np.array([0.0], np.float32)).tolist()
        [0.5]
    """
    def fn(xp, v):
        e = xp.exp(-xp.abs(v))  # never overflows; the sign picks the matching form
        return xp.where(v >= 0, 1 / (1 + e), e / (1 + e)).astype(v.dtype, copy=False)
    return _map("sigmoid", x, backend, fn)


def tanh(x, *, backend=None):
    """tanh(x), any shape.

    Example:
        >>> float(pydeepkit.ops.tanh(np.array([0.0], np.float32))[0])
        0.0
    """
    return _map("tanh", x, backend, lambda xp, v: xp.tanh(v))


def gelu(x, approximate="none", *, backend=None):
    """x * Phi(x) (approximate='none', exact erf form) or torch's 'tanh' approximation; any shape.

    Example:
        >>> round(float(pydeepkit.ops.gelu(np.array([1.0], np.float32))[0]), 4)
        0.8413
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")

    def fn(xp, v):
        if approximate == "tanh":
            return (0.5 * v * (1 + xp.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))).astype(v.dtype)
        erf = _erf(xp)
        return (0.5 * v * (1 + erf(v / math.sqrt(2)))).astype(v.dtype)
    return _map("gelu", x, backend, fn)


def _erf(xp):
    if xp.__name__ == "numpy":
        import numpy as np

        def erf(v):  # numpy has no erf ufunc: math.erf per element is exact and fast enough for glue
            return np.frompyfunc(math.erf, 1, 1)(v).astype(v.dtype) if v.size else v.copy()
        return erf
    from cupyx.scipy.special import erf
    return erf


def softmax(x, dim=-1, *, backend=None):
    """exp(x) / sum(exp(x)) along ``dim`` (max subtracted first: no overflow).

    Example:
        >>> pydeepkit.ops.softmax(np.zeros((1, 4), np.float32), dim=1).tolist()
        [[0.25, 0.25, 0.25, 0.25]]
    """
    def fn(xp, v):
        d = _dim("softmax", dim, v.ndim)
        e = xp.exp(v - v.max(axis=d, keepdims=True)) if v.size else v.copy()
        return e / e.sum(axis=d, keepdims=True) if v.size else e
    return _map("softmax", x, backend, fn)


def log_softmax(x, dim=-1, *, backend=None):
    """x - logsumexp(x) along ``dim`` (max subtracted first).

    Example:
        >>> round(pydeepkit.ops.log_softmax(np.zeros((1, 2), np.float32), dim=1)[0, 0].item(), 4)
        -0.6931
    """
    def fn(xp, v):
        d = _dim("log_softmax", dim, v.ndim)
        if not v.size:
            return v.copy()
        s = v - v.max(axis=d, keepdims=True)
        return s - xp.log(xp.exp(s).sum(axis=d, keepdims=True))
    return _map("log_softmax", x, backend, fn)


def maxout(x, pool_size, dim=1, *, backend=None):
    """Maxout (Goodfellow et al.): the maximum over groups of ``pool_size`` consecutive features.

    x: [..., C, ...] with C divisible by pool_size along ``dim``; returns [..., C / pool_size, ...].

    Example:
        >>> pydeepkit.ops.maxout(np.array([[1.0, 3.0, 2.0, 0.0]], np.float32), 2).tolist()
        [[3.0, 2.0]]
    """
    def fn(xp, v):
        d = _dim("maxout", dim, v.ndim)
        if not isinstance(pool_size, int) or pool_size < 1 or v.shape[d] % pool_size:
            raise ValueError(f"maxout: pool_size must be a positive int dividing x's dim {d} "
                             f"(size {v.shape[d]}), got {pool_size!r}")
        shape = v.shape[:d] + (v.shape[d] // pool_size, pool_size) + v.shape[d + 1:]
        return v.reshape(shape).max(axis=d + 1) if v.size else xp.empty(shape[:d + 1] + shape[d + 2:], v.dtype)
    return _map("maxout", x, backend, fn)


def dropout(x, p=0.5, training=True, *, rng=None, backend=None):
    """Zeroes each element with probability p and scales the rest by 1 / (1 - p) when training;
    returns x unchanged otherwise (inference). rng: a numpy/cupy Generator (default: a new one).

    Example:
        >>> x = np.ones(4, np.float32)
        >>> pydeepkit.ops.dropout(x, 0.5, training=False) is x
        True
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x

    def fn(xp, v):
        gen = rng if rng is not None else xp.random.default_rng()
        keep = gen.random(v.shape) >= p
        scale = v.dtype.type(0 if p == 1 else 1 / (1 - p))
        return xp.where(keep, v * scale, v.dtype.type(0))
    return _map("dropout", x, backend, fn)
