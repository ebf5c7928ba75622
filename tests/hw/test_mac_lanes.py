"""The MAC lanes apply every entry to every column exactly (dW += v a_b, da_b += v W[k], db += v), under
random gaps, entries closer than the read-modify-write included (C = 1, 2, 3: consecutive entries of one
row or one batch, their sums forwarded), and saturate with a flag; the read-and-clear port returns and zeroes the accumulators."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden_model.engine_config import EngineConfig
from golden_model.fixedpoint import fit
from hw.bits import index_bits
from hw.mac_lanes import MacLanes, lane_timing
from sim.streams import producer


def addr(c, C, i):
    return (i << index_bits(C)) | c


def run(cfg, W, a, entries, *, gap, seed=0, abuf=1):
    """Load W and a (batch rows) into buffer ``abuf``, apply the entries, read everything back and clear it. The
    host's words for the padding columns (beyond N, in the last chunk) are not 0: the lanes write them as 0, so
    that dW and da there stay 0 (``out["padding"]``: what is read there)."""
    dut = MacLanes(cfg)
    P, C, R, B = cfg.lanes, cfg.cols_per_lane, cfg.n_rows, cfg.max_batch
    pad = lambda row: list(row) + [77] * (C * P - len(row))   # noqa: E731
    out = {}
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    done = []

    async def load_and_read(ctx):
        for k in range(R):
            row = pad(W[k])
            for c in range(C):
                ctx.set(dut.w_we, 1)
                ctx.set(dut.w_addr, addr(c, C, k))
                ctx.set(dut.w_data, row[c * P:(c + 1) * P])
                await ctx.tick()
        ctx.set(dut.w_we, 0)
        for b in range(len(a)):
            row = pad(a[b])
            for c in range(C):
                ctx.set(dut.a_we, 1)
                ctx.set(dut.a_buf, abuf)
                ctx.set(dut.a_addr, addr(c, C, b))
                ctx.set(dut.a_data, row[c * P:(c + 1) * P])
                await ctx.tick()
        ctx.set(dut.a_we, 0)
        ctx.set(dut.abuf, abuf)
        done.append("loaded")
        hazards = 0
        while len(done) < 2 or not ctx.get(dut.idle):
            *_, hz = await ctx.tick().sample(dut.hazard)
            hazards += hz
        out["hazards"] = hazards

        async def read(flag, address):      # (the word arrives read_latency cycles after the request)
            ctx.set(flag, 1)
            ctx.set(dut.rd_addr, address)
            await ctx.tick()
            ctx.set(flag, 0)
            if lane_timing(cfg).read_latency > 1:
                await ctx.tick().repeat(lane_timing(cfg).read_latency - 1)

        def chunk(view):
            return [int(view[p]) for p in range(P)]

        for name, flag, data, rows in (("dW", dut.rd_dw, dut.dw_data, R), ("da", dut.rd_da, dut.da_data, B)):
            vals = []
            for i in range(rows):
                row = []
                for c in range(C):
                    await read(flag, addr(c, C, i))
                    row += chunk(ctx.get(data))
                vals.append(row[:cfg.n_inputs])
                out.setdefault("padding", []).extend(row[cfg.n_inputs:])
            out[name] = np.array(vals)
        vals = []
        for k in range(R):
            await read(dut.rd_db, k)
            vals.append(int(ctx.get(dut.db_data)))
        out["db"] = np.array(vals)
        await ctx.tick().repeat(3)
        await read(dut.rd_dw, 0)
        out["cleared"] = chunk(ctx.get(dut.dw_data))

    async def feed(ctx):
        await ctx.tick().until(dut.w_we == 0)  # (weights first)
        while not done:
            await ctx.tick()
        await producer(dut.i_nz, [{"k": k, "b": b, "v": v} for k, b, v in entries], gap=gap, seed=seed)(ctx)
        done.append("fed")

    ovf = []

    async def flags(ctx):
        async for _, _, o1, o2, o3 in ctx.tick().sample(dut.ovf_dw, dut.ovf_da, dut.ovf_db):
            ovf.append((o1, o2, o3))

    sim.add_testbench(load_and_read)
    sim.add_testbench(feed)
    sim.add_process(flags)
    sim.run()
    out["ovf"] = tuple(bool(any(o[i] for o in ovf)) for i in range(3))
    return out


def expected(cfg, W, a, entries):
    dW = np.zeros(W.shape, object)
    da = np.zeros((len(a), W.shape[1]), object)
    db = np.zeros(W.shape[0], object)
    ovf = [False] * 3
    for k, b, v in entries:
        for j in range(W.shape[1]):
            dW[k, j], o1 = fit(dW[k, j] + v * int(a[b][j]), cfg.dw_acc, cfg.overflow)
            da[b, j], o2 = fit(da[b, j] + v * int(W[k, j]), cfg.da_acc, cfg.overflow)
            ovf[0] |= o1
            ovf[1] |= o2
        db[k], o3 = fit(db[k] + v, cfg.db_acc, cfg.overflow)
        ovf[2] |= o3
    return dW.astype(np.int64), da.astype(np.int64), db.astype(np.int64), tuple(ovf)


def case(cfg, n, rng, extreme=False):
    N, R, B = cfg.n_inputs, cfg.n_rows, cfg.max_batch
    lim = (lambda f: (f.min_int, f.max_int + 1)) if extreme else (lambda f: (-3000, 3000))
    W = rng.integers(*lim(cfg.weight), (R, N))
    a = rng.integers(*lim(cfg.inp), (B, N))
    entries = [(int(rng.integers(0, R)), int(rng.integers(0, B)), int(rng.integers(*lim(cfg.grad)))) for _ in range(n)]
    return W, a, entries


@pytest.mark.parametrize("pipeline", ["registered", "compact"])
@pytest.mark.parametrize("I, H, P, gap", [(5, 2, 2, 0.0), (5, 2, 2, 0.6), (3, 1, 1, 0.3), (2, 2, 4, 0.0), (2, 2, 4, 0.5),
                                          (9, 3, 8, 0.2)])
def test_accumulates_exactly(I, H, P, gap, pipeline):
    cfg = EngineConfig(input_size=I, hidden_size=H, lanes=P, max_batch=2, max_seq=4, lane_pipeline=pipeline)
    rng = np.random.default_rng(I * 10 + P)
    W, a, entries = case(cfg, 40, rng)
    got = run(cfg, W, a, entries, gap=gap, seed=P)
    dW, da, db, ovf = expected(cfg, W, a, entries)
    np.testing.assert_array_equal(got["dW"], dW)
    np.testing.assert_array_equal(got["da"], da)
    np.testing.assert_array_equal(got["db"], db)
    assert got["cleared"] == [0] * P and got["ovf"] == ovf == (False, False, False)
    assert got["padding"] == [0] * (len(got["padding"])) and (cfg.cols_per_lane * P == cfg.n_inputs or got["padding"])


@pytest.mark.parametrize("pipeline", ["registered", "compact"])
@pytest.mark.parametrize("I, H, P", [(2, 2, 4), (2, 2, 2), (2, 1, 1)])
def test_close_entries_are_forwarded_without_waiting(I, H, P, pipeline):
    """C = 1, 2, 3 (below ``forward_window``: 6 registered, 3 compact): back-to-back entries of one row, then
    of one batch, then neither, read each other's sums 1 .. 3 cycles after they were formed; the lanes
    forward them, exactly, and no entry waits."""
    cfg = EngineConfig(input_size=I, hidden_size=H, lanes=P, max_batch=2, max_seq=4, lane_pipeline=pipeline)
    assert cfg.cols_per_lane < lane_timing(cfg).forward_window or pipeline == "compact"
    rng = np.random.default_rng(0)
    W, a, _ = case(cfg, 0, rng)
    R = cfg.n_rows
    entries = [(3 % R, 0, 100), (3 % R, 1, -7), (5 % R, 1, 9), (5 % R, 1, 11), (2, 0, 4), (2, 0, -3)] * 3
    got = run(cfg, W, a, entries, gap=0.0)
    dW, da, db, _ = expected(cfg, W, a, entries)
    np.testing.assert_array_equal(got["dW"], dW)
    np.testing.assert_array_equal(got["da"], da)
    np.testing.assert_array_equal(got["db"], db)
    assert got["hazards"] == 0


@pytest.mark.parametrize("pipeline", ["registered", "compact"])
@pytest.mark.parametrize("I, H, P", [(2, 2, 4), (2, 1, 1), (5, 2, 2)])
def test_no_read_of_a_word_in_the_cycle_it_is_written_is_used(I, H, P, pipeline, monkeypatch):
    """The lanes' memories are built without read/write collision logic (MacLanes._memory): such a read
    returns anything on the FPGA. With every such read spoilt (its word's complement), close entries (C below
    the forward window), random gaps and the read-out's clears still give the exact sums."""
    monkeypatch.setattr(MacLanes, "poison_collisions", True)
    cfg = EngineConfig(input_size=I, hidden_size=H, lanes=P, max_batch=2, max_seq=4, lane_pipeline=pipeline)
    rng = np.random.default_rng(I + P)
    W, a, entries = case(cfg, 30, rng)
    R = cfg.n_rows
    entries += [(3 % R, 0, 100), (3 % R, 1, -7), (5 % R, 1, 9), (5 % R, 1, 11), (2, 0, 4), (2, 0, -3)] * 2
    for gap in (0.0, 0.5):
        got = run(cfg, W, a, entries, gap=gap, seed=P)
        dW, da, db, _ = expected(cfg, W, a, entries)
        np.testing.assert_array_equal(got["dW"], dW)
        np.testing.assert_array_equal(got["da"], da)
        np.testing.assert_array_equal(got["db"], db)
        assert got["cleared"] == [0] * P


