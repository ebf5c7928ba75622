"""A UART (8 data bits, no parity, one stop bit) with stream interfaces, for the boards' host link.

``divisor`` is the number of clock cycles per bit (clock frequency / baud rate, rounded; at least 4).
The receiver synchronises ``rx`` with two flip-flops, finds the start bit's falling edge, samples each
bit in its middle, and refuses a byte whose stop bit is 0 (``framing_error`` pulses, nothing is
emitted). The transmitter sends each byte of its input stream as soon as the previous one has left.
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from golden_model.checks import check_size

from .bits import equals

__all__ = ["UARTTx", "UARTRx", "check_divisor"]


def check_divisor(divisor):
    """``divisor`` if it is an integer >= 4, else ConfigError."""
    return check_size("divisor (clock cycles per bit)", divisor, minimum=4)


class _UART(wiring.Component):
    """What the transmitter and the receiver share: ``divisor``, clock cycles per bit."""

    def __init__(self, divisor):
        self.divisor = check_divisor(divisor)
        super().__init__()


class UARTTx(_UART):
    """Transmitter: ``i_data`` (a stream of bytes) out on ``tx`` (idle high)."""

    i_data: In(stream.Signature(8))
    tx: Out(1, init=1)

    def elaborate(self, platform):
        m = Module()
        shift = Signal(10, init=0x3FF)        # start bit, 8 data bits (LSB first), stop bit
        bits = Signal(range(11))              # bits left to send
        timer = Signal(range(self.divisor))
        m.d.comb += [self.tx.eq(shift[0]), self.i_data.ready.eq(~bits.any())]
        with m.If(self.i_data.valid & self.i_data.ready):
            m.d.sync += [shift.eq(Cat(Const(0, 1), self.i_data.payload, Const(1, 1))), bits.eq(10), timer.eq(self.divisor - 1)]
        with m.Elif(bits.any()):
            m.d.sync += timer.eq(timer - 1)
            with m.If(~timer.any()):
                m.d.sync += [shift.eq(Cat(shift[1:], Const(1, 1))), bits.eq(bits - 1), timer.eq(self.divisor - 1)]
        return m


class UARTRx(_UART):
    """Receiver: bytes on ``rx`` out as the stream ``o_data``; ``framing_error`` pulses for a bad stop bit.

    A byte waits in ``o_data`` until taken; one arriving before that is dropped and ``overrun`` pulses
    (the host link's frames carry a CRC, so a lost byte is detected there).
    """

    rx: In(1, init=1)
    o_data: Out(stream.Signature(8))
    framing_error: Out(1)
    overrun: Out(1)

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(d + d // 2))
        bits = Signal(range(10))              # bits still to sample (start, 8 data, stop)
        shift = Signal(9)
        data, full = Signal(8), Signal()
        m.d.comb += [self.o_data.payload.eq(data), self.o_data.valid.eq(full)]
        with m.If(self.o_data.ready):
            m.d.sync += full.eq(0)
        m.d.sync += [self.framing_error.eq(0), self.overrun.eq(0)]
        with m.If(~bits.any()):
            with m.If(~rx):                   # the start bit's falling edge: its middle is half a bit away
                m.d.sync += [bits.eq(10), timer.eq(d // 2 - 1)]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
            with m.If(~timer.any()):
                m.d.sync += [bits.eq(bits - 1), timer.eq(d - 1), shift.eq(Cat(shift[1:], rx))]
                with m.If(equals(bits, 10) & rx):  # a glitch, not a start bit
                    m.d.sync += bits.eq(0)
                with m.If(equals(bits, 1)):         # the stop bit
                    with m.If(~rx):
                        m.d.sync += self.framing_error.eq(1)
                    with m.Elif(full & ~self.o_data.ready):
                        m.d.sync += self.overrun.eq(1)
                    with m.Else():
                        m.d.sync += [data.eq(shift[1:]), full.eq(1)]
        return m
