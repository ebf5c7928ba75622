"""The engine top: the controller's core behind stream ports, frozen whenever the host is not there.

Host-facing streams (payloads from hw.layouts):

- ``i_weight`` (``chunk_layout(weight)``): W, 4H x C chunks (row k, chunk c within
  k; chunk c of row k holds columns c*P .. c*P + P - 1, beyond N ignored),
  accepted while ``idle``; the engine keeps W across sequences;
- ``i_elem`` (``element_layout``): per step t = T-1 .. 0, the B x H elements
  (unit j, batch b within j);
- ``i_a`` (``chunk_layout(inp)``): per step t = T-1 .. 0, a_t as B x C chunks
  (batch b, chunk c within b);
  ``a_room``, one bit per lane, is ``i_a.ready`` from each lane's slice of its FIFO (all equal): a
  source built of slices too (the board's a FIFO) reads each of its slices with the bit beside it,
  rather than one ready across the chip to all of them (an ECP5 critical path);
- ``o_dx`` (``chunk_layout(grad)``): per step, dx_t as ceil(I/P) x B chunks
  in the order of the da read-out (``hw.transfers.dx_chunks``: chunk c, batch
  b within c, starting at chunk I // P and wrapping around; columns beyond I
  are 0);
- ``o_state`` (``state_layout``): dh0 and dc0, B x H (unit j, batch b within j);
- ``o_dw`` (``chunk_layout(dw_acc)``) then ``o_db`` (db_acc): dW as 4H x C chunks
  and db as 4H words.

Run-time registers: ``tau``, ``dense``, ``seq_len`` (T), ``batch`` (B), sampled
when ``start`` is high while ``idle``; a start with T outside 1 .. max_seq or B
outside 1 .. max_batch is refused (``refused`` rises, the engine stays idle). ``counters`` and ``flags`` hold the last
sequence's performance counters and sticky overflow flags once ``idle`` again;
``stall`` counts the cycles in which the core waited for the host.

Every stream goes through a small FIFO, one per slice (a lane, or SLICE_BITS; an output's written under a
registered copy of the core's want, with input FIFOs); the core (:class:`hw.controller.EngineCore`)
runs only in cycles in which each of its wants can be met and is frozen otherwise (and in a cycle the
decision below cannot tell), so valid/ready patterns change when things
happen, never what is computed or how many core cycles it takes.

Whether the core runs is decided a cycle ahead, into two registers with the
same input: one drives every enable of the core (on the ECP5 through a global
network, hw.primitives.broadcast), the other (``go``) the prediction itself,
which so never waits for the global network. The prediction is made from each
want's value in the next cycle (the core's ``*_want_next``, or the want itself
when the core is frozen) and a lower bound of each FIFO's room in the next
cycle: its level, read from registered copies beside the decision, and the
core's own transfer of this cycle; the host's transfer of this cycle is left
out, which keeps the host's side (across the chip, on a board) out of the
decision. A want's prediction may also be high when the want will not be (``a_want_next`` is a cheap
superset; the outputs' must be exact, as the output FIFOs' write enables are registered from them);
either way the core may pause for a cycle it did not need to, which the ``stall`` counter counts
and the core's own cycles do not see. Without input
FIFOs (``input_fifos=False``) the inputs' next cycle is not known, and the
decision is made in the cycle itself, as a function of the wants and valids.
"""

from amaranth.hdl import Cat, Const, EnableInserter, Module, Mux, Shape, Signal, Value
from amaranth.lib import fifo, stream
from amaranth.lib.data import ArrayLayout
from amaranth.lib.wiring import In, Out

from golden_model.errors import ConfigError

from .bits import equals
from .controller import WANTS, EngineCore, control_members
from .fixed import shape_of
from .layouts import chunk_layout, element_layout, state_layout
from .part import EnginePart
from .primitives import broadcast, copy, family

__all__ = ["Engine", "SLICE_BITS", "sliced_fifo"]

#: The widest slice of a stream's FIFO that is not a chunk's lane (:func:`sliced_fifo`).
SLICE_BITS = 32


