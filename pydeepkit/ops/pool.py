"""Pooling family: max / avg / Lp / adaptive / global pooling, max unpooling and SPP.

Every op follows torch.nn.functional's names and semantics (NCL, NCHW, NCDHW, and
the unbatched forms torch accepts) and runs on numpy arrays (``cpu``), cupy arrays
(``cuda``), torch tensors (either, returned as torch tensors) or, with
``backend="emu"``, the CUDA kernels on the CPU emulator.

Internally every op is a pooling over a ``[planes, D, H, W]`` view (planes = N*C;
1-d and 2-d inputs get unit leading extents), computed by one kernel entry point.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from .. import _backend

__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d",
    "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "lp_pool1d", "lp_pool2d", "lp_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "max_unpool1d", "max_unpool2d", "max_unpool3d",
    "global_avg_pool", "global_max_pool", "spatial_pyramid_pool",
]

# Mirrors pdk::PoolMode and pdk::WindowRule (csrc/pool/pool.h).
_MAX, _AVG, _LP = 0, 1, 2
_FIXED, _ADAPTIVE = 0, 1


# ---------------------------------------------------------------------------------------
# argument handling
# ---------------------------------------------------------------------------------------
def _int(op, name, value):
    try:
        if isinstance(value, bool):
            raise TypeError
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{op}: {name} must contain integers, got {value!r}") from None


def _ints(op, name, value, n, minimum=None):
    """An int or a sequence of n (or 1) ints -> tuple of n ints, each >= minimum."""
    if isinstance(value, (list, tuple)):
        items = tuple(_int(op, name, v) for v in value)
        if len(items) == 1:
            items = items * n
        if len(items) != n:
            raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {tuple(value)!r}")
    else:
        items = (_int(op, name, value),) * n
    if minimum is not None and any(v < minimum for v in items):
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {items if n > 1 else items[0]}")
    return items


def _split(op, view, n):
    """(batched, planes, channel-leading shape, spatial shape) of a [N, C, *s] or [C, *s] input."""
    if view.ndim not in (n + 1, n + 2):
        raise ValueError(f"{op}: x must be {n + 1}-d (unbatched [C, {_dims(n)}]) or {n + 2}-d "
                         f"([N, C, {_dims(n)}]), got shape {tuple(view.shape)}")
    lead = tuple(view.shape[: view.ndim - n])
    spatial = tuple(view.shape[view.ndim - n:])
    if any(s == 0 for s in spatial):
        raise ValueError(f"{op}: x must have non-empty spatial dims, got shape {tuple(view.shape)}")
    return lead, spatial


def _dims(n):
    return ("L", "H, W", "D, H, W")[n - 1]


def _pad3(values, fill):
    return (fill,) * (3 - len(values)) + tuple(values)


def _out_extent(size, k, s, p, d, ceil_mode):
    """torch's pooling_output_shape: floor/ceil, and with ceil_mode the last window must
    start inside the input or its left padding."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _window_shape(op, spatial, kernel, stride, padding, dilation, ceil_mode):
    for k, p in zip(kernel, padding):
        if p > k // 2:
            raise ValueError(f"{op}: padding must be at most half of kernel_size, got padding={padding} "
                             f"for kernel_size={kernel}")
    out = tuple(_out_extent(*a, ceil_mode) for a in zip(spatial, kernel, stride, padding, dilation))
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: output size is too small: input spatial size {spatial} with kernel_size={kernel}, "
                         f"stride={stride}, padding={padding}, dilation={dilation} gives {out}")
    for dim, (size, o, k, s, p, d) in enumerate(zip(spatial, out, kernel, stride, padding, dilation)):
        o_bad = _empty_dilated_window(size, o, k, s, p, d) if d > 1 else None
        if o_bad is not None:
            # torch returns -inf with an index outside the plane here; an index that
            # max_unpool would reject is a silent wrong answer, so this is an error.
            raise ValueError(f"{op}: with dilation={dilation}, the window of output {o_bad} along spatial dim "
                             f"{dim} reads only padding (input size {size}, kernel_size={k}, padding={p})")
    return out


