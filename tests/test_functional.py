"""Glue ops (activations, softmax, batch/layer/local response norm, linear, interpolate, embedding)
on every backend against the numpy references of pydeepkit.reference, float32 and float64 on CPU,
torch parity, edge cases (empty batch, size-1 dims, odd sizes, non-contiguous inputs) and errors."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_close, to_numpy
from pydeepkit import ops
from pydeepkit import reference as ref

torch = pytest.importorskip("torch")
F = torch.nn.functional

DTYPES = (np.float32, np.float64)
ELEMENTWISE = [("relu", {}), ("relu6", {}), ("leaky_relu", {"negative_slope": 0.2}), ("sigmoid", {}), ("tanh", {}),
               ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("softmax", {"dim": 1}), ("log_softmax", {"dim": -1}),
               ("softmax", {"dim": 0})]
TOL = {np.float32: dict(rtol=2e-6, atol=2e-7), np.float64: dict(rtol=1e-12, atol=1e-14)}


def _check(got, want, dtype, scale=1.0):
    got = to_numpy(got)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape, want.dtype, want.shape)
    tol = TOL[dtype]
    np.testing.assert_allclose(got, want, rtol=tol["rtol"] * scale, atol=tol["atol"] * scale)


@pytest.mark.parametrize("name,kw", ELEMENTWISE)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_matches_reference(backend, name, kw, dtype, rng):
    x = (rng.standard_normal((3, 5, 7)) * 4).astype(dtype)
    x[0, 0, :3] = [0.0, 50.0, -50.0]  # zero and saturating values
    if backend.name == "cuda" and dtype == np.float64:
        pytest.skip("float64 is a CPU dtype")
    got = getattr(ops, name)(backend.asarray(x), **kw, **backend.kw)
    _check(got, getattr(ref, name)(x, **kw), dtype, scale=4)


@pytest.mark.parametrize("name,kw", ELEMENTWISE)
def test_activation_torch_parity_and_views(name, kw, rng):
    x = rng.standard_normal((4, 6, 10)).astype(np.float32)[:, ::2, 1::3]  # non-contiguous view
    got = getattr(ops, name)(torch.from_numpy(np.ascontiguousarray(x)), **kw)
    assert isinstance(got, torch.Tensor)
    tfn = getattr(F, name)
    want = tfn(torch.from_numpy(np.ascontiguousarray(x)), **kw).numpy()
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(getattr(ops, name)(x, **kw), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "softmax", "gelu"])
def test_activation_empty_batch(name):
    x = np.zeros((0, 3), np.float32)
    assert getattr(ops, name)(x).shape == (0, 3)


def test_maxout_and_dropout(host_backend, rng):
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    assert_close(ops.maxout(x, 3, backend=host_backend), ref.maxout(x, 3), exact=True)
    assert_close(ops.maxout(x, 2, dim=2 - 1), ref.maxout(x, 2, 1), exact=True)
    with pytest.raises(ValueError, match="pool_size must be a positive int dividing"):
        ops.maxout(x, 4)
    assert ops.dropout(x, 0.3, training=False) is x
    y = ops.dropout(x, 0.5, training=True, rng=np.random.default_rng(1), backend=host_backend)
    kept = y != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(y[kept], 2 * x[kept], rtol=1e-6)
    with pytest.raises(ValueError, match="dropout: p must be in"):
        ops.dropout(x, 1.5)


def test_softmax_dim_error():
    with pytest.raises(ValueError, match="softmax: dim must be an int in"):
        ops.softmax(np.zeros((2, 3), np.float32), dim=2)


# -- normalisation ------------------------------------------------------------------------------
def _bn_params(rng, c, dtype):
    return (rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2, c).astype(dtype),
            rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype))


@pytest.mark.parametrize("shape", [(2, 5), (3, 4, 7), (2, 3, 5, 4), (1, 2, 3, 1, 2), (0, 3, 4, 4)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm(backend, shape, dtype, rng):
    if backend.name == "cuda" and dtype == np.float64:
        pytest.skip("float64 is a CPU dtype")
    x = rng.standard_normal(shape).astype(dtype)
    mean, var, w, b = _bn_params(rng, shape[1], dtype)
    a = backend.asarray
    got = ops.batch_norm(a(x), a(mean), a(var), a(w), a(b), eps=1e-3, **backend.kw)
    _check(got, ref.batch_norm(x, mean, var, w, b, eps=1e-3), dtype, scale=4)
    got = ops.batch_norm(a(x), a(mean), a(var), **backend.kw)  # no affine
    _check(got, ref.batch_norm(x, mean, var), dtype, scale=4)


def test_batch_norm_torch_parity_and_errors(rng):
    x = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    mean, var, w, b = _bn_params(rng, 4, np.float32)
    t = [torch.from_numpy(v) for v in (x, mean, var, w, b)]
    got = ops.batch_norm(*t, eps=1e-3)
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), F.batch_norm(*t, eps=1e-3).numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"running_var must be \[C\] = \(4,\), got \(3,\)"):
        ops.batch_norm(x, mean, var[:3])
    with pytest.raises(ValueError, match="training=True needs batch statistics"):
        ops.batch_norm(x, mean, var, training=True)
    with pytest.raises(ValueError, match="at least 2-d"):
        ops.batch_norm(x[0, 0, 0], mean, var)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("normalized", [(7,), (5, 7)])
def test_layer_norm(host_backend, dtype, normalized, rng):
    x = (rng.standard_normal((3, 5, 7)) * 3 + 1).astype(dtype)[:, :, ::-1]  # reversed view
    w, b = rng.standard_normal(normalized).astype(dtype), rng.standard_normal(normalized).astype(dtype)
    _check(ops.layer_norm(x, normalized, w, b, backend=host_backend), ref.layer_norm(x, normalized, w, b), dtype, 8)
    tx = torch.from_numpy(np.ascontiguousarray(x))
    want = F.layer_norm(tx, normalized, torch.from_numpy(w), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(to_numpy(ops.layer_norm(tx, normalized, torch.from_numpy(w), torch.from_numpy(b))),
                               want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="trailing dims must be normalized_shape"):
        ops.layer_norm(x, (4,))


@pytest.mark.parametrize("size", [1, 2, 5, 6])
@pytest.mark.parametrize("dtype", DTYPES)
def test_local_response_norm(host_backend, size, dtype, rng):
    x = rng.standard_normal((2, 7, 3, 4)).astype(dtype)
    got = ops.local_response_norm(x, size, alpha=1e-2, beta=0.75, k=2.0, backend=host_backend)
    _check(got, ref.local_response_norm(x, size, 1e-2, 0.75, 2.0), dtype, 4)
    want = F.local_response_norm(torch.from_numpy(x), size, 1e-2, 0.75, 2.0).numpy()
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="at least one spatial dim"):
        ops.local_response_norm(x[:, :, 0, 0], 3)


# -- linear -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,act", [((5, 7), None), ((2, 3, 33), "relu"), ((1, 1), "tanh"), ((0, 7), None),
                                       ((4, 130), "relu6")])
def test_linear(backend, dtype, shape, act, rng):
    if backend.name == "cuda" and dtype == np.float64:
        pytest.skip("float64 is a CPU dtype")
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((9, shape[-1])).astype(dtype)
    b = rng.standard_normal(9).astype(dtype)
    got = ops.linear(backend.asarray(x), backend.asarray(w), backend.asarray(b), activation=act, **backend.kw)
    want = ref.linear(x, w, b, act)
    mag = ref.linear(np.abs(x), np.abs(w), np.abs(b))
    eps = np.finfo(dtype).eps
    err = np.abs(to_numpy(got).astype(np.float64) - want)
    assert to_numpy(got).shape == want.shape
    assert (err <= 2 * eps * (shape[-1] + 2) * mag + 1e-30).all()


def test_linear_torch_parity_and_errors(rng):
    x = rng.standard_normal((3, 4, 6)).astype(np.float32)
    w, b = rng.standard_normal((5, 6)).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    t = [torch.from_numpy(v) for v in (x, w, b)]
    got = ops.linear(*t)
    assert isinstance(got, torch.Tensor) and got.shape == (3, 4, 5)
    np.testing.assert_allclose(got.numpy(), F.linear(*t).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ops.linear(t[0][0], t[1]).numpy(), F.linear(t[0][0], t[1]).numpy(), rtol=1e-5,
                               atol=1e-5)
    with pytest.raises(ValueError, match=r"x must be \[\*, in_features\] with in_features = 6"):
        ops.linear(x[..., :5], w)
    with pytest.raises(ValueError, match="weight must be"):
        ops.linear(x, w[0])


# -- interpolate --------------------------------------------------------------------------------
INTERP = [
    dict(size=(7, 9), mode="bilinear", align_corners=False), dict(size=(7, 9), mode="bilinear", align_corners=True),
    dict(scale_factor=2, mode="bilinear"), dict(scale_factor=(0.5, 1.5), mode="bilinear", align_corners=False),
    dict(size=(1, 1), mode="bilinear", align_corners=True), dict(scale_factor=2, mode="nearest"),
    dict(size=(5, 11), mode="nearest"), dict(scale_factor=0.6, mode="nearest"),
]


@pytest.mark.parametrize("kw", INTERP)
@pytest.mark.parametrize("dtype", DTYPES)
def test_interpolate(host_backend, kw, dtype, rng):
    x = rng.standard_normal((2, 3, 5, 6)).astype(dtype)
    got = ops.interpolate(x, **kw, backend=host_backend)
    _check(got, ref.interpolate(x, **kw), dtype, 8)
    want = F.interpolate(torch.from_numpy(x), **kw).numpy()
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape,kw", [((2, 3, 7), dict(scale_factor=3)), ((1, 2, 3, 4, 5), dict(size=(4, 2, 7)))])
def test_interpolate_nearest_1d_3d(shape, kw, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    want = F.interpolate(torch.from_numpy(x), **kw).numpy()
    assert_close(ops.interpolate(x, **kw), want, exact=True)
    assert_close(ops.upsample(x, **kw), ref.upsample(x, **kw), exact=True)


def test_interpolate_errors():
    x = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        ops.interpolate(x)
    with pytest.raises(ValueError, match="mode must be 'nearest' or 'bilinear'"):
        ops.interpolate(x, size=2, mode="bicubic")
    with pytest.raises(ValueError, match="align_corners applies to 'bilinear' only"):
        ops.interpolate(x, size=2, align_corners=True)
    with pytest.raises(ValueError, match="needs x 4-d"):
        ops.interpolate(x[0], size=2, mode="bilinear")


# -- embedding ----------------------------------------------------------------------------------
def test_embedding(host_backend, rng):
    w = rng.standard_normal((10, 4)).astype(np.float32)
    idx = rng.integers(0, 10, (3, 5))
    assert_close(ops.embedding(idx, w, backend=host_backend), ref.embedding(idx, w), exact=True)
    tw, ti = torch.from_numpy(w), torch.from_numpy(idx)
    assert_close(ops.embedding(ti, tw, padding_idx=2), F.embedding(ti, tw, padding_idx=2).numpy(), exact=True)
    assert ops.embedding(np.zeros((0,), np.int64), w).shape == (0, 4)
    with pytest.raises(IndexError, match=r"indices must be in \[0, 9\] \(num_embeddings = 10\), got 10"):
        ops.embedding(np.array([1, 10]), w)
    with pytest.raises(TypeError, match="indices must have dtype int64 or int32"):
        ops.embedding(idx.astype(np.float32), w)
