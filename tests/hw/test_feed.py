"""The feed (hw.feed) against its docstring and the latencies golden_model.cycles reads from it: the walk
(unit j, batch b within j; one element every ggu_cycles cycles, taken from the host ``Feed.take_latency_of(config)``
and offered ``Feed.latency_of(config)`` cycles after its walk) with dh_rec and dc_next from its memories, the results on to the dz buffer and ``returned``
(``Feed.return_latency``), and the state walk (dh0, dc0)."""

import pytest
from amaranth.sim import Simulator

from hw.feed import Feed
from hw.layouts import element_layout
from tests.hw.parts import addr, config, high

DELAY = 2          # the stand-in gate-gradient unit's cycles from an offer to its result


def host_elem(cfg, t):
    """The element the host offers in cycle t (distinct in every cycle and field)."""
    return {name: 10 * t + q for q, name in enumerate(element_layout(cfg).members)}


def rec_word(c, b, p):
    """What the test writes into the dh_rec memories: lane p of chunk c of batch row b."""
    return 1000 + 100 * c + 10 * b + p


class Bench:
    """Drives a Feed as the controller, the gate-gradient unit (each offer's result DELAY cycles later:
    the n-th offer's dz ``dz(n)`` and dc_prev 300 + n) would, and records every cycle."""

    def __init__(self, cfg, B, *, dense=False, dz=lambda n: [n + 1, 0, 0, 0]):
        self.cfg, self.B, self.dense, self.dz = cfg, B, dense, dz
        self.dut, self.trace, self.results, self.offers = Feed(cfg), [], {}, 0

    async def cycle(self, ctx, feed=0, emit=0, first=0, step_done=0, rec=None):
        d, t = self.dut, len(self.trace)
        for port, value in ((d.to_unit, feed), (d.to_state, emit), (d.first, first), (d.step_done, step_done),
                            (d.dense, self.dense), (d.b_last, self.B - 1), (d.o_dz.ready, 1),
                            (d.elem, host_elem(self.cfg, t)), (d.rec_we, rec is not None)):
            ctx.set(port, value)
        if rec is not None:
            ctx.set(d.rec_addr, rec[0])
            ctx.set(d.rec_data, rec[1])
        result = self.results.pop(t, None)
        ctx.set(d.i_grad.valid, result is not None)
        if result is not None:
            ctx.set(d.i_grad.payload, result)
        o_elem, o_dz, state = ctx.get(d.o_elem.payload), ctx.get(d.o_dz.payload), ctx.get(d.state)
        r = {"offer": ctx.get(d.o_elem.valid), "want": ctx.get(d.elem_want), "last": ctx.get(d.last),
             "elem": {name: int(o_elem[name]) for name, _ in o_elem.shape()}, "result": result is not None,
             "dz": ctx.get(d.o_dz.valid), "returned": ctx.get(d.returned),
             "entry": (int(o_dz.j), int(o_dz.b), [int(v) for v in o_dz.dz]), "grad_ready": ctx.get(d.i_grad.ready),
             "state_want": ctx.get(d.state_want), "state": (int(state.dh0), int(state.dc0))}
        if r["offer"]:
            n, self.offers = self.offers, self.offers + 1
            dz_i, dz_f, dz_g, dz_o = self.dz(n)
            self.results[t + DELAY] = {"dz_i": dz_i, "dz_f": dz_f, "dz_g": dz_g, "dz_o": dz_o, "dc_prev": 300 + n}
        self.trace.append(r)
        await ctx.tick()
        return r

    async def write_rec(self, ctx):
        """Every chunk of the dh_rec memories: rec_word(c, b, p)."""
        P, C = self.cfg.lanes, self.cfg.cols_per_lane
        for b in range(self.cfg.max_batch):
            for c in range(C):
                await self.cycle(ctx, rec=(addr(c, C, b), [rec_word(c, b, p) for p in range(P)]))

    async def step(self, ctx, first):
        """A step as the controller runs it: feed until ``last``, wait for ``returned``, then ``step_done``.
        Returns the cycle of the first walk."""
        start = len(self.trace)
        while not (await self.cycle(ctx, feed=1, first=first))["last"]:
            assert len(self.trace) < start + 100, "no last element"
        while not (await self.cycle(ctx, first=first))["returned"]:
            assert len(self.trace) < start + 200, "never returned"
        await self.cycle(ctx, first=first, step_done=1)
        return start

    def run(self, script, idle=6):
        async def bench(ctx):
            await script(ctx)
            for _ in range(idle):
                await self.cycle(ctx)

        sim = Simulator(self.dut)
        sim.add_clock(1e-8)
        sim.add_testbench(bench)
        sim.run()
        return self.trace


