"""GEMM family: ``gemm(a, b, bias=None, activation=None)`` with a fused epilogue.

The same kernel entry point serves the convolution family later (implicit GEMM), so
the epilogue (bias per column or per row, activation, residual add) lives in it.
"""
from __future__ import annotations

from .. import _backend

__all__ = ["gemm"]

# Mirrors pdk::Activation and pdk::BiasMode (csrc/gemm/gemm.h).
ACTIVATIONS = {None: 0, "relu": 1, "leaky_relu": 2, "sigmoid": 3, "tanh": 4, "gelu": 5, "relu6": 6}
_BIAS_NONE, _BIAS_PER_COLUMN = 0, 1


def activation_code(op: str, activation) -> int:
    """The kernel code of an activation name (shared with the ops that fuse one)."""
    if activation not in ACTIVATIONS:
        names = ", ".join(repr(a) for a in ACTIVATIONS)
        raise ValueError(f"{op}: activation must be one of {names}, got {activation!r}")
    return ACTIVATIONS[activation]


def gemm(a, b, bias=None, activation=None, *, negative_slope=0.01, residual=None, backend=None):
    """Matrix product with a fused epilogue: act(a @ b + bias + residual).

    a: [M, K], b: [K, N], bias: [N] or None, residual: [M, N] or None; float32 or
    float64, all of one array library and device. activation: None, 'relu',
    'leaky_relu' (negative_slope), 'sigmoid', 'tanh', 'gelu' (exact erf form, as
    torch) or 'relu6'. Returns c [M, N]. Transposed views (e.g. ``b.T``) are passed to the kernel
    without a copy; other strided views are copied to contiguous first.

    Example:
        >>> a = np.ones((4, 3), np.float32); b = np.ones((3, 2), np.float32)
        >>> pydeepkit.ops.gemm(a, b, bias=np.array([1, -9], np.float32), activation="relu").tolist()
        [[4.0, 0.0], [4.0, 0.0], [4.0, 0.0], [4.0, 0.0]]
    """
    op = "gemm"
    call = _backend.resolve(op, backend, optional=("bias", "residual"), a=a, b=b, bias=bias, residual=residual)
    av, bv = call.view(a, "a"), call.view(b, "b")
    for name, v in (("a", av), ("b", bv)):
        if v.ndim != 2:
            raise ValueError(f"{op}: {name} must be 2-d, got shape {tuple(v.shape)}")
    if av.dtype != bv.dtype:
        raise TypeError(f"{op}: a and b must have one dtype, got {av.dtype} and {bv.dtype}")
    (M, K), (K2, N) = av.shape, bv.shape
    if K != K2:
        raise ValueError(f"{op}: a is [M, K] = {tuple(av.shape)} and b must be [K, N] with K = {K}, "
                         f"got {tuple(bv.shape)}")
    code = activation_code(op, activation)
    biasv = resv = None
    if bias is not None:
        biasv = call.contiguous(call.view(bias, "bias"))
        if biasv.shape != (N,) or biasv.dtype != av.dtype:
            raise ValueError(f"{op}: bias must be [N] = ({N},) of dtype {av.dtype}, "
                             f"got {tuple(biasv.shape)} {biasv.dtype}")
    if residual is not None:
        resv = call.contiguous(call.view(residual, "residual"))
        if resv.shape != (M, N) or resv.dtype != av.dtype:
            raise ValueError(f"{op}: residual must be [M, N] = ({M}, {N}) of dtype {av.dtype}, "
                             f"got {tuple(resv.shape)} {resv.dtype}")
    c, cv = call.empty((M, N), av.dtype)
    if M == 0 or N == 0:
        return c
    ac, trans_a, lda = _rows(call, av)
    bc, trans_b, ldb = _rows(call, bv)
    call.launch(call.ext.gemm_forward, M, N, K, lda, ldb, N, N if resv is not None else 0, trans_a, trans_b,
                _BIAS_PER_COLUMN if biasv is not None else _BIAS_NONE, code, float(negative_slope),
                call.ptr(ac), call.ptr(bc), call.ptr(biasv), call.ptr(resv), call.ptr(cv),
                call.dtype_code(ac), call.stream)
    return c


def _rows(call, v):
    """(array, transposed, row stride) of a 2-d view: row-major or column-major pass as they are."""
    item = v.dtype.itemsize
    rows, cols = v.shape
    s0, s1 = v.strides
    if s1 == item and s0 >= cols * item and s0 % item == 0:
        return v, False, max(s0 // item, cols)
    if s0 == item and s1 >= rows * item and s1 % item == 0:
        return v, True, max(s1 // item, rows)
    c = call.contiguous(v)
    return c, False, cols
