"""ROI family: ROIAlign, ROIPool and FPN multi-scale ROIAlign (torchvision.ops semantics).

``roi_align`` and ``roi_pool`` are kernels (CPU, CUDA, and the CUDA kernels on the
emulator); ``multi_scale_roi_align`` maps each box to one feature level like
torchvision's ``MultiScaleRoIAlign`` and runs ``roi_align`` per level.

Rules shared by every op and every backend:

* ``input`` is ``[N, C, H, W]`` float32/float64 with H, W >= 1. ``boxes`` is either a
  ``[K, 5]`` array of rows ``(batch_index, x1, y1, x2, y2)`` or a list of ``[L_i, 4]``
  arrays, one per image (image i's boxes get batch index i), of the input's dtype.
  Batch indices must be integers in ``[0, N)`` (ValueError otherwise, NaN included).
* Finite boxes follow torchvision's formulas term for term (``csrc/roi/roi_common.h``):
  ROIAlign scales by ``spatial_scale``, shifts by -0.5 when ``aligned``, forces boxes to
  at least 1x1 when not ``aligned``, samples ``sampling_ratio`` (or, for ``<= 0``,
  ``ceil(roi extent / output extent)``) points per bin and axis and averages them; a
  sample outside ``[-1, H] x [-1, W]`` adds exactly 0, one inside is clamped to the map
  and read bilinearly (its four taps are multiplied even when a weight is 0, so a NaN
  pixel next to a sample propagates, as in torchvision). ROIPool rounds the scaled corners
  half away from zero, makes the box at least 1x1, takes the first strict maximum of
  each bin (NaN pixels never win) and gives 0 for bins outside the map.
* Invalid boxes: x2 < x1 or y2 < y1 is not an error. ROIAlign with ``aligned=False``
  treats it as a 1-pixel-wide box at x1 (torchvision's clamp); with ``aligned=True`` and
  adaptive sampling it gives 0 (no sample); with a fixed ``sampling_ratio`` the samples
  step backwards from x1 (torchvision's formula). ROIPool makes it 1 pixel wide at
  round(x1). A box with a NaN or infinite coordinate (after scaling) gives NaN outputs
  (argmax -1) on every backend (torchvision is undefined there). Finite but huge
  boxes are clamped where they would overflow integers (65536 samples per bin and axis,
  +-2^40 for ROIPool corners), far beyond any real feature map.
* K = 0 gives an empty ``[0, C, h, w]`` output.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from .. import _backend

__all__ = ["roi_align", "roi_pool", "multi_scale_roi_align"]


# ---------------------------------------------------------------------------------------
# argument handling
# ---------------------------------------------------------------------------------------
def _output_size(op, value):
    items = value if isinstance(value, (list, tuple)) else (value, value)
    if len(items) == 1:
        items = (items[0], items[0])
    try:
        if len(items) != 2 or any(isinstance(v, bool) for v in items):
            raise TypeError
        size = tuple(operator.index(v) for v in items)
    except TypeError:
        raise TypeError(f"{op}: output_size must be an int or a pair of ints, got {value!r}") from None
    if min(size) < 1:
        raise ValueError(f"{op}: output_size must be >= 1, got {size}")
    return size


def _scale(op, name, value):
    if isinstance(value, (bool, str, bytes)):
        raise TypeError(f"{op}: {name} must be a real number, got {value!r}")
    try:
        scale = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: {name} must be a real number, got {value!r}") from None
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"{op}: {name} must be finite and > 0, got {value!r}")
    return scale


def _sampling(op, value):
    if isinstance(value, bool):
        raise TypeError(f"{op}: sampling_ratio must be an int, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{op}: sampling_ratio must be an int, got {value!r}") from None


def _input(call, arr):
    view = call.view(arr, "input")
    if view.ndim != 4:
        raise ValueError(f"{call.op}: input must be [N, C, H, W], got shape {tuple(view.shape)}")
    if view.shape[2] < 1 or view.shape[3] < 1:
        raise ValueError(f"{call.op}: input must have non-empty spatial dims, got shape {tuple(view.shape)}")
    return view


def _resolve(op, backend, input, boxes):
    """The call (every array of input and boxes on one library/device) and boxes as a list or one array."""
    if isinstance(boxes, (list, tuple)):
        arrays = {"input": input, **{f"boxes[{i}]": b for i, b in enumerate(boxes)}}
    else:
        arrays = {"input": input, "boxes": boxes}
    return _backend.resolve(op, backend, **arrays)


def _rois(call, boxes, xv):
    """Contiguous [K, 5] rois of the input's dtype from a [K, 5] array or a list of [L, 4] arrays,
    batch indices checked to be integers in [0, N)."""
    xp, op = call.xp, call.op
    if isinstance(boxes, (list, tuple)):
        parts = []
        for i, b in enumerate(boxes):
            bv = call.view(b, f"boxes[{i}]")
            if bv.ndim != 2 or bv.shape[1] != 4:
                raise ValueError(f"{op}: boxes[{i}] must be [L, 4] (x1, y1, x2, y2), got shape {tuple(bv.shape)}")
            if bv.dtype != xv.dtype:
                raise TypeError(f"{op}: boxes[{i}] must have the input's dtype ({xv.dtype}), got {bv.dtype}")
            rows = xp.empty((bv.shape[0], 5), dtype=xv.dtype)
            rows[:, 0] = i
            rows[:, 1:] = bv
            parts.append(rows)
        if len(boxes) > xv.shape[0]:
            raise ValueError(f"{op}: boxes is a list of {len(boxes)} per-image arrays but input has "
                             f"{xv.shape[0]} images")
        return xp.concatenate(parts) if parts else xp.empty((0, 5), dtype=xv.dtype)
    rv = call.view(boxes, "boxes")
    if rv.ndim != 2 or rv.shape[1] != 5:
        raise ValueError(f"{op}: boxes must be [K, 5] (batch_index, x1, y1, x2, y2) or a list of [L, 4], "
                         f"got shape {tuple(rv.shape)}")
    if rv.dtype != xv.dtype:
        raise TypeError(f"{op}: boxes must have the input's dtype ({xv.dtype}), got {rv.dtype}")
    rois = call.contiguous(rv)
    if rois.shape[0]:
        batch = rois[:, 0]
        bad = ~((batch >= 0) & (batch < xv.shape[0]) & (xp.floor(batch) == batch))
        if bool(bad.any()):
            first = int(xp.argmax(bad))
            raise ValueError(f"{op}: boxes[:, 0] must hold integer batch indices in [0, {xv.shape[0]}), got "
                             f"{float(batch[first])!r} in row {first}")
    return rois


def _launch(call, fn, xv, rois, size, params, outputs):
    """fn(sizes..., *params, input, rois, *outputs, dtype, stream) on contiguous views."""
    n, c, h, w = (int(s) for s in xv.shape)
    k = int(rois.shape[0])
    if k == 0 or c == 0:
        return
    xc = call.contiguous(xv)
    call.launch(fn, n, c, h, w, k, size[0], size[1], *params, call.ptr(xc), call.ptr(rois),
                *(call.ptr(o) for o in outputs), call.dtype_code(xc), call.stream)


def _align_into(call, xv, rois, out_view, size, spatial_scale, sampling_ratio, aligned):
    _launch(call, call.ext.roi_align_forward, xv, rois, size, (spatial_scale, sampling_ratio, bool(aligned)), (out_view,))


# ---------------------------------------------------------------------------------------
# ops
# ---------------------------------------------------------------------------------------
def roi_align(input, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False, *, backend=None):
    """ROIAlign (Mask R-CNN), as torchvision.ops.roi_align.

    input: [N, C, H, W] float32/float64; boxes: [K, 5] (batch_index, x1, y1, x2, y2) or a
    list of N' <= N arrays [L_i, 4] (image i's boxes), of the input's dtype, in image
    coordinates (multiplied by spatial_scale to reach the map). output_size: int or (h, w).
    sampling_ratio: samples per bin and axis, <= 0 for adaptive (ceil(box extent / output
    extent)); aligned: shift boxes by -0.5 pixel (pixel centres at integer + 0.5).
    Returns [K, C, h, w]. The module docstring gives the rules for samples outside the map
    and for invalid (inverted, NaN, infinite) boxes; they are identical on every backend.

    Kernels: CPU: the input is copied channels-last once, ROIs run in parallel, each bin's
    bilinear positions and weights are computed once and applied to all channels as vectors.
    CUDA: one thread per output.

    Example:
        >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
        >>> boxes = np.array([[0, 0, 0, 2, 2]], np.float32)
        >>> pydeepkit.ops.roi_align(x, boxes, 2, sampling_ratio=1, aligned=True).ravel().tolist()
        [0.0, 1.0, 4.0, 5.0]
    """
    op = "roi_align"
    call = _resolve(op, backend, input, boxes)
    xv = _input(call, input)
    size = _output_size(op, output_size)
    scale = _scale(op, "spatial_scale", spatial_scale)
    sampling = _sampling(op, sampling_ratio)
    rois = _rois(call, boxes, xv)
    out, out_view = call.empty((rois.shape[0], xv.shape[1], *size), xv.dtype)
    _align_into(call, xv, rois, out_view, size, scale, sampling, aligned)
    return out


def roi_pool(input, boxes, output_size, spatial_scale=1.0, *, return_argmax=False, backend=None):
    """ROIPool (Fast R-CNN), as torchvision.ops.roi_pool.

    input: [N, C, H, W] float32/float64; boxes: [K, 5] (batch_index, x1, y1, x2, y2) or a
    list of [L_i, 4] per image, of the input's dtype; output_size: int or (h, w). Each
    bin is the maximum of its input pixels (rounded box corners, torchvision's bins); a
    bin with no pixel inside the map is 0. Returns [K, C, h, w], and with return_argmax
    also the int64 [K, C, h, w] position h * W + w of each maximum in its plane (-1 for an
    empty bin or an invalid box), kept for a backward pass.

    Kernels: CPU: channels-last copy, ROIs in parallel, each bin a vector maximum over the
    channels; CUDA: one thread per output.

    Example:
        >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
        >>> y, arg = pydeepkit.ops.roi_pool(x, np.array([[0, 0, 0, 3, 3]], np.float32), 2, return_argmax=True)
        >>> y.ravel().tolist(), arg.ravel().tolist()
        ([5.0, 7.0, 13.0, 15.0], [5, 7, 13, 15])
    """
    op = "roi_pool"
    call = _resolve(op, backend, input, boxes)
    xv = _input(call, input)
    size = _output_size(op, output_size)
    scale = _scale(op, "spatial_scale", spatial_scale)
    rois = _rois(call, boxes, xv)
    shape = (rois.shape[0], xv.shape[1], *size)
    out, out_view = call.empty(shape, xv.dtype)
    # The argmax (kept for a backward pass) is written only when asked for: at 1000 ROIs x 256
    # channels x 7x7 it is 100 MB of int64 stores the kernels otherwise skip.
    arg, arg_view = call.empty(shape, np.int64) if return_argmax else (None, None)
    _launch(call, call.ext.roi_pool_forward, xv, rois, size, (scale,), (out_view, arg_view))
    return (out, arg) if return_argmax else out


def _infer_scale(op, feature_shape, image_size):
    """torchvision's MultiScaleRoIAlign._infer_scale: 2 ** round(log2(feature / image)), equal along H and W."""
    scales = [2.0 ** round(math.log2(float(f) / float(s))) for f, s in zip(feature_shape, image_size)]
    if scales[0] != scales[1]:
        raise ValueError(f"{op}: feature map {tuple(feature_shape)} gives different scales along H and W for "
                         f"image size {tuple(image_size)}")
    return scales[0]


def _levels(xp, rois, k_min, k_max, canonical_scale, canonical_level):
    """torchvision's LevelMapper in the boxes' dtype; -1 for boxes of negative or NaN area (no level)."""
    dt = rois.dtype
    with np.errstate(invalid="ignore", divide="ignore"):
        area = (rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2])
        s = xp.sqrt(area)
        lvl = xp.floor(dt.type(canonical_level) + xp.log2(s / dt.type(canonical_scale)) + dt.type(1e-6))
    lvl = xp.clip(lvl, k_min, k_max)
    return xp.where(xp.isnan(lvl), -1, lvl - k_min).astype(np.int64)


