"""The layers: thin Modules over pydeepkit.ops, with torch.nn's constructor arguments and
state_dict names. Each layer keeps its op's keyword arguments and calls the op with the
module's device as ``backend``.
"""
from __future__ import annotations

import math

import numpy as np

from .. import ops
from . import init
from .module import Module, Parameter

__all__ = [
    "Identity", "Flatten", "Dropout", "Linear", "Embedding",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "SeparableConv2d",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "LPPool1d", "LPPool2d",
    "LPPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "GlobalAvgPool",
    "GlobalMaxPool", "SpatialPyramidPool",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "LocalResponseNorm",
    "ReLU", "ReLU6", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax", "Maxout", "Upsample",
]


def _tuple(v, n):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


class _OpLayer(Module):
    """A parameterless layer calling ``ops.<_op>(x, **self.kwargs, backend=device)``."""

    _op = ""

    def __init__(self, **kwargs):
        super().__init__()
        self.kwargs = kwargs

    def forward(self, x):
        return getattr(ops, self._op)(x, **self.kwargs, backend=self.backend)

    def extra_repr(self):
        return ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())


def _op_layer(name, op, signature, doc):
    """Defines layer class ``name`` whose constructor takes ``signature`` (name, default) pairs."""
    def __init__(self, *args, **kwargs):
        names = [n for n, _ in signature]
        if len(args) > len(names):
            raise TypeError(f"{name} takes at most {len(names)} positional arguments, got {len(args)}")
        values = dict(signature)
        values.update(zip(names, args))
        for k in kwargs:
            if k not in values and k != "inplace":
                raise TypeError(f"{name}: unexpected argument {k!r}")
        values.update({k: v for k, v in kwargs.items() if k != "inplace"})
        missing = [n for n, v in values.items() if v is _REQUIRED]
        if missing:
            raise TypeError(f"{name}: missing argument {missing[0]!r}")
        _OpLayer.__init__(self, **values)
    cls = type(name, (_OpLayer,), {"__init__": __init__, "_op": op, "__doc__": doc, "__module__": __name__})
    globals()[name] = cls
    return cls


_REQUIRED = object()
_R = _REQUIRED

# -- activations ------------------------------------------------------------------------------
_op_layer("ReLU", "relu", (), "max(x, 0) (nn.ReLU; inplace is accepted and ignored).")
_op_layer("ReLU6", "relu6", (), "min(max(x, 0), 6) (nn.ReLU6).")
_op_layer("LeakyReLU", "leaky_relu", (("negative_slope", 0.01),), "nn.LeakyReLU(negative_slope).")
_op_layer("Sigmoid", "sigmoid", (), "nn.Sigmoid.")
_op_layer("Tanh", "tanh", (), "nn.Tanh.")
_op_layer("GELU", "gelu", (("approximate", "none"),), "nn.GELU(approximate='none' | 'tanh').")
_op_layer("Softmax", "softmax", (("dim", -1),), "nn.Softmax(dim).")
_op_layer("LogSoftmax", "log_softmax", (("dim", -1),), "nn.LogSoftmax(dim).")
_op_layer("Maxout", "maxout", (("pool_size", _R), ("dim", 1)),
          "Maxout(pool_size, dim=1): the maximum of each group of pool_size channels.")
_op_layer("LocalResponseNorm", "local_response_norm", (("size", _R), ("alpha", 1e-4), ("beta", 0.75), ("k", 1.0)),
          "nn.LocalResponseNorm(size, alpha, beta, k) (AlexNet).")
_op_layer("Upsample", "interpolate", (("size", None), ("scale_factor", None), ("mode", "nearest"),
                                      ("align_corners", None)),
          "nn.Upsample(size, scale_factor, mode='nearest' | 'bilinear', align_corners).")

# -- pooling ----------------------------------------------------------------------------------
for _n in (1, 2, 3):
    _op_layer(f"MaxPool{_n}d", f"max_pool{_n}d", (("kernel_size", _R), ("stride", None), ("padding", 0),
                                                  ("dilation", 1), ("return_indices", False), ("ceil_mode", False)),
              f"nn.MaxPool{_n}d(kernel_size, stride=None, padding=0, dilation=1, return_indices, ceil_mode).")
    _op_layer(f"AvgPool{_n}d", f"avg_pool{_n}d",
              (("kernel_size", _R), ("stride", None), ("padding", 0), ("ceil_mode", False),
               ("count_include_pad", True)) + ((("divisor_override", None),) if _n > 1 else ()),
              f"nn.AvgPool{_n}d(kernel_size, stride=None, padding=0, ceil_mode, count_include_pad).")
    _op_layer(f"LPPool{_n}d", f"lp_pool{_n}d", (("norm_type", _R), ("kernel_size", _R), ("stride", None),
                                                ("ceil_mode", False)),
              f"nn.LPPool{_n}d(norm_type, kernel_size, stride=None, ceil_mode=False).")
    _op_layer(f"AdaptiveAvgPool{_n}d", f"adaptive_avg_pool{_n}d", (("output_size", _R),),
              f"nn.AdaptiveAvgPool{_n}d(output_size).")
    _op_layer(f"AdaptiveMaxPool{_n}d", f"adaptive_max_pool{_n}d", (("output_size", _R), ("return_indices", False)),
              f"nn.AdaptiveMaxPool{_n}d(output_size, return_indices=False).")
