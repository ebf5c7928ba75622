"""The engine on a board: a UART host link in front of it, and the board's pins and clock around that.

:class:`BoardCore` is everything but the pins: UART receiver -> frame receiver (CRC, length,
timeout) -> command dispatcher (``hw.commands``) -> the engine, and the engine's outputs and the
answers -> framers -> arbiter -> frame sender -> UART transmitter. Its only ports are ``rx`` and
``tx`` (and a few status lines for LEDs), so the same design is what the board runs and what the
host driver talks to in simulation (``sim/tb_board.py``).

a_t passes a FIFO that holds one step's worth (max_batch x C chunks) before the engine: the host
sends step t-1's a_t before step t's elements, and the engine, which wants both while it works, never
waits for one while the host is still sending the other.

:class:`BoardTop` puts a BoardCore on an amaranth-boards platform: the UART resource's pins, a PLL
(``boards/pll.py``) when the engine's clock differs from the board's, a reset held until the PLL
locks, and LEDs for idle and for a refused frame.
"""

from amaranth.hdl import Const, Elaboratable, Module, Signal, Value
from amaranth.lib import fifo, io, wiring
from amaranth.lib.wiring import In, Out

from golden_model.engine_config import check_config
from golden_model.errors import ConfigError
from hw.commands import MAX_PAYLOAD, CommandDispatcher, Reply, error_layout, status_layout
from hw.engine import Engine, sliced_fifo
from hw.fixed import shape_of
from hw.host_link import FrameArbiter, FrameReceiver, FrameSender, Framer
from hw.layouts import chunk_layout, state_layout
from hw.primitives import broadcast, family
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

    def __init__(self, config, divisor, *, timeout_bytes=64, input_fifos=True):
        self.config = check_config(config).check_buildable()
        self.divisor = check_divisor(divisor)
        self.timeout = 10 * divisor * timeout_bytes
        self.input_fifos = input_fifos
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        c = self.config
        # the UART is the bottleneck: one-deep FIFOs; without input FIFOs (targets' ``lean``) the engine takes
        # its inputs straight from the dispatcher and the a FIFO, for fewer registers and a longer enable path
        m.submodules.engine = engine = Engine(c, fifo_depth=1, input_fifos=self.input_fifos)
        m.submodules.uart_rx = urx = UARTRx(self.divisor)
        m.submodules.uart_tx = utx = UARTTx(self.divisor)
        m.submodules.receiver = recv = FrameReceiver(max_payload=MAX_PAYLOAD, timeout=self.timeout)
        m.submodules.dispatcher = disp = CommandDispatcher(c)
        m.submodules.sender = send = FrameSender()
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]
        wiring.connect(m, urx.o_data, recv.i_byte)
        if self.input_fifos:                       # registered between the receiver and the dispatcher
            frame_in_bits = len(Value.cast(recv.o_frame.payload))
            m.submodules.checked_fifo = cq = fifo.SyncFIFO(width=frame_in_bits, depth=2)
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
        if self.input_fifos:
            w_fifo = sliced_fifo(m, "weight", disp.o_weight.payload, engine.i_weight.payload, disp.o_weight.valid,
                                 engine.i_weight.ready, depth=1)[0]
            m.d.comb += [disp.o_weight.ready.eq(w_fifo.w_rdy), engine.i_weight.valid.eq(w_fifo.r_rdy)]
            pending = w_fifo.r_rdy
        else:
            wiring.connect(m, disp.o_weight, engine.i_weight)
        wiring.connect(m, disp.o_elem, engine.i_elem)
        a_fifo = sliced_fifo(m, "a", disp.o_a.payload, engine.i_a.payload, disp.o_a.valid, engine.i_a.ready,
                             depth=c.max_batch * c.cols_per_lane + 1, buffered=True)[0]
        m.d.comb += [disp.o_a.ready.eq(a_fifo.w_rdy), engine.i_a.valid.eq(a_fifo.r_rdy)]
        # the dispatcher sees the engine's idle a cycle late, from a register of its own: the engine's idle
        # decodes the sequencer's state, whose register would otherwise be pulled across the chip towards
        # the dispatcher (its judgements of a frame take many cycles of bytes: a cycle late changes none).
        # A W chunk still in its FIFO counts as busy, so no START is judged past one (none is: a chunk enters
        # the idle engine in the cycle after its push, and the next frame is judged cycles after that)
        idle = Signal()
        m.d.sync += idle.eq(engine.idle & ~pending)
        m.d.comb += [engine.start.eq(disp.start), engine.tau.eq(disp.tau), engine.dense.eq(disp.dense),
                     engine.seq_len.eq(disp.seq_len), engine.batch.eq(disp.batch),
                     disp.idle.eq(idle), disp.refused.eq(engine.refused), disp.flags.eq(engine.flags),
                     disp.counters.eq(engine.counters), disp.stall.eq(engine.stall)]

        # answers and outputs -> frames -> bytes; answers first
        sources = [(Reply.ACK, 8, disp.o_ack), (Reply.ERROR, error_layout(), disp.o_error),
                   (Reply.STATUS, status_layout(c), disp.o_status),
                   (Reply.DX, chunk_layout(c, c.grad), engine.o_dx), (Reply.STATE, state_layout(c), engine.o_state),
                   (Reply.DW, chunk_layout(c, c.dw_acc), engine.o_dw), (Reply.DB, shape_of(c.db_acc), engine.o_db)]
        m.submodules.arbiter = arb = FrameArbiter(len(sources))
        for n, (cmd, shape, port) in enumerate(sources):
            framer = Framer(cmd, shape)
            m.submodules[f"framer_{Reply(cmd).name.lower()}"] = framer
            wiring.connect(m, port, framer.i_word)
            wiring.connect(m, framer.o_frame, arb.i_frame[n])
        if self.input_fifos:                       # registered between the arbiter and the sender
            frame_bits = len(Value.cast(arb.o_frame.payload))
            m.submodules.frame_fifo = q = fifo.SyncFIFOBuffered(width=frame_bits, depth=2)
            m.d.comb += [q.w_data.eq(arb.o_frame.payload), q.w_en.eq(arb.o_frame.valid), arb.o_frame.ready.eq(q.w_rdy),
                         send.i_frame.payload.eq(q.r_data), send.i_frame.valid.eq(q.r_rdy), q.r_en.eq(send.i_frame.ready)]
        else:
            wiring.connect(m, arb.o_frame, send.i_frame)
        wiring.connect(m, send.o_byte, utx.i_data)

        m.d.comb += [self.idle.eq(engine.idle), self.error.eq(disp.o_error.valid & disp.o_error.ready)]
        return m


