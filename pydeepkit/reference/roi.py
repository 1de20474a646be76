"""Numpy references of the ROI family: roi_align, roi_pool, multi_scale_roi_align.

Plain loops over ROIs, bins and samples (vectorised over channels), transcribing
torchvision's formulas in the input's dtype, plus pydeepkit's rules where torchvision is
undefined (a NaN/infinite box gives NaN, argmax -1); see pydeepkit.ops.roi.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["roi_align", "roi_pool", "multi_scale_roi_align"]


def _pair(v):
    return tuple(v) * (2 if len(v) == 1 else 1) if isinstance(v, (list, tuple)) else (v, v)


def _rois(boxes, dtype):
    if isinstance(boxes, (list, tuple)):
        parts = [np.concatenate([np.full((len(b), 1), i, dtype), np.asarray(b, dtype)], 1) for i, b in enumerate(boxes)]
        return np.concatenate(parts) if parts else np.zeros((0, 5), dtype)
    return np.asarray(boxes, dtype)


def _bilinear(plane, y, x):
    """Bilinear sample of [C, H, W] at (y, x); None when outside [-1, H] x [-1, W]."""
    _, height, width = plane.shape
    t = plane.dtype.type
    if y < -1 or y > height or x < -1 or x > width:
        return None
    y, x = max(y, t(0)), max(x, t(0))
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_low = y_high = height - 1
        y = t(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_low = x_high = width - 1
        x = t(x_low)
    else:
        x_high = x_low + 1
    ly, lx = t(y - y_low), t(x - x_low)
    hy, hx = t(1) - ly, t(1) - lx
    return (hy * hx * plane[:, y_low, x_low] + hy * lx * plane[:, y_low, x_high]
            + ly * hx * plane[:, y_high, x_low] + ly * lx * plane[:, y_high, x_high])


def roi_align(input, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
    x = np.asarray(input)
    t = x.dtype.type
    rois = _rois(boxes, x.dtype)
    ph_n, pw_n = _pair(output_size)
    out = np.zeros((len(rois), x.shape[1], ph_n, pw_n), x.dtype)
    scale, offset = t(spatial_scale), t(0.5 if aligned else 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        for r, roi in enumerate(rois):
            plane = x[int(roi[0])]
            sw, sh = roi[1] * scale - offset, roi[2] * scale - offset
            rw, rh = roi[3] * scale - offset - sw, roi[4] * scale - offset - sh
            if not all(np.isfinite(v) for v in (sw, sh, rw, rh)):
                out[r] = np.nan
                continue
            if not aligned:
                rw, rh = max(rw, t(1)), max(rh, t(1))
            bh, bw = t(rh / t(ph_n)), t(rw / t(pw_n))
            gh = sampling_ratio if sampling_ratio > 0 else int(min(math.ceil(rh / t(ph_n)), 65536))
            gw = sampling_ratio if sampling_ratio > 0 else int(min(math.ceil(rw / t(pw_n)), 65536))
            count = t(max(gh * gw, 1))
            for ph in range(ph_n):
                for pw in range(pw_n):
                    acc = np.zeros(x.shape[1], x.dtype)
                    for iy in range(gh):
                        y = t(sh + t(ph) * bh + t(iy + 0.5) * bh / t(gh))
                        for ix in range(gw):
                            xs = t(sw + t(pw) * bw + t(ix + 0.5) * bw / t(gw))
                            v = _bilinear(plane, y, xs)
                            if v is not None:
                                acc += v
                    out[r, :, ph, pw] = acc / count
    return out


def roi_pool(input, boxes, output_size, spatial_scale=1.0, return_argmax=False):
    x = np.asarray(input)
    t = x.dtype.type
    rois = _rois(boxes, x.dtype)
    ph_n, pw_n = _pair(output_size)
    _, channels, height, width = x.shape
    out = np.zeros((len(rois), channels, ph_n, pw_n), x.dtype)
    arg = np.full(out.shape, -1, np.int64)
    with np.errstate(invalid="ignore", over="ignore"):
        for r, roi in enumerate(rois):
            c = [roi[i] * t(spatial_scale) for i in range(1, 5)]
            if not all(np.isfinite(v) for v in c):
                out[r] = np.nan
                continue
            # round half away from zero (std::round), not numpy's half to even
            x1, y1, x2, y2 = (int(math.copysign(math.floor(abs(float(v)) + 0.5), float(v))) for v in c)
            rw, rh = max(x2 - x1 + 1, 1), max(y2 - y1 + 1, 1)
            bh, bw = t(t(rh) / t(ph_n)), t(t(rw) / t(pw_n))
            for ph in range(ph_n):
                h0 = min(max(math.floor(t(ph) * bh) + y1, 0), height)
                h1 = min(max(math.ceil(t(ph + 1) * bh) + y1, 0), height)
                for pw in range(pw_n):
                    w0 = min(max(math.floor(t(pw) * bw) + x1, 0), width)
                    w1 = min(max(math.ceil(t(pw + 1) * bw) + x1, 0), width)
                    if h1 <= h0 or w1 <= w0:
                        continue  # 0, argmax -1
                    for ch in range(channels):
                        best, best_i = t(-np.finfo(np.float32).max), -1
                        for h in range(h0, h1):
                            for w in range(w0, w1):
                                if x[int(roi[0]), ch, h, w] > best:
                                    best, best_i = x[int(roi[0]), ch, h, w], h * width + w
                        out[r, ch, ph, pw], arg[r, ch, ph, pw] = best, best_i
    return (out, arg) if return_argmax else out


def multi_scale_roi_align(features, boxes, output_size, sampling_ratio=-1, *, image_shapes=None, scales=None,
                          canonical_scale=224, canonical_level=4, aligned=False):
    if isinstance(features, dict):
        features = list(features.values())
    maps = [np.asarray(f) for f in features] if isinstance(features, (list, tuple)) else [np.asarray(features)]
    rois = _rois(boxes, maps[0].dtype)
    if scales is None:
        size = (max(h for h, _ in image_shapes), max(w for _, w in image_shapes))
        scales = [2.0 ** round(math.log2(f.shape[2] / size[0])) for f in maps]
    out = np.zeros((len(rois), maps[0].shape[1], *_pair(output_size)), maps[0].dtype)
    k_min, k_max = int(-math.log2(scales[0])), int(-math.log2(scales[-1]))
    t = maps[0].dtype.type
    for r, roi in enumerate(rois):
        level = 0
        if len(maps) > 1:
            with np.errstate(invalid="ignore", divide="ignore"):
                s = np.sqrt(t((roi[3] - roi[1]) * (roi[4] - roi[2])))
                k = np.floor(t(canonical_level) + np.log2(s / t(canonical_scale)) + t(1e-6))
            if np.isnan(k):
                continue  # no level: zeros
            level = int(min(max(k, k_min), k_max)) - k_min
        out[r] = roi_align(maps[level], roi[None], output_size, scales[level], sampling_ratio, aligned)[0]
    return out
