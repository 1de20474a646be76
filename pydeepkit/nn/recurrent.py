"""Recurrent layers: RNN, LSTM, GRU (whole sequences) and RNNCell, LSTMCell, GRUCell, with torch.nn's
constructor arguments and parameter names, over the kernels of pydeepkit.ops.rnn.

A torch module's state_dict loads directly (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``,
``bias_hh_l0``, ``..._reverse``, ``weight_hr_l0``). Instead of PackedSequence, variable-length
batches pass ``lengths`` to forward (packed-sequence semantics: outputs past a sequence's length
are zero, h_n is taken at its last valid step).
"""
from __future__ import annotations

import math

import numpy as np

from .. import ops
from . import init
from .module import Module, Parameter

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def _rnn_mode(nonlinearity):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return f"rnn_{nonlinearity}"


class _RNNBase(Module):
    """Shared constructor and forward of RNN / LSTM / GRU; parameters as torch (init U(-1/sqrt(H), 1/sqrt(H)))."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        for arg, value, low in (("input_size", input_size, 0), ("hidden_size", hidden_size, 1),
                                ("num_layers", num_layers, 1), ("proj_size", proj_size, 0)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name}: {arg} must be an integer >= {low}, got {value!r}")
        if proj_size and proj_size >= hidden_size:
            raise ValueError(f"{name}: proj_size must be < hidden_size = {hidden_size}, got {proj_size}")
        if not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout must be in [0, 1], got {dropout}")
        self.mode, self.input_size, self.hidden_size = mode, int(input_size), int(hidden_size)
        self.num_layers, self.bias, self.batch_first = int(num_layers), bool(bias), bool(batch_first)
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bool(bidirectional), int(proj_size)
        G, H, D, Ho = _GATES[mode], self.hidden_size, 2 if bidirectional else 1, proj_size or hidden_size
        bound = 1 / math.sqrt(H)
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else D * Ho
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                self.register_parameter("weight_ih" + sfx, init.uniform((G * H, in_size), bound, dtype))
                self.register_parameter("weight_hh" + sfx, init.uniform((G * H, Ho), bound, dtype))
                if bias:
                    self.register_parameter("bias_ih" + sfx, init.uniform((G * H,), bound, dtype))
                    self.register_parameter("bias_hh" + sfx, init.uniform((G * H,), bound, dtype))
                if proj_size:
                    self.register_parameter("weight_hr" + sfx, init.uniform((proj_size, H), bound, dtype))

    def _run(self, x, hx, lengths):
        kw = dict(mode=self.mode, bidirectional=self.bidirectional, batch_first=self.batch_first, lengths=lengths,
                  proj_size=self.proj_size, backend=self.backend)
        params = dict(self.named_parameters())
        if not (self.training and self.dropout > 0 and self.num_layers > 1):
            return ops.rnn(x, params, hx, num_layers=self.num_layers, **kw)
        # Training with dropout between layers: one layer at a time, dropout on each output but the last.
        D = 2 if self.bidirectional else 1
        lstm = self.mode == "lstm"
        h0, c0 = (hx if hx is not None else (None, None)) if lstm else (hx, None)
        out, hs, cs = x, [], []
        for layer in range(self.num_layers):
            sub = {k.replace(f"_l{layer}", "_l0"): v for k, v in params.items()
                   if k.endswith(f"_l{layer}") or k.endswith(f"_l{layer}_reverse")}
            part = slice(layer * D, (layer + 1) * D)
            if lstm:
                state = None if h0 is None else (h0[part], c0[part])
            else:
                state = None if h0 is None else h0[part]
            out, state = ops.rnn(out, sub, state, num_layers=1, **kw)
            if layer + 1 < self.num_layers:
                out = ops.dropout(out, self.dropout, True, backend=self.backend)
            hs.append(state[0] if lstm else state)
            if lstm:
                cs.append(state[1])
        xp = _xp_of(hs[0])
        h_n = xp.concatenate(hs, axis=0)
        return out, ((h_n, xp.concatenate(cs, axis=0)) if lstm else h_n)

    def forward(self, x, hx=None, lengths=None):
        """x: [T, B, input_size] ([B, T, input_size] with batch_first, or unbatched [T, input_size]);
        hx: h0 [num_layers * D, B, H_out] (LSTM: (h0, c0)) or None; lengths: [B] valid steps or None.
        Returns (output [T, B, D * H_out], h_n) — for LSTM (output, (h_n, c_n)) — as torch."""
        return self._run(x, hx, lengths)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "rnn_relu":
            s += ", nonlinearity='relu'"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False),
                              ("proj_size", 0)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s


def _xp_of(arr):
    from .. import _backend
    return _backend._cupy() if _backend.library_of(arr) == "cupy" else np


class RNN(_RNNBase):
    """nn.RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True, batch_first=False,
    dropout=0.0, bidirectional=False): h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh).

    Example:
        >>> rnn = pydeepkit.nn.RNN(4, 3, num_layers=2)
        >>> out, h_n = rnn(np.zeros((5, 2, 4), np.float32))
        >>> out.shape, h_n.shape
        ((5, 2, 3), (2, 2, 3))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=np.float32):
        super().__init__(_rnn_mode(nonlinearity), input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 0, dtype)


