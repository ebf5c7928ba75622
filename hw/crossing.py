"""A stream from one clock domain into another, for the board's host link (boards.top.BoardCore).

:class:`StreamCrossing` passes one transfer at a time through a register and a toggle handshake: the
writing side loads the payload into its register and toggles ``req``; the reading side, having seen the
toggle through a two-stage synchroniser (amaranth.lib.cdc.FFSynchronizer), loads the register's payload,
which has been steady since before the toggle, into a register of its own and offers it; once it is taken
it toggles ``ack`` back, and the writing side, seeing that, takes the next transfer. No transfer is lost or
duplicated under any valid/ready pattern on either side, and either clock may be the faster.

Why not ``amaranth.lib.fifo.AsyncFIFO``: its read port addresses its storage (LUT RAM on the ECP5) from the
next read pointer, which follows the read enable and the emptiness test of the synchronised pointers, so
a read enable from the engine reached the storage of a wide payload through a long route (9.4 ns at a
small ULX3S build). Here every path on the reading side is a register, a gate or two and a clock enable.
A transfer takes a few cycles of each clock: about 3 of the slower one at best, plenty for a UART's bytes.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["StreamCrossing"]


class StreamCrossing(wiring.Component):
    """A stream of ``shape`` from clock domain ``w_domain`` (``i_data``) into ``r_domain`` (``o_data``); see the
    module docstring. Each domain's reset empties its side (reset both together)."""

    def __init__(self, shape, *, w_domain, r_domain):
        self.shape, self.w_domain, self.r_domain = shape, w_domain, r_domain
        super().__init__({"i_data": In(stream.Signature(shape)), "o_data": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        w, r = m.d[self.w_domain], m.d[self.r_domain]
        req, ack = Signal(), Signal()               # the toggles: the writer's, the reader's
        # the writing side: a payload register and the request toggle; busy until the reader's ack matches
        held = Signal(self.shape, reset_less=True)
        ack_seen = Signal()
        m.submodules.ack_sync = FFSynchronizer(ack, ack_seen, o_domain=self.w_domain)
        idle = ack_seen == req
        m.d.comb += self.i_data.ready.eq(idle)
        with m.If(self.i_data.valid & idle):
            w += [held.eq(self.i_data.payload), req.eq(~req)]
        # the reading side: the toggle seen, the payload taken into a register of its own and offered; once
        # taken, acknowledged
        req_seen, taken, valid = Signal(), Signal(), Signal()
        m.submodules.req_sync = FFSynchronizer(req, req_seen, o_domain=self.r_domain)
        m.d.comb += self.o_data.valid.eq(valid)
        with m.If(valid & self.o_data.ready):
            r += [valid.eq(0), ack.eq(taken)]
        with m.If(~valid & (req_seen != taken)):
            r += [self.o_data.payload.eq(held), valid.eq(1), taken.eq(req_seen)]
        return m
