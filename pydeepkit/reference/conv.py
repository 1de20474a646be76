"""Numpy oracle of the convolution family: one strided slice and one einsum per kernel tap, in float64."""
from __future__ import annotations

import itertools

import numpy as np

from .gemm import apply_activation

__all__ = ["conv", "conv_transpose", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "separable_conv2d"]

_NP_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _tuple(v, n):
    return tuple(v) if isinstance(v, (list, tuple)) else (v,) * n


def _epilogue(out, dtype, bias, residual, activation, negative_slope):
    if bias is not None:
        out = out + np.asarray(bias, np.float64).reshape((1, -1) + (1,) * (out.ndim - 2))
    if residual is not None:
        out = out + np.asarray(residual, np.float64)
    return apply_activation(out, activation, negative_slope).astype(dtype)


def conv(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros",
         activation=None, negative_slope=0.01, residual=None):
    """torch's conv{n}d on batched x [N, C_in, *in], weight [C_out, C_in / groups, *k]; padding is an
    int, n ints, 'valid' or 'same'. Returns act(conv + bias + residual) in x's dtype."""
    x = np.asarray(x)
    n = x.ndim - 2
    w = np.asarray(weight, np.float64)
    k = w.shape[2:]
    s, d = _tuple(stride, n), _tuple(dilation, n)
    if padding == "valid":
        pads = [(0, 0)] * n
    elif padding == "same":
        pads = [((di * (ki - 1)) // 2, di * (ki - 1) - (di * (ki - 1)) // 2) for ki, di in zip(k, d)]
    else:
        pads = [(p, p) for p in _tuple(padding, n)]
    xp = np.pad(np.asarray(x, np.float64), [(0, 0), (0, 0)] + pads, mode=_NP_PAD_MODES[padding_mode])
    out_size = [(xp.shape[2 + i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(n)]
    N, C = x.shape[:2]
    cout = w.shape[0]
    xg = xp.reshape(N, groups, C // groups, *xp.shape[2:])
    wg = w.reshape(groups, cout // groups, C // groups, *k)
    out = np.zeros((N, groups, cout // groups, *out_size))
    for tap in itertools.product(*(range(ki) for ki in k)):
        sl = tuple(slice(t * di, t * di + (o - 1) * si + 1, si) for t, di, o, si in zip(tap, d, out_size, s))
        out += np.einsum("ngc...,goc->ngo...", xg[(slice(None),) * 3 + sl], wg[(Ellipsis,) + tap])
    return _epilogue(out.reshape(N, cout, *out_size), x.dtype, bias, residual, activation, negative_slope)


def conv_transpose(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                   activation=None, negative_slope=0.01, residual=None):
    """torch's conv_transpose{n}d on batched x [N, C_in, *in], weight [C_in, C_out / groups, *k]:
    every input element scatters weight * value to (i * stride + tap * dilation), then the full
    output is cropped by `padding` at both ends (output_padding extends the far end)."""
    x = np.asarray(x)
    n = x.ndim - 2
    w = np.asarray(weight, np.float64)
    k = w.shape[2:]
    s, d, p, op = _tuple(stride, n), _tuple(dilation, n), _tuple(padding, n), _tuple(output_padding, n)
    N, C = x.shape[:2]
    in_size = x.shape[2:]
    cout_g = w.shape[1]
    full = [(i - 1) * si + di * (ki - 1) + 1 + o for i, si, di, ki, o in zip(in_size, s, d, k, op)]
    xg = np.asarray(x, np.float64).reshape(N, groups, C // groups, *in_size)
    wg = w.reshape(groups, C // groups, cout_g, *k)
    out = np.zeros((N, groups, cout_g, *full))
    for tap in itertools.product(*(range(ki) for ki in k)):
        sl = tuple(slice(t * di, t * di + (i - 1) * si + 1, si) for t, di, i, si in zip(tap, d, in_size, s))
        out[(slice(None),) * 3 + sl] += np.einsum("ngc...,gco->ngo...", xg, wg[(Ellipsis,) + tap])
    crop = tuple(slice(pi, f - pi) for pi, f in zip(p, full))
    out = out[(slice(None),) * 3 + crop].reshape(N, groups * cout_g, *[f - 2 * pi for f, pi in zip(full, p)])
    return _epilogue(out, x.dtype, bias, residual, activation, negative_slope)


def _named(fn, n):
    def op(x, weight, *args, **kwargs):
        x = np.asarray(x)
        if x.ndim == n + 1:  # unbatched, as torch
            return op(x[None], weight, *args, **kwargs)[0]
        return fn(x, weight, *args, **kwargs)
    op.__name__ = f"{fn.__name__}{n}d"
    op.__doc__ = f"{fn.__name__} on {n}-d inputs (also unbatched), as pydeepkit.ops.{fn.__name__}{n}d."
    return op


conv1d, conv2d, conv3d = (_named(conv, n) for n in (1, 2, 3))
conv_transpose1d, conv_transpose2d, conv_transpose3d = (_named(conv_transpose, n) for n in (1, 2, 3))


def separable_conv2d(x, depthwise_weight, pointwise_weight, bias=None, stride=1, padding=0, dilation=1, *,
                     depthwise_bias=None, padding_mode="zeros", activation=None, negative_slope=0.01):
    """The depthwise convolution (groups = C_in) then the 1x1 one, as pydeepkit.ops.separable_conv2d."""
    x = np.asarray(x)
    mid = conv(np.asarray(x, np.float64), depthwise_weight, depthwise_bias, stride, padding, dilation,
               groups=x.shape[1], padding_mode=padding_mode)
    return conv(mid, pointwise_weight, bias, activation=activation, negative_slope=negative_slope).astype(x.dtype)
