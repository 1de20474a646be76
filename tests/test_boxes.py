"""Detection-box family: NMS, batched NMS, soft-NMS, box IoU and the box utilities on every backend.

The kernel ops are checked against the numpy oracles of ``pydeepkit.reference.boxes`` exactly
(indices equal, IoUs bit-equal): every backend evaluates the same IEEE formula in the same
order, so boxes planted at the threshold, ties, and invalid / NaN / infinite boxes must come
out identically everywhere. torchvision parity tests run where it is installed. Emulated
cases stay at a few hundred boxes (ranking and mask are O(n^2) emulated threads); the 10^4
and 10^5 box cases run on the CPU only.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import pydeepkit.ops as ops
from pydeepkit.bench.boxes import clustered_boxes
from pydeepkit.reference import boxes as ref

from conftest import assert_close, require_backend, to_numpy

DTYPES = [np.float32, np.float64]
NAN, INF = float("nan"), float("inf")


def run(bk, op, *arrays, **kwargs):
    """ops.<op> on backend bk with numpy inputs; numpy outputs."""
    out = getattr(ops, op)(*(bk.asarray(a) for a in arrays), **kwargs, **bk.kw)
    return tuple(to_numpy(o) for o in out) if isinstance(out, tuple) else to_numpy(out)


def random_boxes(n, rng, dtype=np.float32, extent=100.0, max_size=30.0):
    xy = rng.uniform(0, extent, (n, 2))
    wh = rng.uniform(0.5, max_size, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(dtype)


def scores_for(n, rng, dtype=np.float32):
    return rng.uniform(0, 1, n).astype(dtype)


def awkward_boxes(dtype):
    """Boxes every rule of the module docstring is about, with distinct scores."""
    boxes = np.array([
        [0, 0, 10, 10],        # 0 reference box
        [0, 0, 10, 5],         # 1 IoU 0.5 with 0 (exactly)
        [1, 1, 11, 11],        # 2 IoU 81/119 with 0
        [5, 5, 5, 5],          # 3 zero area (a point)
        [5, 5, 5, 5],          # 4 the same point: IoU 0/0 = NaN
        [0, 0, 10, 0],         # 5 zero height
        [8, 8, 2, 2],          # 6 x2 < x1 and y2 < y1 (empty extent, positive area)
        [8, 2, 2, 9],          # 7 x2 < x1 only (negative area)
        [NAN, 0, 10, 10],      # 8 NaN coordinate
        [0, 0, INF, 10],       # 9 infinite area
        [-INF, -INF, INF, INF],  # 10 the whole plane: inf * inf area, inter inf
        [10, 0, 20, 10],       # 11 touches 0 along an edge (intersection 0)
        [9.5, 0, 20, 10],      # 12 overlaps 0 by a sliver
        [0, 0, 10, 10],        # 13 duplicate of 0
    ], dtype)
    scores = np.linspace(1.0, 0.35, len(boxes)).astype(dtype)
    return boxes, scores


# ---------------------------------------------------------------------------------------
# nms
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n", [0, 1, 2, 7, 63, 64, 65, 300])
def test_nms_matches_reference(backend, rng, n, dtype):
    boxes, scores = random_boxes(n, rng, dtype), scores_for(n, rng, dtype)
    assert_close(run(backend, "nms", boxes, scores, 0.5), ref.nms(boxes, scores, 0.5), err_msg=f"n={n}")


@pytest.mark.parametrize("threshold", [-0.5, 0.0, 0.3, 0.7, 1.0, 2.0])
def test_nms_thresholds(backend, rng, threshold):
    boxes, scores = random_boxes(150, rng), scores_for(150, rng)
    assert_close(run(backend, "nms", boxes, scores, threshold), ref.nms(boxes, scores, threshold))


def test_nms_clustered(backend, rng):
    boxes, scores = clustered_boxes(1000, rng), scores_for(1000, rng)
    expected = ref.nms(boxes, scores, 0.5)
    assert 100 < len(expected) < 600
    assert_close(run(backend, "nms", boxes, scores, 0.5), expected)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("threshold", [-0.1, 0.0, 0.5, 1.0])
def test_nms_invalid_boxes(backend, dtype, threshold):
    boxes, scores = awkward_boxes(dtype)
    got = run(backend, "nms", boxes, scores, threshold)
    assert_close(got, ref.nms(boxes, scores, threshold), err_msg=f"threshold {threshold}")
    if threshold >= 0:
        # boxes whose IoU with everything is 0 or NaN are all kept
        for i in (3, 4, 5, 6, 7, 8, 10):
            assert i in got.tolist(), (i, got)


@pytest.mark.parametrize("threshold", [-0.1, 0.0, 0.5])
def test_nms_invalid_boxes_among_many(backend, rng, threshold):
    """Invalid, NaN and infinite boxes mixed into a set large enough for the CPU's spatial cells."""
    boxes, scores = clustered_boxes(500, rng, extent=300.0), scores_for(500, rng)
    awkward, _ = awkward_boxes(np.float32)
    rows = rng.choice(500, 80, replace=False)
    boxes[rows] = awkward[rng.integers(0, len(awkward), 80)]
    boxes[rows[:10]] += rng.uniform(-50, 50, (10, 1)).astype(np.float32)
    scores[rows[:5]] = np.nan
    assert_close(run(backend, "nms", boxes, scores, threshold), ref.nms(boxes, scores, threshold))


