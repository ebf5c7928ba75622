"""The MAC lanes: P lanes that apply one dz entry to every column of W, and the memories they own.

For an entry (k, b, v) lane p works on the columns j = c*P + p, c = 0 .. C-1
(C = ceil(N / P)), one column per cycle, all lanes in step::

    dW[k, j] += v * a_b[j]        da_b[j] += v * W[k, j]        db[k] += v   (with column 0)

Memories, banked by column so that each lane owns its own (hw.primitives.block_ram, :data:`IN_BLOCK_RAM`: on
the ECP5 DP16KDs read through their output register; the a buffers amaranth.lib.memory):

- ``W``  per lane, 4H x C words (weight), address (c, k);
- ``a0``, ``a1`` per lane, two buffers of max_batch x C words (inp), address (c, b);
- ``dW`` per lane, 4H x C words (dw_acc, one bit wider: see :func:`wide`), address (c, k);
- ``da0``, ``da1`` per lane, two buffers of max_batch x C words (da_acc), address (c, b):
  one step accumulates into one while the step before is read out of the other (block RAM, asked
  for in the generic form too: :data:`ASKED_BLOCK_RAM`);
- ``db`` one memory, 4H words (db_acc), address k.

An address (c, k) is the concatenation of c's bits and k's (hw.bits.address):
no multiplier or adder on any address path, for the price of rounding C up to
a power of two in the memories' depth.

Pipeline (cycle r: the sequencer issues a column; the stages are ``config.lane_pipeline``'s, see
:class:`LaneTiming` and docs/engine.md): the column's entry and addresses are copied into one register
per group of ``LANES_PER_COPY`` lanes, and each memory port's inputs into registers of each lane's own
(``registered`` only: a registered fan-out tree, no net drives all P lanes); W and a are read
(hw.primitives.read), multiplied by v (hw.primitives.product); the
accumulators dW, da (and db with column 0) are read so that the old value arrives with the products;
both are registered again beside the adder (``land``), where they arrive in cycle r + ``product``; the
sum is registered then, saturated per ``config.overflow`` after that register (with C = 1, where a sum is
forwarded into the next cycle's, before it), registered ``settle`` more times and written.

An operation reads an accumulator from memory only if the one before it on the same word was
written by then: when it was issued at least ``forward_window`` cycles before. Two operations
on one word are at least C cycles apart (consecutive entries are C cycles apart), so for a large C
nothing is ever closer; otherwise the sum of an operation 1 .. ``forward_window`` - 1 cycles before
is forwarded into the adder from the registers that hold the last sums (a bypass, no waiting): no
entry ever waits for a read-modify-write, and ``hazard`` stays 0.

The read-and-clear port (``rd_dw``/``rd_da``/``rd_db`` with ``rd_addr``)
returns an accumulator's word (all lanes) ``read_latency`` cycles after the request (through the
fan-out register, the memory's read and, registered, a register of the read-out's own beside the memory,
so that the route to the read-out starts from a flip-flop, not from the block RAM) and writes 0 to it ``clear`` cycles after the request:
it reads dW/db out after a sequence and da after each step, and clears every accumulator after reset. dW and db are read only while
the lanes are idle; da buffer ``rd_dbuf`` while the entries accumulate into
the other one.
"""

from dataclasses import dataclass

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream
from amaranth.lib.wiring import In, Out

from . import fixed
from .bits import address, delayed, depth, equals, in_row, index_bits
from .fixed import shape_of
from .layouts import chunk_layout, nonzero_layout
from .part import EnginePart
from .primitives import NO_RW_CHECK, block_ram, copy, family, product, read

__all__ = ["MacLanes", "LaneTiming", "lane_timing", "memory_depths", "LANES_PER_COPY"]

#: The memories built as hw.primitives.block_ram (on the ECP5: DP16KDs read through their output register);
#: the a buffers, a few words each, stay LUT RAM there.
IN_BLOCK_RAM = ("W", "dW", "da", "db")

#: Of those, the memories asked to be block RAM whatever their size in the generic form too (Yosys'
#: ``ram_style``): the da buffers, small enough for LUT RAM, whose 22 LUT-RAM slices per buffer on the ECP5
#: default spread around their read address register (an 11.5 ns route at a ULX3S seed).
ASKED_BLOCK_RAM = ("da",)
BLOCK_RAM = {"ram_style": "block"}

