"""The controller: the engine's datapath sequenced over a whole sequence, one step after the other.

:class:`EngineCore` connects the engine's parts and sequences them:

- the a-loader (hw.a_loader) brings each step's a_t into the lanes' a buffers, a step ahead;
- the feed (hw.feed) walks a step's elements into the gate-gradient unit (hw.gate_grad)
  and their dz into the dz buffer (hw.dz_buffer);
- the zero-skip encoder (hw.encoder) issues the nonzeros (every entry in dense mode) to
  the MAC lanes (hw.mac_lanes);
- the read-out (hw.readout) reads da after each step and dW and db after the last;
- the counters (hw.counters) count what they all do.

It talks to the outside through *want* signals instead of streams: in a cycle in which
it wants an input (or has an output) the engine top either completes that transfer or
freezes the whole core for the cycle (an ``EnableInserter`` on its clock domain). A frozen
cycle changes nothing, so the core's behaviour in its own cycles does not depend on the
host's handshakes at all: its ``cycles`` counter equals golden_model.cycles' prediction
under any valid/ready pattern, and the cycles lost to the host are counted apart by the top.

A sequence (after ``start``; the run-time registers tau, dense, T and B are sampled then):

1. the a-loader fills the two a buffers, step after step, as soon as a buffer is free;
2. per step (t = T-1 down to 0): wait for the step's a_t, *feed* its B x H elements (unit j,
   batch b within j); when the encoder and the lanes are done, *read out* da (B x C chunks):
   dx goes out, dh_rec stays for the next step, beside the next step's feed;
3. then dh0 and dc0 go out (the feed's walk again), dW (4H x C chunks) and db (4H), each
   accumulator cleared as it is read.

After reset the read-out clears every accumulator before the engine is idle. The timing of
every part is a property of that part; hw.timing collects them for the cycle model.
"""

import enum

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .a_loader import ALoader
from .bits import address, count
from .counters import PerfCounters, counters_layout, flags_layout
from .dz_buffer import DzBuffer
from .encoder import ZeroSkipEncoder
from .feed import Feed
from .fixed import shape_of
from .gate_grad import GateGradUnit
from .layouts import chunk_layout, element_layout, state_layout
from .mac_lanes import MacLanes
from .part import EnginePart
from .readout import ReadOut

__all__ = ["EngineCore", "PARTS", "WANTS", "control_members"]


class State(enum.Enum):
    """The sequencer's states, each the index of its bit in a one-hot register (not Amaranth's FSM, whose
    binary state register is decoded by comparisons with narrow constants that Verilator warns about)."""
    IDLE = 0
    WAIT = 1           # for the step's a_t
    FEED = 2
    MAC = 3            # until the step's MAC work and the step before's read-out are done
    DRAIN = 4          # the last step's read-out
    STATE = 5          # dh0 and dc0
    ACCUMULATORS = 6   # dW and db read out; after reset, every accumulator cleared
    LAST = 7           # the last db word goes out


#: The core's parts by their submodules' names (boards.report names the units of its toggle table after them).
PARTS = {"loader": ALoader, "feed": Feed, "dz_buffer": DzBuffer, "ggu": GateGradUnit, "encoder": ZeroSkipEncoder,
         "lanes": MacLanes, "readout": ReadOut, "perf": PerfCounters}


#: The core's wants, in the order hw.engine serves them (``<name>_want`` and ``<name>_want_next`` each).
WANTS = ("elem", "a", "dx", "state", "dw", "db")


def control_members(config):
    """The ports the engine and its core share: the run-time registers, sampled at ``start`` while idle
    (``tau``, ``dense``, ``seq_len`` = T, ``batch`` = B); ``idle``, ``refused``; the counters and flags."""
    c = config
    return {"start": In(1), "tau": In(shape_of(c.grad)), "dense": In(1),
            "seq_len": In(range(1, c.max_seq + 1)), "batch": In(range(1, c.max_batch + 1)),
            "idle": Out(1), "refused": Out(1), "counters": Out(counters_layout(c)), "flags": Out(flags_layout())}


