"""Frames of the host link (host -> board): checked as a whole before anything acts on them.

A frame is ``SYNC, CMD, LEN (2 bytes, little-endian), PAYLOAD (LEN bytes), CRC (2 bytes, big-endian)``
with SYNC = 0xA5 and CRC-16/CCITT-FALSE (``amaranth.lib.crc.catalog.CRC16_CCITT_FALSE``) over CMD,
LEN and PAYLOAD. :class:`FrameReceiver` stores the payload, checks the CRC, and only then replays the
frame on its output; a frame with a bad CRC, a length beyond ``max_payload``, or a gap of more than
``timeout`` cycles between its bytes is dropped whole and reported on ``o_error`` -- so a corrupted
frame can never reach the engine. Bytes outside a frame (before a SYNC) are skipped.

:func:`frame` builds the bytes of a frame on the host side (the same CRC, from the same catalog).
"""

import enum

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.crc.catalog import CRC16_CCITT_FALSE
from amaranth.lib.wiring import In, Out

from .bits import equals

__all__ = ["SYNC", "FrameError", "FrameReceiver", "frame", "crc16", "frame_layout"]

SYNC = 0xA5
_CRC = CRC16_CCITT_FALSE(data_width=8)


class FrameError(enum.IntEnum):
    """Why a frame was dropped (the value of ``o_error``'s payload)."""
    BAD_CRC = 1
    TOO_LONG = 2
    TIMEOUT = 3


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
    """One transfer of a checked frame: its command, one payload byte, whether it is the last one, and
    whether the frame has no payload at all (then ``data`` means nothing)."""
    return data.StructLayout({"cmd": 8, "data": 8, "last": 1, "empty": 1})


class FrameReceiver(wiring.Component):
    """Checks frames from a byte stream and replays the good ones; see the module docstring.

    Ports
    -----
    i_byte : stream of bytes (from the UART).
    o_frame : stream of ``frame_layout``: the payload of each good frame (one transfer if empty).
    o_error : stream of FrameError codes, one per dropped frame.
    """

    def __init__(self, max_payload=256, timeout=1 << 20):
        if not isinstance(max_payload, int) or not 1 <= max_payload <= 0xFFFF:
            self._MustUse__silence = True
            raise ValueError(f"max_payload must be an integer in [1, 65535], not {max_payload!r}")
        if not isinstance(timeout, int) or timeout < 2:
            self._MustUse__silence = True
            raise ValueError(f"timeout must be an integer >= 2 (cycles), not {timeout!r}")
        self.max_payload, self.timeout = max_payload, timeout
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
        count = Signal(16)                    # payload bytes stored / replayed
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
                with m.If(length > self.max_payload):
                    drop(FrameError.TOO_LONG)
                with m.Elif(length.any()):
                    m.next = "PAYLOAD"
                with m.Else():
                    m.next = "CRC"
            with m.State("PAYLOAD"):
                m.d.comb += self.i_byte.ready.eq(1)
                with m.If(take):
                    m.d.comb += [crc.valid.eq(1), wp.en.eq(1)]
                    m.d.sync += [count.eq(count + 1), idle.eq(0)]
                    with m.If(count == length - 1):
                        m.next = "CRC"
                self._tick(m, idle, drop)
            with m.State("CRC"):                  # two bytes, high first; the residue says whether they fit
                m.d.comb += self.i_byte.ready.eq(1)
                with m.If(take):
                    m.d.comb += crc.valid.eq(1)
                    m.d.sync += [count.eq(count + 1), idle.eq(0)]
                    with m.If(count == length + 1):
                        m.next = "VERDICT"
                self._tick(m, idle, drop)
            with m.State("VERDICT"):
                m.d.sync += count.eq(0)
                m.d.comb += rp.addr.eq(0)
                with m.If(crc.match_detected):
                    m.next = "REPLAY"
                with m.Else():
                    drop(FrameError.BAD_CRC)
            with m.State("REPLAY"):
                m.d.comb += [self.o_frame.valid.eq(1), self.o_frame.payload.cmd.eq(cmd),
                             self.o_frame.payload.data.eq(rp.data), self.o_frame.payload.empty.eq(~length.any()),
                             self.o_frame.payload.last.eq((count == length - 1) | ~length.any())]
                with m.If(self.o_frame.ready):
                    m.d.sync += count.eq(count + 1)
                    m.d.comb += rp.addr.eq(count + 1)
                    with m.If(self.o_frame.payload.last):
                        m.next = "SYNC"
        return m

    def _tick(self, m, idle, drop):
        """Within a frame: a gap longer than ``timeout`` cycles drops it."""
        with m.If(~(self.i_byte.valid & self.i_byte.ready)):
            m.d.sync += idle.eq(idle + 1)
            with m.If(idle == self.timeout - 1):
                drop(FrameError.TIMEOUT)
