"""Upsampling / interpolation (torch.nn.functional.interpolate): 'nearest' and 'bilinear' with torch's
align_corners semantics, on 3-d, 4-d and 5-d inputs ('nearest') or 4-d ('bilinear').

The source coordinates are computed once per output row/column (host numpy, tiny), then the
array library gathers and blends rows and columns separably.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _backend

__all__ = ["interpolate", "upsample"]


def _scales(op, spatial, size, scale_factor):
    n = len(spatial)
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor")
    if size is not None:
        out = (size,) * n if isinstance(size, int) else tuple(int(s) for s in size)
        if len(out) != n or any(o < 1 for o in out):
            raise ValueError(f"{op}: size must be a positive int or {n} positive ints, got {size!r}")
        return out, tuple(i / o for i, o in zip(spatial, out))
    sf = (scale_factor,) * n if isinstance(scale_factor, (int, float)) else tuple(scale_factor)
    if len(sf) != n or any(s <= 0 for s in sf):
        raise ValueError(f"{op}: scale_factor must be positive (one or {n} values), got {scale_factor!r}")
    out = tuple(int(math.floor(i * s)) for i, s in zip(spatial, sf))
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: scale_factor {scale_factor!r} gives an empty output for input size {spatial}")
    # torch uses 1 / scale_factor (not in / out) when the factor is given
    return out, tuple(1.0 / s for s in sf)


def _nearest_index(in_size, out_size, scale):
    # float32 products, as torch's CPU kernel (the floor of a product can differ in float64)
    return np.minimum(np.floor(np.arange(out_size, dtype=np.float32) * np.float32(scale)).astype(np.int64),
                      in_size - 1)


def _linear_weights(in_size, out_size, scale, align_corners):
    """(i0, i1, w1) per output position: out = in[i0] * (1 - w1) + in[i1] * w1."""
    dst = np.arange(out_size, dtype=np.float64)
    if align_corners:
        src = dst * ((in_size - 1) / (out_size - 1)) if out_size > 1 else np.zeros(out_size)
    else:
        src = np.maximum((dst + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    return i0, i1, src - i0


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None, *, backend=None):
    """Resizes the spatial dims of x (torch.nn.functional.interpolate, modes 'nearest' and 'bilinear').

    x: [N, C, *spatial] (1-3 spatial dims for 'nearest', 2 for 'bilinear'); size: the output
    spatial size (int or tuple) or scale_factor (number or tuple), exactly one of them.
    align_corners (bilinear only; default False) as torch: True maps the corner pixels' centres
    onto each other, False samples at (dst + 0.5) * in / out - 0.5.

    Example:
        >>> x = np.array([[[[0.0, 1.0]]]], np.float32)
        >>> pydeepkit.ops.interpolate(x, scale_factor=2, mode="bilinear")[0, 0, 0].tolist()
        [0.0, 0.25, 0.75, 1.0]
    """
    op = "interpolate"
    call = _backend.resolve(op, backend, x=x)
    xv = call.view(x, "x")
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"{op}: mode must be 'nearest' or 'bilinear', got {mode!r}")
    if xv.ndim not in ((4,) if mode == "bilinear" else (3, 4, 5)):
        want = "4-d [N, C, H, W]" if mode == "bilinear" else "3-d, 4-d or 5-d [N, C, *spatial]"
        raise ValueError(f"{op}: mode {mode!r} needs x {want}, got shape {tuple(xv.shape)}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError(f"{op}: align_corners applies to 'bilinear' only, not to {mode!r}")
    spatial = tuple(xv.shape[2:])
    out_size, scales = _scales(op, spatial, size, scale_factor)
    xp = call.xp
    out = xv
    for d, (i, o, s) in enumerate(zip(spatial, out_size, scales)):
        axis = 2 + d
        if mode == "nearest":
            out = xp.take(out, xp.asarray(_nearest_index(i, o, s)), axis=axis)
            continue
        i0, i1, w1 = _linear_weights(i, o, s, bool(align_corners))
        shape = [1] * xv.ndim
        shape[axis] = o
        w1 = xp.asarray(w1.astype(xv.dtype)).reshape(shape)
        a, b = xp.take(out, xp.asarray(i0), axis=axis), xp.take(out, xp.asarray(i1), axis=axis)
        out = a + (b - a) * w1
    return call.result(out.astype(xv.dtype, copy=False))


def upsample(x, size=None, scale_factor=None, mode="nearest", align_corners=None, *, backend=None):
    """Alias of :func:`interpolate` (torch.nn.functional.upsample's name).

    Example:
        >>> pydeepkit.ops.upsample(np.ones((1, 1, 2, 2), np.float32), scale_factor=2).shape
        (1, 1, 4, 4)
    """
    return interpolate(x, size, scale_factor, mode, align_corners, backend=backend)
