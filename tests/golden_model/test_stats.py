"""Statistics: exact MAC accounting, per-gate sparsity, histogram, merging."""

import numpy as np
import pytest

from golden_model import GRU, LSTM
from golden_model.stats import HIST_EDGES, BackwardStats, abs_histogram


@pytest.mark.parametrize("cls, G", [(LSTM, 4), (GRU, 3)])
def test_mac_accounting(cls, G):
    T, B, I, H = 7, 3, 5, 6
    N = I + H
    m = cls(I, H, seed=0)
    rng = np.random.default_rng(0)
    h, cache = m.forward(rng.normal(size=(T, B, I)))
    _, st = m.backward(rng.normal(size=h.shape), cache, threshold=0.1, record=True)
    zeros = int((st.dz == 0).sum())
    assert st.macs_forward == st.macs_backward_data == st.macs_backward_weight == T * B * G * H * N
    assert st.macs_redundant == 2 * N * zeros
    assert st.redundant_fraction() == 2 * N * zeros / (3 * T * B * G * H * N)
    assert st.redundant_fraction(other_macs=1000) == 2 * N * zeros / (3 * T * B * G * H * N + 1000)
    # per gate, before and after
    for k, gate in enumerate(cls.GATES):
        cols = slice(k * H, (k + 1) * H)
        assert st.sparsity_after[gate] == (st.dz[..., cols] == 0).mean()
        assert st.sparsity_before[gate] == (st.dz_raw[..., cols] == 0).mean()
    assert st.dz_sparsity == zeros / st.dz.size
    d = st.to_dict(other_macs=10)
    assert d["macs"]["redundant_data"] + d["macs"]["redundant_weight"] == st.macs_redundant


def test_lstm_first_step_forget_gate_is_naturally_zero():
    """With c0 = 0, df = dc * c_{t-1} is exactly zero at t = 0: counted as zero before thresholding."""
    T, B, I, H = 4, 2, 3, 5
    m = LSTM(I, H, seed=1)
    rng = np.random.default_rng(1)
    h, cache = m.forward(rng.normal(size=(T, B, I)))
    _, st = m.backward(rng.normal(size=h.shape), cache)
    assert st.zeros_before[1] == B * H and st.sparsity_before["f"] == 1 / T
    assert st.zeros_before[[0, 2, 3]].sum() == 0


def test_histogram_bins_and_merge():
    vals = np.array([0.0, 1e-13, 1e-12, 1.5e-12, 0.99, 1.0, 99.0, 100.0, 1e5])[:, None]
    h = abs_histogram(vals)[0]
    assert h.sum() == 8  # the zero is not in the histogram
    assert h[0] == 1                                   # 1e-13 below the first edge
    assert h[1] == 2                                   # [1e-12, 10^-11.75)
    assert h[-1] == 2                                  # >= 100
    assert h[np.searchsorted(HIST_EDGES, 1.0, side="right")] == 1
    a = BackwardStats.from_pass(("x",), 3, vals.reshape(1, 9, 1), vals.reshape(1, 9, 1), 0.5)
    b = a + a
    assert b.passes == 2 and b.entries == 18 and b.zeros_before[0] == 2
    assert (b.hist == 2 * a.hist).all() and b.tau_mean == 0.5
    empty = BackwardStats(("x",), 3)
    assert (empty + a).entries == a.entries
