"""Thresholding: exactly the entries with |dz| < tau become zero, and the zeros feed dW, db, da."""

import math

import numpy as np
import pytest

from golden_model import GRU, LSTM, ConfigError, parse_threshold, sparsify
from golden_model.sparsify import RelativeRMS, StaticThreshold, TargetSparsity
from golden_model.stats import BackwardStats

T, B, I, H = 6, 4, 5, 8


def run(cls, tau, seed=0):
    rng = np.random.default_rng(seed)
    m = cls(I, H, seed=seed)
    x = rng.normal(size=(T, B, I))
    h, cache = m.forward(x)
    dh = rng.normal(size=h.shape)
    grads, stats = m.backward(dh, cache, threshold=tau, record=True)
    return m, cache, grads, stats


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_threshold_zeroes_exactly_the_small_entries(cls):
    _, _, _, dense = run(cls, 0.0)
    tau = float(np.quantile(np.abs(dense.dz_raw), 0.6))  # a tau that bites on a good share of entries
    _, _, _, st = run(cls, tau)
    raw, dz = st.dz_raw, st.dz
    small = np.abs(raw) < tau
    assert 0.3 < small.mean() < 0.9
    np.testing.assert_array_equal(dz[small], 0)
    np.testing.assert_array_equal(dz[~small], raw[~small])  # nothing else touched, bit for bit
    # an entry exactly at tau is kept
    v = np.array([-tau, tau, np.nextafter(tau, 0), -np.nextafter(tau, 0)])
    np.testing.assert_array_equal(sparsify(v.copy(), tau), [-tau, tau, 0, 0])


def test_sparsified_dz_feeds_dW_db_and_da_lstm():
    m, cache, grads, st = run(LSTM, 0.05)
    flat = st.dz.reshape(T * B, 4 * H)
    assert (flat == 0).mean() > 0.2
    np.testing.assert_allclose(grads["W"], flat.T @ cache.a.reshape(T * B, I + H), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads["b"], flat.sum(0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads["x"], (flat @ m.W[:, :I]).reshape(T, B, I), rtol=1e-12, atol=1e-14)
    # the recurrence: dh_rec of step 0 (= dh0) comes from the *sparsified* dz of step 0
    np.testing.assert_allclose(grads["h0"], st.dz[0] @ m.W[:, I:], rtol=1e-12, atol=1e-14)


def test_raw_dz_is_the_elementwise_backward_of_the_sparsified_recurrence():
    """dz_raw[t] follows DESIGN.md's elementwise backward from dh[t] + (sparsified dz[t+1]) @ W_h."""
    rng = np.random.default_rng(9)
    m = LSTM(I, H, seed=9)
    h, cache = m.forward(rng.normal(size=(T, B, I)))
    dh = rng.normal(size=h.shape)
    _, st = m.backward(dh, cache, threshold=0.05, record=True)
    dc_next = np.zeros((B, H))
    for t in range(T - 1, -1, -1):
        dht = dh[t] + (st.dz[t + 1] @ m.W[:, I:] if t + 1 < T else 0)
        i, f, g, o = np.split(cache.gates[t], 4, axis=1)
        tc = cache.tanh_c[t]
        do = dht * tc
        dc = dht * o * (1 - tc ** 2) + dc_next
        di, dg, df = dc * g, dc * i, dc * cache.c_prev[t]
        dc_next = dc * f
        want = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)], 1)
        np.testing.assert_allclose(st.dz_raw[t], want, rtol=1e-12, atol=1e-15)


