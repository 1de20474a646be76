"""Numpy reference implementations (oracles) of the pooling family.

Plain loops over output positions, vectorised over the ``N * C`` planes, written
from PyTorch's documented semantics. They are the ground truth of the kernel tests
(``tests/test_pool.py``) and are used by ``pydeepkit demo`` at run time, so they
only depend on numpy.

Conventions (as ``torch.nn.functional``):

* inputs are batched ``[N, C, *spatial]`` or unbatched ``[C, *spatial]`` numpy
  arrays with ``d`` spatial dims (1, 2 or 3 for the ``*1d/*2d/*3d`` variants);
  outputs keep the batching of the input;
* values are accumulated in float64; the output dtype is the input dtype;
* max pooling returns ``indices`` (int64, same shape as the output): the flat
  index of the selected element inside its input plane (``h * W + w`` in 2-d);
* max propagates NaN: a window holding a NaN yields NaN and the index of the
  *last* NaN in scan order (row-major); otherwise the *first* maximum wins; a
  window of only ``-inf`` yields ``-inf`` at its first valid position;
* fixed windows: ``out = floor((in + 2*pad - dilation*(k-1) - 1 [+ stride-1 if
  ceil_mode]) / stride) + 1``, and with ``ceil_mode`` the last window is dropped
  when it would start at or after ``in + pad`` (it must start inside the input
  or the left padding);
* adaptive windows: output ``i`` reads ``[floor(i*in/out), ceil((i+1)*in/out))``.

The oracles only reject what they cannot define (output size < 1, non-positive
kernel/stride/dilation, norm_type <= 0, divisor_override 0, out-of-range unpool
indices, wrong dtypes); the full argument validation (e.g. padding <= kernel/2) is
``pydeepkit.ops``' job and is tested there.
"""
from __future__ import annotations

import functools
import itertools
from typing import Sequence

import numpy as np

from ..ops.pool import __all__ as _OP_NAMES

# One oracle per op of pydeepkit.ops.pool, same names and arguments (minus `backend`).
__all__ = ["pool_output_size", *_OP_NAMES]


# ----------------------------------------------------------------------------- helpers

