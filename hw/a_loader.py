"""The a-loader: each step's a_t from the host into the MAC lanes' two a buffers, a step ahead.

Step n's a_t (B x C chunks: batch row b, chunk c within b) goes into buffer n % 2
as soon as that buffer is free, i.e. once step n - 2, the last step that read it,
has finished its MAC work. So while step n works on one buffer the host already
sends step n + 1's a_t into the other, and the lanes never wait for a step's
inputs unless the host is slower than the step.

Columns beyond N in the last chunk are written as they come; the lanes write them as 0
(hw.mac_lanes: they multiply them too, and dW of a padding column must stay 0).
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib.wiring import In, Out

from .bits import address, advance, count, depth, equals
from .layouts import chunk_layout
from .part import EnginePart

__all__ = ["ALoader"]


class ALoader(EnginePart):
    """Loads a_t for every step of a sequence into the lanes' a buffers; see the module docstring.

    Ports
    -----
    start : a sequence starts: load from step 0 on.
    running : a sequence runs (the loader wants chunks only then).
    t_last, b_last : the sequence's T - 1 and B - 1, held for the whole sequence.
    step_done : the current step's MAC work ends this cycle: its buffer is free from the next.
    a, a_want : the next chunk of a_t; the core takes it in every cycle ``a_want`` is high.
    ready : the current step's a_t is in its buffer.
    we, buf, addr, data : the write port of the lanes' a buffers (``MacLanes.a_*``).
    may_start, may_free : a sequence may start (``start`` may be high) / the step's MAC work may end
        (``step_done`` may be high) in this cycle: cheap supersets of the two.
    a_want_next : ``a_want`` may be high in the next cycle if the loader runs in this one (never low when it
        will be: hw.engine decides a cycle ahead whether the core can run, and a needless pause there costs a
        cycle of the host's, not of the core's).
    """

    #: Cycles from the transfer of a step's last chunk to ``ready``.
    latency = 1

    def members(self, c):
        return {
            "start": In(1), "running": In(1),
            "t_last": In(range(c.max_seq + 1)), "b_last": In(range(max(c.max_batch, 2))),
            "step_done": In(1), "may_start": In(1), "may_free": In(1), "a_want_next": Out(1),
            "a": In(chunk_layout(c, c.inp)), "a_want": Out(1),
            "ready": Out(1),
            "we": Out(1), "buf": Out(1), "addr": Out(range(depth(c.cols_per_lane, c.max_batch))),
            "data": Out(chunk_layout(c, c.inp)),
        }

    def elaborate(self, platform):
        m = Module()
        c = self.config
        C, P = c.cols_per_lane, c.lanes
        chunk, row = Signal(range(max(C, 2))), Signal(range(max(c.max_batch, 2)))
        step = Signal(range(c.max_seq + 1))   # the step being loaded
        ahead = Signal(range(3))              # buffers loaded and not yet used up
        done = Signal()                       # every step of the sequence loaded
        m.d.comb += [self.a_want.eq(self.running & ~done & ~ahead[1]), self.ready.eq(ahead.any()),
                     self.we.eq(self.a_want), self.buf.eq(step[0]), self.addr.eq(address((chunk, C), (row, c.max_batch)))]
        for p in range(P):
            m.d.comb += self.data[p].eq(self.a[p])

        # where the walk stands, in registers beside it: ``row_end``, at a step's last chunk; ``final``, at the
        # sequence's last chunk (so that a transfer's consequences, which a_want_next must know, are a gate
        # away rather than behind the comparisons with b_last and t_last)
        row_end, final = Signal(), Signal()
        walk = ((chunk, C - 1), (row, self.b_last), (step, self.t_last))
        nexts, _ = advance(self.a_want, *walk)
        chunk_n, row_n, step_n = (Mux(self.start, 0, value) for value in nexts)
        count(m, self.a_want, *walk)
        m.d.sync += [row_end.eq(equals(chunk_n, C - 1) & (row_n == self.b_last)),
                     final.eq(equals(chunk_n, C - 1) & (row_n == self.b_last) & (step_n == self.t_last))]
        loaded, last = self.a_want & row_end, self.a_want & final
        # a_want in the next cycle: exact but for the ends of a step's MAC work, which may free a buffer (a
        # start, too, may raise it): a buffer loaded now or the last step loaded lower it
        full = ahead[1] | (ahead[0] & loaded)
        m.d.comb += self.a_want_next.eq(self.may_start | (self.running & ~done & ~last & (~full | self.may_free)))
        with m.If(last):
            m.d.sync += done.eq(1)
        with m.If(loaded & ~self.step_done):
            m.d.sync += ahead.eq(ahead + 1)
        with m.If(self.step_done & ~loaded):
            m.d.sync += ahead.eq(ahead - 1)
        with m.If(self.start):
            m.d.sync += [chunk.eq(0), row.eq(0), step.eq(0), ahead.eq(0), done.eq(0)]
        return m

