"""The engine on a board: a UART host link in front of it, and the board's pins and clock around that.

:class:`BoardCore` is everything but the pins: UART receiver -> frame receiver (CRC, length,
timeout) -> command dispatcher (``hw.commands``) -> the engine, and the engine's outputs and the
answers -> framers -> arbiter -> frame sender -> UART transmitter. Its only ports are ``rx`` and
``tx`` (and a few status lines for LEDs), so the same design is what the board runs and what the
host driver talks to in simulation (``sim/tb_board.py``).

a_t passes a FIFO that holds one step's worth (max_batch x C chunks) before the engine: the host
sends step t-1's a_t before step t's elements, and the engine, which wants both while it works, never
waits for one while the host is still sending the other.

The host link may run in a clock domain of its own (``link_domain``; the ECP5 boards': the oscillator's,
while the engine runs from the PLL): it then has a UART's speed to meet, not the engine's, and nothing of
it is on the engine clock's paths. Every stream crosses between the two through a
``hw.crossing.StreamCrossing`` (a register and a toggle handshake: W, elements and a_t in; dx, state, dW
and db out); the start pulse through an ``amaranth.lib.cdc.PulseSynchronizer``, with the run-time
registers (tau, dense, T, B) held steady by the dispatcher from before the pulse until the next START,
which it judges only while the engine is idle; and the engine's status (idle, refused, flags, counters,
stall) as whole snapshots through a StreamCrossing that takes one into a register of its own whenever the
last has crossed (``hold``) and whose link side takes each into a register: a STATUS answer is then a few
cycles old, never a mix of two cycles' values. A W transfer still in its crossing counts as busy, as in its FIFO with one clock.

:class:`BoardTop` puts a BoardCore on an amaranth-boards platform: the UART resource's pins, a PLL
(``boards/pll.py``) when the engine's clock differs from the board's, a reset held until the PLL
locks, and LEDs for idle and for a refused frame.
"""

from amaranth.hdl import Const, DomainRenamer, Elaboratable, Module, Signal, Value
from amaranth.lib import data, fifo, io, stream, wiring
from amaranth.lib.cdc import PulseSynchronizer
from amaranth.lib.wiring import In, Out

from golden_model.engine_config import check_config
from golden_model.errors import ConfigError
from hw.crossing import StreamCrossing
from hw.commands import MAX_PAYLOAD, CommandDispatcher, Reply, error_layout, status_layout
from hw.engine import SLICE_BITS, Engine, sliced_fifo
from hw.fixed import shape_of
from hw.host_link import FrameArbiter, FrameReceiver, FrameSender, Framer
from hw.layouts import chunk_layout, state_layout
from hw.primitives import broadcast, copy, family
from hw.uart import UARTRx, UARTTx, check_divisor

__all__ = ["BoardCore", "BoardTop", "clock_plan"]


