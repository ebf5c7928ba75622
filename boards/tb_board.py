"""cocotb testbench of the board: the host driver (boards.host) talks to the exported BoardCore
through a simulated serial line (boards.board_sim.SimHost: a UART at each end of the wire).

The job file (a boards.board_sim.BoardJob, named by ``ZSKIP_BOARD_JOB``) names the configuration, the
UART divisor, the sequences and what to do with each (BoardRunSpecs): runs in skip or dense mode, and
frames to corrupt on the wire before them. The driver runs in a thread (``cocotb.bridge``);
:class:`SimSerial` gives it pyserial's ``write``/``read`` over the host's end of the line.
Results (a BoardResults: a BoardRunResult per run) go to the job's results file.
"""

import os
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.task import bridge, resume
from cocotb.triggers import ClockCycles, Event, First, ReadOnly, RisingEdge, Timer

from golden_model.cycles import cycle_counts
from hw.timing import micro_arch
from golden_model.engine_model import run_engine
from sim.jobs import PERIOD_NS, Difference, load_inputs

from hw.commands import MAX_PAYLOAD, Command, start_layout, stream_layouts
from hw.host_link import byte_count

from .board_sim import BOARD_JOB_ENV, BoardJob, BoardResults, BoardRunResult, OutputMismatch
from .host import Board, BoardError

__all__ = ["SimUart", "SimSerial", "host_job", "board_runs"]


class SimUart:
    """The host's end of the serial line in simulation: bytes into the harness's transmitter
    (``i_byte``), bytes from its receiver (``o_byte``); see boards.board_sim.SimHost."""

    def __init__(self, dut, divisor, clock, period_ns):
        self.dut, self.clock, self.bit_ns = dut, clock, divisor * period_ns
        self.to_board, self.from_board = bytearray(), bytearray()
        self.sent, self.received = Event(), Event()
        self.count = 0                   # bytes sent to the board so far
        self.corrupt = {}                # byte number -> xor mask: bit errors on the wire
        dut.i_byte__valid.value = 0
        dut.o_byte__ready.value = 1
        cocotb.start_soon(self._drive())
        cocotb.start_soon(self._sample())

    async def _drive(self):
        dut = self.dut
        while True:
            while not self.to_board:
                dut.i_byte__valid.value = 0
                self.sent.clear()
                await self.sent.wait()
                await RisingEdge(self.clock)
            byte = self.to_board.pop(0) ^ self.corrupt.pop(self.count, 0)
            self.count += 1
            dut.i_byte__payload.value = byte
            dut.i_byte__valid.value = 1
            await RisingEdge(self.clock)
            while not dut.i_byte__ready.value:
                await RisingEdge(self.clock)

    async def _sample(self):
        dut = self.dut
        while True:
            await RisingEdge(dut.o_byte__valid)
            await ReadOnly()
            self.from_board.append(int(dut.o_byte__payload.value))
            self.received.set()


class SimSerial:
    """pyserial's ``write`` and ``read`` (with a timeout in simulated byte times) over a SimUart, for a
    thread started by ``cocotb.bridge``."""

    def __init__(self, uart, timeout_bytes):
        self.uart, self.timeout_ns = uart, timeout_bytes * 10 * uart.bit_ns

    def write(self, data):
        resume(self._write)(bytes(data))
        return len(data)

    def read(self, n):
        return resume(self._read)(n)

    async def _write(self, data):
        self.uart.to_board += data
        self.uart.sent.set()

    async def _read(self, n):
        buf = self.uart.from_board
        while len(buf) < n:
            self.uart.received.clear()
            fired = await First(self.uart.received.wait(), Timer(self.timeout_ns, unit="ns"))
            if isinstance(fired, Timer):
                break
        data = bytes(buf[:n])
        del buf[:n]
        return data


