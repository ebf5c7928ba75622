"""The dz buffer: a step's elements with a nonzero dz, from the feed to the zero-skip encoder.

The feed writes an element's four dz (with its unit j and batch row b) in the cycle its result
leaves the gate-gradient unit, but only for an element with a nonzero dz (every element in dense
mode); the encoder takes them as fast as the lanes can use them. The buffer holds a whole step's
elements (B x H), so the feed never waits for it. It is Amaranth's buffered FIFO (block RAM),
with the registered pipeline (``config.lane_pipeline``) between two registers: the feed's entry goes
into a register first (its valid is decoded from the unit's four dz, whose registers are across the
chip from the buffer: that decode into the block RAM's write address was an ECP5 critical path), and
the block RAM's slow output (5.8 ns on the ECP5 without its output register) into a register beside
it and then a two-entry FIFO, not into the encoder's logic: an entry is at the output
:meth:`DzBuffer.latency_of` cycles after its write (if the ones before it have gone), and entries leave at
one per cycle.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import fifo, stream
from amaranth.lib.wiring import In, Out

from .bits import equals
from .layouts import dz_layout
from .part import EnginePart

__all__ = ["DzBuffer"]


class DzBuffer(EnginePart):
    """The dz buffer for ``config`` (an EngineConfig); see the module docstring.

    Ports
    -----
    i_dz : stream of ``dz_layout`` from the feed (always ready while a step's elements come).
    o_dz : stream of ``dz_layout`` to the zero-skip encoder.
    empty : nothing in the buffer (its output register included).
    """

    @staticmethod
    def latency_of(config):
        """Cycles from an entry's write to the first cycle it is at the output: block RAM, with the
        registered pipeline (``config.lane_pipeline``) between an input register and an output register
        followed by a FIFO (5; compact: 2)."""
        return 5 if config.lane_pipeline == "registered" else 2

    @property
    def latency(self):
        return self.latency_of(self.config)

    def members(self, c):
        return {"i_dz": In(stream.Signature(dz_layout(c))), "o_dz": Out(stream.Signature(dz_layout(c))),
                "empty": Out(1)}

    def elaborate(self, platform):
        m = Module()
        c = self.config
        m.submodules.fifo = q = fifo.SyncFIFOBuffered(width=dz_layout(c).size,
                                                      depth=max(c.max_batch * c.hidden_size, 3))
        if self.latency == 2:
            m.d.comb += [q.w_data.eq(self.i_dz.payload), q.w_en.eq(self.i_dz.valid), self.i_dz.ready.eq(q.w_rdy),
                         self.o_dz.payload.eq(q.r_data), self.o_dz.valid.eq(q.r_rdy), q.r_en.eq(self.o_dz.ready),
                         self.empty.eq(~q.level.any())]
            return m
        # the feed's entry into a register (a pipeline stage: it takes an entry whenever it is empty or
        # passing its own on to the block RAM)
        held, held_valid = Signal(dz_layout(c)), Signal()
        m.d.comb += [q.w_data.eq(held), q.w_en.eq(held_valid), self.i_dz.ready.eq(~held_valid | q.w_rdy)]
        with m.If(q.w_rdy):
            m.d.sync += held_valid.eq(0)
        with m.If(self.i_dz.valid & self.i_dz.ready):
            m.d.sync += [held.eq(self.i_dz.payload), held_valid.eq(1)]
        # the block RAM's word goes straight into a register beside it (a pipeline stage, as the entry's),
        # then into a two-entry FIFO (a full rate stream: it takes the next entry in the cycle after it gave
        # one), so that nothing but a flip-flop follows the block RAM's output
        m.submodules.out = out = fifo.SyncFIFO(width=dz_layout(c).size, depth=2)
        read, read_valid = Signal(dz_layout(c)), Signal()
        take = ~read_valid | out.w_rdy                 # the stage passes its entry on, or has none
        m.d.comb += q.r_en.eq(take)
        with m.If(take):
            m.d.sync += [read.eq(q.r_data), read_valid.eq(q.r_rdy)]
        # whether the block RAM's FIFO is empty, in a register kept beside its own count (its ``level`` is a
        # sum: ``empty`` from it was several gates deep on the sequencer's path)
        stored, none = Signal.like(q.level), Signal(init=1)
        push, pop = q.w_en & q.w_rdy, q.r_en & q.r_rdy
        m.d.sync += [stored.eq(stored + push - pop),
                     none.eq((equals(stored, 0) & ~push) | (equals(stored, 1) & pop & ~push))]
        m.d.comb += [out.w_data.eq(read), out.w_en.eq(read_valid),
                     self.o_dz.payload.eq(out.r_data), self.o_dz.valid.eq(out.r_rdy), out.r_en.eq(self.o_dz.ready),
                     self.empty.eq(~held_valid & none & ~read_valid & ~out.level.any())]
        return m
