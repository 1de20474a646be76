"""fuse(model): inference-time rewriting that removes whole passes over activations.

* BatchNorm after a convolution (or a Linear) is folded into its weights and bias:
  w' = w * gamma / sqrt(var + eps) per output channel, b' = (b - mean) * gamma / sqrt(var + eps) + beta.
* ReLU / ReLU6 / LeakyReLU / Sigmoid / Tanh / GELU right after a convolution or Linear moves into
  that kernel's fused epilogue (the ``activation`` attribute).
* Blocks with a residual add (ResNet's BasicBlock/Bottleneck, MobileNet-v2's inverted residual)
  define ``_fuse()``, which folds their own layers and passes the shortcut to the last
  convolution's ``residual=`` epilogue, so add and ReLU happen while the output is written.
* Convolution weights are frozen (read-only copies) and packed once for the CPU kernels
  (``_ConvNd.freeze_weight``), which otherwise repack them on every call.
Folded layers are replaced by Identity (their state_dict keys disappear). Outputs are unchanged up
to float rounding (the folded weights are computed in float64).
"""
from __future__ import annotations

import numpy as np

from .layers import (GELU, Identity, LeakyReLU, Linear, ReLU, ReLU6, Sigmoid, Tanh, _BatchNorm, _ConvNd)
from .module import Module, Sequential, _to_device, to_host

__all__ = ["fuse", "fold_batch_norm", "fold_activation"]

_ACTIVATIONS = {ReLU: "relu", ReLU6: "relu6", Sigmoid: "sigmoid", Tanh: "tanh"}


def fold_batch_norm(layer, bn) -> None:
    """Folds BatchNorm ``bn`` into the (non-transposed) convolution or Linear ``layer`` before it."""
    if isinstance(layer, _ConvNd) and layer._transposed:
        raise ValueError("fold_batch_norm: transposed convolutions are not folded")
    w = to_host(layer.weight).astype(np.float64)
    c = w.shape[0]
    if bn.num_features != c:
        raise ValueError(f"fold_batch_norm: BatchNorm has {bn.num_features} channels, the layer {c} outputs")
    var, mean = to_host(bn.running_var).astype(np.float64), to_host(bn.running_mean).astype(np.float64)
    gamma = np.ones(c) if bn.weight is None else to_host(bn.weight).astype(np.float64)
    beta = np.zeros(c) if bn.bias is None else to_host(bn.bias).astype(np.float64)
    scale = gamma / np.sqrt(var + bn.eps)
    b = np.zeros(c) if layer.bias is None else to_host(layer.bias).astype(np.float64)
    dtype = layer.weight.dtype
    layer.register_parameter("weight", _to_device(w * scale.reshape((c,) + (1,) * (w.ndim - 1)), layer.device, dtype))
    layer.register_parameter("bias", _to_device((b - mean) * scale + beta, layer.device, dtype))


def fold_activation(layer, act) -> bool:
    """Moves activation module ``act`` into ``layer``'s epilogue; False if it cannot."""
    if getattr(layer, "activation", "x") is not None:
        return False
    if type(act) in _ACTIVATIONS:
        layer.activation = _ACTIVATIONS[type(act)]
        return True
    if isinstance(act, LeakyReLU):
        layer.activation = "leaky_relu"
        layer.negative_slope = act.kwargs["negative_slope"]
        return True
    if isinstance(act, GELU) and act.kwargs["approximate"] == "none":
        layer.activation = "gelu"
        return True
    return False


def _fuse_sequential(seq: Sequential) -> None:
    keys = list(seq._modules)
    last = None  # the conv/linear whose output flows on, while only foldable layers follow it
    for k in keys:
        m = seq._modules[k]
        if isinstance(m, Identity):
            continue
        if isinstance(m, (_ConvNd, Linear)) and not (isinstance(m, _ConvNd) and m._transposed):
            last = m
            continue
        if last is not None and isinstance(m, _BatchNorm) and last.activation is None:
            fold_batch_norm(last, m)
            seq._modules[k] = Identity()
            continue
        if last is not None and fold_activation(last, m):
            seq._modules[k] = Identity()
        last = None


def fuse(model: Module) -> Module:
    """Folds BatchNorm and activations into the preceding convolutions/linears (and ResNet /
    MobileNet-v2 shortcut adds into the last convolution of their block), in place; returns the
    model in eval mode. Use it for inference only (the folded model has other state_dict keys, and
    its convolution weights are read-only copies packed once for the CPU kernels).

    Example:
        >>> net = pydeepkit.nn.Sequential(pydeepkit.nn.Conv2d(3, 4, 3), pydeepkit.nn.BatchNorm2d(4),
        ...                               pydeepkit.nn.ReLU()).eval()
        >>> x = np.random.rand(1, 3, 8, 8).astype(np.float32)
        >>> before = net(x)
        >>> fused = pydeepkit.nn.fuse(net)
        >>> fused[0].activation, bool(np.allclose(fused(x), before, atol=1e-5))
        ('relu', True)
    """
    model.eval()
    for m in list(model.modules()):
        if isinstance(m, Sequential):
            _fuse_sequential(m)
    for m in list(model.modules()):
        hook = getattr(m, "_fuse", None)
        if hook is not None:
            hook()
    for m in model.modules():
        if isinstance(m, _ConvNd):
            m.freeze_weight()
    return model
