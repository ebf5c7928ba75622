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
from types import SimpleNamespace

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from .bits import equals
from .counters import counters_layout, flags_layout
from .fixed import shape_of
from .host_link import FrameError, byte_count, frame_layout
from .layouts import chunk_layout, element_layout
from .part import EnginePart
from .primitives import copy, family

__all__ = ["Command", "Reply", "CommandDispatcher", "start_layout", "status_layout", "error_layout",
           "stream_layouts", "config_ident", "MAX_COUNT", "MAX_PAYLOAD"]

#: Most transfers in one WEIGHT, ELEM or A frame (the count is one byte).
MAX_COUNT = 255
#: Largest frame payload the board accepts (one iCE40 block RAM holds the frame receiver's buffer).
MAX_PAYLOAD = 256

#: The dispatcher's states that take a frame's bytes into the transfer's word.
TAKING = ("STREAM", "COLLECT")

#: The dispatcher's answer states, in the order of its ``offer`` bits.
ANSWERS = ("ERROR", "STATUS", "ACK")


class Command(enum.IntEnum):
    """Command bytes of the frames the host sends: W, elements, a_t, start, status."""
    WEIGHT, ELEM, A, START, STATUS = 0x01, 0x02, 0x03, 0x04, 0x05


class Reply(enum.IntEnum):
    """Command bytes of the frames the board sends: the answers (0x8_), the engine's outputs (0x9_)."""
    ACK, ERROR, STATUS = 0x80, 0x81, 0x82
    DX, STATE, DW, DB = 0x90, 0x91, 0x92, 0x93


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