def _empty_dilated_window(size, out, k, s, p, d):
    """The first output position whose dilated window has no tap inside [0, size), or None."""
    starts = np.arange(out, dtype=np.int64) * s - p
    first = np.where(starts < 0, starts + (-starts + d - 1) // d * d, starts)
    last = starts + (k - 1) * d
    empty = np.nonzero((first >= size) | (first > last))[0]
    return int(empty[0]) if empty.size else None


def _adaptive_shape(op, spatial, output_size):
    n = len(spatial)
    if isinstance(output_size, (list, tuple)):
        if len(output_size) == 1:
            output_size = tuple(output_size) * n
        if len(output_size) != n:
            raise ValueError(f"{op}: output_size must be an int or a tuple of {n} ints/None, got {output_size!r}")
        out = tuple(s if o is None else _int(op, "output_size", o) for o, s in zip(output_size, spatial))
    else:
        if output_size is None:
            return tuple(spatial)
        out = (_int(op, "output_size", output_size),) * n
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: output_size must be >= 1, got {out}")
    return out


# ---------------------------------------------------------------------------------------
# the one kernel call behind every op
# ---------------------------------------------------------------------------------------
def _pool(call, xv, n, mode, rule, out_spatial, *, kernel=None, stride=None, padding=None, dilation=None,
          count_include_pad=True, divisor_override=None, norm_type=2.0, return_indices=False):
    lead, spatial = _split(call.op, xv, n)
    planes = math.prod(lead)
    out_shape = lead + tuple(out_spatial)
    y, yv = call.empty(out_shape, xv.dtype)
    idx = idxv = None
    if return_indices:
        idx, idxv = call.empty(out_shape, np.int64)
    if planes > 0:
        xc = call.contiguous(xv)
        call.launch(
            call.ext.pool_forward, mode, rule, planes,
            _pad3(spatial, 1), _pad3(out_spatial, 1),
            _pad3(kernel or (), 1), _pad3(stride or (), 1), _pad3(padding or (), 0), _pad3(dilation or (), 1),
            bool(count_include_pad), int(divisor_override or 0), float(norm_type),
            call.ptr(xc), call.ptr(yv), call.ptr(idxv), call.dtype_code(xc), call.stream)
    return (y, idx) if return_indices else y


def _fixed_args(op, n, x, kernel_size, stride, padding, dilation=1):
    kernel = _ints(op, "kernel_size", kernel_size, n, minimum=1)
    stride = kernel if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) \
        else _ints(op, "stride", stride, n, minimum=1)
    padding = _ints(op, "padding", padding, n, minimum=0)
    dilation = _ints(op, "dilation", dilation, n, minimum=1)
    return kernel, stride, padding, dilation


def _max_pool(n, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False,
              *, backend=None):
    op = f"max_pool{n}d"
    call = _backend.resolve(op, backend, x=x)
    xv = call.view(x, "x")
    kernel, stride, padding, dilation = _fixed_args(op, n, x, kernel_size, stride, padding, dilation)
    _, spatial = _split(op, xv, n)
    out = _window_shape(op, spatial, kernel, stride, padding, dilation, ceil_mode)
    return _pool(call, xv, n, _MAX, _FIXED, out, kernel=kernel, stride=stride, padding=padding,
                 dilation=dilation, return_indices=return_indices)


def _avg_pool(n, x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
              divisor_override=None, *, backend=None):
    op = f"avg_pool{n}d"
    call = _backend.resolve(op, backend, x=x)
    xv = call.view(x, "x")
    kernel, stride, padding, dilation = _fixed_args(op, n, x, kernel_size, stride, padding)
    if divisor_override is not None and _int(op, "divisor_override", divisor_override) <= 0:
        raise ValueError(f"{op}: divisor_override must be None or > 0, got {divisor_override!r}")
    _, spatial = _split(op, xv, n)
    out = _window_shape(op, spatial, kernel, stride, padding, dilation, ceil_mode)
    return _pool(call, xv, n, _AVG, _FIXED, out, kernel=kernel, stride=stride, padding=padding,
                 dilation=dilation, count_include_pad=count_include_pad, divisor_override=divisor_override)


