"""A stream from one clock domain into another, for the board's host link (boards.top.BoardCore).

:class:`StreamCrossing` passes one transfer at a time by a toggle handshake (two-stage
amaranth.lib.cdc.FFSynchronizers each way):

1. the writing side, offered a transfer, toggles ``req`` and waits; the source's payload stays as it is
   meanwhile (a stream's payload is steady while it is valid and not taken), or, with ``hold``, the
   writing side has taken it into a register of its own (for a source that does not keep it, such as
   a snapshot of counters);
2. the reading side, having seen the toggle, loads the payload into a register of its own, slice by
   slice, each slice under its own registered copy of the load (hw.primitives.copy, placed beside its
   bits), offers it, and once it is taken toggles ``ack``;
3. the writing side, seeing the ack, completes the transfer (``ready``; with ``hold`` it was taken at
   once and the next waits for the ack instead). Until then the transfer is ``busy``: on its way, or
   offered on the reading side and not yet taken.

No transfer is lost or duplicated under any valid/ready pattern on either side, and either clock may be the
faster; a transfer takes a few cycles of each clock, plenty for a UART's bytes. The reading side's payload
stays as it is from its offer until the next transfer's load, which comes at least three of its cycles after
a take (the ack's and the next toggle's synchronisers lie between): a sink may write it a cycle or two after
the take (boards.top's a_t FIFO, through registered copies of the take).

Why not ``amaranth.lib.fifo.AsyncFIFO``: its read port addresses its storage (LUT RAM on the ECP5) from the
next read pointer, which follows the read enable and the emptiness test of the synchronised pointers, so
a read enable from the engine reached the storage of a wide payload through a long route (9.4 ns at a
small ULX3S build). And why no register of the payload on the writing side by default: its load enable, a
decode of the handshake, reached the 624 bits of a dW chunk from across the chip (11.0 ns of routing at two
ULX3S seeds); here every path of either side is a register, a gate or two and a clock enable that is itself
a register beside its bits.
"""

from amaranth.hdl import DomainRenamer, Module, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from .primitives import copy, family

__all__ = ["StreamCrossing"]


class StreamCrossing(wiring.Component):
    """A stream of ``shape`` from clock domain ``w_domain`` (``i_data``) into ``r_domain`` (``o_data``); see the
    module docstring. ``hold``: the writing side takes each payload into a register of its own (else the source
    must keep it steady until taken, as the stream rules say). ``slice_bits``: bits of the payload loaded under
    one copy of the reading side's load. ``busy`` (of the writing side's domain): a transfer is on its way or
    offered on the reading side and not yet taken. Each domain's reset empties its side (reset both
    together)."""

    def __init__(self, shape, *, w_domain, r_domain, hold=False, slice_bits=32):
        self.shape, self.w_domain, self.r_domain = shape, w_domain, r_domain
        self.hold, self.slice_bits = hold, slice_bits
        super().__init__({"i_data": In(stream.Signature(shape)), "o_data": Out(stream.Signature(shape)),
                          "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        w, r = m.d[self.w_domain], m.d[self.r_domain]
        req, ack = Signal(), Signal()               # the toggles: the writer's, the reader's
        ack_seen, req_seen = Signal(), Signal()
        m.submodules.ack_sync = FFSynchronizer(ack, ack_seen, o_domain=self.w_domain)
        m.submodules.req_sync = FFSynchronizer(req, req_seen, o_domain=self.r_domain)

        # the writing side
        answered = ack_seen == req                  # (no toggle of ours unanswered)
        if self.hold:
            source = Signal(self.shape, reset_less=True)
            m.d.comb += [self.i_data.ready.eq(answered), self.busy.eq(~answered)]
            with m.If(self.i_data.valid & answered):
                w += [source.eq(self.i_data.payload), req.eq(~req)]
        else:
            source, waiting = self.i_data.payload, Signal()
            m.d.comb += [self.i_data.ready.eq(waiting & answered), self.busy.eq(waiting)]
            with m.If(~waiting & self.i_data.valid):
                w += [req.eq(~req), waiting.eq(1)]
            with m.If(waiting & answered):
                w += waiting.eq(0)

        # the reading side: a toggle seen, the load decided into a register per slice, then the payload loaded and
        # offered; taken, acknowledged
        taken, loading, valid = Signal(), Signal(), Signal()
        start = ~valid & ~loading & (req_seen != taken)
        m.d.comb += self.o_data.valid.eq(valid)
        with m.If(start):
            r += [taken.eq(req_seen), loading.eq(1)]
        with m.If(loading):
            r += [loading.eq(0), valid.eq(1)]
        with m.If(valid & self.o_data.ready):
            r += [valid.eq(0), ack.eq(taken)]
        form = family(platform)
        whole_in, whole_out = Value.cast(source), Value.cast(self.o_data.payload)
        renamed = Module()                          # (copies of the reading side's domain)
        for i, lo in enumerate(range(0, len(whole_in), self.slice_bits)):
            hi = min(lo + self.slice_bits, len(whole_in))
            load = copy(renamed, start, f"load{i}", family=form, reset=True)
            with m.If(load):
                r += whole_out[lo:hi].eq(whole_in[lo:hi])
        if self.r_domain != "sync":
            renamed = DomainRenamer({"sync": self.r_domain})(renamed)
        m.submodules.loads = renamed
        return m
