"""cocotb testbench of the exported engine (loaded by the simulator; driven by sim.cosim).

In the style of cocotb's matrix_multiplier example: a driver per input stream
and a monitor per output stream, payloads packed and unpacked through
hw.layouts; a scoreboard against golden_model.engine_model and
golden_model.cycles. The job (a sim.jobs.EngineJob: configuration, inputs,
and RunSpecs with their mode, seed, gap and stall probabilities, an optional
reset in the middle) comes from the JSON file named by ``ZSKIP_COSIM_JOB``; the
results (a sim.jobs.EngineResults: a RunResult per run, with its first
Mismatch) go to the JSON file the job names.

Python stays off the per-cycle path where the protocol allows it: the clock is
the simulator's own, and a driver whose stream is not ready, or a monitor whose
stream has nothing to offer, sleeps until the ready or valid signal rises.
"""

import os
import random
import time
from dataclasses import replace

import cocotb
from amaranth.hdl import Const
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, with_timeout

from golden_model.cycles import cycle_counts
from hw.timing import micro_arch
from golden_model.engine_model import run_engine
from hw.counters import counters_layout, flags_layout
from hw.fixed import shape_of
from hw.layouts import chunk_layout, element_layout, field_values, state_layout
from hw.transfers import (a_transfers, dx_chunks, element_transfers, expected_transfers, output_counts,
                          weight_transfers)
from sim.jobs import (ENGINE_JOB_ENV, PERIOD_NS, Difference, EngineJob, EngineResults, Mismatch, RunResult,
                      cycle_budget, load_inputs)

__all__ = ["Driver", "Monitor", "Scoreboard", "engine_against_the_golden_model"]


def _pack(layout, item):
    return layout.const(item).as_bits() if not isinstance(item, int) else item


class StreamPort:
    """The signals of the stream ``name`` of the design (``<name>__valid``, ``__ready``, ``__payload``), and
    the random choices of the driver or monitor on it."""

    def __init__(self, dut, name, rng):
        self.clk, self.rng = dut.clk, rng
        self.valid, self.ready = getattr(dut, f"{name}__valid"), getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")


class Driver(StreamPort):
    """Offers items on an input stream, idling a random number of cycles before each with probability
    ``gap`` per cycle."""

    def __init__(self, dut, name, rng, gap):
        super().__init__(dut, name, rng)
        self.gap = gap
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


class Monitor(StreamPort):
    """Takes ``count`` transfers from an output stream, refusing with probability ``stall`` per cycle."""

    def __init__(self, dut, name, rng, stall):
        super().__init__(dut, name, rng)
        self.stall, self.words = stall, []
        self.ready.value = 0

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


class Scoreboard:
    """Expected transfers of each output stream for one sequence, and where a transfer belongs."""

    def __init__(self, config, result):
        self.config, self.expected = config, expected_transfers(config, result)
        self.T, self.B, _ = result.dx.shape

    def locate(self, stream, n):
        """Human words for transfer n of a stream."""
        c, B = self.config, self.B
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
                    return Mismatch(stream=stream, index=n, where=self.locate(stream, n), expected=w, actual=h)
            if len(want) != len(have):
                return Mismatch(stream=stream, index=min(len(want), len(have)), where="count", expected=len(want),
                                actual=len(have))
        return None

    def corrupt(self, stream, index):
        """Make the expected transfer ``index`` of ``stream`` wrong on purpose (RunSpec.corrupt)."""
        w = self.expected[stream][index]
        self.expected[stream][index] = ({k: v + 1 for k, v in w.items()} if isinstance(w, dict) else
                                        [v + 1 for v in w] if isinstance(w, list) else w + 1)


#: Output ports and the streams they carry.
OUTPUTS = {"o_dx": "dx", "o_state": "state", "o_dw": "dw", "o_db": "db"}


