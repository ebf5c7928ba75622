"""Frames of the host link: checked as a whole before anything acts on them, and sent with their CRC.

A frame is ``SYNC, CMD, LEN (2 bytes, little-endian), PAYLOAD (LEN bytes), CRC (2 bytes, big-endian)``
with SYNC = 0xA5 and CRC-16/CCITT-FALSE (``amaranth.lib.crc.catalog.CRC16_CCITT_FALSE``) over CMD,
LEN and PAYLOAD. :class:`FrameReceiver` stores the payload, checks the CRC, and only then replays the
frame on its output; a frame with a bad CRC, a length beyond ``max_payload``, or a gap of more than
``timeout`` cycles between its bytes is dropped whole (a frame too long to store is read to its end
first, so none of its bytes is taken for the start of another) and reported on ``o_error`` -- so a corrupted
frame can never reach the engine. Bytes outside a frame (before a SYNC) are skipped.

:func:`frame` builds the bytes of a frame on the host side (the same CRC, from the same catalog).

The board answers in frames of the same format: :class:`FrameSender` adds SYNC, LEN and CRC to a
stream of payload bytes, :class:`Framer` turns each word of a stream into one frame, and
:class:`FrameArbiter` lets several framers share one sender a whole frame at a time.
"""

import enum

from amaranth.hdl import Cat, Const, Module, Signal, Value
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.crc.catalog import CRC16_CCITT_FALSE
from amaranth.lib.wiring import In, Out

from golden_model.checks import check_size
from golden_model.errors import ConfigError

from .bits import equals
from .primitives import copy, family

__all__ = ["SYNC", "FrameError", "FrameReceiver", "FrameSender", "Framer", "FrameArbiter", "frame", "crc16",
           "frame_layout", "send_layout", "byte_count"]

SYNC = 0xA5
_CRC = CRC16_CCITT_FALSE(data_width=8)


class FrameError(enum.IntEnum):
    """Why a frame was refused: dropped by the receiver (BAD_CRC, TOO_LONG, TIMEOUT: the value of
    :class:`FrameReceiver`'s ``o_error``), or checked and refused by the board's command dispatcher
    (``hw.commands``) before it touched the engine."""
    BAD_CRC = 1
    TOO_LONG = 2
    TIMEOUT = 3
    UNKNOWN_COMMAND = 4
    BAD_LENGTH = 5
    BUSY = 6           # weights or a start while a sequence runs
    NOT_RUNNING = 7    # per-step data while no sequence runs (or more than the sequence takes)
    OUT_OF_RANGE = 8   # a start with T or B beyond what the engine was built for


