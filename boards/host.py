"""The host side of the board's UART link: run sequences on a board and get the engine's results.

    from boards.host import Board
    board = Board.open("/dev/ttyUSB1", config)            # pyserial, 115200 baud

    board.load_weights(inputs.W)
    result = board.run(inputs)             # BoardRun: outputs (dx, dh0, dc0, dW, db), counters, flags

The port may be anything with pyserial's ``write(bytes)`` and ``read(n)`` (``read`` returns fewer
bytes when its timeout passes): the simulated board (``boards/tb_board.py``) passes an object that
drives the simulated UART pins, so this exact code is what the co-simulation tests.

Every frame waits for its answer before the next is sent (the link has no flow control). Output
frames arrive in between and are collected; frames from the board carry a CRC, and a frame that
fails it is an error (the results would be incomplete), never silently skipped.

The bytes of every frame come from the hardware's own definitions (hw.commands, hw.layouts,
hw.transfers: Amaranth data layouts, packed and unpacked as the board does), so the host imports
Amaranth; it elaborates no hardware.
"""

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Const

from golden_model.engine_config import check_config
from golden_model.errors import ConfigError, ZskipError, require_module
from hw.commands import (MAX_COUNT, MAX_PAYLOAD, Command, Reply, config_ident, error_layout, start_layout, status_layout,
                         stream_layouts)
from hw.fixed import shape_of
from hw.host_link import SYNC, FrameError, byte_count, crc16, frame
from hw.layouts import chunk_layout, field_values, state_layout
from hw.transfers import a_transfers, decode_outputs, element_transfers, output_counts, weight_transfers

__all__ = ["Board", "BoardError", "BoardRun", "HostLink", "Status"]



class BoardError(ZskipError, RuntimeError):
    """The board did not answer, answered with an error, or sent a corrupted frame."""


@dataclass
class Status:
    ident: int
    idle: bool
    refused: bool
    flags: dict
    stall: int
    counters: dict


@dataclass
class BoardRun:
    """One sequence's results from the board: ``outputs`` (hw.transfers.Outputs), the engine's
    counters and sticky flags, and the cycles it waited for the host (``stall``)."""
    outputs: object
    counters: dict
    flags: dict
    stall: int


def _bytes(layout, value):
    """A transfer (list, dict or int) as the little-endian bytes of its layout's bits."""
    bits = layout.const(value).as_bits() if not isinstance(value, int) else value & ((1 << layout.size) - 1)
    return bits.to_bytes(byte_count(layout.size), "little")


class HostLink:
    """Frames over a byte port; see the module docstring. ``outputs`` collects the payloads of the
    board's output frames (DX, STATE, DW, DB) in arrival order."""

    #: Refusals after which a frame is sent again: it was damaged on the way, and nothing of it acted.
    RESEND = (FrameError.BAD_CRC, FrameError.TOO_LONG, FrameError.TIMEOUT)

    def __init__(self, port, *, attempts=3):
        self.port = port
        self.attempts = attempts
        self.retries = 0                 # frames sent again so far
        self.sent = []                   # (command, payload bytes) of every frame sent, for error messages
        self.outputs = {r: [] for r in (Reply.DX, Reply.STATE, Reply.DW, Reply.DB)}

    def _read(self, n):
        data = self.port.read(n)
        if len(data) < n:
            last = f"; the last frame sent was {_command_name(self.sent[-1][0])} ({self.sent[-1][1]} bytes), " \
                   f"frame {len(self.sent)}" if self.sent else ""
            raise BoardError(f"the board stopped answering ({len(data)} of {n} bytes before the port's timeout{last})")
        return data

    def receive(self):
        """The next frame from the board as (command, payload); output frames are returned too."""
        while self._read(1)[0] != SYNC:
            pass
        head = self._read(3)
        length = int.from_bytes(head[1:3], "little")
        rest = self._read(length + 2)
        body, crc = head + rest[:length], int.from_bytes(rest[length:], "big")
        if crc16(body) != crc:
            raise BoardError(f"a frame from the board failed its CRC (command 0x{head[0]:02x}, {length} bytes); "
                             "the link is unreliable: lower the baud rate or check the cable")
        return head[0], rest[:length]

    def request(self, cmd, payload=b""):
        """Send one frame and return the board's answer to it (ACK's or STATUS's payload); output
        frames that arrive meanwhile are collected. A frame damaged on the way is sent again (up to
        ``attempts`` times in all); any other ERROR answer raises BoardError."""
        for attempt in range(self.attempts):
            self.sent.append((cmd, len(payload)))
            self.port.write(frame(cmd, payload))
            code = self._answer()
            if code is None:
                return self._body
            if code not in self.RESEND or attempt == self.attempts - 1:
                break
            self.retries += 1
        name = FrameError(code).name if code in FrameError._value2member_map_ else f"code {code}"
        raise BoardError(f"the board refused a {_command_name(cmd)} frame: {name}")

    def _answer(self):
        """Wait for the answer to the frame just sent: None (and ``_body``) for ACK or STATUS, the
        error code for ERROR."""
        while True:
            got, body = self.receive()
            if got in self.outputs:
                self.outputs[got].append(body)
            elif got == Reply.ERROR:
                return int(error_layout().from_bits(int.from_bytes(body, "little")).code)
            elif got in (Reply.ACK, Reply.STATUS):
                self._body = body
                return None
            else:
                raise BoardError(f"unexpected frame 0x{got:02x} from the board")


