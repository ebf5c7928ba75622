"""The engine top: the controller's core behind stream ports, frozen whenever the host is not there.

Host-facing streams (payloads from hw.layouts):

- ``i_weight`` (``chunk_layout(weight)``): W, 4H x C chunks (row k, chunk c within
  k; chunk c of row k holds columns c*P .. c*P + P - 1, beyond N ignored),
  accepted while ``idle``; the engine keeps W across sequences;
- ``i_elem`` (``element_layout``): per step t = T-1 .. 0, the B x H elements
  (unit j, batch b within j);
- ``i_a`` (``chunk_layout(inp)``): per step t = T-1 .. 0, a_t as B x C chunks
  (batch b, chunk c within b);
- ``o_dx`` (``chunk_layout(grad)``): per step, dx_t as ceil(I/P) x B chunks
  in the order of the da read-out (``hw.transfers.dx_chunks``: chunk c, batch
  b within c, starting at chunk I // P and wrapping around; columns beyond I
  are 0);
- ``o_state`` (``state_layout``): dh0 and dc0, B x H (unit j, batch b within j);
- ``o_dw`` (``chunk_layout(dw_acc)``) then ``o_db`` (db_acc): dW as 4H x C chunks
  and db as 4H words.

Run-time registers: ``tau``, ``dense``, ``seq_len`` (T), ``batch`` (B), sampled
when ``start`` is high while ``idle``; a start with T outside 1 .. max_seq or B
outside 1 .. max_batch is refused (``refused`` rises, the engine stays idle). ``counters`` and ``flags`` hold the last
sequence's performance counters and sticky overflow flags once ``idle`` again;
``stall`` counts the cycles in which the core waited for the host.

Every stream goes through a small FIFO; the core
(:class:`hw.controller.EngineCore`) runs in every cycle in which each of its
wants can be met and is frozen otherwise, so valid/ready patterns change
when things happen, never what is computed or how many core cycles it takes.

Whether the core runs is decided a cycle ahead, into a register that drives
every enable of the core (on the ECP5 through a global network, hw.primitives.broadcast): from each want's value in the next cycle (the core's
``*_want_next``, or the want itself when the core is frozen) and each FIFO's
level in the next cycle (its level, the transfers of this cycle). A want's
prediction may be high when the want will not be (``a_want_next`` is a cheap
superset); the core then pauses for a cycle it did not need to, which the
``stall`` counter counts and the core's own cycles do not see. Without input
FIFOs (``input_fifos=False``) the inputs' next cycle is not known, and the
decision is made in the cycle itself, as a function of the wants and valids.
"""

from amaranth.hdl import Cat, EnableInserter, Module, Mux, Signal, Value
from amaranth.lib import fifo, stream
from amaranth.lib.wiring import In, Out

from golden_model.errors import ConfigError

from .bits import equals
from .controller import WANTS, EngineCore, control_members
from .fixed import shape_of
from .layouts import chunk_layout, element_layout, state_layout
from .part import EnginePart
from .primitives import broadcast, family

__all__ = ["Engine"]


