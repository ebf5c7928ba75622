# amaranth: UnusedElaboratable=no
"""Host-link frames: good frames come out whole and only after their CRC is checked; a corrupted,
over-long or truncated frame is dropped whole with its reason, and the next good frame still arrives."""

import random

import pytest
from amaranth.sim import Simulator

from hw.host_link import SYNC, FrameError, FrameReceiver, byte_count, crc16, frame
from sim.streams import consumer, producer, watchdog


def test_frame_bytes():
    f = frame(0x12, b"\x01\x02\x03")
    assert f[0] == SYNC and f[1] == 0x12 and f[2:4] == b"\x03\x00" and f[4:7] == b"\x01\x02\x03"
    assert int.from_bytes(f[-2:], "big") == crc16(f[1:-2])
    assert crc16(b"123456789") == 0x29B1          # the catalogue's check value
    with pytest.raises(ValueError):
        frame(256)


def run(stream_bytes, *, max_payload=16, timeout=64, gap=0.3, stall=0.3, seed=0, frames_out=None, errors_out=None):
    dut = FrameReceiver(max_payload=max_payload, timeout=timeout)
    got, errs = [], []
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer(dut.i_byte, list(stream_bytes), gap=gap, seed=seed))

    async def collect(ctx):
        rng = random.Random(seed)
        while True:
            ready = rng.random() >= stall
            ctx.set(dut.o_frame.ready, ready)
            ctx.set(dut.o_error.ready, 1)
            _, _, fv, fp, ev, ep = await ctx.tick().sample(dut.o_frame.valid, dut.o_frame.payload,
                                                          dut.o_error.valid, dut.o_error.payload)
            if fv and ready:
                got.append((int(fp.cmd), None if fp.empty else int(fp.data), int(fp.last)))
            if ev:
                errs.append(FrameError(ep))

    sim.add_process(collect)
    sim.run_until(1e-8 * (len(stream_bytes) * 8 + 4 * timeout + 200))
    return got, errs


def frames_of(got):
    """Transfers -> [(cmd, payload bytes)]."""
    out, cur = [], []
    for cmd, byte, last in got:
        if byte is not None:
            cur.append(byte)
        if last:
            out.append((cmd, bytes(cur)))
            cur = []
    return out


def test_good_frames_come_out_whole():
    msgs = [(1, b""), (2, bytes(range(16))), (3, b"\xa5\xa5"), (0xFF, b"x")]
    stream = b"\x00\x17" + b"".join(frame(c, p) for c, p in msgs)    # garbage before the first SYNC
    got, errs = run(stream)
    assert frames_of(got) == msgs and errs == []


@pytest.mark.parametrize("where", [1, 2, 5, -1])
def test_a_corrupted_byte_drops_the_frame_and_the_next_one_arrives(where):
    bad = bytearray(frame(7, b"abcdef"))
    bad[where] ^= 0x10
    # (a damaged length makes the receiver count the next frame's bytes as this one's: the host sends
    # the next frame only after the answer, so the test does the same here)
    got, errs = run(bytes(bad))
    assert got == [] and errs and set(errs) <= {FrameError.BAD_CRC, FrameError.TOO_LONG, FrameError.TIMEOUT}
    if where != 2:
        got, errs = run(bytes(bad) + frame(8, b"ok"))
        assert frames_of(got) == [(8, b"ok")]


def test_too_long_and_truncated_frames():
    got, errs = run(frame(1, bytes(17)) + frame(2, b"z"), max_payload=16)
    assert errs[0] == FrameError.TOO_LONG and frames_of(got)[-1] == (2, b"z")
    got, errs = run(frame(3, b"abcd")[:-3], gap=0.0, stall=0.0)       # the host stopped mid-frame
    assert errs == [FrameError.TIMEOUT] and got == []


@pytest.mark.parametrize("bad", [dict(max_payload=0), dict(max_payload=70000), dict(timeout=1)])
def test_parameters_are_validated(bad):
    with pytest.raises(ValueError):
        FrameReceiver(**bad)


