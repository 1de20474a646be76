"""RNN family (rnn_tanh/rnn_relu/lstm/gru cells, rnn/lstm/gru sequences): kernels on every backend
against the numpy references of pydeepkit.reference.rnn (every mode, layers, directions,
batch_first, proj_size, peepholes, packed lengths, both CUDA paths), edge cases (empty batch,
zero length, unbatched, odd sizes, strided inputs), argument errors naming the parameter, and
parity with torch.nn.RNN/LSTM/GRU and their cells. Emulated cases stay at a few 10^4 thread steps."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import to_numpy
from pydeepkit import _ext, ops
from pydeepkit import reference as ref

DTYPES = (np.float32, np.float64)
MODES = ("rnn_tanh", "rnn_relu", "lstm", "gru")
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}
# float32: the recurrence compounds the rounding of the gate sums (and the CPU's polynomial exp)
TOL = {np.float32: (2e-4, 2e-5), np.float64: (1e-10, 1e-11)}


def close(got, want, dtype, msg=""):
    a = to_numpy(got)
    e = np.asarray(want)
    assert a.shape == e.shape, f"{msg}: shape {a.shape}, expected {e.shape}"
    assert a.dtype == e.dtype, f"{msg}: dtype {a.dtype}, expected {e.dtype}"
    rtol, atol = TOL[np.dtype(dtype).type]
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=msg)


def make_params(rng, mode, I, H, layers=1, bidirectional=False, proj=0, bias=True, peephole=False,
                dtype=np.float32, scale=0.5):
    """A state_dict of numpy arrays with torch's names and shapes."""
    G, D, Ho = GATES[mode], 2 if bidirectional else 1, proj or H
    params = {}
    for layer in range(layers):
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            shapes = {"weight_ih": (G * H, I if layer == 0 else D * Ho), "weight_hh": (G * H, Ho)}
            if bias:
                shapes.update(bias_ih=(G * H,), bias_hh=(G * H,))
            if proj:
                shapes["weight_hr"] = (proj, H)
            if peephole:
                shapes["weight_peephole"] = (3, H)
            for name, shape in shapes.items():
                params[name + sfx] = (rng.uniform(-scale, scale, shape)).astype(dtype)
    return params


def on(backend, params):
    return {k: backend.asarray(v) for k, v in params.items()}


def cuda_paths(backend):
    """The recurrence paths a backend has: both CUDA paths on emu/cuda (forced in turn), one on the CPU."""
    if backend.name == "cpu":
        yield "cpu"
        return
    mod = _ext.module(backend.name)
    try:
        for path in ("step", "sequence"):
            mod.set_rnn_path(path)
            yield path
    finally:
        mod.set_rnn_path("auto")


# ---------------------------------------------------------------------------------------
# cells vs references, every backend
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("B,I,H", [(3, 5, 7), (1, 4, 33), (1, 21, 50), (16, 3, 40)])
def test_cells_match_reference(backend, rng, dtype, mode, B, I, H):
    G = GATES[mode]
    x = rng.standard_normal((B, I)).astype(dtype)
    h = rng.standard_normal((B, H)).astype(dtype)
    c = rng.standard_normal((B, H)).astype(dtype)
    w_ih = rng.uniform(-0.5, 0.5, (G * H, I)).astype(dtype)
    w_hh = rng.uniform(-0.5, 0.5, (G * H, H)).astype(dtype)
    b_ih, b_hh = (rng.uniform(-0.5, 0.5, G * H).astype(dtype) for _ in range(2))
    A = backend.asarray
    if mode == "lstm":
        for peep in (None, rng.uniform(-1, 1, (3, H)).astype(dtype)):
            got = ops.lstm_cell(A(x), A(h), A(c), A(w_ih), A(w_hh), A(b_ih), A(b_hh),
                                None if peep is None else A(peep), **backend.kw)
            want = ref.lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh, peep)
            close(got[0], want[0], dtype, f"h peephole={peep is not None}")
            close(got[1], want[1], dtype, f"c peephole={peep is not None}")
        got = ops.lstm_cell(A(x), None, None, A(w_ih), A(w_hh), **backend.kw)
        want = ref.lstm_cell(x, None, None, w_ih, w_hh)
        close(got[0], want[0], dtype, "no state, no bias")
        return
    fn, rf = getattr(ops, f"{mode}_cell"), getattr(ref, f"{mode}_cell")
    close(fn(A(x), A(h), A(w_ih), A(w_hh), A(b_ih), A(b_hh), **backend.kw), rf(x, h, w_ih, w_hh, b_ih, b_hh), dtype)
    close(fn(A(x), None, A(w_ih), A(w_hh), **backend.kw), rf(x, None, w_ih, w_hh), dtype, "no state")


