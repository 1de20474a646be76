"""Pooling family: parity with torch.nn.functional on cpu and emu, with torch tensors in and out.

Every call passes torch tensors (so the torch interop path is exercised too) with the
arguments in torch's positional order, and compares with torch itself. The numpy
oracles are also checked against torch here (they back the kernel tests and the demo).
Skipped when torch is not installed (CI installs it).
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import pydeepkit.ops as ops  # noqa: E402
from pydeepkit import _ext  # noqa: E402
from pydeepkit.reference import pool as ref  # noqa: E402

from conftest import assert_close, require_backend  # noqa: E402

DTYPES = [torch.float32, torch.float64]
NP = {torch.float32: np.float32, torch.float64: np.float64}


def _id(value):
    """Test-id text of a shape or argument: (2, 3, 7) -> 2x3x7 (usable in -k expressions)."""
    if isinstance(value, (tuple, list)):
        return "x".join("N" if v is None else str(v) for v in value) or "empty"
    return str(value)


@pytest.fixture(params=["cpu", "emu"])
def parity_backend(request):
    require_backend(request.param)
    return request.param


def _tensor(rng, shape, dtype, kind="normal"):
    np_dtype = NP[dtype]
    if kind == "normal":
        a = rng.standard_normal(shape)
    elif kind == "specials":  # ties, NaN, +-inf
        a = rng.integers(-2, 3, size=shape) * 0.5
        a[rng.random(shape) < 0.08] = np.nan
        a[rng.random(shape) < 0.25] = -np.inf
        a[rng.random(shape) < 0.04] = np.inf
    elif kind == "ints":
        a = rng.integers(-3, 4, size=shape)
    elif kind == "positive":
        a = rng.uniform(0.1, 2.0, size=shape)
    else:
        raise ValueError(kind)
    return torch.from_numpy(np.ascontiguousarray(a.astype(np_dtype)))


def _check_tensor(got, expected, *, exact, kind="default", what=""):
    """``got`` must be a CPU torch tensor of torch's dtype/shape and equal (or close) to ``expected``."""
    assert isinstance(got, torch.Tensor), f"{what}: expected a torch.Tensor, got {type(got)!r}"
    assert got.device.type == "cpu", f"{what}: device {got.device}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype}, torch gives {expected.dtype}"
    assert tuple(got.shape) == tuple(expected.shape), f"{what}: shape {tuple(got.shape)}, torch gives {tuple(expected.shape)}"
    assert_close(got, expected.numpy(), exact=exact, kind=kind, err_msg=what)


# (shape, kernel, stride, padding, dilation, ceil_mode): all accepted by torch
CASES = [
    ((2, 3, 9), 3, 2, 1, 1, False), ((2, 3, 8), 3, 2, 1, 1, True), ((2, 3, 5), 2, 2, 1, 1, True),
    ((2, 3, 10), 2, 3, 1, 3, True), ((2, 3, 7), 4, 1, 2, 1, False), ((2, 3, 6), 3, 2, 0, 1, True),
    ((2, 3, 7, 9), 3, 2, 1, 1, False), ((2, 3, 6, 5), (2, 3), (1, 2), (1, 0), 1, True),
    ((2, 2, 9, 8), 3, 1, 1, 2, False), ((1, 2, 8, 7), (3, 2), (2, 3), (1, 1), (2, 1), True),
    ((2, 2, 5, 5), 2, 2, 1, 1, True), ((2, 2, 9, 10), 2, 3, 0, 1, True), ((1, 1, 1, 1), 1, 1, 0, 1, False),
    ((2, 3, 12, 12), 2, 2, 0, 1, False), ((2, 2, 2, 3), 3, 3, 0, 1, True),
    ((2, 2, 5, 6, 7), 3, 2, 1, 1, False), ((1, 2, 4, 5, 3), (2, 3, 2), (2, 1, 2), (1, 1, 0), 1, True),
    ((1, 2, 6, 7, 8), (3, 2, 3), (2, 2, 1), (1, 1, 1), (1, 2, 2), True), ((1, 2, 7, 7, 7), 2, 3, 1, 1, True),
]
IDS = [f"{len(c[0]) - 2}d-{_id(c[0])}-k{_id(c[1])}-s{_id(c[2])}-p{_id(c[3])}-d{_id(c[4])}"
       f"{'-ceil' if c[5] else ''}" for c in CASES]
AVG = [(c, i) for c, i in zip(CASES, IDS) if c[4] == 1]


