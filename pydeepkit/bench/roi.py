"""Benchmark entries of the ROI family (float32): ours vs torchvision, and ROI inputs.

The inputs imitate a Faster/Mask R-CNN head: one [1, 256, 50, 68] feature map (stride 16 of an
800 x 1088 image) and proposals of 16-512 px anywhere in the image, ROIAligned (sampling 2,
aligned) or ROIPooled to 7x7 and 14x14. :func:`make_inputs` also makes the inputs of
``pydeepkit demo``'s ROI cases and :data:`TORCH_EQUIVALENTS` its torchvision timings.
"""
from __future__ import annotations

import numpy as np

from ._registry import Entry, memory_traffic

STRIDE = 16


def proposals(k: int, n: int, height: int, width: int, rng: np.random.Generator, stride: int = STRIDE,
              dtype=np.float32) -> np.ndarray:
    """[k, 5] rois (batch_index, x1, y1, x2, y2) in image coordinates of a map [n, C, height, width]
    at ``stride``; a few boxes reach over the border."""
    img_h, img_w = height * stride, width * stride
    size = np.exp(rng.uniform(np.log(16), np.log(512), (k, 2)))
    centre = rng.uniform(0, 1, (k, 2)) * (img_w, img_h)
    lo = centre - size / 2
    return np.concatenate([rng.integers(0, n, (k, 1)), lo, lo + size], 1).astype(dtype)


def make_inputs(op: str, shape: tuple, rng: np.random.Generator) -> tuple:
    """(feature map [N, C, H, W], rois [K, 5]) for a case of ``shape`` = (N, C, H, W, K), boxes in
    image coordinates at stride 16 (pass spatial_scale=1/16)."""
    n, c, h, w, k = shape
    x = rng.uniform(-1, 1, (n, c, h, w)).astype(np.float32)
    return x, proposals(k, n, h, w, rng)


def _torchvision_op(name):
    def run(*args, **kwargs):
        import torchvision.ops
        return getattr(torchvision.ops, name)(*args, **kwargs)
    return run


TORCH_EQUIVALENTS = {name: _torchvision_op(name) for name in ("roi_align", "roi_pool")}

# op, label, keyword arguments (same for both libraries), full shape, quick shape (N, C, H, W, K)
_CASES = (
    ("roi_align", "7x7 sampling 2 aligned", dict(output_size=7, sampling_ratio=2, aligned=True),
     (1, 256, 50, 68, 1000), (1, 32, 25, 34, 100)),
    ("roi_align", "14x14 sampling 2 aligned", dict(output_size=14, sampling_ratio=2, aligned=True),
     (1, 256, 50, 68, 512), (1, 32, 25, 34, 64)),
    ("roi_pool", "7x7", dict(output_size=7), (1, 256, 50, 68, 1000), (1, 32, 25, 34, 100)),
    ("roi_pool", "14x14", dict(output_size=14), (1, 256, 50, 68, 512), (1, 32, 25, 34, 64)),
)


def _ours(op, kwargs):
    def run(x, rois, backend=None):
        from .. import ops
        return getattr(ops, op)(x, rois, spatial_scale=1 / STRIDE, **kwargs, backend=backend)
    return run


def _torch(op, kwargs):
    def run(x, rois):
        return TORCH_EQUIVALENTS[op](x, rois, spatial_scale=1 / STRIDE, **kwargs)
    return run


def _inputs(op):
    def make(shape, rng):
        return make_inputs(op, shape, rng)
    return make


ENTRIES = [Entry(op=op, params=label, shapes={"full": full, "quick": quick}, make_inputs=_inputs(op),
                 ours=_ours(op, kwargs), torch=_torch(op, kwargs), cost=memory_traffic)
           for op, label, kwargs, full, quick in _CASES]
