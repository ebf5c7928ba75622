"""Shared helpers of the engine parts' tests (test_a_loader, test_feed, test_readout, test_counters):
small configurations, the memories' address rule, and a cycle-by-cycle testbench that records a part."""

from amaranth.sim import Simulator

from golden_model.engine_config import EngineConfig
from hw.bits import index_bits

#: I = 3, H = 2, P = 2: N = 5, C = 3, the last chunk holds one column and one padding lane.
SMALL = dict(input_size=3, hidden_size=2, lanes=2, max_batch=2, max_seq=3)


def config(**changes):
    """SMALL with ``changes`` (e.g. ``lanes=1``: C = 5, no padding)."""
    return EngineConfig(**{**SMALL, **changes})


def addr(c, C, i):
    """The address of chunk c of row i (hw.bits.address((c, C), (i, ...)))."""
    return c | (i << index_bits(C))


def chunks(cfg, row):
    """Columns ``row`` (N values) as C chunks of P lanes, the padding lanes 0."""
    P, C = cfg.lanes, cfg.cols_per_lane
    row = list(row) + [0] * (C * P - len(row))
    return [row[c * P:(c + 1) * P] for c in range(C)]


def run(dut, cycles, step):
    """Simulate ``dut`` for ``cycles`` clock cycles, cycle 0 the first after reset.

    ``step(ctx, t)`` sets cycle t's inputs and returns what to record of it: it runs between two
    clock edges, so combinational outputs it reads already see the inputs it set. Returns the records.
    """
    trace = []

    async def bench(ctx):
        for t in range(cycles):
            trace.append(step(ctx, t))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return trace


def high(trace, key):
    """The cycles whose record has ``key`` true."""
    return [t for t, r in enumerate(trace) if r[key]]