class Engine(EnginePart):
    """The zero-skipping LSTM backward engine for ``config`` (an EngineConfig); see the module docstring.

    ``fifo_depth``: depth of the FIFO on each stream (1 to 3). With a host that keeps up, 3 moves a
    transfer every cycle on every stream; 2 two in three cycles (a full FIFO takes no write in the cycle
    it is read); 1 one in three, for the fewest flip-flops (a board behind a UART, whose host is thousands
    of cycles per transfer, loses nothing by it). ``input_fifos=False`` takes
    ``i_elem`` and ``i_a`` straight from their streams (ready is then combinational from valid;
    fine behind a registered source, such as the board's command dispatcher).
    """

    #: Width of the ``stall`` counter (it saturates).
    stall_width = 32

    def __init__(self, config, *, fifo_depth=2, input_fifos=True):
        if fifo_depth not in (1, 2, 3):
            raise ConfigError(f"fifo_depth must be 1, 2 or 3, not {fifo_depth!r}")
        self.fifo_depth, self.input_fifos = fifo_depth, bool(input_fifos)
        super().__init__(config)

    def members(self, c):
        return {
            "i_weight": In(stream.Signature(chunk_layout(c, c.weight))),
            "i_elem": In(stream.Signature(element_layout(c))),
            "i_a": In(stream.Signature(chunk_layout(c, c.inp))),
            "a_room": Out(c.lanes),
            "o_dx": Out(stream.Signature(chunk_layout(c, c.grad))),
            "o_state": Out(stream.Signature(state_layout(c))),
            "o_dw": Out(stream.Signature(chunk_layout(c, c.dw_acc))),
            "o_db": Out(stream.Signature(shape_of(c.db_acc))),
            **control_members(c),
            "stall": Out(self.stall_width),
        }

    def elaborate(self, platform):
        m = Module()
        form = family(platform)
        core = EngineCore(self.config)
        run = Signal()
        m.submodules.core = EnableInserter(run)(core)
        # Whether the core runs, decided a cycle ahead (with input FIFOs) into two registers with the same
        # input: ``go`` for this top's own logic, and one that drives the core's enable through a global
        # network. The prediction reads ``go``, never the global, so that the loop from the decision back to
        # itself is a register and a few LUT levels, without the global network's route in it.
        go_next, go = Signal(), Signal()
        if self.input_fifos:
            go = copy(m, go_next, "go", family=form, reset=True)
            enable = copy(m, go_next, "go_global", family=form, reset=True)
        else:
            m.d.comb += go.eq(go_next)
            enable = go
        # the enable reaches about every register of the core: on the ECP5 it goes by a global network
        m.d.comb += [run.eq(broadcast(m, enable, "run", family=form)), core.enable.eq(run)]

        stalls, ahead = [], []           # this cycle's stall terms; the next cycle's (with input FIFOs)
        for name, port, data, want in (("elem", self.i_elem, core.elem, core.elem_want),
                                       ("a", self.i_a, core.a, core.a_want)):
            if not self.input_fifos:
                m.d.comb += [data.eq(port.payload), port.ready.eq(want & run)]
                stalls.append(want & ~port.valid)
                if name == "a":
                    m.d.comb += self.a_room.eq(port.ready.replicate(self.config.lanes))
                continue
            queues = sliced_fifo(m, name, port.payload, data, port.valid, want & run, depth=self.fifo_depth)
            q = queues[0]
            m.d.comb += port.ready.eq(q.w_rdy)
            if name == "a":
                m.d.comb += self.a_room.eq(Cat(lane.w_rdy for lane in queues))
            stalls.append(want & ~q.r_rdy)
            # an entry in the next cycle: two or more now, or one not taken now (one arriving now is not
            # counted: the host's side stays out of the decision)
            one, two = self._level_at_least(m, name, q, 1, 2, form=form)
            ahead.append(self._next(name, core, go) & ~(two | (one & ~(want & go))))
        for name, port, data, want in (("dx", self.o_dx, core.dx, core.dx_want),
                                       ("state", self.o_state, core.state, core.state_want),
                                       ("dw", self.o_dw, core.dw, core.dw_want),
                                       ("db", self.o_db, core.db, core.db_want)):
            # the write enable: the want, in a register per slice when predicted (exact for an output), and run
            wanted = ((lambda i, name=name: copy(m, self._next(name, core, go), f"{name}_wanted{i}", family=form,
                                                 reset=True) & run)
                      if self.input_fifos else (lambda i, want=want: want & run))
            q = self._queue(m, name, data, port.payload, wanted, port.ready)
            m.d.comb += port.valid.eq(q.r_rdy)
            stalls.append(want & ~q.w_rdy)
            # full in the next cycle: full now, or one short and written now (an entry the host takes now is
            # not counted)
            full, nearly = self._level_at_least(m, name, q, self.fifo_depth, self.fifo_depth - 1, form=form)
            ahead.append(self._next(name, core, go) & (full | (nearly & want & go)))
        m.d.comb += go_next.eq(~Cat(*(ahead if self.input_fifos else stalls)).any())

        # W goes straight to the core, which takes it only while idle (and never stalls for it); the core runs in
        # the cycles ``go`` is high (the same register as the global enable's: its local copy, so that the
        # ready to the W FIFOs outside, across the chip, does not start on the global network: an ECP5
        # critical path)
        m.d.comb += [core.weight.eq(self.i_weight.payload), core.weight_valid.eq(self.i_weight.valid & go),
                     self.i_weight.ready.eq(core.weight_take & go)]
        m.d.comb += [core.start.eq(self.start), core.tau.eq(self.tau), core.dense.eq(self.dense),
                     core.seq_len.eq(self.seq_len), core.batch.eq(self.batch),
                     self.idle.eq(core.idle), self.refused.eq(core.refused), self.counters.eq(core.counters),
                     self.flags.eq(core.flags)]

        # the stall counter restarts with a start, from a register of its own a cycle later (counting that
        # cycle): the idle decode of the sequencer's state then reaches one flip-flop, not the counter's 32
        started = Signal()
        m.d.sync += started.eq(core.idle & self.start)
        with m.If(started):
            m.d.sync += self.stall.eq(~go)
        with m.Elif(~go & ~self.stall.all()):
            m.d.sync += self.stall.eq(self.stall + 1)
        return m

    def _queue(self, m, name, source, sink, write, read_enable):
        """The FIFO of output stream ``name`` (:func:`sliced_fifo`, ``fifo_depth`` deep); returns its first slice's."""
        return sliced_fifo(m, name, source, sink, write, read_enable, depth=self.fifo_depth)[0]

    def _level_at_least(self, m, name, q, *bounds, form):
        """For each of ``bounds``: a register equal to ``q.level >= bound`` (the FIFO ``q``'s), written from
        the FIFO's next level: a copy of its state for the decision, which the placer puts beside the
        decision's logic rather than beside the FIFO, across the chip from it."""
        push, pop = q.w_en & q.w_rdy, q.r_en & q.r_rdy

        def now(bound):       # q.level >= bound, from its bits (no comparison for Verilator to warn about)
            if bound <= 0:
                return Const(1)
            return Cat(Const(0), *(equals(q.level, k) for k in range(bound, self.fifo_depth + 1))).any()

        def then(bound):      # the level after this cycle's transfers >= bound
            return Mux(push & ~pop, now(bound - 1), Mux(pop & ~push, now(bound + 1), now(bound)))
        return [Const(1) if bound <= 0 else Const(0) if bound > self.fifo_depth else
                copy(m, then(bound), f"{name}_level_{bound}", family=form, reset=True) for bound in bounds]

    @staticmethod
    def _next(name, core, go):
        """The core's want ``name`` in the next cycle (a superset for ``a``): as predicted if it runs now
        (``go``), as it is if it is frozen."""
        assert name in WANTS
        return Mux(go, getattr(core, f"{name}_want_next"), getattr(core, f"{name}_want"))


