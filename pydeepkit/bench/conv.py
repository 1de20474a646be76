"""Benchmark entries of the convolution family (float32): ours vs torch NCHW and channels_last.

The rows are the convolutions of the classic architectures (ResNet-50's 3x3 and 1x1 layers, its
last stages at batch 1, its 7x7 stem, MobileNet's depthwise layers, a dilated DeepLab-style
layer, a char-CNN/TCN conv1d, C3D's conv3d, a decoder's transposed convolution). Each op gets
the same weights and keyword arguments in both libraries. The rate is GFLOP/s (2 multiply-adds
per output tap); the runner prints it as a fraction of the machine's best measured GEMM rate too.
"""
from __future__ import annotations

import numpy as np

from ._registry import Entry

# op, label, input shape (full), input shape (quick), weight shape, keyword arguments
_CASES = (
    ("conv2d", "3x3 64->64 56x56 b1", (1, 64, 56, 56), (1, 8, 12, 12), (64, 64, 3, 3), dict(padding=1)),
    ("conv2d", "3x3 64->64 56x56 b8", (8, 64, 56, 56), (2, 8, 12, 12), (64, 64, 3, 3), dict(padding=1)),
    ("conv2d", "1x1 256->64 56x56 b8", (8, 256, 56, 56), (2, 16, 12, 12), (64, 256, 1, 1), {}),
    ("conv2d", "3x3 s2 128->128 28x28 b8", (8, 128, 28, 28), (2, 8, 12, 12), (128, 128, 3, 3),
     dict(stride=2, padding=1)),
    # ResNet-50's last stages at batch 1 (latency): small planes, large weights
    ("conv2d", "3x3 512->512 7x7 b1", (1, 512, 7, 7), (1, 16, 7, 7), (512, 512, 3, 3), dict(padding=1)),
    ("conv2d", "1x1 2048->512 7x7 b1", (1, 2048, 7, 7), (1, 32, 7, 7), (512, 2048, 1, 1), {}),
    ("conv2d", "3x3 s2 256->256 28x28 b1", (1, 256, 28, 28), (1, 16, 12, 12), (256, 256, 3, 3),
     dict(stride=2, padding=1)),
    ("conv2d", "7x7 s2 3->64 224x224 b8", (8, 3, 224, 224), (1, 3, 32, 32), (64, 3, 7, 7),
     dict(stride=2, padding=3)),
    ("conv2d", "dw 3x3 32ch 112x112 b8", (8, 32, 112, 112), (1, 8, 16, 16), (32, 1, 3, 3),
     dict(padding=1, groups=32)),
    ("conv2d", "dw 3x3 512ch 14x14 b8", (8, 512, 14, 14), (1, 16, 14, 14), (512, 1, 3, 3),
     dict(padding=1, groups=512)),
    ("conv2d", "3x3 d2 256->256 32x32 b8", (8, 256, 32, 32), (1, 16, 12, 12), (256, 256, 3, 3),
     dict(padding=2, dilation=2)),
    ("conv1d", "k7 256->256 L1014 b8", (8, 256, 1014), (1, 16, 60), (256, 256, 7), {}),
    ("conv3d", "3x3x3 64->128 8x56x56 b1", (1, 64, 8, 56, 56), (1, 4, 4, 8, 8), (128, 64, 3, 3, 3),
     dict(padding=1)),
    ("conv_transpose2d", "4x4 s2 256->128 28x28 b8", (8, 256, 28, 28), (1, 16, 8, 8), (256, 128, 4, 4),
     dict(stride=2, padding=1)),
)

_CHANNELS_LAST = {4: "channels_last", 5: "channels_last_3d"}


def _make_inputs(op, full, weight_full, weight_quick):
    def make(shape, rng):
        wshape = weight_full if tuple(shape) == tuple(full) else weight_quick(shape)
        x = rng.uniform(-1, 1, size=shape).astype(np.float32)
        w = (rng.uniform(-1, 1, size=wshape) / np.sqrt(np.prod(wshape[1:]))).astype(np.float32)
        cout = wshape[1] if op.startswith("conv_transpose") else wshape[0]
        return x, w, rng.uniform(-1, 1, size=(cout,)).astype(np.float32)
    return make


def _quick_weight(op, weight, kwargs):
    """The weight shape for a quick input: channels scaled down with the input's."""
    def shape(xshape):
        cin = xshape[1]
        if op.startswith("conv_transpose"):
            return (cin, max(1, cin // 2)) + tuple(weight[2:])
        if kwargs.get("groups", 1) > 1:
            return (cin, 1) + tuple(weight[2:])
        return (max(1, cin * weight[0] // weight[1]), cin) + tuple(weight[2:])
    return shape


def _ours(op, kwargs):
    def run(x, w, b, backend=None):
        from .. import ops
        k = dict(kwargs)
        if "groups" in k:
            k["groups"] = x.shape[1]
        return getattr(ops, op)(x, w, b, **k, backend=backend)
    return run


def _torch(op, kwargs):
    def run(x, w, b):
        import torch.nn.functional as F
        k = dict(kwargs)
        if "groups" in k:
            k["groups"] = x.shape[1]
        return getattr(F, op)(x, w, b, **k)
    return run


def _flops(op):
    def cost(inputs, output):
        x, w, _ = inputs
        if op.startswith("conv_transpose"):  # every input element meets C_out/groups * kernel weights
            return 0, 2 * x.size * int(np.prod(w.shape[1:]))
        return 0, 2 * output.size * int(np.prod(w.shape[1:]))
    return cost


def _entry(op, label, full, quick, weight, kwargs) -> Entry:
    make = _make_inputs(op, full, weight, _quick_weight(op, weight, kwargs))
    layouts = [("NCHW", "contiguous_format"), ("CL", _CHANNELS_LAST[len(full)])] if len(full) in _CHANNELS_LAST \
        else [("NCHW", "contiguous_format")]
    k = int(np.prod(weight[1:]))
    return Entry(op=op, params=label, shapes={"full": full, "quick": quick}, make_inputs=make,
                 ours=_ours(op, kwargs), torch=_torch(op, kwargs), torch_layouts=tuple(layouts),
                 cost=_flops(op), metric="GFLOP/s", rtol=1e-4, atol=1e-6 * k)


ENTRIES = [_entry(*case) for case in _CASES]
