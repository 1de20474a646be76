"""Numpy oracle of interpolate ('nearest', 'bilinear'): each output pixel from its source coordinates,
per torch's documented rules (float64 coordinates, except nearest's float32 product as torch)."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["interpolate", "upsample"]


def _geometry(spatial, size, scale_factor):
    n = len(spatial)
    if size is not None:
        out = (size,) * n if isinstance(size, int) else tuple(size)
        return out, [i / o for i, o in zip(spatial, out)]
    sf = (scale_factor,) * n if isinstance(scale_factor, (int, float)) else tuple(scale_factor)
    return tuple(int(math.floor(i * s)) for i, s in zip(spatial, sf)), [1 / s for s in sf]


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None):
    x = np.asarray(x)
    spatial = x.shape[2:]
    out_size, scales = _geometry(spatial, size, scale_factor)
    out = np.empty(x.shape[:2] + tuple(out_size), np.float64)
    x64 = x.astype(np.float64)
    if mode == "nearest":
        for pos in np.ndindex(*out_size):
            src = tuple(min(int(math.floor(np.float32(p) * np.float32(s))), i - 1)
                        for p, s, i in zip(pos, scales, spatial))
            out[(..., *pos)] = x64[(..., *src)]
        return out.astype(x.dtype)
    (ih, iw), (oh, ow) = spatial, out_size

    def src(dst, i, o, s):
        if align_corners:
            return dst * (i - 1) / (o - 1) if o > 1 else 0.0
        return max((dst + 0.5) * s - 0.5, 0.0)
    for y in range(oh):
        sy = src(y, ih, oh, scales[0])
        y0 = min(int(sy), ih - 1)
        y1, ly = min(y0 + 1, ih - 1), sy - y0
        for xo in range(ow):
            sx = src(xo, iw, ow, scales[1])
            x0 = min(int(sx), iw - 1)
            x1, lx = min(x0 + 1, iw - 1), sx - x0
            out[:, :, y, xo] = ((1 - ly) * ((1 - lx) * x64[:, :, y0, x0] + lx * x64[:, :, y0, x1])
                                + ly * ((1 - lx) * x64[:, :, y1, x0] + lx * x64[:, :, y1, x1]))
    return out.astype(x.dtype)


upsample = interpolate
