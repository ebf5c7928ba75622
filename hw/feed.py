"""The feed: a step's elements into the gate-gradient unit, and their results back.

A step's elements are walked in the order the host sends them (unit j, batch row
b within j). Each element goes to the gate-gradient unit with what the step
before left for it: dh_rec (column I + j of that step's da, which the read-out
writes into the dh_rec memory) and dc_next (the dc_prev of that element, kept in
the dc memory); both are 0 in the first step. The unit takes an element every k
= ``ggu_cycles`` cycles, so the feed offers one every k cycles and the unit never
refuses it.

The unit's results come back in the same order: dc_prev goes into the dc memory
for the next step, and the four dz go on to the dz buffer (hw.dz_buffer), but only
for an element with a nonzero dz (every element in dense mode): an element without
one costs the encoder and the lanes nothing at all.

After the last step the same walk, one element a cycle, reads dh0 (the last
dh_rec) and dc0 (the last dc_prev) out.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import memory, stream
from amaranth.lib.wiring import In, Out

from golden_model.ggu import GGU_DZ

from .bits import address, count, delayed, depth, equals
from .fixed import shape_of
from .gate_grad import ggu_input_layout, ggu_output_layout
from .layouts import chunk_layout, dz_layout, element_layout, state_layout
from .mac_lanes import LANES_PER_COPY
from .part import EnginePart
from .primitives import block_ram, copy, family

__all__ = ["Feed"]


class Feed(EnginePart):
    """The walk over a step's elements, to the gate-gradient unit and back; see the module docstring.

    Ports
    -----
    to_unit : walk the step's elements to the unit, one every ``ggu_cycles`` cycles (the sequencer's
        feed state).
    to_state : walk the elements to ``state``, one a cycle (after the last step).
    last : this cycle walks the last element.
    first, dense, b_last : the first step (no dh_rec, no dc_next); dense mode; B - 1.
    elem, elem_want : the host's next element; the core takes it in every cycle ``elem_want`` is high.
    o_elem : to the unit (always ready for it: the feed keeps to its interval).
    i_grad : the unit's results (always taken).
    o_dz : an element's dz, with its (j, b), in the cycle its result comes back (only an element with a
        nonzero, every element in dense mode), to the dz buffer, which holds a whole step.
    step_done : the step's MAC work ends this cycle.
    returned : every element of the step has come back from the unit.
    rec_we, rec_addr, rec_data : dh_rec from the read-out (a chunk of da rounded to the grad format), written
        ``spread_of(config)`` cycles later.
    state, state_want : dh0 and dc0 of the next element.
    elem_want_next, state_want_next : what the wants will be in the next cycle if the feed runs in this one
        (hw.engine decides a cycle ahead whether the core can run).
    enable : the enable of the feed's clock domain (high when there is none), for its copies of the dh_rec
        address (hw.primitives.copy), which an ``EnableInserter`` does not reach.
    """

    @staticmethod
    def spread_of(config):
        """Register stages on each side of the dh_rec memories' read (their address, copied per memory,
        and each one's word), with the registered pipeline (``config.lane_pipeline``; the
        memories are written by the read-out near the lanes, so they are spread over the chip): 1, else 0."""
        return 1 if config.lane_pipeline == "registered" else 0

    @classmethod
    def take_latency_of(cls, config):
        """Cycles from an element's walk to the cycle the host's element is taken (``elem_want``): the
        memories' read (1), after the address's copy and before the words' registers and the register of
        each group's choice (``spread_of`` each)."""
        return 1 + 3 * cls.spread_of(config)

    @classmethod
    def latency_of(cls, config):
        """Cycles from an element's walk to its offer to the unit: the take, then, with the registered
        pipeline, the offer's register (5; compact: 1)."""
        return cls.take_latency_of(config) + cls.spread_of(config)

    @property
    def latency(self):
        return self.latency_of(self.config)
    #: Cycles from the step's last result leaving the unit to ``returned``.
    return_latency = 1

    def members(self, c):
        return {
            "to_unit": In(1), "to_state": In(1), "last": Out(1),
            "first": In(1), "dense": In(1), "b_last": In(range(max(c.max_batch, 2))),
            "elem": In(element_layout(c)), "elem_want": Out(1),
            "o_elem": Out(stream.Signature(ggu_input_layout(c))),
            "i_grad": In(stream.Signature(ggu_output_layout(c))),
            "o_dz": Out(stream.Signature(dz_layout(c))),
            "step_done": In(1), "returned": Out(1),
            "rec_we": In(1), "rec_addr": In(range(depth(c.cols_per_lane, c.max_batch))),
            "rec_data": In(chunk_layout(c, c.grad)),
            "state": Out(state_layout(c)), "state_want": Out(1),
            "elem_want_next": Out(1), "state_want_next": Out(1),
            "enable": In(1, init=1),
        }

    def elaborate(self, platform):
        m = Module()
        c = self.config
        H, I, P, C, B = c.hidden_size, c.input_size, c.lanes, c.cols_per_lane, c.max_batch
        S, form = self.spread_of(c), family(platform)
        # dc_prev of each element, for the next step: in block RAM read through its output register with the
        # spread (from the DP16KD's own data out, 5.8 ns, the route to the next register made a 10.2 ns path at
        # a ULX3S seed). A word is read a step after its write, never in its cycle (hw.primitives.block_ram)
        dc_read, dc_write, dc_word = block_ram(m, "dc_mem", shape_of(c.grad), depth(B, H), 1 + S, family=form,
                                               enable=self.enable)
        # dh_rec as the read-out sends it; with the spread, its write through a copy per memory (the write's
        # enable and address also select, beside the memory, the word just written for a read of it: one copy
        # per group of memories was routed 5.3 ns to the farthest) and each word through a register beside its
        # memory (a cycle later: ``spread_of``)
        rec_reads, rec_writes = [], []
        for p in range(P):
            m.submodules[f"rec{p}"] = mem = memory.Memory(shape=shape_of(c.grad), depth=depth(C, B), init=[])
            write, asked = mem.write_port(), Cat(self.rec_we, self.rec_addr)
            written = copy(m, asked, f"rec_write_{p}", family=form, enable=self.enable, reset=True) if S else asked
            data = delayed(m, self.rec_data[p], S, f"rec_data_{p}", reset_less=True)[-1]
            m.d.comb += [write.en.eq(written[0]), write.addr.eq(written[1:]), write.data.eq(data)]
            # (with the spread, the read's transparency for a write in its cycle is built after it: ``words``)
            rec_reads.append(mem.read_port(transparent_for=() if S else (write,)))
            rec_writes.append(write)

        # the walk: element (j, b), its dh_rec in lane (I + j) % P, chunk (I + j) // P of the rec memories
        j, b = Signal(range(max(H, 2))), Signal(range(max(B, 2)))
        lane, chunk = Signal(range(max(P, 2)), init=I % P), Signal(range(max(C, 2)), init=I // P)
        pace = Signal(range(max(c.ggu_cycles, 2)))      # cycles since the feed's last element
        walk = Signal()
        with m.If(self.to_unit):
            m.d.sync += pace.eq(Mux(equals(pace, c.ggu_cycles - 1), 0, pace + 1))
        with m.Else():
            m.d.sync += pace.eq(0)
        m.d.comb += walk.eq((self.to_unit & equals(pace, 0)) | self.to_state)
        next_unit, _ = count(m, walk, (b, self.b_last), (j, H - 1))
        count(m, next_unit, (lane, P - 1), (chunk, C - 1))
        with m.If(next_unit & equals(j, H - 1)):        # the next walk starts again at column I
            m.d.sync += [lane.eq(I % P), chunk.eq(I // P)]
        m.d.comb += [self.last.eq(walk & equals(j, H - 1) & (b == self.b_last)),
                     dc_read.addr.eq(address((b, B), (j, H)))]

        # the memories answer a cycle after their address; with the spread, the address goes through a copy per
        # memory (a LUT-RAM memory is several LUT-RAM slices and their multiplexer: one copy for a group of them
        # was routed 5.5 ns to the farthest) and each memory's word into a register beside it. The element is
        # taken from the host, and the walk's controls arrive, in the cycle the words are there
        # (``take_latency_of``)
        take = self.take_latency_of(c)
        rec_addr = address((chunk, C), (b, B))
        words = []
        for p, (read, write) in enumerate(zip(rec_reads, rec_writes)):
            addr = copy(m, rec_addr, f"rec_addr_{p}", family=form, enable=self.enable) if S else rec_addr
            m.d.comb += read.addr.eq(addr)
            if not S:
                words.append(read.data)
                continue
            # the word of a write in the read's cycle to its address, as the transparent read would return it,
            # chosen after the read's register from registers of its own beside it (in front of the register,
            # the address comparison took two LUTs into the LUT-RAM's path at a ULX3S seed, 10.2 ns)
            hit = Signal(name=f"rec_hit_{p}")
            just_written = Signal.like(write.data, name=f"rec_written_{p}", reset_less=True)
            m.d.sync += [hit.eq(write.en & (write.addr == addr)), just_written.eq(write.data)]
            word = Signal.like(read.data, name=f"rec_word_{p}", reset_less=True)
            m.d.sync += word.eq(Mux(hit, just_written, read.data))
            words.append(word)
        dc_word = delayed(m, dc_word, 2 * S, "dc_word", reset_less=True)[-1]
        lanes = delayed(m, lane, take, "lane", reset_less=True)
        feedings = delayed(m, walk & self.to_unit, take, "feeding")
        emittings = delayed(m, walk & self.to_state, take, "emitting")
        feeding, emitting = feedings[-1], emittings[-1]
        m.d.comb += [self.elem_want_next.eq(feedings[-2]), self.state_want_next.eq(emittings[-2])]
        if S:       # each group's word, chosen and registered beside the group, then the group's
            low = (LANES_PER_COPY - 1).bit_length()          # (LANES_PER_COPY is a power of two)
            chosen = []
            for g in range(0, P, LANES_PER_COPY):
                word = Signal(shape_of(c.grad), name=f"rec_chosen_{g // LANES_PER_COPY}", reset_less=True)
                m.d.sync += word.eq(_choose(m, lanes[-2][:low], words[g:g + LANES_PER_COPY], f"rec_group_{g}"))
                chosen.append(word)
            dh_rec = _choose(m, lanes[-1][low:], chosen, "dh_rec") if len(chosen) > 1 else chosen[0]
        else:
            dh_rec = _choose(m, lanes[-1], words, "dh_rec")
        # the element, its dh_rec and its dc_next are offered to the unit (from a register a cycle later, with
        # the registered pipeline)
        element = Signal(ggu_input_layout(c))
        m.d.comb += [element.dh_rec.eq(Mux(self.first, 0, dh_rec)), element.dc_next.eq(Mux(self.first, 0, dc_word))]
        for name in element_layout(c).members:
            m.d.comb += element[name].eq(self.elem[name])
        if S:
            offer = Signal(ggu_input_layout(c), reset_less=True)
            m.d.sync += [offer.eq(element), self.o_elem.valid.eq(feeding)]
            m.d.comb += self.o_elem.payload.eq(offer)
        else:
            m.d.comb += [self.o_elem.payload.eq(element), self.o_elem.valid.eq(feeding)]
        m.d.comb += [self.elem_want.eq(feeding), self.state_want.eq(emitting), self.state.dh0.eq(dh_rec),
                     self.state.dc0.eq(dc_word)]
        self._results(m, dc_write)
        return m

    def _results(self, m, dc_write):
        """The unit's results, in the walk's order: dc_prev to the dc memory, dz on to the dz buffer."""
        c = self.config
        H, B = c.hidden_size, c.max_batch
        j, b = Signal(range(max(H, 2))), Signal(range(max(B, 2)))
        returned = Signal()                 # the step's last element has come back from the unit
        grad = self.i_grad
        entry = Signal(dz_layout(c))
        nonzero = Signal(4)
        m.d.comb += [grad.ready.eq(1), entry.j.eq(j), entry.b.eq(b),
                     dc_write.addr.eq(address((b, B), (j, H))), dc_write.data.eq(grad.payload.dc_prev),
                     dc_write.en.eq(grad.valid),
                     self.o_dz.payload.eq(entry), self.o_dz.valid.eq(grad.valid & (nonzero.any() | self.dense))]
        for q, name in enumerate(GGU_DZ):
            m.d.comb += [entry.dz[q].eq(grad.payload[name]), nonzero[q].eq(grad.payload[name].any())]
        _, all_back = count(m, grad.valid, (b, self.b_last), (j, H - 1))
        with m.If(all_back):
            m.d.sync += returned.eq(1)
        with m.If(self.step_done):
            m.d.sync += returned.eq(0)
        m.d.comb += self.returned.eq(returned)


def _choose(m, index, values, name):
    """``values[index]`` (the last one for any index beyond), by a parallel multiplexer (not a chain of
    priorities)."""
    out = Signal(values[0].shape(), name=name)
    with m.Switch(index):
        for i, value in enumerate(values[:-1]):
            with m.Case(i):
                m.d.comb += out.eq(value)
        with m.Default():
            m.d.comb += out.eq(values[-1])
    return out
