"""The engine model: against the float golden model (float-equivalent formats), against a plain
element-by-element reference (exact equality), dense vs skip, issue order, saturation and bad input."""

import numpy as np
import pytest

from golden_model import LSTM, ShapeError
from golden_model.engine_config import EngineConfig
from golden_model.engine_model import EngineInputs, quantize_inputs, run_engine
from golden_model.fixedpoint import QFormat, fit, round_shift

WIDE = dict(act=QFormat(52, 50), state=QFormat(56, 50), inp=QFormat(56, 50), weight=QFormat(56, 50),
            grad=QFormat(62, 58))


def lstm_case(T=5, B=3, I=4, H=6, seed=0, x=None, dh_scale=1e-3):
    rng = np.random.default_rng(seed)
    m = LSTM(I, H, seed=seed)
    x = rng.normal(size=(T, B, I)) if x is None else x
    h, cache = m.forward(x)
    return m, cache, rng.normal(size=h.shape) * dh_scale


def tau_between_entries(m, cache, dh, quantile):
    """A tau that bites but sits far from every |dz| of the float model, so both worlds zero the same entries."""
    _, st = m.backward(dh, cache, 0.0, record=True)
    a = np.sort(np.abs(st.dz_raw).ravel())
    k = int(len(a) * quantile)
    gaps = np.diff(a[k - 20:k + 20])
    j = k - 20 + int(np.argmax(gaps))
    tau = (a[j] + a[j + 1]) / 2
    for _ in range(3):  # the threshold changes later steps: settle on a tau clear of the final entries
        _, st = m.backward(dh, cache, tau, record=True)
        if np.min(np.abs(np.abs(st.dz_raw) - tau)) > 1e-9 * tau:
            return tau
        tau *= 1.01
    return tau


def check_float_equivalence(m, cache, dh, cfg, tau):
    inputs, clipped = quantize_inputs(cfg, m, cache, dh, tau)
    assert not any(clipped.values())
    r = run_engine(cfg, inputs)
    grads, st = m.backward(dh, cache, tau, record=True)
    assert not any(r.flags.values())
    np.testing.assert_array_equal(r.dz != 0, st.dz != 0)  # the same entries survive the threshold
    tol = 64 * cfg.grad.step  # rounding of a few dozen operations, each at most one step of 2**-58
    for name, got, fmt in (("W", r.dW, cfg.dw_acc), ("b", r.db, cfg.db_acc), ("x", r.dx, cfg.grad),
                           ("h0", r.dh0, cfg.grad), ("c0", r.dc0, cfg.grad)):
        err = np.abs(fmt.dequantize(got) - grads[name]).max()
        assert err <= tol, f"d{name}: {err:.3g} > {tol:.3g}"
    np.testing.assert_array_equal(cfg.grad.dequantize(r.dz)[r.dz != 0] != 0, True)
    return r, st


@pytest.mark.parametrize("quantile", [None, 0.5, 0.9])
def test_float_equivalent_formats_match_the_float_model_random(quantile):
    m, cache, dh = lstm_case()
    cfg = EngineConfig(input_size=4, hidden_size=6, lanes=2, max_batch=4, max_seq=8, **WIDE)
    tau = 0.0 if quantile is None else tau_between_entries(m, cache, dh, quantile)
    r, st = check_float_equivalence(m, cache, dh, cfg, tau)
    if quantile:
        assert abs((st.dz == 0).mean() - quantile) < 0.1


@pytest.mark.needs_dataset("fashion-mnist")
def test_float_equivalent_formats_match_the_float_model_fashion_mnist():
    from golden_model.datasets import load_dataset
    ds = load_dataset("fashion-mnist", limit=3)
    x, _ = next(ds.batches("train", 3))
    m, cache, dh = lstm_case(T=28, B=3, I=28, H=8, x=x)
    cfg = EngineConfig(input_size=28, hidden_size=8, lanes=4, max_batch=4, max_seq=28, **WIDE)
    check_float_equivalence(m, cache, dh, cfg, tau_between_entries(m, cache, dh, 0.8))


# -- a plain reference: one element at a time, scalar fixed-point operations ----------------------------