class BoardCore(wiring.Component):
    """The engine behind a UART host link; see the module docstring.

    Parameters
    ----------
    config : EngineConfig
    divisor : int
        Clock cycles per UART bit (clock frequency / baud rate).
    timeout_bytes : int
        A frame whose bytes stop for longer than this many byte times is dropped.
    link_domain : str
        The clock domain of the host link ("sync": the engine's; see the module docstring). ``divisor`` and
        ``timeout_bytes`` count its cycles.
    input_fifos : bool
        Engine(input_fifos=...): False saves a few hundred registers for a longer path from the
        dispatcher's state through the engine's enable (worth it where logic cells run out first);
        it also leaves out the two-entry FIFOs between the frame arbiter and the sender, which keeps the
        sender's ready out of every framer's shift register, and between the frame receiver and the
        dispatcher, which keeps the dispatcher's state out of the receiver's buffer address (each an ECP5
        critical path at H = 64 in turn).
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    idle: Out(1)
    error: Out(1)        # pulses when a frame is refused

    def __init__(self, config, divisor, *, timeout_bytes=64, input_fifos=True, link_domain="sync"):
        self.config = check_config(config).check_buildable()
        self.divisor = check_divisor(divisor)
        self.timeout = 10 * divisor * timeout_bytes
        self.input_fifos = input_fifos
        self.link_domain = link_domain
        if link_domain != "sync" and not input_fifos:
            raise ConfigError("a host link in a clock domain of its own needs the engine's input FIFOs "
                              "(input_fifos=True)")
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        c = self.config
        separate = self.link_domain != "sync"

        def link(part):
            """``part`` (a host link part) in the link's clock domain."""
            return DomainRenamer({"sync": self.link_domain})(part) if separate else part

        # the UART is the bottleneck: one-deep FIFOs; without input FIFOs (targets' ``lean``) the engine takes
        # its inputs straight from the dispatcher and the a FIFO, for fewer registers and a longer enable path
        m.submodules.engine = engine = Engine(c, fifo_depth=1, input_fifos=self.input_fifos)
        m.submodules.uart_rx = urx = link(UARTRx(self.divisor))
        m.submodules.uart_tx = utx = link(UARTTx(self.divisor))
        m.submodules.receiver = recv = link(FrameReceiver(max_payload=MAX_PAYLOAD, timeout=self.timeout))
        m.submodules.dispatcher = disp = link(CommandDispatcher(c))
        m.submodules.sender = send = link(FrameSender())
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]
        wiring.connect(m, urx.o_data, recv.i_byte)
        if self.input_fifos:                       # registered between the receiver and the dispatcher
            frame_in_bits = len(Value.cast(recv.o_frame.payload))
            m.submodules.checked_fifo = cq = link(fifo.SyncFIFO(width=frame_in_bits, depth=2))
            m.d.comb += [cq.w_data.eq(recv.o_frame.payload), cq.w_en.eq(recv.o_frame.valid),
                         recv.o_frame.ready.eq(cq.w_rdy), disp.i_frame.payload.eq(cq.r_data),
                         disp.i_frame.valid.eq(cq.r_rdy), cq.r_en.eq(disp.i_frame.ready)]
        else:
            wiring.connect(m, recv.o_frame, disp.i_frame)
        wiring.connect(m, recv.o_error, disp.i_error)

        # host -> engine: a_t through a step-sized FIFO (see the module docstring); with input FIFOs, W through
        # a one-deep one, whose ready is a register's decode (the engine's is its idle, a decode of the
        # sequencer's state across the chip: it ended an ECP5 critical path in the dispatcher's state)
        pending = Const(0)
        if separate:
            pending = self._cross(m, "weight", disp.o_weight, engine.i_weight).busy
            self._cross(m, "elem", disp.o_elem, engine.i_elem)
            a_in = stream.Signature(disp.o_a.payload.shape()).create()
            self._cross(m, "a_in", disp.o_a, a_in)
        elif self.input_fifos:
            w_fifo = sliced_fifo(m, "weight", disp.o_weight.payload, engine.i_weight.payload, disp.o_weight.valid,
                                 engine.i_weight.ready, depth=1)[0]
            m.d.comb += [disp.o_weight.ready.eq(w_fifo.w_rdy), engine.i_weight.valid.eq(w_fifo.r_rdy)]
            pending = w_fifo.r_rdy
        else:
            wiring.connect(m, disp.o_weight, engine.i_weight)
        if not separate:
            wiring.connect(m, disp.o_elem, engine.i_elem)
            a_in = disp.o_a
        self._a_fifo(m, a_in, engine, separate, family(platform))

        # the run-time registers and the start pulse
        m.d.comb += [engine.tau.eq(disp.tau), engine.dense.eq(disp.dense), engine.seq_len.eq(disp.seq_len),
                     engine.batch.eq(disp.batch)]
        status = {"idle": engine.idle, "refused": engine.refused, "flags": engine.flags,
                  "counters": engine.counters, "stall": engine.stall}
        if separate:
            m.submodules.start_sync = start = PulseSynchronizer(self.link_domain, "sync")
            m.d.comb += [start.i.eq(disp.start), engine.start.eq(start.o)]
            status = self._status(m, status)
        else:
            m.d.comb += engine.start.eq(disp.start)
        # the dispatcher sees the engine's idle a cycle late, from a register of its own: the engine's idle
        # decodes the sequencer's state, whose register would otherwise be pulled across the chip towards
        # the dispatcher (its judgements of a frame take many cycles of bytes: a cycle late changes none).
        # A W chunk still in its FIFO counts as busy, so no START is judged past one (none is: a chunk enters
        # the idle engine in the cycle after its push, and the next frame is judged cycles after that)
        idle = Signal()
        m.d[self.link_domain] += idle.eq(status["idle"] & ~pending)
        m.d.comb += [disp.idle.eq(idle), disp.refused.eq(status["refused"]), disp.flags.eq(status["flags"]),
                     disp.counters.eq(status["counters"]), disp.stall.eq(status["stall"])]

        self._replies(m, link, disp, engine, send)
        wiring.connect(m, send.o_byte, utx.i_data)

        # (``error`` pulses in the link's domain)
        m.d.comb += [self.idle.eq(engine.idle), self.error.eq(disp.o_error.valid & disp.o_error.ready)]
        return m

    def _replies(self, m, link, disp, engine, send):
        """Answers and outputs -> frames -> the sender (``link``: a part into the link's domain); answers first."""
        c = self.config
        outputs = [(Reply.DX, chunk_layout(c, c.grad), engine.o_dx), (Reply.STATE, state_layout(c), engine.o_state),
                   (Reply.DW, chunk_layout(c, c.dw_acc), engine.o_dw), (Reply.DB, shape_of(c.db_acc), engine.o_db)]
        if self.link_domain != "sync":             # the engine's outputs into the link's domain
            crossed = []
            for cmd, shape, port in outputs:
                there = stream.Signature(shape).create()
                self._cross(m, Reply(cmd).name.lower(), port, there, into_link=True)
                crossed.append((cmd, shape, there))
            outputs = crossed
        sources = [(Reply.ACK, 8, disp.o_ack), (Reply.ERROR, error_layout(), disp.o_error),
                   (Reply.STATUS, status_layout(c), disp.o_status)] + outputs
        m.submodules.arbiter = arb = link(FrameArbiter(len(sources)))
        for n, (cmd, shape, port) in enumerate(sources):
            framer = link(Framer(cmd, shape))
            m.submodules[f"framer_{Reply(cmd).name.lower()}"] = framer
            wiring.connect(m, port, framer.i_word)
            wiring.connect(m, framer.o_frame, arb.i_frame[n])
        if self.input_fifos:                       # registered between the arbiter and the sender
            frame_bits = len(Value.cast(arb.o_frame.payload))
            m.submodules.frame_fifo = q = link(fifo.SyncFIFOBuffered(width=frame_bits, depth=2))
            m.d.comb += [q.w_data.eq(arb.o_frame.payload), q.w_en.eq(arb.o_frame.valid), arb.o_frame.ready.eq(q.w_rdy),
                         send.i_frame.payload.eq(q.r_data), send.i_frame.valid.eq(q.r_rdy), q.r_en.eq(send.i_frame.ready)]
        else:
            wiring.connect(m, arb.o_frame, send.i_frame)

    def _a_fifo(self, m, a_in, engine, separate, form):
        """a_t from ``a_in`` to the engine through a step-sized FIFO, one slice per lane (``sliced_fifo``), each
        slice read when the engine's slice of the same lane has room (hw.engine's ``a_room``).

        From a crossing (``separate``), each slice is written from a registered copy of the transfer's take
        beside it, a cycle after the take (one valid from the crossing to the sixteen slices across the chip
        was a route of 9.1 ns on the ULX3S): the crossing keeps its payload until its next transfer, cycles
        later (hw.crossing), and its ready is a register that counts the FIFO's places, those of the entries on
        their way included, so that no write meets a full FIFO."""
        depth = self.config.max_batch * self.config.cols_per_lane + 1
        reads = lambda i: engine.a_room[i]
        if not separate:
            a_fifo = sliced_fifo(m, "a", a_in.payload, engine.i_a.payload, a_in.valid, reads, depth=depth,
                                 buffered=True)[0]
            m.d.comb += [a_in.ready.eq(a_fifo.w_rdy), engine.i_a.valid.eq(a_fifo.r_rdy)]
            return
        taken = a_in.valid & a_in.ready
        writes = lambda i: copy(m, taken, f"a_write{i}", family=form, reset=True)
        a_fifo = sliced_fifo(m, "a", a_in.payload, engine.i_a.payload, writes, reads, depth=depth, buffered=True)[0]
        places, room = Signal(range(depth + 1), init=depth), Signal(init=1)
        after = Signal.like(places)
        m.d.comb += [after.eq(places + (a_fifo.r_en & a_fifo.r_rdy) - taken), a_in.ready.eq(room),
                     engine.i_a.valid.eq(a_fifo.r_rdy)]
        m.d.sync += [places.eq(after), room.eq(after.any())]

    def _cross(self, m, name, source, sink, *, into_link=False, hold=False):
        """The stream ``source`` -> ``sink`` through a StreamCrossing ``{name}_cross`` from the link's clock domain
        to the engine's (``into_link``: the other way; ``hold``: StreamCrossing's); returns it."""
        w_domain, r_domain = ("sync", self.link_domain) if into_link else (self.link_domain, "sync")
        crossing = StreamCrossing(source.payload.shape(), w_domain=w_domain, r_domain=r_domain, hold=hold,
                                  slice_bits=SLICE_BITS)
        m.submodules[f"{name}_cross"] = crossing
        # (by hand: ``source`` or ``sink`` may be an interface of this module's own, which wiring.connect takes
        # for the wrong end)
        m.d.comb += [crossing.i_data.payload.eq(source.payload), crossing.i_data.valid.eq(source.valid),
                     source.ready.eq(crossing.i_data.ready), sink.payload.eq(crossing.o_data.payload),
                     sink.valid.eq(crossing.o_data.valid), crossing.o_data.ready.eq(sink.ready)]
        return crossing

    def _status(self, m, status):
        """The engine's ``status`` values (name -> Value) as registers of the link's domain: whole snapshots
        through a StreamCrossing that the engine's side offers in every cycle and the link's side takes into
        the registers (see the module docstring)."""
        layout = data.StructLayout({name: Value.cast(value).shape() for name, value in status.items()})
        snapshot, held = stream.Signature(layout).create(), stream.Signature(layout).create()
        m.d.comb += [snapshot.valid.eq(1), held.ready.eq(1)]
        m.d.comb += [getattr(snapshot.payload, name).eq(value) for name, value in status.items()]
        self._cross(m, "status", snapshot, held, into_link=True, hold=True)
        latest = Signal(layout)
        with m.If(held.valid):
            m.d[self.link_domain] += latest.eq(held.payload)
        return {name: getattr(latest, name) for name in status}


