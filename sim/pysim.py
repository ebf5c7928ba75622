"""The engine in Amaranth's own (Python) simulator: EngineInputs in, decoded outputs, counters,
flags and stall cycles out, under seeded random handshakes.

Exact but slow (about a thousand cycles a second): for unit tests and short
slices of real traces. Whole sequences go through Verilator (sim.cosim).
"""

import random
from types import SimpleNamespace

from amaranth.sim import Simulator

from hw.engine import Engine
from hw.layouts import field_values
from hw.transfers import a_transfers, decode_outputs, element_transfers, output_counts, weight_transfers

from .jobs import cycle_budget
from .streams import consumer, producer, stream_put, watchdog

__all__ = ["simulate"]


def _plain(payload, kind):
    if kind == "chunk":
        return [int(payload[p]) for p in range(len(payload))]
    if kind == "state":
        return {"dh0": int(payload["dh0"]), "dc0": int(payload["dc0"])}
    return int(payload)


def simulate(config, inputs, *, dense=False, gap=0.0, stall=0.0, seed=0, vcd=None, runs=1, fifo_depth=2):
    """Simulate ``runs`` sequences of ``inputs`` back to back on one Engine (``fifo_depth``: its
    FIFOs'); returns a list of
    SimpleNamespace(outputs, counters, flags, stall) (``outputs`` from hw.transfers.decode_outputs).
    Raises TimeoutError when the engine does not finish in a generous bound of cycles."""
    if not 0 <= gap < 1 or not 0 <= stall < 1:
        raise ValueError(f"gap and stall are probabilities below 1, not {gap!r}, {stall!r}")
    dut = Engine(config, fifo_depth=fifo_depth)
    T, B = inputs.dh.shape[:2]
    rng = random.Random(seed)
    elems = [e for t in range(T - 1, -1, -1) for e in element_transfers(config, inputs, t)] * runs
    chunks = [a for t in range(T - 1, -1, -1) for a in a_transfers(config, inputs, t)] * runs
    got = {"dx": [], "state": [], "dw": [], "db": []}
    per_run = output_counts(config, T, B)
    results = []

    async def control(ctx):
        await ctx.tick().until(dut.idle)
        for chunk in weight_transfers(config, inputs.W):
            while rng.random() < gap:
                await ctx.tick()
            await stream_put(ctx, dut.i_weight, chunk)
        for _ in range(runs):
            ctx.set(dut.tau, int(inputs.tau))
            ctx.set(dut.dense, dense)
            ctx.set(dut.seq_len, T)
            ctx.set(dut.batch, B)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            await ctx.tick().until(dut.idle)
            results.append(SimpleNamespace(counters=field_values(ctx.get(dut.counters)),
                                           flags={k: bool(v) for k, v in field_values(ctx.get(dut.flags)).items()},
                                           stall=int(ctx.get(dut.stall))))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    # a hang fails instead of stalling the caller
    sim.add_process(watchdog(cycle_budget(config, T, B, gap, stall, runs), "the engine"))
    sim.add_testbench(control)
    sim.add_testbench(producer(dut.i_elem, elems, gap=gap, seed=seed + 1))
    sim.add_testbench(producer(dut.i_a, chunks, gap=gap, seed=seed + 2))
    raw = {name: [] for name in got}
    for n, (name, port) in enumerate((("dx", dut.o_dx), ("state", dut.o_state), ("dw", dut.o_dw),
                                      ("db", dut.o_db))):
        sim.add_testbench(consumer(port, per_run[name] * runs, raw[name], stall=stall, seed=seed + 3 + n))
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    kinds = {"dx": "chunk", "state": "state", "dw": "chunk", "db": "int"}
    for name in got:
        got[name] = [_plain(p, kinds[name]) for p in raw[name]]
    for r, res in enumerate(results):
        part = {name: got[name][r * per_run[name]:(r + 1) * per_run[name]] for name in got}
        res.outputs = decode_outputs(config, T, B, part["dx"], part["state"], part["dw"], part["db"])
    return results