def reference_engine(cfg, inp, reference_element, dense=False):
    """Element-by-element restatement of the engine arithmetic (see engine_model's docstring), one element
    of the gate-gradient unit by ``reference_element`` (the fixture of tests/golden_model/conftest.py)."""
    T, B, H = inp.dh.shape
    I, N = cfg.input_size, cfg.n_inputs
    g, G = cfg.grad, cfg.grad.frac
    R, O = cfg.rounding, cfg.overflow
    flags = {"gate": False, "dw": False, "da": False, "db": False, "out": False}

    def f_(v, fmt, flag):
        r, o = fit(np.array([v], dtype=object), fmt, O)
        flags[flag] |= o
        return int(r[0])

    dW = [[0] * N for _ in range(4 * H)]
    db = [0] * (4 * H)
    dh_rec = [[0] * H for _ in range(B)]
    dc_next = [[0] * H for _ in range(B)]
    dzs, dxs, order = {}, {}, []
    for t in reversed(range(T)):
        dz = [[0] * (4 * H) for _ in range(B)]
        for b in range(B):
            for j in range(H):
                i, f, gg, o = (int(inp.gates[t, b, q * H + j]) for q in range(4))
                _, dz_e, dc_next[b][j], over = reference_element(
                    cfg, i, f, gg, o, int(inp.tanh_c[t, b, j]), int(inp.c_prev[t, b, j]), int(inp.dh[t, b, j]),
                    dh_rec[b][j], dc_next[b][j], inp.tau)
                flags["gate"] |= over
                for q in range(4):
                    dz[b][q * H + j] = dz_e[q]
        da = [[0] * N for _ in range(B)]
        for j in range(H):
            for b, q in [(b, q) for b in range(B) for q in range(4)]:
                k = q * H + j
                v = dz[b][k]
                if v == 0 and not dense:
                    continue
                order.append((t, k, b))
                db[k] = f_(db[k] + v, cfg.db_acc, "db")
                for col in range(N):
                    dW[k][col] = f_(dW[k][col] + v * int(inp.a[t, b, col]), cfg.dw_acc, "dw")
                    da[b][col] = f_(da[b][col] + v * int(inp.W[k, col]), cfg.da_acc, "da")
        out = [[f_(int(round_shift(np.array([x], dtype=object), cfg.da_acc.frac - G, R)[0]), g, "out") for x in row]
               for row in da]
        dxs[t] = [row[:I] for row in out]
        dh_rec = [row[I:] for row in out]
        dzs[t] = dz
    return dict(dz=np.array([dzs[t] for t in range(T)]), dx=np.array([dxs[t] for t in range(T)]),
                dh0=np.array(dh_rec), dc0=np.array(dc_next), dW=np.array(dW), db=np.array(db), flags=flags,
                order=order)


def check_against_reference(cfg, inputs, reference_element, dense=False):
    r = run_engine(cfg, inputs, dense=dense)
    ref = reference_engine(cfg, inputs, reference_element, dense)
    for name in ("dz", "dx", "dh0", "dc0", "dW", "db"):
        np.testing.assert_array_equal(np.asarray(getattr(r, name), dtype=object), ref[name].astype(object),
                                      err_msg=name)
    assert r.flags == ref["flags"]
    order = [(t, int(k), int(b)) for t in reversed(range(len(r.issued))) for k, b in zip(*r.issued[t])]
    assert order == ref["order"]
    return r


@pytest.mark.parametrize("rounding", ["truncate", "half-up", "half-even"])
@pytest.mark.parametrize("dense", [False, True])
def test_model_equals_elementwise_reference(rounding, dense, reference_element):
    m, cache, dh = lstm_case(T=3, B=2, I=3, H=4, seed=2, dh_scale=3e-4)
    cfg = EngineConfig(input_size=3, hidden_size=4, lanes=2, max_batch=2, max_seq=4, rounding=rounding)
    inputs, _ = quantize_inputs(cfg, m, cache, dh, 2e-5)
    r = check_against_reference(cfg, inputs, reference_element, dense)
    assert 0 < r.nonzeros < r.dz.size
    assert r.zeros_skipped == (0 if dense else r.dz.size - r.nonzeros)


