"""``pydeepkit demo``: every op on every available backend, checked against the numpy reference,
then every architecture (the model table of :mod:`pydeepkit.demo_models`).

Each case of :data:`CASES` runs pydeepkit's op on small deterministic inputs on
each available backend (cpu, emu, cuda), compares the result with the numpy
reference of ``pydeepkit.reference`` (same function names and arguments, minus
``backend``) and prints one table row: op, arguments, backend, shape, max abs
error, PASS/FAIL, ms per call, and torch's ms per call when torch is installed.
The exit code is 1 if any check fails.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .bench import _devices
from .bench import boxes as _box_inputs
from .bench import roi as _roi_inputs
from .bench import rnn as _rnn_inputs
from .bench import attention as _attention_inputs
from .bench._registry import flatten_outputs
from .bench._table import fmt_shape, format_table, shorten
from .bench._timing import quick_time

_S1, _S2, _S3 = (2, 3, 17), (2, 3, 13, 11), (1, 2, 7, 9, 8)


@dataclass(frozen=True)
class Case:
    """One demo check: ``op(*inputs, **kwargs)`` on an input of ``shape``.

    inputs: "uniform" (x in [-1, 1)), "positive" (x in [0.1, 1), for Lp pooling),
    "unpool" (the values and indices of the reference max pooling of x with the same
    kernel_size/stride/padding, i.e. what max_unpool consumes), "gemm" (shape is
    (M, K, N): a [M, K], b [K, N] and bias [N] in [-1, 1)), "weights" (x of ``shape``
    then one array per shape in ``weights``, e.g. a convolution's weight and bias) or "boxes"
    (the op's boxes, scores, ... from pydeepkit.bench.boxes.make_inputs) or "roi" (a feature map and
    rois, shape (N, C, H, W, K), from pydeepkit.bench.roi.make_inputs) or "rnn" (cells: x, states and
    weights for shape (B, I, H); sequences: x and a state_dict for shape (T, B, I, H) and the
    case's kwargs, from pydeepkit.bench.rnn.demo_inputs) or "attention" (the op's
    query, key, value, ... from pydeepkit.bench.attention.make_inputs), "norm" (x then running
    mean, running variance in [0.5, 1.5), weight and bias of the ``weights`` shapes) or "indices"
    (int64 indices [3, 7] into a float table of ``shape``).
    rtol, atol: tolerance against the reference (float32).
    """

    op: str
    shape: tuple
    kwargs: dict = field(default_factory=dict)
    inputs: str = "uniform"
    weights: tuple = ()
    rtol: float = 1e-5
    atol: float = 1e-5

    @property
    def label(self) -> str:
        """Compact argument list, e.g. 'k=3 s=2 p=1 idx'."""
        parts = []
        for key, value in self.kwargs.items():
            short = _SHORT.get(key, key)
            if value is True:
                parts.append(short)
            else:
                text = value if not isinstance(value, tuple) else "x".join(map(str, value))
                parts.append(f"{short}={text}")
        return " ".join(parts)


_SHORT = {"kernel_size": "k", "stride": "s", "padding": "p", "dilation": "d", "ceil_mode": "ceil",
          "return_indices": "idx", "count_include_pad": "cip", "divisor_override": "div",
          "output_size": "out", "norm_type": "norm", "groups": "g", "padding_mode": "pad",
          "activation": "act", "output_padding": "op"}

CASES = (
    Case("max_pool1d", _S1, dict(kernel_size=3, stride=2, padding=1, return_indices=True)),
    Case("max_pool2d", _S2, dict(kernel_size=3, stride=2, padding=1, return_indices=True)),
    Case("max_pool2d", _S2, dict(kernel_size=(2, 3), stride=(2, 1), dilation=(1, 2), ceil_mode=True)),
    Case("max_pool3d", _S3, dict(kernel_size=2, return_indices=True)),
    Case("max_pool3d", _S3, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    Case("avg_pool1d", _S1, dict(kernel_size=3, stride=2, padding=1)),
    Case("avg_pool1d", _S1[1:], dict(kernel_size=4, stride=3, ceil_mode=True)),  # unbatched
    Case("avg_pool2d", _S2, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    Case("avg_pool2d", _S2, dict(kernel_size=2, divisor_override=3)),
    Case("avg_pool3d", _S3, dict(kernel_size=2, stride=2, padding=1)),
    Case("lp_pool1d", _S1, dict(norm_type=2.0, kernel_size=3, stride=2), inputs="positive", rtol=1e-4),
    Case("lp_pool2d", _S2, dict(norm_type=2.0, kernel_size=2), inputs="positive", rtol=1e-4),
    Case("lp_pool3d", _S3, dict(norm_type=1.5, kernel_size=2, ceil_mode=True), inputs="positive", rtol=1e-4),
    Case("adaptive_avg_pool1d", _S1, dict(output_size=5)),
    Case("adaptive_avg_pool2d", _S2, dict(output_size=(3, 4))),
    Case("adaptive_avg_pool3d", _S3, dict(output_size=(2, 3, 4))),
    Case("adaptive_max_pool1d", _S1, dict(output_size=5, return_indices=True)),
    Case("adaptive_max_pool2d", _S2, dict(output_size=(3, 4), return_indices=True)),
    Case("adaptive_max_pool3d", _S3, dict(output_size=2)),
    Case("max_unpool1d", _S1, dict(kernel_size=2, stride=2), inputs="unpool"),
    Case("max_unpool2d", _S2, dict(kernel_size=3, stride=2, padding=1), inputs="unpool"),
    Case("max_unpool3d", _S3, dict(kernel_size=2, output_size=_S3[2:]), inputs="unpool"),
    Case("global_avg_pool", _S2),
    Case("global_max_pool", _S3, dict(keepdim=True)),
    Case("spatial_pyramid_pool", _S2, dict(levels=(1, 2, 4), mode="max")),
    Case("spatial_pyramid_pool", _S1, dict(levels=(1, 2, 3), mode="avg")),
    Case("gemm", (67, 45, 83), dict(activation="relu"), inputs="gemm", rtol=1e-4, atol=1e-5),
    Case("gemm", (64, 128, 96), dict(activation="gelu"), inputs="gemm", rtol=1e-4, atol=1e-5),
    Case("conv1d", (2, 6, 29), dict(padding=3, dilation=2), "weights", ((8, 6, 7), (8,)), 1e-4, 1e-5),
    Case("conv2d", (2, 8, 15, 13), dict(padding=1, activation="relu"), "weights", ((16, 8, 3, 3), (16,)), 1e-4, 1e-5),
    Case("conv2d", (2, 8, 15, 13), dict(stride=2, padding="valid", groups=2, padding_mode="reflect"), "weights",
         ((12, 4, 5, 3), (12,)), 1e-4, 1e-5),
    Case("conv2d", (2, 8, 15, 13), dict(padding=1, groups=8), "weights", ((16, 1, 3, 3), (16,)), 1e-4, 1e-5),
    Case("conv3d", (1, 3, 6, 9, 8), dict(padding="same"), "weights", ((4, 3, 3, 3, 3), (4,)), 1e-4, 1e-5),
    Case("conv_transpose1d", (2, 6, 11), dict(stride=2, padding=1, output_padding=1), "weights",
         ((6, 4, 4), (4,)), 1e-4, 1e-5),
    Case("conv_transpose2d", (2, 8, 7, 6), dict(stride=2, padding=1), "weights", ((8, 4, 4, 4), (4,)), 1e-4, 1e-5),
    Case("conv_transpose3d", (1, 4, 3, 4, 5), dict(stride=2), "weights", ((4, 2, 3, 3, 3), (2,)), 1e-4, 1e-5),
    Case("separable_conv2d", (2, 8, 15, 13), dict(padding=1), "weights", ((16, 1, 3, 3), (12, 16, 1, 1), (12,)),
         1e-4, 1e-5),
    Case("nms", (300,), dict(iou_threshold=0.5), "boxes"),
    Case("batched_nms", (300, 5), dict(iou_threshold=0.5), "boxes"),
    Case("soft_nms", (100,), dict(method="gaussian"), "boxes"),
    Case("soft_nms", (100,), dict(method="linear", iou_threshold=0.3), "boxes"),
    Case("box_iou", (40, 70), {}, "boxes"),
    Case("box_area", (50,), {}, "boxes"),
    Case("box_convert", (50,), dict(in_fmt="xyxy", out_fmt="cxcywh"), "boxes"),
    Case("clip_boxes_to_image", (50,), dict(size=(600, 800)), "boxes"),
    Case("remove_small_boxes", (50,), dict(min_size=50.0), "boxes"),
    Case("encode_boxes", (50,), dict(weights=(10.0, 10.0, 5.0, 5.0)), "boxes", rtol=1e-4),
    Case("decode_boxes", (50, 3), dict(weights=(10.0, 10.0, 5.0, 5.0)), "boxes", rtol=1e-4),
    Case("anchor_grid", (), dict(feature_sizes=((8, 10), (4, 5)), strides=(16, 32), sizes=((32,), (64,)),
                                 aspect_ratios=((0.5, 1.0, 2.0),) * 2), "boxes"),
    Case("roi_align", (2, 4, 12, 14, 30), dict(output_size=7, spatial_scale=1 / 16, sampling_ratio=2, aligned=True),
         "roi"),
    Case("roi_align", (2, 4, 12, 14, 30), dict(output_size=(3, 5), spatial_scale=1 / 16), "roi"),
    Case("roi_pool", (2, 4, 12, 14, 30), dict(output_size=7, spatial_scale=1 / 16), "roi"),
    Case("multi_scale_roi_align", (2, 4, 12, 14, 30), dict(output_size=7, sampling_ratio=2, scales=(1 / 16,)), "roi"),
    Case("lstm_cell", (5, 12, 16), {}, "rnn", rtol=1e-4),
    Case("gru_cell", (5, 12, 16), {}, "rnn", rtol=1e-4),
    Case("rnn_tanh_cell", (5, 12, 16), {}, "rnn", rtol=1e-4),
    Case("rnn_relu_cell", (5, 12, 16), {}, "rnn", rtol=1e-4),
    Case("lstm", (7, 3, 10, 16), dict(num_layers=2, bidirectional=True), "rnn", rtol=1e-4),
    Case("lstm", (7, 3, 10, 16), dict(proj_size=8, batch_first=True), "rnn", rtol=1e-4),
    Case("gru", (7, 3, 10, 16), dict(bidirectional=True), "rnn", rtol=1e-4),
    Case("rnn", (7, 3, 10, 16), dict(mode="rnn_relu", num_layers=2), "rnn", rtol=1e-4),
    Case("scaled_dot_product_attention", (2, 3, 37, 45, 20, 13), {}, "attention"),
    Case("scaled_dot_product_attention", (2, 3, 70, 33, 16, 16), dict(is_causal=True), "attention"),
    Case("scaled_dot_product_attention", (1, 2, 9, 40, 64, 64), dict(scale=0.3), "attention"),
    Case("additive_attention", (3, 11, 8, 10), {}, "attention"),
    Case("dot_attention", (3, 11, 8), dict(scale=0.5), "attention"),
    Case("multi_head_attention", (2, 9, 16), dict(num_heads=4, batch_first=True, need_weights=True), "attention"),
    *(Case(op, (2, 5, 7, 6)) for op in ("relu", "relu6", "sigmoid", "tanh", "gelu")),
    Case("leaky_relu", (2, 5, 7, 6), dict(negative_slope=0.2)),
    Case("softmax", (4, 1000), dict(dim=1)),
    Case("log_softmax", (4, 1000), dict(dim=-1)),
    Case("maxout", (2, 6, 5, 5), dict(pool_size=3)),
    Case("dropout", (2, 6, 5), dict(p=0.5, training=False)),
    Case("batch_norm", (2, 8, 9, 7), dict(eps=1e-3), "norm", ((8,),) * 4),
    Case("layer_norm", (2, 5, 16), dict(normalized_shape=(16,))),
    Case("local_response_norm", (2, 8, 6, 6), dict(size=5, alpha=1e-2, beta=0.75, k=2.0)),
    Case("linear", (3, 5, 67), dict(activation="relu"), "weights", ((33, 67), (33,)), 1e-4, 1e-5),
    Case("interpolate", (2, 3, 5, 7), dict(size=(9, 11), mode="bilinear", align_corners=False)),
    Case("upsample", (2, 3, 5, 7), dict(scale_factor=2, mode="nearest")),
    Case("embedding", (10, 4), {}, "indices"),
)


# ---------------------------------------------------------------------------------------
# inputs, references and torch equivalents
# ---------------------------------------------------------------------------------------
def make_inputs(case: Case, reference, seed: int = 0) -> tuple:
    """The deterministic numpy inputs of ``case`` (positional arguments before kwargs)."""
    rng = np.random.default_rng(seed)
    if case.inputs == "boxes":
        return _box_inputs.make_inputs(case.op, case.shape, rng)
    if case.inputs == "roi":
        return _roi_inputs.make_inputs(case.op, case.shape, rng)
    if case.inputs == "rnn":
        return _rnn_inputs.demo_inputs(case.op, case.shape, case.kwargs, rng)
    if case.inputs == "attention":
        op = case.op + (" params" if case.op == "multi_head_attention" else "")
        return _attention_inputs.make_inputs(op, case.shape, rng)
    if case.inputs == "gemm":
        m, k, n = case.shape
        return tuple(rng.uniform(-1.0, 1.0, size=s).astype(np.float32) for s in ((m, k), (k, n), (n,)))
    if case.inputs == "weights":
        return tuple(rng.uniform(-1.0, 1.0, size=s).astype(np.float32) for s in (case.shape, *case.weights))
    if case.inputs == "norm":  # x, running mean, running variance (positive), weight, bias
        x, mean, var, w, b = (rng.uniform(-1.0, 1.0, size=s).astype(np.float32) for s in (case.shape, *case.weights))
        return x, mean, np.abs(var) + np.float32(0.5), w, b
    if case.inputs == "indices":  # (indices of shape (3, 7), a [shape] table)
        return rng.integers(0, case.shape[0], (3, 7)), rng.uniform(-1.0, 1.0, size=case.shape).astype(np.float32)
    low = 0.1 if case.inputs == "positive" else -1.0
    x = rng.uniform(low, 1.0, size=case.shape).astype(np.float32)
    if case.inputs != "unpool":
        return (x,)
    rank = case.op[-2]  # max_unpool2d -> "2"
    window = {k: v for k, v in case.kwargs.items() if k in ("kernel_size", "stride", "padding")}
    pooled, indices = getattr(reference, f"max_pool{rank}d")(x, **window, return_indices=True)
    return pooled, indices


def _spp_torch(x, levels=(1, 2, 4), mode="max"):
    import torch
    import torch.nn.functional as F
    n = x.ndim - 2
    pool = getattr(F, f"adaptive_{mode}_pool{n}d")
    return torch.cat([pool(x, (lv,) * n).reshape(x.shape[0], -1) for lv in levels], dim=1)


def _global_torch(reduce):
    def run(x, keepdim=False):
        return getattr(x, reduce)(dim=tuple(range(2, x.ndim)), keepdim=keepdim)
    return run


def _gemm_torch(a, b, bias=None, activation=None, negative_slope=0.01):
    import torch
    import torch.nn.functional as F
    out = a @ b if bias is None else torch.addmm(bias, a, b)
    if activation == "leaky_relu":
        return F.leaky_relu(out, negative_slope)
    return out if activation is None else getattr(F, activation)(out)


def _conv_torch(op):
    def run(x, weight, bias=None, *args, padding_mode="zeros", activation=None, negative_slope=0.01, **kwargs):
        import torch.nn.functional as F
        if padding_mode != "zeros":
            raise NotImplementedError("padding_mode is nn.Conv*'s option, not F's: no torch timing")
        out = getattr(F, op)(x, weight, bias, *args, **kwargs)
        if activation == "leaky_relu":
            return F.leaky_relu(out, negative_slope)
        return out if activation is None else getattr(F, activation)(out)
    return run


def _separable_torch(x, dw, pw, bias=None, stride=1, padding=0, dilation=1):
    import torch.nn.functional as F
    return F.conv2d(F.conv2d(x, dw, None, stride, padding, dilation, x.shape[1]), pw, bias)


# ops without a torch.nn.functional namesake or with extra arguments (the others are looked up by name)
_TORCH_EQUIVALENTS = {"global_avg_pool": _global_torch("mean"), "global_max_pool": _global_torch("amax"),
                      "spatial_pyramid_pool": _spp_torch, "gemm": _gemm_torch,
                      "separable_conv2d": _separable_torch,
                      **{f"conv{n}d": _conv_torch(f"conv{n}d") for n in (1, 2, 3)}, "linear": _conv_torch("linear"),
                      "upsample": lambda *a, **k: __import__("torch").nn.functional.interpolate(*a, **k),
                      **{f"conv_transpose{n}d": _conv_torch(f"conv_transpose{n}d") for n in (1, 2, 3)},
                      **_box_inputs.TORCH_EQUIVALENTS, **_roi_inputs.TORCH_EQUIVALENTS,
                      **_rnn_inputs.TORCH_EQUIVALENTS, **_attention_inputs.TORCH_EQUIVALENTS}


def torch_function(op: str):
    """The torch equivalent of pydeepkit op ``op`` (None if there is none)."""
    if op in _TORCH_EQUIVALENTS:
        return _TORCH_EQUIVALENTS[op]
    import torch.nn.functional as F
    return getattr(F, op, None)


def compare(ours, expected, rtol: float, atol: float) -> tuple:
    """(passed, max abs error, note): outputs must match in structure, shape and dtype;
    float values within tolerance (NaN where the reference has NaN), integers (indices) exactly."""
    got, want = flatten_outputs(ours), flatten_outputs(expected)
    if len(got) != len(want):
        return False, None, f"returned {len(got)} arrays, reference {len(want)}"
    max_err, notes = 0.0, []
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape or g.dtype != w.dtype:
            return False, None, f"got {g.dtype}{list(g.shape)}, reference {w.dtype}{list(w.shape)}"
        if np.issubdtype(w.dtype, np.integer):
            wrong = int(np.count_nonzero(g != w))
            if wrong:
                notes.append(f"{wrong} indices differ")
            continue
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        both_nan = np.isnan(g64) & np.isnan(w64)
        diff = np.where(both_nan, 0.0, np.abs(g64 - w64))
        if diff.size:
            max_err = max(max_err, float(np.max(np.nan_to_num(diff, nan=np.inf))))
        if not np.allclose(g64, w64, rtol=rtol, atol=atol, equal_nan=True):
            notes.append("values differ")
    return not notes, max_err, "; ".join(notes)


# ---------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------
class Progress:
    """A one-line progress indicator on stderr, shown only once a run takes more than
    ``delay`` seconds (on a terminal it rewrites one line; otherwise it prints a line
    every ``delay`` seconds)."""

    def __init__(self, total: int, delay: float = 2.0, stream=sys.stderr):
        self.total, self.delay, self.stream = total, delay, stream
        self.start = self.last = time.monotonic()
        self.tty = stream.isatty()
        self.shown = False

    def update(self, done: int, label: str) -> None:
        now = time.monotonic()
        if now - self.start < self.delay or (not self.tty and now - self.last < self.delay):
            return
        self.last, self.shown = now, True
        text = f"[{done}/{self.total}] {label}"
        print(f"\r{text}\x1b[K" if self.tty else text, end="" if self.tty else "\n", file=self.stream, flush=True)

    def close(self) -> None:
        if self.shown and self.tty:
            print("\r\x1b[K", end="", file=self.stream, flush=True)


@dataclass
class Result:
    """One row of the demo table."""

    case: Case
    backend: str
    passed: bool
    max_err: float | None
    note: str = ""
    ours_s: float | None = None
    torch_s: float | None = None


def run_case(case: Case, device: _devices.Device, inputs: tuple, expected) -> Result:
    """Runs ``case`` on ``device``'s backend, checks it against ``expected`` and times it."""
    from . import ops
    fn = getattr(ops, case.op)
    ours_in = [_convert(device.ours_input, a) for a in inputs]

    def call():
        return fn(*ours_in, **case.kwargs, backend=device.backend)
    try:
        start = time.perf_counter()
        out = device.to_numpy(call())
        first = time.perf_counter() - start
    except Exception as exc:
        return Result(case, device.backend, False, None, f"ERR {type(exc).__name__}: {shorten(exc, 80)}")
    passed, err, note = compare(out, expected, case.rtol, case.atol)
    # the emulator is slow: its first call is its timing; the other backends get a median
    if device.backend != "emu":
        time.sleep(_SETTLE)
    ours_s = first if device.backend == "emu" else quick_time(call, sync=device.sync)
    return Result(case, device.backend, passed, err, note, ours_s, _torch_time(case, device, inputs))


def _convert(convert, a):
    """``convert`` applied to an input array, or to each array of a params mapping (RNN, attention)."""
    return {k: convert(v) for k, v in a.items()} if isinstance(a, dict) else convert(a)


# Pause before timing either library: the other's OpenMP threads spin for a while after a call
# (torch and pydeepkit each load their own OpenMP runtime) and would take the cores.
_SETTLE = 0.01


def _torch_time(case: Case, device: _devices.Device, inputs: tuple) -> float | None:
    if device.torch is None or device.backend == "emu":
        return None
    fn = torch_function(case.op)
    if fn is None:
        return None
    try:
        tensors = [_convert(device.torch_input, a) for a in inputs]
        with device.torch.no_grad():
            fn(*tensors, **case.kwargs)  # torch builds its kernels for a new shape on the first call
            time.sleep(_SETTLE)
            return quick_time(lambda: fn(*tensors, **case.kwargs), sync=device.sync)
    except Exception:  # torch may not support some argument combination: no torch column then
        return None


def _expected(reference, case: Case, inputs: tuple) -> tuple:
    """(reference output, None) or (None, why there is none)."""
    fn = getattr(reference, case.op, None)
    if fn is None:
        return None, f"no reference function pydeepkit.reference.{case.op}"
    try:
        return fn(*inputs, **case.kwargs), None
    except Exception as exc:
        return None, f"reference failed: {type(exc).__name__}: {shorten(exc, 80)}"


def _fmt_ms(seconds):
    return "-" if seconds is None else f"{seconds * 1e3:.3f}"


def format_results(results) -> str:
    """The demo table."""
    headers = ("op", "args", "backend", "shape", "max abs err", "result", "ours ms", "torch ms")
    rows = []
    for r in results:
        verdict = "PASS" if r.passed else "FAIL"
        if r.note:
            verdict += f" ({r.note})"
        rows.append((r.case.op, r.case.label, r.backend, fmt_shape(r.case.shape),
                     "-" if r.max_err is None else f"{r.max_err:.1e}", verdict,
                     _fmt_ms(r.ours_s), _fmt_ms(r.torch_s)))
    return format_table(headers, rows, right=("max abs err", "ours ms", "torch ms"))


def run(backends=None, names=(), use_torch: bool = True, stream=sys.stdout, *, ops: bool = True,
        models=None, model_size: str = "small") -> int:
    """Runs the demo, prints the tables to ``stream`` and returns the exit code
    (0: every check passed; 1: a check failed; 2: nothing could run).

    ops: run the op checks (``names``: only ops containing one of these substrings).
    models: None (no model table) or the model-name substrings of the model table ([] = every
    model), run at ``model_size`` ("small" or "full") by :mod:`pydeepkit.demo_models`."""
    torch = _devices.load_torch(_devices.our_threads()) if use_torch else None
    code = _run_ops(backends, names, torch, stream) if ops else 0
    if models is not None and code != 2:
        from .demo_models import run_models
        if ops:
            print(file=stream)
        code = max(code, run_models(models, model_size, backends, torch, stream))
    return code


def _run_ops(backends, names, torch, stream) -> int:
    """The op table (see :func:`run`); returns its exit code."""
    try:
        reference = importlib.import_module("pydeepkit.reference")
    except Exception as exc:
        print(f"demo: the numpy reference (pydeepkit.reference) cannot be imported: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    cases = [c for c in CASES if not names or any(n.lower() in c.op for n in names)]
    if not cases:
        print(f"demo: no op matches {list(names)}", file=sys.stderr)
        return 2

    devices, skipped = [], []
    for backend in backends or _devices.BACKENDS:
        reason = _devices.backend_status(backend)
        if reason:
            skipped.append(f"{backend}: skipped ({shorten(reason, 100)})")
        else:
            devices.append(_devices.Device(backend, torch))
    for line in skipped:
        print(line, file=stream)
    if not devices:
        print("demo: no backend can run here", file=sys.stderr)
        return 2

    results, progress = [], Progress(len(cases) * len(devices))
    for case in cases:
        inputs = make_inputs(case, reference)
        expected, problem = _expected(reference, case, inputs)
        for device in devices:
            progress.update(len(results) + 1, f"{case.op} {device.backend}")
            if problem:
                results.append(Result(case, device.backend, False, None, problem))
            else:
                results.append(run_case(case, device, inputs, expected))
    progress.close()

    print(format_results(results), file=stream)
    failed = sum(not r.passed for r in results)
    names_run = ", ".join(d.backend for d in devices)
    torch_note = "" if torch is not None else " (torch not installed: no torch timings)"
    print(f"\n{len(results)} checks on {names_run}: {len(results) - failed} passed, {failed} failed{torch_note}",
          file=stream)
    return 1 if failed else 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the demo options to ``parser``."""
    parser.add_argument("names", nargs="*", metavar="OP",
                        help="run only ops whose name contains one of these substrings (default: all)")
    parser.add_argument("--backend", action="append", choices=_devices.BACKENDS,
                        help="run only this backend (repeatable; default: every available one)")
    parser.add_argument("--no-torch", action="store_true", help="do not time torch (nor compare the models with it)")
    parser.add_argument("--model", action="append", metavar="NAME", default=[],
                        help="model table: only model NAME, or the models whose name contains NAME if it is "
                             "no model's name (repeatable); given without OP names, only the model table runs")
    parser.add_argument("--model-size", choices=("small", "full"), default="small",
                        help="model table input: small (default; 64x64 for most models, about a minute for all "
                             "of them on 2 cores) or full (224x224, Inception-v3 299x299: several minutes)")
    parser.add_argument("--no-models", action="store_true", help="skip the model table")


def run_cli(args: argparse.Namespace) -> int:
    """Runs ``pydeepkit demo`` with parsed arguments; returns the exit code. OP names alone run
    only the op table, --model alone only the model table; neither or both run both."""
    ops = bool(args.names) or not args.model
    with_models = not args.no_models and (bool(args.model) or not args.names)
    return run(args.backend, args.names, use_torch=not args.no_torch, ops=ops,
               models=args.model if with_models else None, model_size=args.model_size)


DESCRIPTION = """\
Runs every op (pooling: max/avg/Lp 1-3d, adaptive, unpool, global, SPP; gemm with
its fused epilogue; convolution 1-3d: grouped, depthwise, padding modes, transposed,
separable; detection boxes: NMS, batched and soft NMS, IoU, box utilities, anchors; glue ops:
activations, softmax, batch/layer/local response norm, linear, interpolate, embedding) on
every available backend (cpu, emu, cuda) on small deterministic inputs, checks each
result against the numpy reference and prints op, backend, shape, max abs error,
PASS/FAIL and ms per call (with torch's ms beside ours when torch is installed).

Then the model table: every architecture of pydeepkit.models built with fresh
weights and run on a sample input on the best available backend (cuda, else cpu):
parameters, multiply-adds, output shape, ms per image, and where torchvision has
the model, torch's ms with the same weights and the max abs difference of the
outputs. --model-size small (the default) keeps the whole demo to a few minutes on
2 cores; --model-size full runs 224x224 inputs.
Exits with 1 if any check fails.

examples:
  pydeepkit demo                           every op, then every model at the small size
  pydeepkit demo conv --backend emu        the convolution ops on the emulator only
  pydeepkit demo --model resnet --model-size full
"""
