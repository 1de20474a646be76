"""RNN family: RNN (tanh / relu), LSTM (optional peepholes and projection) and GRU cells and sequences.

Weight layouts, gate orders (LSTM i, f, g, o; GRU r, z, n) and parameter names are torch's, so a
torch module's ``state_dict()`` (tensors or arrays) is a valid ``params`` mapping. LSTM peepholes
(Gers & Schmidhuber: i and f see c_{t-1}, o sees c_t) are diagonal weights ``[3, H]`` with rows
i, f, o: ``w_peephole`` for :func:`lstm_cell`, optional keys ``weight_peephole_l{k}[_reverse]``
for the sequences (torch has none).

The kernels (csrc/rnn) compute each layer's input projections for all time steps in one GEMM
(ours) and then run the recurrence: on the CPU the recurrent product of each step goes through
the GEMM's micro-kernel with W_hh packed once per call (by the thread that owns each block of
hidden units) and the gate/cell update fused after each tile (both directions of a bidirectional
layer at once); a single step (the cells, except GRU) folds x @ W_ih^T into the same tiles
instead of a separate GEMM; on CUDA either one fused kernel per step or, when the hidden size is
at most 256 and a block's state fits 48 KiB of shared memory, one kernel for the whole sequence
(``_ext.module('cuda' or 'emu').set_rnn_path`` forces one).

``lengths`` gives packed-sequence semantics: row b is valid for its first ``lengths[b]`` steps;
outputs past that are 0, the forward direction's h_n is its state at step ``lengths[b] - 1`` and
the reverse direction starts there. The output keeps all T steps (torch's
``pad_packed_sequence(..., total_length=T)``).
"""
from __future__ import annotations

import operator

import numpy as np

from .. import _backend

__all__ = ["rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell", "rnn", "lstm", "gru"]

# Mirrors pdk::RnnMode (csrc/rnn/rnn.h).
MODES = {"rnn_tanh": 0, "rnn_relu": 1, "lstm": 2, "gru": 3}
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


# ---------------------------------------------------------------------------------------
# argument handling
# ---------------------------------------------------------------------------------------
def _array(call, value, name, dtype, shape=None):
    """Contiguous kernel view of an array / tensor of any library on the call's device, checked."""
    op = call.op
    lib = _backend.library_of(value)
    if lib is None:
        raise TypeError(f"{op}: {name} must be a numpy array, cupy array or torch tensor, got "
                        f"{_backend.describe(value)}")
    want = "cpu" if call.backend != "cuda" else f"cuda:{call.cuda_device}"
    if _backend.device_of(value, lib) != want:
        raise ValueError(f"{op}: {name} is a {_backend.describe(value)} but the input runs on {want}")
    view = call.xp.from_dlpack(value.detach()) if lib == "torch" else value
    if view.dtype != dtype:
        raise TypeError(f"{op}: {name} must have the input's dtype {dtype}, got {view.dtype}")
    if shape is not None and tuple(view.shape) != tuple(shape):
        raise ValueError(f"{op}: {name} must have shape {tuple(shape)}, got {tuple(view.shape)}")
    return call.contiguous(view)


def _index(op, name, value, low):
    if isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int, got {value!r}") from None
    if v < low:
        raise ValueError(f"{op}: {name} must be >= {low}, got {v}")
    return v


def _lengths(call, lengths, T, B):
    """int64 [B] lengths on the kernels' device, checked to lie in [0, T]."""
    op = call.op
    lib = _backend.library_of(lengths)
    if lib == "torch":
        host = lengths.detach().cpu().numpy()
    elif lib == "cupy":
        host = lengths.get()
    else:
        host = np.asarray(lengths)
    if host.dtype.kind not in "iu" or host.shape != (B,):
        raise ValueError(f"{op}: lengths must be {B} integers (one per sequence), got {host.dtype} "
                         f"shape {host.shape}")
    if B and (host.min() < 0 or host.max() > T):
        raise ValueError(f"{op}: lengths must lie in [0, {T}] (the sequence length), got min {host.min()} "
                         f"max {host.max()}")
    host = np.ascontiguousarray(host, np.int64)
    return call.xp.asarray(host) if call.backend == "cuda" else host


