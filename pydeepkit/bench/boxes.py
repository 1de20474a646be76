"""Benchmark entries of the detection-box family (float32): ours vs torchvision, and box inputs.

The NMS inputs imitate a detector's raw output: boxes in clusters around objects (about 20
jittered boxes per object, objects of 20-120 px scattered over a 1000 x 1000 image) with
distinct random scores (no ties, so every library returns the same order), so NMS keeps
about one box in five; for batched_nms each object has a category and 20% of its boxes
another one. The torch column
("torch NCHW") is torchvision's op. :func:`make_inputs` also makes the inputs of
``pydeepkit demo``'s box cases and :data:`TORCH_EQUIVALENTS` its torchvision timings.
"""
from __future__ import annotations

import numpy as np

from ._registry import Entry, memory_traffic

IOU_THRESHOLD = 0.5


def clustered_boxes(n: int, rng: np.random.Generator, per_cluster: int = 20, extent: float = 1000.0,
                    dtype=np.float32, return_clusters: bool = False):
    """[n, 4] boxes (x1, y1, x2, y2) in clusters of about ``per_cluster`` overlapping boxes (and,
    with return_clusters, the [n] cluster index of each box)."""
    clusters = max(1, n // per_cluster)
    centres = rng.uniform(0, extent, (clusters, 2))
    sizes = rng.uniform(20, 120, (clusters, 2))
    which = rng.integers(0, clusters, n)
    centre = centres[which] + rng.normal(0, 0.15, (n, 2)) * sizes[which]
    half = sizes[which] * rng.uniform(0.35, 0.65, (n, 2))
    boxes = np.concatenate([centre - half, centre + half], axis=1).astype(dtype)
    return (boxes, which) if return_clusters else boxes


def _scores(n, rng):
    """Distinct scores in (0, 1)."""
    return ((rng.permutation(n) + 0.5) / max(n, 1)).astype(np.float32)


def make_inputs(op: str, shape: tuple, rng: np.random.Generator) -> tuple:
    """The positional inputs of box op ``op`` for a case of ``shape``: (N,) for the NMS family and
    the box utilities, (N, C) for batched_nms (C categories) and decode_boxes (C classes),
    (N, M) for box_iou; anchor_grid takes no array."""
    n = shape[0] if shape else 0
    if op in ("nms", "soft_nms"):
        return clustered_boxes(n, rng), _scores(n, rng)
    if op == "batched_nms":
        boxes, clusters = clustered_boxes(n, rng, return_clusters=True)
        categories = rng.integers(0, shape[1], n // 20 + 1)[clusters]
        noisy = rng.uniform(0, 1, n) < 0.2
        categories[noisy] = rng.integers(0, shape[1], int(noisy.sum()))
        return boxes, _scores(n, rng), categories.astype(np.int64)
    if op == "box_iou":
        return clustered_boxes(n, rng), clustered_boxes(shape[1], rng)
    if op == "encode_boxes":
        proposals = clustered_boxes(n, rng)
        return proposals + rng.uniform(-5, 5, (n, 4)).astype(np.float32), proposals
    if op == "decode_boxes":
        return rng.uniform(-1, 1, (n, 4 * shape[1])).astype(np.float32), clustered_boxes(n, rng)
    if op == "anchor_grid":
        return ()
    return (clustered_boxes(n, rng),)


# ---------------------------------------------------------------------------------------
# torchvision equivalents (the demo's and the bench's torch columns)
# ---------------------------------------------------------------------------------------
def _torchvision_op(name):
    def run(*args, **kwargs):
        import torchvision.ops
        return getattr(torchvision.ops, name)(*args, **kwargs)
    return run


def _box_coder(method):
    def run(a, b, weights=(1.0, 1.0, 1.0, 1.0), **kwargs):
        from torchvision.models.detection._utils import BoxCoder
        return getattr(BoxCoder(weights, **kwargs), method)(a, b)
    return run


def _anchor_generator(feature_sizes, strides, sizes=((128, 256, 512),), aspect_ratios=((0.5, 1.0, 2.0),)):
    import torch
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    generator = AnchorGenerator(sizes, aspect_ratios)
    pairs = [s if isinstance(s, (list, tuple)) else (s, s) for s in strides]
    steps = [[torch.tensor(sh), torch.tensor(sw)] for sh, sw in pairs]
    return torch.cat(generator.grid_anchors([list(f) for f in feature_sizes], steps))


TORCH_EQUIVALENTS = {
    **{name: _torchvision_op(name) for name in ("nms", "batched_nms", "box_iou", "box_area", "box_convert",
                                                "clip_boxes_to_image", "remove_small_boxes")},
    "encode_boxes": _box_coder("encode_single"),
    "decode_boxes": _box_coder("decode_single"),
    "anchor_grid": _anchor_generator,
}


# ---------------------------------------------------------------------------------------
# entries
# ---------------------------------------------------------------------------------------
def _nms_inputs(shape, rng):
    return make_inputs("nms", shape, rng)


def _batched_inputs(shape, rng):
    return make_inputs("batched_nms", shape, rng)


def _iou_inputs(shape, rng):
    return make_inputs("box_iou", shape, rng)


def _ours_nms(boxes, scores, backend=None):
    from .. import ops
    return ops.nms(boxes, scores, IOU_THRESHOLD, backend=backend)


def _ours_batched(boxes, scores, idxs, backend=None):
    from .. import ops
    return ops.batched_nms(boxes, scores, idxs, IOU_THRESHOLD, backend=backend)


def _ours_soft(boxes, scores, backend=None):
    from .. import ops
    return ops.soft_nms(boxes, scores, backend=backend)


def _ours_iou(a, b, backend=None):
    from .. import ops
    return ops.box_iou(a, b, backend=backend)


def _tv_nms(boxes, scores):
    return TORCH_EQUIVALENTS["nms"](boxes, scores, IOU_THRESHOLD)


def _tv_batched(boxes, scores, idxs):
    return TORCH_EQUIVALENTS["batched_nms"](boxes, scores, idxs, IOU_THRESHOLD)


def _input_bytes(inputs, output):
    return sum(int(a.nbytes) for a in inputs), 0


def _nms_entry(label, full, quick):
    return Entry(op="nms", params=label, shapes={"full": full, "quick": quick}, make_inputs=_nms_inputs,
                 ours=_ours_nms, torch=_tv_nms, cost=_input_bytes)


ENTRIES = [
    _nms_entry("1k clustered", (1000,), (256,)),
    _nms_entry("10k clustered", (10000,), (512,)),
    _nms_entry("50k clustered", (50000,), (1024,)),
    Entry(op="batched_nms", params="10k, 80 classes", shapes={"full": (10000, 80), "quick": (512, 8)},
          make_inputs=_batched_inputs, ours=_ours_batched, torch=_tv_batched, cost=_input_bytes),
    Entry(op="soft_nms", params="gaussian 1k (no torchvision op)", shapes={"full": (1000,), "quick": (128,)},
          make_inputs=_nms_inputs, ours=_ours_soft, torch=None, cost=_input_bytes),
    Entry(op="box_iou", params="1k x 10k", shapes={"full": (1000, 10000), "quick": (64, 256)},
          make_inputs=_iou_inputs, ours=_ours_iou, torch=TORCH_EQUIVALENTS["box_iou"], cost=memory_traffic),
]