def _lp_pool(n, x, norm_type, kernel_size, stride=None, ceil_mode=False, *, backend=None):
    op = f"lp_pool{n}d"
    call = _backend.resolve(op, backend, x=x)
    xv = call.view(x, "x")
    p = float(norm_type)
    if not (p > 0 and math.isfinite(p)):
        raise ValueError(f"{op}: norm_type must be finite and > 0, got {norm_type!r}")
    kernel, stride, padding, dilation = _fixed_args(op, n, x, kernel_size, stride, 0)
    _, spatial = _split(op, xv, n)
    out = _window_shape(op, spatial, kernel, stride, padding, dilation, ceil_mode)
    return _pool(call, xv, n, _LP, _FIXED, out, kernel=kernel, stride=stride, padding=padding,
                 dilation=dilation, norm_type=p)


def _adaptive_pool(n, mode, x, output_size, return_indices=False, *, backend=None):
    op = f"adaptive_{'max' if mode == _MAX else 'avg'}_pool{n}d"
    call = _backend.resolve(op, backend, x=x)
    xv = call.view(x, "x")
    _, spatial = _split(op, xv, n)
    out = _adaptive_shape(op, spatial, output_size)
    return _pool(call, xv, n, mode, _ADAPTIVE, out, return_indices=return_indices)


def _max_unpool(n, x, indices, kernel_size, stride=None, padding=0, output_size=None, *, backend=None):
    op = f"max_unpool{n}d"
    call = _backend.resolve(op, backend, x=x, indices=indices)
    xv = call.view(x, "x")
    iv = call.view(indices, "indices", dtypes=("int64",))
    kernel, stride, padding, _ = _fixed_args(op, n, x, kernel_size, stride, padding)
    lead, spatial = _split(op, xv, n)
    if tuple(iv.shape) != tuple(xv.shape):
        raise ValueError(f"{op}: indices must have the shape of x {tuple(xv.shape)}, got {tuple(iv.shape)}")
    default = tuple((i - 1) * s - 2 * p + k for i, s, p, k in zip(spatial, stride, padding, kernel))
    if output_size is None:
        out = default
    else:
        sizes = tuple(_int(op, "output_size", v) for v in output_size)
        if len(sizes) == n + 2 or (len(sizes) == n + 1 and len(lead) == 1):
            sizes = sizes[len(sizes) - n:]
        if len(sizes) != n:
            raise ValueError(f"{op}: output_size must have {n} (or {n + 2}) entries, got {tuple(output_size)!r}")
        for d, (o, s, dflt) in enumerate(zip(sizes, stride, default)):
            if not dflt - s < o < dflt + s:
                raise ValueError(f"{op}: output_size {sizes} is invalid: dim {d} must be between "
                                 f"{dflt - s + 1} and {dflt + s - 1}, got {o}")
        out = sizes
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: output size {out} is too small")
    out_plane = math.prod(out)
    planes = math.prod(lead)
    y, yv = call.empty(lead + tuple(out), xv.dtype)
    if planes == 0:
        return y
    ic = call.contiguous(iv)
    if ic.size:
        lo, hi = int(ic.min()), int(ic.max())
        if lo < 0 or hi >= out_plane:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{op}: indices must be in [0, {out_plane}) (the output plane size {tuple(out)}), "
                             f"found {bad}")
    xc = call.contiguous(xv)
    call.launch(call.ext.max_unpool_forward, planes, math.prod(spatial), out_plane,
                call.ptr(xc), call.ptr(ic), call.ptr(yv), call.dtype_code(xc), call.stream)
    return y


def _global_pool(mode, x, keepdim=False, *, backend=None):
    op = f"global_{'max' if mode == _MAX else 'avg'}_pool"
    call = _backend.resolve(op, backend, x=x)
    xv = call.view(x, "x")
    n = xv.ndim - 2
    if not 1 <= n <= 3:
        raise ValueError(f"{op}: x must be [N, C, *spatial] with 1 to 3 spatial dims, got shape {tuple(xv.shape)}")
    y = _pool(call, xv, n, mode, _ADAPTIVE, (1,) * n)
    return y if keepdim else y.reshape(tuple(xv.shape[:2]))