_op_layer("GlobalAvgPool", "global_avg_pool", (("keepdim", False),),
          "Mean over every spatial dim: [N, C, *] -> [N, C] (or [N, C, 1, ...] with keepdim).")
_op_layer("GlobalMaxPool", "global_max_pool", (("keepdim", False),), "Maximum over every spatial dim.")
_op_layer("SpatialPyramidPool", "spatial_pyramid_pool", (("levels", (1, 2, 4)), ("mode", "max")),
          "Spatial pyramid pooling (SPP-net): adaptive pooling at each level, flattened and concatenated.")


class _MaxUnpool(Module):
    _n = 0

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x, indices, output_size=None):
        return getattr(ops, f"max_unpool{self._n}d")(x, indices, self.kernel_size, self.stride, self.padding,
                                                       output_size, backend=self.backend)


class MaxUnpool1d(_MaxUnpool):
    """nn.MaxUnpool1d(kernel_size, stride, padding); forward(x, indices, output_size=None)."""
    _n = 1


class MaxUnpool2d(_MaxUnpool):
    """nn.MaxUnpool2d(kernel_size, stride, padding); forward(x, indices, output_size=None)."""
    _n = 2


class MaxUnpool3d(_MaxUnpool):
    """nn.MaxUnpool3d(kernel_size, stride, padding); forward(x, indices, output_size=None)."""
    _n = 3


# -- glue -------------------------------------------------------------------------------------
class Identity(Module):
    """Returns its input (nn.Identity); fuse() puts it where a folded layer was."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x, *args, **kwargs):
        return x


class Flatten(Module):
    """nn.Flatten(start_dim=1, end_dim=-1): [N, C, H, W] -> [N, C*H*W]."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        nd = x.ndim
        s, e = self.start_dim % nd, self.end_dim % nd
        return x.reshape(tuple(x.shape[:s]) + (-1,) + tuple(x.shape[e + 1:]))

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """nn.Dropout(p): the identity in eval(); drops with probability p in train()."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return ops.dropout(x, self.p, self.training, backend=self.backend)

    def extra_repr(self):
        return f"p={self.p}"


class Linear(Module):
    """nn.Linear(in_features, out_features, bias=True): y = x @ weight.T + bias on our GEMM.

    weight [out_features, in_features], bias [out_features] (torch's init:
    U(-1/sqrt(in), 1/sqrt(in))). ``activation`` (set by fuse) runs in the GEMM epilogue.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features) if in_features else 0.0
        if init.he_active():
            self.weight = Parameter(init.normal((out_features, in_features), 0.01, dtype))
        else:
            self.weight = Parameter(init.uniform((out_features, in_features), bound, dtype))
        if bias:
            self.bias = Parameter(init.zeros((out_features,), dtype) if init.he_active()
                                  else init.uniform((out_features,), bound, dtype))
        else:
            self.register_parameter("bias", None)
        self.activation, self.negative_slope = None, 0.01  # fused epilogue activation (set by fuse)

    def forward(self, x):
        return ops.linear(x, self.weight, self.bias, activation=self.activation, negative_slope=self.negative_slope,
                          backend=self.backend)

    def extra_repr(self):
        act = f", activation={self.activation!r}" if self.activation else ""
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}{act}"


