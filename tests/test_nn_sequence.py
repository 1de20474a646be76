"""Sequence layers of pydeepkit.nn: RNN/LSTM/GRU (and their cells) and MultiheadAttention, built
with torch's arguments, loaded from the torch module's state_dict and compared with torch's eval
outputs on the CPU and on the emulator (small sizes there); float64 on the CPU; torch-free checks
of the parameter names, the dropout-between-layers path and the constructor errors."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import to_numpy
import pydeepkit.nn as nn

torch = pytest.importorskip("torch")

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-10)}


def ours_from(torch_module, ours, device, dtype=np.float32):
    ours.load_state_dict({k: v.detach().numpy().astype(dtype) for k, v in torch_module.state_dict().items()})
    return ours.to(device).eval()


def check(got, want, dtype=np.float32):
    np.testing.assert_allclose(to_numpy(got), want.detach().numpy(), **TOL[dtype])


# ---------------------------------------------------------------------------------------
# RNN / LSTM / GRU
# ---------------------------------------------------------------------------------------
RECURRENT = [  # (class name, kwargs)
    ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("LSTM", dict(batch_first=True, proj_size=3)),
    ("GRU", dict(num_layers=2, batch_first=True)),
    ("GRU", dict(bidirectional=True, bias=False)),
    ("RNN", dict(nonlinearity="relu", num_layers=2)),
    ("RNN", dict(bidirectional=True)),
]


@pytest.mark.parametrize("name,kwargs", RECURRENT, ids=lambda v: str(v))
def test_recurrent_parity(host_backend, name, kwargs):
    device = host_backend
    torch.manual_seed(0)
    I, H, T, B = 5, 6, 7, 3
    theirs = getattr(torch.nn, name)(I, H, **kwargs).eval()
    ours = ours_from(theirs, getattr(nn, name)(I, H, **kwargs), device)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = torch.randn((B, T, I) if kwargs.get("batch_first") else (T, B, I))
    D, L = 2 if kwargs.get("bidirectional") else 1, kwargs.get("num_layers", 1)
    Ho = kwargs.get("proj_size") or H
    h0 = torch.randn(L * D, B, Ho)
    hx = (h0, torch.randn(L * D, B, H)) if name == "LSTM" else h0
    with torch.no_grad():
        want_out, want_h = theirs(x, hx)
    hx_np = tuple(t.numpy() for t in hx) if name == "LSTM" else hx.numpy()
    out, h = ours(x.numpy(), hx_np)
    check(out, want_out)
    for got, want in zip(h if name == "LSTM" else (h,), want_h if name == "LSTM" else (want_h,)):
        check(got, want)


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_recurrent_lengths_match_packed_sequences(name):
    torch.manual_seed(1)
    theirs = getattr(torch.nn, name)(4, 5, bidirectional=True).eval()
    ours = ours_from(theirs, getattr(nn, name)(4, 5, bidirectional=True), "cpu")
    x, lengths = torch.randn(6, 3, 4), torch.tensor([6, 2, 4])
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    with torch.no_grad():
        out_p, want_h = theirs(packed)
    want_out, _ = torch.nn.utils.rnn.pad_packed_sequence(out_p, total_length=6)
    out, h = ours(x.numpy(), lengths=lengths.numpy())
    check(out, want_out)
    check(h[0] if name == "LSTM" else h, want_h[0] if name == "LSTM" else want_h)


def test_recurrent_float64_and_torch_tensors():
    torch.manual_seed(2)
    theirs = torch.nn.LSTM(3, 4, num_layers=2).double().eval()
    ours = ours_from(theirs, nn.LSTM(3, 4, num_layers=2, dtype=np.float64), "cpu", np.float64)
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    with torch.no_grad():
        want, (hn, cn) = theirs(x)
    got, (h, c) = ours(x)  # torch in, torch out
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    for g, w in ((got, want), (h, hn), (c, cn)):
        np.testing.assert_allclose(g.numpy(), w.numpy(), **TOL[np.float64])


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells(host_backend, name):
    torch.manual_seed(3)
    theirs = getattr(torch.nn, name)(4, 5).eval()
    ours = ours_from(theirs, getattr(nn, name)(4, 5), host_backend)
    x, h = torch.randn(3, 4), torch.randn(3, 5)
    hx = (h, torch.randn(3, 5)) if name == "LSTMCell" else h
    with torch.no_grad():
        want = theirs(x, hx)
    got = ours(x.numpy(), tuple(t.numpy() for t in hx) if name == "LSTMCell" else hx.numpy())
    for g, w in zip(got if name == "LSTMCell" else (got,), want if name == "LSTMCell" else (want,)):
        check(g, w)


def test_dropout_between_layers_in_training():
    """dropout=1 drops the whole first layer's output: the second layer then sees zeros, so the
    result equals the second layer alone on a zero input; eval() ignores the dropout."""
    lstm = nn.LSTM(3, 4, num_layers=2, dropout=1.0)
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    second = nn.LSTM(4, 4)
    second.load_state_dict({k.replace("_l1", "_l0"): v for k, v in lstm.state_dict().items() if "_l1" in k})
    out_train, _ = lstm.train()(x)
    want, _ = second(np.zeros((5, 2, 4), np.float32))
    np.testing.assert_allclose(out_train, want, rtol=1e-6, atol=1e-7)
    out_eval, _ = lstm.eval()(x)
    assert not np.allclose(out_eval, want)


def test_recurrent_errors():
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="hidden_size"):
        nn.GRU(3, 0)
    lstm = nn.LSTM(3, 4)
    with pytest.raises(KeyError, match="weight_hh_l0"):
        lstm.load_state_dict({**lstm.state_dict(), "weight_hh_l0": np.zeros((16, 5), np.float32)})
    with pytest.raises(ValueError, match="x must be"):
        lstm(np.zeros((2, 3, 4, 3), np.float32))


# ---------------------------------------------------------------------------------------
# MultiheadAttention
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [dict(), dict(batch_first=True, bias=False), dict(kdim=5, vdim=3)], ids=str)
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_multihead_attention_parity(host_backend, kwargs, need_weights, average):
    torch.manual_seed(4)
    E, heads, L, S, N = 8, 2, 5, 7, 3
    theirs = torch.nn.MultiheadAttention(E, heads, **kwargs).eval()
    ours = ours_from(theirs, nn.MultiheadAttention(E, heads, **kwargs), host_backend)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    bf = kwargs.get("batch_first", False)
    q = torch.randn((N, L, E) if bf else (L, N, E))
    k = torch.randn((N, S, kwargs.get("kdim", E)) if bf else (S, N, kwargs.get("kdim", E)))
    v = torch.randn((N, S, kwargs.get("vdim", E)) if bf else (S, N, kwargs.get("vdim", E)))
    pad = torch.zeros(N, S, dtype=torch.bool)
    pad[1, -2:] = True
    with torch.no_grad():
        want, want_w = theirs(q, k, v, key_padding_mask=pad, need_weights=need_weights,
                              average_attn_weights=average)
    got, got_w = ours(q.numpy(), k.numpy(), v.numpy(), key_padding_mask=pad.numpy(), need_weights=need_weights,
                      average_attn_weights=average)
    check(got, want)
    if need_weights:
        check(got_w, want_w)
    else:
        assert got_w is None and want_w is None


def test_multihead_self_attention_causal_float64():
    torch.manual_seed(5)
    theirs = torch.nn.MultiheadAttention(12, 3).double().eval()
    ours = ours_from(theirs, nn.MultiheadAttention(12, 3, dtype=np.float64), "cpu", np.float64)
    x = torch.randn(6, 2, 12, dtype=torch.float64)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(6, dtype=torch.float64)
    with torch.no_grad():
        want, _ = theirs(x, x, x, attn_mask=mask, need_weights=False, is_causal=True)
    got, _ = ours(x.numpy(), x.numpy(), x.numpy(), attn_mask=mask.numpy(), need_weights=False, is_causal=True)
    check(got, want, np.float64)


def test_multihead_attention_errors():
    with pytest.raises(ValueError, match="num_heads"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="add_bias_kv"):
        nn.MultiheadAttention(8, 2, add_bias_kv=True)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "MultiheadAttention"])
def test_docstring_examples(name):
    import doctest

    import pydeepkit
    cls = getattr(nn, name)
    tests = doctest.DocTestFinder(recurse=False).find(cls, name, globs={"np": np, "pydeepkit": pydeepkit})
    assert tests and tests[0].examples, f"{name}: no example in its docstring"
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"{name}: its docstring example failed (see the output above)"