def _launch(call, mode, T, B, I, H, P, dirs, x, lengths, out, dtype):
    """One layer (all directions); dirs: dicts of kernel views w_ih, w_hh, b_ih, b_hh, w_hr,
    w_peephole, h0, c0, hn, cn (None: absent)."""
    D = len(dirs)
    ws = None  # the CPU kernels allocate their own (and keep it for the thread's next call)
    if call.backend != "cpu":
        ws = call.empty((call.ext.rnn_workspace_elements(MODES[mode], T, B, H, P, D),), dtype)[1]
    keys = ("w_ih", "w_hh", "b_ih", "b_hh", "w_hr", "w_peephole", "h0", "c0", "hn", "cn")
    ptrs = [[call.ptr(d.get(k)) for k in keys] for d in dirs]
    call.launch(call.ext.rnn_layer_forward, MODES[mode], T, B, I, H, P, ptrs, call.ptr(x), call.ptr(lengths),
                call.ptr(out), call.ptr(ws), call.dtype_code(x), call.stream)


# ---------------------------------------------------------------------------------------
# cells
# ---------------------------------------------------------------------------------------
def _cell(op, mode, x, hx, cx, w_ih, w_hh, b_ih, b_hh, w_peephole, backend):
    call = _backend.resolve(op, backend, optional=("hx", "cx"), x=x, hx=hx, cx=cx)
    xv = call.view(x, "x")
    if xv.ndim not in (1, 2):
        raise ValueError(f"{op}: x must be [B, input_size] or [input_size], got shape {tuple(xv.shape)}")
    batched = xv.ndim == 2
    xv = call.contiguous(xv if batched else xv[None])
    B, I = xv.shape
    G, dt = GATES[mode], xv.dtype
    whh = _array(call, w_hh, "w_hh", dt)
    if whh.ndim != 2 or whh.shape[0] % G or whh.shape[0] == 0:
        raise ValueError(f"{op}: w_hh must be [{G} * hidden_size, hidden_size], got shape {tuple(whh.shape)}")
    H = whh.shape[0] // G
    if whh.shape[1] != H:
        raise ValueError(f"{op}: w_hh must be [{G} * hidden_size, hidden_size] = [{G * H}, {H}], "
                         f"got shape {tuple(whh.shape)}")
    d = {"w_hh": whh, "w_ih": _array(call, w_ih, "w_ih", dt, (G * H, I))}
    for name, v in (("b_ih", b_ih), ("b_hh", b_hh)):
        d[name] = None if v is None else _array(call, v, name, dt, (G * H,))
    d["w_peephole"] = None if w_peephole is None else _array(call, w_peephole, "w_peephole", dt, (3, H))
    state = (B, H) if batched else (H,)
    for name, v in (("h0", hx), ("c0", cx)):
        d[name] = None if v is None else _array(call, v, "hx" if name == "h0" else "cx", dt, state)
    h, d["hn"] = call.empty((B, H), dt)
    c = None
    if mode == "lstm":
        c, d["cn"] = call.empty((B, H), dt)
    if B:
        _launch(call, mode, 1, B, I, H, 0, [d], xv, None, None, dt)
    if not batched:
        h, c = h[0], (None if c is None else c[0])
    return h if mode != "lstm" else (h, c)