def test_narrow_accumulators_saturate_in_issue_order_and_raise_flags(reference_element):
    m, cache, dh = lstm_case(T=4, B=2, I=3, H=4, seed=3, dh_scale=1e-3)
    cfg = EngineConfig(input_size=3, hidden_size=4, lanes=2, max_batch=2, max_seq=4,
                       dw_acc_width=32, da_acc_width=32, db_acc_width=17)
    inputs, _ = quantize_inputs(cfg, m, cache, dh, 0.0)
    inputs.dh[...] = cfg.grad.max_int  # saturating gradients, inputs and weights
    inputs.a[...] = cfg.inp.max_int
    inputs.W[...] = cfg.weight.max_int
    r = check_against_reference(cfg, inputs, reference_element)
    assert r.flags["gate"] and r.flags["dw"] and r.flags["db"] and r.flags["out"]


def test_saturating_accumulation_depends_on_the_issue_order():
    """Why the order is part of the contract: with a saturating accumulator, +max, +max, -max differs
    from -max, +max, +max."""
    from golden_model.engine_model import _accumulate_in_order
    fmt = QFormat(8, 0)
    terms = np.array([[100], [100], [-100]])
    flags = {"dw": False}
    a = _accumulate_in_order(np.zeros((1, 1), np.int64), [0, 0, 0], terms, fmt, "saturate", flags, "dw")
    b = _accumulate_in_order(np.zeros((1, 1), np.int64), [0, 0, 0], terms[::-1], fmt, "saturate", flags, "dw")
    assert (int(a[0, 0]), int(b[0, 0])) == (27, 100) and flags["dw"]


def test_dense_and_skip_give_the_same_values():
    m, cache, dh = lstm_case(seed=4)
    cfg = EngineConfig(input_size=4, hidden_size=6, lanes=2, max_batch=4, max_seq=8)
    inputs, _ = quantize_inputs(cfg, m, cache, dh, 1e-5)
    s, d = run_engine(cfg, inputs), run_engine(cfg, inputs, dense=True)
    for name in ("dz", "dx", "dh0", "dc0", "dW", "db"):
        np.testing.assert_array_equal(getattr(s, name), getattr(d, name))
    assert sum(len(k) for k, _ in d.issued) == d.dz.size
    assert sum(len(k) for k, _ in s.issued) == s.nonzeros == np.count_nonzero(s.dz)


def test_issue_order_is_unit_then_batch_then_gate():
    m, cache, dh = lstm_case(T=1, B=3, seed=5)
    cfg = EngineConfig(input_size=4, hidden_size=6, lanes=2, max_batch=4, max_seq=8)
    inputs, _ = quantize_inputs(cfg, m, cache, dh, 0.0)
    kk, bb = run_engine(cfg, inputs, dense=True).issued[0]
    assert list(zip(kk, bb)) == [(q * 6 + j, b) for j in range(6) for b in range(3) for q in range(4)]


def test_bad_inputs():
    m, cache, dh = lstm_case(T=5, B=3)
    cfg = EngineConfig(input_size=4, hidden_size=6, lanes=2, max_batch=4, max_seq=8)
    inputs, _ = quantize_inputs(cfg, m, cache, dh, 0.0)
    small = EngineConfig(input_size=4, hidden_size=6, lanes=2, max_batch=2, max_seq=8)
    with pytest.raises(ShapeError, match=r"batch B = 3 must be in \[1, max_batch = 2\]"):
        run_engine(small, inputs)
    bad = EngineInputs(**{**inputs.__dict__, "W": inputs.W[:, :5]})
    with pytest.raises(ShapeError, match=r"engine input W must have shape \(24, 10\), got \(24, 5\)"):
        run_engine(cfg, bad)
    bad = EngineInputs(**{**inputs.__dict__, "tanh_c": inputs.tanh_c + (1 << 20)})
    with pytest.raises(ShapeError, match="tanh_c holds values outside its format Q2.14"):
        run_engine(cfg, bad)
    bad = EngineInputs(**{**inputs.__dict__, "tau": -1})
    with pytest.raises(ShapeError, match="tau must be an integer"):
        run_engine(cfg, bad)
    bad = EngineInputs(**{**inputs.__dict__, "a": inputs.a.astype(float)})
    with pytest.raises(ShapeError, match="must hold integers"):
        run_engine(cfg, bad)


@pytest.mark.slow
@pytest.mark.parametrize("dense", [False, True])
def test_model_equals_elementwise_reference_on_the_committed_trace(dense, reference_element):
    from golden_model.trace import load_trace
    from pathlib import Path
    t = load_trace(Path(__file__).parents[1] / "data" / "austen_lstm_h32.npz")
    check_against_reference(t.config, t.passes[0], reference_element, dense)
