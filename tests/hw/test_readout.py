"""The read-out (hw.readout) against its docstring, with the testbench as the lanes' read-and-clear port
(the word requested in cycle t is on *_data in cycle t + L, L = ``lane_timing(config).read_latency``): the silent clearing after reset, a da read-out
``ReadOut.latency`` cycles after ``start`` (chunk I // P first, wrapping around; batch row b within each
chunk) rounded exactly as golden_model.fixedpoint and sent ``ReadOut.round_latency_of(config)`` cycles after each word
arrives, and dW then db after ``final``."""

import numpy as np
import pytest

from golden_model.fixedpoint import fit, round_shift
from hw.mac_lanes import lane_timing
from hw.readout import ReadOut
from tests.hw.parts import addr, config, high, run

CASES = {  # config, runtime B
    "P2": (config(), 2),
    "P2-truncate": (config(rounding="truncate"), 2),
    "P1-B1-wrap": (config(lanes=1, rounding="half-up", overflow="wrap"), 1),
    "P2-compact": (config(lane_pipeline="compact"), 2),
}
# da words (da_acc has 13 more fractional bits than grad): ties, near-ties, and beyond the grad format
DA = (4096, 12288, -4096, -12288, 8191, 8193, 0, (1 << 28) + 5, -(1 << 28) - 4097, (1 << 28) - 4097, 123456789)


def da_word(cfg, buf, c, b):
    """Word (c, b) of da buffer ``buf`` as the lanes hold it (a padding column's da is 0)."""
    P = cfg.lanes
    return [DA[(((buf * cfg.cols_per_lane + c) * cfg.max_batch + b) * P + p) % len(DA)]
            if c * P + p < cfg.n_inputs else 0 for p in range(P)]


def dw_word(cfg, c, k):
    return [(-1) ** p * ((k * cfg.cols_per_lane + c) * cfg.lanes + p + 1) for p in range(cfg.lanes)]


def db_word(k):
    return -3 * (k + 1)


def simulate(cfg, B, cycles, inputs=lambda t: {}):
    """Run a ReadOut for ``cycles`` cycles with ``inputs(t)`` ({"start", "buf", "final"}) in cycle t, the
    testbench answering each request L cycles later; record each cycle's request and outputs."""
    L = lane_timing(cfg).read_latency
    dut, asked = ReadOut(cfg), [None] * L
    C, R = cfg.cols_per_lane, cfg.n_rows
    words = {"da": {(buf, addr(c, C, b)): da_word(cfg, buf, c, b)
                    for buf in (0, 1) for c in range(C) for b in range(cfg.max_batch)},
             "dw": {addr(c, C, k): dw_word(cfg, c, k) for c in range(C) for k in range(R)},
             "db": {k: db_word(k) for k in range(R)}}

    def step(ctx, t):
        i = {"start": 0, "buf": 0, "final": 0, **inputs(t)}
        for name, value in i.items():
            ctx.set(getattr(dut, name), value)
        ctx.set(dut.b_last, B - 1)
        if asked[-1]:                                   # the request of L cycles ago
            kind, key = asked[-1]
            ctx.set(getattr(dut, kind + "_data"), words[kind][key])
        kinds = [kind for kind in ("da", "dw", "db") if ctx.get(getattr(dut, "rd_" + kind))]
        assert len(kinds) <= 1, (t, kinds)
        a = ctx.get(dut.rd_addr)
        asked[1:] = asked[:-1]
        asked[0] = (kinds[0], (ctx.get(dut.rd_dbuf), a) if kinds == ["da"] else a) if kinds else None
        return {"req": asked[0], "active": ctx.get(dut.active), "final_done": ctx.get(dut.final_done),
                "busy": ctx.get(dut.busy), "primed": ctx.get(dut.primed),
                "rec": (ctx.get(dut.rec_addr), [int(v) for v in ctx.get(dut.rec_data)]), "rec_we": ctx.get(dut.rec_we),
                "dx": [int(v) for v in ctx.get(dut.dx)], "dx_want": ctx.get(dut.dx_want),
                "dw": [int(v) for v in ctx.get(dut.dw)], "dw_want": ctx.get(dut.dw_want),
                "db": ctx.get(dut.db), "db_want": ctx.get(dut.db_want), "overflow": ctx.get(dut.overflow)}

    return run(dut, cycles, step)


def clearing(cfg):
    """The requests after reset: both da buffers (max_batch x C each), then dW (4H x C), then db (4H)."""
    C, R = cfg.cols_per_lane, cfg.n_rows
    return ([("da", (buf, addr(c, C, b))) for buf in (0, 1) for b in range(cfg.max_batch) for c in range(C)]
            + [("dw", addr(c, C, k)) for k in range(R) for c in range(C)] + [("db", k) for k in range(R)])