def byte_count(width):
    """Bytes that carry a ``width``-bit word (little-endian, the top byte zero-padded)."""
    return max(1, -(-width // 8))


def crc16(payload):
    """CRC-16/CCITT-FALSE of ``payload`` (bytes)."""
    return _CRC.compute(bytes(payload))


def frame(cmd, payload=b""):
    """The bytes of a frame carrying ``cmd`` (0..255) and ``payload`` (at most 65535 bytes)."""
    payload = bytes(payload)
    if not 0 <= cmd <= 255 or len(payload) > 0xFFFF:
        raise ValueError(f"a frame needs a command byte and at most 65535 payload bytes, not {cmd!r}, {len(payload)}")
    body = bytes([cmd, len(payload) & 0xFF, len(payload) >> 8]) + payload
    return bytes([SYNC]) + body + crc16(body).to_bytes(2, "big")


def frame_layout():
    """One transfer of a checked frame: its command and payload length, one payload byte, whether it is
    the last one, and whether the frame has no payload at all (then ``data`` means nothing)."""
    return data.StructLayout({"cmd": 8, "length": 16, "data": 8, "last": 1, "empty": 1})


def send_layout():
    """One payload byte of a frame to send, with the frame's command and length (the same in every
    byte of the frame) and whether it is the last byte. Frames sent by the board are never empty."""
    return data.StructLayout({"cmd": 8, "length": 16, "data": 8, "last": 1})


class FrameReceiver(wiring.Component):
    """Checks frames from a byte stream and replays the good ones; see the module docstring.

    Ports
    -----
    i_byte : stream of bytes (from the UART).
    o_frame : stream of ``frame_layout``: the payload of each good frame (one transfer if empty).
    o_error : stream of FrameError codes, one per dropped frame.
    """

    def __init__(self, max_payload=256, timeout=1 << 20):
        if check_size("max_payload", max_payload) > 0xFFFF:
            raise ConfigError(f"max_payload must be at most 65535 (a frame's length field), not {max_payload!r}")
        self.max_payload, self.timeout = max_payload, check_size("timeout (cycles)", timeout, minimum=2)
        super().__init__({
            "i_byte": In(stream.Signature(8)),
            "o_frame": Out(stream.Signature(frame_layout())),
            "o_error": Out(stream.Signature(FrameError)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = crc = _CRC.create()
        m.submodules.buf = buf = memory.Memory(shape=8, depth=self.max_payload, init=[])
        wp, rp = buf.write_port(), buf.read_port()
        cmd, length = Signal(8), Signal(16)
        count = Signal(17)                    # payload bytes stored / replayed (or skipped, with the CRC)
        # the counts the frame's states end at (latched in CHECK_LEN: no adder between count and a state)
        last_payload, last_crc = Signal(17), Signal(17)
        ahead = Signal(17)                    # count + 1 during the replay (no adder on the read address)
        idle = Signal(range(self.timeout + 1))
        byte = self.i_byte.payload
        take = self.i_byte.valid & self.i_byte.ready
        m.d.comb += [crc.data.eq(byte), wp.data.eq(byte), wp.addr.eq(count), rp.addr.eq(count)]
        # (the read port answers a cycle later, so during the replay it is given the next address)
        error = Signal(FrameError)
        m.d.comb += [self.o_error.payload.eq(error)]
        with m.If(self.o_error.ready):
            m.d.sync += self.o_error.valid.eq(0)

        def drop(code):
            m.d.sync += [error.eq(code), self.o_error.valid.eq(1)]
            m.next = "SYNC"

        with m.FSM():
            with m.State("SYNC"):
                m.d.comb += self.i_byte.ready.eq(1)
                with m.If(take & equals(byte, SYNC)):
                    m.d.comb += crc.start.eq(1)
                    m.d.sync += [idle.eq(0), count.eq(0)]
                    m.next = "CMD"
            for state, nxt, store in (("CMD", "LEN0", lambda: cmd.eq(byte)),
                                      ("LEN0", "LEN1", lambda: length[:8].eq(byte)),
                                      ("LEN1", "CHECK_LEN", lambda: length[8:].eq(byte))):
                with m.State(state):
                    m.d.comb += self.i_byte.ready.eq(1)
                    with m.If(take):
                        m.d.comb += crc.valid.eq(1)
                        m.d.sync += [store(), idle.eq(0)]
                        m.next = nxt
                    self._tick(m, idle, drop)
            with m.State("CHECK_LEN"):
                m.d.sync += [last_payload.eq(length - 1), last_crc.eq(length + 1)]
                with m.If(length > self.max_payload):
                    m.next = "SKIP"
                with m.Elif(length.any()):
                    m.next = "PAYLOAD"
                with m.Else():
                    m.next = "CRC"
            with m.State("SKIP"):                 # a frame too long to store: its bytes, then the error
                m.d.comb += self.i_byte.ready.eq(1)
                with m.If(take):
                    m.d.sync += [count.eq(count + 1), idle.eq(0)]
                    with m.If(count == last_crc):
                        drop(FrameError.TOO_LONG)
                self._tick(m, idle, drop)
            with m.State("PAYLOAD"):
                m.d.comb += self.i_byte.ready.eq(1)
                with m.If(take):
                    m.d.comb += [crc.valid.eq(1), wp.en.eq(1)]
                    m.d.sync += [count.eq(count + 1), idle.eq(0)]
                    with m.If(count == last_payload):
                        m.next = "CRC"
                self._tick(m, idle, drop)
            with m.State("CRC"):                  # two bytes, high first; the residue says whether they fit
                m.d.comb += self.i_byte.ready.eq(1)
                with m.If(take):
                    m.d.comb += crc.valid.eq(1)
                    m.d.sync += [count.eq(count + 1), idle.eq(0)]
                    with m.If(count == last_crc):
                        m.next = "VERDICT"
                self._tick(m, idle, drop)
            with m.State("VERDICT"):
                m.d.sync += [count.eq(0), ahead.eq(1)]
                m.d.comb += rp.addr.eq(0)
                with m.If(crc.match_detected):
                    m.next = "REPLAY"
                with m.Else():
                    drop(FrameError.BAD_CRC)
            with m.State("REPLAY"):
                m.d.comb += [self.o_frame.valid.eq(1), self.o_frame.payload.cmd.eq(cmd),
                             self.o_frame.payload.length.eq(length),
                             self.o_frame.payload.data.eq(rp.data), self.o_frame.payload.empty.eq(~length.any()),
                             self.o_frame.payload.last.eq((count == last_payload) | ~length.any())]
                with m.If(self.o_frame.ready):
                    m.d.sync += [count.eq(ahead), ahead.eq(ahead + 1)]
                    m.d.comb += rp.addr.eq(ahead)
                    with m.If(self.o_frame.payload.last):
                        m.next = "SYNC"
        return m

    def _tick(self, m, idle, drop):
        """Within a frame: a gap longer than ``timeout`` cycles drops it."""
        with m.If(~(self.i_byte.valid & self.i_byte.ready)):
            m.d.sync += idle.eq(idle + 1)
            with m.If(idle == self.timeout - 1):
                drop(FrameError.TIMEOUT)


class FrameSender(wiring.Component):
    """Frames out as bytes: SYNC, CMD, LEN (little-endian), the payload, CRC-16 (high byte first).

    Ports
    -----
    i_frame : stream of ``send_layout``: the payload bytes of each frame, ``last`` on the final one
        (``cmd`` and ``length`` are read from the first byte; ``length`` must count the bytes).
    o_byte : stream of bytes (to the UART).
    """

    i_frame: In(stream.Signature(send_layout()))
    o_byte: Out(stream.Signature(8))

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = crc = _CRC.create()
        head = self.i_frame.payload
        sent = self.o_byte.valid & self.o_byte.ready
        m.d.comb += crc.data.eq(self.o_byte.payload)
        with m.FSM():
            with m.State("SYNC"):
                m.d.comb += [self.o_byte.payload.eq(SYNC), self.o_byte.valid.eq(self.i_frame.valid),
                             crc.start.eq(1)]
                with m.If(sent):
                    m.next = "CMD"
            for state, value, nxt in (("CMD", head.cmd, "LEN0"), ("LEN0", head.length[:8], "LEN1"),
                                      ("LEN1", head.length[8:], "PAYLOAD")):
                with m.State(state):
                    m.d.comb += [self.o_byte.payload.eq(value), self.o_byte.valid.eq(1), crc.valid.eq(sent)]
                    with m.If(sent):
                        m.next = nxt
            with m.State("PAYLOAD"):
                m.d.comb += [self.o_byte.payload.eq(head.data), self.o_byte.valid.eq(self.i_frame.valid),
                             self.i_frame.ready.eq(self.o_byte.ready), crc.valid.eq(sent)]
                with m.If(sent & head.last):
                    m.next = "CRC1"
            with m.State("CRC1"):
                m.d.comb += [self.o_byte.payload.eq(crc.crc[8:]), self.o_byte.valid.eq(1)]
                with m.If(sent):
                    m.next = "CRC0"
            with m.State("CRC0"):
                m.d.comb += [self.o_byte.payload.eq(crc.crc[:8]), self.o_byte.valid.eq(1)]
                with m.If(sent):
                    m.next = "SYNC"
        return m


class Framer(wiring.Component):
    """Each word of ``i_word`` out as one frame with command ``cmd``: ``byte_count(shape)`` payload
    bytes, least significant first.

    No net of the framer's reaches the whole word within a cycle (a word is as wide as the engine's
    status, 190 bits at H = 64, whose flip-flops sit beside the counters they copy, spread over the chip):

    - a word is taken two cycles after it is offered (``i_word.ready`` is a register; a source keeps its
      valid and payload until the transfer, as the stream rules say), and the word's bytes load in that
      cycle through a registered fan-out of two levels: a copy of the decision per ``COPIES_PER_BRANCH``
      groups of ``BYTES_PER_COPY`` bytes, then one per group (hw.primitives.copy, each placed near its
      bytes);
    - a byte is offered from a register (``offer``) and the word moves on to its next byte two cycles
      after that byte was taken (a byte every third cycle at most, far above any UART's rate), through a
      tree of copies of that decision too.

    The output's ready and the input's valid thus reach a few registers only. (The word's enable from the
    answer's valid and the arbiter's grant, through two LUTs to all 190 flip-flops, was the ULX3S
    critical path at two of five seeds: 12.9-14.8 ns, mostly routing; one level of copies, a LUT driving
    38 of them along the 608-bit dW word, was 11.2-12.5 ns at two seeds, 7-7.6 ns of it one route.)

    Parameters
    ----------
    cmd : int
        The command byte of every frame.
    shape : shape-castable
        The words' shape (a layout is sent as its bits).
    """

    #: Bytes of the word loaded and shifted by one copy of the framer's load and advance registers.
    BYTES_PER_COPY = 2
    #: Copies of the load and advance registers fed by one copy of the level before them.
    COPIES_PER_BRANCH = 8

    def __init__(self, cmd, shape):
        if check_size("cmd", cmd, minimum=0) > 255:
            raise ConfigError(f"cmd must be a byte (0..255), not {cmd!r}")
        self.cmd = cmd
        super().__init__({"i_word": In(stream.Signature(shape)), "o_frame": Out(stream.Signature(send_layout()))})

    def elaborate(self, platform):
        m = Module()
        form = family(platform)
        bits = Value.cast(self.i_word.payload).as_unsigned()
        n = byte_count(len(bits))
        bits = Cat(bits, Const(0, 8 * n - len(bits)))                 # whole bytes
        word = [Signal(8, name=f"word{j}", reset_less=True) for j in range(n)]
        index = Signal(range(max(n, 2)))
        arm, load = Signal(), Signal()   # a word will be taken / is taken (i_word.ready) and loaded
        full = Signal()                  # word holds a frame not yet sent to its end
        offer = Signal()                 # word's low byte is offered (o.valid)
        step, advance = Signal(), Signal()   # a byte was taken two cycles ago: the word moves on to the next one
        o = self.o_frame
        taken = o.valid & o.ready
        m.d.comb += [o.payload.cmd.eq(self.cmd), o.payload.length.eq(n), o.payload.data.eq(word[0]),
                     o.payload.last.eq(equals(index, n - 1)), o.valid.eq(offer), self.i_word.ready.eq(load)]
        load_next = self.i_word.valid & ~full & ~arm & ~load
        advance_next = taken & ~o.payload.last
        m.d.sync += [arm.eq(load_next), load.eq(arm), step.eq(advance_next), advance.eq(step)]
        with m.If(load):
            m.d.sync += [index.eq(0), full.eq(1), offer.eq(1)]
        with m.If(taken):
            m.d.sync += offer.eq(0)
            with m.If(o.payload.last):
                m.d.sync += full.eq(0)
        with m.If(advance):
            m.d.sync += [index.eq(index + 1), offer.eq(1)]
        branches = {}
        for g in range(0, n, self.BYTES_PER_COPY):
            group = g // self.BYTES_PER_COPY
            branch = group // self.COPIES_PER_BRANCH
            if branch not in branches:
                branches[branch] = (copy(m, load_next, f"arm_{branch}", family=form, reset=True),
                                    copy(m, advance_next, f"step_{branch}", family=form, reset=True))
            arms, steps = branches[branch]
            loads = copy(m, arms, f"load_{group}", family=form, reset=True)
            shifts = copy(m, steps, f"advance_{group}", family=form, reset=True)
            for j in range(g, min(g + self.BYTES_PER_COPY, n)):
                with m.If(shifts):
                    m.d.sync += word[j].eq(word[j + 1] if j + 1 < n else 0)
                with m.Elif(loads):
                    m.d.sync += word[j].eq(bits[8 * j:8 * j + 8])
        return m


class FrameArbiter(wiring.Component):
    """``count`` frame streams (``i_frame[n]``, ``send_layout``) onto one, a whole frame at a time;
    the lowest-numbered waiting input goes first.

    The input to pass is chosen into a register in the cycle before its frame goes through (a cycle per
    frame), so no valid reaches the output's payload or any input's ready within a cycle."""

    def __init__(self, count):
        self.count = check_size("count", count)
        super().__init__({"i_frame": In(stream.Signature(send_layout())).array(count),
                          "o_frame": Out(stream.Signature(send_layout()))})

    def elaborate(self, platform):
        m = Module()
        busy = Signal()                                # a frame of input ``grant`` goes through
        grant = Signal(range(self.count))
        choice = Signal(range(self.count))
        for n in reversed(range(self.count)):          # the lowest-numbered valid input wins
            with m.If(self.i_frame[n].valid):
                m.d.comb += choice.eq(n)
        with m.If(~busy):
            with m.If(Cat(i.valid for i in self.i_frame).any()):
                m.d.sync += [busy.eq(1), grant.eq(choice)]
        with m.Else():
            with m.Switch(grant):
                for n in range(self.count):
                    with m.Case(n):
                        wiring.connect(m, wiring.flipped(self.i_frame[n]), wiring.flipped(self.o_frame))
            # (the grant is held to the frame's last byte, and its first byte stays offered while the sender
            # reads the frame's command and length from it for the header, before it takes any payload)
            with m.If(self.o_frame.valid & self.o_frame.ready & self.o_frame.payload.last):
                m.d.sync += busy.eq(0)
        return m