def rnn_tanh_cell(x, hx, w_ih, w_hh, b_ih=None, b_hh=None, *, backend=None):
    """One step of torch's RNNCell (tanh): h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh).

    x: [B, I] or [I]; hx: [B, H] / [H] or None (zeros); w_ih: [H, I]; w_hh: [H, H];
    b_ih, b_hh: [H] or None. Returns h' [B, H] (or [H]).

    Example:
        >>> x = np.ones((2, 3), np.float32); w_ih = np.full((4, 3), 0.1, np.float32)
        >>> h = pydeepkit.ops.rnn_tanh_cell(x, None, w_ih, np.zeros((4, 4), np.float32))
        >>> h.shape, round(float(h[0, 0]), 4)
        ((2, 4), 0.2913)
    """
    return _cell("rnn_tanh_cell", "rnn_tanh", x, hx, None, w_ih, w_hh, b_ih, b_hh, None, backend)


def rnn_relu_cell(x, hx, w_ih, w_hh, b_ih=None, b_hh=None, *, backend=None):
    """One step of torch's RNNCell (relu): h' = relu(x W_ih^T + b_ih + h W_hh^T + b_hh).

    Shapes as :func:`rnn_tanh_cell`.

    Example:
        >>> x = np.ones((1, 2), np.float32); w = np.array([[1, 1], [-1, -1]], np.float32)
        >>> pydeepkit.ops.rnn_relu_cell(x, None, w, np.zeros((2, 2), np.float32)).tolist()
        [[2.0, 0.0]]
    """
    return _cell("rnn_relu_cell", "rnn_relu", x, hx, None, w_ih, w_hh, b_ih, b_hh, None, backend)


def lstm_cell(x, hx, cx, w_ih, w_hh, b_ih=None, b_hh=None, w_peephole=None, *, backend=None):
    """One step of torch's LSTMCell (gates i, f, g, o), optionally with peepholes.

    x: [B, I] or [I]; hx, cx: [B, H] / [H] or None (zeros); w_ih: [4H, I]; w_hh: [4H, H];
    b_ih, b_hh: [4H] or None; w_peephole: [3, H] (rows i, f, o; i and f see c, o sees c') or
    None. Returns (h' [B, H], c' [B, H]).

    Example:
        >>> x = np.ones((2, 3), np.float32)
        >>> h, c = pydeepkit.ops.lstm_cell(x, None, None, np.full((8, 3), 0.5, np.float32),
        ...                                np.zeros((8, 2), np.float32))
        >>> h.shape, round(float(c[0, 0]), 4), round(float(h[0, 0]), 4)
        ((2, 2), 0.74, 0.5144)
    """
    return _cell("lstm_cell", "lstm", x, hx, cx, w_ih, w_hh, b_ih, b_hh, w_peephole, backend)


def gru_cell(x, hx, w_ih, w_hh, b_ih=None, b_hh=None, *, backend=None):
    """One step of torch's GRUCell (gates r, z, n; n = tanh(x_n + r * (W_hn h + b_hn))).

    x: [B, I] or [I]; hx: [B, H] / [H] or None; w_ih: [3H, I]; w_hh: [3H, H]; b_ih, b_hh: [3H]
    or None. Returns h' [B, H].

    Example:
        >>> x = np.ones((1, 2), np.float32)
        >>> h = pydeepkit.ops.gru_cell(x, np.ones((1, 2), np.float32), np.zeros((6, 2), np.float32),
        ...                            np.zeros((6, 2), np.float32))
        >>> h.tolist()
        [[0.5, 0.5]]
    """
    return _cell("gru_cell", "gru", x, hx, None, w_ih, w_hh, b_ih, b_hh, None, backend)


# ---------------------------------------------------------------------------------------
# sequences
# ---------------------------------------------------------------------------------------
def _param(call, params, key, dtype, shape, required=True):
    if key not in params or params[key] is None:
        if required:
            raise ValueError(f"{call.op}: params has no {key!r} (expected shape {tuple(shape)})")
        return None
    return _array(call, params[key], f"params[{key!r}]", dtype, shape)


