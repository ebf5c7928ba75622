"""Stream helpers for Amaranth testbenches (in the style of Glasgow's): put and get one transfer,
a producer / consumer pair with seeded random gaps and back-pressure, a watchdog that turns a hang
into a failure, and :func:`run_stream_unit` for a component with one input and one output stream."""

import random

from amaranth.sim import Simulator

__all__ = ["stream_put", "stream_get", "producer", "consumer", "watchdog", "run_stream_unit"]


async def stream_put(ctx, stream, payload):
    """Offer ``payload`` on ``stream`` and return once it has been taken."""
    ctx.set(stream.valid, 1)
    ctx.set(stream.payload, payload)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream):
    """Take one transfer from ``stream`` and return its payload."""
    ctx.set(stream.ready, 1)
    payload, = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload


def producer(stream, payloads, *, gap=0.0, seed=0):
    """A testbench that puts every payload in order, idling a random number of cycles before each."""
    rng = random.Random(seed)

    async def bench(ctx):
        for payload in payloads:
            while rng.random() < gap:
                await ctx.tick()
            await stream_put(ctx, stream, payload)
    return bench


def consumer(stream, count, out, *, stall=0.0, seed=1, convert=None, check_rules=False):
    """A testbench that takes ``count`` transfers into ``out``, refusing with probability ``stall`` each cycle;
    ``convert`` maps each payload as sampled (to compare it by value); with ``check_rules``, it also asserts the
    stream rule that a transfer offered and refused stays offered, unchanged, in the next cycle."""
    rng = random.Random(seed)
    convert = convert or (lambda payload: payload)

    async def bench(ctx):
        offered = None
        while len(out) < count:
            ready = rng.random() >= stall
            ctx.set(stream.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(stream.valid, stream.payload)
            payload = convert(payload)
            if check_rules and offered is not None:
                assert valid and payload == offered, "a refused transfer was withdrawn or changed"
            offered = payload if valid and not ready else None
            if ready and valid:
                out.append(payload)
        ctx.set(stream.ready, 0)
    return bench


def watchdog(cycles, what, period=1e-8):
    """A background process that fails the simulation if it is still running after ``cycles`` clock
    periods (a design that hangs then fails a test instead of stalling it forever)."""
    async def process(ctx):
        await ctx.delay(cycles * period)
        raise TimeoutError(f"{what} did not finish within {cycles} cycles")
    return process


def run_stream_unit(dut, i_stream, payloads, o_stream, count, *, gap=0.0, stall=0.0, seed=0, setup=None,
                    max_cycles=100_000):
    """Simulate ``dut``: offer ``payloads`` on ``i_stream``, take ``count`` transfers from ``o_stream``
    (seeded random gaps and stalls); ``setup(ctx)`` sets static inputs first. Returns the payloads taken."""
    out = []
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    if setup is not None:
        async def static(ctx):
            setup(ctx)
        sim.add_testbench(static)
    sim.add_testbench(producer(i_stream, payloads, gap=gap, seed=seed))
    sim.add_testbench(consumer(o_stream, count, out, stall=stall, seed=seed + 1))
    sim.add_process(watchdog(max_cycles, type(dut).__name__))
    sim.run()
    return out