def test_unbatched_cell(backend, rng):
    x, h = rng.standard_normal(4).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    w_ih, w_hh = rng.standard_normal((18, 4)).astype(np.float32), rng.standard_normal((18, 6)).astype(np.float32)
    got = ops.gru_cell(backend.asarray(x), backend.asarray(h), backend.asarray(w_ih), backend.asarray(w_hh),
                       **backend.kw)
    close(got, ref.gru_cell(x, h, w_ih, w_hh), np.float32)


# ---------------------------------------------------------------------------------------
# sequences vs references, every backend (both CUDA paths)
# ---------------------------------------------------------------------------------------
SEQ_CASES = [
    # mode, T, B, I, H, layers, bidirectional, proj, peephole
    ("lstm", 5, 3, 4, 6, 1, False, 0, False),
    ("lstm", 4, 5, 3, 9, 2, True, 0, False),
    ("lstm", 4, 3, 5, 8, 2, True, 3, False),
    ("lstm", 3, 2, 3, 7, 1, True, 0, True),
    ("lstm", 3, 2, 3, 7, 2, False, 4, True),
    ("gru", 5, 3, 4, 6, 1, False, 0, False),
    ("gru", 4, 4, 3, 10, 2, True, 0, False),
    ("rnn_tanh", 5, 3, 4, 6, 2, True, 0, False),
    ("rnn_relu", 4, 2, 5, 5, 1, False, 0, False),
    # 4 rows or more fold the input projection into the step's tiles (rnn_cpu_fuses_input) for
    # LSTM and plain RNNs: with projections and peepholes, and over two row panels
    ("lstm", 4, 6, 5, 9, 1, True, 3, True),
    ("lstm", 3, 17, 6, 11, 2, False, 0, True),
    ("rnn_tanh", 4, 16, 3, 7, 1, True, 0, False),
    ("rnn_relu", 3, 4, 5, 5, 2, False, 0, False),
    # a batch of one multiplies the unpacked weights (rnn_cpu_multiplies_rows): several hidden
    # blocks, the last one short, depths off the vector width, projections, peepholes
    ("lstm", 4, 1, 19, 37, 2, True, 0, True),
    ("lstm", 3, 1, 5, 40, 1, False, 21, False),
    ("gru", 4, 1, 6, 35, 1, True, 0, False),
    ("rnn_tanh", 4, 1, 3, 17, 1, False, 0, False),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", SEQ_CASES, ids=lambda c: "-".join(map(str, c)))
def test_sequence_matches_reference(backend, rng, case, dtype):
    mode, T, B, I, H, layers, bidir, proj, peep = case
    params = make_params(rng, mode, I, H, layers, bidir, proj, peephole=peep, dtype=dtype)
    D, Ho = 2 if bidir else 1, proj or H
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0 = rng.standard_normal((layers * D, B, Ho)).astype(dtype)
    c0 = rng.standard_normal((layers * D, B, H)).astype(dtype)
    hx = (h0, c0) if mode == "lstm" else h0
    hxb = tuple(backend.asarray(v) for v in hx) if mode == "lstm" else backend.asarray(hx)
    lengths = rng.integers(0, T + 1, B)
    lengths[0] = T
    kw = dict(mode=mode, num_layers=layers, bidirectional=bidir, proj_size=proj)
    for path, (with_hx, lens) in ((p, v) for p in cuda_paths(backend)
                                  for v in ((True, None), (False, lengths), (True, lengths))):
        got = ops.rnn(backend.asarray(x), on(backend, params), hxb if with_hx else None, lengths=lens,
                      **kw, **backend.kw)
        want = ref.rnn(x, params, hx if with_hx else None, lengths=lens, **kw)
        msg = f"{path} hx={with_hx} lengths={lens}"
        close(got[0], want[0], dtype, "output " + msg)
        if mode == "lstm":
            close(got[1][0], want[1][0], dtype, "h_n " + msg)
            close(got[1][1], want[1][1], dtype, "c_n " + msg)
        else:
            close(got[1], want[1], dtype, "h_n " + msg)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_batch_first_unbatched_strided(backend, rng, mode):
    params = make_params(rng, mode, 4, 5, 1, True)
    x = rng.standard_normal((3, 6, 8)).astype(np.float32)[:, :, ::2]  # [B, T, I], strided
    fn = getattr(ops, mode)
    got = fn(backend.asarray(x), on(backend, params), bidirectional=True, batch_first=True, **backend.kw)
    want = ref.rnn(x, params, mode=mode, bidirectional=True, batch_first=True)
    close(got[0], want[0], np.float32, "batch_first output")
    xu = x[0]  # unbatched [T, I]
    got = fn(backend.asarray(xu), on(backend, params), bidirectional=True, **backend.kw)
    want = ref.rnn(xu, params, mode=mode, bidirectional=True)
    close(got[0], want[0], np.float32, "unbatched output")
    close(got[1][0] if mode == "lstm" else got[1], want[1][0] if mode == "lstm" else want[1], np.float32,
          "unbatched h_n")


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_batch_of_one_shorter_than_input(backend, rng, mode):
    """A batch of one whose length stops before T (the sequence cases always give row 0 all of T):
    zeros past it, h_n at its last step, the reverse direction starting there."""
    params = make_params(rng, mode, 5, 37, 1, True)
    x = rng.standard_normal((6, 1, 5)).astype(np.float32)
    for length in (0, 1, 4):
        got = ops.rnn(backend.asarray(x), on(backend, params), mode=mode, bidirectional=True,
                      lengths=np.array([length]), **backend.kw)
        want = ref.rnn(x, params, mode=mode, bidirectional=True, lengths=np.array([length]))
        close(got[0], want[0], np.float32, f"output length={length}")
        for g, w in zip(got[1] if mode == "lstm" else [got[1]], want[1] if mode == "lstm" else [want[1]]):
            close(g, w, np.float32, f"state length={length}")


def test_tile_edges(backend, rng):
    """Batch rows across several register-tile panels and hidden sizes off the vector width."""
    big = backend.name == "cpu"
    cases = (("lstm", 31 if big else 9, 37 if big else 11), ("gru", 15, 33 if big else 13))
    for path, (mode, B, H) in ((p, c) for p in cuda_paths(backend) for c in cases):
        params = make_params(rng, mode, 7, H, 1, True, dtype=np.float32)
        x = rng.standard_normal((3, B, 7)).astype(np.float32)
        lengths = rng.integers(1, 4, B)
        got = ops.rnn(backend.asarray(x), on(backend, params), mode=mode, bidirectional=True, lengths=lengths,
                      **backend.kw)
        want = ref.rnn(x, params, mode=mode, bidirectional=True, lengths=lengths)
        close(got[0], want[0], np.float32, f"{path} {mode} B={B} H={H}")


def test_large_weights_keep_the_input_gemm(rng):
    """An LSTM whose packed [W_ih | W_hh] (13.5 MB) is past what the CPU folds into the step
    (rnn_cpu_fuses_input): the input GEMM and the recurrent tiles over two row panels, with lengths."""
    T, B, I, H = 3, 15, 1100, 520
    params = make_params(rng, "lstm", I, H, 1, False, dtype=np.float32, scale=0.03)  # gates not saturated
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    lengths = rng.integers(1, T + 1, B)
    got = ops.rnn(x, params, lengths=lengths, mode="lstm", backend="cpu")
    want = ref.rnn(x, params, lengths=lengths, mode="lstm")
    close(got[0], want[0], np.float32, "output")
    close(got[1][1], want[1][1], np.float32, "c_n")


def test_empty_batch_and_zero_length(backend, rng):
    params = make_params(rng, "lstm", 3, 4, 2, True)
    out, (h, c) = ops.lstm(backend.asarray(np.zeros((5, 0, 3), np.float32)), on(backend, params), num_layers=2,
                           bidirectional=True, **backend.kw)
    assert to_numpy(out).shape == (5, 0, 8) and to_numpy(h).shape == (4, 0, 4) and to_numpy(c).shape == (4, 0, 4)
    h0 = rng.standard_normal((4, 2, 4)).astype(np.float32)
    c0 = rng.standard_normal((4, 2, 4)).astype(np.float32)
    out, (h, c) = ops.lstm(backend.asarray(np.zeros((0, 2, 3), np.float32)), on(backend, params),
                           (backend.asarray(h0), backend.asarray(c0)), num_layers=2, bidirectional=True, **backend.kw)
    assert to_numpy(out).shape == (0, 2, 8)
    close(h, h0, np.float32, "h_n = h0")
    close(c, c0, np.float32, "c_n = c0")
    out, h = ops.gru(backend.asarray(np.zeros((0, 2, 3), np.float32)), on(backend, make_params(rng, "gru", 3, 4)),
                     **backend.kw)
    close(h, np.zeros((1, 2, 4), np.float32), np.float32, "zero h0")
    zeros = [backend.asarray(np.zeros(s, np.float32)) for s in ((0, 3), (4, 3), (4, 4))]
    got = ops.rnn_tanh_cell(zeros[0], None, zeros[1], zeros[2], **backend.kw)
    assert to_numpy(got).shape == (0, 4)


# ---------------------------------------------------------------------------------------
# argument errors
# ---------------------------------------------------------------------------------------
def test_argument_errors(rng):
    params = make_params(rng, "lstm", 3, 4, 2, True, proj=2)
    x = np.zeros((5, 2, 3), np.float32)
    kw = dict(num_layers=2, bidirectional=True, proj_size=2)
    ops.lstm(x, params, **kw)
    missing = dict(params)
    del missing["weight_hh_l1_reverse"]
    with pytest.raises(ValueError, match="weight_hh_l1_reverse"):
        ops.lstm(x, missing, **kw)
    with pytest.raises(ValueError, match=r"weight_ih_l0.*shape \(16, 4\), got \(16, 3\)"):
        ops.lstm(np.zeros((5, 2, 4), np.float32), params, **kw)
    with pytest.raises(ValueError, match="weight_hr_l0.*proj_size"):
        ops.lstm(x, params, num_layers=2, bidirectional=True)
    with pytest.raises(ValueError, match="proj_size is for LSTM only"):
        ops.gru(x, make_params(rng, "gru", 3, 4), proj_size=2)
    with pytest.raises(ValueError, match="proj_size must be < hidden_size"):
        ops.lstm(x, make_params(rng, "lstm", 3, 4), proj_size=4)
    with pytest.raises(ValueError, match=r"hx\[0\] must have shape \(4, 2, 2\)"):
        ops.lstm(x, params, (np.zeros((4, 2, 4), np.float32), np.zeros((4, 2, 4), np.float32)), **kw)
    with pytest.raises(ValueError, match=r"hx\[1\] must have shape \(4, 2, 4\)"):
        ops.lstm(x, params, (np.zeros((4, 2, 2), np.float32), np.zeros((4, 2, 2), np.float32)), **kw)
    with pytest.raises(TypeError, match="tuple"):
        ops.lstm(x, params, np.zeros((4, 2, 2), np.float32), **kw)
    with pytest.raises(ValueError, match="mode must be one of"):
        ops.rnn(x, params, mode="lstmx")
    with pytest.raises(ValueError, match="weight_ih_l2.*num_layers=2"):
        ops.lstm(x, make_params(rng, "lstm", 3, 4, 3, True, proj=2), **kw)
    with pytest.raises(ValueError, match="_reverse.*bidirectional=False"):
        ops.lstm(x, params, num_layers=2, proj_size=2)
    with pytest.raises(ValueError, match="lengths must lie in"):
        ops.lstm(x, params, lengths=[6, 1], **kw)
    with pytest.raises(ValueError, match="lengths must be 2 integers"):
        ops.lstm(x, params, lengths=[1, 2, 3], **kw)
    with pytest.raises(TypeError, match="dtype float32"):
        ops.lstm(x, {k: v.astype(np.float64) for k, v in params.items()}, **kw)
    with pytest.raises(ValueError, match="x must be"):
        ops.lstm(np.zeros(3, np.float32), params, **kw)
    with pytest.raises(ValueError, match=r"w_hh must be \[4 \* hidden_size, hidden_size\]"):
        ops.lstm_cell(np.zeros((2, 3), np.float32), None, None, np.zeros((16, 3), np.float32),
                      np.zeros((16, 5), np.float32))
    with pytest.raises(ValueError, match=r"w_ih must have shape \(16, 3\)"):
        ops.lstm_cell(np.zeros((2, 3), np.float32), None, None, np.zeros((16, 4), np.float32),
                      np.zeros((16, 4), np.float32))
    with pytest.raises(ValueError, match=r"hx must have shape \(2, 4\)"):
        ops.gru_cell(np.zeros((2, 3), np.float32), np.zeros((2, 5), np.float32), np.zeros((12, 3), np.float32),
                     np.zeros((12, 4), np.float32))
    with pytest.raises(ValueError, match=r"w_peephole must have shape \(3, 4\)"):
        ops.lstm_cell(np.zeros((2, 3), np.float32), None, None, np.zeros((16, 3), np.float32),
                      np.zeros((16, 4), np.float32), w_peephole=np.zeros((4, 4), np.float32))
    with pytest.raises(TypeError, match="params must be a mapping"):
        ops.gru(x, [1, 2])
    with pytest.raises(ValueError, match="num_layers must be >= 1"):
        ops.gru(x, params, num_layers=0)


@pytest.fixture(params=["team", "solo", "auto"])
def cpu_team(request):
    """The CPU recurrence under each way its threads share the steps (auto restored after)."""
    cpu = _ext.module("cpu")
    if cpu.info()["omp_threads"] < 2:
        pytest.skip("one OpenMP thread: the recurrence never forms a team")
    cpu.set_rnn_team(request.param)
    yield request.param
    cpu.set_rnn_team("auto")


@pytest.mark.parametrize("mode,bidir,proj", [("lstm", True, 0), ("lstm", True, 24), ("gru", True, 0),
                                             ("gru", False, 0)])
def test_thread_team_policies(rng, cpu_team, mode, bidir, proj):
    """Steps large enough for two threads (H = 70: a partial last block; lengths, so some rows stop
    early), shared as a team, carried on alone from step 1 ('solo'), or as the load decides. Every
    case does at least 64K multiply-adds per step, the threshold for a team (rnn_cpu.cpp)."""
    T, B, I, H = 7, 5, 16, 70
    params = make_params(rng, mode, I, H, 1, bidir, proj)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    lengths = np.array([7, 3, 0, 6, 1])
    got = ops.rnn(x, params, lengths=lengths, mode=mode, bidirectional=bidir, proj_size=proj, backend="cpu")
    want = ref.rnn(x, params, lengths=lengths, mode=mode, bidirectional=bidir, proj_size=proj)
    close(got[0], want[0], np.float32, f"{cpu_team} output")
    hn, want_hn = (got[1][0], want[1][0]) if mode == "lstm" else (got[1], want[1])
    close(hn, want_hn, np.float32, f"{cpu_team} h_n")
    # one step with the input projection fused in (the cells' path)
    w_ih, w_hh = ((rng.standard_normal((4 * 64, n)) * 0.2).astype(np.float32) for n in (32, 64))
    xs, h, c = (rng.standard_normal((32, n)).astype(np.float32) for n in (32, 64, 64))
    got_h, got_c = ops.lstm_cell(xs, h, c, w_ih, w_hh, backend="cpu")
    want_h, want_c = ref.lstm_cell(xs, h, c, w_ih, w_hh)
    close(got_h, want_h, np.float32, f"{cpu_team} lstm_cell h")
    close(got_c, want_c, np.float32, f"{cpu_team} lstm_cell c")


def test_rnn_team_setting():
    cpu = _ext.module("cpu")
    with pytest.raises(ValueError, match="'auto', 'team' or 'solo'"):
        cpu.set_rnn_team("fast")
    assert cpu.rnn_team() == "auto"


def test_rnn_path_setting():
    for name in ("emu", "cuda"):
        if not _ext.available(name):
            continue
        mod = _ext.module(name)
        with pytest.raises(ValueError, match="'auto', 'step' or 'sequence'"):
            mod.set_rnn_path("fast")
        assert mod.rnn_path() == "auto"


# ---------------------------------------------------------------------------------------
# torch parity
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _state(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind,layers,bidir,batch_first,proj", [
    ("LSTM", 1, False, False, 0), ("LSTM", 2, True, True, 0), ("LSTM", 3, True, False, 3),
    ("LSTM", 2, False, True, 2), ("GRU", 1, True, False, 0), ("GRU", 3, False, True, 0),
    ("RNN", 2, True, False, 0), ("RNN_relu", 1, False, True, 0),
])
def test_parity_torch_modules(torch, host_backend, dtype, kind, layers, bidir, batch_first, proj):
    torch.manual_seed(0)
    tdt = getattr(torch, np.dtype(dtype).name)
    I, H, T, B = 5, 8, 6, 4
    extra = dict(proj_size=proj) if proj else {}
    if kind.startswith("RNN"):
        extra["nonlinearity"] = "relu" if kind == "RNN_relu" else "tanh"
    cls = getattr(torch.nn, kind.split("_")[0])
    m = cls(I, H, num_layers=layers, bidirectional=bidir, batch_first=batch_first, **extra).to(tdt)
    mode = {"LSTM": "lstm", "GRU": "gru", "RNN": "rnn_tanh", "RNN_relu": "rnn_relu"}[kind]
    x = torch.randn((B, T, I) if batch_first else (T, B, I), dtype=tdt)
    kw = dict(mode=mode, num_layers=layers, bidirectional=bidir, batch_first=batch_first, proj_size=proj,
              backend=host_backend)
    with torch.no_grad():
        want_out, want_h = m(x)
        # torch tensors in (state_dict as is) -> torch tensors out
        got_out, got_h = ops.rnn(x, m.state_dict(), **kw)
        assert isinstance(got_out, torch.Tensor)
        close(got_out, want_out.numpy(), dtype, "output")
        if mode == "lstm":
            close(got_h[0], want_h[0].numpy(), dtype, "h_n")
            close(got_h[1], want_h[1].numpy(), dtype, "c_n")
        else:
            close(got_h, want_h.numpy(), dtype, "h_n")
        # packed sequences (unsorted lengths) against pack_padded_sequence
        lengths = torch.tensor([T, 2, 5, 1])
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
        pout, ph = m(packed)
        pout, _ = torch.nn.utils.rnn.pad_packed_sequence(pout, batch_first=batch_first, total_length=T)
        got_out, got_h = ops.rnn(x.numpy(), _state(m), lengths=lengths, **kw)
        close(got_out, pout.numpy(), dtype, "packed output")
        close(got_h[0] if mode == "lstm" else got_h, (ph[0] if mode == "lstm" else ph).numpy(), dtype, "packed h_n")


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell_tanh", "RNNCell_relu"])
def test_parity_torch_cells(torch, host_backend, kind):
    torch.manual_seed(1)
    name, _, nl = kind.partition("_")
    cell = getattr(torch.nn, name)(5, 7, **({"nonlinearity": nl} if nl else {}))
    x, h, c = torch.randn(3, 5), torch.randn(3, 7), torch.randn(3, 7)
    w = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    with torch.no_grad():
        if name == "LSTMCell":
            want = cell(x, (h, c))
            got = ops.lstm_cell(x, h, c, *w, backend=host_backend)
            close(got[0], want[0].numpy(), np.float32, "h")
            close(got[1], want[1].numpy(), np.float32, "c")
        else:
            fn = ops.gru_cell if name == "GRUCell" else getattr(ops, f"rnn_{nl}_cell")
            close(fn(x, h, *w, backend=host_backend), cell(x, h).numpy(), np.float32)


def test_cpu_calls_from_threads_never_share_a_workspace():
    """The CPU path keeps its workspace (every step's pre-activations here: 480 KB) for the calling
    thread's next call (test_scratch.py checks results do not depend on what it holds); calls from
    several threads at once each use their own and give the results of calls made one by one."""
    import threading
    rng = np.random.default_rng(7)
    T, B, I, H = 40, 3, 5, 256
    params = {"weight_ih_l0": rng.uniform(-0.1, 0.1, (4 * H, I)).astype(np.float32),
              "weight_hh_l0": rng.uniform(-0.1, 0.1, (4 * H, H)).astype(np.float32)}
    xs = [rng.uniform(-1, 1, (T, B, I)).astype(np.float32) for _ in range(4)]
    ops.release_workspaces()
    want = [ops.lstm(x, params)[0] for x in xs]
    assert _ext.module("cpu").scratch_kept_bytes() >= T * B * 4 * H * 4
    got = [None] * len(xs)

    def run(i):
        for _ in range(10):
            got[i] = ops.lstm(xs[i], params)[0]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    ops.release_workspaces()
    assert _ext.module("cpu").scratch_kept_bytes() == 0