def clock_plan(target, clock_mhz=None, baud=None):
    """(PLL plan or None, engine clock in MHz, baud rate, UART divisor, host link clock in MHz) of ``target`` at
    ``clock_mhz`` and ``baud`` (the target's when None); ConfigError when the baud rate is too fast for the
    host link's clock. With a PLL on the ECP5 the host link runs on the oscillator's clock, a domain of its
    own (BoardCore's ``link_domain``), and the divisor counts its cycles; else on the engine's. (The iCE40's
    PLL takes the clock pin's pad whole, so there the link stays on the engine's clock.)"""
    from .pll import ecp5_pll, ice40_pll
    board_mhz = target.make_platform().default_clk_frequency / 1e6
    want = target.clock_mhz if clock_mhz is None else clock_mhz
    plan = None
    if abs(want - board_mhz) > 1e-9:
        plan = (ice40_pll if target.family == "ice40" else ecp5_pll)(board_mhz, want)
    f_mhz = plan.f_out_mhz if plan else board_mhz
    link_mhz = board_mhz if plan is not None and plan.family != "ice40" else f_mhz
    baud = target.baud if baud is None else baud
    divisor = round(link_mhz * 1e6 / baud)
    if divisor < 4:                                # (the UART samples each bit at least four times)
        raise ConfigError(f"baud {baud} is too fast for the {link_mhz:g} MHz clock of the host link: the UART needs "
                          f"at least 4 clock cycles per bit, so at most {link_mhz * 1e6 / 4:,.0f} baud")
    return plan, f_mhz, baud, divisor, link_mhz