def _probe(board, config):
    """Send frames the board must refuse; returns its answer to each (None: accepted)."""
    elem = byte_count(stream_layouts(config)[Command.ELEM].size)
    start = start_layout(config)
    too_long_t = start.const({"tau": 0, "dense": 0, "seq_len": config.max_seq + 1, "batch": 1}).as_bits()
    probes = (("unknown command", 0x7E, b"?"),
              ("elements while idle", Command.ELEM, b"\x01" + bytes(elem)),
              ("bad length", Command.START, b"\x00"),
              ("T beyond max_seq", Command.START, too_long_t.to_bytes(byte_count(start.size), "little")),
              ("payload beyond the board's buffer", Command.WEIGHT, bytes(MAX_PAYLOAD + 1)))
    refusals = {}
    for name, cmd, payload in probes:
        try:
            board.link.request(cmd, payload)
            refusals[name] = None
        except BoardError as e:
            refusals[name] = str(e)
    return refusals


def _compare(config, board, inputs, run, retries, t0, refusals):
    """The BoardRunResult of one run on the board against the golden model."""
    got = board.run(inputs, dense=run.dense)
    want = run_engine(config, inputs, dense=run.dense)
    mismatches = [OutputMismatch(array=name, index=index, expected=expected, actual=actual)
                  for name, index, expected, actual in got.outputs.mismatches(want)]
    model = cycle_counts(config, want, micro_arch(config)).to_dict()
    counter_mismatches = Difference.between(model, got.counters)
    flag_mismatches = Difference.between({k: bool(v) for k, v in want.flags.items()}, got.flags)
    return BoardRunResult(run=run, passed=not mismatches and not flag_mismatches and not counter_mismatches,
                          error=None, mismatches=mismatches, counter_mismatches=counter_mismatches,
                          flag_mismatches=flag_mismatches, counters=got.counters, stall=got.stall,
                          nonzeros=int(want.nonzeros), zeros_skipped=int(want.zeros_skipped), entries=int(want.dz.size),
                          retries=board.link.retries - retries, wall_s=time.perf_counter() - t0, refusals=refusals)


def host_job(serial, uart, config, job):
    """The host's part (runs in a bridged thread): every run of the job (a BoardJob) through boards.host;
    returns a BoardRunResult per run."""
    out = []
    board = Board(serial, config)
    loaded = None
    for path, run in zip(job.inputs, job.runs):
        inputs = load_inputs(path)
        t0, refusals = time.perf_counter(), None
        try:
            # bit errors in the bytes the host sends from here on: the board refuses those frames, the
            # host sends them again, and the results must not change
            uart.corrupt = {uart.count + offset: mask for offset, mask in run.corrupt}
            retries = board.link.retries
            if run.probe:                         # frames the board must refuse, state intact
                refusals = _probe(board, config)
            if loaded is None or not np.array_equal(loaded, inputs.W):
                board.load_weights(inputs.W)
                loaded = inputs.W
            out.append(_compare(config, board, inputs, run, retries, t0, refusals))
        except BoardError as e:
            out.append(BoardRunResult.failed(run, str(e), time.perf_counter() - t0, refusals))
    return out


@cocotb.test()
async def board_runs(dut):
    job = BoardJob.read(os.environ[BOARD_JOB_ENV])
    config = job.config
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    clock, period_ns = dut.clk, PERIOD_NS
    if job.link_ns is not None:                  # the host link in a clock domain of its own
        clock, period_ns = dut.link_clk, job.link_ns
        Clock(dut.link_clk, job.link_ns, unit="ns").start()
        dut.link_rst.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    await ClockCycles(clock, 4)
    dut.rst.value = 0
    if job.link_ns is not None:
        dut.link_rst.value = 0
    uart = SimUart(dut, job.divisor, clock, period_ns)
    serial = SimSerial(uart, job.timeout_bytes)
    results = await bridge(host_job)(serial, uart, config, job)
    BoardResults(runs=results).write(job.results)
    for r in results:
        assert r.passed, r
