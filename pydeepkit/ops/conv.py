"""Convolution family: N-d convolution (grouped, depthwise, dilated, strided, padding modes),
transposed convolution and the depthwise-separable convolution, with a fused epilogue.

Every op follows torch.nn.functional's names and semantics (NCL, NCHW, NCDHW and the
unbatched forms torch accepts) and adds three keywords torch does not have:
``padding_mode`` (torch's nn.Conv* option: 'zeros', 'reflect', 'replicate', 'circular'),
``activation`` / ``negative_slope`` (fused into the kernel's epilogue) and ``residual``
(an array of the output's shape added before the activation, as a ResNet block does), and
``packed_weight`` (``pydeepkit.ops.conv.pack_conv_weight``: the weight packed once for the CPU
kernels, which otherwise repack it on every call; pydeepkit.nn.fuse keeps one per convolution).

All shape math lives in :func:`conv_geometry` and :func:`conv_transpose_geometry`; the
layers (pydeepkit.nn) and every backend use it, and the C++ side re-checks that no
kernel read can leave the input (csrc/conv/conv_check.cpp).
"""
from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from .. import _backend, _ext
from .gemm import activation_code
from .pool import _int, _ints

__all__ = [
    "conv1d", "conv2d", "conv3d",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "separable_conv2d",
]

# Mirrors pdk::PaddingMode (csrc/conv/conv.h).
PADDING_MODES = {"zeros": 0, "reflect": 1, "replicate": 2, "circular": 3}


