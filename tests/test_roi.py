"""ROI family (roi_align, roi_pool, multi_scale_roi_align): kernels on every backend against the
numpy references of pydeepkit.reference.roi, the invalid-box rules, argument errors, and parity
with torchvision (aligned True/False, sampling -1/0/2, scales 1, 1/4, 1/16, boxes outside the map,
boxes smaller than a bin, K = 0, several images). Emulated cases stay at a few 10^4 threads."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_close, to_numpy
from pydeepkit import ops
from pydeepkit import reference as ref

DTYPES = (np.float32, np.float64)
ALIGN_TOL = dict(kind="default")


def boxes_for(rng, k, n, height, width, scale, dtype=np.float32, spread=0.3):
    """[k, 5] rois in image coordinates: boxes inside, partly and fully outside, smaller than a bin."""
    img_h, img_w = height / scale, width / scale
    x1 = rng.uniform(-spread * img_w, (1 + spread) * img_w, k)
    y1 = rng.uniform(-spread * img_h, (1 + spread) * img_h, k)
    w = rng.exponential(0.3 * img_w, k)
    h = rng.exponential(0.3 * img_h, k)
    b = rng.integers(0, n, k)
    return np.stack([b, x1, y1, x1 + w, y1 + h], 1).astype(dtype)


def awkward_rois(dtype, height, width):
    """Exact corners, tiny, inverted, on the border, fully outside."""
    return np.array([
        [0, 0, 0, width, height], [0, 1, 1, 2, 2], [0, 1.5, 1.5, 1.6, 1.7], [0, 3, 3, 1, 2],
        [0, -5, -5, -1, -1], [0, width + 2, 0, width + 9, height], [0, -0.5, -0.5, 0.5, 0.5],
        [0, width - 1, height - 1, width + 3, height + 3], [0, 2, 0, 2, height],
    ], dtype)


def _x(rng, n, c, h, w, dtype):
    return rng.standard_normal((n, c, h, w)).astype(dtype)


# ---------------------------------------------------------------------------------------
# kernels vs references, every backend
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling,scale", [(-1, 1.0), (0, 0.25), (2, 0.25), (2, 1 / 16), (3, 1.0)])
def test_roi_align_matches_reference(backend, dtype, aligned, sampling, scale):
    rng = np.random.default_rng(1)
    x = _x(rng, 2, 3, 9, 11, dtype)
    rois = np.concatenate([boxes_for(rng, 12, 2, 9, 11, scale, dtype), awkward_rois(dtype, 9 / scale, 11 / scale)])
    for size in (2, (3, 4)):
        got = ops.roi_align(backend.asarray(x), backend.asarray(rois), size, scale, sampling, aligned, **backend.kw)
        want = ref.roi_align(x, rois, size, scale, sampling, aligned)
        assert_close(got, want, err_msg=f"{backend} size {size}")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("scale", [1.0, 0.25, 1 / 16])
def test_roi_pool_matches_reference(backend, dtype, scale):
    rng = np.random.default_rng(2)
    x = _x(rng, 2, 3, 9, 11, dtype)
    x[0, 1, 2, 3] = np.nan  # NaN pixels never win
    rois = np.concatenate([boxes_for(rng, 12, 2, 9, 11, scale, dtype), awkward_rois(dtype, 9 / scale, 11 / scale)])
    rois[3, 1:] = [2.5, 0.5, 3.5, 1.5]  # corners at .5: half away from zero
    for size in (2, (3, 4)):
        got, arg = ops.roi_pool(backend.asarray(x), backend.asarray(rois), size, scale, return_argmax=True,
                                **backend.kw)
        want, want_arg = ref.roi_pool(x, rois, size, scale, return_argmax=True)
        assert_close(got, want, exact=True, err_msg=f"{backend} size {size}")
        assert_close(arg, want_arg, exact=True)


def test_invalid_boxes_same_everywhere(backend):
    """Inverted boxes follow torchvision's formulas; NaN / infinite boxes give NaN (argmax -1)."""
    rng = np.random.default_rng(3)
    x = _x(rng, 1, 2, 6, 7, np.float32)
    # row 4 is finite but huge: fixed sampling only (adaptive sampling would take 65536^2 samples per bin)
    rois = np.array([[0, 4, 4, 1, 1], [0, np.nan, 1, 2, 3], [0, 1, 1, np.inf, 3], [0, -np.inf, 0, 2, 2],
                     [0, 1e30, 1e30, 3e30, 3e30], [0, 1, 1, 3, 3]], np.float32)
    for aligned in (False, True):
        for sampling in (-1, 2):
            r = rois if sampling > 0 else rois[[0, 1, 2, 3, 5]]
            got = to_numpy(ops.roi_align(backend.asarray(x), backend.asarray(r), 2, 1.0, sampling, aligned,
                                         **backend.kw))
            assert_close(got, ref.roi_align(x, r, 2, 1.0, sampling, aligned))
            assert np.isnan(got[1:4]).all() and not np.isnan(got[[0, -1]]).any()
    got = to_numpy(ops.roi_align(backend.asarray(x), backend.asarray(rois[:1]), 2, aligned=True, **backend.kw))
    assert (got == 0).all()  # inverted + aligned + adaptive: no sample
    y, arg = ops.roi_pool(backend.asarray(x), backend.asarray(rois), 2, return_argmax=True, **backend.kw)
    y, arg = to_numpy(y), to_numpy(arg)
    assert np.isnan(y[1:4]).all() and (arg[1:4] == -1).all()
    assert (y[4] == 0).all() and (arg[4] == -1).all()  # far outside: empty bins
    assert_close(y, ref.roi_pool(x, rois, 2))


