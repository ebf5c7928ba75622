"""The board's command set: what the host sends over the link, what the board answers, and the
dispatcher that turns checked frames into the engine's transfers.

Host -> board (frames of ``hw.host_link``; multi-byte values little-endian, each transfer in
``byte_count`` bytes of its layout's bits):

- ``WEIGHT``, ``ELEM``, ``A``: a count byte n (1..255), then n transfers of the engine's ``i_weight``,
  ``i_elem`` or ``i_a`` stream, in the order of ``hw.transfers``. Weights only while the engine is
  idle; elements and a_t only while a sequence runs.
- ``START``: ``start_layout`` (tau, dense, T, B); only while idle, T and B within what the engine was
  built for.
- ``STATUS``: no payload.

Board -> host: ``ACK`` (the command byte) once a frame has been consumed, ``ERROR`` (``error_layout``:
a :class:`hw.host_link.FrameError` code and the command) for a frame that was refused, ``STATUS``
(``status_layout``: the configuration's identity, idle, refused, flags, counters, stall), and one
frame per transfer of the engine's outputs (``DX``, ``STATE``, ``DW``, ``DB``), as they come.

A frame is checked whole before it acts: its CRC by the receiver, then its command, its length
against the count byte, and the engine's state here. A refused frame is drained and answered with
``ERROR``; nothing of it reaches the engine. The host waits for each frame's answer before it sends
the next (a UART has no flow control), which is what keeps every byte of a frame's payload
bounded by ``max_payload``.
"""

import enum
import hashlib
import json

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model.engine_config import EngineConfig

from .bits import equals
from .controller import counters_layout, flags_layout
from .fixed import shape_of
from .host_link import FrameError, byte_count, frame_layout
from .layouts import chunk_layout, element_layout

__all__ = ["Command", "Reply", "CommandDispatcher", "start_layout", "status_layout", "error_layout",
           "stream_layouts", "config_ident", "MAX_COUNT"]

#: Most transfers in one WEIGHT, ELEM or A frame (the count is one byte).
MAX_COUNT = 255


class Command(enum.IntEnum):
    """Command bytes of the frames the host sends."""
    WEIGHT = 0x01
    ELEM = 0x02
    A = 0x03
    START = 0x04
    STATUS = 0x05


class Reply(enum.IntEnum):
    """Command bytes of the frames the board sends."""
    ACK = 0x80
    ERROR = 0x81
    STATUS = 0x82
    DX = 0x90
    STATE = 0x91
    DW = 0x92
    DB = 0x93


def stream_layouts(config):
    """The payload layout of each stream command's transfers."""
    return {Command.WEIGHT: chunk_layout(config, config.weight), Command.ELEM: element_layout(config),
            Command.A: chunk_layout(config, config.inp)}


def start_layout(config):
    return data.StructLayout({"tau": shape_of(config.grad), "dense": 1, "seq_len": 16, "batch": 16})


def error_layout():
    return data.StructLayout({"code": 8, "cmd": 8})


def status_layout(config):
    return data.StructLayout({"ident": 32, "idle": 1, "refused": 1, "flags": flags_layout(), "stall": 32,
                              "counters": counters_layout(config)})


def config_ident(config):
    """32 bits that name an EngineConfig: the board reports them, so a host with another configuration
    can tell before it sends anything."""
    key = json.dumps(config.to_dict(), sort_keys=True).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "little")


def _times(value, const):
    """``value * const`` as a sum of shifts (a multiplier here would take one of the FPGA's DSPs)."""
    terms = [value.as_unsigned() << i for i in range(const.bit_length()) if (const >> i) & 1]
    return sum(terms[1:], terms[0])


