"""Benchmark entries of the GEMM family (float32): ours vs torch.matmul and numpy.matmul.

Each size has two rows: the framework column of the first is ``torch.matmul``, that of the
second ``numpy.matmul`` (the runner's table has torch columns only, so numpy runs in the
"torch NCHW" slot on the tensor's zero-copy numpy view; the row's label says which). The rate is
GFLOP/s (2 M N K per product); the machine's FMA peak is the physical limit (DESIGN.md).
"""
from __future__ import annotations

import numpy as np

from ._registry import Entry

# label, full shape (M, N, K), quick shape
_SIZES = (
    ("512^3", (512, 512, 512), (64, 64, 64)),
    ("2048^3", (2048, 2048, 2048), (128, 128, 128)),
)


def _inputs(shape, rng):
    M, N, K = shape
    return (rng.uniform(-1, 1, size=(M, K)).astype(np.float32),
            rng.uniform(-1, 1, size=(K, N)).astype(np.float32))


def _ours(a, b, backend=None):
    from .. import ops
    return ops.gemm(a, b, backend=backend)


def _torch_matmul(a, b):
    import torch
    return torch.matmul(a, b)


def _numpy_matmul(a, b):
    # CPU tensors share memory with their numpy view: this times numpy's BLAS only
    return np.matmul(a.numpy(), b.numpy())


def _flops(inputs, output):
    a, b = inputs
    return 0, 2 * a.shape[0] * a.shape[1] * b.shape[1]


def _entry(label, full, quick, theirs, name) -> Entry:
    K = full[2]
    # float32 sums of K terms of size <= 1 in different orders: allow ~K ulps
    return Entry(op="gemm", params=f"{label} f32 vs {name}", shapes={"full": full, "quick": quick},
                 make_inputs=_inputs, ours=_ours, torch=theirs, cost=_flops, metric="GFLOP/s",
                 rtol=1e-4, atol=1e-6 * K)


ENTRIES = [e for label, full, quick in _SIZES
           for e in (_entry(label, full, quick, _torch_matmul, "torch.matmul"),
                     _entry(label, full, quick, _numpy_matmul, "numpy.matmul"))]