class BoardTop(Elaboratable):
    """A BoardCore on ``target``'s platform (boards.targets): UART pins, the engine clock from a PLL
    when it differs from the oscillator, reset until the PLL locks, LEDs for idle and refused frames.

    ``plan`` (boards.pll.PllPlan or None), ``divisor`` and ``link_mhz`` (the host link's clock: the
    oscillator's, in a domain ``link`` of its own, where the engine's comes from an ECP5 PLL; see
    :func:`clock_plan`) are fixed at construction, so the build report can state the clocks and baud rate
    the bitstream really has.
    """

    def __init__(self, config, target, clock_mhz=None, baud=None):
        self.config, self.target = config, target
        self.plan, self.clock_mhz, self.baud, self.divisor, self.link_mhz = clock_plan(target, clock_mhz, baud)
        self.link_domain = "link" if self.plan is not None and self.plan.family != "ice40" else "sync"
        # what nextpnr is asked for: the engine's clock, or the target's placement goal where that is higher
        self.constraint_mhz = max(self.clock_mhz, target.place_mhz) if self.plan else self.clock_mhz

    def elaborate(self, platform):
        from amaranth.hdl import ClockDomain
        from amaranth.lib.cdc import AsyncFFSynchronizer
        from amaranth.build import ResourceError

        from .pll import pll_instance
        m = Module()
        if self.plan is not None:
            m.domains.sync = cd = ClockDomain("sync")
            locked = Signal()
            clk_in = platform.request(platform.default_clk, dir="-")
            if self.plan.family != "ice40":        # (the iCE40 PLL takes the raw pad of the clock pin)
                m.submodules.clk_buf = buf = io.Buffer("i", clk_in)
                clk_in = buf.i
            pll_clk = Signal()                     # named here, so the constraint finds its net
            m.submodules.pll = pll_instance(self.plan, clk_in, pll_clk, locked)
            m.d.comb += cd.clk.eq(pll_clk)
            # the reset, released in step with the clock, reaches the registers with one (every part of
            # the engine, the host link's) through a global network on the ECP5: a fabric net from the
            # synchroniser to the far registers' LSR took 9.8 ns at a ULX3S seed
            reset = Signal()
            m.submodules.reset = AsyncFFSynchronizer(~locked, reset, o_domain="sync")
            m.d.comb += cd.rst.eq(broadcast(m, reset, "reset_global", family=family(platform)))
            platform.add_clock_constraint(pll_clk, self.constraint_mhz * 1e6)
            if self.link_domain != "sync":         # the host link on the oscillator's clock, reset until the lock
                m.domains.link = link = ClockDomain("link")
                m.d.comb += link.clk.eq(clk_in)
                m.submodules.link_reset = AsyncFFSynchronizer(~locked, link.rst, o_domain="link")
        m.submodules.core = core = BoardCore(self.config, self.divisor, input_fifos=not self.target.lean,
                                             link_domain=self.link_domain)
        lines = [sub.name for sub in platform.lookup("uart", 0).ios]          # rx, tx and any modem lines
        uart = platform.request("uart", 0, dir={name: "-" for name in lines})
        m.submodules.rx_buf = rx = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx = io.Buffer("o", uart.tx)
        m.d.comb += [core.rx.eq(rx.i), tx.o.eq(core.tx)]
        leds = []
        for n in range(2):
            try:
                pin = platform.request("led", n, dir="-")
            except ResourceError:
                break
            m.submodules[f"led{n}"] = buf = io.Buffer("o", pin)
            leds.append(buf)
        if leds:
            refused = Signal()
            with m.If(core.error):                 # (a pulse of the host link's clock)
                m.d[self.link_domain] += refused.eq(1)
            m.d.comb += [leds[0].o.eq(core.idle), leds[-1].o.eq(refused)]
        return m