async def _reset(dut, cycles=2):
    dut.rst.value = 1
    dut.start.value = 0
    for name in ("i_weight", "i_elem", "i_a"):
        getattr(dut, f"{name}__valid").value = 0
    for name in OUTPUTS:
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
    """One sequence (a RunSpec): weights, start, streams. Returns the transfers of each output stream and what
    the run measured (RunResult's counters, flags, stall, sim_cycles, wall_s, t_start_ns); None after a reset."""
    rng = random.Random(run.seed)
    T, B = inputs.dh.shape[:2]
    words = {
        "i_weight": [_pack(layouts["weight"], ch) for ch in weight_transfers(config, inputs.W)],
        "i_elem": [_pack(layouts["elem"], e) for t in range(T - 1, -1, -1) for e in element_transfers(config, inputs, t)],
        "i_a": [_pack(layouts["a"], ch) for t in range(T - 1, -1, -1) for ch in a_transfers(config, inputs, t)],
    }
    counts = {port: output_counts(config, T, B)[name] for port, name in OUTPUTS.items()}
    await _wait_idle(dut)
    await Driver(dut, "i_weight", rng, run.gap).send(words["i_weight"])
    await _wait_idle(dut)
    dut.tau.value = int(inputs.tau if run.hw_tau is None else run.hw_tau)
    dut.dense.value = int(run.dense)
    dut.seq_len.value = T
    dut.batch.value = B
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    t0, wall0 = cocotb.utils.get_sim_time("ns"), time.perf_counter()
    drivers = [cocotb.start_soon(Driver(dut, name, random.Random(rng.random()), run.gap).send(words[name]))
               for name in ("i_elem", "i_a")]
    monitors = {name: Monitor(dut, name, random.Random(rng.random()), run.stall) for name in counts}
    tasks = [cocotb.start_soon(monitors[name].take(n)) for name, n in counts.items()]
    if run.reset_after is not None:          # a reset in the middle of the run: abandon it
        await ClockCycles(dut.clk, run.reset_after)
        for task in drivers + tasks:
            task.cancel()
        await _reset(dut)
        return None
    for task in tasks:
        await task
    await _wait_idle(dut)
    wall = time.perf_counter() - wall0
    sim_cycles = int((cocotb.utils.get_sim_time("ns") - t0) // PERIOD_NS)
    words = {name: monitors[port].words for port, name in OUTPUTS.items()}
    transfers = {name: [[int(layouts[name].from_bits(w)[p]) for p in range(config.lanes)] for w in words[name]]
                 for name in ("dx", "dw")}
    transfers["state"] = [field_values(layouts["state"].from_bits(w)) for w in words["state"]]
    transfers["db"] = [Const(w, shape_of(config.db_acc)).value for w in words["db"]]   # (signed)
    flags = field_values(layouts["flags"].from_bits(int(dut.flags.value)))
    return transfers, dict(counters=field_values(layouts["counters"].from_bits(int(dut.counters.value))),
                           flags={k: bool(v) for k, v in flags.items()}, stall=int(dut.stall.value),
                           sim_cycles=sim_cycles, wall_s=wall, t_start_ns=t0)


def _budget_ns(config, inputs, run):
    """A bound on one run's simulated time (sim.jobs.cycle_budget)."""
    return cycle_budget(config, *inputs.dh.shape[:2], run.gap, run.stall) * PERIOD_NS


def _compare(config, inputs, run, transfers, measured):
    """The RunResult of what the hardware gave for ``run`` (its output ``transfers`` and what it ``measured``)
    against the golden model."""
    model_inputs = inputs if run.model_tau is None else replace(inputs, tau=int(run.model_tau))
    result = run_engine(config, model_inputs, dense=run.dense)
    cycles = cycle_counts(config, result, micro_arch(config)).to_dict()
    board = Scoreboard(config, result)
    for stream, index in run.corrupt:   # a deliberately wrong expectation
        board.corrupt(stream, index)
    mismatch = board.first_mismatch(transfers)
    counter_mismatches = Difference.between(cycles, measured["counters"])
    flag_mismatches = Difference.between({k: bool(v) for k, v in result.flags.items()}, measured["flags"])
    return RunResult(run=run, passed=mismatch is None and not counter_mismatches and not flag_mismatches, reset=False,
                     mismatch=mismatch, counter_mismatches=counter_mismatches, flag_mismatches=flag_mismatches,
                     model_cycles=cycles, nonzeros=int(result.nonzeros), entries=int(result.dz.size), **measured)


@cocotb.test()
async def engine_against_the_golden_model(dut):
    job = EngineJob.read(os.environ[ENGINE_JOB_ENV])
    inputs, config = load_inputs(job.inputs), job.config
    layouts = {"weight": chunk_layout(config, config.weight), "elem": element_layout(config),
               "a": chunk_layout(config, config.inp), "dx": chunk_layout(config, config.grad),
               "state": state_layout(config), "dw": chunk_layout(config, config.dw_acc),
               "counters": counters_layout(config), "flags": flags_layout()}
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    await _reset(dut)
    results = []
    for run in job.runs:
        got = await with_timeout(_run(dut, config, inputs, run, layouts), _budget_ns(config, inputs, run), "ns")
        results.append(RunResult.abandoned(run) if got is None else _compare(config, inputs, run, *got))
    EngineResults(runs=results).write(job.results)
    failures = [r for r in results if r.failed]
    assert not failures, f"{len(failures)} run(s) differ from the golden model; details in {job.results}"
