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


# Linear layers at small batch (AlexNet's fc6 and fc7): x [M, K] @ weight [N, K]^T + bias, the
# small-M path of the GEMM (B read in place), bound by reading the weight once.
_LINEAR_SIZES = (
    ("fc6 b1", (1, 4096, 9216), (1, 64, 96)),
    ("fc7 b8", (8, 4096, 4096), (8, 64, 64)),
)


def _linear_inputs(shape, rng):
    M, N, K = shape
    return (rng.uniform(-1, 1, size=(M, K)).astype(np.float32),
            rng.uniform(-1, 1, size=(N, K)).astype(np.float32),
            rng.uniform(-1, 1, size=N).astype(np.float32))


def _ours_linear(x, weight, bias, backend=None):
    from .. import ops
    return ops.gemm(x, weight.T, bias, backend=backend)


def _torch_linear(x, weight, bias):
    import torch
    return torch.nn.functional.linear(x, weight, bias)


def _linear_flops(inputs, output):
    x, weight, _ = inputs
    return weight.nbytes, 2 * x.shape[0] * x.shape[1] * weight.shape[0]


ENTRIES = [e for label, full, quick in _SIZES
           for e in (_entry(label, full, quick, _torch_matmul, "torch.matmul"),
                     _entry(label, full, quick, _numpy_matmul, "numpy.matmul"))]
ENTRIES += [Entry(op="linear", params=f"{label} {full[2]}->{full[1]} f32", shapes={"full": full, "quick": quick},
                  make_inputs=_linear_inputs, ours=_ours_linear, torch=_torch_linear, cost=_linear_flops,
                  metric="GFLOP/s", rtol=1e-4, atol=1e-6 * full[2])
            for label, full, quick in _LINEAR_SIZES]