#: Lanes served by one copy of the issued column's registers (the fan-out stage). The copies are
#: hw.primitives.copy registers, which Yosys does not merge (it merges equal registers of its own), and
#: each group's later stages follow from its copy; one copy per lane (with ``keep`` on every stage, Yosys'
#: ``setattr``) made the ULX3S default unroutable in 30 minutes (docs/engine.md, "The lanes' pipeline").
LANES_PER_COPY = 4


@dataclass(frozen=True)
class LaneTiming:
    """The lanes' register stages (``config.lane_pipeline``) and the latencies that follow, in cycles from the
    issue of a column (see the module docstring)."""

    fanout: int        # registers from the sequencer to a memory port: its group's copy, then the lane's own (0: none)
    read: int          # a memory read: its own register, then an output register or not (hw.primitives.read)
    multiply: int      # hw.primitives.product's stages
    land: int = 0      # registers of the products and the old values beside the adder (0: none)
    out: int = 0       # registers of a word read out, after the read's own (0: none)
    settle: int = 0    # registers of a sum, fitted to its format, before its write (0: none)

    @property
    def product(self):
        """The column's products (and its accumulators' old values) arrive at the adders: the sums are formed."""
        return self.fanout + self.read + self.multiply + self.land

    @property
    def accumulator_read(self):
        """The accumulators are read (their old value arrives with the products)."""
        return self.product - self.read - self.land

    @property
    def write(self):
        """The sums (registered when formed, and ``settle`` times more) are written."""
        return self.product + 1 + self.settle

    @property
    def forward_window(self):
        """An operation issued this many cycles or more after another on the same accumulator word reads the
        other's sum from memory; closer ones have it forwarded."""
        return self.write - self.accumulator_read + 1

    @property
    def drain(self):
        """From an entry's last column to the first cycle the lanes are idle (the cycle after its write)."""
        return self.write + 1

    @property
    def read_latency(self):
        """From a read-and-clear request to its word."""
        return self.fanout + self.read + self.out

    @property
    def clear(self):
        """From a read-and-clear request to the write of 0."""
        return self.fanout + 1


#: The register stages of each ``lane_pipeline`` (golden_model.engine_config.LANE_PIPELINES).
_PIPELINES = {"registered": LaneTiming(fanout=2, read=2, multiply=3, land=1, out=1, settle=1),
              "compact": LaneTiming(fanout=0, read=1, multiply=1)}


def lane_timing(config):
    """The LaneTiming of the lanes built for ``config`` (an EngineConfig)."""
    return _PIPELINES[config.lane_pipeline]