def _tuple(value, d: int, name: str) -> tuple:
    """``value`` (int or sequence of length 1 or d) as a d-tuple of ints."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * d
    value = tuple(value)
    if len(value) == 1:
        return (int(value[0]),) * d
    if len(value) != d:
        raise ValueError(f"{name}: expected an int or {d} values, got {value!r}")
    return tuple(int(v) for v in value)


def _as_planes(x: np.ndarray, d: int, name: str = "x"):
    """``x`` as ``[P, *spatial]`` (P = N*C) plus what is needed to restore its leading dims."""
    x = np.asarray(x)
    if x.ndim not in (d + 1, d + 2):
        raise ValueError(f"{name}: expected a {d + 1}-d (unbatched) or {d + 2}-d (batched) array, "
                         f"got shape {x.shape}")
    lead = x.shape[: x.ndim - d]
    spatial = x.shape[x.ndim - d:]
    planes = int(np.prod(lead, dtype=np.int64))
    return x.reshape((planes,) + spatial), lead, spatial


def pool_output_size(in_size: int, kernel: int, stride: int, pad: int, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """Output length of a fixed-window pooling along one dim (torch's rule, may be < 1)."""
    num = in_size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = num // stride + 1  # floor division (rounds towards -inf like torch's div_rtn)
    if ceil_mode and (out - 1) * stride >= in_size + pad:
        out -= 1
    return out


def _fixed_params(x, d, kernel_size, stride, padding, dilation, ceil_mode):
    k = _tuple(kernel_size, d, "kernel_size")
    s = k if stride is None or (not isinstance(stride, (int, np.integer)) and len(stride) == 0) \
        else _tuple(stride, d, "stride")
    p = _tuple(padding, d, "padding")
    dl = _tuple(dilation, d, "dilation")
    for name, vals in (("kernel_size", k), ("stride", s), ("dilation", dl)):
        if any(v <= 0 for v in vals):
            raise ValueError(f"{name}: expected positive values, got {vals}")
    if any(v < 0 for v in p):
        raise ValueError(f"padding: expected non-negative values, got {p}")
    planes, lead, spatial = _as_planes(x, d)
    out = tuple(pool_output_size(spatial[i], k[i], s[i], p[i], dl[i], ceil_mode) for i in range(d))
    if any(o < 1 for o in out):
        raise ValueError(f"input spatial size {spatial} gives output size {out} < 1 "
                         f"(kernel_size={k}, stride={s}, padding={p}, dilation={dl})")
    return planes, lead, spatial, out, k, s, p, dl


def _window_1d(o, k, s, p, dl, n):
    """Input positions (inside [0, n)) read by output ``o`` of a fixed window along one dim."""
    start = o * s - p
    return [start + j * dl for j in range(k) if 0 <= start + j * dl < n]


def _flat_positions(axes_positions: Sequence[Sequence[int]], spatial) -> np.ndarray:
    """Flat (row-major) plane indices of the cartesian product of per-axis positions."""
    if any(len(a) == 0 for a in axes_positions):
        return np.zeros(0, dtype=np.int64)
    grids = np.meshgrid(*[np.asarray(a, dtype=np.int64) for a in axes_positions], indexing="ij")
    return np.ravel_multi_index([g.ravel() for g in grids], spatial).astype(np.int64)


def _max_reduce(vals: np.ndarray, positions: np.ndarray):
    """Max over the last axis of ``vals`` [P, K] with torch's NaN/tie rules.

    Returns (values [P] float64, indices [P] int64) where indices are taken from
    ``positions`` [K] (scan order).
    """
    P = vals.shape[0]
    isnan = np.isnan(vals)
    any_nan = isnan.any(axis=1)
    k = vals.shape[1]
    last_nan = k - 1 - np.argmax(isnan[:, ::-1], axis=1)
    # argmax returns the first maximum; NaN-free rows only (NaN rows are replaced below)
    first_max = np.argmax(np.where(isnan, -np.inf, vals), axis=1)
    arg = np.where(any_nan, last_nan, first_max)
    values = vals[np.arange(P), arg]
    return values, positions[arg]


def _quiet(fn):
    """Runs ``fn`` with numpy's floating-point warnings off (inf - inf, 0 * inf in sums)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            return fn(*args, **kwargs)
    return wrapper


def _rows(a: np.ndarray) -> np.ndarray:
    """``a`` [P, *rest] as [P, prod(rest)] (also for P == 0)."""
    return a.reshape(a.shape[0], int(np.prod(a.shape[1:], dtype=np.int64)))


def _restore(y: np.ndarray, lead, dtype) -> np.ndarray:
    return y.reshape(tuple(lead) + y.shape[1:]).astype(dtype, copy=False)


def _check_float(x):
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"x: expected float32 or float64, got {x.dtype}")
    return x


# ----------------------------------------------------------------------------- max pool

@_quiet
def _max_pool(x, d, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    x = _check_float(x)
    planes, lead, spatial, out, k, s, p, dl = _fixed_params(
        x, d, kernel_size, stride, padding, dilation, ceil_mode)
    flat = _rows(planes).astype(np.float64)
    y = np.empty((planes.shape[0],) + out, dtype=np.float64)
    idx = np.empty((planes.shape[0],) + out, dtype=np.int64)
    for o in itertools.product(*[range(n) for n in out]):
        pos = _flat_positions([_window_1d(o[i], k[i], s[i], p[i], dl[i], spatial[i])
                               for i in range(d)], spatial)
        # A dilated window can fall entirely in the padding (e.g. in=1, k=2, dilation=2,
        # padding=1). torch returns -inf with an index outside the input there; pydeepkit
        # rejects such configurations.
        for i in range(d):
            if not _window_1d(o[i], k[i], s[i], p[i], dl[i], spatial[i]):
                raise ValueError(f"dilation: the window of output {o[i]} along spatial dim {i} "
                                 "reads only padding")
        v, ix = _max_reduce(flat[:, pos], pos)
        y[(slice(None),) + o] = v
        idx[(slice(None),) + o] = ix
    y = _restore(y, lead, x.dtype)
    if return_indices:
        return y, _restore(idx, lead, np.int64)
    return y


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max pooling over [N, C, L] or [C, L] -> [N, C, L_out] (indices: flat position in L)."""
    return _max_pool(x, 1, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max pooling over [N, C, H, W] or [C, H, W] -> [N, C, H_out, W_out] (indices: h*W + w)."""
    return _max_pool(x, 2, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max pooling over [N, C, D, H, W] or [C, D, H, W] (indices: (d*H + h)*W + w)."""
    return _max_pool(x, 3, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


# ----------------------------------------------------------------------------- avg / lp pool

def _window_sums(x, d, k, s, p, ceil_mode, power=None):
    """Per output position: (sum over the valid window [P], size clipped to the padded input,
    number of valid elements). Windows use dilation 1."""
    planes, lead, spatial, out, k, s, p, _ = _fixed_params(x, d, k, s, p, 1, ceil_mode)
    flat = _rows(planes).astype(np.float64)
    if power is not None:
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            flat = np.power(flat, power)
    sums = np.empty((planes.shape[0],) + out, dtype=np.float64)
    padded = np.empty(out, dtype=np.int64)
    valid = np.empty(out, dtype=np.int64)
    for o in itertools.product(*[range(n) for n in out]):
        axes = []
        padded_size = 1
        for i in range(d):
            start = o[i] * s[i] - p[i]
            end = min(start + k[i], spatial[i] + p[i])  # window clipped to the padded input
            padded_size *= end - start
            axes.append(list(range(max(start, 0), min(end, spatial[i]))))
        pos = _flat_positions(axes, spatial)
        sums[(slice(None),) + o] = flat[:, pos].sum(axis=1)
        padded[o] = padded_size
        valid[o] = pos.size
    return sums, padded, valid, lead, k


@_quiet
def _avg_pool(x, d, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    x = _check_float(x)
    if divisor_override is not None and divisor_override == 0:
        raise ValueError("divisor_override: expected a non-zero value, got 0")
    sums, padded, valid, lead, _ = _window_sums(x, d, kernel_size, stride, padding, ceil_mode)
    if divisor_override is not None:
        div = np.full(padded.shape, float(divisor_override))
    elif count_include_pad:
        div = padded.astype(np.float64)
    else:
        div = valid.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = sums / div
    return _restore(y, lead, x.dtype)


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Average pooling over [N, C, L] or [C, L] -> [N, C, L_out].

    ``divisor_override`` is accepted for symmetry with 2-d/3-d (torch's avg_pool1d has none).
    """
    return _avg_pool(x, 1, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Average pooling over [N, C, H, W] or [C, H, W] -> [N, C, H_out, W_out]."""
    return _avg_pool(x, 2, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Average pooling over [N, C, D, H, W] or [C, D, H, W] -> [N, C, D_out, H_out, W_out]."""
    return _avg_pool(x, 3, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


@_quiet
def _lp_pool(x, d, norm_type, kernel_size, stride, ceil_mode):
    x = _check_float(x)
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"norm_type: expected a positive value, got {norm_type}")
    sums, padded, _, lead, k = _window_sums(x, d, kernel_size, stride, 0, ceil_mode,
                                            power=norm_type)
    # torch: avg_pool(x**p) (count_include_pad, padding 0: divisor = window clipped to the
    # input) * kernel volume, then ** (1/p).
    volume = float(np.prod(_tuple(kernel_size, d, "kernel_size")))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        y = np.power(sums / padded * volume, 1.0 / norm_type)
    return _restore(y, lead, x.dtype)


def lp_pool1d(x, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling over [N, C, L] or [C, L]: (avg(x**p) * k) ** (1/p)."""
    return _lp_pool(x, 1, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(x, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling over [N, C, H, W] or [C, H, W]: (avg(x**p) * kH*kW) ** (1/p)."""
    return _lp_pool(x, 2, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(x, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling over [N, C, D, H, W] or [C, D, H, W]."""
    return _lp_pool(x, 3, norm_type, kernel_size, stride, ceil_mode)


# ----------------------------------------------------------------------------- adaptive

def adaptive_window(i: int, in_size: int, out_size: int) -> range:
    """Input positions of adaptive output ``i``: [floor(i*in/out), ceil((i+1)*in/out))."""
    return range((i * in_size) // out_size, -((-(i + 1) * in_size) // out_size))


def _adaptive_out(output_size, d, spatial):
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size,) * d
    output_size = tuple(output_size)
    if len(output_size) == 1 and d > 1:
        output_size = output_size * d
    if len(output_size) != d:
        raise ValueError(f"output_size: expected {d} values, got {output_size!r}")
    out = tuple(spatial[i] if output_size[i] is None else int(output_size[i]) for i in range(d))
    if any(o < 1 for o in out):
        raise ValueError(f"output_size: expected values >= 1, got {out}")
    return out


@_quiet
def _adaptive(x, d, output_size, mode, return_indices=False):
    x = _check_float(x)
    planes, lead, spatial = _as_planes(x, d)
    out = _adaptive_out(output_size, d, spatial)
    flat = _rows(planes).astype(np.float64)
    y = np.empty((planes.shape[0],) + out, dtype=np.float64)
    idx = np.empty((planes.shape[0],) + out, dtype=np.int64)
    for o in itertools.product(*[range(n) for n in out]):
        pos = _flat_positions([adaptive_window(o[i], spatial[i], out[i]) for i in range(d)],
                              spatial)
        if mode == "max":
            v, ix = _max_reduce(flat[:, pos], pos)
            idx[(slice(None),) + o] = ix
        else:
            v = flat[:, pos].mean(axis=1) if pos.size else np.full(flat.shape[0], np.nan)
        y[(slice(None),) + o] = v
    y = _restore(y, lead, x.dtype)
    if mode == "max" and return_indices:
        return y, _restore(idx, lead, np.int64)
    return y


def adaptive_avg_pool1d(x, output_size):
    """Adaptive average pooling [N, C, L] or [C, L] -> [..., output_size]."""
    return _adaptive(x, 1, output_size, "avg")


def adaptive_avg_pool2d(x, output_size):
    """Adaptive average pooling [N, C, H, W] or [C, H, W] -> [..., oH, oW] (None keeps a dim)."""
    return _adaptive(x, 2, output_size, "avg")


def adaptive_avg_pool3d(x, output_size):
    """Adaptive average pooling [N, C, D, H, W] or [C, D, H, W] -> [..., oD, oH, oW]."""
    return _adaptive(x, 3, output_size, "avg")


def adaptive_max_pool1d(x, output_size, return_indices=False):
    """Adaptive max pooling [N, C, L] or [C, L] -> [..., output_size] (+ int64 indices)."""
    return _adaptive(x, 1, output_size, "max", return_indices)


def adaptive_max_pool2d(x, output_size, return_indices=False):
    """Adaptive max pooling [N, C, H, W] or [C, H, W] -> [..., oH, oW] (+ int64 indices)."""
    return _adaptive(x, 2, output_size, "max", return_indices)


def adaptive_max_pool3d(x, output_size, return_indices=False):
    """Adaptive max pooling [N, C, D, H, W] or [C, D, H, W] -> [..., oD, oH, oW] (+ indices)."""
    return _adaptive(x, 3, output_size, "max", return_indices)


# ----------------------------------------------------------------------------- max unpool

def unpool_default_size(in_size, kernel, stride, pad) -> int:
    """torch's default max_unpool output length: (in - 1) * stride - 2 * pad + kernel."""
    return (in_size - 1) * stride - 2 * pad + kernel


@_quiet
def _max_unpool(x, indices, d, kernel_size, stride, padding, output_size):
    x = _check_float(x)
    indices = np.asarray(indices)
    if indices.dtype != np.int64:
        raise TypeError(f"indices: expected int64, got {indices.dtype}")
    if indices.shape != x.shape:
        raise ValueError(f"indices: expected shape {x.shape} (the shape of x), got {indices.shape}")
    k = _tuple(kernel_size, d, "kernel_size")
    s = k if stride is None else _tuple(stride, d, "stride")
    p = _tuple(padding, d, "padding")
    planes, lead, spatial = _as_planes(x, d)
    if output_size is None:
        out = tuple(unpool_default_size(spatial[i], k[i], s[i], p[i]) for i in range(d))
    else:
        output_size = tuple(int(v) for v in output_size)
        if len(output_size) not in (d, x.ndim):
            raise ValueError(f"output_size: expected {d} or {x.ndim} values, got {output_size!r}")
        out = output_size[len(output_size) - d:]
    plane_out = int(np.prod(out))
    ind = _rows(indices.reshape(planes.shape))
    if ind.size and (ind.min() < 0 or ind.max() >= plane_out):
        raise ValueError(f"indices: expected values in [0, {plane_out}), got "
                         f"[{ind.min()}, {ind.max()}]")
    y = np.zeros((planes.shape[0], plane_out), dtype=x.dtype)
    vals = _rows(planes)
    for j in range(vals.shape[1]):  # in scan order: a repeated index keeps the last write
        y[np.arange(planes.shape[0]), ind[:, j]] = vals[:, j]
    return y.reshape(tuple(lead) + out)


def max_unpool1d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of max_pool1d: [N, C, L] (+ int64 indices of the same shape) -> [N, C, L_out],
    zeros except out[n, c, indices[n, c, i]] = x[n, c, i]."""
    return _max_unpool(x, indices, 1, kernel_size, stride, padding, output_size)


def max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of max_pool2d: [N, C, H, W] -> [N, C, H_out, W_out] (indices flat in H_out*W_out)."""
    return _max_unpool(x, indices, 2, kernel_size, stride, padding, output_size)


def max_unpool3d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of max_pool3d: [N, C, D, H, W] -> [N, C, D_out, H_out, W_out]."""
    return _max_unpool(x, indices, 3, kernel_size, stride, padding, output_size)


# ----------------------------------------------------------------------------- global / SPP

def _global_planes(x):
    x = _check_float(x)
    if x.ndim not in (3, 4, 5):
        raise ValueError(f"x: expected [N, C, *spatial] with 1-3 spatial dims, got shape {x.shape}")
    return x, x.reshape(x.shape[:2] + (int(np.prod(x.shape[2:])),)).astype(np.float64)


@_quiet
def global_avg_pool(x, keepdim=False):
    """Mean over the spatial dims: [N, C, *spatial] -> [N, C] (keepdim: [N, C, 1, ...])."""
    x, flat = _global_planes(x)
    y = flat.mean(axis=2) if flat.shape[2] else np.full(flat.shape[:2], np.nan)
    if keepdim:
        y = y.reshape(y.shape + (1,) * (x.ndim - 2))
    return y.astype(x.dtype)


@_quiet
def global_max_pool(x, keepdim=False):
    """Max over the spatial dims (NaN propagates): [N, C, *spatial] -> [N, C] (keepdim: [N, C, 1, ...])."""
    x, flat = _global_planes(x)
    P = flat.shape[0] * flat.shape[1]
    v, _ = _max_reduce(flat.reshape(P, flat.shape[2]), np.arange(flat.shape[2], dtype=np.int64))
    y = v.reshape(flat.shape[:2])
    if keepdim:
        y = y.reshape(y.shape + (1,) * (x.ndim - 2))
    return y.astype(x.dtype)


@_quiet
def spatial_pyramid_pool(x, levels=(1, 2, 4), mode="max"):
    """Spatial pyramid pooling: [N, C, *spatial] (d = 1-3 spatial dims) -> [N, C * sum(l**d)].

    Level ``l`` is adaptive ``mode`` pooling to ``l`` per spatial dim, flattened per sample
    in (C, l, ..., l) order; the levels are concatenated in the given order.
    """
    x = _check_float(x)
    if x.ndim not in (3, 4, 5):
        raise ValueError(f"x: expected [N, C, *spatial] with 1-3 spatial dims, got shape {x.shape}")
    if mode not in ("max", "avg"):
        raise ValueError(f"mode: expected 'max' or 'avg', got {mode!r}")
    d = x.ndim - 2
    parts = []
    for level in levels:
        level = int(level)
        if level < 1:
            raise ValueError(f"levels: expected values >= 1, got {level}")
        y = _adaptive(x, d, (level,) * d, mode)
        parts.append(y.reshape(x.shape[0], x.shape[1] * level ** d))
    return np.concatenate(parts, axis=1).astype(x.dtype, copy=False)
