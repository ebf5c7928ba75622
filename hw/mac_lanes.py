"""The MAC lanes: P lanes that apply one dz entry to every column of W, and the memories they own.

For an entry (k, b, v) lane p works on the columns j = c*P + p, c = 0 .. C-1
(C = ceil(N / P)), one column per cycle, all lanes in step::

    dW[k, j] += v * a_b[j]        da_b[j] += v * W[k, j]        db[k] += v   (with column 0)

Memories (amaranth.lib.memory), banked by column so that each lane owns its own:

- ``W``  per lane, 4H x C words (weight), address (c, k);
- ``a0``, ``a1`` per lane, two buffers of max_batch x C words (inp), address (c, b);
- ``dW`` per lane, 4H x C words (dw_acc), address (c, k);
- ``da0``, ``da1`` per lane, two buffers of max_batch x C words (da_acc), address (c, b):
  one step accumulates into one while the step before is read out of the other;
- ``db`` one memory, 4H words (db_acc), address k.

An address (c, k) is the concatenation of c's bits and k's (hw.bits.address):
no multiplier or adder on any address path, for the price of rounding C up to
a power of two in the memories' depth.

Pipeline (cycle r: a column's addresses go to the memories):
r+1 the operands arrive and the products v*a and v*W are formed (registered);
r+2 the sums are formed, saturated per ``config.overflow``, and written. The
accumulator read ports are transparent to their write ports, so a read in
cycle r+2 already sees that write: two operations on the same accumulator must
read at least ``rmw_depth`` = 2 cycles apart. Consecutive entries are C cycles
apart, so only C = 1 needs care: an entry sharing its row k or batch b with the
entry issued in the cycle before waits one cycle (a hazard bubble).

The read-and-clear port (``rd_dw``/``rd_da``/``rd_db`` with ``rd_addr``)
returns an accumulator's word (all lanes) in the next cycle and writes 0 to it
one cycle after that: it reads dW/db out after a sequence and da after each
step, and clears every accumulator after reset. dW and db are read only while
the lanes are idle; da buffer ``rd_dbuf`` while the entries accumulate into
the other one.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream
from amaranth.lib.wiring import In, Out

from . import fixed
from .bits import address, depth, equals
from .fixed import shape_of
from .layouts import chunk_layout, nonzero_layout
from .part import EnginePart

__all__ = ["MacLanes", "memory_depths"]


def memory_depths(config):
    """Words of each memory of one lane (``db``: of the one db memory), addressed by hw.bits.address."""
    C, B, R = config.cols_per_lane, config.max_batch, config.n_rows
    return {"W": depth(C, R), "a": depth(C, B), "dW": depth(C, R), "da": depth(C, B), "db": max(R, 2)}


class MacLanes(EnginePart):
    """P MAC lanes with their banked memories, for ``config`` (an EngineConfig).

    Ports
    -----
    i_nz : stream of ``nonzero_layout``: entries (k, b, v) to apply.
    abuf, dbuf : which of the two a buffers and da buffers the entries use.
    w_we, w_addr, w_data : write one chunk of W (address (c, k)).
    a_we, a_buf, a_addr, a_data : write one chunk of a into buffer ``a_buf`` (address (c, b)).
    rd_dw, rd_da, rd_db, rd_addr : read-and-clear one accumulator word ((c, k), (c, b) or k).
    rd_dbuf : the da buffer ``rd_da`` reads.
    dw_data, da_data, db_data : the word read (valid the cycle after the request).
    idle : no entry in flight.
    busy : a column is issued this cycle.
    hazard : an entry waits this cycle for a read-modify-write to finish.
    ovf_dw, ovf_da, ovf_db : an accumulator overflowed this cycle.
    """

    #: Cycles between two reads of the same accumulator (see the module docstring).
    rmw_depth = 2
    #: Cycles from a column's issue to its write.
    write_latency = 2
    #: Cycles from an entry's last column to the first cycle ``idle`` is high (the cycle after its write).
    drain = write_latency + 1

    def members(self, c):
        depths = memory_depths(c)
        return {
            "i_nz": In(stream.Signature(nonzero_layout(c))),
            "abuf": In(1), "dbuf": In(1),
            "w_we": In(1), "w_addr": In(range(depths["W"])), "w_data": In(chunk_layout(c, c.weight)),
            "a_we": In(1), "a_buf": In(1), "a_addr": In(range(depths["a"])), "a_data": In(chunk_layout(c, c.inp)),
            "rd_dw": In(1), "rd_da": In(1), "rd_db": In(1), "rd_addr": In(range(max(depths.values()))),
            "rd_dbuf": In(1),
            "dw_data": Out(chunk_layout(c, c.dw_acc)), "da_data": Out(chunk_layout(c, c.da_acc)),
            "db_data": Out(shape_of(c.db_acc)),
            "idle": Out(1), "busy": Out(1), "hazard": Out(1),
            "ovf_dw": Out(1), "ovf_da": Out(1), "ovf_db": Out(1),
        }

    def elaborate(self, platform):
        m = Module()
        c = self.config
        P, C, B, R = c.lanes, c.cols_per_lane, c.max_batch, c.n_rows
        nz = self.i_nz

        # -- the sequencer: one entry at a time, one column per cycle -------------------------------
        busy = Signal()
        col = Signal(range(max(C, 2)))     # the column issued this cycle
        k = Signal.like(nz.payload.k)
        b = Signal.like(nz.payload.b)
        v = Signal.like(nz.payload.v)
        last = equals(col, C - 1)

        block = Signal()
        if C < self.rmw_depth:             # the previous entry's write lands too late for this one's read
            m.d.comb += block.eq(busy & ((nz.payload.k == k) | (nz.payload.b == b)))
        m.d.comb += [nz.ready.eq((~busy | last) & ~block), self.hazard.eq(nz.valid & block)]

        with m.If(busy):
            m.d.sync += col.eq(col + 1)
            with m.If(last):
                m.d.sync += [busy.eq(0), col.eq(0)]
        with m.If(nz.valid & nz.ready):
            m.d.sync += [busy.eq(1), col.eq(0), k.eq(nz.payload.k), b.eq(nz.payload.b), v.eq(nz.payload.v)]
        w_addr, d_addr = address((col, C), (k, R)), address((col, C), (b, B))

        # pipeline registers: stage 1 (operands arrive), stage 2 (products ready, write)
        stage = data.StructLayout({"mac": 1, "db": 1, "clr_dw": 1, "clr_da": 1, "clr_db": 1, "abuf": 1, "dbuf": 1,
                                   "rd_dbuf": 1, "v": v.shape(), "w_addr": len(w_addr), "d_addr": len(d_addr),
                                   "k": k.shape(), "r_addr": len(self.rd_addr)})
        s1, s2 = Signal(stage), Signal(stage)
        m.d.sync += [
            s1.mac.eq(busy), s1.db.eq(busy & ~col.any()), s1.v.eq(v), s1.k.eq(k), s1.abuf.eq(self.abuf),
            s1.dbuf.eq(self.dbuf), s1.clr_dw.eq(self.rd_dw), s1.clr_da.eq(self.rd_da), s1.clr_db.eq(self.rd_db),
            s1.rd_dbuf.eq(self.rd_dbuf), s1.w_addr.eq(w_addr), s1.d_addr.eq(d_addr), s1.r_addr.eq(self.rd_addr),
            s2.eq(s1),
        ]
        m.d.comb += [self.idle.eq(~busy & ~s1.mac & ~s2.mac), self.busy.eq(busy)]

        overflows = [self._lane(m, p, s1, s2, w_addr, d_addr) for p in range(P)]
        db_over = self._db(m, s1, s2, k)
        m.d.comb += [
            self.ovf_dw.eq(s2.mac & Cat(dw for dw, _ in overflows).any()),
            self.ovf_da.eq(s2.mac & Cat(da for _, da in overflows).any()),
            self.ovf_db.eq(s2.db & db_over),
        ]
        return m

    def _memory(self, m, name, shape, suffix=""):
        """A memory of ``memory_depths(config)[name]`` words with one write port and a read port transparent to it."""
        mem = memory.Memory(shape=shape, depth=memory_depths(self.config)[name.rstrip("01")], init=[])
        m.submodules[name + suffix] = mem
        write = mem.write_port()
        return mem.read_port(transparent_for=(write,)), write

    def _lane(self, m, p, s1, s2, w_addr, d_addr):
        """Lane p: its memories and its two multiply-accumulates; returns its (dW, da) overflow."""
        c = self.config
        w_rp, w_wp = self._memory(m, "W", shape_of(c.weight), str(p))
        a_ports = [self._memory(m, f"a{i}", shape_of(c.inp), f"_{p}") for i in range(2)]
        dw_rp, dw_wp = self._memory(m, "dW", shape_of(c.dw_acc), str(p))
        da_ports = [self._memory(m, f"da{i}", shape_of(c.da_acc), f"_{p}") for i in range(2)]
        m.d.comb += [
            w_wp.en.eq(self.w_we), w_wp.addr.eq(self.w_addr), w_wp.data.eq(self.w_data[p]), w_rp.addr.eq(w_addr),
            dw_rp.addr.eq(Mux(self.rd_dw, self.rd_addr, w_addr)), self.dw_data[p].eq(dw_rp.data),
            self.da_data[p].eq(Mux(s1.rd_dbuf, da_ports[1][0].data, da_ports[0][0].data)),
        ]
        for i, (rp, wp) in enumerate(a_ports):
            m.d.comb += [wp.en.eq(self.a_we & (self.a_buf if i else ~self.a_buf)), wp.addr.eq(self.a_addr),
                         wp.data.eq(self.a_data[p]), rp.addr.eq(d_addr)]
        a = Mux(s1.abuf, a_ports[1][0].data, a_ports[0][0].data)
        da_data = Mux(s1.dbuf, da_ports[1][0].data, da_ports[0][0].data)
        # stage 1 -> 2: the exact products, and the old accumulator values beside them
        # (registers as wide as the sum's operands: equal widths keep the Verilog free of width warnings)
        pw, dw_old = Signal(signed(c.dw_acc.width + 1)), Signal(signed(c.dw_acc.width + 1))
        pa, da_old = Signal(signed(c.da_acc.width + 1)), Signal(signed(c.da_acc.width + 1))
        m.d.sync += [pw.eq(a * s1.v), pa.eq(w_rp.data * s1.v), dw_old.eq(dw_rp.data), da_old.eq(da_data)]
        # stage 2: sum, saturate, write back (or write 0 after a read-and-clear)
        dw_new, dw_over = fixed.fit(dw_old + pw, c.dw_acc, c.overflow)
        da_new, da_over = fixed.fit(da_old + pa, c.da_acc, c.overflow)
        m.d.comb += [dw_wp.addr.eq(Mux(s2.clr_dw, s2.r_addr, s2.w_addr)), dw_wp.en.eq(s2.mac | s2.clr_dw),
                     dw_wp.data.eq(Mux(s2.mac, dw_new, 0))]
        for i, (rp, wp) in enumerate(da_ports):
            clear_rd = self.rd_da & (self.rd_dbuf if i else ~self.rd_dbuf)     # this buffer is read out
            clear_wr = s2.clr_da & (s2.rd_dbuf if i else ~s2.rd_dbuf)
            mac_wr = s2.mac & (s2.dbuf if i else ~s2.dbuf)
            m.d.comb += [rp.addr.eq(Mux(clear_rd, self.rd_addr, d_addr)),
                         wp.addr.eq(Mux(clear_wr, s2.r_addr, s2.d_addr)), wp.en.eq(mac_wr | clear_wr),
                         wp.data.eq(Mux(clear_wr, 0, da_new))]
        return dw_over, da_over

    def _db(self, m, s1, s2, k):
        """The db accumulators (one memory: db[k] += v with an entry's first column); returns its overflow."""
        c = self.config
        db_rp, db_wp = self._memory(m, "db", shape_of(c.db_acc))
        db_old, db_v = Signal(signed(c.db_acc.width + 1)), Signal(signed(c.db_acc.width + 1))
        m.d.sync += [db_old.eq(db_rp.data), db_v.eq(s1.v)]
        db_new, db_over = fixed.fit(db_old + db_v, c.db_acc, c.overflow)
        m.d.comb += [
            db_rp.addr.eq(Mux(self.rd_db, self.rd_addr, k)), self.db_data.eq(db_rp.data),
            db_wp.addr.eq(Mux(s2.clr_db, s2.r_addr, s2.k)), db_wp.en.eq(s2.db | s2.clr_db),
            db_wp.data.eq(Mux(s2.db, db_new, 0)),
        ]
        return db_over
