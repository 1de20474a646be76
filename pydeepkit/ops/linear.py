"""Linear layer op (torch.nn.functional.linear) on our GEMM, with its fused bias/activation epilogue."""
from __future__ import annotations

from .. import _backend
from .gemm import gemm

__all__ = ["linear"]


def linear(x, weight, bias=None, *, activation=None, negative_slope=0.01, backend=None):
    """y = act(x @ weight.T + bias), one GEMM with the bias and activation fused in its epilogue.

    x: [*, in_features]; weight: [out_features, in_features] (torch's layout, read transposed
    in place, no copy); bias: [out_features] or None. activation as in ops.gemm (None,
    'relu', 'leaky_relu', 'sigmoid', 'tanh', 'gelu', 'relu6'). Returns [*, out_features].

    Example:
        >>> x = np.ones((2, 3), np.float32); w = np.ones((4, 3), np.float32)
        >>> pydeepkit.ops.linear(x, w, np.arange(4, dtype=np.float32)).tolist()
        [[3.0, 4.0, 5.0, 6.0], [3.0, 4.0, 5.0, 6.0]]
    """
    op = "linear"
    call = _backend.resolve(op, backend, optional=("bias",), x=x, weight=weight, bias=bias)
    xv, wv = call.view(x, "x"), call.view(weight, "weight")
    if wv.ndim != 2:
        raise ValueError(f"{op}: weight must be [out_features, in_features], got shape {tuple(wv.shape)}")
    if xv.ndim < 1 or xv.shape[-1] != wv.shape[1]:
        raise ValueError(f"{op}: x must be [*, in_features] with in_features = {wv.shape[1]} (weight "
                         f"{tuple(wv.shape)}), got shape {tuple(xv.shape)}")
    lead = tuple(xv.shape[:-1])
    x2 = xv.reshape(-1, wv.shape[1]) if xv.ndim != 2 else xv
    # gemm runs on the views; torch callers get their tensor back through call.result's copy only for
    # the reshape case, so the 2-d case passes the caller's arrays straight through
    if call.library == "torch" and xv.ndim == 2:
        return gemm(x, weight.T, bias, activation, negative_slope=negative_slope, backend=call.backend)
    y = gemm(x2, wv.T, None if bias is None else call.view(bias, "bias"), activation,
             negative_slope=negative_slope, backend=call.backend)
    return call.result(y.reshape(lead + (wv.shape[0],)))