def multi_scale_roi_align(features, boxes, output_size, sampling_ratio=-1, *, image_shapes=None, scales=None,
                          canonical_scale=224, canonical_level=4, aligned=False, backend=None):
    """FPN ROIAlign, as torchvision.ops.MultiScaleRoIAlign (forward).

    features: a list of [N, C, H_l, W_l] maps, finest first (a dict: its values in order;
    torchvision's featmap_names filter is the caller's dict comprehension; one array: one level). boxes: a list
    of [L_i, 4] per image or [K, 5] rows. The scale of level l is given by ``scales`` or
    inferred as torchvision does from ``image_shapes`` (the (h, w) of every image; the
    largest h and w are the padded input size): 2 ** round(log2(H_l / h)). Each box goes
    to level k = floor(canonical_level + log2(sqrt(area) / canonical_scale) + 1e-6)
    clamped to the levels present (torchvision's LevelMapper, in the boxes' dtype), and is
    ROIAligned on that level's map with its scale. A box of negative or NaN area maps to
    no level and gives zeros, as in torchvision. Returns [K, C, h, w].

    Example:
        >>> feats = [np.ones((1, 2, 16, 16), np.float32), np.ones((1, 2, 8, 8), np.float32)]
        >>> boxes = [np.array([[0, 0, 20, 20], [0, 0, 60, 60]], np.float32)]
        >>> y = pydeepkit.ops.multi_scale_roi_align(feats, boxes, 2, 2, image_shapes=[(64, 64)])
        >>> y.shape
        (2, 2, 2, 2)
    """
    op = "multi_scale_roi_align"
    if isinstance(features, dict):
        maps = list(features.values())
    elif isinstance(features, (list, tuple)):
        maps = list(features)
    else:
        maps = [features]  # one array: a single level
    if not maps:
        raise ValueError(f"{op}: features must hold at least one feature map")
    if isinstance(boxes, (list, tuple)):
        arrays = {**{f"features[{i}]": f for i, f in enumerate(maps)}, **{f"boxes[{i}]": b for i, b in enumerate(boxes)}}
    else:
        arrays = {**{f"features[{i}]": f for i, f in enumerate(maps)}, "boxes": boxes}
    call = _backend.resolve(op, backend, **arrays)
    views = [call.view(f, f"features[{i}]") for i, f in enumerate(maps)]
    for i, v in enumerate(views):
        if v.ndim != 4 or v.shape[2] < 1 or v.shape[3] < 1:
            raise ValueError(f"{op}: features[{i}] must be [N, C, H, W] with H, W >= 1, got shape {tuple(v.shape)}")
        if v.shape[:2] != views[0].shape[:2] or v.dtype != views[0].dtype:
            raise ValueError(f"{op}: every feature map must share N, C and dtype with features[0] "
                             f"{tuple(views[0].shape)} {views[0].dtype}, features[{i}] is {tuple(v.shape)} {v.dtype}")
    if (scales is None) == (image_shapes is None):
        raise ValueError(f"{op}: give exactly one of image_shapes (torchvision's forward) and scales")
    if scales is None:
        shapes = [tuple(int(s) for s in hw) for hw in image_shapes]
        if not shapes or any(len(hw) != 2 for hw in shapes):
            raise ValueError(f"{op}: image_shapes must be a non-empty list of (h, w), got {image_shapes!r}")
        original = (max(h for h, _ in shapes), max(w for _, w in shapes))
        scales = [_infer_scale(op, v.shape[2:], original) for v in views]
    else:
        scales = [_scale(op, "scales", s) for s in scales]
        if len(scales) != len(views):
            raise ValueError(f"{op}: scales must have one entry per feature map ({len(views)}), got {len(scales)}")
    size = _output_size(op, output_size)
    sampling = _sampling(op, sampling_ratio)
    rois = _rois(call, boxes, views[0])
    out, out_view = call.empty((rois.shape[0], views[0].shape[1], *size), views[0].dtype)
    xp = call.xp
    if len(views) == 1:
        _align_into(call, views[0], rois, out_view, size, scales[0], sampling, aligned)
        return out
    # torchvision takes k_min, k_max from the first and last scale (float32 log2, truncated).
    k_min = int(-math.log2(scales[0]))
    k_max = int(-math.log2(scales[-1]))
    levels = _levels(xp, rois, k_min, k_max, _scale(op, "canonical_scale", canonical_scale), canonical_level)
    out_view[...] = 0
    for level, (v, scale) in enumerate(zip(views, scales)):
        idx = xp.nonzero(levels == level)[0]
        if idx.size == 0:
            continue
        part = xp.empty((idx.size, v.shape[1], *size), dtype=v.dtype)
        _align_into(call, v, call.contiguous(rois[idx]), part, size, scale, sampling, aligned)
        out_view[idx] = part
    return out
