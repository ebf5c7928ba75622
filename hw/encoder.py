"""The zero-skip encoder: one element's four dz in, one (row, batch, value) per nonzero out.

An element (unit j, batch b) carries the thresholded dz of the four gates
i, f, g, o; gate q's value belongs to row k = q*H + j of W. The encoder
issues the element's nonzeros in gate order, one per transfer, and skips the
zeros at no cost: the next element is taken in the same cycle as the last
nonzero of the current one. An element with no nonzero occupies the encoder
for one cycle. In dense mode every entry is issued, zeros included.

Timing (the cycle model, golden_model.cycles, relies on it): an element taken
in cycle x offers its first entry in cycle x + 1; each following entry is
offered the cycle after the previous one was taken.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream
from amaranth.lib.wiring import In, Out

from .bits import equals
from .layouts import dz_layout, nonzero_layout
from .part import EnginePart

__all__ = ["ZeroSkipEncoder"]


class ZeroSkipEncoder(EnginePart):
    """Zero-skip encoder for ``config`` (an EngineConfig).

    Ports
    -----
    i_dz : stream of ``dz_layout``: the four dz of one element and its (j, b).
    o_nz : stream of ``nonzero_layout``: (k, b, v) of each issued entry.
    dense : issue every entry, zeros included (hold it steady while elements flow).
    """

    def members(self, config):
        return {
            "i_dz": In(stream.Signature(dz_layout(config))),
            "o_nz": Out(stream.Signature(nonzero_layout(config))),
            "dense": In(1),
        }

    def elaborate(self, platform):
        m = Module()
        H = self.config.hidden_size
        cur = Signal(dz_layout(self.config))
        j = Signal(self.o_nz.payload.k.shape())   # cur.j, as wide as the row index k = q*H + j
        pending = Signal(4)                 # gates of ``cur`` still to issue; 0: the encoder is empty

        lowest = Signal(4)                  # the lowest pending gate, one-hot
        m.d.comb += lowest.eq(Cat(pending[q] & ~pending[:q].any() for q in range(4)))
        m.d.comb += [
            self.o_nz.valid.eq(pending.any()),
            self.o_nz.payload.b.eq(cur.b),
        ]
        base = Signal.like(j)                     # q*H for the gate issued (a full-width operand for the add)
        for q in range(4):
            with m.If(lowest[q]):
                m.d.comb += [base.eq(q * H), self.o_nz.payload.v.eq(cur.dz[q])]
        m.d.comb += self.o_nz.payload.k.eq(j + base)

        left = Signal(4)                    # pending after this cycle's transfer
        m.d.comb += left.eq(pending)
        with m.If(self.o_nz.valid & self.o_nz.ready):
            m.d.comb += left.eq(pending & ~lowest)
        # whether pending is 0 or one gate, in registers of their own: the next element is taken when none
        # is left after this cycle, one gate from registers and the lanes' ready (it is the load enable of
        # ``cur``'s 80 bits: from pending through the lowest gate and the rest, an ECP5 critical path)
        empty, single = Signal(init=1), Signal()
        m.d.comb += self.i_dz.ready.eq(empty | (single & self.o_nz.ready))

        after = Signal(4)
        m.d.comb += after.eq(left)
        with m.If(self.i_dz.valid & self.i_dz.ready):
            dz = self.i_dz.payload.dz
            m.d.comb += after.eq(Cat(dz[q].any() | self.dense for q in range(4)))
            m.d.sync += [cur.eq(self.i_dz.payload), j.eq(self.i_dz.payload.j)]
        m.d.sync += [pending.eq(after), empty.eq(~after.any()),
                     single.eq(Cat(equals(after, 1 << q) for q in range(4)).any())]
        return m
