"""The read-out: the lanes' accumulators out of the engine, each cleared as it is read.

- After every step, **da** (double-buffered in the lanes) is read out of the buffer the
  step filled while the next step accumulates into the other: B x C chunks, rounded
  to the grad format. The dh_rec columns (I .. N-1) go into the feed's dh_rec memory
  for the next step, the dx columns (0 .. I-1) out on ``dx``. The read-out starts at
  chunk I // P (the first dh_rec columns) and wraps around, batch row b within each
  chunk: the next step's element (j, b) needs chunk (I + j) // P of row b, which is out
  by the time the feed reaches it.
- After the last step, **dW** (4H x C chunks, row k, chunk c within k) and then **db**
  (4H words) go out.
- After reset the same walks clear every accumulator (both da buffers, dW, db) before
  the engine is idle; nothing goes out then.

A da word requested in cycle X arrives from the lanes in cycle X + L (L = ``lane_timing(config).read_latency``;
hw.mac_lanes writes 0 to it meanwhile) and is sent, rounded, ``round_latency`` cycles later: with the
registered pipeline (``config.lane_pipeline``) it is rounded into a register, fitted to the grad format into
another and sent from it in cycle X + L + 2, so that the rounding, the fit and the overflow flag each end in
a register; with the compact one (the iCE40's, short of logic cells) it is rounded and sent as it arrives. So
the next step's feed, which reads dh_rec as soon as the read-out has begun, may start only when the
first word is in (``primed``), and the state walk after the last step only when every word is in (``busy``
low). dW and db are sent as they arrive.
"""

import enum

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from . import fixed
from .bits import address, count, delayed, depth, equals, in_row
from .fixed import shape_of
from .layouts import chunk_layout
from .mac_lanes import lane_timing, memory_depths
from .part import EnginePart

__all__ = ["ReadOut"]


class Phase(enum.Enum):
    """The accumulator walk's phases (an enum-shaped register, as hw.controller.State)."""
    IDLE = 0
    CLEAR = 1                               # both da buffers, after reset (then dW and db)
    DW = 2
    DB = 3


