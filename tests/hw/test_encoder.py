"""The zero-skip encoder issues exactly the entries golden_model.engine_model.issue_order says, in that
order (the nonzeros of each element in gate order; every entry in dense mode), under random valid/ready,
and an element with nothing to issue costs one cycle."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden_model.engine_config import EngineConfig
from golden_model.engine_model import issue_order
from hw.encoder import ZeroSkipEncoder
from sim.streams import run_stream_unit

CFG = EngineConfig(input_size=4, hidden_size=5, lanes=2, max_batch=3, max_seq=1)


def elements(rng, n, density):
    H, B = CFG.hidden_size, CFG.max_batch
    dz = rng.integers(-1000, 1000, (n, 4)) * (rng.random((n, 4)) < density)
    return [{"dz": [int(v) for v in dz[e]], "j": e // B % H, "b": e % B} for e in range(n)]


def expected(elems, dense):
    """The model's issue order, step by step (B x H elements make a step's dz (B, 4H))."""
    H, B = CFG.hidden_size, CFG.max_batch
    out = []
    for s in range(0, len(elems), B * H):
        dz = np.zeros((B, 4 * H), np.int64)
        for e in elems[s:s + B * H]:
            dz[e["b"], [q * H + e["j"] for q in range(4)]] = e["dz"]
        kk, bb = issue_order(dz, dense)
        out += [(int(k), int(b), int(dz[b, k])) for k, b in zip(kk, bb)]
    return out


def run(elems, dense, gap, stall, seed):
    dut = ZeroSkipEncoder(CFG)
    want = expected(elems, dense)
    out = run_stream_unit(dut, dut.i_dz, elems, dut.o_nz, len(want), gap=gap, stall=stall, seed=seed,
                          setup=lambda ctx: ctx.set(dut.dense, dense))
    return [(int(p.k), int(p.b), int(p.v)) for p in out], want


@pytest.mark.parametrize("dense", [False, True], ids=["skip", "dense"])
@pytest.mark.parametrize("gap, stall", [(0.0, 0.0), (0.5, 0.0), (0.0, 0.8), (0.3, 0.5)])
def test_issues_the_nonzeros_in_order(dense, gap, stall):
    rng = np.random.default_rng(int(gap * 10 + stall * 100))
    got, want = run(elements(rng, 60, 0.3), dense, gap, stall, seed=3)
    assert got == want


def test_empty_elements_cost_one_cycle_each_and_nonzeros_one_each():
    """With the input always valid and the output always ready: one cycle per empty element, one per entry."""
    dut = ZeroSkipEncoder(CFG)
    rng = np.random.default_rng(1)
    elems = elements(rng, 40, 0.2)
    want = expected(elems, False)
    empty = sum(1 for e in elems if not any(e["dz"]))
    cycles = []
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def bench(ctx):
        ctx.set(dut.o_nz.ready, 1)
        ctx.set(dut.i_dz.valid, 1)
        n = taken = issued = 0
        while issued < len(want):
            if taken < len(elems):
                ctx.set(dut.i_dz.payload, elems[taken])
            ctx.set(dut.i_dz.valid, taken < len(elems))
            _, _, ready, valid = await ctx.tick().sample(dut.i_dz.ready, dut.o_nz.valid)
            taken += bool(ready) and taken < len(elems)
            issued += bool(valid)
            n += 1
        cycles.append(n)

    sim.add_testbench(bench)
    sim.run()
    assert cycles == [len(want) + empty + 1]   # plus the cycle in which the first element is taken


def test_a_hang_fails_instead_of_stalling_the_suite():
    """The watchdog of sim.streams: waiting for a second entry that never comes ends in TimeoutError."""
    dut = ZeroSkipEncoder(CFG)
    with pytest.raises(TimeoutError, match="ZeroSkipEncoder did not finish within 200 cycles"):
        run_stream_unit(dut, dut.i_dz, [{"dz": [1, 0, 0, 0], "j": 0, "b": 0}], dut.o_nz, 2, max_cycles=200)