def test_the_spoilt_reads_are_there_to_be_used(monkeypatch):
    """The test above can fail: with forwarding taken away, an entry ``forward_window`` - 1 cycles (C = 1:
    entries) after another on the same row reads dW in the cycle the other writes it, and the spoilt run
    differs from the clean one."""
    cfg = EngineConfig(input_size=2, hidden_size=2, lanes=4, max_batch=2, max_seq=4)
    rng = np.random.default_rng(0)
    W, a, _ = case(cfg, 0, rng)
    between = [(1, 1, 5), (2, 1, 6), (0, 1, 2), (4, 0, 3)][:lane_timing(cfg).forward_window - 2]
    entries = [(3, 0, 100), *between, (3, 0, -7)]
    monkeypatch.setattr(MacLanes, "_forwarding", lambda self, m, stages: _no_forwarding(self))
    clean = run(cfg, W, a, entries, gap=0.0)
    monkeypatch.setattr(MacLanes, "poison_collisions", True)
    spoilt = run(cfg, W, a, entries, gap=0.0)
    assert not np.array_equal(clean["dW"], spoilt["dW"])


def _no_forwarding(lanes):
    from amaranth.hdl import Const
    return {(name, d): Const(0) for name in ("dw", "da", "db") for d in range(lanes.timing.forward_window)}