class CommandDispatcher(wiring.Component):
    """Checked frames in (from ``hw.host_link.FrameReceiver``), engine transfers, run-time registers and
    answers out; see the module docstring.

    Ports
    -----
    i_frame, i_error : the receiver's frames and the errors of the frames it dropped.
    o_weight, o_elem, o_a : to the engine's input streams.
    start, tau, dense, seq_len, batch : to the engine's run-time registers (``start`` pulses).
    idle, refused, flags, counters, stall : from the engine, for ``STATUS`` and the checks.
    o_ack, o_error, o_status : the answers (to framers).
    """

    def __init__(self, config):
        if not isinstance(config, EngineConfig):
            self._MustUse__silence = True
            raise TypeError(f"config must be an EngineConfig, not {type(config).__name__}")
        c = self.config = config
        lays = stream_layouts(c)
        super().__init__({
            "i_frame": In(stream.Signature(frame_layout())),
            "i_error": In(stream.Signature(FrameError)),
            "o_weight": Out(stream.Signature(lays[Command.WEIGHT])),
            "o_elem": Out(stream.Signature(lays[Command.ELEM])),
            "o_a": Out(stream.Signature(lays[Command.A])),
            "start": Out(1), "tau": Out(shape_of(c.grad)), "dense": Out(1),
            "seq_len": Out(range(1, c.max_seq + 1), init=1), "batch": Out(range(1, c.max_batch + 1), init=1),
            "idle": In(1), "refused": In(1), "flags": In(flags_layout()), "counters": In(counters_layout(c)),
            "stall": In(32),
            "o_ack": Out(stream.Signature(8)),
            "o_error": Out(stream.Signature(error_layout())),
            "o_status": Out(stream.Signature(status_layout(c))),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.config
        f = self.i_frame.payload
        take = self.i_frame.valid & self.i_frame.ready
        targets = {Command.WEIGHT: self.o_weight, Command.ELEM: self.o_elem, Command.A: self.o_a}
        sizes = {cmd: byte_count(len(port.payload.as_value())) for cmd, port in targets.items()}
        start_bytes = byte_count(start_layout(c).size)
        width = 8 * max(max(sizes.values()), start_bytes)
        word = Signal(width)                  # bytes shift in at the top: the last byte is the highest
        nbyte = Signal(range(width // 8))     # bytes of the current transfer taken
        cmd = Signal(8)
        code = Signal(FrameError)
        done = Signal()                       # the frame's last byte has been taken
        sel = Signal(Command)
        h_len, h_count, h_empty = Signal(16), Signal(8), Signal()   # the frame's head, latched

        def shift_in():
            m.d.sync += [word.eq(Cat(word[8:], f.data)), nbyte.eq(nbyte + 1), done.eq(f.last)]

        def answer(state, port):
            """A state that offers one answer on ``port``, then waits for the next frame."""
            with m.State(state):
                m.d.comb += port.valid.eq(1)
                with m.If(port.ready):
                    m.next = "HEAD"

        def refuse(why):
            m.d.sync += code.eq(why)
            m.next = "DRAIN"

        m.d.comb += [self.o_ack.payload.eq(cmd), self.o_error.payload.code.eq(code),
                     self.o_error.payload.cmd.eq(cmd)]
        m.d.comb += [self.o_status.payload.ident.eq(config_ident(c)), self.o_status.payload.idle.eq(self.idle),
                     self.o_status.payload.refused.eq(self.refused), self.o_status.payload.flags.eq(self.flags),
                     self.o_status.payload.stall.eq(self.stall), self.o_status.payload.counters.eq(self.counters)]
        for cmd_, port in targets.items():
            top = word[width - 8 * sizes[cmd_]:]
            m.d.comb += port.payload.eq(top[:len(port.payload.as_value())])
        run = start_layout(c)(word[width - 8 * start_bytes:][:start_layout(c).size])

        with m.FSM():
            # The head of a frame is latched, then judged: every ready and valid below is a function of
            # the state alone, which keeps the checks' arithmetic out of the handshakes' paths (timing).
            with m.State("HEAD"):
                with m.If(self.i_frame.valid):
                    m.d.sync += [cmd.eq(f.cmd), h_len.eq(f.length), h_count.eq(f.data), h_empty.eq(f.empty),
                                 nbyte.eq(0), done.eq(0)]
                    m.next = "DECIDE"
                with m.Elif(self.i_error.valid):       # a frame the receiver dropped
                    m.d.comb += self.i_error.ready.eq(1)
                    m.d.sync += [code.eq(self.i_error.payload), cmd.eq(0)]
                    m.next = "ERROR"
            with m.State("DECIDE"):
                with m.Switch(cmd):
                    for cmd_, size in sizes.items():
                        with m.Case(cmd_):
                            count_ok = (h_len == 1 + _times(h_count, size)) & h_count.any() & ~h_empty
                            with m.If(~count_ok):
                                refuse(FrameError.BAD_LENGTH)
                            with m.Elif(self.idle if cmd_ != Command.WEIGHT else ~self.idle):
                                refuse(FrameError.NOT_RUNNING if cmd_ != Command.WEIGHT else FrameError.BUSY)
                            with m.Else():
                                m.d.sync += sel.eq(cmd_)
                                m.next = "COUNT"
                    with m.Case(Command.START):
                        with m.If((h_len != start_bytes) | h_empty):
                            refuse(FrameError.BAD_LENGTH)
                        with m.Elif(~self.idle):
                            refuse(FrameError.BUSY)
                        with m.Else():
                            m.next = "COLLECT"
                    with m.Case(Command.STATUS):
                        with m.If(~h_empty):
                            refuse(FrameError.BAD_LENGTH)
                        with m.Else():
                            m.next = "EMPTY"
                    with m.Default():
                        refuse(FrameError.UNKNOWN_COMMAND)
            with m.State("COUNT"):                      # the count byte (already judged)
                m.d.comb += self.i_frame.ready.eq(1)
                with m.If(take):
                    m.next = "STREAM"
            with m.State("EMPTY"):                      # the one transfer of a frame without payload
                m.d.comb += self.i_frame.ready.eq(1)
                with m.If(take):
                    m.next = "STATUS"
            with m.State("DRAIN"):                      # a refused frame: its bytes go nowhere
                m.d.comb += self.i_frame.ready.eq(1)
                with m.If(take & f.last):
                    m.next = "ERROR"
            answer("ERROR", self.o_error)
            with m.State("STREAM"):
                m.d.comb += self.i_frame.ready.eq(1)
                with m.If(take):
                    shift_in()
                    with m.Switch(sel):
                        for cmd_, size in sizes.items():
                            with m.Case(cmd_):
                                with m.If(equals(nbyte, size - 1)):
                                    m.d.sync += nbyte.eq(0)
                                    m.next = "PUSH"
            with m.State("PUSH"):
                with m.Switch(sel):
                    for cmd_, port in targets.items():
                        with m.Case(cmd_):
                            m.d.comb += port.valid.eq(1)
                            with m.If(port.ready):
                                m.next = "STREAM"
                                with m.If(done):
                                    m.next = "ACK"
                            if cmd_ != Command.WEIGHT:
                                # the sequence ended before this frame did: the rest goes nowhere
                                with m.Elif(self.idle):
                                    m.d.sync += code.eq(FrameError.NOT_RUNNING)
                                    m.next = "OVERRUN"
            with m.State("OVERRUN"):
                with m.If(done):
                    m.next = "ERROR"
                with m.Else():
                    m.next = "DRAIN"
            with m.State("COLLECT"):
                m.d.comb += self.i_frame.ready.eq(1)
                with m.If(take):
                    shift_in()
                    with m.If(f.last):
                        m.next = "CHECK"
            with m.State("CHECK"):
                with m.If((run.seq_len == 0) | (run.seq_len > c.max_seq) | (run.batch == 0) |
                          (run.batch > c.max_batch)):
                    m.d.sync += code.eq(FrameError.OUT_OF_RANGE)
                    m.next = "ERROR"
                with m.Else():
                    m.d.sync += [self.tau.eq(run.tau), self.dense.eq(run.dense), self.seq_len.eq(run.seq_len),
                                 self.batch.eq(run.batch)]
                    m.next = "FIRE"
            with m.State("FIRE"):
                m.d.comb += self.start.eq(1)
                m.next = "ACK"
            answer("STATUS", self.o_status)
            answer("ACK", self.o_ack)
        return m
