# amaranth: UnusedElaboratable=no
"""The whole engine in Amaranth's simulator against golden_model.engine_model and golden_model.cycles:
every output, every counter, every flag and the cycle count equal, exactly, in skip and dense mode,
under random valid/ready; on random data, on the committed real trace and on directed edge cases."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from golden_model.cycles import cycle_counts
from golden_model.engine_config import EngineConfig
from golden_model.engine_model import EngineInputs, run_engine
from golden_model.trace import load_trace

from hw.timing import micro_arch
from sim.pysim import simulate

DATA = Path(__file__).parents[1] / "data"


def check(cfg, inputs, *, dense, gap=0.3, stall=0.5, seed=0, runs=1, fifo_depth=2):
    """Simulate and compare everything; returns the model's result and cycle counts, and the stall of
    each sequence."""
    want = run_engine(cfg, inputs, dense=dense)
    cycles = cycle_counts(cfg, want, micro_arch(cfg)).to_dict()
    stalls = []
    for n, got in enumerate(simulate(cfg, inputs, dense=dense, gap=gap, stall=stall, seed=seed, runs=runs,
                                     fifo_depth=fifo_depth)):
        assert got.outputs.mismatches(want) == [], f"sequence {n}"
        assert got.flags == want.flags, f"sequence {n}"
        assert got.counters == {name: cycles[name] for name in got.counters}, f"sequence {n}"
        stalls.append(got.stall)
    return want, cycles, stalls


CONFIGS = {
    # I, H, P, max_batch, max_seq
    "P4-C3": dict(input_size=6, hidden_size=4, lanes=4, max_batch=2, max_seq=4),
    "P1": dict(input_size=3, hidden_size=2, lanes=1, max_batch=2, max_seq=4),
    "C1-forwarded": dict(input_size=2, hidden_size=2, lanes=4, max_batch=3, max_seq=4),
    "B1-odd": dict(input_size=5, hidden_size=3, lanes=2, max_batch=1, max_seq=5),
    "readout-bound": dict(input_size=20, hidden_size=1, lanes=1, max_batch=2, max_seq=3),   # BC > BH + latency
    # a folded and a serial gate-gradient unit: the feed paces itself, one element every k cycles
    "folded-k5": dict(input_size=6, hidden_size=4, lanes=4, max_batch=2, max_seq=4, ggu_cycles=5),
    "folded-k3-C1": dict(input_size=2, hidden_size=2, lanes=4, max_batch=3, max_seq=3, ggu_cycles=3),
    "serial-k11": dict(input_size=5, hidden_size=3, lanes=2, max_batch=2, max_seq=3, ggu_cycles=11),
    # the compact lanes (the iCE40's): read latency 1, forward window 3
    "compact-C2": dict(input_size=2, hidden_size=2, lanes=2, max_batch=3, max_seq=4, lane_pipeline="compact"),
    "compact-serial-k10": dict(input_size=5, hidden_size=3, lanes=1, max_batch=2, max_seq=3, ggu_cycles=10,
                               lane_pipeline="compact"),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("dense", [False, True], ids=["skip", "dense"])
def test_random_sequences(name, dense, random_inputs):
    cfg = EngineConfig(**CONFIGS[name])
    rng = np.random.default_rng(len(name))
    T, B = cfg.max_seq, cfg.max_batch
    want, cycles, _ = check(cfg, random_inputs(cfg, T, B, rng), dense=dense, seed=len(name))
    assert 0 < want.nonzeros < want.dz.size   # the threshold left some of each


@pytest.mark.parametrize("name", ["C1-forwarded", "P4-C3", "compact-C2"])
def test_no_read_in_the_cycle_of_its_write_is_used(name, random_inputs, monkeypatch):
    """The lanes' block RAMs are built without read/write collision logic (hw.mac_lanes.MacLanes._memory):
    with every such read spoilt, two back-to-back sequences in both modes are still exact."""
    from hw.mac_lanes import MacLanes
    monkeypatch.setattr(MacLanes, "poison_collisions", True)
    cfg = EngineConfig(**CONFIGS[name])
    for dense in (False, True):
        check(cfg, random_inputs(cfg, 3, cfg.max_batch, np.random.default_rng(5)), dense=dense, runs=2, seed=3)


def test_without_handshake_gaps_the_host_never_stalls_the_engine_behind_three_deep_fifos(random_inputs):
    """With FIFOs of 3 a host that keeps up never stalls the core (hw.engine.Engine: the decision leaves out
    the host's transfer of the cycle); with 2 it does, a stream moving two transfers in three cycles (and
    the run is still exact)."""
    cfg = EngineConfig(**CONFIGS["P4-C3"])
    inputs = random_inputs(cfg, 4, 2, np.random.default_rng(1))
    assert check(cfg, inputs, dense=False, gap=0, stall=0, fifo_depth=3)[2] == [0]
    assert check(cfg, inputs, dense=False, gap=0, stall=0, fifo_depth=2)[2][0] > 0


@pytest.mark.parametrize("depth", [0, 4, 2.5, "2"])
def test_a_fifo_depth_outside_1_to_3_is_refused_by_name(depth):
    from golden_model.errors import ConfigError
    from hw.engine import Engine
    with pytest.raises(ConfigError, match=r"fifo_depth must be 1, 2 or 3, not"):
        Engine(EngineConfig(**CONFIGS["P1"]), fifo_depth=depth)


@pytest.mark.parametrize("depth", [1, 3])
def test_every_fifo_depth_under_hostile_handshakes(depth, random_inputs):
    cfg = EngineConfig(**CONFIGS["B1-odd"])
    check(cfg, random_inputs(cfg, 5, 1, np.random.default_rng(depth)), dense=False, fifo_depth=depth, runs=2,
          seed=depth)


def test_two_sequences_back_to_back_start_from_clear_accumulators(random_inputs):
    cfg = EngineConfig(**CONFIGS["P4-C3"])
    check(cfg, random_inputs(cfg, 3, 2, np.random.default_rng(2)), dense=False, runs=2)


def test_shorter_sequence_and_smaller_batch_than_the_maximum(random_inputs):
    cfg = EngineConfig(input_size=6, hidden_size=4, lanes=2, max_batch=3, max_seq=6)
    check(cfg, random_inputs(cfg, 2, 1, np.random.default_rng(3)), dense=False)


@pytest.mark.parametrize("dense", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["skip", "dense"])
def test_real_trace(dense):
    """Four steps and two sequences of the committed Jane Austen trace (H = 32, I = 81), P = 16. (Dense mode with
    -m slow, 70-90 s: the default suite runs a committed trace in both modes on Verilator, tests/sim/test_cosim.py.)"""
    t = load_trace(DATA / "austen_lstm_h32.npz")
    cfg = replace(t.config, lanes=16, max_batch=2, max_seq=4, dw_acc_width=None, da_acc_width=None,
                  db_acc_width=None)
    p = t.passes[0]
    steps, batch = slice(-4, None), slice(0, 2)
    inputs = EngineInputs(gates=p.gates[steps, batch], tanh_c=p.tanh_c[steps, batch], c_prev=p.c_prev[steps, batch],
                          a=p.a[steps, batch], dh=p.dh[steps, batch], W=p.W, tau=p.tau)
    want, cycles, _ = check(cfg, inputs, dense=dense, seed=5)
    assert 0.7 < 1 - want.nonzeros / want.dz.size < 0.95


# -- directed cases -----------------------------------------------------------------------------------

def test_all_zero_dz(random_inputs):
    cfg = EngineConfig(**CONFIGS["P4-C3"])
    inputs = random_inputs(cfg, 3, 2, np.random.default_rng(4), tau=cfg.grad.max_int)
    want, cycles, _ = check(cfg, inputs, dense=False)
    assert want.nonzeros == 0 and cycles["issued"] == 0


def test_all_nonzero_dz(random_inputs):
    cfg = EngineConfig(**CONFIGS["P4-C3"])
    inputs = random_inputs(cfg, 3, 2, np.random.default_rng(5), tau=0, dh_scale=30000)
    one = 1 << cfg.act.frac
    inputs.gates[...] = np.clip(inputs.gates, one // 8, one - one // 8)    # every gate derivative nonzero
    inputs.tanh_c[...] = one // 2
    want, cycles, _ = check(cfg, inputs, dense=False)
    assert want.nonzeros == want.dz.size and cycles["issued"] == want.dz.size


def one_gate_inputs(cfg, T, B, gates):
    """Inputs whose dz is nonzero only where ``gates`` says: i = 1/2, f = 0, g = 1, o = 1 gives dz_i alone
    (f(1-f), 1-g^2 and o(1-o) vanish); dh is nonzero only where the mask (T, B, H) is set."""
    H, N = cfg.hidden_size, cfg.n_inputs
    one = 1 << cfg.act.frac
    g = np.zeros((T, B, 4 * H), np.int64)
    g[..., :H], g[..., 2 * H:3 * H], g[..., 3 * H:] = one // 2, one, one
    rng = np.random.default_rng(6)
    return EngineInputs(gates=g, tanh_c=np.full((T, B, H), one // 2), c_prev=np.zeros((T, B, H), np.int64),
                        a=rng.integers(-one, one, (T, B, N)), dh=np.where(gates, 3000, 0),
                        W=rng.integers(-1 << 13, 1 << 13, (4 * H, N)), tau=0)


def test_one_nonzero_at_the_last_index():
    cfg = EngineConfig(**CONFIGS["P4-C3"])
    mask = np.zeros((1, 2, 4), bool)
    mask[0, 1, 3] = True                      # unit H-1 of the last batch: the last element
    inputs = one_gate_inputs(cfg, 1, 2, mask)
    one = 1 << cfg.act.frac
    inputs.gates[0, 1, 3], inputs.gates[0, 1, 15] = 0, one // 2    # ... and its gate o alone: the last index
    want, _, _ = check(cfg, inputs, dense=False)
    nz = np.argwhere(want.dz != 0)
    assert nz.tolist() == [[0, 1, 15]]


@pytest.mark.parametrize("lanes", [4, 2, 1])
def test_consecutive_nonzeros_in_one_row_with_c_below_the_forward_window(lanes):
    """N = 4 columns in C = 1, 2 or 4 per lane: dz_i alone, every batch, so (k = j, b) then (k = j, b + 1)
    follow each other in the same row, closer than the accumulators' read-modify-write for C < 4: the
    sums are forwarded, no entry waits, and the results and cycles equal the model's."""
    cfg = EngineConfig(input_size=2, hidden_size=2, lanes=lanes, max_batch=3, max_seq=2)
    inputs = one_gate_inputs(cfg, 2, 3, np.ones((2, 3, 2), bool))
    want, cycles, _ = check(cfg, inputs, dense=False)
    assert cycles["hazard"] == 0
    rows = np.argwhere(want.dz[1] != 0)[:, 1]
    assert set(rows.tolist()) == {0, 1}       # gate i only


