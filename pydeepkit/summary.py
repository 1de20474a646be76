"""``pydeepkit.summary(model, input_shape)``: the per-layer table of a network (name, type, output
shape, output neurons, parameters, multiply-adds) with totals, recorded by running the model once
on a zero input of that shape (batch 1)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .bench._table import format_table

__all__ = ["summary", "Summary", "LayerRow"]


@dataclass
class LayerRow:
    name: str
    type: str
    output_shape: tuple
    neurons: int
    params: int
    macs: int


def _macs(module, inputs, output) -> int:
    from .nn.layers import Linear, _ConvNd
    if isinstance(module, _ConvNd):
        w = module.weight
        per = int(w.shape[1]) * math.prod(w.shape[2:])
        counted = inputs[0] if module._transposed else output  # a transposed conv spreads each input
        return int(np.prod(counted.shape[1:])) * per
    if isinstance(module, Linear):
        rows = int(np.prod(output.shape[1:-1])) if output.ndim > 2 else 1
        return rows * module.in_features * module.out_features
    return 0


class Summary:
    """The rows of a summary and their totals; ``str()`` is the table."""

    def __init__(self, model_name, input_shape, rows, total_params):
        self.model_name, self.input_shape, self.rows = model_name, input_shape, rows
        self.total_params = total_params
        self.total_macs = sum(r.macs for r in rows)
        self.total_neurons = sum(r.neurons for r in rows if r.params)

    def __str__(self):
        headers = ("layer", "type", "output shape", "neurons", "params", "MACs")
        body = [(r.name, r.type, "x".join(map(str, r.output_shape)), f"{r.neurons:,}", f"{r.params:,}",
                 f"{r.macs:,}") for r in self.rows]
        body.append(("total", "", "", f"{self.total_neurons:,}", f"{self.total_params:,}", f"{self.total_macs:,}"))
        head = f"{self.model_name}, input {'x'.join(map(str, self.input_shape))} (batch 1)\n"
        foot = (f"\nparameters: {self.total_params:,} ({self.total_params / 1e6:.2f} M); multiply-adds: "
                f"{self.total_macs / 1e9:.3f} G; neurons (outputs of layers with weights): {self.total_neurons:,}")
        return head + format_table(headers, body, right=("neurons", "params", "MACs")) + foot

    __repr__ = __str__


def summary(model, input_shape, dtype=np.float32):
    """Runs ``model`` once on zeros of shape ``(1, *input_shape)`` and records every leaf layer:
    its dotted name, type, output shape (without the batch dim), neurons (output elements),
    parameters and multiply-adds (convolutions and linear layers). Returns a :class:`Summary`
    (``print`` it for the table). The model runs in eval mode on its own device.

    Example:
        >>> s = pydeepkit.summary(pydeepkit.models.alexnet(), (3, 224, 224))
        >>> s.total_params, s.rows[0].output_shape, s.rows[0].params
        (61100840, (64, 55, 55), 23296)
    """
    from .nn.module import forward_hook
    names = {id(m): n for n, m in model.named_modules()}
    rows = []

    def record(module, inputs, output):
        if any(True for _ in module.children()):
            return
        out = output[0] if isinstance(output, tuple) else output
        params = sum(int(p.size) for p in module._parameters.values() if p is not None)
        rows.append(LayerRow(names.get(id(module), "?"), type(module).__name__, tuple(out.shape[1:]),
                             int(np.prod(out.shape[1:])), params, _macs(module, inputs, out)))

    was_training = model.training
    model.eval()
    xp = np
    if model.device == "cuda":
        from ._backend import _cupy
        xp = _cupy()
    x = xp.zeros((1, *input_shape), dtype)
    try:
        with forward_hook(record):
            model(x)
    finally:
        model.train(was_training)
    total = sum(int(p.size) for p in model.parameters())
    return Summary(type(model).__name__, tuple(input_shape), rows, total)
