"""Detection-box family: NMS (greedy, batched, soft), pairwise IoU and the box utilities of
Faster R-CNN-style detectors (area, format conversion, clipping, small-box removal, box
coding, anchors).

Names and semantics follow torchvision (``torchvision.ops``, ``BoxCoder``,
``AnchorGenerator``). ``nms``, ``batched_nms``, ``soft_nms`` and ``box_iou`` are kernels
(CPU, CUDA, and the CUDA kernels on the emulator); the elementwise utilities are
expressions of the caller's array library (numpy or cupy; torch tensors through a
zero-copy view, results returned as torch tensors).

Rules shared by every op and every backend (the kernels produce identical results):

* Boxes are ``[N, 4]`` rows ``(x1, y1, x2, y2)``, float32 or float64; scores have the
  boxes' dtype.
* IoU is torchvision's formula, evaluated in the boxes' dtype with each operation rounded
  on its own: ``inter = max(0, min(x2) - max(x1)) * max(0, min(y2) - max(y1))``,
  ``area = (x2 - x1) * (y2 - y1)``, ``iou = inter / (area_a + area_b - inter)``.
* NMS suppresses a box when its IoU with a kept box is **strictly greater** than
  ``iou_threshold``, the IoU compared as a float64 number (as torchvision): a box planted
  exactly at the threshold is kept, and a float32 IoU of 3/10 (which rounds to
  0.30000001) is above a threshold of 0.3.
* Ranking: decreasing score, ties broken by the lower index; NaN scores rank above every
  number (torch's descending sort), so their boxes come first.
* Invalid boxes: a box with x2 < x1 or y2 < y1, or of zero area, has zero intersection
  with every box, so for ``iou_threshold >= 0`` it neither suppresses nor is suppressed. A
  box with a NaN coordinate has a NaN IoU with every box: it is never suppressed, never
  suppresses, and leaves soft-NMS scores unchanged. Infinite coordinates follow IEEE
  arithmetic in the formula above (an infinite-area box has IoU 0 or NaN).
* Empty inputs give empty outputs.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _backend

__all__ = ["nms", "batched_nms", "soft_nms", "box_iou", "box_area", "box_convert", "clip_boxes_to_image",
           "remove_small_boxes", "encode_boxes", "decode_boxes", "anchor_grid"]

# Mirrors pdk::SoftNmsMethod (csrc/nms/nms.h).
_SOFT_NMS_METHODS = {"linear": 0, "gaussian": 1}
_FORMATS = ("xyxy", "xywh", "cxcywh")
# Invalid boxes (inf - inf, log of a negative size, ...) give NaN/inf as in torch, without numpy's warnings.
_QUIET = dict(invalid="ignore", divide="ignore", over="ignore")


# ---------------------------------------------------------------------------------------
# argument handling
# ---------------------------------------------------------------------------------------
def _real(op, name, value):
    """A real number that is not NaN, as a Python float."""
    if isinstance(value, (bool, str, bytes)):
        raise TypeError(f"{op}: {name} must be a real number, got {value!r}")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: {name} must be a real number, got {value!r}") from None
    if math.isnan(result):
        raise ValueError(f"{op}: {name} must not be NaN")
    return result


def _box_rows(call, arr, name, *, any_leading=False):
    """Kernel view of a [N, 4] (or, with any_leading, [..., 4]) float array."""
    view = call.view(arr, name)
    if (view.ndim != 2 and not any_leading) or view.ndim < 1 or view.shape[-1] != 4:
        wanted = "[..., 4]" if any_leading else "[N, 4]"
        raise ValueError(f"{call.op}: {name} must be {wanted} boxes, got shape {tuple(view.shape)}")
    return view


def _per_box(call, arr, name, boxes_view, dtypes=None):
    """Kernel view of a [N] array that goes with boxes [N, 4]."""
    view = call.view(arr, name, **({"dtypes": dtypes} if dtypes else {}))
    n = boxes_view.shape[0]
    if tuple(view.shape) != (n,):
        raise ValueError(f"{call.op}: {name} must be [N] = ({n},) like boxes {tuple(boxes_view.shape)}, "
                         f"got shape {tuple(view.shape)}")
    if dtypes is None and view.dtype != boxes_view.dtype:
        raise TypeError(f"{call.op}: {name} must have the dtype of boxes ({boxes_view.dtype}), got {view.dtype}")
    return view


def _format(op, name, fmt):
    if fmt not in _FORMATS:
        raise ValueError(f"{op}: {name} must be one of {', '.join(map(repr, _FORMATS))}, got {fmt!r}")
    return fmt


def _weights(op, weights):
    try:
        values = tuple(_real(op, "weights", w) for w in weights)
    except TypeError:
        raise TypeError(f"{op}: weights must be 4 real numbers (wx, wy, ww, wh), got {weights!r}") from None
    if len(values) != 4:
        raise ValueError(f"{op}: weights must be 4 real numbers (wx, wy, ww, wh), got {weights!r}")
    return values


def _workspace(call, nbytes):
    return call.empty((nbytes,), np.uint8)[1] if nbytes > 0 else None


# ---------------------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------------------
def _run_nms(call, boxes_view, scores_view, categories_view, iou_threshold):
    n = int(boxes_view.shape[0])
    keep, keep_view = call.empty((n,), np.int64)
    if n == 0:
        return keep
    batched = categories_view is not None
    bc, sc = call.contiguous(boxes_view), call.contiguous(scores_view)
    cc = call.contiguous(categories_view) if batched else None
    dtype = call.dtype_code(bc)
    nbytes = call.ext.nms_workspace_bytes(n, iou_threshold, batched, dtype)
    workspace = _workspace(call, nbytes)
    count, count_view = call.empty((1,), np.int64)
    call.launch(call.ext.nms_forward, n, iou_threshold, batched, call.ptr(bc), call.ptr(sc), call.ptr(cc),
                call.ptr(keep_view), call.ptr(count_view), call.ptr(workspace), nbytes, dtype, call.stream)
    return keep[: int(count[0])]


def nms(boxes, scores, iou_threshold, *, backend=None):
    """Greedy non-maximum suppression, as torchvision.ops.nms.

    boxes: [N, 4] (x1, y1, x2, y2), scores: [N], float32 or float64 of one dtype.
    Returns the int64 indices of the kept boxes [K], in decreasing score order (ties: the
    lower index first; NaN scores first). A box is dropped when its IoU with a kept,
    higher-ranked box is > iou_threshold (strictly: a box exactly at the threshold stays);
    the module docstring gives the IoU formula and what invalid, NaN and infinite boxes do.
    Identical results on every backend.

    Kernels: CPU: a radix-sorted ranking; each step resolves the next 64 undecided boxes
    among themselves, and their kept boxes suppress the other undecided boxes, which wait in
    spatial cells (64 boxes along a Morton curve, with a bounding box): a kept box tests only
    the cells it overlaps (exact for iou_threshold >= 0), with vectorised IoU. CUDA: ranking
    and 64x64 bitmask tiles in parallel, then a one-block walk of the mask on the device; the
    kept count is the one integer read back to the host (the result is a view of an [N]
    buffer). The CUDA workspace is about N * ceil(N / 64) * 4 bytes (the upper triangle of
    the mask), allocated by the caller's library.

    Example:
        >>> boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
        >>> scores = np.array([0.9, 0.8, 0.7], np.float32)
        >>> pydeepkit.ops.nms(boxes, scores, 0.5).tolist()
        [0, 2]
    """
    call = _backend.resolve("nms", backend, boxes=boxes, scores=scores)
    bv = _box_rows(call, boxes, "boxes")
    sv = _per_box(call, scores, "scores", bv)
    return _run_nms(call, bv, sv, None, _real("nms", "iou_threshold", iou_threshold))


def batched_nms(boxes, scores, idxs, iou_threshold, *, backend=None):
    """NMS within categories, as torchvision.ops.batched_nms.

    boxes: [N, 4], scores: [N] (float32/float64), idxs: [N] int64 or int32 category of
    each box. Boxes of different categories never suppress each other. Returns the int64
    indices of the kept boxes [K], in decreasing score order over all categories (ties:
    lower index first). Rules as :func:`nms`.

    No coordinate-offset trick: the kernels test "same category and IoU > threshold", so
    the result equals running :func:`nms` per category exactly, whatever the coordinates'
    magnitude (torchvision's offsets lose float precision for large coordinates or many
    categories). CPU: one greedy NMS per category, categories in parallel; CUDA: one
    category-aware bitmask NMS.

    Example:
        >>> boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [1, 1, 11, 11]], np.float32)
        >>> scores = np.array([0.9, 0.8, 0.7], np.float32)
        >>> pydeepkit.ops.batched_nms(boxes, scores, np.array([0, 0, 1]), 0.5).tolist()
        [0, 2]
    """
    op = "batched_nms"
    call = _backend.resolve(op, backend, boxes=boxes, scores=scores, idxs=idxs)
    bv = _box_rows(call, boxes, "boxes")
    sv = _per_box(call, scores, "scores", bv)
    iv = _per_box(call, idxs, "idxs", bv, dtypes=("int64", "int32"))
    if iv.dtype != np.int64:
        iv = iv.astype(np.int64)
    return _run_nms(call, bv, sv, iv, _real(op, "iou_threshold", iou_threshold))


def soft_nms(boxes, scores, iou_threshold=0.3, sigma=0.5, score_threshold=0.001, method="gaussian", *,
             backend=None):
    """Soft-NMS (Bodla et al., 2017): decay overlapping boxes' scores instead of dropping them.

    boxes: [N, 4], scores: [N] (float32/float64). Repeatedly keeps the remaining box of
    highest current score (ties: lower index; NaN first) and multiplies the score of every
    other remaining box by a weight of its IoU with it: ``'gaussian'``: exp(-IoU^2 / sigma);
    ``'linear'``: 1 - IoU when IoU > iou_threshold (else 1). Boxes whose score is below
    score_threshold (at the start or after a decay) are dropped. A NaN IoU (NaN or infinite
    coordinates) leaves the score unchanged.

    Returns (keep, kept_scores): the int64 indices [K] in the order they were kept (scores
    non-increasing) and their scores at that moment [K] (the scores' dtype). The gaussian
    weight is computed in float64, so backends agree up to the last bit of the platform's
    float64 exp. CUDA runs one block (a reduction per kept box); the count is read back.

    Example:
        >>> boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5], [20, 20, 30, 30]], np.float32)
        >>> scores = np.array([0.9, 0.8, 0.7], np.float32)
        >>> keep, kept = pydeepkit.ops.soft_nms(boxes, scores, method="linear")
        >>> keep.tolist(), kept.tolist()
        ([0, 2, 1], [0.8999999761581421, 0.699999988079071, 0.4000000059604645])
    """
    op = "soft_nms"
    call = _backend.resolve(op, backend, boxes=boxes, scores=scores)
    bv = _box_rows(call, boxes, "boxes")
    sv = _per_box(call, scores, "scores", bv)
    if method not in _SOFT_NMS_METHODS:
        raise ValueError(f"{op}: method must be 'gaussian' or 'linear', got {method!r}")
    iou_threshold = _real(op, "iou_threshold", iou_threshold)
    score_threshold = _real(op, "score_threshold", score_threshold)
    sigma = _real(op, "sigma", sigma)
    if method == "gaussian" and not (sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"{op}: sigma must be finite and > 0, got {sigma!r}")
    n = int(bv.shape[0])
    keep, keep_view = call.empty((n,), np.int64)
    kept, kept_view = call.empty((n,), sv.dtype)
    if n == 0:
        return keep, kept
    bc, sc = call.contiguous(bv), call.contiguous(sv)
    dtype = call.dtype_code(bc)
    code = _SOFT_NMS_METHODS[method]
    nbytes = call.ext.soft_nms_workspace_bytes(n, iou_threshold, sigma, score_threshold, code, dtype)
    workspace = _workspace(call, nbytes)
    count, count_view = call.empty((1,), np.int64)
    call.launch(call.ext.soft_nms_forward, n, iou_threshold, sigma, score_threshold, code, call.ptr(bc),
                call.ptr(sc), call.ptr(keep_view), call.ptr(kept_view), call.ptr(count_view), call.ptr(workspace),
                nbytes, dtype, call.stream)
    k = int(count[0])
    return keep[:k], kept[:k]


def box_iou(boxes1, boxes2, *, backend=None):
    """Pairwise IoU, as torchvision.ops.box_iou.

    boxes1: [N, 4], boxes2: [M, 4] (x1, y1, x2, y2), float32 or float64 of one dtype.
    Returns iou [N, M] of that dtype, bit-identical to torchvision's formula (see the
    module docstring; NaN coordinates give NaN, boxes of zero area with each other 0/0 = NaN).

    Example:
        >>> a = np.array([[0, 0, 10, 10]], np.float32)
        >>> b = np.array([[0, 0, 10, 5], [5, 5, 15, 15], [20, 20, 30, 30]], np.float32)
        >>> pydeepkit.ops.box_iou(a, b).astype(float).round(4).tolist()
        [[0.5, 0.1429, 0.0]]
    """
    op = "box_iou"
    call = _backend.resolve(op, backend, boxes1=boxes1, boxes2=boxes2)
    av, bv = _box_rows(call, boxes1, "boxes1"), _box_rows(call, boxes2, "boxes2")
    if av.dtype != bv.dtype:
        raise TypeError(f"{op}: boxes1 and boxes2 must have one dtype, got {av.dtype} and {bv.dtype}")
    n, m = int(av.shape[0]), int(bv.shape[0])
    out, out_view = call.empty((n, m), av.dtype)
    if n and m:
        ac, bc = call.contiguous(av), call.contiguous(bv)
        call.launch(call.ext.box_iou_forward, n, m, call.ptr(ac), call.ptr(bc), call.ptr(out_view),
                    call.dtype_code(ac), call.stream)
    return out


# ---------------------------------------------------------------------------------------
# elementwise utilities (array-library expressions)
# ---------------------------------------------------------------------------------------
def box_area(boxes, fmt="xyxy", *, backend=None):
    """Box areas, as torchvision.ops.box_area.

    boxes: [..., 4] float32/float64 in format fmt ('xyxy': (x2 - x1) * (y2 - y1), which is
    negative for a box with x2 < x1; 'xywh', 'cxcywh': w * h). Returns area [...].

    Example:
        >>> pydeepkit.ops.box_area(np.array([[0, 0, 10, 5], [1, 1, 2, 2]], np.float32)).tolist()
        [50.0, 1.0]
    """
    op = "box_area"
    call = _backend.resolve(op, backend, boxes=boxes)
    v = _box_rows(call, boxes, "boxes", any_leading=True)
    with np.errstate(**_QUIET):
        if _format(op, "fmt", fmt) == "xyxy":
            return call.result((v[..., 2] - v[..., 0]) * (v[..., 3] - v[..., 1]))
        return call.result(v[..., 2] * v[..., 3])


def _to_xyxy(xp, v, fmt):
    a, b, c, d = (v[..., k] for k in range(4))
    if fmt == "xywh":
        return xp.stack((a, b, a + c, b + d), axis=-1)
    # cxcywh
    return xp.stack((a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d), axis=-1)


def _from_xyxy(xp, v, fmt):
    x1, y1, x2, y2 = (v[..., k] for k in range(4))
    if fmt == "xywh":
        return xp.stack((x1, y1, x2 - x1, y2 - y1), axis=-1)
    # cxcywh
    return xp.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), axis=-1)


def box_convert(boxes, in_fmt, out_fmt, *, backend=None):
    """Converts boxes between formats, as torchvision.ops.box_convert.

    boxes: [..., 4] float32/float64. Formats: 'xyxy' (x1, y1, x2, y2), 'xywh' (x1, y1, w,
    h), 'cxcywh' (centre x, centre y, w, h). Conversions between two non-'xyxy' formats go
    through 'xyxy' (as torchvision). Returns boxes [..., 4] of the same dtype (a copy when
    in_fmt == out_fmt).

    Example:
        >>> b = np.array([[10, 20, 30, 60]], np.float32)
        >>> pydeepkit.ops.box_convert(b, "xyxy", "cxcywh").tolist()
        [[20.0, 40.0, 20.0, 40.0]]
    """
    op = "box_convert"
    call = _backend.resolve(op, backend, boxes=boxes)
    v = _box_rows(call, boxes, "boxes", any_leading=True)
    _format(op, "in_fmt", in_fmt)
    _format(op, "out_fmt", out_fmt)
    xp = call.xp
    if in_fmt == out_fmt:
        return call.result(v.copy())
    with np.errstate(**_QUIET):
        xyxy = v if in_fmt == "xyxy" else _to_xyxy(xp, v, in_fmt)
        return call.result(xyxy if out_fmt == "xyxy" else _from_xyxy(xp, xyxy, out_fmt))


def clip_boxes_to_image(boxes, size, *, backend=None):
    """Clips boxes to an image, as torchvision.ops.clip_boxes_to_image.

    boxes: [..., 4] (x1, y1, x2, y2) float32/float64; size: (height, width). x coordinates
    are clamped to [0, width], y coordinates to [0, height]; NaN stays NaN. Returns boxes
    [..., 4].

    Example:
        >>> b = np.array([[-5, 3, 50, 120]], np.float32)
        >>> pydeepkit.ops.clip_boxes_to_image(b, (100, 40)).tolist()
        [[0.0, 3.0, 40.0, 100.0]]
    """
    op = "clip_boxes_to_image"
    call = _backend.resolve(op, backend, boxes=boxes)
    v = _box_rows(call, boxes, "boxes", any_leading=True)
    try:
        height, width = size
    except (TypeError, ValueError):
        raise ValueError(f"{op}: size must be (height, width), got {size!r}") from None
    height, width = _real(op, "size", height), _real(op, "size", width)
    if height < 0 or width < 0:
        raise ValueError(f"{op}: size must be (height, width) >= 0, got {size!r}")
    xp = call.xp
    x = xp.clip(v[..., 0::2], 0, width)
    y = xp.clip(v[..., 1::2], 0, height)
    return call.result(xp.stack((x, y), axis=-1).reshape(v.shape))


def remove_small_boxes(boxes, min_size, *, backend=None):
    """Indices of the boxes whose sides are both >= min_size, as torchvision.ops.remove_small_boxes.

    boxes: [N, 4] (x1, y1, x2, y2) float32/float64. Returns int64 indices [K] in increasing
    order; boxes with a NaN side are removed.

    Example:
        >>> b = np.array([[0, 0, 10, 10], [0, 0, 0.5, 10], [0, 0, 3, 3]], np.float32)
        >>> pydeepkit.ops.remove_small_boxes(b, 1.0).tolist()
        [0, 2]
    """
    op = "remove_small_boxes"
    call = _backend.resolve(op, backend, boxes=boxes)
    v = _box_rows(call, boxes, "boxes")
    min_size = _real(op, "min_size", min_size)
    with np.errstate(**_QUIET):
        keep = ((v[:, 2] - v[:, 0]) >= min_size) & ((v[:, 3] - v[:, 1]) >= min_size)
    return call.result(call.xp.nonzero(keep)[0].astype(np.int64))


def encode_boxes(reference_boxes, proposals, weights=(1.0, 1.0, 1.0, 1.0), *, backend=None):
    """Faster R-CNN box regression targets, as torchvision's BoxCoder(weights).encode_single.

    reference_boxes (ground truth), proposals: [N, 4] (x1, y1, x2, y2) of one dtype.
    weights: (wx, wy, ww, wh). Returns targets [N, 4]: (wx * (gx - px) / pw, wy * (gy - py) /
    ph, ww * log(gw / pw), wh * log(gh / ph)) with (x, y) the box centres and (w, h) the sizes
    (p: proposal, g: reference), in torchvision's operation order.

    Example:
        >>> gt = np.array([[0, 0, 20, 10]], np.float32)
        >>> proposal = np.array([[0, 0, 10, 10]], np.float32)
        >>> pydeepkit.ops.encode_boxes(gt, proposal).astype(float).round(4).tolist()
        [[0.5, 0.0, 0.6931, 0.0]]
    """
    op = "encode_boxes"
    call = _backend.resolve(op, backend, reference_boxes=reference_boxes, proposals=proposals)
    g = _box_rows(call, reference_boxes, "reference_boxes")
    p = _box_rows(call, proposals, "proposals")
    if g.shape != p.shape or g.dtype != p.dtype:
        raise ValueError(f"{op}: reference_boxes and proposals must be [N, 4] of one shape and dtype, got "
                         f"{tuple(g.shape)} {g.dtype} and {tuple(p.shape)} {p.dtype}")
    xp = call.xp
    wx, wy, ww, wh = xp.asarray(_weights(op, weights), dtype=p.dtype)
    with np.errstate(**_QUIET):
        pw, ph = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
        px, py = p[:, 0] + 0.5 * pw, p[:, 1] + 0.5 * ph
        gw, gh = g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]
        gx, gy = g[:, 0] + 0.5 * gw, g[:, 1] + 0.5 * gh
        targets = xp.stack((wx * (gx - px) / pw, wy * (gy - py) / ph, ww * xp.log(gw / pw), wh * xp.log(gh / ph)),
                           axis=1)
        return call.result(targets)


def decode_boxes(rel_codes, boxes, weights=(1.0, 1.0, 1.0, 1.0), bbox_xform_clip=math.log(1000.0 / 16), *,
                 backend=None):
    """Applies box regression deltas, as torchvision's BoxCoder(weights, bbox_xform_clip).decode_single.

    rel_codes: [N, 4 * C] deltas (dx, dy, dw, dh per class), boxes: [N, 4] (x1, y1, x2, y2)
    (converted to rel_codes' dtype). dw / ww and dh / wh are clamped to at most
    bbox_xform_clip (default log(1000 / 16)) before exp, as torchvision. Returns boxes
    [N, 4 * C] (x1, y1, x2, y2 per class).

    Example:
        >>> codes = np.array([[0.5, 0.0, 0.6931472, 0.0]], np.float32)
        >>> pydeepkit.ops.decode_boxes(codes, np.array([[0, 0, 10, 10]], np.float32)).astype(float).round(3).tolist()
        [[0.0, 0.0, 20.0, 10.0]]
    """
    op = "decode_boxes"
    call = _backend.resolve(op, backend, rel_codes=rel_codes, boxes=boxes)
    codes = call.view(rel_codes, "rel_codes")
    if codes.ndim != 2 or codes.shape[1] % 4 != 0:
        raise ValueError(f"{op}: rel_codes must be [N, 4 * C], got shape {tuple(codes.shape)}")
    b = _box_rows(call, boxes, "boxes")
    if b.shape[0] != codes.shape[0]:
        raise ValueError(f"{op}: boxes must be [N, 4] with N = {codes.shape[0]} (the rows of rel_codes), "
                         f"got shape {tuple(b.shape)}")
    wx, wy, ww, wh = _weights(op, weights)
    clip = _real(op, "bbox_xform_clip", bbox_xform_clip)
    xp = call.xp
    b = b.astype(codes.dtype, copy=False)
    with np.errstate(**_QUIET):
        widths, heights = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        ctr_x, ctr_y = b[:, 0] + 0.5 * widths, b[:, 1] + 0.5 * heights
        dx, dy = codes[:, 0::4] / wx, codes[:, 1::4] / wy
        dw, dh = xp.minimum(codes[:, 2::4] / ww, clip), xp.minimum(codes[:, 3::4] / wh, clip)
        pred_x = dx * widths[:, None] + ctr_x[:, None]
        pred_y = dy * heights[:, None] + ctr_y[:, None]
        half_w = 0.5 * (xp.exp(dw) * widths[:, None])
        half_h = 0.5 * (xp.exp(dh) * heights[:, None])
        decoded = xp.stack((pred_x - half_w, pred_y - half_h, pred_x + half_w, pred_y + half_h), axis=2)
        return call.result(decoded.reshape(codes.shape[0], -1))


# ---------------------------------------------------------------------------------------
# anchors
# ---------------------------------------------------------------------------------------
def _level_pairs(op, name, values, levels):
    """Per-level (h, w) int pairs from ints or pairs."""
    if len(values) != levels:
        raise ValueError(f"{op}: {name} must have one entry per level ({levels}), got {len(values)}")
    pairs = []
    for v in values:
        pair = tuple(v) if isinstance(v, (list, tuple)) else (v, v)
        if len(pair) != 2 or any(isinstance(x, bool) or int(x) != x or int(x) < 0 for x in pair):
            raise ValueError(f"{op}: each entry of {name} must be an int >= 0 or a pair (h, w) of them, got {v!r}")
        pairs.append(tuple(int(x) for x in pair))
    return pairs


def _cell_anchors(sizes, aspect_ratios):
    """torchvision's AnchorGenerator.generate_anchors in float32: [len(ratios) * len(sizes), 4]
    anchors centred at 0, widths size / sqrt(ratio), heights size * sqrt(ratio), rounded half to even."""
    scales = np.asarray(sizes, np.float32)
    ratios = np.asarray(aspect_ratios, np.float32)
    h_ratios = np.sqrt(ratios)
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
    hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
    return np.round(np.stack([-ws, -hs, ws, hs], axis=1) / 2)


def anchor_grid(feature_sizes, strides, sizes=((128, 256, 512),), aspect_ratios=((0.5, 1.0, 2.0),), *,
                dtype=np.float32, like=None, backend=None):
    """The anchors of every feature-map position, as torchvision's AnchorGenerator.

    feature_sizes: one (H, W) per level; strides: one int or (stride_h, stride_w) per level
    (AnchorGenerator uses image_size // feature_size); sizes: per level, the anchor sizes;
    aspect_ratios: per level, the height/width ratios (a flat tuple of sizes means one size
    per level, a flat tuple of ratios is used for every level, as AnchorGenerator). Per level
    the base anchors (ratio-major, then size) are centred at 0 and rounded as torchvision
    does (float32), then shifted by (x * stride_w, y * stride_h) for every position, rows
    first. Returns anchors [sum of H * W * A over the levels, 4] (x1, y1, x2, y2) of dtype,
    as a numpy array, or in the library and device of ``like`` (or cupy with backend='cuda').

    Example:
        >>> pydeepkit.ops.anchor_grid([(1, 2)], [16], sizes=((32,),), aspect_ratios=((1.0,),)).tolist()
        [[-16.0, -16.0, 16.0, 16.0], [0.0, -16.0, 32.0, 16.0]]
    """
    op = "anchor_grid"
    if not isinstance(sizes, (list, tuple)) or not sizes:
        raise ValueError(f"{op}: sizes must be a non-empty tuple (of tuples) of sizes, got {sizes!r}")
    if not isinstance(sizes[0], (list, tuple)):
        sizes = tuple((s,) for s in sizes)
    if not isinstance(aspect_ratios, (list, tuple)) or not aspect_ratios:
        raise ValueError(f"{op}: aspect_ratios must be a non-empty tuple (of tuples), got {aspect_ratios!r}")
    if not isinstance(aspect_ratios[0], (list, tuple)):
        aspect_ratios = (aspect_ratios,) * len(sizes)
    levels = len(sizes)
    if len(aspect_ratios) != levels:
        raise ValueError(f"{op}: sizes and aspect_ratios must have one entry per level, got {levels} and "
                         f"{len(aspect_ratios)}")
    grids = _level_pairs(op, "feature_sizes", list(feature_sizes), levels)
    steps = _level_pairs(op, "strides", list(strides), levels)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: dtype must be float32 or float64, got {dtype}")
    for level_sizes, level_ratios in zip(sizes, aspect_ratios):
        if not level_sizes or not level_ratios or any(not _real(op, "sizes", s) > 0 for s in level_sizes) or \
                any(not _real(op, "aspect_ratios", r) > 0 for r in level_ratios):
            raise ValueError(f"{op}: every level needs sizes and aspect_ratios > 0, got {level_sizes!r} and "
                             f"{level_ratios!r}")
    per_level = []
    for (h, w), (sh, sw), level_sizes, level_ratios in zip(grids, steps, sizes, aspect_ratios):
        base = _cell_anchors(level_sizes, level_ratios).astype(dtype)
        sy, sx = np.meshgrid(np.arange(h, dtype=np.int64) * sh, np.arange(w, dtype=np.int64) * sw, indexing="ij")
        shifts = np.stack((sx.ravel(), sy.ravel(), sx.ravel(), sy.ravel()), axis=1).astype(dtype)
        per_level.append((shifts[:, None, :] + base[None, :, :]).reshape(-1, 4))
    anchors = np.concatenate(per_level) if per_level else np.zeros((0, 4), dtype)
    if like is None:
        if backend == "cuda":
            return _backend._cupy().asarray(anchors)
        if backend is not None and backend not in _backend.BACKENDS:
            raise ValueError(f"{op}: backend must be None or one of {_backend.BACKENDS}, got {backend!r}")
        return anchors
    call = _backend.resolve(op, backend, like=like)
    if call.library == "numpy":
        return anchors
    out, view = call.empty(anchors.shape, dtype)
    view[...] = call.xp.asarray(anchors)
    return out