def test_saturating_inputs_raise_the_same_flags():
    """Narrow accumulators and full-scale inputs of one sign: every sum saturates, in both worlds."""
    cfg = EngineConfig(input_size=3, hidden_size=2, lanes=2, max_batch=3, max_seq=8,
                       dw_acc_width=32, da_acc_width=32, db_acc_width=17)
    inputs = one_gate_inputs(cfg, 8, 3, np.ones((8, 3, 2), bool))
    inputs.dh[...] = cfg.grad.max_int
    inputs.a[...] = cfg.inp.max_int
    inputs.W[...] = cfg.weight.max_int
    want, _, _ = check(cfg, inputs, dense=False)
    assert want.flags == {"gate": True, "dw": True, "da": False, "db": True, "out": True}


def test_reset_in_the_middle_of_a_sequence_then_a_clean_run(random_inputs):
    """Reset during step 1 of a sequence; after the engine has cleared its accumulators, the next
    sequence's results equal the model's (nothing of the interrupted run survives)."""
    from amaranth.hdl import Module, ResetInserter, Signal
    from amaranth.sim import Simulator

    from hw.engine import Engine
    from hw.transfers import a_transfers, decode_outputs, dx_chunks, element_transfers, weight_transfers
    from sim.streams import consumer, stream_put

    cfg = EngineConfig(**CONFIGS["P4-C3"])
    inputs = random_inputs(cfg, 4, 2, np.random.default_rng(8))
    want = run_engine(cfg, inputs)
    T, B = 4, 2
    engine, rst = Engine(cfg), Signal()
    top = Module()
    top.submodules.engine = ResetInserter(rst)(engine)
    elems = [e for t in range(T - 1, -1, -1) for e in element_transfers(cfg, inputs, t)]
    chunks = [a for t in range(T - 1, -1, -1) for a in a_transfers(cfg, inputs, t)]
    phase = [0]
    got = {"dx": [], "state": [], "dw": [], "db": []}

    def feeder(port, items):
        """Offers the items; a reset ends the first run's offers (a host resets its side too)."""
        async def bench(ctx):
            for run in (0, 1):
                while phase[0] != 2 * run:
                    await ctx.tick()
                for item in items:
                    ctx.set(port.valid, 1)
                    ctx.set(port.payload, item)
                    while True:
                        _, _, ready = await ctx.tick().sample(port.ready)
                        if ready or phase[0] != 2 * run:
                            break
                    ctx.set(port.valid, 0)
                    if phase[0] != 2 * run:
                        break
        return bench

    async def control(ctx):
        for run in (0, 1):
            await ctx.tick().until(engine.idle)
            for chunk in weight_transfers(cfg, inputs.W):
                await stream_put(ctx, engine.i_weight, chunk)
            for name, value in (("tau", inputs.tau), ("dense", 0), ("seq_len", T), ("batch", B), ("start", 1)):
                ctx.set(getattr(engine, name), value)
            await ctx.tick()
            ctx.set(engine.start, 0)
            if run == 0:                           # into step 1, then reset for a cycle
                await ctx.tick().repeat(120)
                ctx.set(rst, 1)
                phase[0] = 1
                await ctx.tick()
                ctx.set(rst, 0)
                await ctx.tick()
                phase[0] = 2
            else:
                await ctx.tick().until(engine.idle)

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(control)
    sim.add_testbench(feeder(engine.i_elem, elems))
    sim.add_testbench(feeder(engine.i_a, chunks))
    counts = {"dx": T * B * len(dx_chunks(cfg)), "state": B * cfg.hidden_size,
              "dw": cfg.n_rows * cfg.cols_per_lane, "db": cfg.n_rows}
    ports = {"dx": engine.o_dx, "state": engine.o_state, "dw": engine.o_dw, "db": engine.o_db}

    def collector(name):
        async def bench(ctx):
            while phase[0] != 2:
                await ctx.tick()
            await consumer(ports[name], counts[name], got[name], stall=0.3, seed=len(name))(ctx)
        return bench

    for name in got:
        sim.add_testbench(collector(name))
    sim.run()
    plain = {"dx": [[int(p[i]) for i in range(cfg.lanes)] for p in got["dx"]],
             "state": [{"dh0": int(p["dh0"]), "dc0": int(p["dc0"])} for p in got["state"]],
             "dw": [[int(p[i]) for i in range(cfg.lanes)] for p in got["dw"]], "db": [int(p) for p in got["db"]]}
    out = decode_outputs(cfg, T, B, plain["dx"], plain["state"], plain["dw"], plain["db"])
    assert out.mismatches(want) == []


@pytest.mark.parametrize("seq_len, batch", [(0, 2), (5, 2), (4, 0), (4, 3)])
def test_a_start_with_t_or_b_out_of_range_is_refused(seq_len, batch):
    from amaranth.sim import Simulator

    from hw.engine import Engine

    cfg = EngineConfig(**CONFIGS["P4-C3"])   # max_seq 4, max_batch 2
    dut = Engine(cfg)
    seen = []

    async def bench(ctx):
        await ctx.tick().until(dut.idle)
        for s, b, expect in ((seq_len, batch, 1), (2, 1, 0)):
            ctx.set(dut.seq_len, s)
            ctx.set(dut.batch, b)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            await ctx.tick()
            seen.append((int(ctx.get(dut.refused)), int(ctx.get(dut.idle))))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [(1, 1), (0, 0)]   # refused and still idle; then a valid start is taken