def test_nms_threshold_rule_planted(backend):
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5], [0, 0, 3, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    # IoU(0, 1) = 0.5 exactly: kept at 0.5 (suppression needs IoU > threshold), not below
    assert run(backend, "nms", boxes[:2], scores[:2], 0.5).tolist() == [0, 1]
    assert run(backend, "nms", boxes[:2], scores[:2], math.nextafter(0.5, 0)).tolist() == [0]
    # IoU(0, 2) = 3/10: 0.30000001 in float32, above a threshold of 0.3 (as torchvision); in float64
    # it is the double nearest 0.3, not above 0.3
    pair = boxes[[0, 2]]
    assert run(backend, "nms", pair, scores[:2], 0.3).tolist() == [0]
    assert run(backend, "nms", pair.astype(np.float64), scores[:2].astype(np.float64), 0.3).tolist() == [0, 1]
    assert run(backend, "nms", pair, scores[:2], float(np.float32(0.3))).tolist() == [0, 1]


def test_nms_identical_boxes_and_ties(backend, rng):
    boxes = np.tile(np.array([[2, 3, 12, 9]], np.float32), (70, 1))
    scores = np.full(70, 0.5, np.float32)
    assert run(backend, "nms", boxes, scores, 0.5).tolist() == [0]        # ties: the lowest index
    assert run(backend, "nms", boxes, scores, 1.0).tolist() == list(range(70))  # IoU 1 is not > 1
    # random boxes with only a few distinct scores (and -0 == +0): ties broken by index everywhere
    boxes = random_boxes(200, rng)
    scores = rng.choice(np.array([0.0, -0.0, 0.25, 0.5], np.float32), 200)
    expected = ref.nms(boxes, scores, 0.4)
    assert_close(run(backend, "nms", boxes, scores, 0.4), expected)


def test_nms_nan_scores_rank_first(backend, rng):
    boxes, scores = random_boxes(100, rng), scores_for(100, rng)
    scores[[5, 17, 60]] = np.nan
    scores[[3, 30]] = [np.inf, -np.inf]
    got = run(backend, "nms", boxes, scores, 0.5)
    assert_close(got, ref.nms(boxes, scores, 0.5))
    assert got[0] == 5  # NaN ranks above +inf


def test_nms_strided_inputs(backend, rng):
    big = random_boxes(300, rng, np.float64)
    boxes, scores = big[::3], scores_for(300, rng, np.float64)[::3]
    assert_close(run(backend, "nms", boxes, scores, 0.5), ref.nms(boxes, scores, 0.5))


@functools.lru_cache(maxsize=None)
def _large_case(n, per_cluster):
    rng = np.random.default_rng(n)
    boxes = clustered_boxes(n, rng, per_cluster=per_cluster, extent=2000.0 * math.sqrt(n / 1e4))
    scores = scores_for(n, rng)
    return boxes, scores, ref.nms(boxes, scores, 0.5)


@pytest.mark.parametrize("n, per_cluster", [(10_000, 20), (100_000, 100)], ids=["1e4", "1e5"])
def test_nms_large_cpu(backend, n, per_cluster):
    """Several chunks of survivors and the OpenMP path, against the oracle."""
    if backend.name != "cpu":
        pytest.skip("large cases run on the CPU only (the emulator costs O(n^2) emulated threads)")
    boxes, scores, expected = _large_case(n, per_cluster)
    assert_close(run(backend, "nms", boxes, scores, 0.5), expected)


# ---------------------------------------------------------------------------------------
# batched_nms
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, classes", [(0, 1), (1, 1), (50, 1), (200, 3), (300, 40)])
def test_batched_nms_matches_reference(backend, rng, n, classes):
    boxes, scores = random_boxes(n, rng, max_size=40.0), scores_for(n, rng)
    idxs = rng.integers(0, classes, n)
    assert_close(run(backend, "batched_nms", boxes, scores, idxs, 0.5), ref.batched_nms(boxes, scores, idxs, 0.5))


def test_batched_nms_categories(backend):
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [1, 0, 10, 10]], np.float32)
    scores = np.array([0.5, 0.9, 0.7, 0.8], np.float32)
    idxs = np.array([7, -3, 7, 2**40], np.int64)  # any int64 values, int32 also accepted
    assert run(backend, "batched_nms", boxes, scores, idxs, 0.5).tolist() == [1, 3, 2]
    assert run(backend, "batched_nms", boxes, scores, idxs[[0, 1, 2, 2]].astype(np.int32), 0.5).tolist() == [1, 3]