def _shape(shape, batched):
    return shape if batched else shape[1:]


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("data", ["normal", "specials"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_max_pool_parity(parity_backend, case, dtype, data, batched, rng):
    shape, k, s, p, dl, ceil = case
    d = len(shape) - 2
    x = _tensor(rng, _shape(shape, batched), dtype, data)
    ey, ei = getattr(F, f"max_pool{d}d")(x, k, s, p, dl, ceil, True)
    y, i = getattr(ops, f"max_pool{d}d")(x, k, s, p, dl, ceil, True, backend=parity_backend)
    _check_tensor(y, ey, exact=True, what="values")
    _check_tensor(i, ei, exact=True, what="indices")
    y = getattr(ops, f"max_pool{d}d")(x, k, s, p, dl, ceil, backend=parity_backend)
    _check_tensor(y, ey, exact=True, what="values without indices")


# torch's avg_pool1d has no divisor_override (test_pool covers ours against the reference)
AVG_PARAMS = [pytest.param(c, dov, id=f"{i}-div{dov}") for c, i in AVG
              for dov in ([None] if len(c[0]) == 3 else [None, 5])]


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case,divisor_override", AVG_PARAMS)
def test_avg_pool_parity(parity_backend, case, divisor_override, dtype, count_include_pad, batched, rng):
    shape, k, s, p, _, ceil = case
    d = len(shape) - 2
    x = _tensor(rng, _shape(shape, batched), dtype)
    extra = () if d == 1 else (divisor_override,)
    expected = getattr(F, f"avg_pool{d}d")(x, k, s, p, ceil, count_include_pad, *extra)
    got = getattr(ops, f"avg_pool{d}d")(x, k, s, p, ceil, count_include_pad, *extra, backend=parity_backend)
    _check_tensor(got, expected, exact=False)


# (shape, kernel, stride, ceil_mode)
LP_CASES = [((2, 3, 9), 3, 2, False), ((2, 3, 8), 3, 2, True), ((2, 3, 7), 2, None, True),
            ((2, 3, 7, 9), (2, 3), (2, 2), True), ((2, 3, 6, 6), 2, None, False), ((1, 2, 5, 7), 3, 1, False), ((1, 2, 2, 3), 3, 3, True),
            ((1, 2, 5, 6, 7), (2, 3, 2), (2, 2, 3), True), ((1, 2, 4, 4, 4), 2, None, False)]
LP_NORMS = [(1, "ints"), (2, "ints"), (2, "normal"), (3, "ints"), (3.5, "positive")]


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("norm", LP_NORMS, ids=[f"p{p}-{k}" for p, k in LP_NORMS])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", LP_CASES, ids=[f"{_id(c[0])}-k{_id(c[1])}-s{_id(c[2])}{'-ceil' if c[3] else ''}"
                                                  for c in LP_CASES])
def test_lp_pool_parity(parity_backend, case, dtype, norm, batched, rng):
    shape, k, s, ceil = case
    norm_type, data = norm
    d = len(shape) - 2
    x = _tensor(rng, _shape(shape, batched), dtype, data)
    expected = getattr(F, f"lp_pool{d}d")(x, norm_type, k, s, ceil)
    got = getattr(ops, f"lp_pool{d}d")(x, norm_type, k, s, ceil, backend=parity_backend)
    _check_tensor(got, expected, exact=False, kind="lp")


# (shape, output_size)
ADAPTIVE = [((2, 3, 7), 3), ((2, 3, 10), 4), ((2, 3, 4), 7), ((2, 3, 9), 1),
            ((2, 3, 7, 9), (3, 4)), ((2, 3, 10, 7), (4, 5)), ((2, 3, 5, 7), (None, 3)), ((2, 2, 5, 6), (7, 9)),
            ((1, 2, 14, 14), 7), ((2, 3, 13, 11), 1),
            ((1, 2, 5, 6, 7), (2, 3, 4)), ((1, 2, 3, 5, 2), (None, 2, 5)), ((1, 1, 2, 3, 4), (3, 5, 7))]