class EngineCore(EnginePart):
    """The engine's datapath and sequencing; see the module docstring.

    Ports (``*_want``: the core takes or gives a transfer in every cycle it runs with it high)
    -----
    elem, elem_want : the next element of the step (``element_layout``).
    a, a_want : the next chunk of a_t.
    weight, weight_valid, weight_take : a chunk of W, taken only while idle (never stalls).
    dx, dx_want; state, state_want; dw, dw_want; db, db_want : the outputs.
    start, tau, dense, seq_len, batch : the run-time registers, sampled at ``start`` while idle.
    idle : ready for ``start`` (and for weights).
    refused : the last ``start`` was refused: seq_len or batch out of range (1 .. max_seq, 1 .. max_batch).
    counters, flags : the performance counters and sticky overflow flags of the last sequence.
    *_want_next : each want in the next cycle if the core runs in this one (for ``a_want`` a superset:
        high whenever it may be), so that hw.engine can decide a cycle ahead whether the core runs.
    enable : the core's clock enable (high when there is none): hw.engine drives it with the enable its
        ``EnableInserter`` puts on the core, for the hard blocks' instances, which that does not reach.
    """

    def members(self, c):
        return {
            "elem": In(element_layout(c)), "elem_want": Out(1),
            "a": In(chunk_layout(c, c.inp)), "a_want": Out(1),
            "weight": In(chunk_layout(c, c.weight)), "weight_valid": In(1), "weight_take": Out(1),
            "dx": Out(chunk_layout(c, c.grad)), "dx_want": Out(1),
            "state": Out(state_layout(c)), "state_want": Out(1),
            "dw": Out(chunk_layout(c, c.dw_acc)), "dw_want": Out(1),
            "db": Out(shape_of(c.db_acc)), "db_want": Out(1),
            **{f"{name}_want_next": Out(1) for name in WANTS},
            **control_members(c),
            "enable": In(1, init=1),
        }

    def elaborate(self, platform):
        m = Module()
        c = self.config
        for name, part in PARTS.items():
            m.submodules[name] = part(c)
        loader, feed, buffer, ggu, encoder, lanes, readout, perf = (m.submodules[name] for name in PARTS)
        # the datapath: the feed's elements through the unit and back, their dz through the buffer to the
        # encoder and the lanes
        for source, sink in ((feed.o_elem, ggu.i_elem), (ggu.o_grad, feed.i_grad), (feed.o_dz, buffer.i_dz),
                             (buffer.o_dz, encoder.i_dz), (encoder.o_nz, lanes.i_nz)):
            wiring.connect(m, source, sink)

        # the run-time registers, sampled at start, and the sequence's progress
        run = Signal(data.StructLayout({
            "tau": shape_of(c.grad), "dense": 1, "t_last": range(c.max_seq + 1), "b_last": range(max(c.max_batch, 2)),
            "step": range(c.max_seq + 1),    # steps finished in this sequence (step 0 is t = T-1)
            "running": 1,                    # between start and the last output
            "stepping": 1,                   # between start and the end of the last step
        }))
        step, running, stepping = run.step, run.running, run.stepping
        m.d.comb += [
            ggu.tau.eq(run.tau), encoder.dense.eq(run.dense), feed.dense.eq(run.dense),
            feed.first.eq(~step.any()), lanes.abuf.eq(step[0]), lanes.dbuf.eq(step[0]), readout.buf.eq(step[0]),
            *(part.enable.eq(self.enable) for part in (lanes, feed, ggu, buffer)),
            loader.running.eq(running), loader.t_last.eq(run.t_last),
            *(part.b_last.eq(run.b_last) for part in (loader, feed, readout)),
            # the host's side of the core
            loader.a.eq(self.a), self.a_want.eq(loader.a_want), feed.elem.eq(self.elem),
            self.elem_want.eq(feed.elem_want), self.state.eq(feed.state), self.state_want.eq(feed.state_want),
            self.dx.eq(readout.dx), self.dx_want.eq(readout.dx_want), self.dw.eq(readout.dw),
            self.dw_want.eq(readout.dw_want), self.db.eq(readout.db), self.db_want.eq(readout.db_want),
            self.counters.eq(perf.counters), self.flags.eq(perf.flags),
            self.elem_want_next.eq(feed.elem_want_next), self.a_want_next.eq(loader.a_want_next),
            self.dx_want_next.eq(readout.dx_want_next), self.state_want_next.eq(feed.state_want_next),
            self.dw_want_next.eq(readout.dw_want_next), self.db_want_next.eq(readout.db_want_next),
            # the parts' sides of the lanes' memories
            lanes.a_we.eq(loader.we), lanes.a_buf.eq(loader.buf), lanes.a_addr.eq(loader.addr),
            lanes.a_data.eq(loader.data),
            lanes.rd_dw.eq(readout.rd_dw), lanes.rd_da.eq(readout.rd_da), lanes.rd_db.eq(readout.rd_db),
            lanes.rd_addr.eq(readout.rd_addr), lanes.rd_dbuf.eq(readout.rd_dbuf),
            readout.dw_data.eq(lanes.dw_data), readout.da_data.eq(lanes.da_data), readout.db_data.eq(lanes.db_data),
            feed.rec_we.eq(readout.rec_we), feed.rec_addr.eq(readout.rec_addr), feed.rec_data.eq(readout.rec_data),
            # what the counters count
            perf.running.eq(running), perf.stepping.eq(stepping), perf.dense.eq(run.dense),
            perf.issued.eq(lanes.i_nz.valid & lanes.i_nz.ready), perf.hazard.eq(lanes.hazard),
            perf.mac_busy.eq(lanes.busy), perf.grad_valid.eq(ggu.o_grad.valid), perf.grad.eq(ggu.o_grad.payload),
            perf.ovf_dw.eq(lanes.ovf_dw), perf.ovf_da.eq(lanes.ovf_da), perf.ovf_db.eq(lanes.ovf_db),
            perf.ovf_out.eq(readout.overflow),
        ]
        mac_done = feed.returned & buffer.empty & ~encoder.o_nz.valid & lanes.idle
        self._sequence(m, run, mac_done)
        self._weight_load(m, lanes)
        return m

    def _sequence(self, m, run, mac_done):
        """The sequencer over the run-time registers ``run``: a sequence's steps, then its outputs. After reset
        it waits, as for the last read-out of a sequence, while the read-out clears the accumulators."""
        loader, feed, readout, perf, lanes = (m.submodules[name] for name in ("loader", "feed", "readout", "perf",
                                                                            "lanes"))
        step, running, stepping = run.step, run.running, run.stepping
        # one-hot: a state is a bit of its own, and a transition clears its state's bit and sets the next
        # one's, so each bit's logic holds only the transitions into and out of it (a binary state register's
        # shared decode, with the conditions from parts across the chip, was an ECP5 critical path)
        state = Signal(len(State), init=1 << State.ACCUMULATORS.value)     # after reset: while the read-out clears

        def in_state(name):
            return state[State[name].value]

        def go(source, target):
            """The sync assignments of the transition from state ``source`` to ``target`` (a name, or a Value
            that picks ``target[1]`` where it is high and else ``target[0]``)."""
            if isinstance(target, str):
                return [state[State[source].value].eq(0), state[State[target].value].eq(1)]
            which, (otherwise, then) = target
            return [state[State[source].value].eq(0), state[State[then].value].eq(which),
                    state[State[otherwise].value].eq(~which)]

        # A start is accepted into a register (its run-time registers sampled with it), and the sequence
        # begins in the next cycle, from that register: the start's checks stay off the paths of the many
        # registers a sequence's beginning clears (the counters, the a-loader, the sequencer).
        accepted = Signal()
        m.d.comb += [loader.start.eq(accepted), perf.clear.eq(accepted), self.idle.eq(0),
                     loader.may_start.eq(in_state("IDLE") & accepted), loader.may_free.eq(in_state("MAC"))]

        # (each state's block is its own If: the states exclude each other, and an Elif chain would AND each
        # decode with the others')
        with m.If(in_state("IDLE")):
            with m.If(accepted):
                m.d.sync += [accepted.eq(0), running.eq(1), stepping.eq(1), step.eq(0), *go("IDLE", "WAIT")]
            with m.Else():
                m.d.comb += [self.idle.eq(1), self.weight_take.eq(self.weight_valid)]
                fits = self._fits()
                with m.If(self.start & ~fits):
                    m.d.sync += self.refused.eq(1)
                with m.If(self.start & fits):
                    m.d.sync += [accepted.eq(1), self.refused.eq(0)]
                # the run-time registers follow their inputs in every idle cycle, so they hold the start's
                # values from the cycle it is accepted (nothing reads them while idle): their enable is the
                # state's, not the start's checks (a path from the host's registers to every one of them)
                m.d.sync += [run.tau.eq(self.tau), run.dense.eq(self.dense), run.t_last.eq(self.seq_len - 1),
                             run.b_last.eq(self.batch - 1)]
        with m.If(in_state("WAIT")):            # (and for the step before's first dh_rec word)
            with m.If(loader.ready & readout.primed):
                m.d.sync += go("WAIT", "FEED")
        with m.If(in_state("FEED")):            # one element every ggu_cycles cycles, the unit's rate
            m.d.comb += feed.to_unit.eq(1)
            with m.If(feed.last):
                m.d.sync += go("FEED", "MAC")
        with m.If(in_state("MAC")):
            with m.If(mac_done & ~readout.active):
                m.d.comb += [readout.start.eq(1), loader.step_done.eq(1), feed.step_done.eq(1)]
                m.d.sync += [step.eq(step + 1), *go("MAC", (step == run.t_last, ("WAIT", "DRAIN")))]
        with m.If(in_state("DRAIN")):           # until every dh_rec word is in
            with m.If(~readout.busy):
                m.d.sync += [stepping.eq(0), *go("DRAIN", "STATE")]
        with m.If(in_state("STATE")):
            m.d.comb += feed.to_state.eq(1)
            with m.If(feed.last):
                m.d.comb += readout.final.eq(1)
                m.d.sync += go("STATE", "ACCUMULATORS")
        with m.If(in_state("ACCUMULATORS")):
            with m.If(readout.final_done):
                m.d.sync += go("ACCUMULATORS", "LAST")
        with m.If(in_state("LAST")):
            m.d.sync += [running.eq(0), *go("LAST", "IDLE")]

    def _fits(self):
        """The start's T and B are within what the engine was built for (no comparison where the
        port's width cannot exceed the limit)."""
        def at_most(value, limit):
            return value <= limit if (1 << len(value)) - 1 > limit else 1
        c = self.config
        return (self.seq_len.any() & at_most(self.seq_len, c.max_seq) & self.batch.any()
                & at_most(self.batch, c.max_batch))

    def _weight_load(self, m, lanes):
        """W arrives while idle (``weight_take``), chunk c of row k after chunk c-1 (the lanes write its padding
        columns as 0). Only the write's enable depends on the state: the data and address go to the lanes as
        they are (as 0 outside the idle state, Yosys made the state's decode the synchronous reset of every
        lane's W data registers across the chip, an ECP5 critical path)."""
        c = self.config
        C, P, R = c.cols_per_lane, c.lanes, c.n_rows
        chunk, row = Signal(range(max(C, 2))), Signal(range(max(R, 2)))
        m.d.comb += [lanes.w_we.eq(self.weight_take), lanes.w_addr.eq(address((chunk, C), (row, R)))]
        for p in range(P):
            m.d.comb += lanes.w_data[p].eq(self.weight[p])
        count(m, self.weight_take, (chunk, C - 1), (row, R - 1))
