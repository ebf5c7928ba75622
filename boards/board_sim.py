"""The board in co-simulation: the exported BoardCore on Verilator (or Icarus), the host driver
(boards.host) talking to it through the simulated UART (boards/tb_board.py).

    results = simulate_board(config, [{"inputs": inputs, "dense": False}, ...])

Each run may also carry ``corrupt`` ([byte offset, xor mask] pairs: bit errors in what the host sends
from the start of that run) and ``probe`` (frames the board must refuse first). Each result says
whether the board's outputs and flags equal the golden model's, and gives the counters, the frames
the host sent again, and the board's answers to the probes.
"""

import json
import shutil
from pathlib import Path

import numpy as np
from amaranth.back import verilog
from amaranth.hdl import Module
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model.engine_config import EngineConfig
from golden_model.errors import ConfigError
from sim.cosim import CosimError, compile_verilog, design_dir, require_simulator

from hw.uart import UARTRx, UARTTx

from .top import BoardCore

__all__ = ["simulate_board", "SimHost", "TOP", "SIM_DIVISOR"]

#: Name of the exported board core.
TOP = "zskip_board"
#: UART clock cycles per bit in simulation (the fastest the UART allows: the bits are what matter).
SIM_DIVISOR = 4
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

    def __init__(self, config, divisor, *, lean=False):
        self.config, self.divisor, self.lean = config, divisor, lean
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.board = board = BoardCore(self.config, self.divisor, input_fifos=not self.lean)
        m.submodules.queue = q = fifo.SyncFIFOBuffered(width=8, depth=self.queue)
        m.submodules.host_tx = tx = UARTTx(self.divisor)
        m.submodules.host_rx = rx = UARTRx(self.divisor)
        wiring.connect(m, wiring.flipped(self.i_byte), q.w_stream)
        wiring.connect(m, q.r_stream, tx.i_data)
        wiring.connect(m, rx.o_data, wiring.flipped(self.o_byte))
        m.d.comb += [board.rx.eq(tx.tx), rx.rx.eq(board.tx)]
        return m


def build_board(config, sim="verilator", *, divisor=SIM_DIVISOR, root=Path("build/board-sim"), waves=False,
                lean=False):
    require_simulator(sim)
    text = verilog.convert(SimHost(config, divisor, lean=lean), name=TOP)
    key = json.dumps({"config": config.to_dict(), "divisor": divisor}, sort_keys=True)
    return compile_verilog(text, TOP, sim, design_dir(root, sim, key, waves), waves=waves, key=key,
                           build_args=VERILATOR_ARGS)


def simulate_board(config, runs, *, sim="verilator", divisor=SIM_DIVISOR, root=Path("build/board-sim"),
                   waves=False, name="job", lean=False):
    """Run every entry of ``runs`` on one simulated board, in order; returns the testbench's results.
    ``lean``: the board core of a lean target (boards.targets), its engine without input FIFOs."""
    if not isinstance(config, EngineConfig):
        raise ConfigError(f"config must be an EngineConfig, not {type(config).__name__}")
    for r in runs:
        r["inputs"].check(config)
    built = build_board(config, sim, divisor=divisor, root=root, waves=waves, lean=lean)
    jdir = built.dir / name
    if jdir.exists():
        shutil.rmtree(jdir)
    jdir.mkdir(parents=True)
    job_runs = []
    for n, r in enumerate(runs):
        path = jdir / f"inputs{n}.npz"
        i = r["inputs"]
        np.savez(path, gates=i.gates, tanh_c=i.tanh_c, c_prev=i.c_prev, a=i.a, dh=i.dh, W=i.W, tau=np.int64(i.tau))
        job_runs.append({"dense": False, **{k: v for k, v in r.items() if k != "inputs"}, "inputs": str(path)})
    results = jdir / "results.json"
    job = {"config": config.to_dict(), "divisor": divisor, "results": str(results), "runs": job_runs}
    (jdir / "job.json").write_text(json.dumps(job, indent=1))
    log = jdir / "sim.log"
    try:
        built.runner.test(test_module="boards.tb_board", hdl_toplevel=TOP, build_dir=built.dir, test_dir=jdir,
                          extra_env={"ZSKIP_BOARD_JOB": str(jdir / "job.json")}, waves=waves,
                          results_xml=str(jdir / "results.xml"), log_file=log)
    except (SystemExit, RuntimeError) as e:
        if not results.exists():
            raise CosimError(f"{sim} could not run the board testbench ({e}); see {log}") from None
    if not results.exists():
        raise CosimError(f"the board testbench ended without results; see {log}")
    return json.loads(results.read_text())