def test_batched_nms_80_classes_cpu(backend):
    if backend.name != "cpu":
        pytest.skip("10^4 boxes: CPU only")
    rng = np.random.default_rng(80)
    boxes, scores = clustered_boxes(10_000, rng), scores_for(10_000, rng)
    idxs = rng.integers(0, 80, 10_000)
    assert_close(run(backend, "batched_nms", boxes, scores, idxs, 0.5), ref.batched_nms(boxes, scores, idxs, 0.5))


def _offset_trick_case():
    """float32 boxes near x = 10^4 in 80 categories: torchvision's offset trick (coordinates +
    category * (max + 1)) rounds them to multiples of 1/16 and changes IoUs near the threshold."""
    rng = np.random.default_rng(3)
    n = 400
    x = rng.uniform(9990, 10000, n)
    dx = rng.uniform(0.2, 0.45, n)
    boxes = np.stack([x, np.zeros(n), x + 1, np.ones(n)], 1)
    boxes = np.concatenate([boxes, boxes + np.stack([dx, 0 * dx, dx, 0 * dx], 1)]).astype(np.float32)
    idxs = np.concatenate([np.arange(n), np.arange(n)]) % 80
    scores = rng.uniform(0, 1, 2 * n).astype(np.float32)
    return boxes, scores, idxs


def test_batched_nms_large_coordinates(backend):
    boxes, scores, idxs = _offset_trick_case()
    assert_close(run(backend, "batched_nms", boxes, scores, idxs, 0.5), ref.batched_nms(boxes, scores, idxs, 0.5))


