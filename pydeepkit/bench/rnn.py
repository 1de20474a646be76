"""Benchmark entries of the RNN family (float32): ours vs torch's LSTM / GRU (oneDNN on CPU) and LSTMCell.

Inputs are a sequence x [T, B, I] and the layer's weights in torch's layout (one set per
direction); ours gets them as a state_dict-style mapping, torch as the flat weight list of
``torch.lstm`` / ``torch.gru`` (what nn.LSTM / nn.GRU call) with zero initial states. The rate
is GFLOP/s of the input and recurrent products (2 T B G H (I + H) per direction).
"""
from __future__ import annotations

import numpy as np

from ._registry import Entry

GATES = {"lstm": 4, "gru": 3}


def make_inputs(mode: str, shape: tuple, rng: np.random.Generator) -> tuple:
    """(x [T, B, I], then w_ih, w_hh, b_ih, b_hh per direction) for shape (T, B, I, H, D)."""
    T, B, I, H, D = shape
    G, s = GATES[mode], 1.0 / np.sqrt(H)
    arrays = [rng.uniform(-1, 1, (T, B, I)).astype(np.float32)]
    for _ in range(D):
        for size in ((G * H, I), (G * H, H), (G * H,), (G * H,)):
            arrays.append(rng.uniform(-s, s, size).astype(np.float32))
    return tuple(arrays)


def params_of(weights) -> dict:
    """torch's state_dict names for the per-direction (w_ih, w_hh, b_ih, b_hh) arrays of one layer."""
    names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    return {n + ("_reverse" if i >= 4 else ""): w for i, (n, w) in enumerate(zip(names * 2, weights))}


def _ours(mode):
    def run(x, *weights, backend=None):
        from .. import ops
        return getattr(ops, mode)(x, params_of(weights), bidirectional=len(weights) == 8, backend=backend)[0]
    return run


def _torch(mode):
    def run(x, *weights):
        import torch
        D, H = len(weights) // 4, weights[1].shape[1]
        h0 = torch.zeros((D, x.shape[1], H), dtype=x.dtype, device=x.device)
        hx = (h0, h0) if mode == "lstm" else h0
        return getattr(torch, mode)(x, hx, list(weights), True, 1, 0.0, False, D == 2, False)[0]
    return run


def _ours_cell(x, h, c, w_ih, w_hh, b_ih, b_hh, backend=None):
    from .. import ops
    return ops.lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh, backend=backend)


def _torch_cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
    import torch
    return torch.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)


def _cell_inputs(shape, rng):
    B, I, H = shape
    s = 1.0 / np.sqrt(H)
    return (rng.uniform(-1, 1, (B, I)).astype(np.float32), rng.uniform(-1, 1, (B, H)).astype(np.float32),
            rng.uniform(-1, 1, (B, H)).astype(np.float32), rng.uniform(-s, s, (4 * H, I)).astype(np.float32),
            rng.uniform(-s, s, (4 * H, H)).astype(np.float32), rng.uniform(-s, s, 4 * H).astype(np.float32),
            rng.uniform(-s, s, 4 * H).astype(np.float32))


def _flops(mode):
    def cost(inputs, output):
        x, D = inputs[0], (len(inputs) - 1) // 4
        T, B, I = x.shape
        H = inputs[2].shape[1]
        return 0, 2 * T * B * GATES[mode] * H * (I + H) * D
    return cost


def _cell_flops(inputs, output):
    x, h = inputs[0], inputs[1]
    return 0, 2 * x.shape[0] * 4 * h.shape[1] * (x.shape[1] + h.shape[1])


def _inputs(mode):
    def make(shape, rng):
        return make_inputs(mode, shape, rng)
    return make


# op, label, full shape (T, B, I, H, D), quick shape
_CASES = (
    ("lstm", "I256 H512 T100 B32 uni", (100, 32, 256, 512, 1), (10, 4, 16, 32, 1)),
    ("lstm", "I256 H512 T100 B32 bidir", (100, 32, 256, 512, 2), (10, 4, 16, 32, 2)),
    ("gru", "I256 H512 T100 B32 uni", (100, 32, 256, 512, 1), (10, 4, 16, 32, 1)),
    ("gru", "I256 H512 T100 B32 bidir", (100, 32, 256, 512, 2), (10, 4, 16, 32, 2)),
    ("lstm", "I256 H512 T100 B1 uni", (100, 1, 256, 512, 1), (10, 1, 16, 32, 1)),
)