def clock_plan(target, clock_mhz=None, baud=None):
    """(PLL plan or None, engine clock in MHz, baud rate, UART divisor) of ``target`` at ``clock_mhz`` and
    ``baud`` (the target's when None); ConfigError when the baud rate is too fast for the clock."""
    from .pll import ecp5_pll, ice40_pll
    board_mhz = target.make_platform().default_clk_frequency / 1e6
    want = target.clock_mhz if clock_mhz is None else clock_mhz
    plan = None
    if abs(want - board_mhz) > 1e-9:
        plan = (ice40_pll if target.family == "ice40" else ecp5_pll)(board_mhz, want)
    f_mhz = plan.f_out_mhz if plan else board_mhz
    baud = target.baud if baud is None else baud
    divisor = round(f_mhz * 1e6 / baud)
    if divisor < 4:                                # (the UART samples each bit at least four times)
        raise ConfigError(f"baud {baud} is too fast for the {f_mhz:g} MHz engine clock: the UART needs at least "
                          f"4 clock cycles per bit, so at most {f_mhz * 1e6 / 4:,.0f} baud")
    return plan, f_mhz, baud, divisor


class BoardTop(Elaboratable):
    """A BoardCore on ``target``'s platform (boards.targets): UART pins, the engine clock from a PLL
    when it differs from the oscillator, reset until the PLL locks, LEDs for idle and refused frames.

    ``plan`` (boards.pll.PllPlan or None) and ``divisor`` are fixed at construction, so the build
    report can state the clock and baud rate the bitstream really has.
    """

    def __init__(self, config, target, clock_mhz=None, baud=None):
        self.config, self.target = config, target
        self.plan, self.clock_mhz, self.baud, self.divisor = clock_plan(target, clock_mhz, baud)
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
        m.submodules.core = core = BoardCore(self.config, self.divisor, input_fifos=not self.target.lean)
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
            with m.If(core.error):
                m.d.sync += refused.eq(1)
            m.d.comb += [leds[0].o.eq(core.idle), leds[-1].o.eq(refused)]
        return m