def test_saturation_sets_the_flags():
    cfg = EngineConfig(input_size=3, hidden_size=1, lanes=2, max_batch=2, max_seq=2,
                       dw_acc_width=32, da_acc_width=32, db_acc_width=16)
    rng = np.random.default_rng(1)
    W, a, _ = case(cfg, 0, rng, extreme=True)
    W[...], a[...] = cfg.weight.max_int, cfg.inp.max_int
    entries = [(0, 0, cfg.grad.max_int)] * 6
    got = run(cfg, W, a, entries, gap=0.2, abuf=0)
    dW, da, db, ovf = expected(cfg, W, a, entries)
    np.testing.assert_array_equal(got["dW"], dW)
    np.testing.assert_array_equal(got["da"], da)
    np.testing.assert_array_equal(got["db"], db)
    assert got["ovf"] == ovf == (True, True, True)


@pytest.mark.parametrize("pipeline", ["registered", "compact"])
@pytest.mark.parametrize("I, H, P", [(2, 2, 4), (2, 2, 2), (2, 1, 1), (5, 2, 2)])
@pytest.mark.parametrize("overflow", ["saturate", "wrap"])
def test_a_sum_past_the_format_is_fitted_before_the_next_reads_it(I, H, P, pipeline, overflow):
    """C = 1, 2, 3 and 4 (sums forwarded below ``forward_window``, 6 registered and 3 compact, else read from
    memory): one word driven past
    its format's top by back-to-back entries, then back down. Each later entry must add to the fitted sum
    (the maximum when saturating, the wrapped value when wrapping), as the model does, not to the exact
    one: the sum is fitted after its register (before it with C = 1), on its way to the forwarding
    registers and the memory, and a forwarded exact sum would end far from the model's when saturating."""
    cfg = EngineConfig(input_size=I, hidden_size=H, lanes=P, max_batch=2, max_seq=4, lane_pipeline=pipeline,
                       dw_acc_width=32, da_acc_width=32, db_acc_width=16, overflow=overflow)
    W = np.full((cfg.n_rows, cfg.n_inputs), 30000)
    a = np.full((cfg.max_batch, cfg.n_inputs), 30000)
    entries = [(1, 0, 30000)] * 3 + [(1, 0, -20000)] * 3    # 3 x 9e8 > 2**31 (and 90000 > 2**15): then down
    got = run(cfg, W, a, entries, gap=0.0)
    dW, da, db, ovf = expected(cfg, W, a, entries)
    np.testing.assert_array_equal(got["dW"], dW)
    np.testing.assert_array_equal(got["da"], da)
    np.testing.assert_array_equal(got["db"], db)
    assert got["ovf"] == ovf and ovf[0] and ovf[1]
    if overflow == "saturate":       # (wrapping is modular: its end is the exact sum, the flags still rise)
        assert dW[1, 0] == cfg.dw_acc.max_int - 3 * 20000 * 30000 != sum(v for _, _, v in entries) * 30000
