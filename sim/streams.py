"""Stream helpers for Amaranth testbenches (in the style of Glasgow's): put and get one transfer,
and a producer / consumer pair with seeded random gaps and back-pressure."""

import random

__all__ = ["stream_put", "stream_get", "producer", "consumer"]


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


def consumer(stream, count, out, *, stall=0.0, seed=1):
    """A testbench that takes ``count`` transfers into ``out``, refusing with probability ``stall`` each cycle."""
    rng = random.Random(seed)

    async def bench(ctx):
        while len(out) < count:
            ready = rng.random() >= stall
            ctx.set(stream.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(stream.valid, stream.payload)
            if ready and valid:
                out.append(payload)
        ctx.set(stream.ready, 0)
    return bench