class Engine(EnginePart):
    """The zero-skipping LSTM backward engine for ``config`` (an EngineConfig); see the module docstring.

    ``fifo_depth``: depth of the FIFO on each stream. 2 lets a host that keeps up move a transfer
    every cycle; 1 halves the streams' rate for half their flip-flops (a board behind a UART, whose
    host is thousands of cycles per transfer, loses nothing by it). ``input_fifos=False`` takes
    ``i_elem`` and ``i_a`` straight from their streams (ready is then combinational from valid;
    fine behind a registered source, such as the board's command dispatcher).
    """

    #: Width of the ``stall`` counter (it saturates).
    stall_width = 32

    def __init__(self, config, *, fifo_depth=2, input_fifos=True):
        if fifo_depth not in (1, 2):
            raise ConfigError(f"fifo_depth must be 1 or 2, not {fifo_depth!r}")
        self.fifo_depth, self.input_fifos = fifo_depth, bool(input_fifos)
        super().__init__(config)

    def members(self, c):
        return {
            "i_weight": In(stream.Signature(chunk_layout(c, c.weight))),
            "i_elem": In(stream.Signature(element_layout(c))),
            "i_a": In(stream.Signature(chunk_layout(c, c.inp))),
            "o_dx": Out(stream.Signature(chunk_layout(c, c.grad))),
            "o_state": Out(stream.Signature(state_layout(c))),
            "o_dw": Out(stream.Signature(chunk_layout(c, c.dw_acc))),
            "o_db": Out(stream.Signature(shape_of(c.db_acc))),
            **control_members(c),
            "stall": Out(self.stall_width),
        }

    def elaborate(self, platform):
        m = Module()
        core = EngineCore(self.config)
        run = Signal()
        m.submodules.core = EnableInserter(run)(core)

        def queue(name, port):
            q = fifo.SyncFIFO(width=len(Value.cast(port.payload)), depth=self.fifo_depth)
            m.submodules[name] = q
            return q

        stalls, ahead = [], []           # this cycle's stall terms; the next cycle's (with input FIFOs)
        for name, port, data, want in (("elem", self.i_elem, core.elem, core.elem_want),
                                       ("a", self.i_a, core.a, core.a_want)):
            if not self.input_fifos:
                m.d.comb += [data.eq(port.payload), port.ready.eq(want & run)]
                stalls.append(want & ~port.valid)
                continue
            q = queue(f"{name}_fifo", port)
            m.d.comb += [q.w_data.eq(port.payload), q.w_en.eq(port.valid), port.ready.eq(q.w_rdy),
                         data.eq(q.r_data), q.r_en.eq(want & run)]
            stalls.append(want & ~q.r_rdy)
            ahead.append(self._next(name, core, run) & ~self._filled_next(q))
        for name, port, data, want in (("dx", self.o_dx, core.dx, core.dx_want),
                                       ("state", self.o_state, core.state, core.state_want),
                                       ("dw", self.o_dw, core.dw, core.dw_want),
                                       ("db", self.o_db, core.db, core.db_want)):
            q = queue(f"{name}_fifo", port)
            m.d.comb += [q.w_data.eq(data), q.w_en.eq(want & run),
                         port.payload.eq(q.r_data), port.valid.eq(q.r_rdy), q.r_en.eq(port.ready)]
            stalls.append(want & ~q.w_rdy)
            ahead.append(self._next(name, core, run) & self._full_next(q))
        stall, go = Signal(), Signal(init=1)
        if self.input_fifos:                 # the enable in a register of its own (no LUT before the global)
            m.d.sync += go.eq(~Cat(*ahead).any())
        else:
            m.d.comb += go.eq(~Cat(*stalls).any())
        # the enable reaches about every register of the core: on the ECP5 it goes by a global network
        m.d.comb += [stall.eq(~go), run.eq(broadcast(m, go, "run", family=family(platform))),
                     core.enable.eq(run)]     # (the enable of the core's hard blocks)

        # W goes straight to the core, which takes it only while idle (and never stalls for it)
        m.d.comb += [core.weight.eq(self.i_weight.payload), core.weight_valid.eq(self.i_weight.valid & run),
                     self.i_weight.ready.eq(core.weight_take & run)]
        m.d.comb += [core.start.eq(self.start), core.tau.eq(self.tau), core.dense.eq(self.dense),
                     core.seq_len.eq(self.seq_len), core.batch.eq(self.batch),
                     self.idle.eq(core.idle), self.refused.eq(core.refused), self.counters.eq(core.counters),
                     self.flags.eq(core.flags)]

        with m.If(core.idle & self.start):
            m.d.sync += self.stall.eq(0)
        with m.Elif(stall & ~self.stall.all()):
            m.d.sync += self.stall.eq(self.stall + 1)
        return m

    @staticmethod
    def _next(name, core, run):
        """The core's want ``name`` in the next cycle (a superset for ``a``): as predicted if it runs now,
        as it is if it is frozen."""
        assert name in WANTS
        return Mux(run, getattr(core, f"{name}_want_next"), getattr(core, f"{name}_want"))

    @staticmethod
    def _filled_next(q):
        """The FIFO ``q`` holds an entry in the next cycle (from its level and this cycle's transfers)."""
        push, pop = q.w_en & q.w_rdy, q.r_en & q.r_rdy
        return push | ~(equals(q.level, 0) | (equals(q.level, 1) & pop))

    def _full_next(self, q):
        """The FIFO ``q`` is full in the next cycle (from its level and this cycle's transfers)."""
        push, pop = q.w_en & q.w_rdy, q.r_en & q.r_rdy
        return ~pop & (equals(q.level, self.fifo_depth) | (equals(q.level, self.fifo_depth - 1) & push))