# ---------------------------------------------------------------------------------------
# soft_nms
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("method", ["gaussian", "linear"])
@pytest.mark.parametrize("n", [0, 1, 40, 150])
def test_soft_nms_matches_reference(backend, rng, n, method, dtype):
    boxes, scores = clustered_boxes(n, rng, dtype=dtype), scores_for(n, rng, dtype)
    keep, kept = run(backend, "soft_nms", boxes, scores, method=method)
    want_keep, want_kept = ref.soft_nms(boxes, scores, method=method)
    assert_close(keep, want_keep)
    assert_close(kept, want_kept)
    assert np.all(np.diff(kept.astype(np.float64)) <= 0)


@pytest.mark.parametrize("method", ["gaussian", "linear"])
def test_soft_nms_arguments_and_invalid_boxes(backend, method):
    boxes, scores = awkward_boxes(np.float32)
    scores[2] = np.nan
    for kwargs in (dict(iou_threshold=0.0, sigma=0.1, score_threshold=0.5),
                   dict(iou_threshold=0.6, sigma=2.0, score_threshold=0.0),
                   dict(iou_threshold=0.3, sigma=0.5, score_threshold=-1.0)):
        keep, kept = run(backend, "soft_nms", boxes, scores, method=method, **kwargs)
        want_keep, want_kept = ref.soft_nms(boxes, scores, method=method, **kwargs)
        assert_close(keep, want_keep, err_msg=str(kwargs))
        assert_close(kept, want_kept, err_msg=str(kwargs))
        assert keep[0] == 2  # the NaN score ranks first


def test_soft_nms_linear_planted(backend):
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    keep, kept = run(backend, "soft_nms", boxes, scores, iou_threshold=0.5, method="linear")
    assert keep.tolist() == [0, 1, 2] and kept.tolist() == pytest.approx([0.9, 0.8, 0.7])  # IoU 0.5: no decay
    keep, kept = run(backend, "soft_nms", boxes, scores, iou_threshold=0.4, method="linear")
    assert keep.tolist() == [0, 2, 1] and kept[2] == np.float32(0.8) * np.float32(0.5)