ENTRIES = [Entry(op=mode, params=label, shapes={"full": full, "quick": quick}, make_inputs=_inputs(mode),
                 ours=_ours(mode), torch=_torch(mode), cost=_flops(mode), metric="GFLOP/s", rtol=1e-4, atol=1e-5)
           for mode, label, full, quick in _CASES]
ENTRIES.insert(2, Entry(op="lstm_cell", params="I256 H512 B32 one step", shapes={"full": (32, 256, 512),
                                                                                  "quick": (4, 16, 32)},
                        make_inputs=_cell_inputs, ours=_ours_cell, torch=_torch_cell, cost=_cell_flops,
                        metric="GFLOP/s", rtol=1e-4, atol=1e-5))


# ---------------------------------------------------------------------------------------
# pydeepkit demo: inputs of the RNN cases and torch's functional equivalents
# ---------------------------------------------------------------------------------------
_MODE_OF = {"lstm": "lstm", "gru": "gru", "lstm_cell": "lstm", "gru_cell": "gru", "rnn_tanh_cell": "rnn_tanh",
            "rnn_relu_cell": "rnn_relu"}
_GATES_ALL = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def demo_inputs(op: str, shape: tuple, kwargs: dict, rng: np.random.Generator) -> tuple:
    """Cells, shape (B, I, H): (x, h[, c], w_ih, w_hh, b_ih, b_hh). Sequences, shape (T, B, I, H):
    (x, params) with params a state_dict of numpy arrays for ``kwargs`` (mode, num_layers,
    bidirectional, proj_size, batch_first)."""
    if op.endswith("_cell"):
        B, I, H = shape
        G = _GATES_ALL[_MODE_OF[op]]
        states = 2 if op == "lstm_cell" else 1
        return tuple(rng.uniform(-1, 1, s).astype(np.float32)
                     for s in [(B, I)] + [(B, H)] * states + [(G * H, I), (G * H, H), (G * H,), (G * H,)])
    T, B, I, H = shape
    mode = kwargs.get("mode", _MODE_OF.get(op))
    L, D, P = kwargs.get("num_layers", 1), 2 if kwargs.get("bidirectional") else 1, kwargs.get("proj_size", 0)
    G, s = _GATES_ALL[mode], 1.0 / np.sqrt(H)
    params = {}
    for layer in range(L):
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            sizes = {"weight_ih": (G * H, I if layer == 0 else D * (P or H)), "weight_hh": (G * H, P or H),
                     "bias_ih": (G * H,), "bias_hh": (G * H,), **({"weight_hr": (P, H)} if P else {})}
            params.update({n + sfx: rng.uniform(-s, s, size).astype(np.float32) for n, size in sizes.items()})
    x = rng.uniform(-1, 1, (B, T, I) if kwargs.get("batch_first") else (T, B, I)).astype(np.float32)
    return x, params


def _torch_sequence(fixed_mode=None):
    def run(x, params, hx=None, *, mode="lstm", num_layers=1, bidirectional=False, batch_first=False, proj_size=0):
        import torch
        mode = fixed_mode or mode
        D, H = 2 if bidirectional else 1, params["weight_hh_l0"].shape[0] // _GATES_ALL[mode]
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") + (("weight_hr",) if proj_size else ())
        flat = [params[f"{n}_l{layer}{'_reverse' if d else ''}"] for layer in range(num_layers) for d in range(D)
                for n in names]
        B = x.shape[0 if batch_first else 1]
        h0 = torch.zeros((num_layers * D, B, proj_size or H), dtype=x.dtype, device=x.device)
        hx = (h0, torch.zeros((num_layers * D, B, H), dtype=x.dtype, device=x.device)) if mode == "lstm" else h0
        fn = {"lstm": torch.lstm, "gru": torch.gru, "rnn_tanh": torch.rnn_tanh, "rnn_relu": torch.rnn_relu}[mode]
        return fn(x, hx, flat, True, num_layers, 0.0, False, bidirectional, batch_first)
    return run


def _torch_cell_op(name):
    def run(x, h, *rest):
        import torch
        if name == "lstm_cell":
            return torch.lstm_cell(x, (h, rest[0]), *rest[1:])
        return getattr(torch, name)(x, h, *rest)
    return run


TORCH_EQUIVALENTS = {"lstm": _torch_sequence("lstm"), "gru": _torch_sequence("gru"), "rnn": _torch_sequence(),
                     **{c: _torch_cell_op(c) for c in ("lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell")}}
