"""Numpy oracle of the RNN family: torch's RNN/LSTM/GRU cells and sequences as plain loops in float64.

Same arguments as :mod:`pydeepkit.ops.rnn` minus ``backend`` (arrays are numpy); results are
returned in the input's dtype. Gate orders and weight layouts are torch's; LSTM peepholes follow
Gers & Schmidhuber (i and f see c_{t-1}, o sees c_t; ``w_peephole`` rows i, f, o).
"""
from __future__ import annotations

import numpy as np

__all__ = ["rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell", "rnn", "lstm", "gru"]

MODES = ("rnn_tanh", "rnn_relu", "lstm", "gru")


def _f64(a):
    return None if a is None else np.asarray(a, np.float64)


def _sigmoid(v):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-v))


def _linear(x, w, b):
    y = x @ w.T
    return y if b is None else y + b


def _cell(mode, x, h, c, w_ih, w_hh, b_ih, b_hh, w_peephole=None):
    """One step on float64 [B, ...] arrays; returns (h, c) (c None except for LSTM), h before any projection."""
    gi, gh = _linear(x, w_ih, b_ih), _linear(h, w_hh, b_hh)
    H = w_hh.shape[0] // {"lstm": 4, "gru": 3}.get(mode, 1)
    if mode == "lstm":
        i, f, g, o = (gi + gh)[:, :H], (gi + gh)[:, H:2 * H], (gi + gh)[:, 2 * H:3 * H], (gi + gh)[:, 3 * H:]
        if w_peephole is not None:
            i, f = i + w_peephole[0] * c, f + w_peephole[1] * c
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        if w_peephole is not None:
            o = o + w_peephole[2] * c
        return _sigmoid(o) * np.tanh(c), c
    if mode == "gru":
        r = _sigmoid(gi[:, :H] + gh[:, :H])
        z = _sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        return (1.0 - z) * n + z * h, None
    pre = gi + gh
    return (np.tanh(pre) if mode == "rnn_tanh" else np.maximum(pre, 0.0)), None


def _run_cell(mode, x, hx, cx, w_ih, w_hh, b_ih, b_hh, w_peephole=None):
    x = np.asarray(x)
    dtype, batched = x.dtype, x.ndim == 2
    xs = _f64(x).reshape(-1, x.shape[-1])
    H = w_hh.shape[1]
    h = np.zeros((xs.shape[0], H)) if hx is None else _f64(hx).reshape(-1, H)
    c = np.zeros((xs.shape[0], H)) if cx is None else _f64(cx).reshape(-1, H)
    h, c = _cell(mode, xs, h, c, _f64(w_ih), _f64(w_hh), _f64(b_ih), _f64(b_hh), _f64(w_peephole))
    shape = (xs.shape[0], H) if batched else (H,)
    return h.reshape(shape).astype(dtype), (None if c is None else c.reshape(shape).astype(dtype))


def rnn_tanh_cell(x, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh); x [B, I] or [I], hx [B, H] or None."""
    return _run_cell("rnn_tanh", x, hx, None, w_ih, w_hh, b_ih, b_hh)[0]


def rnn_relu_cell(x, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' = relu(x W_ih^T + b_ih + h W_hh^T + b_hh)."""
    return _run_cell("rnn_relu", x, hx, None, w_ih, w_hh, b_ih, b_hh)[0]


def lstm_cell(x, hx, cx, w_ih, w_hh, b_ih=None, b_hh=None, w_peephole=None):
    """(h', c') of torch's LSTMCell (gates i, f, g, o), with optional peepholes [3, H]."""
    return _run_cell("lstm", x, hx, cx, w_ih, w_hh, b_ih, b_hh, w_peephole)


def gru_cell(x, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' of torch's GRUCell (gates r, z, n; n = tanh(x_n + r * (W_hn h + b_hn)))."""
    return _run_cell("gru", x, hx, None, w_ih, w_hh, b_ih, b_hh)[0]


def rnn(x, params, hx=None, *, mode="lstm", num_layers=1, bidirectional=False, batch_first=False, lengths=None,
        proj_size=0):
    """torch.nn.RNN / LSTM / GRU forward with ``params`` a state_dict of arrays; see pydeepkit.ops.rnn.

    Returns (output, h_n), for LSTM (output, (h_n, c_n)). ``lengths`` gives packed-sequence
    semantics (outputs past a length are 0, h_n at each sequence's last valid step).
    """
    x = np.asarray(x)
    dtype, batched = x.dtype, x.ndim == 3
    xs = _f64(x)
    if not batched:
        xs = xs[:, None]
    elif batch_first:
        xs = xs.transpose(1, 0, 2)
    T, B = xs.shape[:2]
    D = 2 if bidirectional else 1
    P = {k: _f64(v) for k, v in params.items()}
    H = P["weight_hh_l0"].shape[0] // {"lstm": 4, "gru": 3}.get(mode, 1)
    Ho = proj_size or H
    lens = np.full(B, T) if lengths is None else np.asarray(lengths).reshape(B)
    if mode == "lstm":
        h0, c0 = (None, None) if hx is None else hx
    else:
        h0, c0 = hx, None
    h0 = np.zeros((num_layers * D, B, Ho)) if h0 is None else _f64(h0).reshape(num_layers * D, B, Ho)
    c0 = np.zeros((num_layers * D, B, H)) if c0 is None else _f64(c0).reshape(num_layers * D, B, H)
    hn, cn = np.zeros_like(h0), np.zeros_like(c0)
    layer_in = xs
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w_ih, w_hh = P["weight_ih" + sfx], P["weight_hh" + sfx]
            b_ih, b_hh = P.get("bias_ih" + sfx), P.get("bias_hh" + sfx)
            w_hr, peep = P.get("weight_hr" + sfx), P.get("weight_peephole" + sfx)
            h, c = h0[layer * D + d].copy(), c0[layer * D + d].copy()
            out = np.zeros((T, B, Ho))
            for t in (range(T - 1, -1, -1) if d else range(T)):
                on = (t < lens)[:, None]
                hf, cnew = _cell(mode, layer_in[t], h, c, w_ih, w_hh, b_ih, b_hh, peep)
                hnew = hf @ w_hr.T if w_hr is not None else hf
                h = np.where(on, hnew, h)
                if cnew is not None:
                    c = np.where(on, cnew, c)
                out[t] = np.where(on, hnew, 0.0)
            hn[layer * D + d], cn[layer * D + d] = h, c
            outs.append(out)
        layer_in = np.concatenate(outs, axis=2)
    output = layer_in
    if not batched:
        output, hn, cn = output[:, 0], hn[:, 0], cn[:, 0]
    elif batch_first:
        output = output.transpose(1, 0, 2)
    output, hn, cn = output.astype(dtype), hn.astype(dtype), cn.astype(dtype)
    return (output, (hn, cn)) if mode == "lstm" else (output, hn)


def lstm(x, params, hx=None, **kwargs):
    """:func:`rnn` with mode='lstm'."""
    return rnn(x, params, hx, mode="lstm", **kwargs)


def gru(x, params, hx=None, **kwargs):
    """:func:`rnn` with mode='gru'."""
    return rnn(x, params, hx, mode="gru", **kwargs)
