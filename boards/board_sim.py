"""The board in co-simulation: the exported BoardCore on Verilator (or Icarus), the host driver
(boards.host) talking to it through the simulated UART (boards/tb_board.py).

    results = simulate_board(config, [(inputs, BoardRunSpec(dense=False)), ...])

Each run (a :class:`BoardRunSpec`) may also carry ``corrupt`` ((byte offset, xor mask) pairs: bit
errors in what the host sends from the start of that run) and ``probe`` (frames the board must refuse
first). Each result (a :class:`BoardRunResult`) says whether the board's outputs and flags equal the
golden model's, and gives the counters, the frames the host sent again, and the board's answers to the
probes. The job file and the results file are the records :class:`BoardJob` and :class:`BoardResults`.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import DomainRenamer, Module
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model.engine_config import EngineConfig, check_config
from golden_model.engine_model import EngineInputs
from golden_model.errors import ConfigError
from golden_model.records import Record
from sim.cosim import compile_verilog, design_dir, require_simulator, run_testbench
from sim.jobs import Comparison

from hw.uart import UARTRx, UARTTx

from .top import BoardCore

__all__ = ["simulate_board", "SimHost", "TOP", "SIM_DIVISOR", "BOARD_JOB_ENV", "BoardRunSpec", "OutputMismatch",
           "BoardRunResult", "BoardJob", "BoardResults"]

#: Name of the exported board core.
TOP = "zskip_board"
#: UART clock cycles per bit in simulation (the fastest the UART allows: the bits are what matter).
SIM_DIVISOR = 4
#: The environment variable that names the job file of boards.tb_board.
BOARD_JOB_ENV = "ZSKIP_BOARD_JOB"
#: Warnings that Amaranth's own FSMs and lib.crc raise in Verilator; the engine itself is lint-clean
#: (tests/hw/test_lint.py).
VERILATOR_ARGS = ("-Wno-fatal",)


class SimHost(wiring.Component):
    """The board core with the host's end of the serial line beside it, for simulation.

    The host's bytes (``i_byte``) queue in a FIFO and leave through a UART transmitter on the board's
    ``rx`` wire; the board's ``tx`` wire goes to a UART receiver whose bytes come out on ``o_byte``
    (always taken: a host's serial port does not refuse bytes). Every bit crosses the wire as on a
    board; the testbench only handles bytes, which keeps Python out of every bit time.
    """

    i_byte: In(stream.Signature(8))
    o_byte: Out(stream.Signature(8))

    #: Bytes the host may queue: more than one whole frame (the host waits for each frame's answer).
    queue = 512

    def __init__(self, config, divisor, *, lean=False, link=False):
        self.config, self.divisor, self.lean, self.link = config, divisor, lean, link
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        # with ``link``, the board's host link (and the host's end of the line) in a clock domain of its own,
        # ``link`` (ports link_clk, link_rst), as on the ECP5 boards
        m.submodules.board = board = BoardCore(self.config, self.divisor, input_fifos=not self.lean,
                                               link_domain="link" if self.link else "sync")
        host = DomainRenamer({"sync": "link"}) if self.link else (lambda part: part)
        m.submodules.queue = q = host(fifo.SyncFIFOBuffered(width=8, depth=self.queue))
        m.submodules.host_tx = tx = host(UARTTx(self.divisor))
        m.submodules.host_rx = rx = host(UARTRx(self.divisor))
        wiring.connect(m, wiring.flipped(self.i_byte), q.w_stream)
        wiring.connect(m, q.r_stream, tx.i_data)
        wiring.connect(m, rx.o_data, wiring.flipped(self.o_byte))
        m.d.comb += [board.rx.eq(tx.tx), rx.rx.eq(board.tx)]
        return m


def build_board(config, sim="verilator", *, divisor=SIM_DIVISOR, root=Path("build/board-sim"), waves=False,
                lean=False, link=False):
    require_simulator(sim)
    text = verilog.convert(SimHost(config, divisor, lean=lean, link=link), name=TOP)
    key = json.dumps({"config": config.to_dict(), "divisor": divisor, **({"link": True} if link else {})},
                     sort_keys=True)
    return compile_verilog(text, TOP, sim, design_dir(root, sim, key, waves), waves=waves, key=key,
                           build_args=VERILATOR_ARGS)


@dataclass(frozen=True)
class BoardRunSpec(Record):
    """One run of a sequence on the simulated board: dense or skip mode; ``corrupt``: (byte offset, xor mask)
    pairs, bit errors in the bytes the host sends from the start of the run; ``probe``: first send frames the
    board must refuse (their answers are the result's ``refusals``)."""

    dense: bool = False
    corrupt: tuple[tuple[int, int], ...] = ()
    probe: bool = False

    def __post_init__(self):
        corrupt = tuple(tuple(c) for c in self.corrupt)
        for c in corrupt:
            if len(c) != 2 or not all(isinstance(x, int) for x in c) or c[0] < 0 or not 0 < c[1] < 256:
                raise ConfigError(f"corrupt must hold (byte offset >= 0, xor mask in 1..255) pairs, not {c!r}")
        object.__setattr__(self, "corrupt", corrupt)


@dataclass(frozen=True)
class OutputMismatch(Record):
    """The first value of an output array that differs from the golden model's (hw.transfers.Outputs.mismatches):
    the array, the value's index (None when the shapes differ), expected and actual (values or shapes)."""

    array: str
    index: tuple[int, ...] | None
    expected: object
    actual: object


@dataclass
class BoardRunResult(Comparison):
    """The outcome of one BoardRunSpec against the golden model (see sim.jobs.Comparison): ``error``, why
    the run did not finish (a boards.host.BoardError), else None; ``mismatches``, the first differing value
    of each output array; ``retries``, frames the host sent again; ``refusals``, the board's answer to each
    probe frame (None: accepted), with ``probe``."""

    run: BoardRunSpec
    error: str | None
    mismatches: list[OutputMismatch]
    zeros_skipped: int
    retries: int
    refusals: dict[str, str | None] | None = None

    @classmethod
    def failed(cls, run, error, wall_s, refusals=None):
        """The result of a run that ended in a BoardError."""
        return cls(run=run, passed=False, error=error, mismatches=[], counter_mismatches={}, flag_mismatches={},
                   counters={}, stall=0, nonzeros=0, zeros_skipped=0, entries=0, retries=0, wall_s=wall_s,
                   refusals=refusals)


@dataclass
class BoardJob(Record):
    """The job file of boards.tb_board: the configuration, the UART divisor, where the results go, and the
    runs with the .npz of each one's sequence (``inputs[n]`` for ``runs[n]``); ``link_ns``: the clock period of
    the host link's own domain (None: the link runs on the engine's clock)."""

    SCHEMA = "zskip.board-job/2"

    engine: dict
    divisor: int
    results: str
    inputs: list[str]
    runs: list[BoardRunSpec]
    timeout_bytes: int = 4096
    link_ns: float | None = None

    @property
    def config(self):
        """The engine configuration (``engine`` is its EngineConfig.to_dict())."""
        return EngineConfig.from_dict(self.engine)

    def __post_init__(self):
        if len(self.inputs) != len(self.runs):
            raise ConfigError(f"a board job needs one sequence per run, not {len(self.inputs)} for {len(self.runs)}")


@dataclass
class BoardResults(Record):
    """The results file of boards.tb_board: one BoardRunResult per run, in order."""

    SCHEMA = "zskip.board-results/1"

    runs: list[BoardRunResult] = field(default_factory=list)


def simulate_board(config, runs, *, sim="verilator", divisor=SIM_DIVISOR, root=Path("build/board-sim"),
                   waves=False, name="job", lean=False, link_ns=None):
    """Run every ``(inputs, spec)`` of ``runs`` (an EngineInputs and a BoardRunSpec) on one simulated board,
    in order; returns a BoardRunResult per run. ``lean``: the board core of a lean target (boards.targets), its
    engine without input FIFOs. ``link_ns``: the host link in a clock domain of its own with this period in
    ns (the engine's is sim.jobs.PERIOD_NS), as on the ECP5 boards; None: one clock."""
    check_config(config)
    runs = list(runs)
    for run in runs:
        if not (isinstance(run, tuple) and len(run) == 2 and isinstance(run[0], EngineInputs)
                and isinstance(run[1], BoardRunSpec)):
            raise TypeError(f"each run must be a pair (EngineInputs, BoardRunSpec), not {run!r:.80}")
        run[0].check(config)
    if link_ns is not None and not link_ns > 0:
        raise ConfigError(f"link_ns must be a positive clock period in ns, not {link_ns!r}")
    built = build_board(config, sim, divisor=divisor, root=root, waves=waves, lean=lean, link=link_ns is not None)
    results, _ = run_testbench(
        built, name, [inputs for inputs, _ in runs],
        lambda paths, out: BoardJob(engine=config.to_dict(), divisor=divisor, results=out, inputs=paths,
                                    runs=[spec for _, spec in runs], link_ns=link_ns),
        BoardResults, test_module="boards.tb_board", toplevel=TOP, env_var=BOARD_JOB_ENV)
    return results.runs