def test_sparsified_dz_feeds_dW_db_and_da_gru():
    m, cache, grads, st = run(GRU, 0.05)
    flat = st.dz.reshape(T * B, 3 * H)
    assert (flat == 0).mean() > 0.2
    np.testing.assert_allclose(grads["W"][:, :I], flat.T @ cache.x.reshape(T * B, I), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads["b"], flat.sum(0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads["x"], (flat @ m.W[:, :I]).reshape(T, B, I), rtol=1e-12, atol=1e-14)
    # the hidden half of W sees [dz_r, dz_z, r * dz_n]: zero wherever dz is
    g_hidden_rows = np.abs(grads["W"][:, I:]).sum(1)
    never_nonzero = (st.dz.reshape(-1, 3 * H) == 0).all(0)
    assert never_nonzero.any()
    np.testing.assert_array_equal(g_hidden_rows[never_nonzero], 0)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_zero_threshold_is_the_exact_gradient(cls):
    _, _, g0, st = run(cls, 0.0)
    np.testing.assert_array_equal(st.dz, st.dz_raw)
    _, _, g_tiny, _ = run(cls, 1e-300)
    for k in g0:
        np.testing.assert_array_equal(g0[k], g_tiny[k])


def test_huge_threshold_zeroes_everything():
    _, _, grads, st = run(LSTM, 1e9)
    assert st.dz_sparsity == 1.0
    for k in ("W", "b", "x", "h0"):
        assert not grads[k].any()
    # c0's gradient does not pass through dz: dc_prev = dc * f carries on
    assert grads["c0"].any()


@pytest.mark.parametrize("spec, cls, tau", [
    ("static:1e-3", StaticThreshold, 1e-3), ("dense", StaticThreshold, 0.0), ("0", StaticThreshold, 0.0),
    ("2.5e-4", StaticThreshold, 2.5e-4), ("sparsity:0.9", TargetSparsity, 0.0),
    ("sparsity:0.8,smooth=0.5", TargetSparsity, 0.0), ("rms:0.5", RelativeRMS, 0.0),
    ("rms:1,decay=0.99", RelativeRMS, 0.0),
])
def test_parse_valid(spec, cls, tau):
    rule = parse_threshold(spec)
    assert isinstance(rule, cls) and rule.tau == tau
    assert isinstance(parse_threshold(rule.spec), cls)  # the canonical spec parses back


@pytest.mark.parametrize("spec, words", [
    ("static:-1e-3", ">= 0"), ("static:nan", "finite"), ("static:inf", "finite"), ("static:", "no value"),
    ("static:abc", "number"), ("foo:1", "unknown threshold rule"), ("sparsity:1.0", "in [0, 1)"),
    ("sparsity:-0.1", "in [0, 1)"), ("rms:0.5,decay=1", "decay"), ("rms:0.5,gamma=3", "bad option"),
    ("", "threshold must be"), ("1e-3x", "threshold must be"), ("-0.5", ">= 0"),
])
def test_parse_invalid(spec, words):
    with pytest.raises(ConfigError, match=None) as e:
        parse_threshold(spec)
    assert words in str(e.value)


def _stats(rng):
    """Statistics of a fake pass: T = B = 8, four gates of 16, log-normal |dz|."""
    dz = rng.lognormal(-8, 2, size=(8, 8, 64)) * rng.choice([-1, 1], size=(8, 8, 64))
    return BackwardStats.from_pass(("a", "b", "c", "d"), 10, dz, dz.copy(), 0.0, record=True)


def test_target_sparsity_rule_hits_its_target_on_a_stationary_distribution():
    rng = np.random.default_rng(0)
    rule = TargetSparsity(0.9)
    assert rule.tau == 0 and rule.needs_dz
    rule.observe(_stats(rng))
    fresh = _stats(rng).dz_raw
    assert abs((np.abs(fresh) < rule.tau).mean() - 0.9) < 0.02


def test_rms_rule_is_k_times_running_rms():
    rng = np.random.default_rng(1)
    rule = RelativeRMS(2.0, decay=0.5)
    s1, s2 = _stats(rng), _stats(rng)
    rule.observe(s1)
    assert math.isclose(rule.tau, 2.0 * s1.rms)
    rule.observe(s2)
    assert math.isclose(rule.tau, 2.0 * math.sqrt(0.5 * s1.rms ** 2 + 0.5 * s2.rms ** 2))
