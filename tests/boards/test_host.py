"""The host driver's own checks, against a scripted port (no hardware): a board with another
configuration, a silent board, a corrupted answer, a refusal, and a serial port that cannot be opened."""

import pytest

from boards.host import Board, BoardError
from golden_model.engine_config import EngineConfig
from hw.commands import Reply, config_ident, error_layout, status_layout
from hw.host_link import FrameError, byte_count, frame

CFG = EngineConfig(input_size=3, hidden_size=2, lanes=1, max_batch=2, max_seq=4)


def status_frame(ident, idle=1):
    lay = status_layout(CFG)
    bits = lay.const({"ident": ident, "idle": idle}).as_bits()
    return frame(Reply.STATUS, bits.to_bytes(byte_count(lay.size), "little"))


class ScriptedPort:
    """Answers each frame written with the next bytes of ``answers`` (pyserial's read semantics)."""

    def __init__(self, *answers):
        self.answers, self.buf, self.written = list(answers), b"", []

    def write(self, data):
        self.written.append(bytes(data))
        if self.answers:
            self.buf += self.answers.pop(0)
        return len(data)

    def read(self, n):
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


def test_a_board_with_another_configuration_is_refused():
    with pytest.raises(BoardError, match="another engine configuration"):
        Board(ScriptedPort(status_frame(config_ident(CFG) ^ 1)), CFG)
    assert Board(ScriptedPort(status_frame(config_ident(CFG))), CFG).config == CFG


def test_a_silent_board_and_a_corrupted_answer():
    with pytest.raises(BoardError, match="stopped answering"):
        Board(ScriptedPort(b""), CFG)
    bad = bytearray(status_frame(config_ident(CFG)))
    bad[5] ^= 1
    with pytest.raises(BoardError, match="failed its CRC"):
        Board(ScriptedPort(bytes(bad)), CFG)


def test_a_damaged_frame_is_sent_again_and_a_refusal_raises():
    err = lambda code: frame(Reply.ERROR, error_layout().const({"code": code, "cmd": 5}).as_bits().to_bytes(2, "little"))
    port = ScriptedPort(err(FrameError.BAD_CRC), status_frame(config_ident(CFG)))
    board = Board(port, CFG)
    assert board.link.retries == 1 and len(port.written) == 2 and port.written[0] == port.written[1]
    port = ScriptedPort(err(FrameError.BUSY))
    with pytest.raises(BoardError, match="refused a STATUS frame: BUSY"):
        Board(port, CFG)
    assert len(port.written) == 1


def test_a_serial_port_that_cannot_be_opened():
    with pytest.raises(BoardError, match="cannot open the serial port /dev/no-such-tty"):
        Board.open("/dev/no-such-tty", CFG)