# ---------------------------------------------------------------------------------------
# public functions: generated per rank so the three ranks share one implementation
# ---------------------------------------------------------------------------------------
_SHAPES = {1: ("[N, C, L]", "[N, C, L_out]", "(1, 3, 32)"),
           2: ("[N, C, H, W]", "[N, C, H_out, W_out]", "(1, 3, 32, 32)"),
           3: ("[N, C, D, H, W]", "[N, C, D_out, H_out, W_out]", "(1, 3, 8, 16, 16)")}


def _publish(name, impl, n, doc):
    def fn(*args, **kwargs):
        return impl(n, *args, **kwargs)
    shape_in, shape_out, example = _SHAPES[n]
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc.format(n=n, name=name, shape_in=shape_in, shape_out=shape_out, example=example,
                            unbatched=shape_in.replace("N, ", ""))
    fn.__module__ = __name__
    globals()[name] = fn


_MAX_DOC = """{n}-d max pooling, as torch.nn.functional.{name}.

    x: {shape_in} or unbatched {unbatched}, float32/float64. Returns y {shape_out}
    (and, with return_indices, int64 indices of the same shape: the flat index of each
    maximum within its input plane, as torch). NaN propagates (a window with a NaN
    gives NaN). kernel_size, stride (default: kernel_size), padding (<= kernel_size/2)
    and dilation are ints or {n}-tuples; ceil_mode as torch.

    Example:
        >>> x = np.random.rand{example}.astype(np.float32)
        >>> y = pydeepkit.ops.{name}(x, 3, stride=2, padding=1)
    """
_AVG_DOC = """{n}-d average pooling, as torch.nn.functional.{name}.

    x: {shape_in} or unbatched {unbatched}, float32/float64 -> y {shape_out}.
    count_include_pad counts the zero padding in the divisor (the window clipped to the
    padded input, as torch); divisor_override replaces the divisor.

    Example:
        >>> y = pydeepkit.ops.{name}(np.ones({example}, np.float32), 2)
    """
_LP_DOC = """{n}-d power-average (Lp) pooling, as torch.nn.functional.{name}.

    x: {shape_in} or unbatched {unbatched} -> y {shape_out}, y = (sum over the window of
    x**norm_type) ** (1/norm_type), computed exactly as torch (avg_pool of x**p times the
    kernel volume, so ceil_mode windows clipped at the border are rescaled as in torch).
    norm_type=2 is the L2 pooling of the course material.

    Example:
        >>> y = pydeepkit.ops.{name}(np.ones({example}, np.float32), 2, 2)
    """
_ADAPTIVE_MAX_DOC = """{n}-d adaptive max pooling, as torch.nn.functional.{name}.

    x: {shape_in} or unbatched {unbatched} -> y with spatial size output_size (an int or
    {n}-tuple; None keeps the input size). Output cell i pools input positions
    [floor(i*in/out), ceil((i+1)*in/out)). return_indices as max_pool.

    Example:
        >>> y = pydeepkit.ops.{name}(np.ones({example}, np.float32), 4)
    """
_ADAPTIVE_AVG_DOC = """{n}-d adaptive average pooling, as torch.nn.functional.{name}.

    x: {shape_in} or unbatched {unbatched} -> y with spatial size output_size (an int or
    {n}-tuple; None keeps the input size). Output cell i averages input positions
    [floor(i*in/out), ceil((i+1)*in/out)).

    Example:
        >>> y = pydeepkit.ops.{name}(np.ones({example}, np.float32), 1)   # global average
    """
_UNPOOL_DOC = """{n}-d max unpooling (SegNet's upsampling), as torch.nn.functional.{name}.

    x: {shape_in} or unbatched {unbatched}; indices: int64 of x's shape, as returned by
    max_pool{n}d(..., return_indices=True). Returns a zero-filled y {shape_out} with
    y[plane].flat[indices] = x (output size (in-1)*stride - 2*padding + kernel_size, or
    output_size). Indices outside the output plane are an error.

    Example:
        >>> x = np.random.rand{example}.astype(np.float32)
        >>> y, idx = pydeepkit.ops.max_pool{n}d(x, 2, return_indices=True)
        >>> x_up = pydeepkit.ops.{name}(y, idx, 2)
    """