def send_words(words, *, shapes, gap, stall, seed):
    """Framers (one per shape, command = its index) -> FrameArbiter; returns the transfers taken from
    the arbiter as (cmd, byte, last, length)."""
    from amaranth.hdl import Module
    from amaranth.lib import wiring

    from hw.host_link import FrameArbiter, Framer

    m = Module()
    m.submodules.arbiter = arb = FrameArbiter(len(shapes))
    framers = []
    for cmd, shape in enumerate(shapes):
        m.submodules[f"framer{cmd}"] = framer = Framer(cmd, shape)
        wiring.connect(m, framer.o_frame, arb.i_frame[cmd])
        framers.append(framer)
    got = []
    total = sum(byte_count(shapes[cmd]) * len(ws) for cmd, ws in words.items())
    sim = Simulator(m)
    sim.add_clock(1e-8)
    for cmd, ws in words.items():
        sim.add_process(producer(framers[cmd].i_word, ws, gap=gap, seed=seed + cmd))   # (done when taken)
    sim.add_testbench(consumer(arb.o_frame, total, got, stall=stall, seed=seed + 99, check_rules=True,
                               convert=lambda p: (int(p.cmd), int(p.data), int(p.last), int(p.length))))
    sim.add_process(watchdog(20 * total + 200, "framers"))
    sim.run()
    return got


@pytest.mark.parametrize("gap, stall, seed", [(0.0, 0.0, 0), (0.5, 0.5, 1), (0.1, 0.8, 2), (0.8, 0.1, 3)])
def test_framers_through_the_arbiter_lose_and_repeat_nothing(gap, stall, seed):
    """Every word comes out as one whole frame of its framer, bytes least significant first, in each
    framer's order; frames are never interleaved, under random gaps and back-pressure."""
    rng = random.Random(seed)
    shapes = [8, 13, 40]
    words = {cmd: [rng.getrandbits(shape) for _ in range(5)] for cmd, shape in enumerate(shapes)}
    got = send_words(words, shapes=shapes, gap=gap, stall=stall, seed=seed)
    frames, current = {cmd: [] for cmd in words}, []
    for cmd, byte, last, length in got:
        assert length == byte_count(shapes[cmd])
        assert not current or current[0][0] == cmd              # no interleaving within a frame
        current.append((cmd, byte))
        if last:
            assert len(current) == length
            frames[cmd].append(int.from_bytes(bytes(b for _, b in current), "little"))
            current = []
    assert current == [] and frames == words


def test_the_ecp5_framer_loads_and_shifts_its_word_through_a_copy_per_two_bytes():
    """The status word (190 bits, 24 bytes): 12 kept copies of the load register and 12 of the shift register
    (Lattice flip-flop instances, which Yosys does not merge), each fed by one of 2 copies of the level
    before (8 copies per branch); none in the generic form."""
    import re
    from amaranth.back import rtlil
    from hw.host_link import Framer
    from sim.netlist import Ecp5Netlist
    text = rtlil.convert(Framer(0x82, 190), platform=Ecp5Netlist())
    copies = re.findall(r"cell \\FD1P3IX \\(load|advance)_(\d+)_ff0\b", text)
    assert sorted(copies) == sorted((kind, str(g)) for kind in ("load", "advance") for g in range(12))
    branches = re.findall(r"cell \\FD1P3IX \\(arm|step)_(\d+)_ff0\b", text)
    assert sorted(branches) == sorted((kind, str(b)) for kind in ("arm", "step") for b in range(2))
    assert "FD1P3IX" not in rtlil.convert(Framer(0x82, 190))


def test_the_ecp5_dispatcher_shifts_its_word_through_a_copy_per_two_bytes():
    """The dispatcher's transfer word (as wide as its widest transfer: here an element, 14 bytes) shifts each
    byte in through kept copies of its shift register, one per two bytes
    (Lattice flip-flop instances), none in the generic form; the word is whole when a transfer is offered
    (tests/boards/test_host_link_sim.py runs the board through it)."""
    import re
    from amaranth.back import rtlil
    from amaranth.hdl import Shape
    from golden_model.engine_config import EngineConfig
    from hw.commands import CommandDispatcher, start_layout, stream_layouts
    from sim.netlist import Ecp5Netlist
    cfg = EngineConfig(input_size=6, hidden_size=4, lanes=4, max_batch=2, max_seq=4)
    nbytes = max(byte_count(Shape.cast(layout).width) for layout in [*stream_layouts(cfg).values(), start_layout(cfg)])
    assert nbytes == 14
    text = rtlil.convert(CommandDispatcher(cfg), platform=Ecp5Netlist())
    copies = re.findall(r"cell \\FD1P3IX \\shift_(\d+)_ff0\b", text)
    assert sorted(copies, key=int) == [str(g) for g in range(-(-nbytes // CommandDispatcher.BYTES_PER_COPY))]
    assert "FD1P3IX" not in rtlil.convert(CommandDispatcher(cfg))