def test_empty_and_list_boxes(backend):
    rng = np.random.default_rng(4)
    x = _x(rng, 3, 2, 5, 6, np.float32)
    empty = np.zeros((0, 5), np.float32)
    for op in (ops.roi_align, ops.roi_pool):
        y = op(backend.asarray(x), backend.asarray(empty), (2, 3), **backend.kw)
        assert to_numpy(y).shape == (0, 2, 2, 3)
    per_image = [boxes_for(rng, k, 1, 5, 6, 1.0)[:, 1:] for k in (2, 0, 3)]
    rois = np.concatenate([np.concatenate([np.full((len(b), 1), i, np.float32), b], 1) for i, b in enumerate(per_image)])
    listed = ops.roi_align(backend.asarray(x), [backend.asarray(b) for b in per_image], 3, 0.5, 2, True, **backend.kw)
    assert_close(listed, ref.roi_align(x, rois, 3, 0.5, 2, True))
    pooled = ops.roi_pool(backend.asarray(x), [backend.asarray(b) for b in per_image], 3, 0.5, **backend.kw)
    assert_close(pooled, ref.roi_pool(x, rois, 3, 0.5), exact=True)
    # zero channels
    assert to_numpy(ops.roi_align(backend.asarray(x[:, :0]), backend.asarray(rois), 2, **backend.kw)).shape == (5, 0, 2, 2)


def test_strided_input(backend):
    rng = np.random.default_rng(5)
    x = _x(rng, 2, 6, 8, 10, np.float32)[:, ::2, :, ::-1]
    rois = boxes_for(rng, 10, 2, 8, 5, 1.0)
    assert_close(ops.roi_align(backend.asarray(x), backend.asarray(rois), 3, sampling_ratio=2, **backend.kw),
                 ref.roi_align(np.ascontiguousarray(x), rois, 3, sampling_ratio=2))


def test_multi_scale_matches_reference(backend):
    rng = np.random.default_rng(6)
    feats = [_x(rng, 2, 3, s, s + 2, np.float32) for s in (16, 8, 4)]
    shapes = [(64, 72), (60, 70)]
    boxes = [np.concatenate([boxes_for(rng, 10, 1, 64, 72, 1.0, spread=0.1)[:, 1:],
                             [[0, 0, 200, 200], [5, 0, 1, 3], [0, 0, np.nan, 3]]]).astype(np.float32)
             for _ in shapes]
    got = ops.multi_scale_roi_align([backend.asarray(f) for f in feats], [backend.asarray(b) for b in boxes], 3, 2,
                                    image_shapes=shapes, **backend.kw)
    want = ref.multi_scale_roi_align(feats, boxes, 3, 2, image_shapes=shapes)
    assert_close(got, want)
    assert (to_numpy(got)[[11, 12]] == 0).all()  # negative / NaN area: no level, zeros
    by_scales = ops.multi_scale_roi_align({"a": backend.asarray(feats[0]), "b": backend.asarray(feats[1])},
                                          [backend.asarray(b) for b in boxes], 3, 2, scales=[0.25, 0.125],
                                          **backend.kw)
    assert_close(by_scales, ref.multi_scale_roi_align(feats[:2], boxes, 3, 2, scales=[0.25, 0.125]))