def rnn(x, params, hx=None, *, mode="lstm", num_layers=1, bidirectional=False, batch_first=False, lengths=None,
        proj_size=0, backend=None):
    """Forward of torch.nn.RNN / LSTM / GRU from a state_dict.

    x: [T, B, I] ([B, T, I] with batch_first) or unbatched [T, I]; params: mapping of torch's
    names (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, ``..._reverse``,
    ``weight_hr_l0`` for proj_size, optional ``weight_peephole_l0`` [3, H]) to arrays or tensors;
    hx: h0 [L*D, B, Ho] (LSTM: a tuple (h0, c0 [L*D, B, H])) or None for zeros; mode: 'lstm',
    'gru', 'rnn_tanh' or 'rnn_relu'; lengths: [B] valid steps per sequence (packed-sequence
    semantics, see the module) or None. Ho = proj_size or H, D = 2 if bidirectional.
    Returns (output [T, B, D*Ho], h_n [L*D, B, Ho]), for LSTM (output, (h_n, c_n [L*D, B, H])).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> params = {"weight_ih_l0": rng.standard_normal((9, 4)).astype(np.float32),
        ...           "weight_hh_l0": rng.standard_normal((9, 3)).astype(np.float32)}
        >>> out, h_n = pydeepkit.ops.rnn(np.ones((5, 2, 4), np.float32), params, mode="gru")
        >>> out.shape, h_n.shape, bool(np.allclose(out[-1], h_n[0], atol=1e-6))
        ((5, 2, 3), (1, 2, 3), True)
    """
    op = mode if mode in ("lstm", "gru") else "rnn"
    if mode not in MODES:
        raise ValueError(f"{op}: mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    if not hasattr(params, "keys"):
        raise TypeError(f"{op}: params must be a mapping of torch parameter names (a state_dict), "
                        f"got {type(params).__name__}")
    L = _index(op, "num_layers", num_layers, 1)
    P = _index(op, "proj_size", proj_size, 0)
    if P and mode != "lstm":
        raise ValueError(f"{op}: proj_size is for LSTM only, got proj_size={P} with mode {mode!r}")
    if mode == "lstm" and hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
        raise TypeError(f"{op}: hx must be a tuple (h0, c0) for LSTM, got {_backend.describe(hx)}")
    h0, c0 = (hx if hx is not None else (None, None)) if mode == "lstm" else (hx, None)
    call = _backend.resolve(op, backend, optional=("h0", "c0"), x=x, h0=h0, c0=c0)
    xv = call.view(x, "x")
    if xv.ndim not in (2, 3):
        raise ValueError(f"{op}: x must be [T, B, input_size] (batch_first: [B, T, input_size]) or "
                         f"unbatched [T, input_size], got shape {tuple(xv.shape)}")
    batched = xv.ndim == 3
    if not batched:
        xv = xv[:, None]
    elif batch_first:
        xv = xv.transpose(1, 0, 2)
    xv = call.contiguous(xv)
    T, B, I = xv.shape
    dt, G, D = xv.dtype, GATES[mode], 2 if bidirectional else 1
    whh0 = _param(call, params, "weight_hh_l0", dt, None)
    if whh0.ndim != 2 or whh0.shape[0] == 0 or whh0.shape[0] % G:
        raise ValueError(f"{op}: params['weight_hh_l0'] must be [{G} * hidden_size, "
                         f"{'proj_size' if P else 'hidden_size'}], got shape {tuple(whh0.shape)}")
    H = whh0.shape[0] // G
    if P >= H:
        raise ValueError(f"{op}: proj_size must be < hidden_size = {H}, got {P}")
    Ho = P or H
    if P == 0 and "weight_hr_l0" in params:
        raise ValueError(f"{op}: params has 'weight_hr_l0' (a projection) but proj_size=0; pass proj_size")
    for sfx in ("", "_reverse"):
        if D == 1 and f"weight_ih_l0{sfx}" in params and sfx:
            raise ValueError(f"{op}: params has 'weight_ih_l0_reverse' but bidirectional=False")
    if f"weight_ih_l{L}" in params:
        raise ValueError(f"{op}: params has 'weight_ih_l{L}' but num_layers={L}")
    lens = None if lengths is None else _lengths(call, lengths, T, B)

    state = (L * D, B, Ho) if batched else (L * D, Ho)
    cstate = (L * D, B, H) if batched else (L * D, H)
    h0v = None if h0 is None else _array(call, h0, "hx[0]" if mode == "lstm" else "hx", dt, state)
    c0v = None if c0 is None else _array(call, c0, "hx[1]", dt, cstate)
    h_n, hnv = call.empty((L * D, B, Ho), dt)
    c_n, cnv = call.empty((L * D, B, H), dt) if mode == "lstm" else (None, None)
    if h0v is not None:
        h0v = h0v.reshape(L * D, B, Ho)
    if c0v is not None:
        c0v = c0v.reshape(L * D, B, H)

    layer_in = xv
    out = outv = None
    for layer in range(L):
        dirs = []
        in_size = I if layer == 0 else D * Ho
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            k = layer * D + d
            dirs.append({
                "w_ih": _param(call, params, "weight_ih" + sfx, dt, (G * H, in_size)),
                "w_hh": _param(call, params, "weight_hh" + sfx, dt, (G * H, Ho)),
                "b_ih": _param(call, params, "bias_ih" + sfx, dt, (G * H,), required=False),
                "b_hh": _param(call, params, "bias_hh" + sfx, dt, (G * H,), required=False),
                "w_hr": _param(call, params, "weight_hr" + sfx, dt, (P, H)) if P else None,
                "w_peephole": (_param(call, params, "weight_peephole" + sfx, dt, (3, H), required=False)
                               if mode == "lstm" else None),
                "h0": None if h0v is None else h0v[k], "c0": None if c0v is None else c0v[k],
                "hn": hnv[k], "cn": None if cnv is None else cnv[k],
            })
        out, outv = call.empty((T, B, D * Ho), dt)
        if B:
            _launch(call, mode, T, B, in_size, H, P, dirs, layer_in, lens, outv, dt)
        layer_in = outv
    if not batched:
        output = out[:, 0]
        h_n, c_n = h_n[:, 0], (None if c_n is None else c_n[:, 0])
    elif batch_first:
        output, view = call.empty((B, T, D * Ho), dt)
        view[...] = outv.transpose(1, 0, 2)
    else:
        output = out
    return (output, (h_n, c_n)) if mode == "lstm" else (output, h_n)


def lstm(x, params, hx=None, **kwargs):
    """:func:`rnn` with mode='lstm' (torch.nn.LSTM's forward; proj_size and peepholes supported).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> params = {"weight_ih_l0": rng.standard_normal((8, 3)).astype(np.float32),
        ...           "weight_hh_l0": rng.standard_normal((8, 2)).astype(np.float32)}
        >>> out, (h_n, c_n) = pydeepkit.ops.lstm(np.ones((4, 1, 3), np.float32), params, bidirectional=False)
        >>> out.shape, h_n.shape, c_n.shape
        ((4, 1, 2), (1, 1, 2), (1, 1, 2))
    """
    return rnn(x, params, hx, mode="lstm", **kwargs)


def gru(x, params, hx=None, **kwargs):
    """:func:`rnn` with mode='gru' (torch.nn.GRU's forward).

    Example:
        >>> params = {"weight_ih_l0": np.zeros((6, 3), np.float32), "weight_hh_l0": np.zeros((6, 2), np.float32)}
        >>> out, h_n = pydeepkit.ops.gru(np.ones((4, 3), np.float32), params)  # unbatched [T, I]
        >>> out.shape, h_n.tolist()
        ((4, 2), [[0.0, 0.0]])
    """
    return rnn(x, params, hx, mode="gru", **kwargs)
