# amaranth: UnusedElaboratable=no
"""The UART: bytes go out and come back unchanged (loopback, random gaps and back-pressure), a bad stop
bit is refused with a framing error, a byte not taken in time is reported, divisors are validated."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from hw.uart import UARTRx, UARTTx
from sim.streams import consumer, producer


@pytest.mark.parametrize("divisor", [4, 7, 16])
def test_loopback(divisor):
    m = Module()
    m.submodules.tx = tx = UARTTx(divisor)
    m.submodules.rx = rx = UARTRx(divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    data = [random.Random(divisor).randrange(256) for _ in range(40)] + [0x00, 0xFF, 0x55, 0xAA]
    out = []
    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(producer(tx.i_data, data, gap=0.3, seed=divisor))
    sim.add_testbench(consumer(rx.o_data, len(data), out, stall=0.2, seed=divisor))
    sim.run()
    assert [int(b) for b in out] == data


def drive_bits(divisor, bits):
    """A testbench that drives ``rx`` with the given bits, ``divisor`` cycles each, then idles high."""
    async def bench(ctx, rx):
        for b in bits:
            ctx.set(rx, b)
            await ctx.tick().repeat(divisor)
        ctx.set(rx, 1)
        await ctx.tick().repeat(3 * divisor)
    return bench


def test_a_bad_stop_bit_is_a_framing_error_and_the_next_byte_still_arrives():
    d = 8
    dut = UARTRx(d)
    frames = [0, 1, 0, 1, 0, 1, 0, 1, 0, 0]          # start, 0x55 (LSB first) and a 0 stop bit
    good = [0] + [(0x66 >> i) & 1 for i in range(8)] + [1]
    seen, errors = [], []
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def bench(ctx):
        ctx.set(dut.o_data.ready, 1)
        await drive_bits(d, frames + [1, 1] + good)(ctx, dut.rx)

    async def watch(ctx):
        async for _, _, valid, payload, err in ctx.tick().sample(dut.o_data.valid, dut.o_data.payload,
                                                                  dut.framing_error):
            if valid:
                seen.append(int(payload))
            errors.append(int(err))

    sim.add_testbench(bench)
    sim.add_process(watch)
    sim.run()
    assert sum(errors) == 1 and seen == [0x66]


def test_overrun_is_reported():
    d = 6
    dut = UARTRx(d)
    byte = lambda v: [0] + [(v >> i) & 1 for i in range(8)] + [1]   # noqa: E731
    seen, overruns = [], []
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def bench(ctx):
        ctx.set(dut.o_data.ready, 0)                  # nobody takes the first byte
        await drive_bits(d, byte(0x12) + byte(0x34))(ctx, dut.rx)

    async def watch(ctx):
        async for _, _, valid, payload, ovr in ctx.tick().sample(dut.o_data.valid, dut.o_data.payload, dut.overrun):
            seen.append(int(payload) if valid else None)
            overruns.append(int(ovr))

    sim.add_testbench(bench)
    sim.add_process(watch)
    sim.run()
    assert sum(overruns) == 1 and 0x12 in seen and 0x34 not in seen


@pytest.mark.parametrize("bad", [3, 0, -1, 4.0, True])
def test_divisor_is_validated(bad):
    with pytest.raises(ValueError, match="divisor"):
        UARTTx(bad)
    with pytest.raises(ValueError, match="divisor"):
        UARTRx(bad)