@dataclasses.dataclass(frozen=True)
class ConvGeometry:
    """Every size a convolution call needs, per spatial dim (``n`` of them)."""
    n: int
    batch: int
    in_channels: int
    out_channels: int
    groups: int
    in_size: tuple
    out_size: tuple
    kernel: tuple
    stride: tuple
    dilation: tuple
    pad_before: tuple
    pad_after: tuple
    transposed: bool = False
    output_padding: tuple = ()

    @property
    def out_shape(self):
        return (self.batch, self.out_channels, *self.out_size)

    @functools.cached_property
    def kernel_sizes(self) -> tuple:
        """The kernels' (in, out, kernel, stride, dilation, pad_before) triples, as 3-d (the
        leading dims 1, or 0 for padding): once per geometry, which the shape math caches."""
        return (_pad3(self.in_size, 1), _pad3(self.out_size, 1), _pad3(self.kernel, 1), _pad3(self.stride, 1),
                _pad3(self.dilation, 1), _pad3(self.pad_before, 0))

    @property
    def macs(self) -> int:
        """Multiply-adds of the call (each output element of a convolution takes C_in/groups * kernel
        of them; a transposed convolution the same per input element)."""
        per = (self.in_channels // self.groups if not self.transposed else self.out_channels // self.groups)
        per *= math.prod(self.kernel)
        elems = self.batch * (self.out_channels * math.prod(self.out_size) if not self.transposed
                              else self.in_channels * math.prod(self.in_size))
        return elems * per


def _dims(n):
    return ("L", "H, W", "D, H, W")[n - 1]


def _shapes(op, n, x_shape, w_shape):
    """(batch, in_channels, spatial, unbatched) of x; checks the ranks of x and weight."""
    x_shape, w_shape = tuple(x_shape), tuple(w_shape)
    if len(x_shape) not in (n + 1, n + 2):
        raise ValueError(f"{op}: x must be {n + 1}-d (unbatched [C, {_dims(n)}]) or {n + 2}-d "
                         f"([N, C, {_dims(n)}]), got shape {x_shape}")
    if len(w_shape) != n + 2:
        raise ValueError(f"{op}: weight must be {n + 2}-d, got shape {w_shape}")
    unbatched = len(x_shape) == n + 1
    if unbatched:
        x_shape = (1, *x_shape)
    if any(s == 0 for s in w_shape[2:]):
        raise ValueError(f"{op}: kernel size must be >= 1 in every dim, got weight shape {w_shape}")
    return x_shape[0], x_shape[1], x_shape[2:], unbatched


def _padding(op, n, padding, kernel, stride, dilation):
    """(pad_before, pad_after) of torch's ``padding``: an int, n ints, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * n, (0,) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                                 f"(stride={stride}), as in torch")
            total = tuple(d * (k - 1) for k, d in zip(kernel, dilation))
            before = tuple(t // 2 for t in total)  # torch puts the odd element of an even kernel after
            return before, tuple(t - b for t, b in zip(total, before))
        raise ValueError(f"{op}: padding must be an int, a tuple of {n} ints, 'valid' or 'same', got {padding!r}")
    pad = _ints(op, "padding", padding, n, minimum=0)
    return pad, pad


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def _cached(fn):
    """fn memoised on its (hashable) arguments: layers call it with the same shapes every step, and
    the shape math costs more than a small convolution."""
    cached = functools.lru_cache(maxsize=512)(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:  # the usual call: shapes and ints, all hashable (converting them first cost ~2 us)
            return cached(*args, **kwargs)
        except TypeError:  # a list argument, or fn's own error, which the calls below raise again
            pass
        args = tuple(tuple(a) if isinstance(a, (list, tuple)) else _hashable(a) for a in args)
        kwargs = {k: _hashable(v) for k, v in kwargs.items()}
        try:
            return cached(*args, **kwargs)
        except TypeError:  # an unhashable argument (e.g. a numpy int array as stride)
            return fn(*args, **kwargs)
    return wrapper


@_cached
def conv_geometry(op, n, x_shape, w_shape, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """The geometry of ``conv{n}d`` with torch's arguments, or a ValueError naming what is impossible.

    x_shape [N, C_in, *in] or [C_in, *in]; w_shape [C_out, C_in / groups, *kernel].

    Example:
        >>> g = pydeepkit.ops.conv.conv_geometry("conv2d", 2, (8, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3)
        >>> g.out_shape, g.macs
        ((8, 64, 112, 112), 944111616)
    """
    batch, cin, in_size, _ = _shapes(op, n, x_shape, w_shape)
    groups = _int(op, "groups", groups)
    if groups < 1:
        raise ValueError(f"{op}: groups must be >= 1, got {groups}")
    cout, cin_g, kernel = w_shape[0], w_shape[1], tuple(w_shape[2:])
    if cout % groups:
        raise ValueError(f"{op}: weight's out_channels {cout} (dim 0 of {tuple(w_shape)}) must be divisible "
                         f"by groups={groups}")
    if cin != cin_g * groups:
        raise ValueError(f"{op}: x has {cin} channels but weight {tuple(w_shape)} with groups={groups} expects "
                         f"{cin_g * groups} (weight dim 1 x groups)")
    stride = _ints(op, "stride", stride, n, minimum=1)
    dilation = _ints(op, "dilation", dilation, n, minimum=1)
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"{op}: padding_mode must be one of {', '.join(map(repr, PADDING_MODES))}, "
                         f"got {padding_mode!r}")
    before, after = _padding(op, n, padding, kernel, stride, dilation)
    if any(s == 0 for s in in_size):
        raise ValueError(f"{op}: x must have non-empty spatial dims, got shape {tuple(x_shape)}")
    if padding_mode != "zeros":
        limit, rule = (1, "<") if padding_mode == "reflect" else (0, "<=")
        for d, (size, b, a) in enumerate(zip(in_size, before, after)):
            if max(b, a) > size - limit:
                raise ValueError(f"{op}: {padding_mode} padding must be {rule} the input size along each dim, "
                                 f"got padding ({b}, {a}) for size {size} in spatial dim {d}")
    out = tuple((size + b + a - d * (k - 1) - 1) // s + 1
                for size, b, a, k, s, d in zip(in_size, before, after, kernel, stride, dilation))
    if any(size + b + a < d * (k - 1) + 1
           for size, b, a, k, d in zip(in_size, before, after, kernel, dilation)):
        raise ValueError(f"{op}: the padded input {tuple(s + b + a for s, b, a in zip(in_size, before, after))} "
                         f"is smaller than the dilated kernel "
                         f"{tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))}")
    return ConvGeometry(n, batch, cin, cout, groups, tuple(in_size), out, kernel, stride, dilation, before, after)


@_cached
def conv_transpose_geometry(op, n, x_shape, w_shape, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The geometry of ``conv_transpose{n}d`` with torch's arguments, or a ValueError.

    x_shape [N, C_in, *in] or [C_in, *in]; w_shape [C_in, C_out / groups, *kernel];
    out = (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1.

    Example:
        >>> g = pydeepkit.ops.conv.conv_transpose_geometry("conv_transpose2d", 2, (1, 256, 28, 28),
        ...                                                (256, 128, 4, 4), stride=2, padding=1)
        >>> g.out_shape
        (1, 128, 56, 56)
    """
    batch, cin, in_size, _ = _shapes(op, n, x_shape, w_shape)
    groups = _int(op, "groups", groups)
    if groups < 1:
        raise ValueError(f"{op}: groups must be >= 1, got {groups}")
    if w_shape[0] != cin:
        raise ValueError(f"{op}: x has {cin} channels but weight {tuple(w_shape)} expects {w_shape[0]} "
                         "(weight is [C_in, C_out / groups, *kernel])")
    if cin % groups:
        raise ValueError(f"{op}: in_channels {cin} must be divisible by groups={groups}")
    cout, kernel = w_shape[1] * groups, tuple(w_shape[2:])
    stride = _ints(op, "stride", stride, n, minimum=1)
    dilation = _ints(op, "dilation", dilation, n, minimum=1)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple of {n} ints, got {padding!r}")
    pad = _ints(op, "padding", padding, n, minimum=0)
    out_pad = _ints(op, "output_padding", output_padding, n, minimum=0)
    for op_, s, d in zip(out_pad, stride, dilation):
        if op_ >= s and op_ >= d:
            raise ValueError(f"{op}: output_padding must be smaller than either stride or dilation, got "
                             f"output_padding={out_pad}, stride={stride}, dilation={dilation}")
    if any(s == 0 for s in in_size):
        raise ValueError(f"{op}: x must have non-empty spatial dims, got shape {tuple(x_shape)}")
    out = tuple((i - 1) * s - 2 * p + d * (k - 1) + o + 1
                for i, s, p, d, k, o in zip(in_size, stride, pad, dilation, kernel, out_pad))
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: output size {out} is too small (input {tuple(in_size)}, kernel {kernel}, "
                         f"stride {stride}, padding {pad}, dilation {dilation}, output_padding {out_pad})")
    return ConvGeometry(n, batch, cin, cout, groups, tuple(in_size), out, kernel, stride, dilation, pad,
                        tuple(p - o for p, o in zip(pad, out_pad)), True, out_pad)


def _pad3(values, fill):
    return (fill,) * (3 - len(values)) + tuple(values)


class PackedConvWeight:
    """A forward convolution's weight packed once for the CPU micro-kernel (pydeepkit.nn keeps one
    per convolution of a fused model): calls given it skip repacking the weight, which on batch-1
    inputs costs up to a fifth of a ResNet-50 forward. ``weight`` is the array it was packed from;
    the kernel uses the packed copy only while its layout matches the active SIMD level, so
    set_simd never makes it wrong, but changing ``weight`` in place afterwards would: pack it
    again (nn.fuse makes the weights it packs read-only). Weights with a 3x3 kernel across H, W,
    or 1-d ones of 3, 5 or 7 taps (also 2-d 1x3, 1x5, 1x7), with at least 16 channels per group in
    and out also carry their Winograd form for the stride they were packed for (``winograd``:
    buffer, elements, layout; else None; 3x3 at stride 1 or 2, the others at stride 1), for the
    calls that take that path; calls at another stride transform the weights themselves."""

    __slots__ = ("weight", "groups", "buffer", "elems", "layout", "winograd")

    def __init__(self, weight, groups, buffer, elems, layout, winograd=None):
        self.weight, self.groups, self.buffer, self.elems, self.layout = weight, groups, buffer, elems, layout
        self.winograd = winograd


def _aligned_empty(elems, dtype):
    """An uninitialised 1-d array of ``elems`` starting on a 64-byte boundary (as the kernel's own buffers)."""
    dtype = np.dtype(dtype)
    raw = np.empty(elems * dtype.itemsize + 64, np.uint8)
    start = -raw.__array_interface__["data"][0] % 64
    return raw[start:start + elems * dtype.itemsize].view(dtype)


def pack_conv_weight(weight, groups=1, stride=1):
    """Packs a forward convolution weight [C_out, C_in / groups, *kernel] (numpy, float32 or
    float64) for the CPU kernels; returns a :class:`PackedConvWeight` to pass as ``packed_weight``
    to conv1d/2d/3d, or None where nothing is packed (depthwise convolutions, which read their
    weights directly). ``stride`` (an int or one per spatial dimension) is that of the calls the
    weight will serve: it selects the Winograd form (a 3x3 kernel at stride 2 has its own).

    Example:
        >>> w = np.ones((8, 4, 3, 3), np.float32)
        >>> pw = pydeepkit.ops.conv.pack_conv_weight(w)
        >>> x = np.ones((1, 4, 5, 5), np.float32)
        >>> bool(np.array_equal(pydeepkit.ops.conv2d(x, w, padding=1, packed_weight=pw),
        ...                     pydeepkit.ops.conv2d(x, w, padding=1)))
        True
    """
    if not isinstance(weight, np.ndarray) or weight.dtype not in (np.float32, np.float64) or weight.ndim < 3:
        raise TypeError("pack_conv_weight: expected a float32/float64 numpy weight [C_out, C_in / groups, *kernel], "
                        f"got {type(weight).__name__} {getattr(weight, 'dtype', '')} {getattr(weight, 'shape', '')}")
    if not isinstance(groups, int) or groups < 1 or weight.shape[0] % groups:
        raise ValueError(f"pack_conv_weight: groups must be an int >= 1 dividing C_out = {weight.shape[0]}, "
                         f"got {groups!r}")
    n = weight.ndim - 2
    strides = (stride,) * n if isinstance(stride, (int, np.integer)) else tuple(stride)
    if len(strides) != n or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in strides):
        raise ValueError(f"pack_conv_weight: stride must be an int >= 1 or {n} of them, got {stride!r}")
    cpu = _ext.module("cpu")
    cout, cin = weight.shape[0], weight.shape[1] * groups
    kernel = _pad3(weight.shape[2:], 1)
    code = _backend.Call.dtype_code(weight)
    w = np.ascontiguousarray(weight)
    forms = []
    for winograd in (False, True):
        elems, layout = cpu.conv_packed_weights_size(cin, cout, groups, kernel, code, winograd, _pad3(strides, 1))
        if elems == 0:
            forms.append(None)
            continue
        buffer = _aligned_empty(elems, weight.dtype)
        cpu.conv_pack_weights(cin, cout, groups, kernel, w.__array_interface__["data"][0],
                              buffer.__array_interface__["data"][0], elems, code, winograd, _pad3(strides, 1))
        forms.append((buffer, elems, layout))
    if forms[0] is None:
        return None
    return PackedConvWeight(weight, groups, *forms[0], winograd=forms[1])


def _run(call, g: ConvGeometry, xv, wv, bias, residual, padding_mode, activation, negative_slope, packed=None):
    """Validates bias/residual against the geometry, allocates the output and launches the kernel."""
    op = call.op
    code = activation_code(op, activation)
    biasv = resv = None
    if bias is not None:
        biasv = call.contiguous(call.view(bias, "bias"))
        if tuple(biasv.shape) != (g.out_channels,) or biasv.dtype != xv.dtype:
            raise ValueError(f"{op}: bias must be [C_out] = ({g.out_channels},) of dtype {xv.dtype}, "
                             f"got {tuple(biasv.shape)} {biasv.dtype}")
    unbatched = xv.ndim == g.n + 1
    out_shape = g.out_shape[1:] if unbatched else g.out_shape
    if residual is not None:
        resv = call.contiguous(call.view(residual, "residual"))
        if tuple(resv.shape) != out_shape or resv.dtype != xv.dtype:
            raise ValueError(f"{op}: residual must have the output's shape {out_shape} and dtype {xv.dtype}, "
                             f"got {tuple(resv.shape)} {resv.dtype}")
    y, yv = call.empty(out_shape, xv.dtype)
    if g.batch == 0 or g.out_channels == 0:
        return y
    xc, wc = call.contiguous(xv), call.contiguous(wv)
    if packed is not None and call.backend == "cpu" and not g.transposed:
        winograd = () if packed.winograd is None else (call.ptr(packed.winograd[0]),) + packed.winograd[1:]
        call.ext.conv_forward_prepacked(
            g.batch, g.in_channels, g.out_channels, g.groups, *g.kernel_sizes, PADDING_MODES[padding_mode], code,
            float(negative_slope), call.ptr(xc), call.ptr(wc), call.ptr(packed.buffer), packed.elems, packed.layout,
            call.ptr(biasv), call.ptr(resv), call.ptr(yv), call.dtype_code(xc), *winograd)
        return y
    call.launch(call.ext.conv_forward, g.batch, g.in_channels, g.out_channels, g.groups, *g.kernel_sizes,
                PADDING_MODES[padding_mode], g.transposed, code, float(negative_slope), call.ptr(xc), call.ptr(wc),
                call.ptr(biasv), call.ptr(resv), call.ptr(yv), call.dtype_code(xc), call.stream)
    return y


def _views(call, x, weight):
    xv, wv = call.view(x, "x"), call.view(weight, "weight")
    if wv.dtype != xv.dtype:
        raise TypeError(f"{call.op}: x and weight must have one dtype, got {xv.dtype} and {wv.dtype}")
    return xv, wv


def _conv(n, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, padding_mode="zeros",
          activation=None, negative_slope=0.01, residual=None, backend=None, packed_weight=None):
    op = f"conv{n}d"
    call = _backend.resolve(op, backend, optional=("bias", "residual"), x=x, weight=weight, bias=bias,
                            residual=residual)
    xv, wv = _views(call, x, weight)
    g = conv_geometry(op, n, xv.shape, wv.shape, stride, padding, dilation, groups, padding_mode)
    if packed_weight is not None and (packed_weight.weight is not weight or packed_weight.groups != groups):
        raise ValueError(f"{op}: packed_weight was packed from another weight array (or groups); pack this one")
    return _run(call, g, xv, wv, bias, residual, padding_mode, activation, negative_slope, packed_weight)


def _conv_transpose(n, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1, *,
                    activation=None, negative_slope=0.01, residual=None, backend=None):
    op = f"conv_transpose{n}d"
    call = _backend.resolve(op, backend, optional=("bias", "residual"), x=x, weight=weight, bias=bias,
                            residual=residual)
    xv, wv = _views(call, x, weight)
    g = conv_transpose_geometry(op, n, xv.shape, wv.shape, stride, padding, output_padding, groups, dilation)
    return _run(call, g, xv, wv, bias, residual, "zeros", activation, negative_slope)


_CONV_DOC = """{n}-d convolution (torch.nn.functional.conv{n}d) with a fused epilogue.

    x: [N, C_in, {dims}] (or unbatched [C_in, {dims}]); weight: [C_out, C_in / groups, {kdims}];
    bias: [C_out] or None. stride, dilation: int or {n} ints (>= 1); padding: int, {n} ints,
    'valid' or 'same' (stride 1; an even dilated kernel puts the extra element after, as
    torch); groups divides C_in and C_out (groups == C_in is the depthwise convolution).
    padding_mode: 'zeros', 'reflect', 'replicate' or 'circular' (nn.Conv{n}d's option).
    Returns act(conv(x, weight) + bias + residual): [N, C_out, {odims}], where activation is
    None, 'relu', 'leaky_relu' (negative_slope), 'sigmoid', 'tanh', 'gelu' or 'relu6' and residual an
    optional array of the output's shape. float32 or float64. packed_weight: this weight packed
    by pack_conv_weight (CPU; other backends ignore it), so that the call does not repack it.

    Example:
        >>> x = np.ones({xshape}, np.float32); w = np.ones({wshape}, np.float32)
        >>> pydeepkit.ops.conv{n}d(x, w, padding=1).{example}
        {result}
    """

_CONV_TRANSPOSE_DOC = """{n}-d transposed convolution (torch.nn.functional.conv_transpose{n}d), fused epilogue.

    x: [N, C_in, {dims}] (or unbatched); weight: [C_in, C_out / groups, {kdims}] (torch's
    layout); bias: [C_out] or None. Output size per dim:
    (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1, where
    output_padding must be smaller than stride or dilation. activation, negative_slope and
    residual as in conv{n}d. Each output element gathers its inputs (no scatter), so results
    are deterministic on every backend.

    Example:
        >>> x = np.ones({xshape}, np.float32); w = np.ones({twshape}, np.float32)
        >>> pydeepkit.ops.conv_transpose{n}d(x, w, stride=2).{texample}
        {tresult}
    """


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, padding_mode="zeros",
           activation=None, negative_slope=0.01, residual=None, backend=None, packed_weight=None):
    return _conv(1, x, weight, bias, stride, padding, dilation, groups, padding_mode=padding_mode,
                 activation=activation, negative_slope=negative_slope, residual=residual, backend=backend,
                 packed_weight=packed_weight)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, padding_mode="zeros",
           activation=None, negative_slope=0.01, residual=None, backend=None, packed_weight=None):
    return _conv(2, x, weight, bias, stride, padding, dilation, groups, padding_mode=padding_mode,
                 activation=activation, negative_slope=negative_slope, residual=residual, backend=backend,
                 packed_weight=packed_weight)


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, padding_mode="zeros",
           activation=None, negative_slope=0.01, residual=None, backend=None, packed_weight=None):
    return _conv(3, x, weight, bias, stride, padding, dilation, groups, padding_mode=padding_mode,
                 activation=activation, negative_slope=negative_slope, residual=residual, backend=backend,
                 packed_weight=packed_weight)


def conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1, *,
                     activation=None, negative_slope=0.01, residual=None, backend=None):
    return _conv_transpose(1, x, weight, bias, stride, padding, output_padding, groups, dilation,
                           activation=activation, negative_slope=negative_slope, residual=residual,
                           backend=backend)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1, *,
                     activation=None, negative_slope=0.01, residual=None, backend=None):
    return _conv_transpose(2, x, weight, bias, stride, padding, output_padding, groups, dilation,
                           activation=activation, negative_slope=negative_slope, residual=residual,
                           backend=backend)


def conv_transpose3d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1, *,
                     activation=None, negative_slope=0.01, residual=None, backend=None):
    return _conv_transpose(3, x, weight, bias, stride, padding, output_padding, groups, dilation,
                           activation=activation, negative_slope=negative_slope, residual=residual,
                           backend=backend)


_EXAMPLES = {
    1: dict(dims="L", kdims="k", odims="L_out", xshape="(1, 2, 4)", wshape="(1, 2, 3)",
            example="tolist()", result="[[[4.0, 6.0, 6.0, 4.0]]]", twshape="(2, 1, 2)",
            texample="tolist()", tresult="[[[2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]]]"),
    2: dict(dims="H, W", kdims="kH, kW", odims="H_out, W_out", xshape="(1, 1, 3, 3)", wshape="(1, 1, 3, 3)",
            example="tolist()", result="[[[[4.0, 6.0, 4.0], [6.0, 9.0, 6.0], [4.0, 6.0, 4.0]]]]",
            twshape="(1, 2, 2, 2)", texample="shape", tresult="(1, 2, 6, 6)"),
    3: dict(dims="D, H, W", kdims="kD, kH, kW", odims="D_out, H_out, W_out", xshape="(1, 1, 2, 2, 2)",
            wshape="(1, 1, 3, 3, 3)", example="sum()", result="np.float32(64.0)",
            twshape="(1, 1, 2, 2, 2)", texample="sum()", tresult="np.float32(64.0)"),
}
for _n, _fn in ((1, conv1d), (2, conv2d), (3, conv3d)):
    _fn.__doc__ = _CONV_DOC.format(n=_n, **_EXAMPLES[_n])
