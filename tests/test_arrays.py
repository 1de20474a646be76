"""The array interop contract, checked on the pooling ops.

numpy in -> numpy out; torch CPU tensors in -> torch tensors out (the torch half skips
without torch); cupy only with a GPU. Mixed array libraries in one call, integer and
other unsupported dtypes and non-array inputs are errors. Non-contiguous inputs work.
Concurrent calls from several Python threads give correct results.
"""
from __future__ import annotations

import re
import threading

import numpy as np
import pytest

import pydeepkit
import pydeepkit.ops as ops
from pydeepkit.reference import pool as ref

from conftest import assert_close, require_backend


def _torch():
    return pytest.importorskip("torch")


# Every op as (name, call(x, backend) -> output(s), reference(x) -> output(s)); x is a
# [2, 3, 6, 7] float array (2 spatial dims) holding distinct values.
def _op_table():
    return [
        ("max_pool2d", lambda x, b: ops.max_pool2d(x, 3, 2, 1, return_indices=True, backend=b),
         lambda x: ref.max_pool2d(x, 3, 2, 1, return_indices=True)),
        ("avg_pool2d", lambda x, b: ops.avg_pool2d(x, 2, 1, 1, ceil_mode=True, backend=b),
         lambda x: ref.avg_pool2d(x, 2, 1, 1, ceil_mode=True)),
        ("lp_pool2d", lambda x, b: ops.lp_pool2d(x, 2, 2, backend=b), lambda x: ref.lp_pool2d(x, 2, 2)),
        ("adaptive_avg_pool2d", lambda x, b: ops.adaptive_avg_pool2d(x, (4, 5), backend=b),
         lambda x: ref.adaptive_avg_pool2d(x, (4, 5))),
        ("adaptive_max_pool2d", lambda x, b: ops.adaptive_max_pool2d(x, (4, 5), True, backend=b),
         lambda x: ref.adaptive_max_pool2d(x, (4, 5), True)),
        ("global_avg_pool", lambda x, b: ops.global_avg_pool(x, backend=b), lambda x: ref.global_avg_pool(x)),
        ("global_max_pool", lambda x, b: ops.global_max_pool(x, True, backend=b),
         lambda x: ref.global_max_pool(x, True)),
        ("spatial_pyramid_pool", lambda x, b: ops.spatial_pyramid_pool(x, (1, 2), "avg", backend=b),
         lambda x: ref.spatial_pyramid_pool(x, (1, 2), "avg")),
        ("max_pool1d", lambda x, b: ops.max_pool1d(x[:, :, 0], 2, return_indices=True, backend=b),
         lambda x: ref.max_pool1d(x[:, :, 0], 2, return_indices=True)),
        ("max_pool3d", lambda x, b: ops.max_pool3d(x, 2, return_indices=True, backend=b),  # unbatched 3-d
         lambda x: ref.max_pool3d(x, 2, return_indices=True)),
    ]


OPS = _op_table()
OP_IDS = [o[0] for o in OPS]


def _x(rng, dtype=np.float32):
    return rng.permutation(2 * 3 * 6 * 7).reshape(2, 3, 6, 7).astype(dtype) / 7.0