def _command_name(cmd):
    return Command(cmd).name if cmd in Command._value2member_map_ else f"0x{cmd:02x}"


class Board:
    """An engine on a board behind ``port`` (pyserial-like), built for ``config`` (an EngineConfig)."""

    def __init__(self, port, config, *, check=True):
        check_config(config)
        self.config = config
        self.link = HostLink(port)
        if check:
            got = self.status().ident
            if got != config_ident(config):
                raise BoardError(f"the board runs another engine configuration (ident 0x{got:08x}, this host's "
                                 f"0x{config_ident(config):08x}); build and load the bitstream for this one")

    @classmethod
    def open(cls, device, config, *, baud=115200, timeout_s=2.0):
        """A Board on the serial port ``device`` (pyserial)."""
        serial = require_module("serial", "pyserial", ".venv/bin/pip install pyserial==3.5", "talking to a board")
        try:
            port = serial.Serial(device, baud, timeout=timeout_s)
        except serial.SerialException as e:
            raise BoardError(f"cannot open the serial port {device}: {e}") from None
        return cls(port, config)

    def status(self):
        lay = status_layout(self.config)
        body = self.link.request(Command.STATUS)
        v = lay.from_bits(int.from_bytes(body, "little"))
        return Status(ident=int(v.ident), idle=bool(v.idle), refused=bool(v.refused),
                      flags={k: bool(x) for k, x in field_values(v.flags).items()},
                      stall=int(v.stall), counters=field_values(v.counters))

    def _send(self, cmd, transfers):
        layout = stream_layouts(self.config)[cmd]
        size = byte_count(layout.size)
        per_frame = min(MAX_COUNT, (MAX_PAYLOAD - 1) // size)
        for i in range(0, len(transfers), per_frame):
            part = transfers[i:i + per_frame]
            self.link.request(cmd, bytes([len(part)]) + b"".join(_bytes(layout, t) for t in part))

    def load_weights(self, W):
        """Load W (4H, N) in the weight format; the engine keeps it across sequences."""
        c = self.config
        W = np.asarray(W)
        if W.shape != (c.n_rows, c.n_inputs) or W.dtype.kind not in "iu" or not c.weight.contains(W):
            raise ConfigError(f"W must be integers of shape {(c.n_rows, c.n_inputs)} in {c.weight}")
        self._wait_idle()
        self._send(Command.WEIGHT, weight_transfers(c, W))

    def _wait_idle(self, tries=1000):
        for _ in range(tries):
            s = self.status()
            if s.idle:
                return s
        got = {name: len(q) for name, q in self.link.outputs.items()}
        raise BoardError(f"the engine did not become idle ({tries} status requests; last status {s}; "
                         f"output frames so far {got})")

    def run(self, inputs, *, dense=False, tau=None):
        """Run one sequence (EngineInputs; W must be loaded) and return a BoardRun."""
        c = self.config
        inputs.check(c)
        T, B = inputs.dh.shape[:2]
        tau = int(inputs.tau if tau is None else tau)
        self._wait_idle()
        for q in self.link.outputs.values():
            q.clear()
        self.link.request(Command.START, _bytes(start_layout(c), {"tau": tau, "dense": int(dense),
                                                                 "seq_len": T, "batch": B}))
        # a_t of the next step before this step's elements (boards.top explains why)
        self._send(Command.A, a_transfers(c, inputs, T - 1))
        for t in range(T - 1, -1, -1):
            if t > 0:
                self._send(Command.A, a_transfers(c, inputs, t - 1))
            self._send(Command.ELEM, element_transfers(c, inputs, t))
        counts = output_counts(c, T, B)
        want = {Reply.DX: counts["dx"], Reply.STATE: counts["state"], Reply.DW: counts["dw"], Reply.DB: counts["db"]}
        while any(len(self.link.outputs[r]) < n for r, n in want.items()):
            got, body = self.link.receive()
            if got not in self.link.outputs:
                raise BoardError(f"unexpected frame 0x{got:02x} from the board while reading results")
            self.link.outputs[got].append(body)
        status = self._wait_idle()
        return BoardRun(outputs=self._decode(T, B), counters=status.counters, flags=status.flags, stall=status.stall)

    def _decode(self, T, B):
        c = self.config
        raw = {r: [int.from_bytes(b, "little") for b in q] for r, q in self.link.outputs.items()}
        gl, wl, sl = chunk_layout(c, c.grad), chunk_layout(c, c.dw_acc), state_layout(c)
        P = c.lanes
        dx = [[int(gl.from_bits(w)[p]) for p in range(P)] for w in raw[Reply.DX]]
        dw = [[int(wl.from_bits(w)[p]) for p in range(P)] for w in raw[Reply.DW]]
        state = [{"dh0": int(v.dh0), "dc0": int(v.dc0)} for v in (sl.from_bits(w) for w in raw[Reply.STATE])]
        db = [Const(w, shape_of(c.db_acc)).value for w in raw[Reply.DB]]
        return decode_outputs(c, T, B, dx, state, dw, db)
