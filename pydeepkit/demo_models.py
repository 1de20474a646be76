"""The model table of ``pydeepkit demo``: every architecture of ``pydeepkit.models`` built, run once
on a sample input on the best available backend and, where torchvision has the same model, checked
against torchvision's twin holding the same weights.

One row per model: input shape, parameters and multiply-adds (``pydeepkit.summary``), output
shape, ms per image for ours and for torch (eager, ``torch.inference_mode``), the max abs
difference of the outputs, that difference relative to max|torch output| and PASS/FAIL. A model passes when it runs and its output is within
``RTOL`` x max|torch output| of torch's.

Sizes: "small" (the default) runs each model at a fast input it accepts (64x64 for most,
``pydeepkit.models.input_shape(name, "small")``), so that all 20 architectures take about a
minute or two on 2 cores; "full" runs the resolution each is built for (224x224, Inception-v3 299x299),
which takes several minutes there (VGG-19 alone is 20 G multiply-adds).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np

from .bench import _devices
from .bench._table import fmt_shape, format_table, shorten
from .bench._timing import quick_time

# float32 outputs of two libraries summing in different orders, relative to the output's magnitude
# (the model tests' bound is 2e-5; the demo's sample inputs and depths are the same, with margin)
RTOL = 1e-4
SIZES = ("small", "full")
# Pause before timing either library: the other's OpenMP threads spin for a while after a call
_SETTLE = 0.01


@dataclass
class ModelResult:
    """One row of the model table (times in seconds per image, batch 1)."""

    name: str
    backend: str
    input_shape: tuple
    params: int | None = None
    macs: int | None = None
    output_shape: tuple | None = None
    ours_s: float | None = None
    torch_s: float | None = None
    max_diff: float | None = None
    torch_scale: float | None = None
    error: str = ""

    @property
    def passed(self) -> bool:
        if self.error:
            return False
        return self.max_diff is None or self.max_diff <= RTOL * self.torch_scale


def select_models(patterns=()) -> list:
    """Names of pydeepkit.models.list_models() selected by ``patterns`` (case-insensitive; all if
    none): a pattern that is a model's name selects that model, any other pattern every model whose
    name contains it (so "vgg16" is VGG-16 alone and "vgg16" does not also bring "vgg16_bn").

    Example:
        >>> pydeepkit.demo_models.select_models(["resnet1", "vgg16", "lenet"])
        ['googlenet', 'lenet5', 'mobilenet_v1', 'mobilenet_v2', 'resnet101', 'resnet152', 'resnet18', 'vgg16']
    """
    from . import models
    names = models.list_models()
    chosen = set()
    for pattern in (p.lower() for p in patterns):
        chosen.update([pattern] if pattern in names else [n for n in names if pattern in n])
    return [n for n in names if not patterns or n in chosen]


def model_backend(backends=None) -> str | None:
    """The backend the model table runs on: the fastest available of ``backends`` (default all):
    cuda, then cpu, then emu (slow: for checking only); None if none can run."""
    allowed = backends or _devices.BACKENDS
    for backend in ("cuda", "cpu", "emu"):
        if backend in allowed and _devices.backend_status(backend) is None:
            return backend
    return None


def run_model(name: str, size: str, device: _devices.Device, seed: int = 0) -> ModelResult:
    """Builds model ``name`` (fresh weights, seed ``seed``), runs and times it on ``device`` at its
    ``size`` ("small" or "full") input, and compares it with torchvision's twin when
    ``device.torch`` is set and torchvision has the model. Failures become ``error``, never exceptions."""
    from . import models, nn
    from .summary import summary
    shape = (1, *models.input_shape(name, size))
    row = ModelResult(name, device.backend, shape)
    try:
        nn.manual_seed(seed)
        model = models.get_model(name)
        state = model.state_dict()  # (kept on the host for the torch twin)
        counted = summary(model, shape[1:])
        row.params, row.macs = counted.total_params, counted.total_macs
        if device.backend != "cpu":
            model.to(device.backend)
        x = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
        x_ours = device.ours_input(x)
        out = device.to_numpy(model(x_ours))
        row.output_shape = tuple(out.shape)
        time.sleep(_SETTLE)
        # the emulator is slow: its one call above is enough to show it works
        row.ours_s = None if device.backend == "emu" else quick_time(lambda: model(x_ours), sync=device.sync,
                                                                      budget=0.2)
    except Exception as exc:
        row.error = f"ERR {type(exc).__name__}: {shorten(exc, 80)}"
        return row
    if device.torch is None or name not in models.TORCHVISION:
        return row
    try:
        from .bench.models import torchvision_twin
        torch = device.torch
        twin = torchvision_twin(name, state).to(device.torch_device)
        x_torch = device.torch_input(x)
        with torch.inference_mode():
            want = device.to_numpy(twin(x_torch))
            time.sleep(_SETTLE)
            if device.backend != "emu":
                row.torch_s = quick_time(lambda: twin(x_torch), sync=device.sync, budget=0.2)
    except ImportError:  # torch without torchvision: no comparison
        return row
    except Exception as exc:
        row.error = f"torch twin failed: {type(exc).__name__}: {shorten(exc, 60)}"
        return row
    if want.shape != out.shape:
        row.error = f"output {fmt_shape(out.shape)}, torchvision's {fmt_shape(want.shape)}"
        return row
    row.max_diff = float(np.max(np.abs(out.astype(np.float64) - want)))
    row.torch_scale = float(np.max(np.abs(want)))
    return row


def _fmt_ms(seconds):
    return "-" if seconds is None else f"{seconds * 1e3:.1f}"


def format_model_results(results) -> str:
    """The model table."""
    headers = ("model", "input", "params", "GMACs", "output", "backend", "ours ms", "torch ms", "max abs diff",
               "of max|torch|", "result")
    rows = []
    for r in results:
        if r.error:
            verdict = f"FAIL ({r.error})"
        elif r.max_diff is None:
            verdict = "ran (no torchvision twin)" if r.ours_s is not None or r.backend == "emu" else "-"
        else:
            verdict = "PASS" if r.passed else f"FAIL (> {RTOL:g} x max|torch| = {RTOL * r.torch_scale:.2g})"
        rows.append((r.name, fmt_shape(r.input_shape), "-" if r.params is None else f"{r.params / 1e6:.2f} M",
                     "-" if r.macs is None else f"{r.macs / 1e9:.3f}",
                     "-" if r.output_shape is None else fmt_shape(r.output_shape), r.backend,
                     _fmt_ms(r.ours_s), _fmt_ms(r.torch_s), "-" if r.max_diff is None else f"{r.max_diff:.1e}",
                     # fresh He-initialised deep ResNets have logits up to ~1e6: the relative size tells
                     "-" if r.max_diff is None else f"{r.max_diff / max(r.torch_scale, 1e-30):.1e}", verdict))
    return format_table(headers, rows, right=("params", "GMACs", "ours ms", "torch ms", "max abs diff",
                                              "of max|torch|"))


def run_models(patterns=(), size: str = "small", backends=None, torch=None, stream=sys.stdout) -> int:
    """Runs the model table for the models matching ``patterns`` and prints it to ``stream``;
    returns 0 if every model ran and matched torchvision, 1 if one failed, 2 if nothing could run.
    ``torch``: the torch module (None: no torch columns)."""
    from .demo import Progress
    if size not in SIZES:
        raise ValueError(f"run_models: size must be one of {SIZES}, got {size!r}")
    names = select_models(patterns)
    if not names:
        print(f"demo: no model matches {list(patterns)}", file=sys.stderr)
        return 2
    backend = model_backend(backends)
    if backend is None:
        print("demo: no backend can run the models here", file=sys.stderr)
        return 2
    device = _devices.Device(backend, torch)
    results, progress = [], Progress(len(names))
    for i, name in enumerate(names, 1):
        progress.update(i, f"model {name}")
        results.append(run_model(name, size, device))
    progress.close()
    print(format_model_results(results), file=stream)
    failed = sum(not r.passed for r in results)
    compared = sum(r.max_diff is not None for r in results)
    note = (f"; {compared} compared with torchvision (same weights, torch.inference_mode)" if device.torch
            is not None else "; torch not installed: no torch timings or comparison")
    print(f"\n{len(results)} models at {size} size on {backend}: {len(results) - failed} passed, {failed} failed"
          f"{note}", file=stream)
    return 1 if failed else 0