class Embedding(Module):
    """nn.Embedding(num_embeddings, embedding_dim, padding_idx=None): weight [num, dim] ~ N(0, 1), the
    padding_idx row zero."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, dtype=np.float32):
        super().__init__()
        w = init.normal((num_embeddings, embedding_dim), 1.0, dtype)
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be in [{-num_embeddings}, {num_embeddings - 1}], "
                                 f"got {padding_idx}")
            padding_idx %= num_embeddings
            w[padding_idx] = 0
        self.weight = Parameter(w)
        self.padding_idx = padding_idx

    def forward(self, indices):
        return ops.embedding(indices, self.weight, self.padding_idx, backend=self.backend)


# -- convolution ------------------------------------------------------------------------------
class _ConvNd(Module):
    _n, _transposed = 0, False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", output_padding=0, dtype=np.float32):
        super().__init__()
        n = self._n
        kernel = _tuple(kernel_size, n)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{type(self).__name__}: in_channels ({in_channels}) and out_channels ({out_channels}) "
                             f"must be divisible by groups ({groups})")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.padding_mode, self.output_padding = padding_mode, output_padding
        shape = ((in_channels, out_channels // groups) if self._transposed
                 else (out_channels, in_channels // groups)) + kernel
        fan_in = shape[1] * math.prod(kernel)  # torch's fan_in of the weight (dim 1 x kernel)
        bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
        he = init.he_active() and not self._transposed
        self.weight = Parameter(init.kaiming_normal(shape, dtype, mode="fan_in") if he else init.uniform(shape, bound, dtype))
        if bias:
            self.bias = Parameter(init.zeros((out_channels,), dtype) if he
                                  else init.uniform((out_channels,), bound, dtype))
        else:
            self.register_parameter("bias", None)
        self.activation, self.negative_slope = None, 0.01  # fused epilogue activation (set by fuse)
        self._packed = None  # ops.PackedConvWeight of a frozen weight (set by fuse)

    def freeze_weight(self):
        """For inference: replaces the weight by a read-only copy and packs it once for the CPU
        kernels, which then skip repacking it on every call (nn.fuse does this). A weight replaced
        later (load_state_dict, to()) is used unpacked, as before; no-op off the CPU, for
        transposed and for depthwise convolutions."""
        w = self.weight
        if self._transposed or self.device != "cpu" or not isinstance(w, np.ndarray):
            return
        frozen = np.array(w)
        frozen.flags.writeable = False
        packed = ops.conv.pack_conv_weight(frozen, self.groups, self.stride)
        if packed is not None:
            self._parameters["weight"] = frozen
            self._packed = packed

    def forward(self, x, residual=None):
        if self._transposed:
            return getattr(ops, f"conv_transpose{self._n}d")(
                x, self.weight, self.bias, self.stride, self.padding, self.output_padding, self.groups, self.dilation,
                activation=self.activation, negative_slope=self.negative_slope, residual=residual,
                backend=self.backend)
        # The packed copy only while the weight is the read-only array it was packed from.
        packed = self._packed
        if packed is not None and (packed.weight is not self.weight or self.weight.flags.writeable):
            packed = self._packed = None
        return getattr(ops, f"conv{self._n}d")(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
            padding_mode=self.padding_mode, activation=self.activation, negative_slope=self.negative_slope,
            residual=residual, backend=self.backend, packed_weight=packed)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != 0:
            s += f", padding={self.padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.activation:
            s += f", activation={self.activation!r}"
        return s


def _conv_class(name, n, transposed):
    doc = (f"nn.{name}: weight [{'C_in, C_out / groups' if transposed else 'C_out, C_in / groups'}, *kernel], "
           f"bias [C_out]; forward(x, residual=None) on ops.{'conv_transpose' if transposed else 'conv'}{n}d "
           "(``activation``, set by fuse, runs in the kernel's epilogue).")
    if transposed:
        def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                     bias=True, dilation=1, padding_mode="zeros", dtype=np.float32):
            if padding_mode != "zeros":
                raise ValueError(f"{name}: only padding_mode='zeros' is supported (as torch), got {padding_mode!r}")
            _ConvNd.__init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                             padding_mode, output_padding, dtype)
    else:
        def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                     bias=True, padding_mode="zeros", dtype=np.float32):
            _ConvNd.__init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                             padding_mode, 0, dtype)
    cls = type(name, (_ConvNd,), {"__init__": __init__, "_n": n, "_transposed": transposed, "__doc__": doc,
                                  "__module__": __name__})
    globals()[name] = cls


for _n in (1, 2, 3):
    _conv_class(f"Conv{_n}d", _n, False)
    _conv_class(f"ConvTranspose{_n}d", _n, True)


class SeparableConv2d(Module):
    """Depthwise-separable convolution (MobileNet, Xception): ``depthwise`` (a Conv2d with groups =
    in_channels, channel multiplier ``depth_multiplier``) then ``pointwise`` (a 1x1 Conv2d)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, bias=True,
                 depth_multiplier=1, padding_mode="zeros"):
        super().__init__()
        mid = in_channels * depth_multiplier
        self.depthwise = Conv2d(in_channels, mid, kernel_size, stride, padding, dilation, groups=in_channels,
                                bias=False, padding_mode=padding_mode)
        self.pointwise = Conv2d(mid, out_channels, 1, bias=bias)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


# -- normalisation ----------------------------------------------------------------------------
class _BatchNorm(Module):
    _ndims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=np.float32):
        super().__init__()
        if not track_running_stats:
            raise ValueError(f"{type(self).__name__}: pydeepkit runs inference with running statistics "
                             "(track_running_stats=True)")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype))
            self.bias = Parameter(np.zeros(num_features, dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean", np.zeros(num_features, dtype))
        self.register_buffer("running_var", np.ones(num_features, dtype))

    def forward(self, x):
        if x.ndim not in self._ndims:
            raise ValueError(f"{type(self).__name__}: expected a {' or '.join(f'{d}-d' for d in self._ndims)} "
                             f"input, got shape {tuple(x.shape)}")
        return ops.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, eps=self.eps,
                              backend=self.backend)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}"


class BatchNorm1d(_BatchNorm):
    """nn.BatchNorm1d(num_features, eps=1e-5): inference with running statistics; x [N, C] or [N, C, L]."""
    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """nn.BatchNorm2d(num_features, eps=1e-5): inference with running statistics; x [N, C, H, W]."""
    _ndims = (4,)


class BatchNorm3d(_BatchNorm):
    """nn.BatchNorm3d(num_features, eps=1e-5): inference with running statistics; x [N, C, D, H, W]."""
    _ndims = (5,)


class LayerNorm(Module):
    """nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True) over the trailing dims."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=np.float32):
        super().__init__()
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        return ops.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps, backend=self.backend)