@pytest.mark.parametrize("case", ["P2", "P1-B1-wrap", "P2-compact"])
def test_clearing_after_reset_reads_everything_silently(case):
    cfg, B = CASES[case]
    L = lane_timing(cfg).read_latency
    want = clearing(cfg)
    trace = simulate(cfg, B, len(want) + 4)
    assert [r["req"] for r in trace] == want + [None] * 4
    assert high(trace, "final_done") == [len(want) - 1 + L - 1]      # the cycle before the last word
    for out in ("rec_we", "dx_want", "dw_want", "db_want", "overflow", "active"):
        assert high(trace, out) == [], out


def rounded(cfg, word):
    """A da word in the grad format, and whether it overflowed, per golden_model.fixedpoint."""
    v, over = fit(round_shift(np.array(word), cfg.da_acc.frac - cfg.grad.frac, cfg.rounding), cfg.grad, cfg.overflow)
    return [int(x) for x in v], over


@pytest.mark.parametrize("case", CASES)
def test_da_readout_rounds_every_word_to_rec_and_dx(case):
    """Two read-outs (buffer 1, then buffer 0) after the clearing; each requests B x C words from
    ``ReadOut.latency`` cycles after its start, chunk I // P first and wrapping, row b within a chunk."""
    cfg, B = CASES[case]
    I, P, C, L = cfg.input_size, cfg.lanes, cfg.cols_per_lane, lane_timing(cfg).read_latency
    order = [((I // P + i) % C, b) for i in range(C) for b in range(B)]
    s1 = len(clearing(cfg)) + 2
    s2 = s1 + ReadOut.latency + len(order)                   # the first cycle without ``active``
    starts = {s1: 1, s2: 0}
    trace = simulate(cfg, B, s2 + ReadOut.latency + len(order) + L + 2,
                     lambda t: {"start": t in starts, "buf": starts.get(t, 0)})
    reqs, outs = [], {"rec_we": [], "dx_want": [], "overflow": []}
    for s, buf in starts.items():
        first = s + ReadOut.latency
        for i, (c, b) in enumerate(order):
            reqs.append((first + i, ("da", (buf, addr(c, C, b)))))
            t = first + i + L + ReadOut.round_latency_of(cfg)            # the word arrives, is rounded and sent
            v, over = rounded(cfg, da_word(cfg, buf, c, b))
            assert trace[t]["rec"] == (addr(c, C, b), v), (t, c, b)
            outs["rec_we"].append(t)
            outs["overflow"] += [t + ReadOut.overflow_lag_of(cfg)] if over else []
            if c * P < I:                                       # a chunk with dx columns
                outs["dx_want"].append(t)
                assert trace[t]["dx"] == [x if c * P + p < I else 0 for p, x in enumerate(v)], (t, c, b)
    got = [(t, r["req"]) for t, r in enumerate(trace) if r["req"]]
    assert got[len(clearing(cfg)):] == reqs
    assert high(trace, "active") == [t for t, _ in reqs]
    # busy until the last word is in its rounding register; primed again once the first word is sent
    Lr = L + ReadOut.round_latency_of(cfg)
    assert high(trace, "busy") == sorted({t + i for t, _ in reqs for i in range(Lr)})
    assert [t for t, r in enumerate(trace) if not r["primed"]] == [s + i for s in starts for i in range(1, Lr)]
    assert outs["overflow"], "no word saturates: the test data misses its point"
    for name, cycles in outs.items():
        assert high(trace, name) == cycles, name


@pytest.mark.parametrize("case", ["P2", "P2-compact"])
def test_final_reads_dw_then_db(case):
    """``final`` after the clearing: dW (row k, chunk c within k), then db, from the next cycle."""
    cfg, B = CASES[case]
    C, R, L = cfg.cols_per_lane, cfg.n_rows, lane_timing(cfg).read_latency
    f = len(clearing(cfg)) + 2
    trace = simulate(cfg, B, f + R * C + R + L + 3, lambda t: {"final": t == f})
    dw = [addr(c, C, k) for k in range(R) for c in range(C)]
    want = [("dw", a) for a in dw] + [("db", k) for k in range(R)]
    assert [r["req"] for r in trace[f:]] == [None] + want + [None] * (L + 2)   # from the cycle after final
    db = f + 1 + R * C                                                           # the first db request
    # final_done: the cycle before the last word arrives (the clearing's, the last db's)
    assert high(trace, "final_done") == [len(clearing(cfg)) - 1 + L - 1, db + R - 1 + L - 1]
    assert high(trace, "dw_want") == [f + 1 + L + i for i in range(R * C)]     # each L cycles after its request
    assert [trace[f + 1 + L + i]["dw"] for i in range(R * C)] == [dw_word(cfg, c, k) for k in range(R)
                                                                   for c in range(C)]
    assert high(trace, "db_want") == [db + L + k for k in range(R)]
    assert [trace[db + L + k]["db"] for k in range(R)] == [db_word(k) for k in range(R)]
    assert high(trace, "rec_we") == high(trace, "dx_want") == high(trace, "active") == []