# ---------------------------------------------------------------------------------------
# box_iou
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("n, m", [(0, 5), (5, 0), (1, 1), (7, 33), (40, 70)])
def test_box_iou_matches_reference(backend, rng, n, m, dtype):
    a, b = random_boxes(n, rng, dtype), random_boxes(m, rng, dtype)
    assert_close(run(backend, "box_iou", a, b), ref.box_iou(a, b), exact=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_box_iou_invalid_boxes(backend, dtype):
    boxes, _ = awkward_boxes(dtype)
    got = run(backend, "box_iou", boxes, boxes[::-1])  # strided second input
    assert_close(got, ref.box_iou(boxes, boxes[::-1]), exact=True)
    assert np.isnan(got[8]).all() and got[0, 0] == 1


# ---------------------------------------------------------------------------------------
# utilities
# ---------------------------------------------------------------------------------------
UTILITY_CASES = [
    ("box_area", {}),
    ("box_area", dict(fmt="cxcywh")),
    ("box_convert", dict(in_fmt="xyxy", out_fmt="xywh")),
    ("box_convert", dict(in_fmt="xywh", out_fmt="cxcywh")),
    ("box_convert", dict(in_fmt="cxcywh", out_fmt="xyxy")),
    ("box_convert", dict(in_fmt="xywh", out_fmt="xywh")),
    ("clip_boxes_to_image", dict(size=(60, 80))),
    ("remove_small_boxes", dict(min_size=10.0)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op, kwargs", UTILITY_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(UTILITY_CASES)])
def test_utilities_match_reference(backend, rng, op, kwargs, dtype):
    boxes = random_boxes(50, rng, dtype)
    boxes[3, 0] = np.nan
    boxes[4] = boxes[4, [2, 3, 0, 1]]
    assert_close(run(backend, op, boxes, **kwargs), getattr(ref, op)(boxes, **kwargs), exact=True)


def test_utilities_keep_leading_dims(host_backend, rng):
    boxes = random_boxes(24, rng).reshape(2, 3, 4, 4)
    assert ops.box_area(boxes, backend=host_backend).shape == (2, 3, 4)
    assert ops.box_convert(boxes, "xyxy", "cxcywh", backend=host_backend).shape == (2, 3, 4, 4)
    assert_close(ops.clip_boxes_to_image(boxes, (50, 40), backend=host_backend),
                 ref.clip_boxes_to_image(boxes, (50, 40)), exact=True)


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_box_coder_matches_reference(backend, rng, weights):
    proposals = clustered_boxes(60, rng)
    gt = proposals + rng.uniform(-8, 8, (60, 4)).astype(np.float32)
    codes = run(backend, "encode_boxes", gt, proposals, weights=weights)
    assert_close(codes, ref.encode_boxes(gt, proposals, weights), kind="lp")
    deltas = rng.uniform(-2, 2, (60, 12)).astype(np.float32)
    deltas[0, 2] = 50.0  # clamped to log(1000 / 16) before exp
    decoded = run(backend, "decode_boxes", deltas, proposals, weights=weights)
    assert_close(decoded, ref.decode_boxes(deltas, proposals, weights), kind="lp")
    round_trip = run(backend, "decode_boxes", codes, proposals, weights=weights)
    np.testing.assert_allclose(round_trip, gt, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_anchor_grid_matches_reference(dtype):
    kwargs = dict(feature_sizes=[(3, 5), (2, 2), (1, 1)], strides=[8, (16, 12), 32],
                  sizes=((32, 45), (64,), (128, 181, 256)), aspect_ratios=((0.5, 1.0, 2.0), (1.0,), (0.7, 1.3)))
    got = ops.anchor_grid(**kwargs, dtype=dtype)
    assert got.dtype == dtype and got.shape == (3 * 5 * 6 + 2 * 2 * 1 + 1 * 1 * 6, 4)
    assert_close(got, ref.anchor_grid(**kwargs, dtype=dtype), exact=True)
    flat = ops.anchor_grid([(2, 3)], [16], sizes=(32,), aspect_ratios=(1.0,))  # flat sizes / ratios
    assert flat.shape == (6, 4)


def test_anchor_grid_like(host_backend):
    torch = pytest.importorskip("torch")
    anchors = ops.anchor_grid([(2, 2)], [4], like=torch.zeros(1), backend=host_backend)
    assert isinstance(anchors, torch.Tensor) and anchors.shape == (2 * 2 * 9, 4)


# ---------------------------------------------------------------------------------------
# errors, torch tensors
# ---------------------------------------------------------------------------------------
def test_errors_name_the_argument(host_backend):
    b = np.zeros((4, 4), np.float32)
    s = np.zeros(4, np.float32)
    kw = {"backend": host_backend}
    cases = [
        (ValueError, "boxes must be", lambda: ops.nms(np.zeros((4, 3), np.float32), s, 0.5, **kw)),
        (ValueError, "scores must be", lambda: ops.nms(b, np.zeros(5, np.float32), 0.5, **kw)),
        (TypeError, "scores must have the dtype", lambda: ops.nms(b, s.astype(np.float64), 0.5, **kw)),
        (TypeError, "boxes must have dtype", lambda: ops.nms(b.astype(np.int64), s, 0.5, **kw)),
        (ValueError, "iou_threshold must not be NaN", lambda: ops.nms(b, s, float("nan"), **kw)),
        (TypeError, "iou_threshold must be a real", lambda: ops.nms(b, s, "0.5", **kw)),
        (ValueError, "idxs must be", lambda: ops.batched_nms(b, s, np.zeros(3, np.int64), 0.5, **kw)),
        (TypeError, "idxs must have dtype", lambda: ops.batched_nms(b, s, s, 0.5, **kw)),
        (ValueError, "method must be", lambda: ops.soft_nms(b, s, method="hard", **kw)),
        (ValueError, "sigma must be", lambda: ops.soft_nms(b, s, sigma=0.0, **kw)),
        (TypeError, "boxes1 and boxes2 must have one dtype", lambda: ops.box_iou(b, b.astype(np.float64), **kw)),
        (ValueError, "boxes2 must be", lambda: ops.box_iou(b, np.zeros(4, np.float32), **kw)),
        (ValueError, "out_fmt must be", lambda: ops.box_convert(b, "xyxy", "xyxyxyxy", **kw)),
        (ValueError, "size must be", lambda: ops.clip_boxes_to_image(b, (10,), **kw)),
        (ValueError, "weights must be", lambda: ops.encode_boxes(b, b, weights=(1, 1, 1), **kw)),
        (ValueError, "rel_codes must be", lambda: ops.decode_boxes(np.zeros((4, 5), np.float32), b, **kw)),
        (ValueError, "boxes must be [N, 4] with N = 4", lambda: ops.decode_boxes(b, b[:2], **kw)),
        (ValueError, "one entry per level", lambda: ops.anchor_grid([(2, 2)], [4, 8], sizes=(32,))),
        (ValueError, "backend must be", lambda: ops.nms(b, s, 0.5, backend="gpu")),
    ]
    for exc, text, call in cases:
        with pytest.raises(exc, match=text.replace("[", r"\[")):
            call()


def test_torch_tensors_in_torch_out(host_backend, rng):
    torch = pytest.importorskip("torch")
    boxes, scores = random_boxes(80, rng), scores_for(80, rng)
    idxs = rng.integers(0, 4, 80)
    tb, ts, ti = torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(idxs)
    kw = {"backend": host_backend}
    checks = [
        (ops.nms(tb, ts, 0.5, **kw), ref.nms(boxes, scores, 0.5)),
        (ops.batched_nms(tb, ts, ti, 0.5, **kw), ref.batched_nms(boxes, scores, idxs, 0.5)),
        (ops.soft_nms(tb, ts, **kw)[1], ref.soft_nms(boxes, scores)[1]),
        (ops.box_iou(tb, tb[:9], **kw), ref.box_iou(boxes, boxes[:9])),
        (ops.box_convert(tb, "xyxy", "cxcywh", **kw), ref.box_convert(boxes, "xyxy", "cxcywh")),
        (ops.remove_small_boxes(tb, 5.0, **kw), ref.remove_small_boxes(boxes, 5.0)),
    ]
    for got, want in checks:
        assert isinstance(got, torch.Tensor)
        assert_close(got, want)


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
def test_parity_nms_and_box_iou(tv, host_backend, rng, dtype):
    torch, torchvision = tv
    boxes, scores = clustered_boxes(2000, rng, dtype=dtype), scores_for(2000, rng, dtype)
    awkward, awkward_scores = awkward_boxes(dtype)
    for b, s in ((boxes, scores), (awkward, awkward_scores)):
        tb, ts = torch.from_numpy(b), torch.from_numpy(s)
        for threshold in (0.0, 0.3, 0.5, 1.0):
            assert_close(ops.nms(b, s, threshold, backend=host_backend), torchvision.ops.nms(tb, ts, threshold),
                         err_msg=f"nms threshold {threshold}")
        assert_close(ops.box_iou(b, b[:300], backend=host_backend), torchvision.ops.box_iou(tb, tb[:300]),
                     exact=True)


def test_parity_batched_nms(tv, host_backend):
    torch, torchvision = tv
    rng = np.random.default_rng(7)
    boxes, scores = clustered_boxes(3000, rng), scores_for(3000, rng)
    idxs = rng.integers(0, 80, 3000)
    args = [torch.from_numpy(a) for a in (boxes, scores, idxs)]
    expected = torchvision.ops.boxes._batched_nms_vanilla(*args, 0.5)
    assert_close(ops.batched_nms(boxes, scores, idxs, 0.5, backend=host_backend), expected)
    # the coordinate trick torchvision uses below 4000 boxes loses precision here; we do not
    boxes, scores, idxs = _offset_trick_case()
    args = [torch.from_numpy(a) for a in (boxes, scores, idxs)]
    vanilla = torchvision.ops.boxes._batched_nms_vanilla(*args, 0.5).numpy()
    trick = torchvision.ops.boxes._batched_nms_coordinate_trick(*args, 0.5).numpy()
    assert set(trick.tolist()) != set(vanilla.tolist())
    assert_close(ops.batched_nms(boxes, scores, idxs, 0.5, backend=host_backend), vanilla)


def test_parity_utilities(tv, rng):
    torch, torchvision = tv
    boxes = random_boxes(100, rng)
    boxes[3, 1] = np.nan
    t = torch.from_numpy(boxes)
    tvo = torchvision.ops
    assert_close(ops.box_area(boxes), tvo.box_area(t), exact=True)
    for fmt in ("xywh", "cxcywh"):
        assert_close(ops.box_area(boxes, fmt), tvo.box_area(t, fmt), exact=True)
    for a in ("xyxy", "xywh", "cxcywh"):
        for b in ("xyxy", "xywh", "cxcywh"):
            assert_close(ops.box_convert(boxes, a, b), tvo.box_convert(t, a, b), exact=True, err_msg=f"{a}->{b}")
    assert_close(ops.clip_boxes_to_image(boxes, (40, 70)), tvo.clip_boxes_to_image(t, (40, 70)), exact=True)
    assert_close(ops.remove_small_boxes(boxes, 12.5), tvo.remove_small_boxes(t, 12.5))


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_parity_box_coder(tv, rng, weights):
    torch, _ = tv
    from torchvision.models.detection._utils import BoxCoder
    coder = BoxCoder(weights)
    proposals = clustered_boxes(500, rng)
    gt = proposals + rng.uniform(-10, 10, (500, 4)).astype(np.float32)
    assert_close(ops.encode_boxes(gt, proposals, weights),
                 coder.encode_single(torch.from_numpy(gt), torch.from_numpy(proposals)), kind="lp")
    deltas = rng.uniform(-3, 3, (500, 8)).astype(np.float32)
    deltas[:5, 2] = 30.0
    assert_close(ops.decode_boxes(deltas, proposals, weights),
                 coder.decode_single(torch.from_numpy(deltas), torch.from_numpy(proposals)), kind="lp")


def test_parity_anchor_generator(tv):
    torch, _ = tv
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    sizes = ((32,), (64,), (128,), (256,), (512,))
    ratios = ((0.5, 1.0, 2.0),) * 5
    image = (800, 1216)
    feature_sizes = [(image[0] // s, image[1] // s) for s in (4, 8, 16, 32, 64)]
    strides = [(image[0] // h, image[1] // w) for h, w in feature_sizes]
    generator = AnchorGenerator(sizes, ratios)
    expected = torch.cat(generator.grid_anchors([list(f) for f in feature_sizes],
                                                [[torch.tensor(a), torch.tensor(b)] for a, b in strides]))
    assert_close(ops.anchor_grid(feature_sizes, strides, sizes, ratios), expected, exact=True)
    default = AnchorGenerator()  # sizes (128, 256, 512), ratios (0.5, 1, 2) on one level
    expected = default.grid_anchors([[7, 9]], [[torch.tensor(16), torch.tensor(16)]])[0]
    assert_close(ops.anchor_grid([(7, 9)], [16]), expected, exact=True)


def test_cuda_nms_on_cupy_arrays():
    """A GPU run on cupy arrays returns a cupy array (the mask stays on the device; the count is read back)."""
    require_backend("cuda")
    import cupy
    rng = np.random.default_rng(0)
    boxes, scores = cupy.asarray(clustered_boxes(3000, rng)), cupy.asarray(scores_for(3000, rng))
    keep = ops.nms(boxes, scores, 0.5)
    assert isinstance(keep, cupy.ndarray)
    assert_close(keep, ref.nms(cupy.asnumpy(boxes), cupy.asnumpy(scores), 0.5))