for _n in (1, 2, 3):
    _publish(f"max_pool{_n}d", _max_pool, _n, _MAX_DOC)
    _publish(f"avg_pool{_n}d", _avg_pool, _n, _AVG_DOC)
    _publish(f"lp_pool{_n}d", _lp_pool, _n, _LP_DOC)
    _publish(f"adaptive_max_pool{_n}d", lambda n, *a, **k: _adaptive_pool(n, _MAX, *a, **k), _n, _ADAPTIVE_MAX_DOC)
    _publish(f"adaptive_avg_pool{_n}d", lambda n, *a, **k: _adaptive_pool(n, _AVG, *a, **k), _n, _ADAPTIVE_AVG_DOC)
    _publish(f"max_unpool{_n}d", _max_unpool, _n, _UNPOOL_DOC)


def global_avg_pool(x, keepdim=False, *, backend=None):
    """Mean over all spatial dims.

    x: [N, C, *spatial] with 1-3 spatial dims -> [N, C] (keepdim: [N, C, 1, ...]).

    Example:
        >>> pydeepkit.ops.global_avg_pool(np.ones((2, 8, 7, 7), np.float32)).shape
        (2, 8)
    """
    return _global_pool(_AVG, x, keepdim, backend=backend)


def global_max_pool(x, keepdim=False, *, backend=None):
    """Maximum over all spatial dims (NaN propagates).

    x: [N, C, *spatial] with 1-3 spatial dims -> [N, C] (keepdim: [N, C, 1, ...]).

    Example:
        >>> pydeepkit.ops.global_max_pool(np.ones((2, 8, 7, 7), np.float32)).shape
        (2, 8)
    """
    return _global_pool(_MAX, x, keepdim, backend=backend)


def spatial_pyramid_pool(x, levels=(1, 2, 4), mode="max", *, backend=None):
    """Spatial pyramid pooling (SPP-net): a fixed-length vector from any input size.

    x: [N, C, *spatial] with 1-3 spatial dims (d of them). For each level l, adaptive
    max (mode="max") or average (mode="avg") pooling to l cells per spatial dim,
    flattened per sample in (C, l, ..., l) order; the levels are concatenated in order.
    Returns [N, C * sum(l**d for l in levels)].

    Example:
        >>> x = np.random.rand(2, 256, 13, 17).astype(np.float32)
        >>> pydeepkit.ops.spatial_pyramid_pool(x, levels=(1, 2, 4)).shape
        (2, 5376)
    """
    op = "spatial_pyramid_pool"
    if mode not in ("max", "avg"):
        raise ValueError(f"{op}: mode must be 'max' or 'avg', got {mode!r}")
    if isinstance(levels, int) or len(levels) == 0:
        raise ValueError(f"{op}: levels must be a non-empty sequence of ints >= 1, got {levels!r}")
    levels = tuple(_int(op, "levels", lv) for lv in levels)
    if any(lv < 1 for lv in levels):
        raise ValueError(f"{op}: levels must be >= 1, got {levels}")
    call = _backend.resolve(op, backend, x=x)
    xv = call.view(x, "x")
    n = xv.ndim - 2
    if not 1 <= n <= 3:
        raise ValueError(f"{op}: x must be [N, C, *spatial] with 1 to 3 spatial dims, got shape {tuple(xv.shape)}")
    batch, channels = int(xv.shape[0]), int(xv.shape[1])
    y, yv = call.empty((batch, channels * sum(lv ** n for lv in levels)), xv.dtype)
    offset = 0
    for lv in levels:
        part = _pool(call, xv, n, _MAX if mode == "max" else _AVG, _ADAPTIVE, (lv,) * n)
        part = call.view(part, "x") if call.library == "torch" else part
        width = channels * lv ** n
        yv[:, offset:offset + width] = part.reshape(batch, width)
        offset += width
    return y