class LSTM(_RNNBase):
    """nn.LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, proj_size=0): gates i, f, g, o as torch; forward returns (output, (h_n, c_n)).

    Example:
        >>> lstm = pydeepkit.nn.LSTM(4, 3, bidirectional=True, batch_first=True)
        >>> out, (h_n, c_n) = lstm(np.zeros((2, 5, 4), np.float32))
        >>> out.shape, h_n.shape, c_n.shape
        ((2, 5, 6), (2, 2, 3), (2, 2, 3))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, dtype=np.float32):
        super().__init__("lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, dtype)


class GRU(_RNNBase):
    """nn.GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False): gates r, z, n as torch.

    Example:
        >>> gru = pydeepkit.nn.GRU(4, 3)
        >>> out, h_n = gru(np.zeros((5, 4), np.float32))  # unbatched [T, input_size]
        >>> out.shape, h_n.shape
        ((5, 3), (1, 3))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, dtype=np.float32):
        super().__init__("gru", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
                         dtype)


class _CellBase(Module):
    def __init__(self, gates, input_size, hidden_size, bias, dtype):
        super().__init__()
        name = type(self).__name__
        for arg, value, low in (("input_size", input_size, 0), ("hidden_size", hidden_size, 1)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name}: {arg} must be an integer >= {low}, got {value!r}")
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bool(bias)
        bound = 1 / math.sqrt(hidden_size)
        G, H = gates, self.hidden_size
        self.weight_ih = Parameter(init.uniform((G * H, self.input_size), bound, dtype))
        self.weight_hh = Parameter(init.uniform((G * H, H), bound, dtype))
        if bias:
            self.bias_ih = Parameter(init.uniform((G * H,), bound, dtype))
            self.bias_hh = Parameter(init.uniform((G * H,), bound, dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """nn.RNNCell(input_size, hidden_size, bias=True, nonlinearity='tanh'): forward(x [B, I], h [B, H] or
    None) -> h' [B, H].

    Example:
        >>> cell = pydeepkit.nn.RNNCell(4, 3)
        >>> cell(np.zeros((2, 4), np.float32)).shape
        (2, 3)
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", dtype=np.float32):
        mode = _rnn_mode(nonlinearity)
        super().__init__(1, input_size, hidden_size, bias, dtype)
        self.nonlinearity = mode[len("rnn_"):]

    def forward(self, x, hx=None):
        op = ops.rnn_tanh_cell if self.nonlinearity == "tanh" else ops.rnn_relu_cell
        return op(x, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, backend=self.backend)


class LSTMCell(_CellBase):
    """nn.LSTMCell(input_size, hidden_size, bias=True): forward(x [B, I], (h, c) or None) -> (h', c').

    Example:
        >>> cell = pydeepkit.nn.LSTMCell(4, 3)
        >>> h, c = cell(np.zeros((2, 4), np.float32))
        >>> h.shape, c.shape
        ((2, 3), (2, 3))
    """

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32):
        super().__init__(4, input_size, hidden_size, bias, dtype)

    def forward(self, x, hx=None):
        h, c = (None, None) if hx is None else hx
        return ops.lstm_cell(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                             backend=self.backend)


class GRUCell(_CellBase):
    """nn.GRUCell(input_size, hidden_size, bias=True): forward(x [B, I], h [B, H] or None) -> h'.

    Example:
        >>> cell = pydeepkit.nn.GRUCell(4, 3)
        >>> cell(np.zeros((2, 4), np.float32)).shape
        (2, 3)
    """

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32):
        super().__init__(3, input_size, hidden_size, bias, dtype)

    def forward(self, x, hx=None):
        return ops.gru_cell(x, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, backend=self.backend)