ADAPTIVE_IDS = [f"{_id(s)}-o{_id(o)}" for s, o in ADAPTIVE]


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("data", ["normal", "specials"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", ADAPTIVE, ids=ADAPTIVE_IDS)
def test_adaptive_pool_parity(parity_backend, case, dtype, data, batched, rng):
    shape, out = case
    d = len(shape) - 2
    x = _tensor(rng, _shape(shape, batched), dtype, data)
    ey, ei = getattr(F, f"adaptive_max_pool{d}d")(x, out, True)
    y, i = getattr(ops, f"adaptive_max_pool{d}d")(x, out, True, backend=parity_backend)
    _check_tensor(y, ey, exact=True, what="max values")
    _check_tensor(i, ei, exact=True, what="max indices")
    _check_tensor(getattr(ops, f"adaptive_max_pool{d}d")(x, out, backend=parity_backend), ey, exact=True,
                  what="max without indices")
    expected = getattr(F, f"adaptive_avg_pool{d}d")(x, out)
    _check_tensor(getattr(ops, f"adaptive_avg_pool{d}d")(x, out, backend=parity_backend), expected, exact=False,
                  what="avg")


# (shape, kernel, stride, padding, output_size for the unpool or None)
UNPOOL = [((2, 3, 8), 2, None, 0, None), ((2, 3, 9), 3, 2, 1, None), ((1, 2, 7), 2, 2, 0, (7,)),
          ((2, 3, 8, 8), 2, None, 0, None), ((2, 3, 7, 9), 3, 2, 1, None), ((2, 3, 7, 9), 2, 2, 0, (7, 9)),
          ((1, 2, 6, 5), (2, 3), (2, 1), (1, 1), None),
          ((1, 2, 4, 6, 6), 2, None, 0, None), ((1, 2, 5, 4, 7), (3, 2, 3), (2, 2, 2), (1, 0, 1), (5, 4, 7))]


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", UNPOOL, ids=[f"{_id(c[0])}-k{_id(c[1])}-s{_id(c[2])}-p{_id(c[3])}-o{_id(c[4])}"
                                              for c in UNPOOL])
def test_max_unpool_parity(parity_backend, case, dtype, batched, rng):
    shape, k, s, p, out = case
    d = len(shape) - 2
    x = _tensor(rng, _shape(shape, batched), dtype)
    y, idx = getattr(F, f"max_pool{d}d")(x, k, s, p, return_indices=True)
    expected = getattr(F, f"max_unpool{d}d")(y, idx, k, s, p, out)
    got = getattr(ops, f"max_unpool{d}d")(y, idx, k, s, p, out, backend=parity_backend)
    _check_tensor(got, expected, exact=True)
    # SegNet round trip through our own pool
    y2, idx2 = getattr(ops, f"max_pool{d}d")(x, k, s, p, return_indices=True, backend=parity_backend)
    got2 = getattr(ops, f"max_unpool{d}d")(y2, idx2, k, s, p, out, backend=parity_backend)
    _check_tensor(got2, expected, exact=True, what="round trip")


@pytest.mark.parametrize("shape", [(2, 3, 7), (2, 3, 5, 6), (2, 2, 3, 4, 5)], ids=_id)
def test_global_and_spp_parity(parity_backend, shape, rng):
    x = _tensor(rng, shape, torch.float32, "specials")
    dims = tuple(range(2, len(shape)))
    _check_tensor(ops.global_max_pool(x, backend=parity_backend), x.amax(dim=dims), exact=True, what="gmax")
    _check_tensor(ops.global_max_pool(x, True, backend=parity_backend), x.amax(dim=dims, keepdim=True),
                  exact=True, what="gmax keepdim")
    xn = _tensor(rng, shape, torch.float64)
    _check_tensor(ops.global_avg_pool(xn, backend=parity_backend), xn.mean(dim=dims), exact=False, what="gavg")
    _check_tensor(ops.global_avg_pool(xn, True, backend=parity_backend), xn.mean(dim=dims, keepdim=True),
                  exact=False, what="gavg keepdim")
    d = len(shape) - 2
    for mode, exact in (("max", True), ("avg", False)):
        pool = getattr(F, f"adaptive_{mode}_pool{d}d")
        levels = (1, 2, 3)
        src = x if mode == "max" else xn
        expected = torch.cat([pool(src, lv).flatten(1) for lv in levels], dim=1)
        _check_tensor(ops.spatial_pyramid_pool(src, levels, mode, backend=parity_backend), expected, exact=exact,
                      what=f"spp {mode}")


