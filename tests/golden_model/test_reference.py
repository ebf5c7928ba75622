"""One step of each layer against PyTorch's equations, written out gate by gate.

The finite-difference tests show that backward matches forward; these pin
forward itself to PyTorch's gate order and equations (LSTM i, f, g, o; GRU
r, z, n with h' = (1 - z) * n + z * h).
"""

import numpy as np

from golden_model import GRU, LSTM
from golden_model.cell import sigmoid


def _sig(v):
    return 1 / (1 + np.exp(-v))


def test_lstm_step_is_pytorch():
    I, H, B = 3, 4, 2
    m = LSTM(I, H, seed=5)
    rng = np.random.default_rng(5)
    x, h0, c0 = rng.normal(size=(1, B, I)), rng.normal(size=(B, H)), rng.normal(size=(B, H))
    W_ih, W_hh = m.W[:, :I], m.W[:, I:]
    W_ii, W_if, W_ig, W_io = np.split(W_ih, 4)
    W_hi, W_hf, W_hg, W_ho = np.split(W_hh, 4)
    b_i, b_f, b_g, b_o = np.split(m.b, 4)
    xt = x[0]
    i = _sig(xt @ W_ii.T + h0 @ W_hi.T + b_i)
    f = _sig(xt @ W_if.T + h0 @ W_hf.T + b_f)
    g = np.tanh(xt @ W_ig.T + h0 @ W_hg.T + b_g)
    o = _sig(xt @ W_io.T + h0 @ W_ho.T + b_o)
    c1 = f * c0 + i * g
    h1 = o * np.tanh(c1)
    h, cache = m.forward(x, h0, c0)
    np.testing.assert_allclose(h[0], h1, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(cache.c_last, c1, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(cache.gates[0], np.concatenate([i, f, g, o], 1), rtol=1e-13, atol=1e-15)


def test_gru_step_is_pytorch():
    I, H, B = 3, 4, 2
    m = GRU(I, H, seed=6)
    rng = np.random.default_rng(6)
    x, h0 = rng.normal(size=(1, B, I)), rng.normal(size=(B, H))
    W_ir, W_iz, W_in = np.split(m.W[:, :I], 3)
    W_hr, W_hz, W_hn = np.split(m.W[:, I:], 3)
    b_ir, b_iz, b_in = np.split(m.b, 3)
    b_hr, b_hz, b_hn = np.split(m.b_h, 3)
    xt = x[0]
    r = _sig(xt @ W_ir.T + b_ir + h0 @ W_hr.T + b_hr)
    z = _sig(xt @ W_iz.T + b_iz + h0 @ W_hz.T + b_hz)
    n = np.tanh(xt @ W_in.T + b_in + r * (h0 @ W_hn.T + b_hn))
    h1 = (1 - z) * n + z * h0
    h, _ = m.forward(x, h0)
    np.testing.assert_allclose(h[0], h1, rtol=1e-13, atol=1e-15)


def test_sigmoid_keeps_saturated_gates_nonzero():
    z = np.array([-40.0, -20.0, -5.0, 0.0, 5.0, 20.0, 40.0])
    want = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(sigmoid(z), want, rtol=1e-15)
    s32 = sigmoid(z.astype(np.float32))
    assert s32.dtype == np.float32
    np.testing.assert_allclose(s32, want.astype(np.float32), rtol=1e-6)
    assert (s32 > 0).all()  # i(1-i) of a saturated gate is tiny, not exactly zero
