"""Numpy oracles of the detection-box family (NMS, batched NMS, soft-NMS, IoU, box utilities).

Loops over boxes, with the arithmetic in the boxes' dtype in torchvision's operation
order (numpy never fuses a multiply and an add), so the kernels must match the IoU-based
results exactly. The rules they encode are those of ``pydeepkit.ops.boxes``: suppression
when the IoU (compared as float64) is strictly above the threshold; ranking by decreasing
score, NaN first, ties by lower index; a NaN IoU never suppresses and never decays a score.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["nms", "batched_nms", "soft_nms", "box_iou", "box_area", "box_convert", "clip_boxes_to_image",
           "remove_small_boxes", "encode_boxes", "decode_boxes", "anchor_grid"]


# Invalid boxes give inf - inf, 0 * inf, 0 / 0 on purpose: NaN/inf as IEEE says, no warnings.
_QUIET = dict(invalid="ignore", divide="ignore", over="ignore")


def _areas(boxes):
    with np.errstate(**_QUIET):
        return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _iou_with(box, area, boxes, areas):
    """IoU of one box with each of boxes [M, 4] (torchvision's formula, in the boxes' dtype)."""
    with np.errstate(**_QUIET):
        w = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
        h = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
        inter = np.maximum(w, 0) * np.maximum(h, 0)
        return inter / (area + areas - inter)


def _rank_key(score, index):
    """Sort key of the ranking: NaN first, then decreasing score (-0 ties with 0), then index."""
    score = float(score)
    return (0, 0.0, index) if math.isnan(score) else (1, -score, index)


def ranking(scores):
    """Box indices in ranking order."""
    return sorted(range(len(scores)), key=lambda i: _rank_key(scores[i], i))


def nms(boxes, scores, iou_threshold):
    """Greedy NMS: walk the ranking; keep a box unless a kept box has IoU > iou_threshold with it."""
    boxes, scores = np.asarray(boxes), np.asarray(scores)
    areas = _areas(boxes)
    alive = np.array(ranking(scores), np.int64)  # the not-yet-suppressed boxes, in ranking order
    keep = []
    while alive.size:
        i, rest = alive[0], alive[1:]
        keep.append(i)
        iou = _iou_with(boxes[i], areas[i], boxes[rest], areas[rest])
        alive = rest[~(iou.astype(np.float64) > iou_threshold)]
    return np.array(keep, np.int64)


def batched_nms(boxes, scores, idxs, iou_threshold):
    """NMS run separately on each category, the kept boxes merged in ranking order."""
    boxes, scores, idxs = np.asarray(boxes), np.asarray(scores), np.asarray(idxs)
    kept = []
    for category in np.unique(idxs):
        members = np.nonzero(idxs == category)[0]
        kept.extend(members[nms(boxes[members], scores[members], iou_threshold)].tolist())
    return np.array(sorted(kept, key=lambda i: _rank_key(scores[i], i)), np.int64)


def soft_nms(boxes, scores, iou_threshold=0.3, sigma=0.5, score_threshold=0.001, method="gaussian"):
    """Soft-NMS: keep the best remaining box (by current score), decay the others, drop those below
    score_threshold. Gaussian weights exp(-iou^2 / sigma) are computed in float64."""
    boxes, scores = np.asarray(boxes), np.asarray(scores)
    dtype = scores.dtype
    areas = _areas(boxes)
    current = scores.copy()
    alive = [i for i in range(len(scores)) if not float(scores[i]) < score_threshold]
    keep, kept_scores = [], []
    while alive:
        best = min(alive, key=lambda i: _rank_key(current[i], i))
        keep.append(best)
        kept_scores.append(current[best])
        rest = np.array([i for i in alive if i != best], np.int64)
        if rest.size == 0:
            break
        iou = _iou_with(boxes[best], areas[best], boxes[rest], areas[rest])
        iou64 = iou.astype(np.float64)
        if method == "linear":
            decayed = np.where(iou64 > iou_threshold, current[rest] * (dtype.type(1) - iou), current[rest])
        else:
            weight = np.exp(-(iou64 * iou64) / sigma)
            decayed = (current[rest].astype(np.float64) * weight).astype(dtype)
            decayed = np.where(np.isnan(iou) | (iou == 0), current[rest], decayed)
        current[rest] = decayed
        alive = [int(i) for i in rest if not float(current[i]) < score_threshold]
    return np.array(keep, np.int64), np.array(kept_scores, dtype)


def box_iou(boxes1, boxes2):
    """IoU of every pair, one row at a time."""
    boxes1, boxes2 = np.asarray(boxes1), np.asarray(boxes2)
    out = np.empty((len(boxes1), len(boxes2)), boxes1.dtype)
    areas1, areas2 = _areas(boxes1), _areas(boxes2)
    for i in range(len(boxes1)):
        out[i] = _iou_with(boxes1[i], areas1[i], boxes2, areas2)
    return out


def box_area(boxes, fmt="xyxy"):
    boxes = np.asarray(boxes)
    if fmt == "xyxy":
        return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    return boxes[..., 2] * boxes[..., 3]


def box_convert(boxes, in_fmt, out_fmt):
    """Per box, through (x1, y1, x2, y2) as torchvision."""
    boxes = np.asarray(boxes)
    flat = boxes.reshape(-1, 4)
    out = np.empty_like(flat)
    half = boxes.dtype.type(0.5)
    for k, (a, b, c, d) in enumerate(flat):
        if in_fmt == "xywh" and out_fmt != in_fmt:
            a, b, c, d = a, b, a + c, b + d
        elif in_fmt == "cxcywh" and out_fmt != in_fmt:
            a, b, c, d = a - half * c, b - half * d, a + half * c, b + half * d
        if out_fmt == "xywh" and in_fmt != out_fmt:
            a, b, c, d = a, b, c - a, d - b
        elif out_fmt == "cxcywh" and in_fmt != out_fmt:
            a, b, c, d = (a + c) / 2, (b + d) / 2, c - a, d - b
        out[k] = (a, b, c, d)
    return out.reshape(boxes.shape)


def clip_boxes_to_image(boxes, size):
    boxes = np.asarray(boxes)
    height, width = size
    out = boxes.copy()
    out[..., 0::2] = np.clip(boxes[..., 0::2], 0, width)
    out[..., 1::2] = np.clip(boxes[..., 1::2], 0, height)
    return out


def remove_small_boxes(boxes, min_size):
    boxes = np.asarray(boxes)
    keep = [i for i, (x1, y1, x2, y2) in enumerate(boxes) if x2 - x1 >= min_size and y2 - y1 >= min_size]
    return np.array(keep, np.int64)


def encode_boxes(reference_boxes, proposals, weights=(1.0, 1.0, 1.0, 1.0)):
    g, p = np.asarray(reference_boxes), np.asarray(proposals)
    wx, wy, ww, wh = np.asarray(weights, p.dtype)
    pw, ph = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
    gw, gh = g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]
    px, py = p[:, 0] + 0.5 * pw, p[:, 1] + 0.5 * ph
    gx, gy = g[:, 0] + 0.5 * gw, g[:, 1] + 0.5 * gh
    with np.errstate(**_QUIET):
        return np.stack((wx * (gx - px) / pw, wy * (gy - py) / ph, ww * np.log(gw / pw), wh * np.log(gh / ph)),
                        axis=1)


def decode_boxes(rel_codes, boxes, weights=(1.0, 1.0, 1.0, 1.0), bbox_xform_clip=math.log(1000.0 / 16)):
    codes = np.asarray(rel_codes)
    b = np.asarray(boxes).astype(codes.dtype)
    wx, wy, ww, wh = weights
    n, classes = codes.shape[0], codes.shape[1] // 4
    out = np.empty_like(codes)
    for i in range(n):
        w, h = b[i, 2] - b[i, 0], b[i, 3] - b[i, 1]
        cx, cy = b[i, 0] + 0.5 * w, b[i, 1] + 0.5 * h
        for c in range(classes):
            dx, dy, dw, dh = codes[i, 4 * c: 4 * c + 4]
            dw, dh = np.minimum(dw / ww, bbox_xform_clip), np.minimum(dh / wh, bbox_xform_clip)
            x, y = dx / wx * w + cx, dy / wy * h + cy
            half_w, half_h = 0.5 * (np.exp(dw) * w), 0.5 * (np.exp(dh) * h)
            out[i, 4 * c: 4 * c + 4] = (x - half_w, y - half_h, x + half_w, y + half_h)
    return out


def anchor_grid(feature_sizes, strides, sizes=((128, 256, 512),), aspect_ratios=((0.5, 1.0, 2.0),),
                dtype=np.float32):
    """For each level, position (row y, column x) and anchor (ratio, size): the float32 base anchor
    (-w/2, -h/2, w/2, h/2), w = size / sqrt(ratio), h = size * sqrt(ratio), rounded half to even,
    then shifted by (x * stride_w, y * stride_h)."""
    if not isinstance(sizes[0], (list, tuple)):
        sizes = tuple((s,) for s in sizes)
    if not isinstance(aspect_ratios[0], (list, tuple)):
        aspect_ratios = (aspect_ratios,) * len(sizes)
    rows = []
    for (h, w), stride, level_sizes, level_ratios in zip(feature_sizes, strides, sizes, aspect_ratios):
        sh, sw = stride if isinstance(stride, (list, tuple)) else (stride, stride)
        base = []
        for ratio in level_ratios:
            h_ratio = np.sqrt(np.float32(ratio))
            w_ratio = np.float32(1) / h_ratio
            for size in level_sizes:
                half_w, half_h = w_ratio * np.float32(size) / 2, h_ratio * np.float32(size) / 2
                base.append([np.round(-half_w), np.round(-half_h), np.round(half_w), np.round(half_h)])
        for y in range(h):
            for x in range(w):
                for x1, y1, x2, y2 in base:
                    rows.append([x * sw + x1, y * sh + y1, x * sw + x2, y * sh + y2])
    return np.array(rows, dtype).reshape(-1, 4)