# ---------------------------------------------------------------------------------------
# torch in -> torch out, zero copy
# ---------------------------------------------------------------------------------------
class _Recorder:
    """Wraps an extension module and records the arguments of its kernel entry points."""

    def __init__(self, mod):
        self._mod = mod
        self.calls = []

    def __getattr__(self, name):
        attr = getattr(self._mod, name)
        if name not in ("pool_forward", "max_unpool_forward"):
            return attr

        def record(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            return attr(*args, **kwargs)
        return record


@pytest.fixture
def recorder(parity_backend, monkeypatch):
    rec = _Recorder(_ext.module(parity_backend))
    monkeypatch.setitem(_ext._cache, parity_backend, rec)
    return rec


def _pointers(call):
    _, args, kwargs = call
    return {int(a) for a in list(args) + list(kwargs.values()) if isinstance(a, int) and not isinstance(a, bool)}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_torch_zero_copy(parity_backend, recorder, dtype, rng):
    """The kernel reads the caller's tensor memory and writes straight into the returned
    tensors: their data_ptr()s are what the entry point receives."""
    x = _tensor(rng, (2, 3, 8, 8), dtype)
    y, idx = ops.max_pool2d(x, 2, return_indices=True, backend=parity_backend)
    assert isinstance(y, torch.Tensor) and isinstance(idx, torch.Tensor)
    assert y.dtype == dtype and idx.dtype == torch.int64 and y.device == x.device
    assert len(recorder.calls) == 1, recorder.calls
    ptrs = _pointers(recorder.calls[0])
    assert x.data_ptr() in ptrs, "the kernel did not read the input tensor's memory (a copy was made)"
    assert y.data_ptr() in ptrs, "the kernel did not write into the returned tensor (a copy was made)"
    assert idx.data_ptr() in ptrs, "the kernel did not write into the returned indices tensor"
    # mutating the input in place and re-running sees the new values
    x.mul_(-1)
    y2 = ops.max_pool2d(x, 2, backend=parity_backend)
    _check_tensor(y2, F.max_pool2d(x, 2), exact=True, what="after in-place mutation")
    # unpool: x, indices and output are used in place too
    recorder.calls.clear()
    up = ops.max_unpool2d(y, idx, 2, backend=parity_backend)
    ptrs = _pointers(recorder.calls[0])
    assert {y.data_ptr(), idx.data_ptr(), up.data_ptr()} <= ptrs
    _check_tensor(up, F.max_unpool2d(y, idx, 2), exact=True, what="unpool")


def test_numpy_zero_copy(parity_backend, recorder, rng):
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    y = ops.avg_pool2d(x, 2, backend=parity_backend)
    assert isinstance(y, np.ndarray)
    ptrs = _pointers(recorder.calls[0])
    assert x.ctypes.data in ptrs and y.ctypes.data in ptrs


def test_torch_non_contiguous_and_requires_grad(parity_backend, rng):
    base = _tensor(rng, (3, 2, 9, 8), torch.float32)
    x = base.transpose(0, 1)  # [2, 3, 9, 8], not contiguous
    assert not x.is_contiguous()
    y, i = ops.max_pool2d(x, 3, 2, 1, return_indices=True, backend=parity_backend)
    ey, ei = F.max_pool2d(x, 3, 2, 1, return_indices=True)
    _check_tensor(y, ey, exact=True, what="transposed")
    _check_tensor(i, ei, exact=True, what="transposed indices")
    x = base[:, :, ::2, 1::3]
    _check_tensor(ops.avg_pool2d(x, 2, backend=parity_backend), F.avg_pool2d(x, 2), exact=False, what="strided")
    x = base.clone().requires_grad_(True)
    y = ops.adaptive_avg_pool2d(x, 3, backend=parity_backend)
    assert isinstance(y, torch.Tensor)
    _check_tensor(y.detach(), F.adaptive_avg_pool2d(x, 3).detach(), exact=False, what="requires_grad input")


# ---------------------------------------------------------------------------------------
# the oracles themselves against torch
# ---------------------------------------------------------------------------------------
def test_reference_matches_torch():
    """Random configurations (incl. ceil_mode, dilation, NaN/-inf, ties, unbatched): the
    numpy oracles agree exactly with torch for max/indices/unpool and closely otherwise."""
    rng = np.random.default_rng(1234)
    checked = 0
    for d in (1, 2, 3):
        for _ in range(60 if d < 3 else 25):
            spatial = tuple(int(v) for v in rng.integers(1, 9 if d < 3 else 6, size=d))
            k = tuple(int(v) for v in rng.integers(1, 5, size=d))
            s = tuple(int(v) for v in rng.integers(1, 4, size=d))
            p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
            dl = tuple(int(v) for v in rng.integers(1, 3, size=d))
            ceil = bool(rng.integers(2))
            shape = ((2, 3) if rng.integers(2) else (3,)) + spatial
            x = rng.integers(-2, 3, size=shape).astype(np.float32) * 0.5
            x[rng.random(shape) < 0.1] = np.nan
            x[rng.random(shape) < 0.2] = -np.inf
            xt = torch.from_numpy(x)
            valid = all(ref.pool_output_size(n, a, b, c, e, ceil) >= 1 for n, a, b, c, e in zip(spatial, k, s, p, dl))
            if valid:
                ty, ti = getattr(F, f"max_pool{d}d")(xt, k, s, p, dl, ceil, True)
                try:
                    ry, ri = getattr(ref, f"max_pool{d}d")(x, k, s, p, dl, ceil, True)
                except ValueError as exc:
                    # a dilated window that reads only padding: torch gives -inf and an index of
                    # some other element (or outside the plane); pydeepkit raises instead
                    assert "reads only padding" in str(exc)
                    assert torch.isneginf(ty).any()
                    continue
                assert_close(ry, ty.numpy(), exact=True, err_msg=f"max {shape} {k} {s} {p} {dl} {ceil}")
                assert_close(ri, ti.numpy(), exact=True, err_msg=f"max idx {shape} {k} {s} {p} {dl} {ceil}")
                checked += 1
            else:
                with pytest.raises(RuntimeError):
                    getattr(F, f"max_pool{d}d")(xt, k, s, p, dl, ceil)
                with pytest.raises(ValueError):
                    getattr(ref, f"max_pool{d}d")(x, k, s, p, dl, ceil)
            xf = np.nan_to_num(x, nan=0.25, neginf=-1.5) + rng.standard_normal(shape).astype(np.float32)
            xft = torch.from_numpy(xf)
            # (torch's avg_pool3d also refuses inputs smaller than the kernel, padding or not)
            valid = all(ref.pool_output_size(n, a, b, c, 1, ceil) >= 1 and (d < 3 or n >= a)
                        for n, a, b, c in zip(spatial, k, s, p))
            if valid:
                for cip in (True, False):
                    extra = {} if d == 1 else {"divisor_override": int(rng.choice([0, 3])) or None}
                    ty = getattr(F, f"avg_pool{d}d")(xft, k, s, p, ceil, cip, **extra)
                    ry = getattr(ref, f"avg_pool{d}d")(xf, k, s, p, ceil, cip, **extra)
                    assert_close(ry, ty.numpy(), err_msg=f"avg {shape} {k} {s} {p} {ceil} {cip} {extra}")
                    checked += 1
            if all(ref.pool_output_size(n, a, b, 0, 1, ceil) >= 1 and (d < 3 or n >= a) for n, a, b in zip(spatial, k, s)):
                for norm, src in ((1, np.round(xf)), (2, xf), (3.5, np.abs(xf))):
                    kk, ss = (k[0], s[0]) if d == 1 else (k, s)
                    ty = getattr(F, f"lp_pool{d}d")(torch.from_numpy(src), norm, kk, ss, ceil)
                    ry = getattr(ref, f"lp_pool{d}d")(src, norm, kk, ss, ceil)
                    assert_close(ry, ty.numpy(), kind="lp", err_msg=f"lp{norm} {shape} {k} {s} {ceil}")
                    checked += 1
            out = tuple(int(v) for v in rng.integers(1, 7, size=d))
            out = out[0] if d == 1 else out
            ty, ti = getattr(F, f"adaptive_max_pool{d}d")(xt, out, True)
            ry, ri = getattr(ref, f"adaptive_max_pool{d}d")(x, out, True)
            assert_close(ry, ty.numpy(), exact=True, err_msg=f"adaptive max {shape} {out}")
            assert_close(ri, ti.numpy(), exact=True, err_msg=f"adaptive max idx {shape} {out}")
            ty = getattr(F, f"adaptive_avg_pool{d}d")(xft, out)
            assert_close(getattr(ref, f"adaptive_avg_pool{d}d")(xf, out), ty.numpy(), err_msg=f"adaptive avg {out}")
            if all(ref.pool_output_size(n, a, b, c, 1, False) >= 1 for n, a, b, c in zip(spatial, k, s, p)):
                py, pi = getattr(F, f"max_pool{d}d")(xft, k, s, p, return_indices=True)
                default = [ref.unpool_default_size(n, a, b, c) for n, a, b, c in zip(py.shape[-d:], k, s, p)]
                if min(default) >= 1 and int(pi.max()) >= int(np.prod(default)):
                    with pytest.raises(RuntimeError):  # an index outside the default output plane
                        getattr(F, f"max_unpool{d}d")(py, pi, k, s, p)
                    with pytest.raises(ValueError, match="indices"):
                        getattr(ref, f"max_unpool{d}d")(py.numpy(), pi.numpy(), k, s, p)
                elif min(default) >= 1:
                    tu = getattr(F, f"max_unpool{d}d")(py, pi, k, s, p)
                    ru = getattr(ref, f"max_unpool{d}d")(py.numpy(), pi.numpy(), k, s, p)
                    assert_close(ru, tu.numpy(), exact=True, err_msg=f"unpool {shape} {k} {s} {p}")
            checked += 3
    assert checked > 500