def wide(fmt):
    """The words an accumulator's sum is formed from (and kept in, in memory): one bit wider than the
    accumulator, so that the exported Verilog adds operands of equal width; block RAM and LUT RAM hold
    them in as many blocks as the accumulator's own width would take."""
    return signed(fmt.width + 1)


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
        A chunk's words for columns beyond N (in the last chunk) are written as 0, whatever they are: each lane
        zeroes its own from the chunk index in its copy of the write address, beside its memory (a zero decided
        at the source became the synchronous reset of each lane's data register, driven across the chip).
    rd_dw, rd_da, rd_db, rd_addr : read-and-clear one accumulator word ((c, k), (c, b) or k).
    rd_dbuf : the da buffer ``rd_da`` reads.
    dw_data, da_data, db_data : the word read (``read_latency`` cycles after the request).
    idle : no entry in flight.
    busy : a column is issued this cycle.
    hazard : an entry waits this cycle for a read-modify-write (never: the lanes forward instead).
    ovf_dw, ovf_da, ovf_db : an accumulator overflowed (in the cycle after its sum was formed; two cycles after with
        the fan-out stage, OR-ed per group of lanes first).
    enable : the enable of the lanes' clock domain (high when there is none): the clock enable of their
        hard blocks (hw.primitives), which an ``EnableInserter`` does not reach.
    """

    #: Spoil every read of a word in the cycle it is written (:meth:`_read`): tests set it to show that the
    #: lanes never use such a read, which the block RAMs are built not to define (:meth:`_memory`).
    poison_collisions = False

    def __init__(self, config):
        super().__init__(config)
        self.timing = lane_timing(self.config)

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
            "enable": In(1, init=1),
        }

    def _layouts(self, col, k, b, v):
        """The issued column's record (``column``) and a read-and-clear request's (``request``)."""
        c = self.config
        C, B, R = c.cols_per_lane, c.max_batch, c.n_rows
        w_bits, d_bits = len(address((col, C), (k, R))), len(address((col, C), (b, B)))
        column = data.StructLayout({"mac": 1, "db": 1, "abuf": 1, "dbuf": 1, "v": v.shape(), "k": k.shape(),
                                    "w_addr": w_bits, "d_addr": d_bits})
        request = data.StructLayout({"dw": 1, "da": 1, "db": 1, "dbuf": 1, "addr": len(self.rd_addr)})
        return column, request

    def elaborate(self, platform):
        m = Module()
        c = self.config
        P, C, B, R = c.lanes, c.cols_per_lane, c.max_batch, c.n_rows
        nz = self.i_nz
        form = family(platform)             # the primitives' form (hw.primitives)

        # -- the sequencer: one entry at a time, one column per cycle -------------------------------
        busy = Signal()
        col = Signal(range(max(C, 2)))     # the column issued this cycle
        k = Signal(nz.payload.k.shape(), reset_less=True)
        b = Signal(nz.payload.b.shape(), reset_less=True)
        v = Signal(nz.payload.v.shape(), reset_less=True)
        # col == C - 1, in a register of its own beside col (the ready is then one gate from registers: it
        # decides the encoder's load, a wide enable)
        last = Signal(init=int(C == 1))
        m.d.comb += [nz.ready.eq(~busy | last), self.hazard.eq(0), self.busy.eq(busy)]
        with m.If(busy):
            m.d.sync += [col.eq(col + 1), last.eq(equals(col, C - 2) if C > 1 else 1)]
            with m.If(last):
                m.d.sync += [busy.eq(0), col.eq(0), last.eq(C == 1)]
        with m.If(nz.valid & nz.ready):
            m.d.sync += [busy.eq(1), col.eq(0), last.eq(C == 1), k.eq(nz.payload.k), b.eq(nz.payload.b),
                         v.eq(nz.payload.v)]

        # -- the registered fan-out: one copy of the column and of the read-out's request per group of lanes
        column, request = self._layouts(col, k, b, v)
        issued, asked = Signal(column), Signal(request)
        m.d.comb += [
            issued.mac.eq(busy), issued.db.eq(busy & ~col.any()), issued.abuf.eq(self.abuf),
            issued.dbuf.eq(self.dbuf), issued.v.eq(v), issued.k.eq(k),
            issued.w_addr.eq(address((col, C), (k, R))), issued.d_addr.eq(address((col, C), (b, B))),
            asked.dw.eq(self.rd_dw), asked.da.eq(self.rd_da), asked.db.eq(self.rd_db), asked.dbuf.eq(self.rd_dbuf),
            asked.addr.eq(self.rd_addr),
        ]
        writes = Signal(data.StructLayout({"w_we": 1, "a_we": 1, "a_buf": 1, "w_addr": len(self.w_addr),
                                           "a_addr": len(self.a_addr)}))
        m.d.comb += [writes.w_we.eq(self.w_we), writes.w_addr.eq(self.w_addr), writes.a_we.eq(self.a_we),
                     writes.a_buf.eq(self.a_buf), writes.a_addr.eq(self.a_addr)]
        t = self.timing
        groups = []
        depth = t.product + t.forward_window - 2      # the last stage read (forwarding's)
        for g in range(-(-P // LANES_PER_COPY) if t.fanout else 1):
            # stages[i]: the column issued i cycles ago (its data without reset, its mac/db flags with);
            # requests[i]: the read-out's request of i cycles ago. With the fan-out stage, each group's
            # chains start from its own copy (hw.primitives.copy: kept as built, not merged with the others)
            if t.fanout:
                data_copy = copy(m, issued, f"column_{g}", family=form, enable=self.enable)
                flag_copy = copy(m, Cat(issued.mac, issued.db), f"on_{g}", family=form, enable=self.enable, reset=True)
                ask = copy(m, asked, f"request_{g}", family=form, enable=self.enable, reset=True)
                columns = [issued] + delayed(m, data_copy, depth - 1, f"column_{g}", reset_less=True)
                flags = [Cat(issued.mac, issued.db)] + delayed(m, flag_copy, depth - 1, f"on_{g}")
                requests = [asked] + delayed(m, ask, t.read_latency - 1, f"request_{g}")
                written = copy(m, writes, f"writes_{g}", family=form, enable=self.enable, reset=True)
            else:
                columns = delayed(m, issued, depth, f"column_{g}", reset_less=True)
                flags = delayed(m, Cat(issued.mac, issued.db), depth, f"on_{g}")
                requests = delayed(m, asked, t.read_latency, f"request_{g}")
                written = writes
            stages = [issued]
            for i in range(1, depth + 1):
                stage = Signal(column, name=f"stage_{g}_{i}")
                m.d.comb += [stage.eq(columns[i]), stage.mac.eq(flags[i][0]), stage.db.eq(flags[i][1])]
                stages.append(stage)
            groups.append((stages, requests, written))
        stages, _, _ = groups[0]
        # idle: no column issued in the last ``write`` cycles or now; all but the newest from a register
        # (the OR of a cycle before, shifted: stage i now is stage i - 1 then), so idle is a gate
        in_flight = Signal()
        m.d.sync += in_flight.eq(Cat(s.mac for s in stages[:t.write]).any())
        m.d.comb += self.idle.eq(~busy & ~in_flight)

        forwards = self._forwarding(m, stages)
        overflows = [self._lane(m, p, *groups[min(p // LANES_PER_COPY, len(groups) - 1)], forwards, form)
                     for p in range(P)]
        db_over = self._db(m, *groups[0][:2], forwards, form)
        # the flags: registered (a wide OR after the adders would lengthen their path); with the fan-out stage,
        # OR-ed per group of lanes into a register first (the lanes are spread over the chip)
        if t.fanout:
            per_group = []
            for g in range(0, P, LANES_PER_COPY):
                group = Signal(2, name=f"ovf_{g // LANES_PER_COPY}")
                mine = overflows[g:g + LANES_PER_COPY]
                m.d.sync += group.eq(Cat(Cat(dw for dw, _ in mine).any(), Cat(da for _, da in mine).any()))
                per_group.append(group)
            overflows = [(group[0], group[1]) for group in per_group]
            db_over = delayed(m, db_over, 1, "ovf_db")[-1]
        ovf = Signal(3)
        m.d.sync += ovf.eq(Cat(Cat(dw for dw, _ in overflows).any(), Cat(da for _, da in overflows).any(), db_over))
        m.d.comb += [self.ovf_dw.eq(ovf[0]), self.ovf_da.eq(ovf[1]), self.ovf_db.eq(ovf[2])]
        return m

    def _forwarding(self, m, stages):
        """For each accumulator (dw, da, db) and each distance d that can occur below the forward window
        (C <= d < forward_window), a register that is high in the cycle the column issued
        ``product_latency`` cycles ago forms its sum and the column issued d cycles before it wrote
        the same word: that sum is then taken from the registers of the last sums, not from memory."""
        C, add = self.config.cols_per_lane, self.timing.product
        keys = {"dw": lambda s: (s.mac, s.w_addr), "da": lambda s: (s.mac, Cat(s.d_addr, s.dbuf)),
                "db": lambda s: (s.db, s.k)}
        hits = {}
        for name, key in keys.items():
            for d in range(C, self.timing.forward_window):
                (on, word), (on_before, word_before) = key(stages[add - 1]), key(stages[add - 1 + d])
                hit = Signal(name=f"forward_{name}_{d}")
                m.d.sync += hit.eq(on & on_before & (word == word_before))
                hits[name, d] = hit
        return hits

    def _accumulate(self, m, name, old, term, fmt, forwards, start):
        """The sum of ``old`` (or a forwarded sum) and ``term`` (both of ``wide(fmt)``), registered and fitted to
        ``fmt``; returns it as written (``timing.settle`` registers later than the cycle after the adder's) and the
        overflow registered beside the first register. The registers of the sums before it are kept as long as
        a sum can be forwarded from them."""
        c = self.config
        operand = Signal(wide(fmt), name=f"{name}_old")
        m.d.comb += operand.eq(old)
        exact = operand + term
        summed, over = fixed.fit(exact, fmt, c.overflow)
        overflow = Signal(name=f"{name}_over")
        m.d.sync += overflow.eq(start & over)
        result = Signal(wide(fmt), name=f"{name}_sum", reset_less=True)
        if c.cols_per_lane > 1:
            # no sum is forwarded into the very next cycle's: the exact sum is registered and fitted to the
            # format on its way to the memory and the forwarding registers, so the fit's choice, which reaches
            # every bit, is not after the carry chain (on the ECP5, routed far from it at a seed: 8.4 ns)
            raw = Signal(exact.shape(), name=f"{name}_exact", reset_less=True)
            m.d.sync += raw.eq(exact)
            m.d.comb += result.eq(fixed.fit(raw, fmt, c.overflow)[0])
        else:
            m.d.sync += result.eq(summed)
        # (the write takes the fitted sum from a register of its own, ``settle``: from the fit after the exact sum's
        # register, the route to a dW word's five DP16KDs across the block-RAM rows was 12 ns at a ULX3S seed)
        t = self.timing
        history = delayed(m, result, max(t.forward_window - 2, t.settle), f"{name}_sum", reset_less=True)
        for d in reversed(range(c.cols_per_lane, t.forward_window)):    # the nearest wins
            with m.If(forwards[name.split("_")[0], d]):
                m.d.comb += operand.eq(history[d - 1])
        return history[t.settle], overflow

    def _land(self, m, value, name):
        """``value`` (a product, or an accumulator's old value) ``timing.land`` registers later: the registers
        that meet the adder, so that neither the route from a multiplier's output nor from a block RAM's (or the
        da buffers' multiplexer) is on the adder's path."""
        if not self.timing.land:
            return value
        return delayed(m, value, self.timing.land, f"{name}_land", reset_less=True)[-1]

    def _out(self, m, value, name):
        """``value`` (a word read out) ``timing.out`` registers later: the read-out's own, beside the memory."""
        return delayed(m, value, self.timing.out, name, reset_less=True)[-1]

    def _memory(self, m, name, shape, suffix, form):
        """A memory of ``memory_depths(config)[name]`` words with one write port and one read port whose word
        arrives ``timing.read`` cycles after its address; returns ``(read port, write port, word)``. The
        memories of :data:`IN_BLOCK_RAM` are hw.primitives.block_ram's (of the primitives' family ``form``:
        on the ECP5, DP16KDs whose output register is the read's second stage), the others an
        amaranth.lib.memory.Memory read by hw.primitives.read.

        Each is built without read/write collision logic (hw.primitives.read): no read of a word in the cycle it
        is written is ever used. W is written only between sequences; the loader writes one a buffer while the
        lanes use the other; an accumulator word is read and written in one cycle only by two operations closer
        than ``forward_window`` (the later one takes the forwarded sum), and a read-out's clear follows its read
        by ``clear`` cycles on one address at a time (tests/hw/test_mac_lanes.py runs the engine with such reads
        spoilt: :attr:`poison_collisions`: the word is then the complement of the one read)."""
        kind = name.rstrip("01")
        depth, stages = memory_depths(self.config)[kind], self.timing.read
        if kind in IN_BLOCK_RAM:
            attrs = {**NO_RW_CHECK, **BLOCK_RAM} if kind in ASKED_BLOCK_RAM else NO_RW_CHECK
            rp, wp, word = block_ram(m, name + suffix, shape, depth, stages, family=form, enable=self.enable,
                                     attrs=attrs)
        else:
            m.submodules[name + suffix] = mem = memory.Memory(shape=shape, depth=depth, init=[], attrs=NO_RW_CHECK)
            rp, wp = mem.read_port(domain="comb"), mem.write_port()
            word = read(m, rp, stages, f"{name}{suffix}_word")
        if not self.poison_collisions:
            return rp, wp, word
        hit = Signal(name=f"{name}{suffix}_collision")
        m.d.comb += hit.eq(wp.en & (wp.addr == rp.addr))
        return rp, wp, Mux(delayed(m, hit, stages, f"{name}{suffix}_collision")[-1], ~word, word)

    def _lane(self, m, p, stages, requests, written, forwards, form):
        """Lane p: its memories and its two multiply-accumulates (products of the primitives' family ``form``);
        returns its (dW, da) overflow. ``stages``, ``requests``: its group's; ``written``: the writes of W and a
        (enables and addresses) through the group's copy, registered again in the lane (its data beside
        them). Every input of a memory port comes from a register of the lane's own (:meth:`_local`)."""
        c = self.config
        t = self.timing
        operand, ready, summed = t.fanout, t.fanout + t.read, t.product
        w_rp, w_wp, weight = self._memory(m, "W", shape_of(c.weight), str(p), form)
        a_ports = [self._memory(m, f"a{i}", shape_of(c.inp), f"_{p}", form) for i in range(2)]
        dw_rp, dw_wp, dw_old = self._memory(m, "dW", wide(c.dw_acc), str(p), form)
        da_ports = [self._memory(m, f"da{i}", wide(c.da_acc), f"_{p}", form) for i in range(2)]

        def local(name, value_of, reset=False):
            return self._local(m, f"{name}{p}", value_of, form, reset)

        # W and a: written as loaded, read by the issued column
        wr = copy(m, written, f"writes{p}", family=form, enable=self.enable, reset=True) if t.fanout else written
        w_data, a_data = (in_row(delayed(m, value, t.fanout, name, reset_less=True)[-1], p,
                                 at[:index_bits(c.cols_per_lane)], c.n_inputs, c.lanes)
                          for value, name, at in ((self.w_data[p], f"w_data{p}", wr.w_addr),
                                                       (self.a_data[p], f"a_data{p}", wr.a_addr)))
        m.d.comb += [w_wp.en.eq(wr.w_we), w_wp.addr.eq(wr.w_addr), w_wp.data.eq(w_data),
                     w_rp.addr.eq(local("w_raddr", lambda back: stages[operand - back].w_addr))]
        a_raddr = local("a_raddr", lambda back: stages[operand - back].d_addr)
        for i, (rp, wp, _) in enumerate(a_ports):
            m.d.comb += [wp.en.eq(wr.a_we & (wr.a_buf if i else ~wr.a_buf)), wp.addr.eq(wr.a_addr),
                         wp.data.eq(a_data), rp.addr.eq(a_raddr)]
        a = Mux(stages[ready].abuf, *(word for _, _, word in reversed(a_ports)))
        pw = self._land(m, product(m, a, stages[ready].v, t.multiply, f"pw{p}", wide(c.dw_acc), family=form,
                                   enable=self.enable), f"pw{p}")
        pa = self._land(m, product(m, weight, stages[ready].v, t.multiply, f"pa{p}", wide(c.da_acc), family=form,
                                   enable=self.enable), f"pa{p}")

        # the accumulators: read (or read out), summed, written (or cleared after a read-out)
        def read_address(port, asks, column_address):
            return self._read_address(m, port, asks, column_address, stages, requests)

        def write(port, asks, column_on, column_address):
            """A write's enable, address and clear (write 0): the read-out's clear where it ``asks``, else the
            column's sum."""
            def value_of(back):
                ask, column = requests[t.clear - back], stages[t.write - back]
                port_in = Signal(data.StructLayout({"en": 1, "addr": len(port.addr), "clear": 1}))
                m.d.comb += [port_in.en.eq(asks(ask) | column_on(column)), port_in.clear.eq(asks(ask)),
                             port_in.addr.eq(Mux(asks(ask), ask.addr, column_address(column)))]
                return port_in
            return value_of

        m.d.comb += dw_rp.addr.eq(local("dw_raddr", read_address(dw_rp, lambda r: r.dw, lambda s: s.w_addr)))
        dw_sum, dw_over = self._accumulate(m, f"dw_{p}", self._land(m, dw_old, f"dw_old{p}"), pw, c.dw_acc, forwards,
                                           stages[summed].mac)
        dw_write = local("dw_write", write(dw_wp, lambda r: r.dw, lambda s: s.mac, lambda s: s.w_addr), reset=True)
        m.d.comb += [self.dw_data[p].eq(self._out(m, dw_old, f"dw_out{p}")), dw_wp.addr.eq(dw_write.addr), dw_wp.en.eq(dw_write.en),
                     dw_wp.data.eq(Mux(dw_write.clear, 0, dw_sum))]
        da_old = []
        for i, (rp, wp, word) in enumerate(da_ports):
            mine = (lambda r: r.dbuf) if i else (lambda r: ~r.dbuf)        # this buffer is the one meant
            m.d.comb += rp.addr.eq(local(f"da{i}_raddr", read_address(rp, lambda r, mine=mine: r.da & mine(r),
                                                                         lambda s: s.d_addr)))
            da_old.append(word)
        answered = local("da_answered", lambda back: requests[t.fanout + t.read - back].dbuf)
        chosen = local("da_chosen", lambda back: stages[summed - t.land - back].dbuf)
        m.d.comb += self.da_data[p].eq(self._out(m, Mux(answered, da_old[1], da_old[0]), f"da_out{p}"))
        da_sum, da_over = self._accumulate(m, f"da_{p}", self._land(m, Mux(chosen, da_old[1], da_old[0]), f"da_old{p}"),
                                           pa, c.da_acc, forwards, stages[summed].mac)
        for i, (rp, wp, _) in enumerate(da_ports):
            mine = (lambda r: r.dbuf) if i else (lambda r: ~r.dbuf)
            da_write = local(f"da{i}_write", write(wp, lambda r, mine=mine: r.da & mine(r),
                                                   lambda s, mine=mine: s.mac & mine(s), lambda s: s.d_addr), reset=True)
            m.d.comb += [wp.addr.eq(da_write.addr), wp.en.eq(da_write.en), wp.data.eq(Mux(da_write.clear, 0, da_sum))]
        return dw_over, da_over

    def _read_address(self, m, port, asks, column_address, stages, requests):
        """For :meth:`_local`: the address of an accumulator's read ``port``, ``back`` cycles before the cycle the
        read-out's request (if it ``asks``, a function of a request) or else the column of stage
        ``accumulator_read`` (``column_address``, a function of a stage) reads it."""
        t = self.timing

        def value_of(back):
            ask, addr = requests[t.fanout - back], Signal.like(port.addr)
            m.d.comb += addr.eq(Mux(asks(ask), ask.addr, column_address(stages[t.accumulator_read - back])))
            return addr
        return value_of

    def _local(self, m, name, value_of, form, reset=False):
        """A value a lane's memory port (or multiplexer) takes in the cycle it is used: ``value_of(0)``, a
        function of the group's stages and requests; with the fan-out stage, a register of the lane's own
        (hw.primitives.copy: not merged with its neighbours') loaded a cycle before with ``value_of(1)``, so
        that only a register lies between the group's stages and the memory."""
        if not self.timing.fanout:
            return value_of(0)
        return copy(m, value_of(1), name, family=form, enable=self.enable, reset=reset)

    def _db(self, m, stages, requests, forwards, form):
        """The db accumulators (one memory: db[k] += v with an entry's first column); returns its overflow."""
        c = self.config
        t = self.timing
        summed = t.product
        cleared = requests[t.clear]
        db_rp, db_wp, db_old = self._memory(m, "db", wide(c.db_acc), "", form)
        m.d.comb += db_rp.addr.eq(self._local(m, "db_raddr", self._read_address(m, db_rp, lambda r: r.db, lambda s: s.k,
                                                                                stages, requests), form))
        db_v = Signal(wide(c.db_acc), reset_less=True)
        m.d.sync += db_v.eq(stages[summed - 1].v)
        db_sum, db_over = self._accumulate(m, "db", self._land(m, db_old, "db_old"), db_v, c.db_acc, forwards,
                                           stages[summed].db)
        m.d.comb += [
            self.db_data.eq(self._out(m, db_old, "db_out")),
            db_wp.addr.eq(Mux(cleared.db, cleared.addr, stages[t.write].k)),
            db_wp.en.eq(stages[t.write].db | cleared.db), db_wp.data.eq(Mux(cleared.db, 0, db_sum)),
        ]
        return db_over