class CommandDispatcher(EnginePart):
    """Checked frames in (from ``hw.host_link.FrameReceiver``), engine transfers, run-time registers and
    answers out; see the module docstring.

    Ports
    -----
    i_frame, i_error : the receiver's frames and the errors of the frames it dropped.
    o_weight, o_elem, o_a : to the engine's input streams.
    start, tau, dense, seq_len, batch : to the engine's run-time registers (``start`` pulses).
    idle, refused, flags, counters, stall : from the engine, for ``STATUS`` and the checks.
    o_ack, o_error, o_status : the answers (to framers).

    A byte taken from ``i_frame`` is counted at once and lands in the transfer's word in the next cycle,
    through a registered fan-out: one copy of the shift per ``BYTES_PER_COPY`` bytes of the word
    (hw.primitives.copy, each placed near its bytes). The word of a WEIGHT transfer is 256 bits at P = 16,
    and one shift enable decoded from the frame's valid and the state reached them only after 6 ns of
    routing on the ECP5. A transfer is offered (``PUSH``) a cycle after its last byte (``LAND``), when the
    word is whole; a START is judged into a register then (``CHECK``) and acted on after (``APPLY``).
    """

    #: Bytes of the word shifted by one copy of the shift register.
    BYTES_PER_COPY = 2

    def members(self, c):
        lays = stream_layouts(c)
        return {
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
        }

    def elaborate(self, platform):
        m = Module()
        c = self.config
        r = self._registers()
        word, width = r.word, len(r.word)
        form = family(platform)
        # (the copies' input is r.shift as a function of registers and the frame's valid: the state's decode,
        # of five bits, on its way to the copies across the word was an ECP5 critical path)
        shifted = r.taking & self.i_frame.valid
        for g, lo in enumerate(range(0, width // 8, self.BYTES_PER_COPY)):
            hi = min(lo + self.BYTES_PER_COPY, width // 8)
            with m.If(copy(m, shifted, f"shift_{g}", family=form, reset=True)):
                m.d.sync += word[8 * lo:8 * hi].eq(Cat(word[8:], r.byte)[8 * lo:8 * hi])
        m.d.comb += [self.o_ack.payload.eq(r.cmd), self.o_error.payload.code.eq(r.code),
                     self.o_error.payload.cmd.eq(r.cmd)]
        m.d.comb += [self.o_status.payload.ident.eq(config_ident(c)), self.o_status.payload.idle.eq(self.idle),
                     self.o_status.payload.refused.eq(self.refused), self.o_status.payload.flags.eq(self.flags),
                     self.o_status.payload.stall.eq(self.stall), self.o_status.payload.counters.eq(self.counters)]
        for n, (cmd, port) in enumerate(r.targets.items()):
            top = word[width - 8 * r.sizes[cmd]:]
            m.d.comb += [port.payload.eq(top[:len(port.payload.as_value())]), port.valid.eq(r.push[n])]
        answers = (self.o_error, self.o_status, self.o_ack)
        # (outside the FSM: an assignment inside a state would AND the valid with that state's decode again)
        m.d.comb += [port.valid.eq(r.offer[n]) for n, port in enumerate(answers)]
        with m.FSM():
            self._head(m, r)
            self._transfers(m, r)
            self._start(m, r)
            for state, port in zip(ANSWERS, answers):
                with m.State(state):           # offer one answer, then wait for the next frame
                    with m.If(port.ready):
                        m.d.sync += r.offer.eq(0)
                        m.next = "HEAD"
        return m

    @staticmethod
    def _answer(m, r, state):
        """Go to the answer state ``state`` (one of ANSWERS) and set its bit of ``r.offer``: an answer's valid
        is a register, not a decode of the state (the STATUS framer's word enable follows it, 190 bits at H = 64,
        which was an ECP5 critical path)."""
        m.d.sync += r.offer.eq(1 << ANSWERS.index(state))
        m.next = state

    def _registers(self):
        """The dispatcher's registers and the sizes it judges frames by."""
        targets = {Command.WEIGHT: self.o_weight, Command.ELEM: self.o_elem, Command.A: self.o_a}
        sizes = {cmd: byte_count(len(port.payload.as_value())) for cmd, port in targets.items()}
        start_bytes = byte_count(start_layout(self.config).size)
        width = 8 * max(max(sizes.values()), start_bytes)
        return SimpleNamespace(
            targets=targets, sizes=sizes, start_bytes=start_bytes,
            word=Signal(width),                # bytes shift in at the top: the last byte is the highest
            shift=Signal(), byte=Signal(8),    # a byte is taken (it lands in the next cycle); the byte taken
            taking=Signal(),                   # in a state that takes bytes into the word (STREAM, COLLECT)
            nbyte=Signal(range(width // 8)),   # bytes of the current transfer taken
            cmd=Signal(8), code=Signal(FrameError),
            done=Signal(),                     # the frame's last byte has been taken
            sel=Signal(Command),
            push=Signal(len(targets)),         # offering the word to target n (one-hot, in PUSH only)
            fits=Signal(),                     # the frame's length is right for its command (SIZE's verdict)
            in_range=Signal(),                 # a START's T and B are within the engine's (CHECK's verdict)
            offer=Signal(len(ANSWERS)),        # one-hot: in answer state ANSWERS[n] (its valid, registered)
            length=Signal(16), count=Signal(8), empty=Signal())   # the frame's head, latched

    def _shift_in(self, m, r):
        """A byte taken: counted now, in the word in the next cycle."""
        f = self.i_frame.payload
        m.d.comb += r.shift.eq(1)
        m.d.sync += [r.byte.eq(f.data), r.nbyte.eq(r.nbyte + 1), r.done.eq(f.last)]

    @staticmethod
    def _goto(m, r, state):
        """Go to ``state``, keeping ``r.taking`` (high in the states that take bytes into the word) in step:
        every transition into or out of those states is made here."""
        m.d.sync += r.taking.eq(state in TAKING)
        m.next = state

    @staticmethod
    def _refuse(m, r, why):
        m.d.sync += r.code.eq(why)
        m.next = "DRAIN"

    def _head(self, m, r):
        """HEAD latches a frame's head, SIZE checks its length, DECIDE judges it: every ready and valid of
        the dispatcher is a function of registers alone, which keeps the checks' arithmetic out of the
        handshakes' paths."""
        f = self.i_frame.payload
        with m.State("HEAD"):
            with m.If(self.i_frame.valid):
                m.d.sync += [r.cmd.eq(f.cmd), r.length.eq(f.length), r.count.eq(f.data), r.empty.eq(f.empty),
                             r.nbyte.eq(0), r.done.eq(0)]
                m.next = "SIZE"
            with m.Elif(self.i_error.valid):       # a frame the receiver dropped
                m.d.comb += self.i_error.ready.eq(1)
                m.d.sync += [r.code.eq(self.i_error.payload), r.cmd.eq(0)]
                self._answer(m, r, "ERROR")
        with m.State("SIZE"):
            m.d.sync += r.fits.eq(0)
            with m.Switch(r.cmd):
                for cmd, size in r.sizes.items():
                    with m.Case(cmd):
                        m.d.sync += [r.sel.eq(cmd),
                                     r.fits.eq((r.length == 1 + _times(r.count, size)) & r.count.any() & ~r.empty)]
                with m.Case(Command.START):
                    m.d.sync += r.fits.eq((r.length == r.start_bytes) & ~r.empty)
                with m.Case(Command.STATUS):
                    m.d.sync += r.fits.eq(r.empty)
            m.next = "DECIDE"
        with m.State("DECIDE"):
            def judge(then, state_ok=None, refusal=None):
                """Refuse a frame of the wrong length, or one the engine's state does not allow (``refusal``
                unless ``state_ok``); else go on to the state ``then``."""
                with m.If(~r.fits):
                    self._refuse(m, r, FrameError.BAD_LENGTH)
                if state_ok is not None:
                    with m.Elif(~state_ok):
                        self._refuse(m, r, refusal)
                with m.Else():
                    self._goto(m, r, then)

            with m.Switch(r.cmd):
                for cmd in r.sizes:
                    with m.Case(cmd):
                        if cmd == Command.WEIGHT:       # weights only while idle, a step's data only while running
                            judge("COUNT", self.idle, FrameError.BUSY)
                        else:
                            judge("COUNT", ~self.idle, FrameError.NOT_RUNNING)
                with m.Case(Command.START):
                    judge("COLLECT", self.idle, FrameError.BUSY)
                with m.Case(Command.STATUS):
                    judge("EMPTY")
                with m.Default():
                    self._refuse(m, r, FrameError.UNKNOWN_COMMAND)

    def _transfers(self, m, r):
        """A stream frame's count byte, then its transfers to the engine; a frame without payload; the bytes
        of a refused frame."""
        take, last = self.i_frame.valid & self.i_frame.ready, self.i_frame.payload.last
        with m.State("COUNT"):                      # (the count was judged already)
            m.d.comb += self.i_frame.ready.eq(1)
            with m.If(take):
                self._goto(m, r, "STREAM")
        with m.State("EMPTY"):
            m.d.comb += self.i_frame.ready.eq(1)
            with m.If(take):
                self._answer(m, r, "STATUS")
        with m.State("DRAIN"):                      # a refused frame: its bytes go nowhere
            m.d.comb += self.i_frame.ready.eq(1)
            with m.If(take & last):
                self._answer(m, r, "ERROR")
        with m.State("STREAM"):
            m.d.comb += self.i_frame.ready.eq(1)
            with m.If(take):
                self._shift_in(m, r)
                with m.Switch(r.sel):
                    for n, (cmd, size) in enumerate(r.sizes.items()):
                        with m.Case(cmd):
                            with m.If(equals(r.nbyte, size - 1)):
                                m.d.sync += r.nbyte.eq(0)
                                self._goto(m, r, "LAND")
        with m.State("LAND"):                       # the transfer's last byte lands in the word
            with m.Switch(r.sel):
                for n, cmd in enumerate(r.sizes):
                    with m.Case(cmd):
                        m.d.sync += r.push.eq(1 << n)
            m.next = "PUSH"
        with m.State("PUSH"):
            for n, (cmd, port) in enumerate(r.targets.items()):     # (one of them: the frame's)
                with m.If(r.push[n]):
                    with m.If(port.ready):
                        m.d.sync += r.push.eq(0)
                        self._goto(m, r, "STREAM")
                        with m.If(r.done):
                            self._answer(m, r, "ACK")
                    if cmd != Command.WEIGHT:
                        # the sequence ended before this frame did: the rest goes nowhere
                        with m.Elif(self.idle):
                            m.d.sync += [r.code.eq(FrameError.NOT_RUNNING), r.push.eq(0)]
                            m.next = "OVERRUN"
        with m.State("OVERRUN"):
            with m.If(r.done):
                self._answer(m, r, "ERROR")
            with m.Else():
                m.next = "DRAIN"

    def _start(self, m, r):
        """A START frame: its payload collected, T and B checked (into a register), the run-time registers
        set, a start pulse."""
        c = self.config
        run = start_layout(c)(r.word[len(r.word) - 8 * r.start_bytes:][:start_layout(c).size])
        with m.State("COLLECT"):
            m.d.comb += self.i_frame.ready.eq(1)
            with m.If(self.i_frame.valid):
                self._shift_in(m, r)
                with m.If(self.i_frame.payload.last):
                    self._goto(m, r, "LAND_START")
        with m.State("LAND_START"):                 # the last byte lands in the word
            m.next = "CHECK"
        with m.State("CHECK"):                      # T and B judged into a register, acted on in APPLY
            m.d.sync += r.in_range.eq(~((run.seq_len == 0) | (run.seq_len > c.max_seq) | (run.batch == 0) |
                                    (run.batch > c.max_batch)))
            m.next = "APPLY"
        with m.State("APPLY"):
            with m.If(~r.in_range):
                m.d.sync += r.code.eq(FrameError.OUT_OF_RANGE)
                self._answer(m, r, "ERROR")
            with m.Else():
                m.d.sync += [self.tau.eq(run.tau), self.dense.eq(run.dense), self.seq_len.eq(run.seq_len),
                             self.batch.eq(run.batch), self.start.eq(1)]
                m.next = "FIRE"
        with m.State("FIRE"):                       # ``start`` is high (from a register) in this cycle only
            m.d.sync += self.start.eq(0)
            self._answer(m, r, "ACK")
