"""hw.crossing.StreamCrossing: every transfer once, in order, under random valid/ready patterns on both sides,
with either clock the faster and with clocks whose ratio is no integer; with the writer holding a copy of the
payload and without (the source then changes its payload right after each transfer, as it may)."""

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

from hw.crossing import StreamCrossing


@pytest.mark.parametrize("hold", [False, True], ids=["steady-source", "hold"])
@pytest.mark.parametrize("w_ns, r_ns", [(10, 23), (23, 10), (10, 10), (13, 7)], ids=["slow-reader", "slow-writer",
                                                                                      "same", "fast-reader"])
def test_every_transfer_arrives_once_in_order(w_ns, r_ns, hold):
    n, rng = 60, np.random.default_rng(w_ns * 100 + r_ns)
    words = [int(x) for x in rng.integers(0, 1 << 20, n)]
    m = Module()
    m.domains.wr, m.domains.rd = ClockDomain("wr"), ClockDomain("rd")
    m.submodules.dut = dut = StreamCrossing(20, w_domain="wr", r_domain="rd", hold=hold, slice_bits=8)
    sim = Simulator(m)
    sim.add_clock(w_ns * 1e-9, domain="wr")
    sim.add_clock(r_ns * 1e-9, domain="rd", phase=r_ns * 0.37e-9)
    got = []

    async def writer(ctx):
        for word in words:
            ctx.set(dut.i_data.payload, word)
            ctx.set(dut.i_data.valid, 0)
            while rng.random() < 0.4:                    # gaps between offers
                await ctx.tick("wr")
            ctx.set(dut.i_data.valid, 1)
            await ctx.tick("wr").until(dut.i_data.ready)
            ctx.set(dut.i_data.payload, word ^ 0xFFFFF)  # (a payload that changes after its transfer)
        ctx.set(dut.i_data.valid, 0)

    async def reader(ctx):
        for _ in range(40 * n):                          # (a lost transfer ends the wait, not the test run)
            if len(got) >= n:
                break
            ready = int(rng.random() < 0.6)
            ctx.set(dut.o_data.ready, ready)
            _, _, valid, payload = await ctx.tick("rd").sample(dut.o_data.valid, dut.o_data.payload)
            if valid and ready:
                got.append(payload)
        for _ in range(20):                              # nothing more comes
            ctx.set(dut.o_data.ready, 1)
            _, _, valid = await ctx.tick("rd").sample(dut.o_data.valid)
            assert not valid

    sim.add_testbench(writer)
    sim.add_testbench(reader)
    sim.run()
    assert got == words