def sliced_fifo(m, name, source, sink, write, read_enable, *, depth, buffered=False):
    """A FIFO from ``source`` to ``sink`` (a payload, or the core's side of it), written in the cycles
    ``write`` is high and read in those ``read_enable`` is, built as one FIFO per slice (a chunk's lane, or
    at most ``SLICE_BITS`` bits) that all move together, so that no write enable or address reaches hundreds
    of flip-flops or LUT RAMs: each slice's own is beside it. ``write`` and ``read_enable``: one Value for
    every slice (an input's valid), or a function of the slice's index giving its own (a registered copy, or
    the room of the sink's own slice: hw.engine's ``a_room``). The slices are
    submodules ``{name}_fifo{i}`` (``{name}_fifo`` when there is one), ``SyncFIFOBuffered`` when
    ``buffered``, else ``SyncFIFO``; returns them (their first's ``w_rdy``, ``r_rdy`` and ``level`` are
    the FIFO's)."""
    whole_in, whole_out = Value.cast(source), Value.cast(sink)
    layout = sink.shape() if hasattr(sink, "shape") else None
    if isinstance(layout, ArrayLayout):
        width = Shape.cast(layout.elem_shape).width
    else:
        width = -(-len(whole_in) // -(-len(whole_in) // SLICE_BITS))
    slices = [(lo, min(lo + width, len(whole_in))) for lo in range(0, len(whole_in), width)]
    queues = []
    for i, (lo, hi) in enumerate(slices):
        q = (fifo.SyncFIFOBuffered if buffered else fifo.SyncFIFO)(width=hi - lo, depth=depth)
        m.submodules[f"{name}_fifo{i if len(slices) > 1 else ''}"] = q
        m.d.comb += [q.w_data.eq(whole_in[lo:hi]), q.w_en.eq(write(i) if callable(write) else write),
                     whole_out[lo:hi].eq(q.r_data), q.r_en.eq(read_enable(i) if callable(read_enable) else read_enable)]
        queues.append(q)
    return queues
