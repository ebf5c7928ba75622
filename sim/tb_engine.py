"""cocotb testbench of the exported engine (loaded by the simulator; driven by sim.cosim).

In the style of cocotb's matrix_multiplier example: a driver per input stream
and a monitor per output stream, payloads packed and unpacked through
hw.layouts; a scoreboard against golden_model.engine_model and
golden_model.cycles. The job (configuration, inputs, runs with their mode,
seed, gap and stall probabilities, an optional reset in the middle) comes from
the JSON file named by ``ZSKIP_COSIM_JOB``; the results, including the first
mismatch of each run, go to the JSON file the job names.

Python stays off the per-cycle path where the protocol allows it: the clock is
the simulator's own, and a driver whose stream is not ready, or a monitor whose
stream has nothing to offer, sleeps until the ready or valid signal rises.
"""

import json
import os
import random
import time
from pathlib import Path

import cocotb
import numpy as np
from amaranth.hdl import Const
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, with_timeout

from golden_model.cycles import cycle_counts, max_cycles
from golden_model.engine_config import EngineConfig
from golden_model.engine_model import EngineInputs, run_engine
from hw.controller import counters_layout, flags_layout
from hw.fixed import shape_of
from hw.layouts import chunk_layout, element_layout, state_layout
from hw.transfers import a_transfers, dx_chunks, element_transfers, expected_transfers, weight_transfers

PERIOD_NS = 10


def _pack(layout, item):
    return layout.const(item).as_bits() if not isinstance(item, int) else item


class Driver:
    """Offers items on an input stream (``<name>__valid/ready/payload``), idling a random number of
    cycles before each with probability ``gap`` per cycle."""

    def __init__(self, dut, name, rng, gap):
        self.clk, self.rng, self.gap = dut.clk, rng, gap
        self.valid, self.ready = getattr(dut, f"{name}__valid"), getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.valid.value = 0

    async def send(self, words):
        for word in words:
            while self.gap and self.rng.random() < self.gap:
                await RisingEdge(self.clk)
            self.payload.value = word
            self.valid.value = 1
            while True:
                await ReadOnly()
                ready = int(self.ready.value)
                if not ready and not self.gap:
                    await RisingEdge(self.ready)      # sleep through a long refusal
                    await ReadOnly()
                    ready = int(self.ready.value)
                await RisingEdge(self.clk)
                if ready:
                    break
            self.valid.value = 0


class Monitor:
    """Takes ``count`` transfers from an output stream, refusing with probability ``stall`` per cycle."""

    def __init__(self, dut, name, rng, stall):
        self.clk, self.rng, self.stall = dut.clk, rng, stall
        self.valid, self.ready = getattr(dut, f"{name}__valid"), getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.ready.value = 0
        self.words = []

    async def take(self, count):
        while len(self.words) < count:
            ready = self.rng.random() >= self.stall
            self.ready.value = int(ready)
            await ReadOnly()
            valid = int(self.valid.value)
            if ready and valid:
                self.words.append(int(self.payload.value))
            elif ready and not self.stall:
                await RisingEdge(self.valid)          # nothing offered: sleep until there is
                continue
            await RisingEdge(self.clk)
        self.ready.value = 0


def _fields(layout, word):
    view = layout.from_bits(word)
    return {name: int(view[name]) for name, _ in layout}