def walk_order(cfg, B):
    """(j, b) of a step's elements, in the walk's order."""
    return [(j, b) for j in range(cfg.hidden_size) for b in range(B)]


CASES = {  # config, runtime B
    "k1-P2": (config(), 2), "k3-P2": (config(ggu_cycles=3), 2),
    "k1-P1-B1": (config(lanes=1), 1), "k3-P1": (config(lanes=1, ggu_cycles=3), 2),
    "k1-P2-compact": (config(lane_pipeline="compact"), 2),
}


@pytest.mark.parametrize("case", CASES)
def test_walk_offers_each_element_with_dh_rec_and_dc_next(case):
    """Three steps: a first one (dh_rec and dc_next 0), a second one (dh_rec from the memories, dc_next
    the first step's dc_prev), and the first step of a new sequence (0 again, though the memories are full)."""
    cfg, B = CASES[case]
    bench, starts = Bench(cfg, B), []

    async def script(ctx):
        await bench.write_rec(ctx)
        for first in (1, 0, 1):
            starts.append(await bench.step(ctx, first))

    trace = bench.run(script)
    I, P, k, order = cfg.input_size, cfg.lanes, cfg.ggu_cycles, walk_order(cfg, B)
    walks = [[start + n * k for n in range(len(order))] for start in starts]
    offers = [t for w in walks for t in w]
    assert high(trace, "offer") == [t + Feed.latency_of(cfg) for t in offers]
    assert high(trace, "want") == [t + Feed.take_latency_of(cfg) for t in offers]
    assert high(trace, "last") == [w[-1] for w in walks]
    for s, first in enumerate((1, 0, 1)):
        for e, (j, b) in enumerate(order):
            t = walks[s][e] + Feed.latency_of(cfg)
            dh_rec = 0 if first else rec_word((I + j) // P, b, (I + j) % P)
            dc_next = 0 if first else 300 + e            # the first step's n-th result
            taken = walks[s][e] + Feed.take_latency_of(cfg)             # the host's element, as it was then
            assert trace[t]["elem"] == {**host_elem(cfg, taken), "dh_rec": dh_rec, "dc_next": dc_next}, (s, j, b)


DZ = ([0, 5, 0, 0], [-3, 0, 7, 1], [0, 0, 0, 0], [0, 0, 0, 0])   # per element; the last ones without a nonzero


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("dense", [False, True], ids=["skip", "dense"])
def test_results_on_to_the_dz_buffer_and_returned(dense, k):
    """dz on to the buffer in the cycle of their result, only for an element with a nonzero (every one in
    dense mode), with its (j, b); ``returned`` from ``return_latency`` cycles after the last result until
    the cycle after ``step_done``."""
    cfg, B = config(ggu_cycles=k), 2
    bench = Bench(cfg, B, dense=dense, dz=lambda n: DZ[n])

    async def script(ctx):
        await bench.step(ctx, first=1)

    trace = bench.run(script)
    results = high(trace, "result")
    want = [(w, (j, b, dz)) for (j, b), dz, w in zip(walk_order(cfg, B), DZ, results) if dense or any(dz)]
    assert all(r["grad_ready"] for r in trace)
    assert [(t, r["entry"]) for t, r in enumerate(trace) if r["dz"]] == want
    returned = results[-1] + Feed.return_latency
    assert high(trace, "returned") == [returned, returned + 1]   # step_done in the 2nd


@pytest.mark.parametrize("case", ["k1-P2", "k1-P1-B1"])
def test_state_walk_gives_dh0_and_dc0(case):
    """After a step, ``to_state`` walks one element a cycle: dh0 (its dh_rec) and dc0 (its dc_prev) on
    ``state`` with ``state_want`` a cycle later, nothing to the unit."""
    cfg, B = CASES[case]
    bench, emits = Bench(cfg, B), []

    async def script(ctx):
        await bench.write_rec(ctx)
        await bench.step(ctx, first=1)
        emits.append(len(bench.trace))
        while not (await bench.cycle(ctx, emit=1))["last"]:
            assert len(bench.trace) < emits[0] + 20, "no last element"

    trace = bench.run(script)
    I, P, order, E = cfg.input_size, cfg.lanes, walk_order(cfg, B), emits[0]
    assert high(trace, "last")[-1] == E + len(order) - 1
    L = Feed.take_latency_of(cfg)
    assert high(trace, "state_want") == [E + L + e for e in range(len(order))]
    assert [trace[E + L + e]["state"] for e in range(len(order))] == [
        (rec_word((I + j) // P, b, (I + j) % P), 300 + e) for e, (j, b) in enumerate(order)]
    assert not any(r["offer"] or r["want"] for r in trace[E:])