# ---------------------------------------------------------------------------------------
# argument errors
# ---------------------------------------------------------------------------------------
def test_argument_errors():
    x = np.zeros((2, 3, 4, 4), np.float32)
    good = np.array([[1, 0, 0, 2, 2]], np.float32)
    for bad_batch in (2, -1, 0.5, np.nan):
        rois = good.copy()
        rois[0, 0] = bad_batch
        for op in (ops.roi_align, ops.roi_pool):
            with pytest.raises(ValueError, match="batch ind"):
                op(x, rois, 2)
            with pytest.raises(ValueError, match="batch ind"):
                op(x, rois, 2, backend="emu")
    with pytest.raises(ValueError, match="images"):
        ops.roi_align(x, [good[:, 1:]] * 3, 2)
    with pytest.raises(ValueError, match="boxes must be"):
        ops.roi_align(x, good[:, 1:], 2)
    with pytest.raises(TypeError, match="dtype"):
        ops.roi_align(x, good.astype(np.float64), 2)
    with pytest.raises(ValueError, match="output_size"):
        ops.roi_align(x, good, 0)
    with pytest.raises(TypeError, match="output_size"):
        ops.roi_pool(x, good, 1.5)
    with pytest.raises(ValueError, match="spatial_scale"):
        ops.roi_align(x, good, 2, spatial_scale=float("nan"))
    with pytest.raises(TypeError, match="sampling_ratio"):
        ops.roi_align(x, good, 2, sampling_ratio=1.5)
    with pytest.raises(ValueError, match="input must be"):
        ops.roi_align(x[0], good, 2)
    with pytest.raises(ValueError, match="image_shapes"):
        ops.multi_scale_roi_align([x], [good[:, 1:]], 2)
    with pytest.raises(ValueError, match="different scales"):
        ops.multi_scale_roi_align([x], [good[:, 1:]], 2, image_shapes=[(16, 32)])


# ---------------------------------------------------------------------------------------
# torchvision parity
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tv():
    pytest.importorskip("torchvision")
    import torch
    import torchvision
    return torch, torchvision


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("scale", [1.0, 0.25, 1 / 16])
def test_parity_roi_align_roi_pool(tv, host_backend, dtype, scale):
    torch, torchvision = tv
    rng = np.random.default_rng(8)
    x = _x(rng, 3, 4, 13, 17, dtype)
    rois = np.concatenate([boxes_for(rng, 40, 3, 13, 17, scale, dtype), awkward_rois(dtype, 13 / scale, 17 / scale)])
    tx, tr = torch.from_numpy(x), torch.from_numpy(rois)
    for aligned in (False, True):
        for sampling in (-1, 0, 2):
            for size in (7, (2, 5)):
                want = torchvision.ops.roi_align(tx, tr, size, scale, sampling, aligned)
                got = ops.roi_align(tx, tr, size, scale, sampling, aligned, backend=host_backend)
                assert isinstance(got, torch.Tensor)
                assert_close(got, want, err_msg=f"aligned={aligned} sampling={sampling} size={size}")
    for size in (7, (2, 5)):
        assert_close(ops.roi_pool(x, rois, size, scale, backend=host_backend),
                     torchvision.ops.roi_pool(tx, tr, size, scale), exact=True)
    assert_close(ops.roi_align(x, rois[:0], 7, backend=host_backend), torchvision.ops.roi_align(tx, tr[:0], 7))


def test_parity_multi_scale(tv, host_backend):
    torch, torchvision = tv
    from collections import OrderedDict
    rng = np.random.default_rng(9)
    feats = OrderedDict((name, torch.from_numpy(_x(rng, 2, 3, h, w, np.float32)))
                        for name, h, w in (("p2", 32, 36), ("p3", 16, 18), ("p4", 8, 9), ("p5", 4, 5)))
    shapes = [(128, 140), (120, 144)]
    boxes = [torch.from_numpy(np.concatenate([boxes_for(rng, 30, 1, 128, 144, 1.0, spread=0.1)[:, 1:],
                                              [[0, 0, 400, 400], [3, 3, 5, 5], [0, 0, 224, 224]]]).astype(np.float32))
             for _ in shapes]
    pooler = torchvision.ops.MultiScaleRoIAlign(list(feats), 7, 2)
    want = pooler(feats, boxes, shapes)
    got = ops.multi_scale_roi_align(feats, boxes, 7, 2, image_shapes=shapes, backend=host_backend)
    assert_close(got, want)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_many_channels(backend, dtype):
    """40 channels: full 128-byte channel blocks (the CPU's register kernels) and a partial one."""
    rng = np.random.default_rng(10)
    x = _x(rng, 2, 40, 7, 9, dtype)
    x[1, 5, 3, 4] = np.nan
    rois = np.concatenate([boxes_for(rng, 10, 2, 7, 9, 0.5, dtype), awkward_rois(dtype, 14, 18)])
    for aligned, sampling in ((True, 2), (False, -1)):
        assert_close(ops.roi_align(backend.asarray(x), backend.asarray(rois), 3, 0.5, sampling, aligned, **backend.kw),
                     ref.roi_align(x, rois, 3, 0.5, sampling, aligned))
    got, arg = ops.roi_pool(backend.asarray(x), backend.asarray(rois), (2, 3), 0.5, return_argmax=True, **backend.kw)
    want, want_arg = ref.roi_pool(x, rois, (2, 3), 0.5, return_argmax=True)
    assert_close(got, want, exact=True)
    assert_close(arg, want_arg, exact=True)
    # without return_argmax no argmax is written (a null pointer to the kernels): same values
    assert_close(ops.roi_pool(backend.asarray(x), backend.asarray(rois), (2, 3), 0.5, **backend.kw), want, exact=True)
