"""Benchmark entries of the pooling family (float32): ours vs torch NCHW and channels_last.

pydeepkit's pooling ops share torch.nn.functional's names and arguments, so every
entry is one row of ``_CASES``: the op name, a label, the keyword arguments both
libraries get, and the full and quick input shapes.
"""
from __future__ import annotations

from ._registry import Entry, memory_traffic, uniform_inputs

# op, label, keyword arguments (same for both libraries), full shape, quick shape
_CASES = (
    ("max_pool2d", "3x3 s2 p1", dict(kernel_size=3, stride=2, padding=1), (8, 64, 112, 112), (2, 16, 28, 28)),
    ("avg_pool2d", "2x2", dict(kernel_size=2), (8, 64, 112, 112), (2, 16, 28, 28)),
    ("adaptive_avg_pool2d", "to 1", dict(output_size=1), (32, 2048, 7, 7), (4, 64, 7, 7)),
    ("max_pool3d", "2x2x2", dict(kernel_size=2), (1, 64, 16, 56, 56), (1, 8, 8, 14, 14)),
)

# torch memory formats by input rank: NC + 2 spatial dims -> channels_last, 3 -> channels_last_3d
_CHANNELS_LAST = {4: "channels_last", 5: "channels_last_3d"}


def _ours(op: str, kwargs: dict):
    def run(x, backend=None):
        from .. import ops
        return getattr(ops, op)(x, **kwargs, backend=backend)
    return run


def _torch(op: str, kwargs: dict):
    def run(x):
        import torch.nn.functional as F
        return getattr(F, op)(x, **kwargs)
    return run


def _entry(op, label, kwargs, full, quick) -> Entry:
    layouts = [("NCHW", "contiguous_format")]
    if len(full) in _CHANNELS_LAST:
        layouts.append(("CL", _CHANNELS_LAST[len(full)]))
    return Entry(op=op, params=label, shapes={"full": full, "quick": quick},
                 make_inputs=uniform_inputs(), ours=_ours(op, kwargs), torch=_torch(op, kwargs),
                 torch_layouts=tuple(layouts), cost=memory_traffic, metric="GB/s")


ENTRIES = [_entry(*case) for case in _CASES]