for _n, _fn in ((1, conv_transpose1d), (2, conv_transpose2d), (3, conv_transpose3d)):
    _fn.__doc__ = _CONV_TRANSPOSE_DOC.format(n=_n, **_EXAMPLES[_n])


def separable_conv2d(x, depthwise_weight, pointwise_weight, bias=None, stride=1, padding=0, dilation=1, *,
                     depthwise_bias=None, padding_mode="zeros", activation=None, negative_slope=0.01,
                     backend=None):
    """Depthwise-separable 2-d convolution (MobileNet, Xception): a depthwise convolution then a 1x1 one.

    x: [N, C_in, H, W]; depthwise_weight: [C_in * m, 1, kH, kW] (channel multiplier m);
    pointwise_weight: [C_out, C_in * m, 1, 1]; bias: [C_out] or None (of the pointwise step);
    depthwise_bias: [C_in * m] or None. stride, padding, dilation and padding_mode apply to
    the depthwise step. Returns act(pointwise(depthwise(x)) + bias): [N, C_out, H_out, W_out].

    Example:
        >>> x = np.ones((1, 2, 4, 4), np.float32)
        >>> dw = np.ones((2, 1, 3, 3), np.float32); pw = np.ones((5, 2, 1, 1), np.float32)
        >>> pydeepkit.ops.separable_conv2d(x, dw, pw, padding=1)[0, :, 1, 1].tolist()
        [18.0, 18.0, 18.0, 18.0, 18.0]
    """
    op = "separable_conv2d"
    call = _backend.resolve(op, backend, optional=("bias", "depthwise_bias"), x=x,
                            depthwise_weight=depthwise_weight, pointwise_weight=pointwise_weight, bias=bias,
                            depthwise_bias=depthwise_bias)
    xv, dwv = _views(call, x, depthwise_weight)
    pwv = call.view(pointwise_weight, "pointwise_weight")
    cin = xv.shape[-3] if xv.ndim >= 3 else -1
    if dwv.ndim != 4 or dwv.shape[1] != 1 or dwv.shape[0] % max(cin, 1):
        raise ValueError(f"{op}: depthwise_weight must be [C_in * m, 1, kH, kW] with C_in = {cin}, "
                         f"got {tuple(dwv.shape)}")
    if pwv.ndim != 4 or pwv.shape[1] != dwv.shape[0] or pwv.shape[2:] != (1, 1):
        raise ValueError(f"{op}: pointwise_weight must be [C_out, {dwv.shape[0]}, 1, 1], got {tuple(pwv.shape)}")
    gd = conv_geometry(op, 2, xv.shape, dwv.shape, stride, padding, dilation, cin, padding_mode)
    mid = _run(call, gd, xv, dwv, depthwise_bias, None, padding_mode, None, 0.01)
    midv = call.view(mid, "depthwise output")
    gp = conv_geometry(op, 2, midv.shape, pwv.shape)
    return _run(call, gp, midv, pwv, bias, None, "zeros", activation, negative_slope)