class Scoreboard:
    """Expected transfers of each output stream for one sequence, and where a transfer belongs."""

    def __init__(self, config, result):
        self.config, self.expected = config, expected_transfers(config, result)
        self.T, self.B, _ = result.dx.shape

    def locate(self, stream, n):
        """Human words for transfer n of a stream."""
        c, B, H = self.config, self.B, self.config.hidden_size
        if stream == "dx":
            per_step = len(dx_chunks(c)) * B
            step, k = divmod(n, per_step)
            chunk, b = dx_chunks(c)[k // B], k % B
            return (f"step t = {self.T - 1 - step}, batch {b}, dx columns {chunk * c.lanes}.."
                    f"{min((chunk + 1) * c.lanes, c.input_size) - 1}")
        if stream == "state":
            return f"unit j = {n // B}, batch {n % B}"
        if stream == "dw":
            k, chunk = divmod(n, c.cols_per_lane)
            return f"row k = {k}, columns {chunk * c.lanes}..{min((chunk + 1) * c.lanes, c.n_inputs) - 1}"
        return f"row k = {n}"

    def first_mismatch(self, got):
        for stream in ("dx", "state", "dw", "db"):
            want, have = self.expected[stream], got[stream]
            for n, (w, h) in enumerate(zip(want, have)):
                if w != h:
                    return {"stream": stream, "index": n, "where": self.locate(stream, n), "expected": w, "actual": h}
            if len(want) != len(have):
                return {"stream": stream, "index": min(len(want), len(have)), "where": "count",
                        "expected": len(want), "actual": len(have)}
        return None


def _load_inputs(path):
    with np.load(path) as z:
        return EngineInputs(gates=z["gates"], tanh_c=z["tanh_c"], c_prev=z["c_prev"], a=z["a"], dh=z["dh"],
                            W=z["W"], tau=int(z["tau"]))


async def _reset(dut, cycles=2):
    dut.rst.value = 1
    dut.start.value = 0
    for name in ("i_weight", "i_elem", "i_a"):
        getattr(dut, f"{name}__valid").value = 0
    for name in ("o_dx", "o_state", "o_dw", "o_db"):
        getattr(dut, f"{name}__ready").value = 0
    await ClockCycles(dut.clk, cycles)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


async def _wait_idle(dut):
    await ReadOnly()
    if not int(dut.idle.value):
        await RisingEdge(dut.idle)
    await RisingEdge(dut.clk)


async def _run(dut, config, inputs, run, layouts):
    """One sequence: weights, start, streams; returns the transfers received and the registers."""
    rng = random.Random(run["seed"])
    gap, stall = run["gap"], run["stall"]
    T, B = inputs.dh.shape[:2]
    words = {
        "i_weight": [_pack(layouts["weight"], ch) for ch in weight_transfers(config, inputs.W)],
        "i_elem": [_pack(layouts["elem"], e) for t in range(T - 1, -1, -1) for e in element_transfers(config, inputs, t)],
        "i_a": [_pack(layouts["a"], ch) for t in range(T - 1, -1, -1) for ch in a_transfers(config, inputs, t)],
    }
    counts = {"o_dx": T * B * len(dx_chunks(config)), "o_state": B * config.hidden_size,
              "o_dw": config.n_rows * config.cols_per_lane, "o_db": config.n_rows}
    await _wait_idle(dut)
    await Driver(dut, "i_weight", rng, gap).send(words["i_weight"])
    await _wait_idle(dut)
    dut.tau.value = int(run.get("hw_tau", inputs.tau))
    dut.dense.value = int(run["dense"])
    dut.seq_len.value = T
    dut.batch.value = B
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    t0, wall0 = cocotb.utils.get_sim_time("ns"), time.perf_counter()
    drivers = [cocotb.start_soon(Driver(dut, name, random.Random(rng.random()), gap).send(words[name]))
               for name in ("i_elem", "i_a")]
    monitors = {name: Monitor(dut, name, random.Random(rng.random()), stall) for name in counts}
    tasks = [cocotb.start_soon(monitors[name].take(n)) for name, n in counts.items()]
    if run.get("reset_after") is not None:          # a reset in the middle of the run: abandon it
        await ClockCycles(dut.clk, run["reset_after"])
        for task in drivers + tasks:
            task.cancel()
        await _reset(dut)
        return None
    for task in tasks:
        await task
    await _wait_idle(dut)
    wall = time.perf_counter() - wall0
    sim_cycles = int((cocotb.utils.get_sim_time("ns") - t0) // PERIOD_NS)
    received = {"dx": [], "state": [], "dw": [], "db": []}
    for name, key in (("o_dx", "dx"), ("o_dw", "dw")):
        lay = layouts[key]
        received[key] = [[int(lay.from_bits(w)[p]) for p in range(config.lanes)] for w in monitors[name].words]
    received["state"] = [_fields(layouts["state"], w) for w in monitors["o_state"].words]
    received["db"] = [Const(w, shape_of(config.db_acc)).value for w in monitors["o_db"].words]   # (signed)
    return {"received": received, "counters": _fields(layouts["counters"], int(dut.counters.value)),
            "flags": {k: bool(v) for k, v in _fields(layouts["flags"], int(dut.flags.value)).items()},
            "stall": int(dut.stall.value), "sim_cycles": sim_cycles, "wall_s": wall, "t_start_ns": t0}


@cocotb.test()
async def engine_against_the_golden_model(dut):
    job = json.loads(Path(os.environ["ZSKIP_COSIM_JOB"]).read_text())
    config = EngineConfig.from_dict(job["config"])
    inputs = _load_inputs(job["inputs"])
    layouts = {"weight": chunk_layout(config, config.weight), "elem": element_layout(config),
               "a": chunk_layout(config, config.inp), "dx": chunk_layout(config, config.grad),
               "state": state_layout(config), "dw": chunk_layout(config, config.dw_acc),
               "counters": counters_layout(config), "flags": flags_layout()}
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    await _reset(dut)
    results, failures = [], []
    for run in job["runs"]:
        # A hang fails the run instead of the simulator running forever (see sim.pysim for the bound)
        T, B = inputs.dh.shape[:2]
        transfers = 2 * config.n_rows * config.cols_per_lane + T * B * (config.hidden_size + 2 * config.cols_per_lane)
        budget = 4 * (max_cycles(config) + transfers) / (1 - max(run.get("gap", 0), run.get("stall", 0), 0))
        got = await with_timeout(_run(dut, config, inputs, run, layouts), int(budget) * PERIOD_NS, "ns")
        if got is None:
            results.append({"run": run, "reset": True})
            continue
        model_inputs = inputs
        if "model_tau" in run:
            model_inputs = EngineInputs(**{**inputs.__dict__, "tau": int(run["model_tau"])})
        result = run_engine(config, model_inputs, dense=run["dense"])
        cycles = cycle_counts(config, result).to_dict()
        board = Scoreboard(config, result)
        for stream, index in run.get("corrupt", []):   # a deliberately wrong expectation
            w = board.expected[stream][index]
            board.expected[stream][index] = ({k: v + 1 for k, v in w.items()} if isinstance(w, dict) else
                                             [v + 1 for v in w] if isinstance(w, list) else w + 1)
        mismatch = board.first_mismatch(got["received"])
        counters_ok = {k: (got["counters"][k], cycles[k]) for k in got["counters"] if got["counters"][k] != cycles[k]}
        flags_ok = {k: (got["flags"][k], result.flags[k]) for k in result.flags if got["flags"][k] != result.flags[k]}
        entry = {"run": run, "passed": mismatch is None and not counters_ok and not flags_ok,
                 "mismatch": mismatch, "counter_mismatches": counters_ok, "flag_mismatches": flags_ok,
                 "counters": got["counters"], "model_cycles": cycles, "flags": got["flags"], "stall": got["stall"],
                 "sim_cycles": got["sim_cycles"], "wall_s": got["wall_s"], "t_start_ns": got["t_start_ns"],
                 "nonzeros": result.nonzeros,
                 "entries": int(result.dz.size)}
        results.append(entry)
        if not entry["passed"]:
            failures.append(entry)
    Path(job["results"]).write_text(json.dumps(results, indent=1, default=int))
    assert not failures, f"{len(failures)} run(s) differ from the golden model; details in {job['results']}"
