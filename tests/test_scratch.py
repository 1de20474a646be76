"""The large scratch blocks the CPU kernels keep per thread between calls (core/aligned_buffer.h):
results must not depend on what an earlier call left in them, and what is kept is bounded and
can be freed."""
import numpy as np
import pytest

from pydeepkit import _ext, ops

cpu = _ext.module("cpu")
KEPT_AT_MOST = 64 << 20


def _calls(rng):
    """Calls whose CPU scratch is at least 256 KB (the blocks the cache keeps), one per path."""
    f32 = np.float32
    x = rng.standard_normal((2, 128, 14, 14)).astype(f32)
    w3 = (rng.standard_normal((128, 128, 3, 3)) * 0.05).astype(f32)
    w1 = (rng.standard_normal((256, 128, 1, 1)) * 0.05).astype(f32)
    w5 = (rng.standard_normal((64, 128, 5, 5)) * 0.05).astype(f32)
    b = rng.standard_normal(256).astype(f32)
    a = rng.standard_normal((300, 700)).astype(f32)
    m = rng.standard_normal((700, 500)).astype(f32)
    seq = rng.standard_normal((6, 8, 64)).astype(f32)
    long_seq = rng.standard_normal((80, 1, 64)).astype(f32)

    def rnn_params(gates):
        return {"weight_ih_l0": (rng.standard_normal((gates * 256, 64)) * 0.1).astype(f32),
                "weight_hh_l0": (rng.standard_normal((gates * 256, 256)) * 0.1).astype(f32),
                "bias_ih_l0": (rng.standard_normal(gates * 256) * 0.1).astype(f32),
                "bias_hh_l0": (rng.standard_normal(gates * 256) * 0.1).astype(f32)}
    params, gru_params = rnn_params(4), rnn_params(3)
    return {
        "winograd": lambda: ops.conv2d(x, w3, b[:128], padding=1),
        "winograd stride 2": lambda: ops.conv2d(x, w3, stride=2, padding=1, activation="relu"),
        "1x1": lambda: ops.conv2d(x, w1, b),
        "5x5 packed": lambda: ops.conv2d(x, w5, padding=2),
        "gemm": lambda: ops.gemm(a, m, b[:1].repeat(500)),
        "lstm": lambda: ops.lstm(seq, params)[0],
        "lstm batch 1": lambda: ops.lstm(long_seq, params)[0],  # every step's pre-activations: 320 KB
        "gru": lambda: ops.gru(seq, gru_params)[0],  # the input GEMM's pre-activations and W_hh's panels
    }


@pytest.mark.parametrize("byte", [0xFF, 0x00, 0x41])
def test_results_do_not_depend_on_kept_scratch(rng, byte):
    """Every call first gets a kept block filled with `byte` (0xFF: NaN in every float), and must
    still give the result it gave on fresh memory, to the bit (the kernels are deterministic)."""
    calls = _calls(rng)
    cpu.release_scratch()
    want = {name: call() for name, call in calls.items()}
    assert cpu.scratch_kept_bytes() > 0
    for name, call in calls.items():
        cpu.fill_scratch(byte)
        np.testing.assert_array_equal(call(), want[name], err_msg=name)


def test_kept_scratch_is_bounded_and_released(rng):
    cpu.release_scratch()
    assert cpu.scratch_kept_bytes() == 0
    for call in _calls(rng).values():
        call()
        assert 0 < cpu.scratch_kept_bytes() <= KEPT_AT_MOST
    ops.release_workspaces()
    assert cpu.scratch_kept_bytes() == 0
