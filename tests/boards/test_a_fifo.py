"""The board's a_t FIFO behind the host link's crossing (boards.top.BoardCore._a_fifo): each slice written a
cycle after the crossing's take, from a copy of the take beside it, and the crossing's ready a register
counting the FIFO's places. With the engine slower than the host the places run out: the ready must then
fall before the FIFO is full, and no chunk may be lost, doubled or reordered."""

import random
from types import SimpleNamespace

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from boards.top import BoardCore
from hw.layouts import chunk_layout
from tests.hw.parts import config, run


class AFifo(wiring.Component):
    """``BoardCore._a_fifo`` between a crossing's reading side (``a_in``) and an engine whose a_t input takes
    a chunk in the cycles its slices' room (``a_room``, one bit per lane) is high (``a_out``: what it sees)."""

    def __init__(self, cfg):
        self.config = cfg
        layout = chunk_layout(cfg, cfg.inp)
        super().__init__({"a_in": In(stream.Signature(layout)), "a_room": In(cfg.lanes),
                          "a_out": Out(stream.Signature(layout, always_ready=True))})

    def elaborate(self, platform):
        m = Module()
        i_a = stream.Signature(chunk_layout(self.config, self.config.inp)).create()
        engine = SimpleNamespace(a_room=self.a_room, i_a=i_a)
        BoardCore._a_fifo(self, m, self.a_in, engine, True, "generic")
        m.d.comb += [self.a_out.payload.eq(i_a.payload), self.a_out.valid.eq(i_a.valid)]
        return m


@pytest.mark.parametrize("seed", range(3))
def test_no_chunk_lost_or_doubled_when_the_engine_is_slower_than_the_host(seed):
    """Chunks offered as fast as the crossing can (its payload held three cycles after a take, then the next
    offered), taken by an engine that is first slow, then fast: every chunk arrives once, in order, and
    the ready falls while the places are all taken."""
    rng = random.Random(seed)
    cfg = config(lanes=2, max_batch=2)
    dut = AFifo(cfg)
    cycles, lanes = 400, cfg.lanes
    chunks = [[rng.randrange(1 << 15) for _ in range(lanes)] for _ in range(120)]
    state = {"next": 0, "hold": 0}
    refused = []

    def step(ctx, t):
        if state["hold"]:                           # the crossing's payload holds after a take
            state["hold"] -= 1
            ctx.set(dut.a_in.valid, 0)
        elif state["next"] < len(chunks):
            ctx.set(dut.a_in.valid, 1)
            ctx.set(dut.a_in.payload, chunks[state["next"]])
            if ctx.get(dut.a_in.ready):
                state["next"] += 1
                state["hold"] = 3
            else:
                refused.append(t)
        room = rng.random() < (0.1 if t < 200 else 0.9)
        ctx.set(dut.a_room, (1 << lanes) - 1 if room else 0)
        taken = room and ctx.get(dut.a_out.valid)
        return {"taken": taken, "chunk": [int(v) for v in ctx.get(dut.a_out.payload)]}

    trace = run(dut, cycles, step)
    got = [r["chunk"] for r in trace if r["taken"]]
    assert got == chunks[:len(got)] and len(got) > 3 * (cfg.max_batch * cfg.cols_per_lane + 1)
    assert refused and min(refused) < 200              # the places ran out while the engine was slow