def _check(got, expected, lib, what):
    """``got`` has the array type ``lib`` ('numpy' / 'torch') and matches ``expected``."""
    outs = got if isinstance(got, tuple) else (got,)
    exps = expected if isinstance(expected, tuple) else (expected,)
    assert len(outs) == len(exps), f"{what}: {len(outs)} outputs, expected {len(exps)}"
    for o, e in zip(outs, exps):
        if lib == "numpy":
            assert type(o) is np.ndarray, f"{what}: expected a numpy array, got {type(o)!r}"
        else:
            import torch
            assert isinstance(o, torch.Tensor), f"{what}: expected a torch.Tensor, got {type(o)!r}"
            assert o.device.type == "cpu", f"{what}: device {o.device}"
        assert_close(o, e, kind="lp" if "lp" in what else "default", err_msg=what)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_numpy_in_numpy_out(host_backend, op, dtype, rng):
    name, call, reference = op
    x = _x(rng, dtype)
    _check(call(x, host_backend), reference(x), "numpy", name)


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_default_backend_numpy_is_cpu(op, rng):
    require_backend("cpu")
    name, call, reference = op
    x = _x(rng)
    _check(call(x, None), reference(x), "numpy", name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_torch_in_torch_out(host_backend, op, dtype, rng):
    torch = _torch()
    name, call, reference = op
    x = _x(rng, dtype)
    got = call(torch.from_numpy(x), host_backend)
    _check(got, reference(x), "torch", name)
    outs = got if isinstance(got, tuple) else (got,)
    assert outs[0].dtype == getattr(torch, np.dtype(dtype).name)
    if len(outs) == 2:
        assert outs[1].dtype == torch.int64


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_torch_default_backend(op, rng):
    torch = _torch()
    require_backend("cpu")
    name, call, reference = op
    x = _x(rng)
    _check(call(torch.from_numpy(x), None), reference(x), "torch", name)


def test_unpool_numpy_and_torch(host_backend, rng):
    x = _x(rng)
    y, idx = ref.max_pool2d(x, 2, return_indices=True)
    expected = ref.max_unpool2d(y, idx, 2, output_size=(6, 7))
    _check(ops.max_unpool2d(y, idx, 2, output_size=(6, 7), backend=host_backend), expected, "numpy",
           "unpool numpy")
    torch = _torch()
    _check(ops.max_unpool2d(torch.from_numpy(y), torch.from_numpy(idx), 2, output_size=(6, 7),
                            backend=host_backend), expected, "torch", "unpool torch")


def test_mixed_libraries_are_an_error(host_backend, rng):
    torch = _torch()
    x = _x(rng)
    y, idx = ref.max_pool2d(x, 2, return_indices=True)
    with pytest.raises((TypeError, ValueError), match="indices") as info:
        ops.max_unpool2d(y, torch.from_numpy(idx), 2, backend=host_backend)
    assert "torch" in str(info.value) and "numpy" in str(info.value), str(info.value)
    with pytest.raises((TypeError, ValueError), match="indices"):
        ops.max_unpool2d(torch.from_numpy(y), idx, 2, backend=host_backend)


def test_unpool_indices_dtype_errors(host_backend, rng):
    x = _x(rng)
    y, idx = ref.max_pool2d(x, 2, return_indices=True)
    for bad in (idx.astype(np.int32), idx.astype(np.uint64), idx.astype(np.float64)):
        with pytest.raises(TypeError, match="indices"):
            ops.max_unpool2d(y, bad, 2, backend=host_backend)
    torch = _torch()
    with pytest.raises(TypeError, match="indices"):
        ops.max_unpool2d(torch.from_numpy(y), torch.from_numpy(idx).int(), 2, backend=host_backend)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.int64, np.bool_, np.float16, np.complex64])
@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_unsupported_numpy_dtypes(host_backend, op, dtype):
    name, call, _ = op
    x = np.ones((2, 3, 6, 7), dtype)
    with pytest.raises(TypeError, match=np.dtype(dtype).name):
        call(x, host_backend)


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "float16", "bfloat16"])
def test_unsupported_torch_dtypes(host_backend, dtype):
    torch = _torch()
    x = torch.ones((2, 3, 6, 7), dtype=getattr(torch, dtype))
    for name, call, _ in OPS:
        with pytest.raises(TypeError) as info:
            call(x, host_backend)
        assert re.search(r"\bx\b", str(info.value)), f"{name}: {info.value}"


@pytest.mark.parametrize("value", [[[[[1.0, 2.0]]]], 3.0, "abc", None], ids=["list", "float", "str", "None"])
def test_non_arrays_are_rejected(host_backend, value):
    with pytest.raises(TypeError):
        ops.max_pool2d(value, 1, backend=host_backend)
    with pytest.raises(TypeError):
        ops.global_avg_pool(value, backend=host_backend)


def _noncontiguous_numpy(x):
    yield "transposed", np.ascontiguousarray(x.transpose(1, 0, 3, 2)).transpose(1, 0, 3, 2)
    big = np.full((x.shape[0], x.shape[1] * 2, x.shape[2] + 3, x.shape[3] * 3), np.nan, x.dtype)
    view = big[:, ::2, 1:-2, ::3]
    view[...] = x
    yield "strided", view
    yield "negative-stride", np.ascontiguousarray(x[:, :, ::-1])[:, :, ::-1]
    yield "fortran", np.asfortranarray(x)
    ro = x.copy()
    ro.setflags(write=False)
    yield "read-only", ro


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_non_contiguous_numpy(host_backend, op, rng):
    name, call, reference = op
    x = _x(rng)
    expected = reference(x)
    for view_name, v in _noncontiguous_numpy(x):
        np.testing.assert_array_equal(v, x)
        before = v.copy()
        _check(call(v, host_backend), expected, "numpy", f"{name} {view_name}")
        np.testing.assert_array_equal(v, before)  # input untouched


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_non_contiguous_torch(host_backend, op, rng):
    torch = _torch()
    name, call, reference = op
    x = _x(rng)
    expected = reference(x)
    t = torch.from_numpy(x)
    views = {
        "transposed": t.transpose(2, 3).contiguous().transpose(2, 3),
        "channels_last": t.contiguous(memory_format=torch.channels_last),
        "strided": torch.full((2, 6, 9, 21), float("nan"))[:, ::2, 1:7, ::3],
    }
    views["strided"][...] = t
    for view_name, v in views.items():
        assert not v.is_contiguous(), view_name
        _check(call(v, host_backend), expected, "torch", f"{name} {view_name}")


