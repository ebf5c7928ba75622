"""The dz buffer: a step's elements with a nonzero dz, from the feed to the zero-skip encoder.

The feed writes an element's four dz (with its unit j and batch row b) in the cycle its result
leaves the gate-gradient unit, but only for an element with a nonzero dz (every element in dense
mode); the encoder takes them as fast as the lanes can use them. The buffer holds a whole step's
elements (B x H, rounded up to a power of two), so the feed never waits for it.

With the registered pipeline (``config.lane_pipeline``) it is a FIFO of its own around
hw.primitives.block_ram, read in two stages (on the ECP5 the DP16KD's address and output registers: the
block's word leaves from its output register, about 1 ns instead of 5.8 ns, which Amaranth's FIFOs,
mapped by Yosys without that register, cannot ask for). Every other path is a register and a few gates:

- the feed's entry goes into a register first, loaded whenever the buffer takes one (an enable of two
  local registers; the entry's valid, decoded from the unit's four dz across the chip, only reaches
  that register's valid bit), then into the block RAM in the next cycle;
- a word is read in every cycle an entry is inside and its word has a place in the output FIFO
  (:attr:`DzBuffer.OUT_DEPTH` entries), both known from registers; the FIFO's places are counted,
  those taken by words on their way included, so that a read never waits and a word is never refused;
- the encoder reads the output FIFO (a full-rate stream: four places cover a read's round trip, from
  its address to the place it frees taken again).

An entry is at the output :meth:`DzBuffer.latency_of` cycles after its write (if the ones before it
have gone), and entries leave at one per cycle. With the compact pipeline it is Amaranth's buffered FIFO.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import fifo, stream
from amaranth.lib.wiring import In, Out

from .bits import equals
from .layouts import dz_layout
from .part import EnginePart
from .primitives import READ_STAGES, block_ram, family

__all__ = ["DzBuffer"]


class DzBuffer(EnginePart):
    """The dz buffer for ``config`` (an EngineConfig); see the module docstring.

    Ports
    -----
    i_dz : stream of ``dz_layout`` from the feed (always ready while a step's elements come).
    o_dz : stream of ``dz_layout`` to the zero-skip encoder.
    empty : nothing in the buffer (its input register, the block RAM, the reads on their way and the output
        FIFO).
    enable : the enable of the buffer's clock domain (high when there is none), for the block RAM's registers
        (hw.primitives.block_ram).
    """

    #: The output FIFO's places: a read's round trip (its address, two cycles to its word, a cycle in the FIFO
    #: before it can be taken, and the place back in the count), so that entries leave at one per cycle.
    OUT_DEPTH = 4

    @staticmethod
    def depth_of(config):
        """The block RAM's words: a step's elements (B x H), rounded up to a power of two (the pointers wrap)."""
        return 1 << max(config.max_batch * config.hidden_size - 1, 1).bit_length()

    @staticmethod
    def latency_of(config):
        """Cycles from an entry's write to the first cycle it is at the output (with the registered pipeline,
        ``config.lane_pipeline``, 5: the input register, the block RAM's write, its two-stage read and the output
        FIFO; compact: 2)."""
        return 5 if config.lane_pipeline == "registered" else 2

    @property
    def latency(self):
        return self.latency_of(self.config)

    def members(self, c):
        return {"i_dz": In(stream.Signature(dz_layout(c))), "o_dz": Out(stream.Signature(dz_layout(c))),
                "empty": Out(1), "enable": In(1, init=1)}

    def elaborate(self, platform):
        m = Module()
        c = self.config
        layout = dz_layout(c)
        if self.latency == 2:
            m.submodules.fifo = q = fifo.SyncFIFOBuffered(width=layout.size, depth=max(c.max_batch * c.hidden_size, 3))
            m.d.comb += [q.w_data.eq(self.i_dz.payload), q.w_en.eq(self.i_dz.valid), self.i_dz.ready.eq(q.w_rdy),
                         self.o_dz.payload.eq(q.r_data), self.o_dz.valid.eq(q.r_rdy), q.r_en.eq(self.o_dz.ready),
                         self.empty.eq(~q.level.any())]
            return m
        depth = self.depth_of(c)
        rp, wp, word = block_ram(m, "entries", layout.size, depth, READ_STAGES[-1], family=family(platform),
                                 enable=self.enable)
        # the feed's entry into a register (a pipeline stage; its load enable is two local registers', not
        # the entry's valid, which is decoded from the unit's four dz across the chip), and on into the
        # block RAM unless it is full
        held, held_valid = Signal(layout), Signal()
        full, stored, none = Signal(), Signal(range(depth + 1)), Signal(init=1)
        write, w_ptr = Signal(), Signal(range(depth))
        m.d.comb += [write.eq(held_valid & ~full), self.i_dz.ready.eq(~held_valid | ~full),
                     wp.addr.eq(w_ptr), wp.data.eq(held), wp.en.eq(write)]
        with m.If(self.i_dz.ready):
            m.d.sync += [held.eq(self.i_dz.payload), held_valid.eq(self.i_dz.valid)]
        m.d.sync += w_ptr.eq(w_ptr + write)
        # reads, one per cycle while there is an entry and room for its word at the output: the output FIFO's
        # free places, counted in a register (``room``: places not taken by an entry inside or on its way), so
        # that no word arrives at a full FIFO and the block RAM's read never waits
        m.submodules.out = out = fifo.SyncFIFO(width=layout.size, depth=self.OUT_DEPTH)
        room, has_room = Signal(range(self.OUT_DEPTH + 1), init=self.OUT_DEPTH), Signal(init=1)
        issue, r_ptr = Signal(), Signal(range(depth))
        arriving = Signal(READ_STAGES[-1])            # the reads on their way, one bit per stage
        taken = self.o_dz.valid & self.o_dz.ready
        m.d.comb += [issue.eq(~none & has_room), rp.addr.eq(r_ptr)]
        m.d.sync += [r_ptr.eq(r_ptr + issue), arriving.eq(Cat(issue, arriving[:-1]))]
        after = Signal.like(room)
        m.d.comb += after.eq(room + taken - issue)
        m.d.sync += [room.eq(after), has_room.eq(after.any())]
        # the entries in the block RAM not yet read, and whether there are none or no place for another (in
        # registers, decided beside the count's carry chain, not after it: from the count's comparisons with
        # 1 and depth - 1, which do not wait for this cycle's read or write: the read's decision went through
        # the chain into ``none`` at a ULX3S seed, 9.3 ns)
        m.d.sync += stored.eq(stored + write - issue)
        grows, shrinks = Signal(), Signal()
        m.d.comb += [grows.eq(write & ~issue), shrinks.eq(issue & ~write)]
        with m.If(grows):
            m.d.sync += [none.eq(0), full.eq(equals(stored, depth - 1))]
        with m.If(shrinks):
            m.d.sync += [none.eq(equals(stored, 1)), full.eq(0)]
        m.d.comb += [out.w_data.eq(word), out.w_en.eq(arriving[-1]),
                     self.o_dz.payload.eq(out.r_data), self.o_dz.valid.eq(out.r_rdy), out.r_en.eq(self.o_dz.ready),
                     self.empty.eq(~held_valid & none & ~arriving.any() & ~out.level.any())]
        return m