class ReadOut(EnginePart):
    """Reads the lanes' accumulators out; see the module docstring.

    Ports
    -----
    start, buf : a da read-out of buffer ``buf`` starts in the next cycle.
    b_last : B - 1 of the sequence.
    active : a da read-out requests words.
    busy : a da read-out requests words or waits for them (up to the cycle before the last rounded word is
        sent).
    primed : no da read-out began in the last L + ``round_latency`` - 1 cycles (L: the lanes' read latency),
        so the first word of one that did is in the dh_rec memory.
    final : dW and then db go out, from the next cycle.
    final_done : the last db word arrives in the next cycle (also at the end of the clearing).
    rd_dw, rd_da, rd_db, rd_addr, rd_dbuf, dw_data, da_data, db_data : the lanes' read-and-clear port.
    rec_we, rec_addr, rec_data : dh_rec, to the feed's memory.
    dx, dx_want; dw, dw_want; db, db_want : the engine's outputs.
    overflow : the dx or dh_rec word sent ``overflow_lag_of(config)`` cycles before left the grad format (it
        saturated or wrapped).
    dx_want_next, dw_want_next, db_want_next : what the wants will be in the next cycle if the read-out runs
        in this one (hw.engine decides a cycle ahead whether the core can run).
    """

    #: Cycles from ``start`` to the first word requested.
    latency = 1
    @staticmethod
    def round_latency_of(config):
        """Cycles from a da word's arrival to its rounded value on ``rec_data`` and ``dx``: with the registered
        pipeline (``config.lane_pipeline``) a register after the rounding and one after the fit to the grad
        format (2); with the compact one, none (0)."""
        return 2 if config.lane_pipeline == "registered" else 0

    @staticmethod
    def overflow_lag_of(config):
        """Cycles from a word sent to its ``overflow``: with the registered pipeline each lane's bit is
        registered beside its word and OR-ed in the next cycle (1); with the compact one, none (0)."""
        return 1 if config.lane_pipeline == "registered" else 0

    @property
    def round_latency(self):
        return self.round_latency_of(self.config)

    def members(self, c):
        return {
            "start": In(1), "buf": In(1), "b_last": In(range(max(c.max_batch, 2))), "active": Out(1),
            "busy": Out(1), "primed": Out(1),
            "final": In(1), "final_done": Out(1),
            "rd_dw": Out(1), "rd_da": Out(1), "rd_db": Out(1), "rd_dbuf": Out(1),
            "rd_addr": Out(range(max(memory_depths(c).values()))),
            "dw_data": In(chunk_layout(c, c.dw_acc)), "da_data": In(chunk_layout(c, c.da_acc)),
            "db_data": In(shape_of(c.db_acc)),
            "rec_we": Out(1), "rec_addr": Out(range(depth(c.cols_per_lane, c.max_batch))),
            "rec_data": Out(chunk_layout(c, c.grad)),
            "dx": Out(chunk_layout(c, c.grad)), "dx_want": Out(1),
            "dw": Out(chunk_layout(c, c.dw_acc)), "dw_want": Out(1),
            "db": Out(shape_of(c.db_acc)), "db_want": Out(1),
            "overflow": Out(1),
            "dx_want_next": Out(1), "dw_want_next": Out(1), "db_want_next": Out(1),
        }

    def elaborate(self, platform):
        m = Module()
        c = self.config
        C, B = c.cols_per_lane, c.max_batch
        chunk, row = Signal(range(max(C, 2))), Signal(range(max(B, 2)))   # the word requested: (c, b)
        quiet = Signal(init=1)               # clearing after reset: nothing goes out
        finished = Signal()                  # (the clearing's last word arrived: quiet ends)
        m.d.sync += finished.eq(self.final_done)
        with m.If(finished):
            m.d.sync += quiet.eq(0)
        loud = ~quiet | finished             # not quiet in the next cycle (quiet only ever ends)
        m.d.comb += self.rd_addr.eq(address((chunk, C), (row, B)))
        da_buf = self._da(m, chunk, row, quiet, loud)
        self._accumulators(m, chunk, row, quiet, loud, da_buf)
        return m

    def _da(self, m, chunk, row, quiet, loud):
        """A step's da: request B x C words from chunk I // P on, round them as they arrive and send them a
        cycle later; returns the buffer read."""
        c = self.config
        I, P, C, B = c.input_size, c.lanes, c.cols_per_lane, c.max_batch
        CI, c0 = -(-I // P), I // P           # chunks that hold dx columns; the first chunk read
        left = Signal(range(max(C, 2)))       # chunks after the current one
        holds_dx = Signal()                   # chunk ``chunk`` holds dx columns
        active, buf = Signal(), Signal()
        m.d.comb += self.active.eq(active)
        with m.If(self.start):
            m.d.sync += [active.eq(1), buf.eq(self.buf), chunk.eq(c0), row.eq(0), left.eq(C - 1),
                         holds_dx.eq(int(c0 < CI))]
        m.d.comb += self.rd_da.eq(active)
        next_chunk, _ = count(m, active, (row, self.b_last), (chunk, C - 1))
        with m.If(next_chunk):
            m.d.sync += left.eq(left - 1)
            with m.If(equals(chunk, CI - 1)):
                m.d.sync += holds_dx.eq(0)
            with m.If(equals(chunk, C - 1)):
                m.d.sync += holds_dx.eq(1)
            with m.If(~left.any()):
                m.d.sync += active.eq(0)

        # L cycles later the word is there; with the registered pipeline it is rounded into a register and
        # fitted to the grad format into another (``round_latency``), with the compact one both in that cycle
        L, Lr = lane_timing(c).read_latency, self.round_latency
        tag_layout = data.StructLayout({"valid": 1, "sent": 1, "dx": 1, "chunk": chunk.shape(), "addr": len(self.rec_addr)})
        asked = Signal(tag_layout)
        m.d.comb += [asked.valid.eq(active), asked.dx.eq(holds_dx), asked.chunk.eq(chunk),
                     asked.addr.eq(address((chunk, C), (row, B)))]
        flight = delayed(m, asked, L, "da_word")
        started = delayed(m, self.start, L + Lr - 1, "da_start")
        # primed and busy are ORs over register chains: all but the newest term from a register of the chain's
        # OR a cycle before (stage i now was stage i - 1 then), so that each is a gate, not an OR tree, on the
        # sequencer's path
        if len(started) > 2:
            seen = Signal(name="da_started")
            m.d.sync += seen.eq(Cat(started[1:-1]).any())
            m.d.comb += self.primed.eq(~(started[1] | seen))
        else:
            m.d.comb += self.primed.eq(~Cat(started[1:]).any())
        word = Signal(tag_layout)
        m.d.comb += [word.eq(flight[-1]), word.sent.eq(flight[-1].valid & ~quiet)]

        def stage(value, name, reset_less=True):
            """``value`` a cycle later in the registered pipeline; ``value`` itself in the compact one."""
            if not Lr:
                return value
            reg = Signal(value.shape(), name=name, reset_less=reset_less)
            m.d.sync += reg.eq(value)
            return reg

        tag = stage(word, "rounded", reset_less=False)
        over = []
        for p in range(P):
            q = stage(fixed.round_shift(self.da_data[p], c.da_acc.frac - c.grad.frac, c.rounding), f"rounded_{p}")
            v, o = fixed.fit(q, c.grad, c.overflow)
            m.d.comb += [self.rec_data[p].eq(stage(v, f"rec_{p}")),
                         self.dx[p].eq(stage(in_row(v, p, tag.chunk, I, P), f"dx_{p}"))]   # dx columns only
            over.append(stage(tag.sent & o, f"over_{p}", reset_less=False))     # (beside the lane's word)
        m.d.comb += [self.rec_addr.eq(stage(tag.addr, "rec_addr")),
                     self.rec_we.eq(stage(tag.sent, "rec_we", reset_less=False)),
                     self.dx_want.eq(stage(tag.sent & tag.dx, "dx_want", reset_less=False)),
                     self.overflow.eq(stage(Cat(over).any(), "overflow", reset_less=False))]
        if Lr:
            flying = Signal(name="da_flying")          # (the rounding's register, ``tag``, included)
            m.d.sync += flying.eq(Cat(w.valid for w in flight).any())
            m.d.comb += [self.busy.eq(flight[0].valid | flying),
                         self.dx_want_next.eq(tag.sent & tag.dx)]
        else:
            m.d.comb += [self.busy.eq(Cat(w.valid for w in flight[:-1]).any()),
                         self.dx_want_next.eq(flight[-2].valid & flight[-2].dx & loud)]
        return buf

    def _accumulators(self, m, chunk, row, quiet, loud, da_buf):
        """dW, then db, after the last step; after reset, both da buffers first, then dW and db, silently."""
        c = self.config
        C, B, R = c.cols_per_lane, c.max_batch, c.n_rows
        k = Signal(range(max(R, 2)))
        second = Signal()                     # clearing: the second da buffer
        phase = Signal(Phase, init=Phase.CLEAR)
        L = lane_timing(self.config).read_latency
        asked = Signal(data.StructLayout({"dw": 1, "db": 1, "last": 1}))    # this cycle's request
        words = delayed(m, asked, L, "word")
        word = words[-1]
        m.d.comb += [self.rd_dbuf.eq(da_buf | second), self.dw.eq(self.dw_data), self.db.eq(self.db_data),
                     self.dw_want.eq(word.dw & ~quiet), self.db_want.eq(word.db & ~quiet),
                     self.dw_want_next.eq(words[-2].dw & loud), self.db_want_next.eq(words[-2].db & loud),
                     self.final_done.eq(words[-2].last)]
        with m.If(self.final):
            m.d.sync += [phase.eq(Phase.DW), chunk.eq(0), k.eq(0)]

        def in_phase(name):
            return equals(phase, Phase[name].value)

        with m.If(in_phase("CLEAR")):
            m.d.comb += self.rd_da.eq(1)
            *_, cleared = count(m, 1, (chunk, C - 1), (row, B - 1), (second, 1))
            with m.If(cleared):
                m.d.sync += phase.eq(Phase.DW)
        with m.If(in_phase("DW")):
            m.d.comb += [self.rd_dw.eq(1), self.rd_addr.eq(address((chunk, C), (k, R))), asked.dw.eq(1)]
            _, read = count(m, 1, (chunk, C - 1), (k, R - 1))
            with m.If(read):
                m.d.sync += phase.eq(Phase.DB)
        with m.If(in_phase("DB")):
            m.d.comb += [self.rd_db.eq(1), self.rd_addr.eq(k), asked.db.eq(1)]
            read, = count(m, 1, (k, R - 1))
            with m.If(read):
                m.d.sync += phase.eq(Phase.IDLE)
                m.d.comb += asked.last.eq(1)