def test_data_address_is_the_first_element(host_backend):
    """The kernels get each host array's address from the extension (the buffer protocol) rather
    than numpy's __array_interface__ dict: the same pointer for contiguous, strided, reversed,
    transposed, read-only, 0-d and empty arrays, and a clear error for a non-array."""
    from pydeepkit import _ext
    ext = _ext.module(host_backend)
    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    frozen = a.copy()
    frozen.flags.writeable = False
    for view in (a, a[:, ::2], a[::-1], a.T, a[1:, 2:], frozen, np.zeros(()), np.empty((0, 3)), np.arange(5)[::-2]):
        assert ext.data_address(view) == view.__array_interface__["data"][0]
    with pytest.raises(TypeError):
        ext.data_address([1.0, 2.0])


def test_output_arrays_are_fresh_and_writable(host_backend, rng):
    x = _x(rng)
    y1 = ops.avg_pool2d(x, 2, backend=host_backend)
    y2 = ops.avg_pool2d(x, 2, backend=host_backend)
    assert y1.flags.writeable and y1.flags.c_contiguous and not np.shares_memory(y1, y2)
    assert not np.shares_memory(y1, x)


@pytest.mark.parametrize("backend_name", ["cpu", "emu"])
def test_concurrent_calls(backend_name):
    """4 Python threads x 20 calls each (different ops, shapes and dtypes) at the same time."""
    require_backend(backend_name)
    rng = np.random.default_rng(7)
    jobs = []
    for t in range(4):
        per_thread = []
        for j in range(20):
            dtype = np.float32 if (t + j) % 2 else np.float64
            h, w = 5 + (t + j) % 7, 4 + (3 * t + j) % 9
            x = rng.standard_normal((2, 3, h, w)).astype(dtype)
            name, call, reference = OPS[(t * 20 + j) % len(OPS)]
            per_thread.append((name, x, call, reference(x)))
        jobs.append(per_thread)
    results = [[None] * 20 for _ in range(4)]
    errors = []
    barrier = threading.Barrier(4)

    def worker(t):
        try:
            barrier.wait()
            for j, (name, x, call, _) in enumerate(jobs[t]):
                results[t][j] = call(x, backend_name)
        except BaseException as exc:  # reported below
            errors.append((t, repr(exc)))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not any(th.is_alive() for th in threads), "a thread hung"
    assert not errors, errors
    for t in range(4):
        for j, (name, x, _, expected) in enumerate(jobs[t]):
            _check(results[t][j], expected, "numpy", f"thread {t} call {j} {name} {x.dtype} {x.shape}")


def test_cupy_in_cupy_out(rng):
    """With a GPU: cupy arrays run on 'cuda' and come back as cupy arrays."""
    require_backend("cuda")
    import cupy
    x = _x(rng)
    for name, call, reference in OPS:
        got = call(cupy.asarray(x), None)
        outs = got if isinstance(got, tuple) else (got,)
        assert all(isinstance(o, cupy.ndarray) for o in outs), name
        exps = reference(x)
        exps = exps if isinstance(exps, tuple) else (exps,)
        for o, e in zip(outs, exps):
            assert_close(o, e, kind="lp" if "lp" in name else "default", err_msg=name)
    # cupy and numpy in one call
    y, idx = ref.max_pool2d(x, 2, return_indices=True)
    with pytest.raises((TypeError, ValueError), match="indices"):
        ops.max_unpool2d(cupy.asarray(y), idx, 2)


def test_backend_mismatch_torch_cuda_backend():
    torch = _torch()
    x = torch.zeros((1, 1, 4, 4))
    with pytest.raises((ValueError, TypeError, pydeepkit.BackendUnavailable), match="cuda"):
        ops.max_pool2d(x, 2, backend="cuda")
