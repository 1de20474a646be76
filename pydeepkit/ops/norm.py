"""Normalisation glue ops (torch.nn.functional names): batch_norm (inference, running statistics),
layer_norm and local_response_norm (AlexNet).

batch_norm is one fused multiply-add per element (scale and shift folded per channel first);
pydeepkit.nn.fuse removes it altogether by folding it into the preceding convolution.
"""
from __future__ import annotations

from .. import _backend

__all__ = ["batch_norm", "layer_norm", "local_response_norm"]


def _channel_vector(call, arr, name, c, dtype):
    if arr is None:
        return None
    v = call.view(arr, name)
    if tuple(v.shape) != (c,):
        raise ValueError(f"{call.op}: {name} must be [C] = ({c},), got {tuple(v.shape)}")
    return v.astype(dtype, copy=False)


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5, *,
               backend=None):
    """Batch normalisation with running statistics (inference):
    (x - mean) / sqrt(var + eps) * weight + bias per channel (dim 1).

    x: [N, C, *] (any number of trailing dims, including none); running_mean, running_var,
    weight, bias: [C] (weight/bias may be None). training=True is not supported (pydeepkit
    runs inference); momentum is accepted for torch's signature.

    Example:
        >>> x = np.ones((2, 3, 4), np.float32)
        >>> pydeepkit.ops.batch_norm(x, np.ones(3, np.float32), np.ones(3, np.float32), eps=0.0).max().item()
        0.0
    """
    op = "batch_norm"
    if training:
        raise ValueError(f"{op}: training=True needs batch statistics; pydeepkit runs inference "
                         "(pass training=False and the running statistics)")
    call = _backend.resolve(op, backend, optional=("weight", "bias"), x=x, running_mean=running_mean,
                            running_var=running_var, weight=weight, bias=bias)
    xv = call.view(x, "x")
    if xv.ndim < 2:
        raise ValueError(f"{op}: x must be [N, C, *] (at least 2-d), got shape {tuple(xv.shape)}")
    c = xv.shape[1]
    xp = call.xp
    mean = _channel_vector(call, running_mean, "running_mean", c, xv.dtype)
    var = _channel_vector(call, running_var, "running_var", c, xv.dtype)
    w = _channel_vector(call, weight, "weight", c, xv.dtype)
    b = _channel_vector(call, bias, "bias", c, xv.dtype)
    scale = 1 / xp.sqrt(var + xv.dtype.type(eps))
    if w is not None:
        scale = scale * w
    shift = -mean * scale
    if b is not None:
        shift = shift + b
    shape = (1, c) + (1,) * (xv.ndim - 2)
    out = xv * scale.reshape(shape)
    out += shift.reshape(shape)
    return call.result(out)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5, *, backend=None):
    """Layer normalisation over the trailing dims ``normalized_shape``: (x - mean) / sqrt(var + eps)
    * weight + bias, with the biased variance (as torch).

    x: [*, *normalized_shape]; weight, bias: normalized_shape or None.

    Example:
        >>> pydeepkit.ops.layer_norm(np.array([[1.0, 3.0]], np.float32), (2,)).round(4).tolist()
        [[-1.0, 1.0]]
    """
    op = "layer_norm"
    call = _backend.resolve(op, backend, optional=("weight", "bias"), x=x, weight=weight, bias=bias)
    xv = call.view(x, "x")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or tuple(xv.shape[xv.ndim - k:]) != shape or xv.ndim < k:
        raise ValueError(f"{op}: x's trailing dims must be normalized_shape {shape}, got shape {tuple(xv.shape)}")
    for name, arr in (("weight", weight), ("bias", bias)):
        if arr is not None and tuple(call.view(arr, name).shape) != shape:
            raise ValueError(f"{op}: {name} must have shape normalized_shape {shape}, "
                             f"got {tuple(call.view(arr, name).shape)}")
    xp = call.xp
    axes = tuple(range(xv.ndim - k, xv.ndim))
    if xv.size == 0:
        return call.result(xv.copy())
    mean = xv.mean(axis=axes, keepdims=True)
    centred = xv - mean
    var = (centred * centred).mean(axis=axes, keepdims=True)
    out = centred / xp.sqrt(var + xv.dtype.type(eps))
    if weight is not None:
        out *= call.view(weight, "weight")
    if bias is not None:
        out += call.view(bias, "bias")
    return call.result(out.astype(xv.dtype, copy=False))


def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0, *, backend=None):
    """Local response normalisation across channels (AlexNet), with torch's definition:
    x / (k + alpha / size * sum of x^2 over the ``size`` channels around c) ** beta, where the
    window holds channels c - size // 2 .. c + (size - 1) // 2 (zeros beyond the ends).

    x: [N, C, *] (at least 3-d, as torch). Returns x's shape.

    Example:
        >>> x = np.ones((1, 3, 1, 1), np.float32)
        >>> pydeepkit.ops.local_response_norm(x, 3, alpha=3.0, beta=1.0, k=0.0)[0, :, 0, 0].tolist()
        [0.5, 0.3333333432674408, 0.5]
    """
    op = "local_response_norm"
    call = _backend.resolve(op, backend, x=x)
    xv = call.view(x, "x")
    if xv.ndim < 3:
        raise ValueError(f"{op}: x must be [N, C, *] with at least one spatial dim, got shape {tuple(xv.shape)}")
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"{op}: size must be a positive int, got {size!r}")
    xp = call.xp
    c = xv.shape[1]
    sq = xv * xv
    # the window sum as ``size`` shifted slice additions (size is small: 5 in AlexNet); a running
    # cumulative sum would be one pass but loses float32 precision by cancellation
    pad = [(0, 0)] * xv.ndim
    pad[1] = (size // 2, (size - 1) // 2)
    padded = xp.pad(sq, pad)
    window = padded[:, 0:c].copy()
    for j in range(1, size):
        window += padded[:, j:j + c]
    div = (window * xv.dtype.type(alpha / size) + xv.dtype.type(k)) ** xv.dtype.type(beta)
    return call.result((xv / div).astype(xv.dtype, copy=False))
