"""Central finite differences in float64 against the analytic BPTT gradients."""

import numpy as np
import pytest

from golden_model import GRU, LSTM

T, B, I, H = 5, 3, 4, 6
RTOL = 1e-6


def setup(cls, with_state, seed):
    rng = np.random.default_rng(seed)
    m = cls(I, H, seed=seed)
    x = rng.normal(size=(T, B, I))
    w = rng.normal(size=(T, B, H))  # L = sum(w * h), so dL/dh = w
    states = {}
    if with_state:
        states["h0"] = rng.normal(size=(B, H)) * 0.5
        if cls is LSTM:
            states["c0"] = rng.normal(size=(B, H)) * 0.5
    return m, x, w, states


@pytest.mark.parametrize("cls", [LSTM, GRU])
@pytest.mark.parametrize("with_state", [False, True])
def test_gradients_match_finite_differences(cls, with_state, numeric_grad, rel_error):
    m, x, w, states = setup(cls, with_state, seed=1 + with_state)

    def loss():
        h, _ = m.forward(x, **states)
        return float(np.sum(w * h))

    h, cache = m.forward(x, **states)
    grads, _ = m.backward(w, cache, threshold=0.0)
    targets = dict(m.params)
    targets["x"] = x
    targets.update(states)
    assert set(grads) >= set(targets)
    for name, arr in targets.items():
        err = rel_error(numeric_grad(loss, arr), grads[name])
        assert err <= RTOL, f"{cls.__name__} d{name}: relative error {err:.2e}"
    if not with_state:  # the state gradients exist even when the states default to zero
        zeros = {"h0": np.zeros((B, H))}
        if cls is LSTM:
            zeros["c0"] = np.zeros((B, H))
        for name, arr in zeros.items():
            def loss_s():
                h, _ = m.forward(x, **zeros)
                return float(np.sum(w * h))
            err = rel_error(numeric_grad(loss_s, arr), grads[name])
            assert err <= RTOL, f"{cls.__name__} d{name} at zero state: relative error {err:.2e}"


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_float32_option_close_to_float64(cls, rel_error):
    m64, x, w, _ = setup(cls, False, seed=3)
    m32 = cls(I, H, seed=3, dtype=np.float32)
    h64, c64 = m64.forward(x)
    h32, c32 = m32.forward(x)
    assert h32.dtype == np.float32
    g64, _ = m64.backward(w, c64)
    g32, _ = m32.backward(w, c32)
    assert g32["W"].dtype == np.float32
    for name in g64:
        assert rel_error(g64[name], g32[name].astype(np.float64)) < 1e-5
